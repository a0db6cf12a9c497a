package abi

import (
	"strconv"
	"strings"
)

// FlagName names one bit of a flag set.
type FlagName struct {
	// Bit is the bit's value (a single set bit).
	Bit uint64
	// Name is the name without the set's common prefix.
	Name string
}

// FormatFlags returns the names of the bits of v, in the order of names
// (ordered by bit), joined by "|", followed by any unnamed bits as one hex
// number; "0" if v is 0.
func FormatFlags(v uint64, names []FlagName) string {
	if v == 0 {
		return "0"
	}
	var sb strings.Builder
	for _, n := range names {
		if v&n.Bit == 0 || n.Bit == 0 {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('|')
		}
		sb.WriteString(n.Name)
		v &^= n.Bit
	}
	if v != 0 {
		if sb.Len() > 0 {
			sb.WriteByte('|')
		}
		sb.WriteString("0x")
		sb.WriteString(strconv.FormatUint(v, 16))
	}
	return sb.String()
}

// InitFlags is the 64-bit INIT flag set: bits 0..31 travel in the Flags
// field of [InitIn] and [InitOut], bits 32..63 in Flags2.
type InitFlags uint64

// INIT flags.
const (
	// FUSE_ASYNC_READ allows asynchronous reads. Since 7.6.
	FUSE_ASYNC_READ InitFlags = 1 << 0
	// FUSE_POSIX_LOCKS means the server handles POSIX locks. Since 7.7.
	FUSE_POSIX_LOCKS InitFlags = 1 << 1
	// FUSE_FILE_OPS was never supported. Since 7.9.
	FUSE_FILE_OPS InitFlags = 1 << 2
	// FUSE_ATOMIC_O_TRUNC passes O_TRUNC in OPEN. Since 7.9.
	FUSE_ATOMIC_O_TRUNC InitFlags = 1 << 3
	// FUSE_EXPORT_SUPPORT means the server looks up "." and "..". Since 7.9.
	FUSE_EXPORT_SUPPORT InitFlags = 1 << 4
	// FUSE_BIG_WRITES allows writes above 4 KiB. Since 7.9.
	FUSE_BIG_WRITES InitFlags = 1 << 5
	// FUSE_DONT_MASK stops the kernel applying the umask. Since 7.12.
	FUSE_DONT_MASK InitFlags = 1 << 6
	// FUSE_SPLICE_WRITE: the kernel supports splice writes. Since 7.14.
	FUSE_SPLICE_WRITE InitFlags = 1 << 7
	// FUSE_SPLICE_MOVE: the kernel supports splice moves. Since 7.14.
	FUSE_SPLICE_MOVE InitFlags = 1 << 8
	// FUSE_SPLICE_READ: the kernel supports splice reads. Since 7.14.
	FUSE_SPLICE_READ InitFlags = 1 << 9
	// FUSE_FLOCK_LOCKS means the server handles flock. Since 7.17.
	FUSE_FLOCK_LOCKS InitFlags = 1 << 10
	// FUSE_HAS_IOCTL_DIR allows ioctl on directories. Since 7.18.
	FUSE_HAS_IOCTL_DIR InitFlags = 1 << 11
	// FUSE_AUTO_INVAL_DATA invalidates cached data on mtime/size change.
	// Since 7.20.
	FUSE_AUTO_INVAL_DATA InitFlags = 1 << 12
	// FUSE_DO_READDIRPLUS uses READDIRPLUS. Since 7.21.
	FUSE_DO_READDIRPLUS InitFlags = 1 << 13
	// FUSE_READDIRPLUS_AUTO chooses READDIRPLUS adaptively. Since 7.21.
	FUSE_READDIRPLUS_AUTO InitFlags = 1 << 14
	// FUSE_ASYNC_DIO allows asynchronous direct I/O. Since 7.22.
	FUSE_ASYNC_DIO InitFlags = 1 << 15
	// FUSE_WRITEBACK_CACHE enables the writeback cache. Since 7.23.
	FUSE_WRITEBACK_CACHE InitFlags = 1 << 16
	// FUSE_NO_OPEN_SUPPORT allows zero-message opens. Since 7.23.
	FUSE_NO_OPEN_SUPPORT InitFlags = 1 << 17
	// FUSE_PARALLEL_DIROPS allows parallel lookup and readdir. Since 7.25.
	FUSE_PARALLEL_DIROPS InitFlags = 1 << 18
	// FUSE_HANDLE_KILLPRIV: the server clears suid/sgid/caps. Since 7.26.
	FUSE_HANDLE_KILLPRIV InitFlags = 1 << 19
	// FUSE_POSIX_ACL: the server supports POSIX ACLs. Since 7.26.
	FUSE_POSIX_ACL InitFlags = 1 << 20
	// FUSE_ABORT_ERROR: reads after abort fail ECONNABORTED. Since 7.27.
	FUSE_ABORT_ERROR InitFlags = 1 << 21
	// FUSE_MAX_PAGES: InitOut.MaxPages is valid. Since 7.28.
	FUSE_MAX_PAGES InitFlags = 1 << 22
	// FUSE_CACHE_SYMLINKS caches READLINK results. Since 7.28.
	FUSE_CACHE_SYMLINKS InitFlags = 1 << 23
	// FUSE_NO_OPENDIR_SUPPORT allows zero-message opendir. Since 7.29.
	FUSE_NO_OPENDIR_SUPPORT InitFlags = 1 << 24
	// FUSE_EXPLICIT_INVAL_DATA invalidates data only on request. Since 7.30.
	FUSE_EXPLICIT_INVAL_DATA InitFlags = 1 << 25
	// FUSE_MAP_ALIGNMENT: InitOut.MapAlignment is valid. Since 7.31.
	FUSE_MAP_ALIGNMENT InitFlags = 1 << 26
	// FUSE_SUBMOUNTS: the kernel mounts submounts. Since 7.32.
	FUSE_SUBMOUNTS InitFlags = 1 << 27
	// FUSE_HANDLE_KILLPRIV_V2: VFS-like suid/sgid killing. Since 7.33.
	FUSE_HANDLE_KILLPRIV_V2 InitFlags = 1 << 28
	// FUSE_SETXATTR_EXT uses the 16-byte SetxattrIn. Since 7.33.
	FUSE_SETXATTR_EXT InitFlags = 1 << 29
	// FUSE_INIT_EXT: 64-byte InitIn and Flags2 valid. Since 7.36.
	FUSE_INIT_EXT InitFlags = 1 << 30
	// FUSE_INIT_RESERVED is reserved. Since 7.36.
	FUSE_INIT_RESERVED InitFlags = 1 << 31
	// FUSE_SECURITY_CTX sends security contexts on creates. Since 7.36.
	FUSE_SECURITY_CTX InitFlags = 1 << 32
	// FUSE_HAS_INODE_DAX enables per-inode DAX. Since 7.36.
	FUSE_HAS_INODE_DAX InitFlags = 1 << 33
	// FUSE_CREATE_SUPP_GROUP sends the supplementary-group extension.
	// Since 7.38.
	FUSE_CREATE_SUPP_GROUP InitFlags = 1 << 34
	// FUSE_HAS_EXPIRE_ONLY: the kernel supports FUSE_EXPIRE_ONLY.
	// Since 7.38.
	FUSE_HAS_EXPIRE_ONLY InitFlags = 1 << 35
	// FUSE_DIRECT_IO_ALLOW_MMAP allows shared mmap with FOPEN_DIRECT_IO.
	// Since 7.39.
	FUSE_DIRECT_IO_ALLOW_MMAP InitFlags = 1 << 36
	// FUSE_DIRECT_IO_RELAX is the obsolete name of
	// FUSE_DIRECT_IO_ALLOW_MMAP.
	FUSE_DIRECT_IO_RELAX = FUSE_DIRECT_IO_ALLOW_MMAP
	// FUSE_PASSTHROUGH enables passthrough I/O. Since 7.40.
	FUSE_PASSTHROUGH InitFlags = 1 << 37
	// FUSE_NO_EXPORT_SUPPORT disables NFS export. Since 7.40.
	FUSE_NO_EXPORT_SUPPORT InitFlags = 1 << 38
	// FUSE_HAS_RESEND: the kernel supports FUSE_NOTIFY_RESEND. Since 7.40.
	FUSE_HAS_RESEND InitFlags = 1 << 39
	// FUSE_ALLOW_IDMAP allows idmapped mounts. Since 7.41.
	FUSE_ALLOW_IDMAP InitFlags = 1 << 40
	// FUSE_OVER_IO_URING enables fuse-over-io-uring. Since 7.42.
	FUSE_OVER_IO_URING InitFlags = 1 << 41
	// FUSE_REQUEST_TIMEOUT: InitOut.RequestTimeout is valid. Since 7.43.
	FUSE_REQUEST_TIMEOUT InitFlags = 1 << 42
)

