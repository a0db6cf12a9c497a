package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Conn moves whole FUSE messages. It is safe for one reader and any number of
// concurrent writers.
type Conn interface {
	// ReadMsg returns exactly one whole message. It reads into buf when its
	// capacity is large enough and may allocate a larger buffer otherwise;
	// the result aliases whichever buffer was used. After Close it returns
	// an error wrapping os.ErrClosed; when the peer went away, one wrapping
	// ErrPeerGone.
	ReadMsg(buf []byte) ([]byte, error)
	// WriteMsg sends the concatenation of parts as one message.
	WriteMsg(parts ...[]byte) error
	// Close releases the transport and unblocks a pending ReadMsg.
	Close() error
}

var (
	// ErrPeerGone means the other side closed its end or went away (EOF,
	// ECONNRESET, EPIPE, ENODEV).
	ErrPeerGone = errors.New("peer gone")
	// ErrNoRequest means the kernel no longer knows the request a reply was
	// written for (ENOENT on /dev/fuse), usually because it was interrupted.
	// The connection stays usable.
	ErrNoRequest = errors.New("request no longer pending")
	// ErrBadFrame means a message did not frame correctly: a length field
	// outside the allowed bounds, or datagrams that do not add up to it.
	ErrBadFrame = errors.New("bad message framing")
)

// HeaderMin is the smallest valid FUSE message: a 16-byte out-header. Both
// in- and out-headers start with the total message length as a host-endian
// uint32.
const HeaderMin = 16

// msgLen returns the length field of a message header.
func msgLen(b []byte) int {
	return int(binary.NativeEndian.Uint32(b))
}

// FrameError describes a framing failure; it wraps ErrBadFrame.
type FrameError struct {
	// Reason says what was wrong, e.g. "header len above maximum".
	Reason string
	// Len is the length field of the message header, if known (else 0).
	Len int
	// Got is the number of bytes received for the message so far.
	Got int
	// Head is the message's header as received (HeaderMin bytes), when
	// it was: its unique tells whose message was lost.
	Head []byte
	// Skipped says the bad message was one datagram, consumed whole: the
	// stream is still in step, and the next read starts a new message.
	Skipped bool
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("%s: %s (len %d, got %d)", ErrBadFrame, e.Reason, e.Len, e.Got)
}

// Unwrap returns ErrBadFrame.
func (e *FrameError) Unwrap() error { return ErrBadFrame }
