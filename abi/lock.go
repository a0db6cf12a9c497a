package abi

import "structs"

// FileLock is struct fuse_file_lock, a POSIX lock range.
type FileLock struct {
	_ structs.HostLayout
	// Start is the first byte of the range.
	Start uint64
	// End is the last byte of the range (OFFSET_MAX for "to EOF").
	End uint64
	// Type is F_RDLCK (0), F_WRLCK (1) or F_UNLCK (2).
	Type uint32
	// PID is the thread-group ID of the lock holder.
	PID uint32
}

// LkIn is struct fuse_lk_in, the argument of GETLK, SETLK and SETLKW.
// Since 7.7.
type LkIn struct {
	_ structs.HostLayout
	// Fh is the file handle.
	Fh uint64
	// Owner is the lock owner.
	Owner uint64
	// Lk is the lock.
	Lk FileLock
	// LkFlags holds FUSE_LK_* bits. Since 7.9.
	LkFlags LkFlags
	_       uint32
}

// LkOut is struct fuse_lk_out, the reply of GETLK. Since 7.7.
type LkOut struct {
	_ structs.HostLayout
	// Lk is the conflicting lock, or Type F_UNLCK if none.
	Lk FileLock
}
