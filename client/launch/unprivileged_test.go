package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
