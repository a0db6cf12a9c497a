package transport

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// DevFuse is an opened /dev/fuse (or a clone of it): one read(2) returns one
// whole request, one writev(2) sends one whole reply. It implements Conn.
type DevFuse struct {
	f       *os.File
	rc      syscall.RawConn
	bufSize int
	closed  atomic.Bool
}

var _ Conn = (*DevFuse)(nil)

// NewDevFuse takes over f, an opened /dev/fuse that is already attached to
// a connection (mounted, or cloned with FUSE_DEV_IOC_CLONE). bufSize is the
// read buffer size ReadMsg guarantees; the kernel refuses reads smaller than
// max(8192, 80 + max_write), so it must be at least that.
//
// f is closed and DevFuse owns a non-blocking duplicate registered afresh
// with the runtime poller (so Close unblocks a pending ReadMsg). The fresh
// registration matters: /dev/fuse polls as EPOLLERR until it is attached,
// and a descriptor registered before the mount keeps reporting that error.
func NewDevFuse(f *os.File, bufSize int) (*DevFuse, error) {
	nfd, err := dupFile(f)
	if err != nil {
		return nil, fmt.Errorf("take over device: %w", err)
	}
	f.Close()
	return newDevFuseFD(nfd, bufSize)
}

// Dup returns a second DevFuse on the same open device, with a descriptor,
// poller registration and write lock of its own: for a writer that must
// not wait behind another one's write (a notification can block in the
// kernel for as long as a lock it needs is held), and the other way round.
func (d *DevFuse) Dup() (*DevFuse, error) {
	nfd, err := dupFD(d.rc)
	if err != nil {
		return nil, fmt.Errorf("duplicate device: %w", err)
	}
	return newDevFuseFD(nfd, d.bufSize)
}

// newDevFuseFD makes a DevFuse of fd, which it owns.
func newDevFuseFD(fd, bufSize int) (*DevFuse, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("set non-blocking: %w", err)
	}
	nf := os.NewFile(uintptr(fd), "/dev/fuse")
	rc, err := nf.SyscallConn()
	if err != nil {
		nf.Close()
		return nil, fmt.Errorf("raw conn: %w", err)
	}
	return &DevFuse{f: nf, rc: rc, bufSize: max(bufSize, 8192)}, nil
}

// File returns the underlying file, for ioctls such as FUSE_DEV_IOC_CLONE.
// Reading or writing it directly bypasses DevFuse.
func (d *DevFuse) File() *os.File { return d.f }

// ReadMsg reads one request. If cap(buf) is below the buffer size given to
// NewDevFuse it allocates a buffer of that size. ENODEV (the mount went away
// or was aborted) gives an error wrapping ErrPeerGone.
func (d *DevFuse) ReadMsg(buf []byte) ([]byte, error) {
	if cap(buf) < d.bufSize {
		buf = make([]byte, d.bufSize)
	}
	buf = buf[:cap(buf)]
	var (
		n    int
		rerr error
	)
	err := d.rc.Read(func(fd uintptr) bool {
		for {
			var e unix.Errno
			n, e = rawRead(fd, buf)
			// ENOENT: the request was interrupted and dropped while
			// being read; read the next one.
			if e != unix.EINTR && e != unix.ENOENT {
				rerr = errnoErr(e)
				return e != unix.EAGAIN
			}
		}
	})
	if err != nil && !d.closed.Load() && !errors.Is(err, os.ErrDeadlineExceeded) {
		// The poller reports EPOLLERR (a disconnected device) as "not
		// pollable"; one more read gives the real reason, ENODEV.
		if cerr := d.rc.Control(func(fd uintptr) { n, rerr = unix.Read(int(fd), buf) }); cerr == nil && rerr != unix.EAGAIN {
			err = nil
		}
	}
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, fmt.Errorf("read request: %w", d.mapErr(err))
	}
	if n == 0 {
		return nil, fmt.Errorf("read request: %w", ErrPeerGone)
	}
	if n < HeaderMin || msgLen(buf) != n {
		return nil, fmt.Errorf("read request: %w", &FrameError{Reason: "read length differs from header len", Len: headerLen(buf[:n]), Got: n})
	}
	return buf[:n], nil
}

// Pending reports whether the kernel holds a request that no reader has
// taken yet. It does not wait.
func (d *DevFuse) Pending() (bool, error) {
	var revents int16
	var perr error
	err := d.rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			_, perr = unix.Poll(fds, 0)
			if perr != unix.EINTR {
				break
			}
		}
		revents = fds[0].Revents
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return false, fmt.Errorf("poll /dev/fuse: %w", err)
	}
	return revents&unix.POLLIN != 0, nil
}

// WriteMsg writes parts as one reply with writev(2). ENOENT (the request
// was interrupted and is gone) gives an error wrapping ErrNoRequest, which
// is not fatal; ENODEV gives ErrPeerGone.
func (d *DevFuse) WriteMsg(parts ...[]byte) error {
	if err := writeParts(d.rc, parts, false); err != nil {
		return fmt.Errorf("write reply: %w", d.mapErr(err))
	}
	return nil
}

func (d *DevFuse) mapErr(err error) error {
	if d.closed.Load() {
		return os.ErrClosed
	}
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w: %w", ErrNoRequest, err)
	case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ECONNABORTED):
		return fmt.Errorf("%w: %w", ErrPeerGone, err)
	}
	return err
}

// Close closes the device file and unblocks a pending ReadMsg.
func (d *DevFuse) Close() error {
	if d.closed.Swap(true) {
		return os.ErrClosed
	}
	return d.f.Close()
}
