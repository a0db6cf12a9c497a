package abi

import (
	"strings"
	"testing"
)

func TestErrnoNames(t *testing.T) {
	for e, want := range map[Errno]string{
		EPERM: "EPERM", ENOENT: "ENOENT", EAGAIN: "EAGAIN", ENOSYS: "ENOSYS", ERANGE: "ERANGE",
		ENODATA: "ENODATA", EOPNOTSUPP: "EOPNOTSUPP", ECONNABORTED: "ECONNABORTED",
		ENOTCONN: "ENOTCONN", ECONNREFUSED: "ECONNREFUSED", EHWPOISON: "EHWPOISON",
		0: "ERRNO_0", 41: "ERRNO_41", 58: "ERRNO_58", 134: "ERRNO_134", 512: "ERRNO_512",
		600: "ERRNO_600", -2: "ERRNO_-2",
	} {
		if got := e.String(); got != want {
			t.Errorf("Errno(%d).String() = %q, want %q", e, got, want)
		}
		if got := ErrnoName(e); got != want {
			t.Errorf("ErrnoName(%d) = %q, want %q", e, got, want)
		}
	}
	if EWOULDBLOCK != EAGAIN || EDEADLOCK != EDEADLK || ENOTSUP != EOPNOTSUPP {
		t.Error("errno aliases differ from their targets")
	}
}

func TestErrnoTable(t *testing.T) {
	n := 0
	seen := map[string]Errno{}
	for e := Errno(1); e <= 133; e++ {
		name := ErrnoName(e)
		if strings.HasPrefix(name, "ERRNO_") {
			if e != 41 && e != 58 {
				t.Errorf("errno %d has no name", e)
			}
			continue
		}
		if prev, ok := seen[name]; ok {
			t.Errorf("%s names both %d and %d", name, prev, e)
		}
		seen[name] = e
		n++
	}
	if n != 131 {
		t.Errorf("%d named errnos in 1..133, want 131", n)
	}
}
