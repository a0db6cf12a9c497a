package abi

import (
	"bytes"
	"fmt"
	"structs"
)

// SetxattrIn is struct fuse_setxattr_in, the fixed part of SETXATTR; the
// name and Size value bytes follow. Without FUSE_SETXATTR_EXT negotiated only
// the first FUSE_COMPAT_SETXATTR_IN_SIZE bytes are sent.
type SetxattrIn struct {
	_ structs.HostLayout
	// Size is the length of the value.
	Size uint32
	// Flags holds the setxattr(2) flags (XATTR_CREATE 1, XATTR_REPLACE 2).
	Flags uint32
	// SetxattrFlags holds FUSE_SETXATTR_* bits. Since 7.33.
	SetxattrFlags SetxattrFlags
	_             uint32
}

// GetxattrIn is struct fuse_getxattr_in, the fixed part of GETXATTR (the
// name follows) and the argument of LISTXATTR.
type GetxattrIn struct {
	_ structs.HostLayout
	// Size is the caller's buffer size; 0 asks for the needed size.
	Size uint32
	_    uint32
}

// GetxattrOut is struct fuse_getxattr_out, the reply of GETXATTR and
// LISTXATTR when the request's Size is 0.
type GetxattrOut struct {
	_ structs.HostLayout
	// Size is the length of the value or list.
	Size uint32
	_    uint32
}

// CString splits a NUL-terminated string off the front of src. s excludes
// the NUL and aliases src. The error wraps ErrNoNUL if src has no NUL.
func CString(src []byte) (s, rest []byte, err error) {
	i := bytes.IndexByte(src, 0)
	if i < 0 {
		return nil, src, fmt.Errorf("read name of %d bytes: %w", len(src), ErrNoNUL)
	}
	return src[:i:i], src[i+1:], nil
}

// AppendCString appends s and a NUL to b.
func AppendCString[S ~string | ~[]byte](b []byte, s S) []byte {
	b = append(b, s...)
	return append(b, 0)
}
