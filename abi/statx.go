package abi

import "structs"

// StatxIn is struct fuse_statx_in, the argument of STATX. Since 7.39.
type StatxIn struct {
	_ structs.HostLayout
	// GetattrFlags holds FUSE_GETATTR_* bits.
	GetattrFlags GetattrFlags
	_            uint32
	// Fh is the file handle, valid if FUSE_GETATTR_FH is set.
	Fh uint64
	// SxFlags holds the AT_STATX_* synchronisation flags.
	SxFlags uint32
	// SxMask holds the STATX_* mask of wanted fields.
	SxMask uint32
}

// SxTime is struct fuse_sx_time, a timestamp in [Statx]. Since 7.39.
type SxTime struct {
	_ structs.HostLayout
	// TvSec is the time in seconds since the epoch.
	TvSec int64
	// TvNsec is the nanosecond part.
	TvNsec uint32
	_      int32
}

// Statx is struct fuse_statx, bit-compatible with Linux struct statx.
// Since 7.39.
type Statx struct {
	_ structs.HostLayout
	// Mask holds the STATX_* bits of the fields filled in.
	Mask uint32
	// Blksize is the preferred I/O block size.
	Blksize uint32
	// Attributes holds STATX_ATTR_* bits.
	Attributes uint64
	// Nlink is the number of hard links.
	Nlink uint32
	// UID is the owner.
	UID uint32
	// GID is the group.
	GID uint32
	// Mode is the file type and permissions.
	Mode uint16
	_    uint16
	// Ino is the inode number.
	Ino uint64
	// Size is the file size.
	Size uint64
	// Blocks is the number of 512-byte blocks allocated.
	Blocks uint64
	// AttributesMask says which Attributes bits are supported.
	AttributesMask uint64
	// Atime is the access time.
	Atime SxTime
	// Btime is the creation time.
	Btime SxTime
	// Ctime is the status change time.
	Ctime SxTime
	// Mtime is the modification time.
	Mtime SxTime
	// RdevMajor is the major of a device file's device number.
	RdevMajor uint32
	// RdevMinor is the minor of a device file's device number.
	RdevMinor uint32
	// DevMajor is the major of the containing device.
	DevMajor uint32
	// DevMinor is the minor of the containing device.
	DevMinor uint32
	_        [14]uint64
}

// StatxOut is struct fuse_statx_out, the reply of STATX. Since 7.39.
type StatxOut struct {
	_ structs.HostLayout
	// AttrValid is how long the attributes may be cached, seconds.
	AttrValid uint64
	// AttrValidNsec is the nanosecond part of AttrValid.
	AttrValidNsec uint32
	// Flags is reserved for flags (none defined in 7.45).
	Flags uint32
	_     [2]uint64
	// Stat holds the attributes.
	Stat Statx
}
