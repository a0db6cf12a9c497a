package abi

import "structs"

// OpenIn is struct fuse_open_in, the argument of OPEN and OPENDIR.
type OpenIn struct {
	_ structs.HostLayout
	// Flags holds the open(2) flags (O_CREAT, O_EXCL, O_NOCTTY stripped;
	// O_TRUNC too unless FUSE_ATOMIC_O_TRUNC).
	Flags uint32
	// OpenFlags holds FUSE_OPEN_* bits. Since 7.33; unused before.
	OpenFlags OpenInFlags
}

// CreateIn is struct fuse_create_in, the fixed part of CREATE and TMPFILE;
// the name follows. Before 7.12 it had the 8-byte layout of [OpenIn]
// (FUSE_COMPAT_MKNOD_IN_SIZE).
type CreateIn struct {
	_ structs.HostLayout
	// Flags holds the open(2) flags.
	Flags uint32
	// Mode is the file type and permissions.
	Mode uint32
	// Umask is the caller's umask. Since 7.12.
	Umask uint32
	// OpenFlags holds FUSE_OPEN_* bits. Since 7.33; padding before.
	OpenFlags OpenInFlags
}

// OpenOut is struct fuse_open_out, the reply of OPEN and OPENDIR and the
// second part of the CREATE and TMPFILE replies.
type OpenOut struct {
	_ structs.HostLayout
	// Fh is the file handle the server chose.
	Fh uint64
	// OpenFlags holds FOPEN_* bits.
	OpenFlags FopenFlags
	// BackingID is the backing file for FOPEN_PASSTHROUGH, from
	// FUSE_DEV_IOC_BACKING_OPEN. Since 7.40; padding before.
	BackingID int32
}

// ReleaseIn is struct fuse_release_in, the argument of RELEASE and
// RELEASEDIR.
type ReleaseIn struct {
	_ structs.HostLayout
	// Fh is the file handle.
	Fh uint64
	// Flags holds the open(2) flags of the file.
	Flags uint32
	// ReleaseFlags holds FUSE_RELEASE_* bits.
	ReleaseFlags ReleaseFlags
	// LockOwner is the lock owner. Since 7.8.
	LockOwner uint64
}

// FlushIn is struct fuse_flush_in, the argument of FLUSH.
type FlushIn struct {
	_ structs.HostLayout
	// Fh is the file handle.
	Fh uint64
	_  uint32
	_  uint32
	// LockOwner is the lock owner.
	LockOwner uint64
}

// ReadIn is struct fuse_read_in, the argument of READ, READDIR and
// READDIRPLUS.
type ReadIn struct {
	_ structs.HostLayout
	// Fh is the file handle.
	Fh uint64
	// Offset is the file offset, or the directory cookie.
	Offset uint64
	// Size is the number of bytes wanted.
	Size uint32
	// ReadFlags holds FUSE_READ_* bits.
	ReadFlags ReadFlags
	// LockOwner is the lock owner (FUSE_READ_LOCKOWNER). Since 7.9.
	LockOwner uint64
	// Flags holds the open(2) flags of the file. Since 7.9.
	Flags uint32
	_     uint32
}

// WriteIn is struct fuse_write_in, the fixed part of WRITE; the data
// follows. Before 7.9 it was FUSE_COMPAT_WRITE_IN_SIZE bytes.
type WriteIn struct {
	_ structs.HostLayout
	// Fh is the file handle.
	Fh uint64
	// Offset is the file offset.
	Offset uint64
	// Size is the number of data bytes that follow.
	Size uint32
	// WriteFlags holds FUSE_WRITE_* bits.
	WriteFlags WriteFlags
	// LockOwner is the lock owner (FUSE_WRITE_LOCKOWNER). Since 7.9.
	LockOwner uint64
	// Flags holds the open(2) flags of the file. Since 7.9.
	Flags uint32
	_     uint32
}

// WriteOut is struct fuse_write_out, the reply of WRITE and
// COPY_FILE_RANGE.
type WriteOut struct {
	_ structs.HostLayout
	// Size is the number of bytes written.
	Size uint32
	_    uint32
}

// FsyncIn is struct fuse_fsync_in, the argument of FSYNC and FSYNCDIR.
type FsyncIn struct {
	_ structs.HostLayout
	// Fh is the file handle.
	Fh uint64
	// FsyncFlags holds FUSE_FSYNC_* bits.
	FsyncFlags FsyncFlags
	_          uint32
}

// InterruptIn is struct fuse_interrupt_in, the argument of INTERRUPT.
// Since 7.7.
type InterruptIn struct {
	_ structs.HostLayout
	// Unique is the ID of the request to interrupt.
	Unique uint64
}

