package transport

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults of Options.
const (
	// DefaultMaxWrite is the largest WRITE payload a connection is prepared
	// for when Options.MaxWrite is 0.
	DefaultMaxWrite = 1 << 20
	// FrameSlack is what Options.MaxMsg allows beyond MaxWrite + 4096 by
	// default, for headers and request structs around the largest payload.
	FrameSlack = 4096
)

// Options configure a SeqPacket.
type Options struct {
	// MaxWrite is the largest payload one message carries (the max_write
	// the client will negotiate). Send buffers of both socket ends are
	// raised to hold at least MaxWrite + 4096 bytes. 0 means
	// DefaultMaxWrite.
	MaxWrite int
	// MaxMsg is the largest message ReadMsg accepts; a header announcing
	// more is a framing error, not an allocation. 0 means
	// MaxWrite + 4096 + FrameSlack.
	MaxMsg int
}

func (o Options) withDefaults() Options {
	if o.MaxWrite <= 0 {
		o.MaxWrite = DefaultMaxWrite
	}
	if o.MaxMsg <= 0 {
		o.MaxMsg = o.MaxWrite + 4096 + FrameSlack
	}
	o.MaxMsg = max(o.MaxMsg, HeaderMin)
	return o
}

// SeqPacket is one end of an AF_UNIX SOCK_SEQPACKET socket carrying FUSE
// messages, one datagram per message except for replies a server spliced
// (see the package comment). It implements Conn.
type SeqPacket struct {
	f      *os.File
	rc     syscall.RawConn
	maxMsg int
	sndbuf int
	closed atomic.Bool
	rd     recvOp  // used by the one reader only
	part   partial // a message a read deadline interrupted; the reader's
}

var _ Conn = (*SeqPacket)(nil)

// SocketPair creates a SOCK_SEQPACKET socketpair for talking to a FUSE
// server. local is ours, non-blocking and driven by the runtime poller;
// remote is a blocking, close-on-exec file to hand to the server (exec.Cmd
// ExtraFiles clears close-on-exec in the child). The send buffers of both
// ends are raised to at least MaxWrite + 4096 bytes: SO_SNDBUFFORCE when the
// process may (CAP_NET_ADMIN), else SO_SNDBUF, which the kernel caps at
// net.core.wmem_max; SendBuffer reports what was obtained.
func SocketPair(opts Options) (local *SeqPacket, remote *os.File, err error) {
	opts = opts.withDefaults()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("create socketpair: %w", err)
	}
	want := opts.MaxWrite + 4096
	if err := raiseSendBuffer(fds[1], want); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, err
	}
	local, err = newSeqPacketFD(fds[0], opts, want)
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	return local, os.NewFile(uintptr(fds[1]), "fuse-seqpacket-server"), nil
}

// NewSeqPacket takes over f, a connected SOCK_SEQPACKET socket (for example
// one received over SCM_RIGHTS), and returns it as a SeqPacket. f is closed;
// the SeqPacket owns a duplicate of its descriptor. Its send buffer is
// raised as in SocketPair.
func NewSeqPacket(f *os.File, opts Options) (*SeqPacket, error) {
	opts = opts.withDefaults()
	nfd, err := dupFile(f)
	if err != nil {
		return nil, fmt.Errorf("take over socket: %w", err)
	}
	f.Close()
	typ, err := unix.GetsockoptInt(nfd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || typ != unix.SOCK_SEQPACKET {
		unix.Close(nfd)
		if err == nil {
			err = fmt.Errorf("socket type %d", typ)
		}
		return nil, fmt.Errorf("not a seqpacket socket: %w", err)
	}
	return newSeqPacketFD(nfd, opts, opts.MaxWrite+4096)
}

func newSeqPacketFD(fd int, opts Options, sndbuf int) (*SeqPacket, error) {
	if err := raiseSendBuffer(fd, sndbuf); err != nil {
		unix.Close(fd)
		return nil, err
	}
	got, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("set non-blocking: %w", err)
	}
	// A non-blocking descriptor makes os.NewFile register it with the
	// runtime poller, which gives us deadlines and a Close that unblocks
	// a pending read.
	f := os.NewFile(uintptr(fd), "fuse-seqpacket")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("raw conn: %w", err)
	}
	c := &SeqPacket{f: f, rc: rc, maxMsg: opts.MaxMsg, sndbuf: got}
	c.rd.fn = c.rd.do
	return c, nil
}