// DefaultInitFlags is what Linux 6.18 offers in INIT without DAX,
// virtiofs submounts, passthrough or io-uring: bits 0-1, 3-25 and 28-30,
// SECURITY_CTX, CREATE_SUPP_GROUP, HAS_EXPIRE_ONLY, DIRECT_IO_ALLOW_MMAP,
// NO_EXPORT_SUPPORT, HAS_RESEND, ALLOW_IDMAP and REQUEST_TIMEOUT. A stock
// 6.18 build (CONFIG_FUSE_PASSTHROUGH=y) offers FUSE_PASSTHROUGH as well,
// 0x5fd73fffffb in all; it is left out because a server can only use it by
// registering backing files with FUSE_DEV_IOC_BACKING_OPEN on a real
// /dev/fuse descriptor.
const DefaultInitFlags = FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC |
	FUSE_EXPORT_SUPPORT | FUSE_BIG_WRITES | FUSE_DONT_MASK | FUSE_SPLICE_WRITE |
	FUSE_SPLICE_MOVE | FUSE_SPLICE_READ | FUSE_FLOCK_LOCKS | FUSE_HAS_IOCTL_DIR |
	FUSE_AUTO_INVAL_DATA | FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO |
	FUSE_ASYNC_DIO | FUSE_WRITEBACK_CACHE | FUSE_NO_OPEN_SUPPORT |
	FUSE_PARALLEL_DIROPS | FUSE_HANDLE_KILLPRIV | FUSE_POSIX_ACL |
	FUSE_ABORT_ERROR | FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS |
	FUSE_NO_OPENDIR_SUPPORT | FUSE_EXPLICIT_INVAL_DATA |
	FUSE_HANDLE_KILLPRIV_V2 | FUSE_SETXATTR_EXT | FUSE_INIT_EXT |
	FUSE_SECURITY_CTX | FUSE_CREATE_SUPP_GROUP | FUSE_HAS_EXPIRE_ONLY |
	FUSE_DIRECT_IO_ALLOW_MMAP | FUSE_NO_EXPORT_SUPPORT | FUSE_HAS_RESEND |
	FUSE_ALLOW_IDMAP | FUSE_REQUEST_TIMEOUT

