package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fusectl/fusectl/internal/testenv"
)

// envAsNobody tells TestNamespaceUnprivilegedChild that it runs as nobody
// on behalf of TestNamespaceUnprivileged.
const envAsNobody = "FUSECTL_TEST_AS_NOBODY"

// TestNamespaceUnprivileged runs the namespace method without privilege:
// a copy of the test binary runs as nobody and starts bindfs, which then
// goes through a user namespace (unshare -Urm style).
func TestNamespaceUnprivileged(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "bindfs")
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err != nil || strings.TrimSpace(string(b)) == "0" {
		testenv.Skip(t, "user namespaces disabled")
	}
	// A directory nobody can use: the binary, its temp dirs.
	dir, err := os.MkdirTemp("", "fusectl-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "launch.test")
	testenv.CopyExecutable(t, exe, bin)
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, bin} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(tmp, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestNamespaceUnprivilegedChild$", "-test.v")
	cmd.Env = append(os.Environ(), envAsNobody+"=1", "TMPDIR="+tmp, "HOME="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	t.Logf("as nobody:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestNamespaceUnprivilegedChild") {
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
	s := startServer(t, Options{Args: []string{"bindfs", "-f", dataDir(t), "{}"}})
	if s.Method() != ShimNamespace {
		t.Fatalf("method %v", s.Method())
	}
	handshake(t, s.Conn())
}
