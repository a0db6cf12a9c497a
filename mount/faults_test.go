package mount

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/internal/testenv"
)

// stuckAfter bounds every wait of the fault tests: a process or a mount
// that has not ended by then is stuck, which is the failure under test.
const stuckAfter = 60 * time.Second

// waitEvents returns once the feed has delivered n events matching keep.
func waitEvents(t *testing.T, sub *Subscriber, n int, keep func(*Event) bool) {
	t.Helper()
	got := make(chan struct{})
	go func() {
		defer close(got)
		for n > 0 {
			ev, ok := sub.Next()
			if !ok {
				return
			}
			if keep == nil || keep(ev) {
				n--
			}
			sub.Release(ev)
		}
	}()
	select {
	case <-got:
	case <-time.After(stuckAfter):
		t.Fatalf("feed did not deliver the expected events")
	}
}

// proc is a background process; done is closed once it was reaped.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startWorkload runs a shell script in dir in the background.
func startWorkload(t *testing.T, dir, script string) *proc {
	t.Helper()
	p := &proc{cmd: testenv.ShellCommand(dir, script), done: make(chan struct{})}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func waitProcess(t *testing.T, what string, p *proc) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(stuckAfter):
		t.Fatalf("%s is stuck", what)
		return nil
	}
}

func waitMount(t *testing.T, m *Mount) error {
	t.Helper()
	select {
	case <-m.Done():
		return m.Err()
	case <-time.After(stuckAfter):
		t.Fatalf("mount did not end")
		return nil
	}
}

// waitPid waits for a process that is not our child to exit, through a
// pidfd.
func waitPid(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(stuckAfter/time.Millisecond))
	if err != nil || n == 0 {
		t.Fatalf("process %d did not exit: %v", pid, err)
	}
}

const busyLoop = `set -e; i=0; while :; do echo $i > f$((i % 8)); cat f$((i % 8)) > /dev/null; ls > /dev/null; i=$((i + 1)); done`

func TestFaultServerKilled(t *testing.T) {
	m, mnt := startMount(t, demofsArgs(t, "-ttl", "0"), Options{Grace: time.Second})
	sub := m.Subscribe(SubscribeOptions{})
	defer sub.Close()
	work := startWorkload(t, mnt, busyLoop)
	waitEvents(t, sub, 500, nil)
	if err := syscall.Kill(m.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := waitMount(t, m); !errors.Is(err, ErrServerExited) {
		t.Errorf("mount ended with %v, want ErrServerExited", err)
	}
	if err := waitProcess(t, "workload", work); err == nil {
		t.Errorf("workload succeeded on a dead server")
	}
	requireNotMounted(t, mnt)
}

func TestFaultServerStoppedThenClosed(t *testing.T) {
	m, mnt := startMount(t, demofsArgs(t, "-ttl", "0"), Options{Grace: time.Second})
	run(t, mnt, "mkdir d && echo x > d/f")
	sub := m.Subscribe(SubscribeOptions{})
	defer sub.Close()
	if err := syscall.Kill(m.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(m.Pid(), syscall.SIGCONT) })
	// Two callers blocked on the stopped server; a cd into the mount
	// would block too, so they use absolute paths.
	statP := startWorkload(t, "/", "stat "+mnt+"/d/f")
	catP := startWorkload(t, "/", "cat "+mnt+"/d/f")
	waitEvents(t, sub, 2, func(ev *Event) bool { return ev.Dir == capture.DirRequest })

	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Logf("close: %v", err)
		}
	case <-time.After(stuckAfter):
		t.Fatalf("Close is stuck on a stopped server")
	}
	waitProcess(t, "stat", statP)
	waitProcess(t, "cat", catP)
	requireNotMounted(t, mnt)
	if st := m.Status(); st.Injected == 0 {
		t.Errorf("no request answered by fusectl: %+v", st)
	}
}

// TestFaultFusectlKilled kills the fusectl process itself: the capture must
// read up to its last flushed record, the server must exit, and abort must
// clear the dead mount.
func TestFaultFusectlKilled(t *testing.T) {
	fusectl := buildServer(t, "github.com/fusectl/fusectl/cmd/fusectl")
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	capPath := filepath.Join(dir, "s.fcap")
	runDir := filepath.Join(dir, "run")
	cmd := exec.Command(fusectl, "mount", "--capture", capPath, mnt, "--", demofsArgs(t)[0], "{}")
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if fm, err := FindFUSEMount(mnt); err == nil {
			t.Errorf("%s left mounted", fm.Mountpoint)
			Abort(mnt)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "mounted ") {
		t.Fatalf("first line %q, %v", line, err)
	}
	r, err := FindRunning(context.Background(), filepath.Join(runDir, "fusectl"), mnt)
	if err != nil {
		t.Fatal(err)
	}
	serverPid := r.Status.ServerPid
	run(t, mnt, "mkdir d && echo hello > d/f && cat d/f && ls -l d")
	// The capture writer takes events in batches a few milliseconds
	// apart: kill once the WRITE has reached the file, so that the test
	// is about what SIGKILL leaves of flushed records.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, sawWrite, err := captureWrites(capPath)
		if err == nil && sawWrite {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WRITE never reached the capture: %d records, %v", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-done

	waitPid(t, serverPid)
	var st unix.Stat_t
	if err := unix.Stat(mnt, &st); !errors.Is(err, unix.ENOTCONN) {
		t.Logf("stat of the orphaned mount: %v", err)
	}
	if err := Abort(mnt); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if _, err := FindFUSEMount(mnt); !errors.Is(err, ErrNotFUSE) {
		t.Errorf("still mounted after abort: %v", err)
	}
	if _, err := os.ReadDir(mnt); err != nil {
		t.Errorf("mountpoint unusable after abort: %v", err)
	}

	n, sawWrite, err := captureWrites(capPath)
	if err != nil {
		t.Fatalf("capture unreadable after record %d: %v", n, err)
	}
	if n == 0 || !sawWrite {
		t.Errorf("capture of the killed fusectl has %d records, WRITE seen %v", n, sawWrite)
	}
}

// captureWrites reads the capture at path to its end and reports how many
// records it holds and whether a WRITE request is among them. A capture
// still being written ends at its last flushed record.
func captureWrites(path string) (n int, sawWrite bool, err error) {
	n, err = eachRecord(path, func(rec *capture.Record) {
		if rec.Dir == capture.DirRequest && len(rec.Msg) >= inHeaderSize && ne.Uint32(rec.Msg[4:]) == 16 /* WRITE */ {
			sawWrite = true
		}
	})
	return n, sawWrite, err
}