var initFlagNames = []FlagName{
	{uint64(FUSE_ASYNC_READ), "ASYNC_READ"},
	{uint64(FUSE_POSIX_LOCKS), "POSIX_LOCKS"},
	{uint64(FUSE_FILE_OPS), "FILE_OPS"},
	{uint64(FUSE_ATOMIC_O_TRUNC), "ATOMIC_O_TRUNC"},
	{uint64(FUSE_EXPORT_SUPPORT), "EXPORT_SUPPORT"},
	{uint64(FUSE_BIG_WRITES), "BIG_WRITES"},
	{uint64(FUSE_DONT_MASK), "DONT_MASK"},
	{uint64(FUSE_SPLICE_WRITE), "SPLICE_WRITE"},
	{uint64(FUSE_SPLICE_MOVE), "SPLICE_MOVE"},
	{uint64(FUSE_SPLICE_READ), "SPLICE_READ"},
	{uint64(FUSE_FLOCK_LOCKS), "FLOCK_LOCKS"},
	{uint64(FUSE_HAS_IOCTL_DIR), "HAS_IOCTL_DIR"},
	{uint64(FUSE_AUTO_INVAL_DATA), "AUTO_INVAL_DATA"},
	{uint64(FUSE_DO_READDIRPLUS), "DO_READDIRPLUS"},
	{uint64(FUSE_READDIRPLUS_AUTO), "READDIRPLUS_AUTO"},
	{uint64(FUSE_ASYNC_DIO), "ASYNC_DIO"},
	{uint64(FUSE_WRITEBACK_CACHE), "WRITEBACK_CACHE"},
	{uint64(FUSE_NO_OPEN_SUPPORT), "NO_OPEN_SUPPORT"},
	{uint64(FUSE_PARALLEL_DIROPS), "PARALLEL_DIROPS"},
	{uint64(FUSE_HANDLE_KILLPRIV), "HANDLE_KILLPRIV"},
	{uint64(FUSE_POSIX_ACL), "POSIX_ACL"},
	{uint64(FUSE_ABORT_ERROR), "ABORT_ERROR"},
	{uint64(FUSE_MAX_PAGES), "MAX_PAGES"},
	{uint64(FUSE_CACHE_SYMLINKS), "CACHE_SYMLINKS"},
	{uint64(FUSE_NO_OPENDIR_SUPPORT), "NO_OPENDIR_SUPPORT"},
	{uint64(FUSE_EXPLICIT_INVAL_DATA), "EXPLICIT_INVAL_DATA"},
	{uint64(FUSE_MAP_ALIGNMENT), "MAP_ALIGNMENT"},
	{uint64(FUSE_SUBMOUNTS), "SUBMOUNTS"},
	{uint64(FUSE_HANDLE_KILLPRIV_V2), "HANDLE_KILLPRIV_V2"},
	{uint64(FUSE_SETXATTR_EXT), "SETXATTR_EXT"},
	{uint64(FUSE_INIT_EXT), "INIT_EXT"},
	{uint64(FUSE_INIT_RESERVED), "INIT_RESERVED"},
	{uint64(FUSE_SECURITY_CTX), "SECURITY_CTX"},
	{uint64(FUSE_HAS_INODE_DAX), "HAS_INODE_DAX"},
	{uint64(FUSE_CREATE_SUPP_GROUP), "CREATE_SUPP_GROUP"},
	{uint64(FUSE_HAS_EXPIRE_ONLY), "HAS_EXPIRE_ONLY"},
	{uint64(FUSE_DIRECT_IO_ALLOW_MMAP), "DIRECT_IO_ALLOW_MMAP"},
	{uint64(FUSE_PASSTHROUGH), "PASSTHROUGH"},
	{uint64(FUSE_NO_EXPORT_SUPPORT), "NO_EXPORT_SUPPORT"},
	{uint64(FUSE_HAS_RESEND), "HAS_RESEND"},
	{uint64(FUSE_ALLOW_IDMAP), "ALLOW_IDMAP"},
	{uint64(FUSE_OVER_IO_URING), "OVER_IO_URING"},
	{uint64(FUSE_REQUEST_TIMEOUT), "REQUEST_TIMEOUT"},
}

