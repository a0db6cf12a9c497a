package launch

import "golang.org/x/sys/unix"

// auditArch is seccomp_data.arch for this architecture's system calls.
const auditArch = unix.AUDIT_ARCH_AARCH64

// sysOpen is the old open(2), which the intercept filter watches beside
// openat; -1 where the architecture has none, as here.
const sysOpen = -1

// interceptSupported: the intercept method has a filter for this
// architecture.
const interceptSupported = true
