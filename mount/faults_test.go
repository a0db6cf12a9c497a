package mount

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/client/launch"
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
	if err := waitMount(t, m); !errors.Is(err, ErrServerExited) || !strings.Contains(err.Error(), "(signal: killed)") {
		t.Errorf("mount ended with %v, want ErrServerExited saying how it died", err)
	}
	if err := waitProcess(t, "workload", work); err == nil {
		t.Errorf("workload succeeded on a dead server")
	}
	requireNotMounted(t, mnt)
}

// TestFaultServerStoppedThenSIGTERM stops the server with requests
// pending on it, then sends fusectl SIGTERM: fusectl must answer the
// pending requests with an error itself, unmount, stop the server and close
// the capture, which records those answers as injected.
func TestFaultServerStoppedThenSIGTERM(t *testing.T) {
	p := startFusectl(t)
	run(t, p.mnt, "mkdir d && echo x > d/f")
	if err := syscall.Kill(p.serverPid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(p.serverPid, syscall.SIGCONT) })
	// Two callers blocked on the stopped server; a cd into the mount
	// would block too, so they use absolute paths.
	statP := startWorkload(t, "/", "stat "+p.mnt+"/d/f")
	catP := startWorkload(t, "/", "cat "+p.mnt+"/d/f")
	fm, err := FindFUSEMount(p.mnt)
	if err != nil {
		t.Fatal(err)
	}
	release, err := UseControlFS()
	if err != nil {
		t.Fatal(err)
	}
	defer release() // also when a wait below fails; release runs once
	start := time.Now()
	deadline := start.Add(stuckAfter)
	for n, _ := Waiting(fm.Conn()); n < 2; n, _ = Waiting(fm.Conn()) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting on the stopped server, want 2", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waited := time.Since(start)

	// What ps shows of the mount: the request that waits longest, with
	// its path. It is stat's or cat's, or the RELEASE of d/f that the
	// kernel sent (as pid 0) after the setup's echo closed it, if the
	// server was stopped before answering that.
	var oldest *Pending
	deadline = time.Now().Add(stuckAfter)
	for oldest == nil {
		r, err := FindRunning(context.Background(), filepath.Join(p.runDir, "fusectl"), p.mnt)
		if err != nil {
			t.Fatal(err)
		}
		if oldest = r.Status.Oldest; oldest == nil {
			if time.Now().After(deadline) {
				n, _ := Waiting(fm.Conn())
				st := r.Status
				// fusectl prints its goroutines' stacks on SIGQUIT,
				// which the cleanup logs with the rest of its stderr.
				p.cmd.Process.Signal(syscall.SIGQUIT)
				select {
				case <-p.done:
				case <-time.After(10 * time.Second):
				}
				t.Fatalf("no request waits for the stopped server in the mount's status (%d requests, %d replies, %d in flight); the kernel counts %d waiting, 2 after %v",
					st.Requests, st.Replies, st.InFlight, n, waited.Round(time.Millisecond))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	release()
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", oldest.Pid))
	c := strings.TrimSpace(string(comm))
	caller := c == "stat" || c == "cat"
	closing := oldest.Pid == 0 && oldest.Op == uint32(abi.FUSE_RELEASE) && oldest.Path == "/d/f"
	if !strings.HasPrefix(oldest.Path, "/d") || !(caller || closing) || oldest.Age <= 0 || oldest.Age > stuckAfter {
		t.Errorf("oldest waiting request %+v of %q, want one of stat's or cat's on /d..., or the RELEASE of /d/f", oldest, c)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(stuckAfter):
		t.Fatalf("fusectl is stuck after SIGTERM with a stopped server")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("fusectl exited %d after SIGTERM, want 0", code)
	}
	waitProcess(t, "stat", statP)
	waitProcess(t, "cat", catP)
	waitPid(t, p.serverPid)
	requireNotMounted(t, p.mnt)

	injected := 0
	n, err := eachRecord(p.capture, func(rec *capture.Record) {
		if rec.Flags&capture.FlagInjected != 0 {
			injected++
		}
	})
	if err != nil {
		t.Fatalf("capture unreadable after record %d: %v", n, err)
	}
	if injected < 2 {
		t.Errorf("capture has %d replies made by fusectl, want one per stuck request", injected)
	}
}

// TestFusectlHangup: a closed terminal (SIGHUP) and Ctrl-\ (SIGQUIT) end
// fusectl mount as Ctrl-C does, where the default action would kill it and
// leave the mount stale; under nohup, SIGHUP stays ignored and the mount
// keeps working.
func TestFusectlHangup(t *testing.T) {
	ended := func(t *testing.T, p *fusectlProc, after time.Duration) bool {
		select {
		case <-p.done:
			return true
		case <-time.After(after):
			return false
		}
	}
	// Ctrl-\ also dumps the stacks first, as Go's default does.
	for _, sig := range []struct {
		name   string
		sig    syscall.Signal
		stderr string
	}{
		{"hangup", syscall.SIGHUP, ""},
		{"quit", syscall.SIGQUIT, "SIGQUIT: goroutine stacks of fusectl (pid "},
	} {
		t.Run(sig.name, func(t *testing.T) {
			if sig.sig == syscall.SIGHUP && signal.Ignored(syscall.SIGHUP) {
				// The tests run under nohup, and fusectl would inherit
				// the ignored SIGHUP and rightly keep running. A signal
				// this process catches is at its default in a child.
				signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP)
				defer signal.Reset(syscall.SIGHUP)
			}
			p := startFusectl(t)
			run(t, p.mnt, "echo hello > f && cat f")
			if err := p.cmd.Process.Signal(sig.sig); err != nil {
				t.Fatal(err)
			}
			if !ended(t, p, stuckAfter) {
				t.Fatalf("fusectl still runs %v after %v", stuckAfter, sig.sig)
			}
			if code := p.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("fusectl exited %d after %v (%v), want 0", code, sig.sig, p.cmd.ProcessState)
			}
			if out := p.stderr.String(); !strings.Contains(out, sig.stderr) {
				t.Errorf("stderr lacks %q:\n%s", sig.stderr, out)
			}
			waitPid(t, p.serverPid)
			requireNotMounted(t, p.mnt)
			if n, sawWrite, err := captureWrites(p.capture); err != nil || !sawWrite {
				t.Errorf("capture after %v: %d records, WRITE seen %v, %v; want it whole, with the WRITE", sig.sig, n, sawWrite, err)
			}
		})
	}
	t.Run("nohup", func(t *testing.T) {
		testenv.RequireCommand(t, "nohup")
		p := startFusectlUnder(t, []string{"nohup"})
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if ended(t, p, 500*time.Millisecond) {
			t.Fatalf("fusectl under nohup ended on SIGHUP: %v", p.cmd.ProcessState)
		}
		run(t, p.mnt, "echo hello > f && cat f")
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if !ended(t, p, stuckAfter) {
			t.Fatalf("fusectl still runs %v after SIGTERM", stuckAfter)
		}
		requireNotMounted(t, p.mnt)
	})
}

