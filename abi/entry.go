package abi

import "structs"

// Attr is struct fuse_attr, the attributes of an inode.
type Attr struct {
	_ structs.HostLayout
	// Ino is the inode number shown to applications.
	Ino uint64
	// Size is the file size in bytes.
	Size uint64
	// Blocks is the number of 512-byte blocks allocated.
	Blocks uint64
	// Atime is the access time, seconds.
	Atime uint64
	// Mtime is the modification time, seconds.
	Mtime uint64
	// Ctime is the status change time, seconds.
	Ctime uint64
	// Atimensec is the nanosecond part of Atime.
	Atimensec uint32
	// Mtimensec is the nanosecond part of Mtime.
	Mtimensec uint32
	// Ctimensec is the nanosecond part of Ctime.
	Ctimensec uint32
	// Mode is the file type and permission bits (S_IF* | 07777).
	Mode uint32
	// Nlink is the number of hard links.
	Nlink uint32
	// UID is the owner.
	UID uint32
	// GID is the group.
	GID uint32
	// Rdev is the device number of a device special file.
	Rdev uint32
	// Blksize is the preferred I/O block size. Since 7.9.
	Blksize uint32
	// Flags holds FUSE_ATTR_* bits. Since 7.32; padding before.
	Flags AttrFlags
}

// EntryOut is struct fuse_entry_out, the reply of LOOKUP, MKNOD, MKDIR,
// SYMLINK, LINK and the first part of the CREATE and TMPFILE replies.
// Before 7.9 it was FUSE_COMPAT_ENTRY_OUT_SIZE bytes (no Attr.Blksize and
// Attr.Flags).
type EntryOut struct {
	_ structs.HostLayout
	// NodeID is the node ID of the entry; 0 in a LOOKUP reply makes a
	// negative entry cached for EntryValid.
	NodeID uint64
	// Generation is the inode generation; NodeID and Generation together
	// must be unique over the life of the file system.
	Generation uint64
	// EntryValid is how long the name lookup may be cached, seconds.
	EntryValid uint64
	// AttrValid is how long Attr may be cached, seconds.
	AttrValid uint64
	// EntryValidNsec is the nanosecond part of EntryValid.
	EntryValidNsec uint32
	// AttrValidNsec is the nanosecond part of AttrValid.
	AttrValidNsec uint32
	// Attr holds the attributes.
	Attr Attr
}

// AttrOut is struct fuse_attr_out, the reply of GETATTR and SETATTR.
// Before 7.9 it was FUSE_COMPAT_ATTR_OUT_SIZE bytes.
type AttrOut struct {
	_ structs.HostLayout
	// AttrValid is how long Attr may be cached, seconds.
	AttrValid uint64
	// AttrValidNsec is the nanosecond part of AttrValid.
	AttrValidNsec uint32
	_             uint32
	// Attr holds the attributes.
	Attr Attr
}

// ForgetIn is struct fuse_forget_in, the argument of FORGET.
type ForgetIn struct {
	_ structs.HostLayout
	// Nlookup is the number of lookups to forget.
	Nlookup uint64
}

// ForgetOne is struct fuse_forget_one, one entry of BATCH_FORGET.
// Since 7.16.
type ForgetOne struct {
	_ structs.HostLayout
	// NodeID is the inode to forget.
	NodeID uint64
	// Nlookup is the number of lookups to forget.
	Nlookup uint64
}

// BatchForgetIn is struct fuse_batch_forget_in, the fixed part of
// BATCH_FORGET; Count [ForgetOne] entries follow. Since 7.16.
type BatchForgetIn struct {
	_ structs.HostLayout
	// Count is the number of ForgetOne entries that follow.
	Count uint32
	_     uint32
}

// GetattrIn is struct fuse_getattr_in, the argument of GETATTR. Since 7.9;
// GETATTR had no argument before.
type GetattrIn struct {
	_ structs.HostLayout
	// GetattrFlags holds FUSE_GETATTR_* bits.
	GetattrFlags GetattrFlags
	_            uint32
	// Fh is the file handle, valid if FUSE_GETATTR_FH is set.
	Fh uint64
}

// SetattrIn is struct fuse_setattr_in, the argument of SETATTR. Valid says
// which fields are meant; the Get* methods read them with that check.
type SetattrIn struct {
	_ structs.HostLayout
	// Valid holds FATTR_* bits naming the fields to set.
	Valid FattrFlags
	_     uint32
	// Fh is the file handle (FATTR_FH). Since 7.3.
	Fh uint64
	// Size is the new file size (FATTR_SIZE).
	Size uint64
	// LockOwner is the lock owner (FATTR_LOCKOWNER). Since 7.9.
	LockOwner uint64
	// Atime is the new access time, seconds (FATTR_ATIME).
	Atime uint64
	// Mtime is the new modification time, seconds (FATTR_MTIME).
	Mtime uint64
	// Ctime is the new change time, seconds (FATTR_CTIME). Since 7.23.
	Ctime uint64
	// Atimensec is the nanosecond part of Atime.
	Atimensec uint32
	// Mtimensec is the nanosecond part of Mtime.
	Mtimensec uint32
	// Ctimensec is the nanosecond part of Ctime. Since 7.23.
	Ctimensec uint32
	// Mode is the new mode (FATTR_MODE).
	Mode uint32
	_    uint32
	// UID is the new owner (FATTR_UID).
	UID uint32
	// GID is the new group (FATTR_GID).
	GID uint32
	_   uint32
}

