package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ByteOrder is the byte order of a FUSE message. FUSE uses the host's order;
// binary.LittleEndian, binary.BigEndian and binary.NativeEndian satisfy it.
type ByteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// NativeEndian is the byte order of this host, the one /dev/fuse speaks.
var NativeEndian ByteOrder = binary.NativeEndian

// Sentinel errors, matched with errors.Is.
var (
	// ErrShort means the input ends before the struct or record does.
	ErrShort = errors.New("short buffer")
	// ErrNoNUL means a string that must be NUL-terminated is not.
	ErrNoNUL = errors.New("missing NUL terminator")
	// ErrBadDirent means a directory entry has an invalid name length.
	ErrBadDirent = errors.New("bad dirent")
	// ErrBadExt means a request extension has an invalid size.
	ErrBadExt = errors.New("bad request extension")
)

// shortError builds the error for a struct that does not fit its input.
func shortError(typ string, need, have int) error {
	return fmt.Errorf("decode %s: %w: need %d bytes, have %d", typ, ErrShort, need, have)
}

// isBig reports whether o is big-endian. The codecs branch on this once per
// struct and then use the concrete orders, which the compiler inlines; a call
// through the interface per field would cost several times more. A nil o
// means NativeEndian.
func isBig(o ByteOrder) bool {
	switch o {
	case binary.LittleEndian:
		return false
	case binary.BigEndian:
		return true
	case binary.NativeEndian, nil:
		return binary.NativeEndian.Uint16([]byte{0, 1}) == 1
	}
	var p [2]byte
	o.PutUint16(p[:], 1)
	return p[1] == 1
}

// grow appends n bytes to b and returns the new slice and the n-byte window
// to encode into.
func grow(b []byte, n int) (all, w []byte) {
	l := len(b)
	b = slices.Grow(b, n)[:l+n]
	return b, b[l:]
}

// clampPrefix bounds a prefix length to [0, size].
func clampPrefix(n, size int) int {
	return max(0, min(n, size))
}