// fusectlProc is a `fusectl mount --capture` process of demofs.
type fusectlProc struct {
	cmd       *exec.Cmd
	done      chan struct{} // closed once cmd was reaped
	mnt       string
	capture   string
	runDir    string // its XDG_RUNTIME_DIR
	serverPid int
	stderr    *testenv.Buffer
}

// startFusectl runs the fusectl binary mounting demofs with a capture, and
// returns once it is mounted. The cleanup kills it and fails the test if
// the mount is left behind.
func startFusectl(t *testing.T, flags ...string) *fusectlProc {
	t.Helper()
	return startFusectlUnder(t, nil, flags...)
}

// startFusectlUnder is startFusectl with fusectl run by wrapper (a command
// that execs its arguments, such as nohup).
func startFusectlUnder(t *testing.T, wrapper []string, flags ...string) *fusectlProc {
	t.Helper()
	testenv.RequireFUSE(t)
	fusectl := buildServer(t, "github.com/fusectl/fusectl/cmd/fusectl")
	dir := t.TempDir()
	p := &fusectlProc{mnt: filepath.Join(dir, "mnt"), capture: filepath.Join(dir, "s.fcap"), done: make(chan struct{})}
	os.Mkdir(p.mnt, 0o755)
	// Its own directory, not one under dir: a control socket's path must
	// fit in a socket address.
	runDir, err := os.MkdirTemp("", "run")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(runDir) })
	p.runDir = runDir
	args := append(append([]string{"mount", "--capture", p.capture}, flags...), p.mnt, "--", demofsArgs(t)[0], "{}")
	argv := append(append(append([]string{}, wrapper...), fusectl), args...)
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runDir)
	var stderr testenv.Buffer
	p.cmd.Stderr = &stderr
	p.stderr = &stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.UnmountOnInterrupt(t, p.mnt)
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("fusectl stderr:\n%s", stderr.String())
		}
		if fm, err := FindFUSEMount(p.mnt); err == nil {
			t.Errorf("%s left mounted", fm.Mountpoint)
			Abort(p.mnt)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "mounted ") {
		t.Fatalf("first line %q, %v\n%s", line, err, stderr.String())
	}
	r, err := FindRunning(context.Background(), filepath.Join(runDir, "fusectl"), p.mnt)
	if err != nil {
		t.Fatal(err)
	}
	p.serverPid = r.Status.ServerPid
	return p
}

