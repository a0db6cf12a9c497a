package capture

import (
	"errors"
	"fmt"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNotFcap means the input is not an .fcap file: not pcapng, or an
	// interface with a link type other than LINKTYPE_USER0.
	ErrNotFcap = errors.New("not an fcap file")
	// ErrVersion means a record's pseudo-header has a version this package
	// does not know.
	ErrVersion = errors.New("unknown fcap version")
	// ErrShort means a packet is shorter than the pseudo-header.
	ErrShort = errors.New("packet shorter than pseudo-header")
	// ErrBadDir means a pseudo-header direction that is not request, reply
	// or notify.
	ErrBadDir = errors.New("bad direction")
	// ErrByteOrder means a record of one byte order given to a Writer of
	// the other.
	ErrByteOrder = errors.New("byte order differs")
)

// FormatError reports malformed data in a capture and where it is. Offset is
// the byte offset of the pcapng block that holds the problem. Every error
// about the data from Next and NextInto is one, those wrapping ErrNotFcap
// (an interface of another link type) and ErrVersion included; only
// NewReader's verdict on input that is not pcapng at all is a plain error
// wrapping ErrNotFcap.
type FormatError struct {
	Offset int64
	Err    error
}

// Error implements error.
func (e *FormatError) Error() string {
	return fmt.Sprintf("fcap: offset %d: %v", e.Offset, e.Err)
}

// Unwrap returns the underlying error, so errors.Is finds the sentinels.
func (e *FormatError) Unwrap() error { return e.Err }
