package abi

// Compat sizes: the shorter layouts older minors use. Encode and decode
// them with AppendPrefix and UnmarshalPrefix.
const (
	// FUSE_COMPAT_ENTRY_OUT_SIZE is the [EntryOut] size before 7.9.
	FUSE_COMPAT_ENTRY_OUT_SIZE = 120
	// FUSE_COMPAT_ATTR_OUT_SIZE is the [AttrOut] size before 7.9.
	FUSE_COMPAT_ATTR_OUT_SIZE = 96
	// FUSE_COMPAT_MKNOD_IN_SIZE is the [MknodIn] size before 7.12, also the
	// [CreateIn] size then.
	FUSE_COMPAT_MKNOD_IN_SIZE = 8
	// FUSE_COMPAT_WRITE_IN_SIZE is the [WriteIn] size before 7.9.
	FUSE_COMPAT_WRITE_IN_SIZE = 24
	// FUSE_COMPAT_STATFS_SIZE is the [StatfsOut] size before 7.4.
	FUSE_COMPAT_STATFS_SIZE = 48
	// FUSE_COMPAT_INIT_OUT_SIZE is the [InitOut] size before 7.5.
	FUSE_COMPAT_INIT_OUT_SIZE = 8
	// FUSE_COMPAT_22_INIT_OUT_SIZE is the [InitOut] size before 7.23.
	FUSE_COMPAT_22_INIT_OUT_SIZE = 24
	// FUSE_COMPAT_SETXATTR_IN_SIZE is the [SetxattrIn] size unless
	// FUSE_SETXATTR_EXT was negotiated.
	FUSE_COMPAT_SETXATTR_IN_SIZE = 8
	// FUSE_COMPAT_INIT_IN_SIZE is the [InitIn] size before 7.36.
	FUSE_COMPAT_INIT_IN_SIZE = 16
)

// EntryOutSize returns the [EntryOut] size at a negotiated minor.
func EntryOutSize(minor uint32) int {
	if minor < 9 {
		return FUSE_COMPAT_ENTRY_OUT_SIZE
	}
	return 128
}

// AttrOutSize returns the [AttrOut] size at a negotiated minor.
func AttrOutSize(minor uint32) int {
	if minor < 9 {
		return FUSE_COMPAT_ATTR_OUT_SIZE
	}
	return 104
}

// MknodInSize returns the [MknodIn] size at a negotiated minor.
func MknodInSize(minor uint32) int {
	if minor < 12 {
		return FUSE_COMPAT_MKNOD_IN_SIZE
	}
	return 16
}

// CreateInSize returns the [CreateIn] size at a negotiated minor; before
// 7.12 it had the layout of [OpenIn].
func CreateInSize(minor uint32) int {
	if minor < 12 {
		return FUSE_COMPAT_MKNOD_IN_SIZE
	}
	return 16
}

// WriteInSize returns the [WriteIn] size at a negotiated minor.
func WriteInSize(minor uint32) int {
	if minor < 9 {
		return FUSE_COMPAT_WRITE_IN_SIZE
	}
	return 40
}

// StatfsOutSize returns the [StatfsOut] size at a negotiated minor.
func StatfsOutSize(minor uint32) int {
	if minor < 4 {
		return FUSE_COMPAT_STATFS_SIZE
	}
	return 80
}

// InitInSize returns the [InitIn] size a kernel of the given minor sends.
func InitInSize(minor uint32) int {
	if minor < 36 {
		return FUSE_COMPAT_INIT_IN_SIZE
	}
	return 64
}

// InitOutSize returns the [InitOut] size a server of the given minor
// replies with, as libfuse chooses it.
func InitOutSize(minor uint32) int {
	switch {
	case minor < 5:
		return FUSE_COMPAT_INIT_OUT_SIZE
	case minor < 23:
		return FUSE_COMPAT_22_INIT_OUT_SIZE
	}
	return 64
}

// SetxattrInSize returns the [SetxattrIn] size: 16 with FUSE_SETXATTR_EXT
// negotiated, else FUSE_COMPAT_SETXATTR_IN_SIZE.
func SetxattrInSize(flags InitFlags) int {
	if flags&FUSE_SETXATTR_EXT != 0 {
		return 16
	}
	return FUSE_COMPAT_SETXATTR_IN_SIZE
}
