// Package testenv decides whether a test can run on this machine, and holds
// the small helpers that tests of several packages share.
//
// Tests that need root, /dev/fuse or an installed program call one of these
// functions first. On a developer's machine a missing requirement skips the
// test with a message that says what is missing; in CI (CI=true) it fails
// the test instead, so that a broken CI machine cannot pass by skipping.
package testenv

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InCI reports whether the tests run in CI, where skipping is an error.
func InCI() bool { return os.Getenv("CI") == "true" }

// Skip skips the test with the reason, or fails it in CI.
func Skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("CI=true, cannot skip: "+format, args...)
	}
	tb.Skipf(format, args...)
}

// RequireRoot needs the test process to run as root.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Skip(tb, "needs root (running as uid %d)", os.Geteuid())
	}
}

// RequireFUSE needs root and a usable /dev/fuse, for tests that mount.
func RequireFUSE(tb testing.TB) {
	tb.Helper()
	RequireRoot(tb)
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		Skip(tb, "needs /dev/fuse: %v", err)
		return
	}
	f.Close()
}

// RequireCommand needs the named program on PATH and returns its path.
func RequireCommand(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(tb, "needs %s on PATH (install it; .ci/run does)", name)
	}
	return p
}

// CopyExecutable copies the program at src to dst with mode 0755: how a
// test gives a user it drops to a binary that user can run (test binaries
// and build directories are private to root).
func CopyExecutable(tb testing.TB, src, dst string) {
	tb.Helper()
	in, err := os.Open(src)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		tb.Fatal(err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
	// Past the umask.
	if err := os.Chmod(dst, 0o755); err != nil {
		tb.Fatal(err)
	}
}

// ShellCommand returns a command running the sh script in dir. The shell
// changes into dir itself and the child starts in /: a test process that
// serves a mount must not start children inside it, because its forked
// child would block in chdir on the mount while the parent, waiting for
// that child's exec inside a system call, may hold the only scheduler P
// that could answer (GOMAXPROCS=1), or a garbage collection waits for it.
func ShellCommand(dir, script string) *exec.Cmd {
	cmd := exec.Command("sh", "-c", `cd "$1" || exit 1; shift; `+script, "sh", dir)
	cmd.Dir = "/"
	return cmd
}

// Input returns a file to give a process as its standard input that
// holds text and then ends (the read end of a pipe, closed when tb ends).
// text must fit in a pipe's buffer.
func Input(tb testing.TB, text string) *os.File {
	tb.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	defer w.Close()
	if _, err := w.WriteString(text); err != nil {
		tb.Fatal(err)
	}
	return r
}

// Buffer is a bytes.Buffer that a process or command may write while the
// test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// interrupt holds what UndoOnInterrupt must undo, by registration order,
// and the directory PrivateTempDir made, removed last.
var interrupt struct {
	sync.Mutex
	once    sync.Once
	timeout sync.Once
	next    int
	undo    map[int]func()
	temp    string
}

// started approximates when the testing package started its -timeout
// clock, which runs from a little later.
var started = time.Now()

// PrivateTempDir points TMPDIR at a new directory (mode 1777, as /tmp) for
// the rest of the test binary's run, so that whatever the tests and their
// child processes leave there (temporary directories, builds, servers'
// runtime directories) goes with it. It returns the function that removes
// it, for TestMain to call after m.Run; an interrupted run (see
// UndoOnInterrupt) removes it after undoing its mounts.
func PrivateTempDir() (remove func(), err error) {
	d, err := os.MkdirTemp("", "fusectl-test-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(d, 0o1777); err != nil {
		os.RemoveAll(d)
		return nil, err
	}
	os.Setenv("TMPDIR", d)
	interrupt.Lock()
	defer interrupt.Unlock()
	catchInterrupts()
	interrupt.temp = d
	return func() { os.RemoveAll(d) }, nil
}

// UndoOnInterrupt runs undo if the test binary gets SIGINT or SIGTERM while
// tb runs (Ctrl-C of a long benchmark), when the testing package's
// cleanups never run and a mount they would have removed stays behind,
// stale. The first call makes the binary catch those signals: it then
// undoes what is registered, newest first, and exits with status 1. It
// does the same shortly before the run's -test.timeout, whose panic would
// also skip the cleanups, after printing every goroutine's stack as that
// panic does.
func UndoOnInterrupt(tb testing.TB, undo func()) {
	interrupt.Lock()
	defer interrupt.Unlock()
	catchInterrupts()
	interrupt.timeout.Do(beforeTimeout)
	k := interrupt.next
	interrupt.next++
	interrupt.undo[k] = undo
	tb.Cleanup(func() {
		interrupt.Lock()
		delete(interrupt.undo, k)
		interrupt.Unlock()
	})
}

// catchInterrupts makes SIGINT and SIGTERM undo what is registered, newest
// first, remove the private temporary directory and exit with status 1.
// interrupt must be locked.
func catchInterrupts() {
	interrupt.once.Do(func() {
		interrupt.undo = map[int]func(){}
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			s := <-c
			undoAllAndExit(s.String())
		}()
	})
}

// beforeTimeout arms undoAllAndExit for shortly before the -test.timeout
// panic. The flag is parsed only once tests run, so this is called from
// UndoOnInterrupt, not at start.
func beforeTimeout() {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return
	}
	d, ok := g.Get().(time.Duration)
	if !ok || d <= 0 {
		return
	}
	margin := min(d/10, 30*time.Second)
	time.AfterFunc(time.Until(started.Add(d-margin)), func() {
		fmt.Fprintf(os.Stderr, "test run about to exceed -test.timeout %v; stacks:\n", d)
		pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		undoAllAndExit("timeout")
	})
}

// undoAllAndExit undoes what is registered, newest first, removes the
// private temporary directory and exits with status 1.
func undoAllAndExit(why string) {
	interrupt.Lock()
	keys := slices.Sorted(maps.Keys(interrupt.undo))
	for _, k := range slices.Backward(keys) {
		interrupt.undo[k]()
	}
	if interrupt.temp != "" {
		os.RemoveAll(interrupt.temp)
	}
	fmt.Fprintf(os.Stderr, "%s: undid %d mounts and directories of the unfinished tests\n", why, len(keys))
	os.Exit(1)
}
