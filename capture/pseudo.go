package capture

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Dir is the direction of a FUSE message.
type Dir uint8

// Directions, as stored in byte 1 of the pseudo-header.
const (
	// DirRequest is a request, from the kernel (or a client) to the server.
	DirRequest Dir = 1
	// DirReply is a reply, from the server to the kernel (or a client).
	DirReply Dir = 2
	// DirNotify is a notification from the server, unique 0.
	DirNotify Dir = 3
)

// String returns "request", "reply" or "notify", or "dir(N)" for others.
func (d Dir) String() string {
	switch d {
	case DirRequest:
		return "request"
	case DirReply:
		return "reply"
	case DirNotify:
		return "notify"
	}
	return fmt.Sprintf("dir(%d)", uint8(d))
}

// Valid reports whether d is one of the defined directions.
func (d Dir) Valid() bool { return d >= DirRequest && d <= DirNotify }

// Flags are the pseudo-header flags of a record.
type Flags uint16

// Flag bits, as stored in bytes 2-3 of the pseudo-header.
const (
	// FlagSynthesized marks a record not seen on the wire, written so that a
	// capture started mid-session decodes (INIT and LOOKUP pairs).
	FlagSynthesized Flags = 1 << 0
	// FlagTruncated marks a message cut at the snap length.
	FlagTruncated Flags = 1 << 1
	// FlagInjected marks a message made by fusectl, not by the kernel or
	// the server.
	FlagInjected Flags = 1 << 2
)

var flagNames = [...]string{"synthesized", "truncated", "injected"}

// String gives the set flag names joined by "|" in bit order, unknown bits
// as hex, "0" if none is set.
func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	var b strings.Builder
	for i, name := range flagNames {
		if f&(1<<i) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(name)
	}
	if rest := f &^ (1<<len(flagNames) - 1); rest != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		fmt.Fprintf(&b, "%#x", uint16(rest))
	}
	return b.String()
}

const (
	// PseudoHeaderSize is the size of the pseudo-header that precedes every
	// FUSE message in an enhanced packet block.
	PseudoHeaderSize = 8
	// FormatVersion is the pseudo-header version this package writes and
	// reads (byte 0).
	FormatVersion = 1
)

// ParsePseudoHeader splits a packet into its pseudo-header fields and the
// FUSE message that follows. msg aliases b. o is the section's byte order.
// An unknown version gives an error wrapping ErrVersion; the reserved bytes
// 4-7 and unknown flag bits are ignored, so that later writers can use them
// without breaking version 1 readers.
func ParsePseudoHeader(b []byte, o binary.ByteOrder) (dir Dir, flags Flags, msg []byte, err error) {
	if len(b) < PseudoHeaderSize {
		return 0, 0, nil, fmt.Errorf("pseudo-header: %d bytes: %w", len(b), ErrShort)
	}
	if b[0] != FormatVersion {
		return 0, 0, nil, fmt.Errorf("pseudo-header version %d: %w", b[0], ErrVersion)
	}
	dir = Dir(b[1])
	if !dir.Valid() {
		return 0, 0, nil, fmt.Errorf("pseudo-header direction %d: %w", b[1], ErrBadDir)
	}
	return dir, Flags(o.Uint16(b[2:4])), b[PseudoHeaderSize:], nil
}

// AppendPseudoHeader appends the 8-byte pseudo-header for a message of the
// given direction and flags, in byte order o.
func AppendPseudoHeader(b []byte, dir Dir, flags Flags, o binary.ByteOrder) []byte {
	b = append(b, FormatVersion, byte(dir), 0, 0, 0, 0, 0, 0)
	o.PutUint16(b[len(b)-6:], uint16(flags)) // not through a local array: it would escape
	return b
}
