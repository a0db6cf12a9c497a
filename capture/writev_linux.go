package capture

import (
	"syscall"
	"unsafe"
)

// haveWritev: writevAll works here (see directMin).
const haveWritev = true

// writevAll writes every byte of bufs to rc's descriptor, in as few
// writev(2) calls as it takes (a pipe may take them in pieces). The raw
// system call keeps golang.org/x/sys out of the format package.
func writevAll(rc syscall.RawConn, bufs [][]byte) error {
	iov := make([]syscall.Iovec, 0, len(bufs))
	for _, b := range bufs {
		if len(b) > 0 {
			iov = append(iov, syscall.Iovec{Base: &b[0]})
			iov[len(iov)-1].SetLen(len(b))
		}
	}
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for len(iov) > 0 {
			r, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
			switch e {
			case 0:
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			default:
				werr = e
				return true
			}
			// Drop what was written: whole iovecs, then part of one.
			for n := uint64(r); n > 0; {
				if l := uint64(iov[0].Len); n >= l {
					n -= l
					iov = iov[1:]
				} else {
					iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
					iov[0].SetLen(int(l - n))
					n = 0
				}
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}
