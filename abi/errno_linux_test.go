//go:build linux && (386 || amd64 || arm || arm64 || riscv64 || s390x || ppc64le || loong64)

package abi

import (
	"syscall"
	"testing"
)

// TestErrnoMatchesSyscall checks the table against the standard library's
// numbers on the architectures that use the asm-generic numbering.
func TestErrnoMatchesSyscall(t *testing.T) {
	for e, s := range map[Errno]syscall.Errno{
		EPERM: syscall.EPERM, ENOENT: syscall.ENOENT, EIO: syscall.EIO, E2BIG: syscall.E2BIG,
		EAGAIN: syscall.EAGAIN, EACCES: syscall.EACCES, EEXIST: syscall.EEXIST, EXDEV: syscall.EXDEV,
		ENODEV: syscall.ENODEV, EINVAL: syscall.EINVAL, ENOTTY: syscall.ENOTTY, ERANGE: syscall.ERANGE,
		EDEADLK: syscall.EDEADLK, ENAMETOOLONG: syscall.ENAMETOOLONG, ENOSYS: syscall.ENOSYS,
		ENOTEMPTY: syscall.ENOTEMPTY, ELOOP: syscall.ELOOP, ENOMSG: syscall.ENOMSG,
		EBFONT: syscall.EBFONT, ENODATA: syscall.ENODATA, EPROTO: syscall.EPROTO,
		EOVERFLOW: syscall.EOVERFLOW, EILSEQ: syscall.EILSEQ, EOPNOTSUPP: syscall.EOPNOTSUPP,
		ECONNABORTED: syscall.ECONNABORTED, ECONNRESET: syscall.ECONNRESET, ENOTCONN: syscall.ENOTCONN,
		ETIMEDOUT: syscall.ETIMEDOUT, ECONNREFUSED: syscall.ECONNREFUSED, ESTALE: syscall.ESTALE,
		EDQUOT: syscall.EDQUOT, ECANCELED: syscall.ECANCELED, EOWNERDEAD: syscall.EOWNERDEAD,
		ENOTRECOVERABLE: syscall.ENOTRECOVERABLE, ERFKILL: syscall.ERFKILL,
	} {
		if int(e) != int(s) {
			t.Errorf("%v = %d, syscall says %d", e, e, s)
		}
	}
}