// String returns the names without the FUSE_ prefix, e.g.
// "ASYNC_READ|POSIX_LOCKS".
func (f InitFlags) String() string { return FormatFlags(uint64(f), initFlagNames) }

// FattrFlags is the Valid field of [SetattrIn].
type FattrFlags uint32

// SETATTR valid bits.
const (
	// FATTR_MODE: Mode is set.
	FATTR_MODE FattrFlags = 1 << 0
	// FATTR_UID: UID is set.
	FATTR_UID FattrFlags = 1 << 1
	// FATTR_GID: GID is set.
	FATTR_GID FattrFlags = 1 << 2
	// FATTR_SIZE: Size is set.
	FATTR_SIZE FattrFlags = 1 << 3
	// FATTR_ATIME: Atime is set.
	FATTR_ATIME FattrFlags = 1 << 4
	// FATTR_MTIME: Mtime is set.
	FATTR_MTIME FattrFlags = 1 << 5
	// FATTR_FH: Fh is set. Since 7.3.
	FATTR_FH FattrFlags = 1 << 6
	// FATTR_ATIME_NOW: set atime to now. Since 7.9.
	FATTR_ATIME_NOW FattrFlags = 1 << 7
	// FATTR_MTIME_NOW: set mtime to now. Since 7.9.
	FATTR_MTIME_NOW FattrFlags = 1 << 8
	// FATTR_LOCKOWNER: LockOwner is set. Since 7.9.
	FATTR_LOCKOWNER FattrFlags = 1 << 9
	// FATTR_CTIME: Ctime is set. Since 7.23.
	FATTR_CTIME FattrFlags = 1 << 10
	// FATTR_KILL_SUIDGID: clear suid/sgid. Since 7.33.
	FATTR_KILL_SUIDGID FattrFlags = 1 << 11
)

