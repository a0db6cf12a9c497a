//go:build unix

package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// NobodyID is the user and group id of the unprivileged user that tests
// drop to.
const NobodyID = 65534

// NobodyDir creates a temporary directory that an unprivileged user can
// enter (0755, removed at cleanup) and copies the running test binary into
// it, since test binaries and build directories are private to root. It
// returns the directory and the copy.
func NobodyDir(tb testing.TB, prefix string) (dir, self string) {
	tb.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	self = filepath.Join(dir, filepath.Base(exe))
	CopyExecutable(tb, exe, self)
	return dir, self
}

// MkdirNobody creates the directory path, 0700 and owned by NobodyID.
func MkdirNobody(tb testing.TB, path string) {
	tb.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chown(path, NobodyID, NobodyID); err != nil {
		tb.Fatal(err)
	}
}

// AsNobody makes cmd run as NobodyID.
func AsNobody(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: NobodyID, Gid: NobodyID}}
}