// GetMode returns Mode and whether FATTR_MODE is set.
func (s *SetattrIn) GetMode() (uint32, bool) { return s.Mode, s.Valid&FATTR_MODE != 0 }

// GetUID returns UID and whether FATTR_UID is set.
func (s *SetattrIn) GetUID() (uint32, bool) { return s.UID, s.Valid&FATTR_UID != 0 }

// GetGID returns GID and whether FATTR_GID is set.
func (s *SetattrIn) GetGID() (uint32, bool) { return s.GID, s.Valid&FATTR_GID != 0 }

// GetSize returns Size and whether FATTR_SIZE is set.
func (s *SetattrIn) GetSize() (uint64, bool) { return s.Size, s.Valid&FATTR_SIZE != 0 }

// GetFh returns Fh and whether FATTR_FH is set.
func (s *SetattrIn) GetFh() (uint64, bool) { return s.Fh, s.Valid&FATTR_FH != 0 }

// GetLockOwner returns LockOwner and whether FATTR_LOCKOWNER is set.
func (s *SetattrIn) GetLockOwner() (uint64, bool) {
	return s.LockOwner, s.Valid&FATTR_LOCKOWNER != 0
}

// GetAtime returns Atime, Atimensec and whether FATTR_ATIME is set. With
// FATTR_ATIME_NOW also set, the time is "now" and the fields are ignored.
func (s *SetattrIn) GetAtime() (sec uint64, nsec uint32, ok bool) {
	return s.Atime, s.Atimensec, s.Valid&FATTR_ATIME != 0
}

// GetMtime returns Mtime, Mtimensec and whether FATTR_MTIME is set. With
// FATTR_MTIME_NOW also set, the time is "now" and the fields are ignored.
func (s *SetattrIn) GetMtime() (sec uint64, nsec uint32, ok bool) {
	return s.Mtime, s.Mtimensec, s.Valid&FATTR_MTIME != 0
}

// GetCtime returns Ctime, Ctimensec and whether FATTR_CTIME is set.
func (s *SetattrIn) GetCtime() (sec uint64, nsec uint32, ok bool) {
	return s.Ctime, s.Ctimensec, s.Valid&FATTR_CTIME != 0
}

// MknodIn is struct fuse_mknod_in, the fixed part of MKNOD; the name
// follows. Before 7.12 it was FUSE_COMPAT_MKNOD_IN_SIZE bytes (no Umask).
type MknodIn struct {
	_ structs.HostLayout
	// Mode is the file type and permissions.
	Mode uint32
	// Rdev is the device number.
	Rdev uint32
	// Umask is the caller's umask. Since 7.12.
	Umask uint32
	_     uint32
}

// MkdirIn is struct fuse_mkdir_in, the fixed part of MKDIR; the name
// follows.
type MkdirIn struct {
	_ structs.HostLayout
	// Mode is the permissions.
	Mode uint32
	// Umask is the caller's umask. Since 7.12; padding before.
	Umask uint32
}

// RenameIn is struct fuse_rename_in, the fixed part of RENAME; the old and
// the new name follow.
type RenameIn struct {
	_ structs.HostLayout
	// NewDir is the node ID of the target directory.
	NewDir uint64
}

// Rename2In is struct fuse_rename2_in, the fixed part of RENAME2; the old and
// the new name follow. Since 7.23.
type Rename2In struct {
	_ structs.HostLayout
	// NewDir is the node ID of the target directory.
	NewDir uint64
	// Flags holds the renameat2 flags (RENAME_NOREPLACE 1, RENAME_EXCHANGE
	// 2, RENAME_WHITEOUT 4).
	Flags uint32
	_     uint32
}

// LinkIn is struct fuse_link_in, the fixed part of LINK; the new name
// follows.
type LinkIn struct {
	_ structs.HostLayout
	// OldNodeID is the node ID of the existing inode.
	OldNodeID uint64
}

// AccessIn is struct fuse_access_in, the argument of ACCESS. Since 7.3.
type AccessIn struct {
	_ structs.HostLayout
	// Mask is the access mask (R_OK 4, W_OK 2, X_OK 1, F_OK 0).
	Mask uint32
	_    uint32
}

// Kstatfs is struct fuse_kstatfs, the file system statistics.
type Kstatfs struct {
	_ structs.HostLayout
	// Blocks is the total number of blocks, in Frsize units.
	Blocks uint64
	// Bfree is the number of free blocks.
	Bfree uint64
	// Bavail is the number of blocks free for unprivileged users.
	Bavail uint64
	// Files is the total number of inodes.
	Files uint64
	// Ffree is the number of free inodes.
	Ffree uint64
	// Bsize is the block size.
	Bsize uint32
	// Namelen is the maximum name length.
	Namelen uint32
	// Frsize is the fragment size. Since 7.4.
	Frsize uint32
	_      uint32
	_      [6]uint32
}

// StatfsOut is struct fuse_statfs_out, the reply of STATFS. Before 7.4 it was
// FUSE_COMPAT_STATFS_SIZE bytes.
type StatfsOut struct {
	_ structs.HostLayout
	// St holds the statistics.
	St Kstatfs
}
