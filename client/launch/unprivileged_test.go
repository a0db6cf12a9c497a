package launch

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/internal/testenv"
)

// envAsNobody tells TestNamespaceUnprivilegedChild that it runs as nobody
// on behalf of TestNamespaceUnprivileged.
const envAsNobody = "FUSECTL_TEST_AS_NOBODY"

// TestNamespaceUnprivileged runs bindfs without privilege: a copy of the
// test binary runs as nobody and starts it by the namespace method, which
// then goes through a user namespace (unshare -Urm style), and by the
// method auto picks, intercept, where libfuse2's mount(2) is answered
// although nobody may not mount.
func TestNamespaceUnprivileged(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "bindfs")
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err != nil || strings.TrimSpace(string(b)) == "0" {
		testenv.Skip(t, "user namespaces disabled")
	}
	runAsNobody(t, "TestNamespaceUnprivilegedChild")
}

// TestInterceptUnprivileged runs TestIntercept as nobody: without
// CAP_SYS_ADMIN the launcher must set no_new_privs to install its filter,
// and fusectl must still read the server's memory.
func TestInterceptUnprivileged(t *testing.T) {
	testenv.RequireRoot(t)
	if err := interceptAvailable(); err != nil {
		t.Skip(err)
	}
	runAsNobody(t, "TestIntercept")
}

// runAsNobody runs one test of a copy of the test binary as nobody and
// fails unless it passes.
func runAsNobody(t *testing.T, test string) {
	t.Helper()
	// A directory nobody can use: the binary, its temp dirs.
	dir, bin := testenv.NobodyDir(t, "fusectl-nobody-")
	tmp := filepath.Join(dir, "tmp")
	testenv.MkdirNobody(t, tmp)
	cmd := exec.Command(bin, "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), envAsNobody+"=1", "TMPDIR="+tmp, "HOME="+tmp)
	testenv.AsNobody(cmd)
	out, err := cmd.CombinedOutput()
	t.Logf("as nobody:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: "+test) {
		t.Fatalf("unprivileged run failed: %v", err)
	}
}

// TestNamespaceUnprivilegedChild is the part that runs as nobody.
func TestNamespaceUnprivilegedChild(t *testing.T) {
	if os.Getenv(envAsNobody) != "1" {
		t.Skip("runs only as the child of TestNamespaceUnprivileged")
	}
	if os.Geteuid() == 0 {
		t.Fatal("running as root")
	}
	for _, m := range []Method{ShimNamespace, Auto} {
		t.Run(m.String(), func(t *testing.T) {
			s := startServer(t, Options{Args: []string{"bindfs", "-f", dataDir(t), "{}"}, Method: m})
			want := m
			if m == Auto {
				want = Intercept
			}
			if s.Method() != want {
				t.Fatalf("method %v, want %v", s.Method(), want)
			}
			handshake(t, s.Conn())
		})
	}
}

// envRefused tells TestInterceptRefusedChild that it runs on behalf of
// TestInterceptRefused.
const envRefused = "FUSECTL_TEST_SECCOMP_REFUSED"

// TestInterceptRefused runs a copy of the test binary in which seccomp(2)
// fails with EPERM, as under container profiles that refuse it: auto must
// fall back from intercept to the namespace method for bindfs, and a
// forced intercept must say why it cannot run.
func TestInterceptRefused(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "bindfs")
	if err := interceptAvailable(); err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInterceptRefusedChild$", "-test.v")
	cmd.Env = append(os.Environ(), envRefused+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("with seccomp refused:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestInterceptRefusedChild") {
		t.Fatalf("run with seccomp refused failed: %v", err)
	}
}

// TestInterceptRefusedChild is the part that runs with seccomp refused.
func TestInterceptRefusedChild(t *testing.T) {
	if os.Getenv(envRefused) != "1" {
		t.Skip("runs only as the child of TestInterceptRefused")
	}
	// Every thread of this process, and so every process it starts,
	// gets EPERM from seccomp(2).
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_SECCOMP},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog))); errno != 0 {
		t.Fatalf("install the refusing filter: %v", errno)
	}
	s := startServer(t, Options{Args: []string{"bindfs", "-f", dataDir(t), "{}"}})
	if s.Method() != ShimNamespace {
		t.Errorf("method %v, want the namespace shim as the fallback", s.Method())
	}
	handshake(t, s.Conn())
	_, err := Start(context.Background(), Options{Args: []string{"bindfs", "-f", dataDir(t), "{}"}, Method: Intercept, Logf: t.Logf})
	if !errors.Is(err, errFilterRefused) || !strings.Contains(err.Error(), "operation not permitted") {
		t.Errorf("forced intercept: %v, want errFilterRefused with the reason", err)
	}
}