// TestFaultFusectlKilled kills the fusectl process itself: the capture must
// read up to its last flushed record, the server must exit, and abort must
// clear the dead mount.
func TestFaultFusectlKilled(t *testing.T) {
	p := startFusectl(t)
	run(t, p.mnt, "mkdir d && echo hello > d/f && cat d/f && ls -l d")
	// The capture writer takes events in batches a few milliseconds
	// apart: kill once the WRITE has reached the file, so that the test
	// is about what SIGKILL leaves of flushed records.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, sawWrite, err := captureWrites(p.capture)
		if err == nil && sawWrite {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WRITE never reached the capture: %d records, %v", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// fusectl holds the connection until it dies, where the kernel
	// names a descriptor's connection (ps tells a stopped fusectl from a
	// killed one by it).
	fm, err := FindFUSEMount(p.mnt)
	if err != nil {
		t.Fatal(err)
	}
	named := len(DeviceHolders()) > 0
	if named && !slices.Equal(DeviceHolders()[fm.Conn()], []int{p.cmd.Process.Pid}) {
		t.Errorf("holders of connection %d: %v, want fusectl's pid %d", fm.Conn(), DeviceHolders()[fm.Conn()], p.cmd.Process.Pid)
	}
	p.cmd.Process.Kill()
	<-p.done
	if h := DeviceHolders()[fm.Conn()]; named && len(h) > 0 {
		t.Errorf("killed fusectl's connection %d still held by %v", fm.Conn(), h)
	}

	waitPid(t, p.serverPid)
	var st unix.Stat_t
	if err := unix.Stat(p.mnt, &st); !errors.Is(err, unix.ENOTCONN) {
		t.Logf("stat of the orphaned mount: %v", err)
	}
	// The killed fusectl's control socket is left; abort removes it.
	t.Setenv("XDG_RUNTIME_DIR", p.runDir)
	sock := SocketPath("", p.mnt)
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("control socket of the killed fusectl: %v", err)
	}
	// fusectl capture says why it finds no mount: the socket is there and
	// nobody answers; in another directory there is none.
	_, err = FindRunning(context.Background(), "", p.mnt)
	if !errors.Is(err, ErrNoMount) || !strings.Contains(err.Error(), "the fusectl of "+p.mnt+" does not answer") {
		t.Errorf("FindRunning of the killed fusectl's mount: %v", err)
	}
	other := t.TempDir()
	_, err = FindRunning(context.Background(), other, "")
	if !errors.Is(err, ErrNoMount) || !strings.Contains(err.Error(), "the fusectl mount on "+p.mnt+" has no control socket in "+other) {
		t.Errorf("FindRunning in another directory: %v", err)
	}
	if err := Abort(p.mnt); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if _, err := FindFUSEMount(p.mnt); !errors.Is(err, ErrNotFUSE) {
		t.Errorf("still mounted after abort: %v", err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale control socket after abort: %v", err)
	}
	if _, err := os.ReadDir(p.mnt); err != nil {
		t.Errorf("mountpoint unusable after abort: %v", err)
	}

	n, sawWrite, err := captureWrites(p.capture)
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

// TestFaultServerExitsBeforeInit: a server that exits, or closes its
// socket, without answering INIT ends the mount with ErrServerExited and
// how it ended, not with the broken pipe that fusectl's INIT met, and
// leaves no mount.
func TestFaultServerExitsBeforeInit(t *testing.T) {
	testenv.RequireFUSE(t)
	for _, c := range []struct{ name, script, want string }{
		{"exits", "sleep 0.3; exit 3", "server exited (exit status 3)"},
		// $0 is /dev/fd/N, the socket: closed before fusectl writes INIT.
		{"closes its socket", `eval "exec ${0#/dev/fd/}>&-"; sleep 10`, "server exited (signal: terminated)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mnt := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			m, err := Start(ctx, Options{Mountpoint: mnt, Args: []string{"sh", "-c", c.script, "{}"}, NoControl: true, Grace: time.Second, Logf: t.Logf})
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			defer m.Close()
			if err := waitMount(t, m); !errors.Is(err, ErrServerExited) || err.Error() != c.want {
				t.Errorf("mount ended with %q, want %q", err, c.want)
			}
			select {
			case <-m.Ready():
				t.Error("ready without an INIT reply")
			default:
			}
			requireNotMounted(t, mnt)
		})
	}
}

// TestStartCancelled: a Ctrl-C while fusectl waits for a shim-launched
// server to ask for its mount (a server deriving a key, or reading a
// password) ends Start then, with the server stopped and nothing mounted,
// rather than when the server gets round to mounting.
func TestStartCancelled(t *testing.T) {
	mnt := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Cancel once the server runs, so that the wait is what is cut.
		for range 500 {
			if b, _ := os.ReadFile(pidFile); len(b) > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	m, err := Start(ctx, Options{
		Mountpoint: mnt,
		Method:     launch.ShimPath,
		Args:       []string{"sh", "-c", `echo $$ > "$1"; exec sleep 1000`, "sh", pidFile},
		NoControl:  true,
		Grace:      time.Second,
		Logf:       t.Logf,
	})
	if err == nil {
		m.Close()
		t.Fatal("Start succeeded without a mount")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Start: %v, want it cancelled", err)
	}
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid := strings.TrimSpace(string(b))
	if _, serr := os.Stat("/proc/" + pid); serr == nil {
		t.Errorf("server pid %s still exists after Start failed", pid)
	}
	requireNotMounted(t, mnt)
}

// TestFaultServerStopsReading: a server that stops reading (SIGSTOP, a
// hang) while more requests are queued than its socket holds leaves the
// request forwarder blocked in its write; teardown must still fail every
// request and end.
func TestFaultServerStopsReading(t *testing.T) {
	m, mnt := startMount(t, demofsArgs(t), Options{Grace: time.Second})
	const callers = 64 // of 60,000-byte values: beyond the socket's buffer
	run(t, mnt, "for i in $(seq "+strconv.Itoa(callers)+"); do : > f$i; done")
	if err := syscall.Kill(m.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(m.Pid(), syscall.SIGCONT) })
	w := startWorkload(t, "/", `V=$(head -c 60000 /dev/zero | tr '\0' a)
for i in $(seq `+strconv.Itoa(callers)+`); do setfattr -n user.big -v "$V" `+mnt+`/f$i 2>/dev/null & done
wait`)
	release, err := UseControlFS()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	deadline := time.Now().Add(stuckAfter)
	for n, _ := Waiting(m.Conn()); n < callers; n, _ = Waiting(m.Conn()) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting on the stopped server, want %d", n, callers)
		}
		time.Sleep(10 * time.Millisecond)
	}
	release()
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	select {
	case <-closed:
	case <-time.After(stuckAfter):
		t.Fatalf("teardown is stuck with a server that stopped reading")
	}
	waitProcess(t, "the setfattr callers", w)
	requireNotMounted(t, mnt)
}
