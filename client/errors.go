package client

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/fusectl/fusectl/abi"
)

// Sentinel errors of the client.
var (
	// ErrBadReply marks a reply that broke the protocol: wrong length,
	// errno out of range, wrong body size. The call fails with EIO, as
	// the kernel fails it.
	ErrBadReply = errors.New("bad reply")
	// ErrInitRefused is returned by Dial when the server's INIT reply is
	// unusable (error, wrong major version).
	ErrInitRefused = errors.New("init refused")
)

// Error is the error of one call: an errno the server replied with, or one
// the client chose (EIO for a bad reply, ENOTCONN for a dead server,
// ECONNABORTED for a closed connection). errors.Is matches the errno, so
// errors.Is(err, fs.ErrNotExist) and errors.Is(err, syscall.ENOENT) both
// work for an ENOENT reply.
type Error struct {
	// Op is the opcode of the failed request.
	Op abi.Opcode
	// Errno is the error number, positive.
	Errno syscall.Errno
	// Err is the cause when the client made the errno up (ErrBadReply, a
	// transport error); nil when the server sent Errno.
	Err error
}

// Error gives the opcode, the errno text and its name, and the cause if
// the client chose the errno.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v (%s)", e.Op, e.Err, abi.Errno(e.Errno))
	}
	return fmt.Sprintf("%s: %v (%s)", e.Op, e.Errno.Error(), abi.Errno(e.Errno))
}

// Unwrap returns the errno and the cause, if any.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Errno, e.Err}
	}
	return []error{e.Errno}
}

// replyErrno maps the error field of a reply to an errno. The kernel
// accepts -511..0 (fs/fuse/dev.c, "fuse: reject internal errno"); outside
// that range the reply is broken and the call fails with EIO, which is what
// the kernel's caller sees once the request completes.
func replyErrno(e int32) (syscall.Errno, error) {
	if e > 0 || e <= -512 {
		return syscall.EIO, fmt.Errorf("%w: errno %d out of range", ErrBadReply, e)
	}
	return syscall.Errno(-e), nil
}

func badReply(op abi.Opcode, format string, args ...any) *Error {
	return &Error{Op: op, Errno: syscall.EIO, Err: fmt.Errorf("%w: "+format, append([]any{ErrBadReply}, args...)...)}
}

// badReply is the error for a reply that failed a check after delivery
// (decoding, attributes); it is counted like the transport-level ones.
func (c *Conn) badReply(op abi.Opcode, format string, args ...any) *Error {
	c.stats.bad.Add(1)
	return badReply(op, format, args...)
}
