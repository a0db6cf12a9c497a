package mount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/internal/testenv"
)

// unprivEnv makes the test binary run unprivilegedMain: the part of
// TestUnprivilegedMount that runs as an ordinary user.
const unprivEnv = "FUSECTL_MOUNT_UNPRIV"

// TestUnprivilegedMount mounts servers through the interposer as an
// ordinary user, which must go through the system's setuid fusermount3
// (mount(2) needs root), and checks that the mount is the user's, that
// files work through it, and that teardown unmounts it with fusermount3
// -u. demofs takes /dev/fd/N; bindfs (libfuse 2) runs under the intercept
// method, whose faked mount(2) it makes as nobody, with no user namespace.
func TestUnprivilegedMount(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireFUSE(t)
	testenv.RequireCommand(t, "fusermount3")
	// fusermount3 opens /dev/fuse with the user's own rights. Distributions
	// make it 0666; where it is not, open it up for the test (as a
	// distribution would have it) and put the mode back afterwards.
	if fi, err := os.Stat("/dev/fuse"); err == nil && fi.Mode().Perm()&0o006 != 0o006 {
		orig := fi.Mode().Perm()
		if err := os.Chmod("/dev/fuse", 0o666); err != nil {
			t.Fatal(err)
		}
		t.Logf("/dev/fuse was %o; 0666 for this test", orig)
		t.Cleanup(func() { os.Chmod("/dev/fuse", orig) })
	}
	t.Run("demofs", func(t *testing.T) {
		demofs := buildServer(t, "github.com/fusectl/fusectl/cmd/demofs")
		unprivilegedMount(t, func(dir string) []string {
			server := filepath.Join(dir, "demofs")
			testenv.CopyExecutable(t, demofs, server)
			return []string{server, "{}"}
		})
	})
	t.Run("bindfs", func(t *testing.T) {
		testenv.RequireCommand(t, "bindfs")
		unprivilegedMount(t, func(dir string) []string {
			src := filepath.Join(dir, "src")
			testenv.MkdirNobody(t, src)
			// bindfs asks for allow_other unless told not to, which
			// fusermount3 refuses an ordinary user by default.
			return []string{"bindfs", "-f", "--no-allow-other", src, "{}"}
		})
	})
}

// unprivilegedMount runs unprivilegedMain as nobody on the server command
// line that args returns for a directory nobody can use.
func unprivilegedMount(t *testing.T, args func(dir string) []string) {
	// Everything the user touches lives in a directory it can reach.
	dir, self := testenv.NobodyDir(t, "fusectl-unpriv-")
	server := args(dir)
	mnt := filepath.Join(dir, "mnt")
	run := filepath.Join(dir, "run")
	testenv.MkdirNobody(t, mnt)
	testenv.MkdirNobody(t, run)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, "-test.run=^$")
	cmd.Env = append(os.Environ(),
		unprivEnv+"="+mnt,
		"FUSECTL_MOUNT_UNPRIV_SERVER="+strings.Join(server, "\x1f"),
		"XDG_RUNTIME_DIR="+run,
		"HOME="+run,
	)
	testenv.AsNobody(cmd)
	// A server left running would hold the output pipe open.
	cmd.WaitDelay = 10 * time.Second
	t.Cleanup(func() {
		// Whatever happened, leave no mount and no stuck process.
		if fm, err := FindFUSEMount(mnt); err == nil {
			AbortConnection(fm.Conn())
			exec.Command("fusermount3", "-u", "-z", mnt).Run()
		}
	})
	out, err := cmd.CombinedOutput()
	t.Logf("unprivileged side:\n%s", out)
	if err != nil {
		t.Fatalf("unprivileged mount: %v", err)
	}
	if !strings.Contains(string(out), "unprivileged mount ok") {
		t.Fatal("the unprivileged side did not finish its checks")
	}
	if _, err := FindFUSEMount(mnt); err == nil {
		t.Fatal("mount left behind after teardown")
	}
}

