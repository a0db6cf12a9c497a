package mount

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/client/launch"
	"github.com/fusectl/fusectl/internal/testenv"
)

// Test servers are built once per test binary.
var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

func TestMain(m *testing.M) {
	// Shim methods run the test binary as fusermount.
	if code, ok := launch.RunShimIfInvoked(); ok {
		os.Exit(code)
	}
	if benchWorkloadMain() || unprivilegedMain() {
		os.Exit(0)
	}
	removeTemp, err := testenv.PrivateTempDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	removeTemp()
	os.Exit(code)
}

// buildServer builds a Go FUSE server from the module (a package path) and
// returns the binary.
func buildServer(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "fusectl-mount-test-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	out := filepath.Join(buildDir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out
}

// startMount mounts args at a fresh directory, waits until the server has
// answered INIT, and unmounts at cleanup. It returns the mount and its
// mountpoint.
func startMount(t testing.TB, args []string, opts Options) (*Mount, string) {
	t.Helper()
	testenv.RequireFUSE(t)
	if opts.Mountpoint == "" {
		opts.Mountpoint = t.TempDir()
	}
	opts.Args = args
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	if opts.ControlDir == "" && !opts.NoControl {
		opts.ControlDir = t.TempDir()
	}
	// The server's output is kept for a failure's report, and also goes
	// where the caller asked.
	var out testenv.Buffer
	if opts.Stderr != nil {
		opts.Stderr = io.MultiWriter(opts.Stderr, &out)
	} else {
		opts.Stderr = &out
	}
	opts.Stdout = opts.Stderr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start mount: %v", err)
	}
	testenv.UnmountOnInterrupt(t, m.Mountpoint())
	t.Cleanup(func() {
		m.Close()
		if t.Failed() {
			t.Logf("server output:\n%s", out.String())
		}
		requireNotMounted(t, m.Mountpoint())
	})
	select {
	case <-m.Ready():
	case <-m.Done():
		t.Fatalf("mount ended before the server answered INIT: %v", m.Err())
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not answer INIT")
	}
	return m, m.Mountpoint()
}

// requireNotMounted fails if mnt is still in mountinfo.
func requireNotMounted(t testing.TB, mnt string) {
	t.Helper()
	all, err := FUSEMounts()
	if err != nil {
		t.Fatal(err)
	}
	for _, fm := range all {
		if fm.Mountpoint == mnt {
			t.Errorf("%s still mounted (%s)", mnt, fm.FSType)
			// Do not leave it for the next test.
			AbortConnection(fm.Conn())
			Abort(mnt)
		}
	}
}

// run runs a shell command line in dir (see testenv.ShellCommand) and
// fails the test on error.
func run(t testing.TB, dir string, script string) string {
	t.Helper()
	out, err := testenv.ShellCommand(dir, "set -e; "+script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return strings.TrimSpace(string(out))
}

// The test process is both the interposer and a client of the mount. Go's
// os.Open registers every file with epoll, and epoll_ctl on a FUSE file
// sends a POLL request and waits for the answer inside a system call the
// runtime does not know blocks: a garbage collection starting then waits for
// that thread while the forwarding goroutines wait for the collection. So
// tests touch file contents only through plain system calls (or in child
// processes).

// writeFile writes data to path with open(2)/write(2).
func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o644)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer unix.Close(fd)
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
		data = data[n:]
	}
}

// readFile reads path with open(2)/read(2).
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer unix.Close(fd)
	var out []byte
	buf := make([]byte, 256<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		if n == 0 {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

// eachRecord reads the capture at path to its end, calling fn with each
// record, and returns how many it read. err is the first error opening or
// reading it; a capture still being written ends at its last flushed record.
func eachRecord(path string, fn func(rec *capture.Record)) (n int, err error) {
	r, err := capture.Open(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		fn(rec)
	}
}