var fattrFlagNames = []FlagName{
	{uint64(FATTR_MODE), "MODE"},
	{uint64(FATTR_UID), "UID"},
	{uint64(FATTR_GID), "GID"},
	{uint64(FATTR_SIZE), "SIZE"},
	{uint64(FATTR_ATIME), "ATIME"},
	{uint64(FATTR_MTIME), "MTIME"},
	{uint64(FATTR_FH), "FH"},
	{uint64(FATTR_ATIME_NOW), "ATIME_NOW"},
	{uint64(FATTR_MTIME_NOW), "MTIME_NOW"},
	{uint64(FATTR_LOCKOWNER), "LOCKOWNER"},
	{uint64(FATTR_CTIME), "CTIME"},
	{uint64(FATTR_KILL_SUIDGID), "KILL_SUIDGID"},
}

// String returns the names without the FATTR_ prefix.
func (f FattrFlags) String() string { return FormatFlags(uint64(f), fattrFlagNames) }

// FopenFlags is the OpenFlags field of [OpenOut].
type FopenFlags uint32

// Open reply flags.
const (
	// FOPEN_DIRECT_IO bypasses the page cache. Since 7.2.
	FOPEN_DIRECT_IO FopenFlags = 1 << 0
	// FOPEN_KEEP_CACHE keeps cached data on open. Since 7.2.
	FOPEN_KEEP_CACHE FopenFlags = 1 << 1
	// FOPEN_NONSEEKABLE marks the file not seekable. Since 7.10.
	FOPEN_NONSEEKABLE FopenFlags = 1 << 2
	// FOPEN_CACHE_DIR allows caching directory contents. Since 7.28.
	FOPEN_CACHE_DIR FopenFlags = 1 << 3
	// FOPEN_STREAM marks the file a stream (no file position). Linux 5.2.
	FOPEN_STREAM FopenFlags = 1 << 4
	// FOPEN_NOFLUSH skips FLUSH on close. Since 7.35.
	FOPEN_NOFLUSH FopenFlags = 1 << 5
	// FOPEN_PARALLEL_DIRECT_WRITES allows parallel direct writes.
	// Since 7.38.
	FOPEN_PARALLEL_DIRECT_WRITES FopenFlags = 1 << 6
	// FOPEN_PASSTHROUGH passes I/O to OpenOut.BackingID. Since 7.40.
	FOPEN_PASSTHROUGH FopenFlags = 1 << 7
)

var fopenFlagNames = []FlagName{
	{uint64(FOPEN_DIRECT_IO), "DIRECT_IO"},
	{uint64(FOPEN_KEEP_CACHE), "KEEP_CACHE"},
	{uint64(FOPEN_NONSEEKABLE), "NONSEEKABLE"},
	{uint64(FOPEN_CACHE_DIR), "CACHE_DIR"},
	{uint64(FOPEN_STREAM), "STREAM"},
	{uint64(FOPEN_NOFLUSH), "NOFLUSH"},
	{uint64(FOPEN_PARALLEL_DIRECT_WRITES), "PARALLEL_DIRECT_WRITES"},
	{uint64(FOPEN_PASSTHROUGH), "PASSTHROUGH"},
}