// raiseSendBuffer sets SO_SNDBUF of fd to at least want bytes (the kernel
// doubles the value it is given and reports the doubled figure).
func raiseSendBuffer(fd, want int) error {
	if cur, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err == nil && cur >= 2*want {
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, want); err == nil {
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, want); err != nil {
		return fmt.Errorf("raise send buffer: %w", err)
	}
	return nil
}

// File returns the underlying socket, for socket options and for
// benchmarks that forward without SeqPacket. Reading or writing it
// directly bypasses SeqPacket's framing.
func (c *SeqPacket) File() *os.File { return c.f }

// SendBuffer returns the send buffer size of our end as the kernel reports
// it (twice the value set). A datagram larger than about this size fails
// with EMSGSIZE.
func (c *SeqPacket) SendBuffer() int { return c.sndbuf }

// MaxMsg returns the largest message ReadMsg accepts. A buffer of at least
// this capacity lets ReadMsg read without a preliminary peek.
func (c *SeqPacket) MaxMsg() int { return c.maxMsg }

// ReadMsg reads one whole message, joining the datagrams of a spliced
// reply. When cap(buf) >= MaxMsg() it reads straight into buf; otherwise it
// peeks at the header first and allocates a buffer of the message's size if
// buf is too small, so small buffers cost one extra system call. A framing
// error (ErrBadFrame) leaves the socket usable when it concerned a first
// datagram. A read deadline that passes between the datagrams of a spliced
// message loses nothing: the next ReadMsg finishes that message, in the
// buffer the interrupted call was given (which the reader must therefore
// leave alone until then).
func (c *SeqPacket) ReadMsg(buf []byte) ([]byte, error) {
	msg, err := readMessage(socketSource{c}, buf, c.maxMsg, &c.part)
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	return msg, nil
}

// socketSource adapts a SeqPacket to datagramSource.
type socketSource struct{ c *SeqPacket }

func (s socketSource) recv(b []byte, peek bool) (int, error) {
	op := &s.c.rd
	op.b, op.flags = b, unix.MSG_TRUNC
	if peek {
		op.flags |= unix.MSG_PEEK
	}
	err := s.c.rc.Read(op.fn)
	if err == nil {
		err = op.err
	}
	n := op.n
	op.b, op.n, op.err = nil, 0, nil
	if err != nil {
		return 0, s.c.mapErr(err)
	}
	return n, nil
}

// recvOp is the state of one recv on the poller, kept in the SeqPacket
// (there is one reader) so that a read allocates nothing.
type recvOp struct {
	b     []byte
	flags int
	n     int
	err   error
	fn    func(fd uintptr) bool
}

func (op *recvOp) do(fd uintptr) bool {
	for {
		n, e := rawRecv(fd, op.b, op.flags)
		if e != unix.EINTR {
			op.n, op.err = n, errnoErr(e)
			return e != unix.EAGAIN
		}
	}
}

// WriteMsg sends parts as one datagram. An empty message is refused: the
// peer could not tell it from end of stream.
func (c *SeqPacket) WriteMsg(parts ...[]byte) error {
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	if total == 0 {
		return fmt.Errorf("write message: %w", &FrameError{Reason: "empty message"})
	}
	if err := writeParts(c.rc, parts, true); err != nil {
		return fmt.Errorf("write message: %w", c.mapErr(err))
	}
	return nil
}

// mapErr turns poller and socket errors into the errors the Conn contract
// promises.
func (c *SeqPacket) mapErr(err error) error {
	if c.closed.Load() {
		return os.ErrClosed
	}
	if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.ENOTCONN) {
		return fmt.Errorf("%w: %w", ErrPeerGone, err)
	}
	return err
}

// SetReadDeadline sets the deadline for ReadMsg; a read past it fails with
// an error wrapping os.ErrDeadlineExceeded. The zero time means none.
func (c *SeqPacket) SetReadDeadline(t time.Time) error { return c.f.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for WriteMsg.
func (c *SeqPacket) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// Shutdown shuts down the sending direction: the peer reads end of stream
// while we can still read what it sends.
func (c *SeqPacket) Shutdown() error {
	var serr error
	if err := c.rc.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_WR) }); err != nil {
		return c.mapErr(err)
	}
	return serr
}

// Close closes the socket and unblocks a pending ReadMsg, which then fails
// with an error wrapping os.ErrClosed. Closing twice returns os.ErrClosed.
func (c *SeqPacket) Close() error {
	if c.closed.Swap(true) {
		return os.ErrClosed
	}
	return c.f.Close()
}
