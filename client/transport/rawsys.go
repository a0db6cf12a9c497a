package transport

import (
	"encoding/binary"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The descriptors this package drives are non-blocking, so their reads and
// writes return at once. They are made with RawSyscall: the runtime's
// ordinary Syscall marks the thread as in a system call, and when the
// process had gone idle between messages that wakes the sleeping sysmon
// thread on every call — a context switch per message, which doubled the
// cost of a forwarded FUSE round trip. The one call that can wait in the
// kernel, a notification written to /dev/fuse, does not come here.

// dupFile returns a close-on-exec duplicate of f's descriptor.
func dupFile(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	return dupFD(rc)
}

// dupFD returns a close-on-exec duplicate of rc's descriptor.
func dupFD(rc syscall.RawConn) (int, error) {
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	return nfd, derr
}

// writeOp is the state of one message write on the poller: sendmsg(2) on a
// socket, writev(2) on /dev/fuse. Writers are concurrent, so ops come from
// a pool, each with its own iovec array.
type writeOp struct {
	parts [][]byte
	sock  bool
	iov   iovecs
	err   error
	fn    func(fd uintptr) bool
}

var writeOps = sync.Pool{New: func() any {
	op := new(writeOp)
	op.fn = op.do
	return op
}}

// writeParts writes parts as one message through rc: as a datagram on a
// socket (sock), else with writev.
func writeParts(rc syscall.RawConn, parts [][]byte, sock bool) error {
	op := writeOps.Get().(*writeOp)
	op.parts, op.sock = parts, sock
	err := rc.Write(op.fn)
	if err == nil {
		err = op.err
	}
	op.parts, op.err = nil, nil
	writeOps.Put(op)
	return err
}

func (op *writeOp) do(fd uintptr) bool {
	n, ok := op.iov.fill(op.parts)
	defer op.iov.clear(n)
	// A reply to /dev/fuse returns at once. A notification (unique 0) may
	// wait in the kernel, an INVAL_INODE for page writeback say, so it
	// goes through the ordinary system call, which lets the runtime use
	// the thread's processor meanwhile. So does a message of more parts
	// than the iovec array holds.
	raw := ok && (op.sock || len(op.parts) > 0 && len(op.parts[0]) >= HeaderMin && binary.NativeEndian.Uint64(op.parts[0][8:]) != 0)
	for {
		var e unix.Errno
		switch {
		case raw && op.sock:
			_, e = rawSendmsg(fd, op.iov[:n], unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
			op.err = errnoErr(e)
		case raw:
			_, e = rawWritev(fd, op.iov[:n])
			op.err = errnoErr(e)
		case op.sock:
			_, op.err = unix.SendmsgBuffers(int(fd), op.parts, nil, nil, unix.MSG_NOSIGNAL)
			e, _ = op.err.(unix.Errno)
		default:
			_, op.err = unix.Writev(int(fd), op.parts)
			e, _ = op.err.(unix.Errno)
		}
		if e != unix.EINTR {
			return e != unix.EAGAIN
		}
	}
}

// maxIov bounds the parts of one message sent without allocating.
const maxIov = 8

// iovecs holds the iovec array of one send.
type iovecs [maxIov]unix.Iovec

// fill points iov at parts and returns how many it used; ok is false when
// there are more parts than maxIov.
func (iov *iovecs) fill(parts [][]byte) (n int, ok bool) {
	for _, p := range parts {
		if len(p) == 0 {
			continue
		}
		if n == maxIov {
			return 0, false
		}
		iov[n].Base = &p[0]
		iov[n].SetLen(len(p))
		n++
	}
	return n, true
}

// clear drops the references to the sent buffers.
func (iov *iovecs) clear(n int) {
	for i := range n {
		iov[i] = unix.Iovec{}
	}
}

func rawRead(fd uintptr, p []byte) (int, unix.Errno) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(ptr), uintptr(len(p)))
	return int(n), e
}

func rawRecv(fd uintptr, p []byte, flags int) (int, unix.Errno) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(ptr), uintptr(len(p)), uintptr(flags), 0, 0)
	return int(n), e
}

func rawWritev(fd uintptr, iov []unix.Iovec) (int, unix.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(unsafe.SliceData(iov))), uintptr(len(iov)))
	return int(n), e
}

func rawSendmsg(fd uintptr, iov []unix.Iovec, flags int) (int, unix.Errno) {
	var msg unix.Msghdr
	msg.Iov = unsafe.SliceData(iov)
	msg.SetIovlen(len(iov))
	n, _, e := unix.RawSyscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	return int(n), e
}

// errnoErr turns a raw errno into the error value the callers compare
// against (nil for success).
func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
