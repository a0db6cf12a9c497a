package abi

import (
	"fmt"
	"structs"
)

// Request extension types (enum fuse_ext_type). Types 0..FUSE_MAX_NR_SECCTX
// mean a security-context block whose header is a [SecctxHeader] and whose
// "type" is the number of contexts. Since 7.38.
const (
	// FUSE_MAX_NR_SECCTX is the highest type that is a security-context
	// block.
	FUSE_MAX_NR_SECCTX = 31
	// FUSE_EXT_GROUPS is the supplementary-groups extension ([SuppGroups]).
	FUSE_EXT_GROUPS = 32
)

// ExtHeader is struct fuse_ext_header, the header of one request extension.
// Extensions follow all arguments of CREATE, MKNOD, MKDIR, SYMLINK and
// TMPFILE; InHeader.TotalExtlen gives their length. Since 7.38.
type ExtHeader struct {
	_ structs.HostLayout
	// Size is the length of the extension, header included; a multiple of 8.
	Size uint32
	// Type is the extension type (FUSE_EXT_GROUPS, or a security-context
	// count up to FUSE_MAX_NR_SECCTX).
	Type uint32
}

// SecctxHeader is struct fuse_secctx_header, the start of the security
// context block (FUSE_SECURITY_CTX). Since 7.36; framed as an extension
// since 7.38.
type SecctxHeader struct {
	_ structs.HostLayout
	// Size is the length of the block, this header included.
	Size uint32
	// NrSecctx is the number of contexts that follow.
	NrSecctx uint32
}

// Secctx is struct fuse_secctx, one security context: the xattr name with a
// NUL, then Size bytes of value, then zero padding to 8 follow. Since 7.36.
type Secctx struct {
	_ structs.HostLayout
	// Size is the length of the context value.
	Size uint32
	_    uint32
}

// SuppGroups is the fixed part of struct fuse_supp_groups, the body of the
// FUSE_EXT_GROUPS extension; NrGroups 32-bit gids follow. Since 7.38.
type SuppGroups struct {
	_ structs.HostLayout
	// NrGroups is the number of gids that follow.
	NrGroups uint32
}

// NextExt splits the first request extension off src, which holds the
// extension area of a request (the last 8·TotalExtlen bytes). body is the
// extension after its header and aliases src. The error wraps ErrBadExt if
// the size is below 8 or not a multiple of 8, ErrShort if the extension
// runs past src.
func NextExt(src []byte, o ByteOrder) (h ExtHeader, body, rest []byte, err error) {
	if _, err := h.Unmarshal(src, o); err != nil {
		return ExtHeader{}, nil, src, fmt.Errorf("read extension: %w", err)
	}
	if h.Size < 8 || h.Size%8 != 0 {
		return h, nil, src, fmt.Errorf("read extension of type %d: %w: size %d", h.Type, ErrBadExt, h.Size)
	}
	if uint64(h.Size) > uint64(len(src)) {
		return h, nil, src, fmt.Errorf("read extension of type %d: %w: size %d, have %d", h.Type, ErrShort, h.Size, len(src))
	}
	n := int(h.Size)
	return h, src[8:n:n], src[n:], nil
}

// AppendExt appends an extension header of type typ and body to b, padding
// the body with zeros to a multiple of 8.
func AppendExt(b []byte, typ uint32, body []byte, o ByteOrder) []byte {
	n := RecAlign(8 + len(body))
	h := ExtHeader{Size: uint32(n), Type: typ}
	b = h.Append(b, o)
	b = append(b, body...)
	return appendZeros(b, n-8-len(body))
}

// SplitExt splits the bytes of a request after its [InHeader] into the
// arguments and the extension area, the last 8·totalExtlen bytes
// (InHeader.TotalExtlen). Both alias body. The error wraps ErrBadExt if the
// extension area would be longer than body.
func SplitExt(body []byte, totalExtlen uint16) (args, ext []byte, err error) {
	n := int(totalExtlen) * 8
	if n > len(body) {
		return body, nil, fmt.Errorf("split extensions: %w: %d bytes of extensions in a %d-byte body", ErrBadExt, n, len(body))
	}
	k := len(body) - n
	return body[:k:k], body[k:], nil
}
