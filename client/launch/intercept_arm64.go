package launch

import "golang.org/x/sys/unix"

// auditArch is seccomp_data.arch for this architecture's system calls.
const auditArch = unix.AUDIT_ARCH_AARCH64

// archSyscalls are the calls the intercept filter notifies on beyond those
// every architecture has: none, arm64 has no open(2).
var archSyscalls []uint32

// interceptSupported: the intercept method has a filter for this
// architecture.
const interceptSupported = true

func isOpen(nr int32) bool { return nr == unix.SYS_OPENAT || nr == unix.SYS_OPENAT2 }