// BmapIn is struct fuse_bmap_in, the argument of BMAP. Since 7.8.
type BmapIn struct {
	_ structs.HostLayout
	// Block is the file block number.
	Block uint64
	// Blocksize is the block size.
	Blocksize uint32
	_         uint32
}

// BmapOut is struct fuse_bmap_out, the reply of BMAP. Since 7.8.
type BmapOut struct {
	_ structs.HostLayout
	// Block is the device block number.
	Block uint64
}

// PollIn is struct fuse_poll_in, the argument of POLL. Since 7.11.
type PollIn struct {
	_ structs.HostLayout
	// Fh is the file handle.
	Fh uint64
	// Kh is the kernel handle to name in FUSE_NOTIFY_POLL.
	Kh uint64
	// Flags holds FUSE_POLL_* bits.
	Flags PollFlags
	// Events holds the poll events wanted. Since 7.21; padding before.
	Events uint32
}

// PollOut is struct fuse_poll_out, the reply of POLL. Since 7.11.
type PollOut struct {
	_ structs.HostLayout
	// Revents holds the poll events ready.
	Revents uint32
	_       uint32
}

// FallocateIn is struct fuse_fallocate_in, the argument of FALLOCATE.
// Since 7.19.
type FallocateIn struct {
	_ structs.HostLayout
	// Fh is the file handle.
	Fh uint64
	// Offset is the start of the range.
	Offset uint64
	// Length is the length of the range.
	Length uint64
	// Mode holds the FALLOC_FL_* bits.
	Mode uint32
	_    uint32
}

// LseekIn is struct fuse_lseek_in, the argument of LSEEK. Since 7.24.
type LseekIn struct {
	_ structs.HostLayout
	// Fh is the file handle.
	Fh uint64
	// Offset is the offset to seek from.
	Offset uint64
	// Whence is SEEK_DATA (3) or SEEK_HOLE (4) in practice.
	Whence uint32
	_      uint32
}

// LseekOut is struct fuse_lseek_out, the reply of LSEEK. Since 7.24.
type LseekOut struct {
	_ structs.HostLayout
	// Offset is the resulting offset.
	Offset uint64
}

// CopyFileRangeIn is struct fuse_copy_file_range_in, the argument of
// COPY_FILE_RANGE (7.28) and COPY_FILE_RANGE_64 (7.45); the in-header's
// node ID is the input file.
type CopyFileRangeIn struct {
	_ structs.HostLayout
	// FhIn is the input file handle.
	FhIn uint64
	// OffIn is the input offset.
	OffIn uint64
	// NodeIDOut is the node ID of the output file.
	NodeIDOut uint64
	// FhOut is the output file handle.
	FhOut uint64
	// OffOut is the output offset.
	OffOut uint64
	// Len is the number of bytes to copy.
	Len uint64
	// Flags holds the copy_file_range(2) flags.
	Flags uint64
}

// CopyFileRangeOut is struct fuse_copy_file_range_out, the reply of
// COPY_FILE_RANGE_64. Since 7.45.
type CopyFileRangeOut struct {
	_ structs.HostLayout
	// BytesCopied is the number of bytes copied.
	BytesCopied uint64
}

// SetupmappingIn is struct fuse_setupmapping_in, the argument of
// SETUPMAPPING (virtiofs DAX). Since 7.31.
type SetupmappingIn struct {
	_ structs.HostLayout
	// Fh is the file handle.
	Fh uint64
	// Foffset is the offset in the file.
	Foffset uint64
	// Len is the length of the mapping.
	Len uint64
	// Flags holds FUSE_SETUPMAPPING_FLAG_* bits.
	Flags SetupmappingFlags
	// Moffset is the offset in the DAX window.
	Moffset uint64
}

// RemovemappingIn is struct fuse_removemapping_in, the 4-byte fixed part of
// REMOVEMAPPING; Count [RemovemappingOne] entries follow at offset 4.
// Since 7.31.
type RemovemappingIn struct {
	_ structs.HostLayout
	// Count is the number of entries that follow.
	Count uint32
}

// RemovemappingOne is struct fuse_removemapping_one, one entry of
// REMOVEMAPPING. Since 7.31.
type RemovemappingOne struct {
	_ structs.HostLayout
	// Moffset is the offset in the DAX window.
	Moffset uint64
	// Len is the length of the mapping.
	Len uint64
}

// SyncfsIn is struct fuse_syncfs_in, the argument of SYNCFS. Since 7.34.
type SyncfsIn struct {
	_ structs.HostLayout
	_ uint64
}