// unprivilegedMain runs as the ordinary user: mount, use, tear down. It
// reports whether it was invoked.
func unprivilegedMain() bool {
	mnt := os.Getenv(unprivEnv)
	if mnt == "" {
		return false
	}
	if err := unprivileged(mnt, strings.Split(os.Getenv("FUSECTL_MOUNT_UNPRIV_SERVER"), "\x1f")); err != nil {
		fmt.Println("FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("unprivileged mount ok")
	return true
}

// printLogf is the unprivileged side's Logf: its standard output goes to
// the test's log.
func printLogf(f string, a ...any) { fmt.Printf(f+"\n", a...) }

func unprivileged(mnt string, server []string) error {
	if os.Geteuid() == 0 {
		return fmt.Errorf("still root")
	}
	m, err := Start(context.Background(), Options{
		Mountpoint: mnt,
		Args:       server,
		Logf:       printLogf,
	})
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			m.Close()
		}
	}()
	if !m.km.viaHelper {
		return fmt.Errorf("mounted without fusermount3")
	}
	fm, err := FindFUSEMount(mnt)
	if err != nil {
		return err
	}
	if want := fmt.Sprintf("user_id=%d", os.Getuid()); !strings.Contains(fm.Options, want) {
		return fmt.Errorf("mount options %q lack %s", fm.Options, want)
	}
	if !strings.HasPrefix(m.ControlSocket(), os.Getenv("XDG_RUNTIME_DIR")) {
		return fmt.Errorf("control socket %s not under $XDG_RUNTIME_DIR", m.ControlSocket())
	}
	// The file operations run in a child: this process serves the mount,
	// and the runtime registers every file it opens with its poller,
	// which asks the mount (FUSE_POLL) while holding the poller's lock
	// that the forwarding needs.
	const want = "hello from an ordinary user"
	out, err := exec.Command("sh", "-c", `cd "$1" && echo "$2" > hello && cat hello && stat -c '%s %u' hello`, "sh", mnt, want).CombinedOutput()
	if err != nil {
		return fmt.Errorf("file operations in the mount: %w: %s", err, out)
	}
	if got, exp := string(out), fmt.Sprintf("%s\n%d %d\n", want, len(want)+1, os.Getuid()); got != exp {
		return fmt.Errorf("file operations printed %q, want %q", got, exp)
	}
	closed = true
	if err := m.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	// Each step says where it got to, for a run that hangs.
	fmt.Println("closed")
	if _, err := FindFUSEMount(mnt); err == nil {
		return fmt.Errorf("still mounted after Close")
	}
	return unprivilegedAbort(mnt, server)
}

// unprivilegedAbort mounts again and aborts the user's own mount: the
// connection is aborted if the control file system is mounted (its abort
// file belongs to the mount's user), else only unmounted, which Abort
// reports as ErrNotAborted; either way the mount is gone.
func unprivilegedAbort(mnt string, server []string) error {
	logf := printLogf
	logf("mounting again, to abort")
	m, err := Start(context.Background(), Options{Mountpoint: mnt, Args: server, Logf: logf})
	if err != nil {
		return fmt.Errorf("start again: %w", err)
	}
	defer func() {
		logf("closing the aborted mount")
		m.Close()
		logf("closed: %v", m.Err())
	}()
	select {
	case <-m.Ready():
	case <-m.Done():
		return fmt.Errorf("second mount ended before it was ready: %v", m.Err())
	case <-time.After(30 * time.Second):
		return fmt.Errorf("second mount not ready after 30 s")
	}
	logf("ready; aborting")
	var st unix.Statfs_t
	controlFS := unix.Statfs(ControlDir, &st) == nil && st.Type == 0x65735543
	err = Abort(mnt)
	switch {
	case controlFS && err != nil:
		return fmt.Errorf("abort with the control file system mounted: %w", err)
	case !controlFS && !errors.Is(err, ErrNotAborted):
		return fmt.Errorf("abort without the control file system: %v, want ErrNotAborted", err)
	}
	fmt.Printf("abort: %v\n", err)
	if _, err := FindFUSEMount(mnt); err == nil {
		return fmt.Errorf("still mounted after Abort")
	}
	if err := m.Err(); !errors.Is(err, ErrUnmounted) {
		return fmt.Errorf("mount ended with %v after Abort, want ErrUnmounted", err)
	}
	return nil
}