// String returns the names without the FOPEN_ prefix.
func (f FopenFlags) String() string { return FormatFlags(uint64(f), fopenFlagNames) }

// OpenInFlags is the OpenFlags field of [OpenIn] and [CreateIn].
type OpenInFlags uint32

// Open request flags.
const (
	// FUSE_OPEN_KILL_SUIDGID: clear suid/sgid on truncating open.
	// Since 7.33.
	FUSE_OPEN_KILL_SUIDGID OpenInFlags = 1 << 0
)

var openInFlagNames = []FlagName{
	{uint64(FUSE_OPEN_KILL_SUIDGID), "KILL_SUIDGID"},
}

// String returns the names without the FUSE_OPEN_ prefix.
func (f OpenInFlags) String() string { return FormatFlags(uint64(f), openInFlagNames) }

// GetattrFlags is the GetattrFlags field of [GetattrIn] and [StatxIn].
type GetattrFlags uint32

// Getattr flags.
const (
	// FUSE_GETATTR_FH: Fh is valid. Since 7.9.
	FUSE_GETATTR_FH GetattrFlags = 1 << 0
)

var getattrFlagNames = []FlagName{
	{uint64(FUSE_GETATTR_FH), "FH"},
}

// String returns the names without the FUSE_GETATTR_ prefix.
func (f GetattrFlags) String() string { return FormatFlags(uint64(f), getattrFlagNames) }

// WriteFlags is the WriteFlags field of [WriteIn].
type WriteFlags uint32

// Write flags.
const (
	// FUSE_WRITE_CACHE: delayed write from the page cache; Fh is guessed.
	FUSE_WRITE_CACHE WriteFlags = 1 << 0
	// FUSE_WRITE_LOCKOWNER: LockOwner is valid. Since 7.9.
	FUSE_WRITE_LOCKOWNER WriteFlags = 1 << 1
	// FUSE_WRITE_KILL_SUIDGID: clear suid/sgid. Since 7.33 (7.31 as
	// FUSE_WRITE_KILL_PRIV).
	FUSE_WRITE_KILL_SUIDGID WriteFlags = 1 << 2
	// FUSE_WRITE_KILL_PRIV is the obsolete name of FUSE_WRITE_KILL_SUIDGID.
	FUSE_WRITE_KILL_PRIV = FUSE_WRITE_KILL_SUIDGID
)

var writeFlagNames = []FlagName{
	{uint64(FUSE_WRITE_CACHE), "CACHE"},
	{uint64(FUSE_WRITE_LOCKOWNER), "LOCKOWNER"},
	{uint64(FUSE_WRITE_KILL_SUIDGID), "KILL_SUIDGID"},
}

// String returns the names without the FUSE_WRITE_ prefix.
func (f WriteFlags) String() string { return FormatFlags(uint64(f), writeFlagNames) }

// ReadFlags is the ReadFlags field of [ReadIn].
type ReadFlags uint32

// Read flags.
const (
	// FUSE_READ_LOCKOWNER: LockOwner is valid (bit 1, not 0). Since 7.9.
	FUSE_READ_LOCKOWNER ReadFlags = 1 << 1
)

var readFlagNames = []FlagName{
	{uint64(FUSE_READ_LOCKOWNER), "LOCKOWNER"},
}

// String returns the names without the FUSE_READ_ prefix.
func (f ReadFlags) String() string { return FormatFlags(uint64(f), readFlagNames) }

// LkFlags is the LkFlags field of [LkIn].
type LkFlags uint32

// Lock flags.
const (
	// FUSE_LK_FLOCK: the lock is a flock, not a POSIX lock. Since 7.17.
	FUSE_LK_FLOCK LkFlags = 1 << 0
)

var lkFlagNames = []FlagName{
	{uint64(FUSE_LK_FLOCK), "FLOCK"},
}

// String returns the names without the FUSE_LK_ prefix.
func (f LkFlags) String() string { return FormatFlags(uint64(f), lkFlagNames) }

// ReleaseFlags is the ReleaseFlags field of [ReleaseIn].
type ReleaseFlags uint32

// Release flags.
const (
	// FUSE_RELEASE_FLUSH: flush before release. Since 7.8.
	FUSE_RELEASE_FLUSH ReleaseFlags = 1 << 0
	// FUSE_RELEASE_FLOCK_UNLOCK: drop flock locks. Since 7.17.
	FUSE_RELEASE_FLOCK_UNLOCK ReleaseFlags = 1 << 1
)

var releaseFlagNames = []FlagName{
	{uint64(FUSE_RELEASE_FLUSH), "FLUSH"},
	{uint64(FUSE_RELEASE_FLOCK_UNLOCK), "FLOCK_UNLOCK"},
}

// String returns the names without the FUSE_RELEASE_ prefix.
func (f ReleaseFlags) String() string { return FormatFlags(uint64(f), releaseFlagNames) }

// IoctlFlags is the Flags field of [IoctlIn] and [IoctlOut].
type IoctlFlags uint32

// Ioctl flags.
const (
	// FUSE_IOCTL_COMPAT: 32-bit compat ioctl. Since 7.11.
	FUSE_IOCTL_COMPAT IoctlFlags = 1 << 0
	// FUSE_IOCTL_UNRESTRICTED: not restricted to well-formed ioctls.
	// Since 7.11.
	FUSE_IOCTL_UNRESTRICTED IoctlFlags = 1 << 1
	// FUSE_IOCTL_RETRY: retry with the iovecs in the reply. Since 7.11.
	FUSE_IOCTL_RETRY IoctlFlags = 1 << 2
	// FUSE_IOCTL_32BIT: 32-bit ioctl. Since 7.16.
	FUSE_IOCTL_32BIT IoctlFlags = 1 << 3
	// FUSE_IOCTL_DIR: ioctl on a directory. Since 7.18.
	FUSE_IOCTL_DIR IoctlFlags = 1 << 4
	// FUSE_IOCTL_COMPAT_X32: x32 compat ioctl. Since 7.30.
	FUSE_IOCTL_COMPAT_X32 IoctlFlags = 1 << 5
)

var ioctlFlagNames = []FlagName{
	{uint64(FUSE_IOCTL_COMPAT), "COMPAT"},
	{uint64(FUSE_IOCTL_UNRESTRICTED), "UNRESTRICTED"},
	{uint64(FUSE_IOCTL_RETRY), "RETRY"},
	{uint64(FUSE_IOCTL_32BIT), "32BIT"},
	{uint64(FUSE_IOCTL_DIR), "DIR"},
	{uint64(FUSE_IOCTL_COMPAT_X32), "COMPAT_X32"},
}

// String returns the names without the FUSE_IOCTL_ prefix.
func (f IoctlFlags) String() string { return FormatFlags(uint64(f), ioctlFlagNames) }

// PollFlags is the Flags field of [PollIn].
type PollFlags uint32

// Poll flags.
const (
	// FUSE_POLL_SCHEDULE_NOTIFY: send FUSE_NOTIFY_POLL when ready.
	// Since 7.11.
	FUSE_POLL_SCHEDULE_NOTIFY PollFlags = 1 << 0
)

var pollFlagNames = []FlagName{
	{uint64(FUSE_POLL_SCHEDULE_NOTIFY), "SCHEDULE_NOTIFY"},
}

// String returns the names without the FUSE_POLL_ prefix.
func (f PollFlags) String() string { return FormatFlags(uint64(f), pollFlagNames) }

// FsyncFlags is the FsyncFlags field of [FsyncIn].
type FsyncFlags uint32

// Fsync flags.
const (
	// FUSE_FSYNC_FDATASYNC: sync data only.
	FUSE_FSYNC_FDATASYNC FsyncFlags = 1 << 0
)

var fsyncFlagNames = []FlagName{
	{uint64(FUSE_FSYNC_FDATASYNC), "FDATASYNC"},
}

// String returns the names without the FUSE_FSYNC_ prefix.
func (f FsyncFlags) String() string { return FormatFlags(uint64(f), fsyncFlagNames) }

// AttrFlags is the Flags field of [Attr].
type AttrFlags uint32

// Attribute flags.
const (
	// FUSE_ATTR_SUBMOUNT: the inode is a submount root. Since 7.32.
	FUSE_ATTR_SUBMOUNT AttrFlags = 1 << 0
	// FUSE_ATTR_DAX: enable DAX for the inode. Since 7.36.
	FUSE_ATTR_DAX AttrFlags = 1 << 1
)

var attrFlagNames = []FlagName{
	{uint64(FUSE_ATTR_SUBMOUNT), "SUBMOUNT"},
	{uint64(FUSE_ATTR_DAX), "DAX"},
}

// String returns the names without the FUSE_ATTR_ prefix.
func (f AttrFlags) String() string { return FormatFlags(uint64(f), attrFlagNames) }

// SetxattrFlags is the SetxattrFlags field of [SetxattrIn].
type SetxattrFlags uint32

// Setxattr flags.
const (
	// FUSE_SETXATTR_ACL_KILL_SGID: clear sgid when setting a POSIX ACL.
	// Since 7.33.
	FUSE_SETXATTR_ACL_KILL_SGID SetxattrFlags = 1 << 0
)

var setxattrFlagNames = []FlagName{
	{uint64(FUSE_SETXATTR_ACL_KILL_SGID), "ACL_KILL_SGID"},
}

// String returns the names without the FUSE_SETXATTR_ prefix.
func (f SetxattrFlags) String() string { return FormatFlags(uint64(f), setxattrFlagNames) }

// InvalEntryFlags is the Flags field of [NotifyInvalEntryOut].
type InvalEntryFlags uint32

// Inval-entry flags.
const (
	// FUSE_EXPIRE_ONLY: expire the entry instead of dropping it.
	// Since 7.38.
	FUSE_EXPIRE_ONLY InvalEntryFlags = 1 << 0
)

var invalEntryFlagNames = []FlagName{
	{uint64(FUSE_EXPIRE_ONLY), "EXPIRE_ONLY"},
}

// String returns the names without the FUSE_ prefix.
func (f InvalEntryFlags) String() string { return FormatFlags(uint64(f), invalEntryFlagNames) }

// SetupmappingFlags is the Flags field of [SetupmappingIn].
type SetupmappingFlags uint64

// Setupmapping flags.
const (
	// FUSE_SETUPMAPPING_FLAG_WRITE maps for writing. Since 7.31.
	FUSE_SETUPMAPPING_FLAG_WRITE SetupmappingFlags = 1 << 0
	// FUSE_SETUPMAPPING_FLAG_READ maps for reading. Since 7.31.
	FUSE_SETUPMAPPING_FLAG_READ SetupmappingFlags = 1 << 1
)

var setupmappingFlagNames = []FlagName{
	{uint64(FUSE_SETUPMAPPING_FLAG_WRITE), "WRITE"},
	{uint64(FUSE_SETUPMAPPING_FLAG_READ), "READ"},
}

// String returns the names without the FUSE_SETUPMAPPING_FLAG_ prefix.
func (f SetupmappingFlags) String() string {
	return FormatFlags(uint64(f), setupmappingFlagNames)
}

// CuseFlags is the Flags field of [CuseInitIn] and [CuseInitOut].
type CuseFlags uint32

// CUSE flags.
const (
	// CUSE_UNRESTRICTED_IOCTL allows unrestricted ioctls.
	CUSE_UNRESTRICTED_IOCTL CuseFlags = 1 << 0
)

var cuseFlagNames = []FlagName{
	{uint64(CUSE_UNRESTRICTED_IOCTL), "UNRESTRICTED_IOCTL"},
}

// String returns the names without the CUSE_ prefix.
func (f CuseFlags) String() string { return FormatFlags(uint64(f), cuseFlagNames) }
