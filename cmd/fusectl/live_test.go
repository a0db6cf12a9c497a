package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
	"github.com/fusectl/fusectl/internal/procfs"
	"github.com/fusectl/fusectl/internal/testenv"
	"github.com/fusectl/fusectl/mount"
)

// The tests of this file run fusectl's commands in this process against
// real mounts of demofs; workloads run in child shells, because a process
// must not use a mount that it serves itself.

// stuck bounds every wait: what has not happened by then is the failure.
const stuck = 30 * time.Second

// buildDemofs builds the demo server into a temporary directory.
func buildDemofs(t *testing.T) string {
	t.Helper()
	testenv.RequireCommand(t, "go")
	bin := filepath.Join(t.TempDir(), "demofs")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/fusectl/fusectl/cmd/demofs").CombinedOutput(); err != nil {
		t.Fatalf("build demofs: %v\n%s", err, out)
	}
	return bin
}

// runCommand runs a fusectl command line in this process.
func runCommand(ctx context.Context, in io.Reader, out, errOut io.Writer, args ...string) error {
	f := &Factory{IO: TestIO(in, out, errOut, false), Getenv: os.Getenv}
	root := NewCmdRoot(f)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// eventually polls cond until it holds, and fails the test after stuck.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(stuck)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, stuck)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fusectlMount runs `fusectl mount MNT -- demofs -ttl 0 {}` in the
// background; the cleanup stops it as Ctrl-C does and checks that it
// unmounted.
func fusectlMount(t *testing.T, demofs string) string {
	t.Helper()
	return fusectlMountServer(t, nil, demofs, "-ttl", "0", "{}")
}

// fusectlMountServer is fusectlMount for any server command line, with in
// as fusectl's standard input.
func fusectlMountServer(t *testing.T, in io.Reader, server ...string) string {
	t.Helper()
	mnt := t.TempDir()
	testenv.UnmountOnInterrupt(t, mnt)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut testenv.Buffer
	done := make(chan error, 1)
	go func() {
		done <- runCommand(ctx, in, &out, &errOut, append([]string{"mount", mnt, "--"}, server...)...)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("fusectl mount: %v\n%s", err, errOut.String())
			}
		case <-time.After(stuck):
			t.Errorf("fusectl mount did not end after Ctrl-C")
		}
		if _, err := mount.FindFUSEMount(mnt); !errors.Is(err, mount.ErrNotFUSE) {
			t.Errorf("%s still mounted: %v", mnt, err)
			mount.Abort(mnt)
		}
	})
	ready := false
	defer func() {
		if !ready {
			t.Logf("fusectl mount's standard error:\n%s", errOut.String())
		}
	}()
	eventually(t, "fusectl mount", func() bool {
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("fusectl mount ended: %v", err)
		default:
		}
		return strings.HasPrefix(out.String(), "mounted "+mnt+" ")
	})
	ready = true
	return mnt
}

// shell runs script in dir and fails the test if it fails.
func shell(t *testing.T, dir, script string) {
	t.Helper()
	if out, err := testenv.ShellCommand(dir, script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// background runs script in dir until the test ends and returns its
// process, whose pid is the one making the requests of the shell's
// builtins.
func background(t *testing.T, dir, script string) *os.Process {
	t.Helper()
	cmd := testenv.ShellCommand(dir, script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd.Process
}

// captureToPipe runs `fusectl capture -o - ARGS...` in this process until
// ctx ends, writing into a pipe whose read end it returns (closed when the
// test ends) with the channel of the command's result.
func captureToPipe(t *testing.T, ctx context.Context, errOut io.Writer, args ...string) (*os.File, chan error) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close() })
	done := make(chan error, 1)
	go func() {
		done <- runCommand(ctx, nil, pw, errOut, append([]string{"capture", "-o", "-"}, args...)...)
		pw.Close()
	}()
	return pr, done
}

// liveRecords reads a capture file written by fusectl capture: it must
// start with the synthesized INIT exchange, decode without error, and
// every live record is returned decoded.
func liveRecords(t *testing.T, path string) []*decode.Record {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := decode.NewSession(decode.Options{})
	var live []*decode.Record
	for i := 0; ; i++ {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		var d decode.Record
		if err := s.DecodeMsg(rec.Time, rec.Dir, rec.Flags, rec.Msg, rec.OrigLen, abi.NativeEndian, &d); err != nil {
			t.Errorf("record %d: %v", i, err)
		}
		if i < 2 && (d.Op != abi.FUSE_INIT || rec.Flags&capture.FlagSynthesized == 0) {
			t.Fatalf("record %d is %v flags %v, want the synthesized INIT exchange", i, d.Op, rec.Flags)
		}
		if rec.Flags&capture.FlagSynthesized == 0 {
			live = append(live, d.Clone())
		}
	}
	if r.Truncated() {
		t.Errorf("capture not closed properly: it ends inside a record")
	}
	return live
}

// TestCaptureUntilMountEnds unmounts a fusectl mount under a running
// capture: the capture ends by itself, whole, and says why.
func TestCaptureUntilMountEnds(t *testing.T) {
	testenv.RequireFUSE(t)
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	mnt := fusectlMount(t, buildDemofs(t))
	file := filepath.Join(t.TempDir(), "s.fcap")
	var errOut testenv.Buffer
	done := make(chan error, 1)
	go func() { done <- runCommand(context.Background(), nil, io.Discard, &errOut, "capture", "-o", file) }()
	eventually(t, "capture attached", func() bool {
		st, err := os.Stat(file)
		return err == nil && st.Size() > 0
	})
	shell(t, mnt, "mkdir d")
	if err := syscall.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("capture: %v", err)
		}
	case <-time.After(stuck):
		t.Fatal("capture still runs after the mount ended")
	}
	if got := errOut.String(); !strings.HasSuffix(got, " to "+file+" (the mount ended)\n") {
		t.Errorf("stderr %q, want it to say the mount ended", got)
	}
	liveRecords(t, file)
}

func TestCaptureCommand(t *testing.T) {
	testenv.RequireFUSE(t)
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	mnt := fusectlMount(t, buildDemofs(t))
	shell(t, mnt, "mkdir -p a/b && head -c 8192 /dev/urandom > a/b/f && echo x > other")
	// Two readers whose READs come from the shells themselves (the
	// redirections of the read builtin), and traffic of other kinds.
	reader := background(t, mnt, "while :; do read x < a/b/f; done")
	background(t, mnt, "while :; do read x < other; mkdir d; rmdir d; done")
	dir := t.TempDir()
	record := func(t *testing.T, args ...string) (file, stderr string) {
		t.Helper()
		file = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".fcap")
		var errOut testenv.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), stuck)
		defer cancel()
		if err := runCommand(ctx, nil, io.Discard, &errOut, append([]string{"capture", "-o", file}, args...)...); err != nil {
			t.Fatalf("fusectl capture: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatalf("fusectl capture did not stop by itself")
		}
		return file, errOut.String()
	}

	t.Run("count and filter", func(t *testing.T) {
		file, stderr := record(t, "-c", "6", "--op", "READ", "--path", mnt+"/a")
		want := fmt.Sprintf("6 records captured from %s to %s\n", mnt, file)
		if stderr != want {
			t.Errorf("stderr %q, want %q", stderr, want)
		}
		live := liveRecords(t, file)
		if len(live) != 6 {
			t.Fatalf("%d live records, want 6", len(live))
		}
		for _, r := range live {
			if r.Op != abi.FUSE_READ || string(r.Path) != "/a/b/f" {
				t.Errorf("kept %v %s %q, want READs of /a/b/f", r.Dir, r.Op, r.Path)
			}
		}
	})

	t.Run("output on the mount", func(t *testing.T) {
		// Recording its own writes would never end: refused before the
		// file is created. fusectl runs as a child process (TestMain put
		// it on PATH): this process serves the mount, and must not open
		// files on it if the refusal fails.
		out := filepath.Join(mnt, "a", "loop.fcap")
		cmd := exec.Command("fusectl", "capture", "-o", out, "-c", "1", "--duration", "5s")
		msg, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(msg), "is on "+mnt+", the mount being captured") {
			t.Errorf("capture to %s: %v, %q; want a refusal", out, err, msg)
		}
		if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was created: %v", out, err)
		}
		// Nor through a symbolic link outside the mount.
		link := filepath.Join(t.TempDir(), "out.fcap")
		if err := os.Symlink(out, link); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command("fusectl", "capture", "-o", link, "-c", "1", "--duration", "5s")
		msg, err = cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(msg), "is on "+mnt+", the mount being captured") {
			t.Errorf("capture to %s -> %s: %v, %q; want a refusal", link, out, err, msg)
		}
		if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was created through %s: %v", out, link, err)
		}
	})

	t.Run("pid", func(t *testing.T) {
		file, _ := record(t, "-c", "10", "--pid", fmt.Sprint(reader.Pid))
		// The reader opens a/b/f again and again, and looks its parents
		// up again whenever their entries have expired: with demofs's
		// zero timeout the kernel still trusts an entry until the next
		// clock tick, so how often depends on the reader's speed.
		onPath := map[string]bool{"/a/b/f": true, "/a/b": true, "/a": true}
		for _, r := range liveRecords(t, file) {
			if r.Op == abi.FUSE_INTERRUPT {
				continue // pid 0; kept for the request it interrupts
			}
			if r.PID != uint32(reader.Pid) || !onPath[string(r.Path)] {
				t.Errorf("kept %v %s by pid %d on %q, want only pid %d's on /a/b/f and its parents", r.Dir, r.Op, r.PID, r.Path, reader.Pid)
			}
		}
	})

	// The kernel sends the calling thread's ID: --pid of a process keeps
	// the requests of all its threads, and no other's.
	t.Run("pid of threads", func(t *testing.T) {
		cmd := exec.Command("read-threads", filepath.Join(mnt, "a", "b", "f"))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Kill()
			cmd.Wait()
		}()
		pid := cmd.Process.Pid
		file, _ := record(t, "-c", "200", "--pid", fmt.Sprint(pid))
		threads := map[uint32]bool{}
		for _, r := range liveRecords(t, file) {
			// The kernel sends an INTERRUPT with pid 0 (a Go program's
			// threads get SIGURG for preemption, which interrupts their
			// requests); it is kept for the request it interrupts.
			if r.Op == abi.FUSE_INTERRUPT {
				continue
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d", pid, r.PID)); err != nil {
				t.Fatalf("kept %v %s by pid %d, not a thread of %d", r.Dir, r.Op, r.PID, pid)
			}
			threads[r.PID] = true
		}
		delete(threads, uint32(pid))
		if len(threads) == 0 {
			t.Errorf("no request of a thread other than the main one (pid %d) kept", pid)
		}
	})

	t.Run("snaplen", func(t *testing.T) {
		file, _ := record(t, "-c", "4", "--op", "READ", "--path", "/a/b/f", "--snaplen", "64")
		r, err := capture.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		cut := 0
		for {
			rec, err := r.Next()
			if err != nil {
				break
			}
			if len(rec.Msg) > 64 {
				t.Errorf("record of %d bytes in a 64-byte snap", len(rec.Msg))
			}
			if rec.Dir == capture.DirReply && rec.Flags&capture.FlagSynthesized == 0 {
				if rec.Flags&capture.FlagTruncated == 0 || rec.OrigLen <= len(rec.Msg) {
					t.Errorf("READ reply of %d bytes (original %d) not marked truncated", len(rec.Msg), rec.OrigLen)
				}
				cut++
			}
		}
		if cut != 2 {
			t.Errorf("%d READ replies, want 2", cut)
		}
	})

	// On a terminal, a running count rewritten in place each second and
	// cleared before the summary.
	t.Run("status on a terminal", func(t *testing.T) {
		file := filepath.Join(dir, "status.fcap")
		var errOut testenv.Buffer
		ios := TestIO(nil, io.Discard, &errOut, false)
		ios.errTTY = true
		root := NewCmdRoot(&Factory{IO: ios, Getenv: os.Getenv})
		root.SetArgs([]string{"capture", "-o", file, "--duration", "2500ms"})
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := errOut.String()
		status := regexp.MustCompile(`\rcapturing from ` + regexp.QuoteMeta(mnt) + ` to ` + regexp.QuoteMeta(file) + `: [0-9]+ records, [0-9.]+ [KMG]?i?B\x1b\[K`)
		if n := len(status.FindAllString(got, -1)); n < 2 {
			t.Errorf("%d status lines in 2.5 s, want 2; stderr %q", n, got)
		}
		if !regexp.MustCompile(`\r\x1b\[K[0-9]+ records captured from `).MatchString(got) {
			t.Errorf("status not cleared before the summary: %q", got)
		}
	})

	t.Run("duration", func(t *testing.T) {
		start := time.Now()
		file, stderr := record(t, "--duration", "300ms")
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("capture of 300ms ended after %v", d)
		}
		live := liveRecords(t, file)
		if len(live) == 0 || !strings.HasPrefix(stderr, fmt.Sprintf("%d records captured", len(live))) {
			t.Errorf("%d live records; stderr %q", len(live), stderr)
		}
	})

	// capture -o - | decode -: decode prints records while the capture
	// runs, and Ctrl-C ends both cleanly. The MKDIRs under /slow come five
	// a second: without a flush per quiet moment, the writer's 64 KiB
	// buffer would hold them for longer than the test waits.
	t.Run("live decode", func(t *testing.T) {
		background(t, mnt, "mkdir slow; i=0; while :; do mkdir slow/$i; i=$((i+1)); sleep 0.2; done")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pr, capDone := captureToPipe(t, ctx, io.Discard, "--op", "MKDIR", "--path", "/slow/*")
		var out testenv.Buffer
		decDone := make(chan error, 1)
		go func() { decDone <- runCommand(context.Background(), pr, &out, io.Discard, "decode", "-") }()
		eventually(t, "a decoded MKDIR while the capture runs", func() bool {
			select {
			case err := <-capDone:
				t.Fatalf("capture ended early: %v", err)
			default:
			}
			return strings.Contains(out.String(), " MKDIR ")
		})
		cancel()
		for what, ch := range map[string]chan error{"capture": capDone, "decode": decDone} {
			select {
			case err := <-ch:
				if err != nil {
					t.Errorf("%s: %v", what, err)
				}
			case <-time.After(stuck):
				t.Fatalf("%s did not end after Ctrl-C", what)
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if !strings.Contains(line, " MKDIR ") && !strings.Contains(line, " INIT ") && !strings.HasSuffix(line, " synthesized") {
				t.Errorf("line not selected by --op MKDIR: %q", line)
			}
		}
	})
}

// TestCaptureLost stalls a capture's output while the mount is busy: the
// mount drops what the capture cannot take, the capture reports how many,
// and the file says so: the record after a gap marks it, and the total
// (with what was lost after the last record) ends the file. decode shows
// both. In the second case the capture is stopped while still behind:
// it learns the final count from the mount, which ps reports too.
func TestCaptureLost(t *testing.T) {
	testenv.RequireFUSE(t)
	runDir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", runDir)
	mnt := fusectlMount(t, buildDemofs(t))
	var mountDropped uint64 // of the mount's subscribers past and present
	for _, stopBehind := range []bool{false, true} {
		t.Run(fmt.Sprintf("stopped behind=%v", stopBehind), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var capErr testenv.Buffer
			pr, capDone := captureToPipe(t, ctx, &capErr)
			// The file's first bytes: the capture is attached. Then
			// nobody reads the pipe, the capture blocks on it, and the
			// mount's queue for it (8192 events) overflows.
			head := make([]byte, 16)
			if _, err := io.ReadFull(pr, head); err != nil {
				t.Fatal(err)
			}
			shell(t, mnt, "for i in $(seq 2000); do echo x > f$i; done")
			if stopBehind {
				cancel()
			}
			var file bytes.Buffer
			file.Write(head)
			copied := make(chan error, 1)
			go func() { _, err := io.Copy(&file, pr); copied <- err }()
			if !stopBehind {
				shell(t, mnt, "echo after > g") // records after the gap
				time.Sleep(200 * time.Millisecond)
				cancel()
			}
			select {
			case err := <-capDone:
				if err != nil {
					t.Fatalf("capture: %v", err)
				}
			case <-time.After(stuck):
				t.Fatal("capture did not end after Ctrl-C")
			}
			if err := <-copied; err != nil {
				t.Fatal(err)
			}
			var dropped uint64
			if _, err := fmt.Sscanf(capErr.String(), "fusectl: warning: %d records dropped", &dropped); err != nil || dropped == 0 {
				t.Fatalf("capture's stderr %q: want the records it dropped", capErr.String())
			}
			mountDropped += dropped
			var ps testenv.Buffer
			if err := runCommand(context.Background(), nil, &ps, io.Discard, "ps", "--json"); err != nil {
				t.Fatal(err)
			}
			var mounts []struct {
				Mountpoint string `json:"mountpoint"`
				Dropped    uint64 `json:"dropped"`
			}
			if err := json.Unmarshal([]byte(ps.String()), &mounts); err != nil {
				t.Fatalf("ps --json: %v\n%s", err, ps.String())
			}
			found := false
			for _, m := range mounts {
				if m.Mountpoint == mnt {
					found = true
					if m.Dropped != mountDropped {
						t.Errorf("ps: %d dropped for the mount's captures, they reported %d", m.Dropped, mountDropped)
					}
				}
			}
			if !found {
				t.Errorf("ps does not list %s:\n%s", mnt, ps.String())
			}
			r, err := capture.NewReader(bytes.NewReader(file.Bytes()), capture.ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var marked uint64
			gaps := 0
			for {
				rec, err := r.Next()
				if err != nil {
					if err != io.EOF {
						t.Fatal(err)
					}
					break
				}
				if rec.Lost > 0 {
					marked += rec.Lost
					gaps++
				}
			}
			if total := r.Lost(0); total != dropped || marked > total {
				t.Errorf("the file says %d lost in all, %d of them in %d gaps; the capture dropped %d", total, marked, gaps, dropped)
			}
			if !stopBehind && marked != dropped {
				t.Errorf("the records mark %d lost in %d gaps; the capture dropped %d before its last records", marked, gaps, dropped)
			}
			path := filepath.Join(t.TempDir(), "lost.fcap")
			if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut testenv.Buffer
			if err := runCommand(context.Background(), nil, &out, &errOut, "decode", path); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(out.String(), " records here (the recorder fell behind)\n"); n != gaps {
				t.Errorf("decode shows %d gaps, want %d", n, gaps)
			}
			if want := fmt.Sprintf("fusectl: warning: %s: %d records were lost while capturing", path, dropped); !strings.HasPrefix(errOut.String(), want) {
				t.Errorf("decode's stderr %q, want it to start %q", errOut.String(), want)
			}
			var stats testenv.Buffer
			if err := runCommand(context.Background(), nil, &stats, io.Discard, "decode", "--stats", path); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(stats.String(), fmt.Sprintf(" lost=%d ", dropped)) {
				t.Errorf("decode --stats does not count %d lost:\n%s", dropped, stats.String())
			}
		})
	}
}

// TestPsAndAbort lists a fusectl mount and a direct mount of demofs, stops
// the direct mount's server, sees a request waiting on it in ps, and
// aborts it: the process stuck on it returns and nothing stays mounted.
func TestPsAndAbort(t *testing.T) {
	testenv.RequireFUSE(t)
	runDir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", runDir)
	demofs := buildDemofs(t)
	viaFusectl := fusectlMount(t, demofs)
	// fusectl's directory of control sockets is private.
	if fi, err := os.Stat(filepath.Join(runDir, "fusectl")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("control directory: %v, %v; want mode 0700", fi, err)
	}
	direct := t.TempDir()
	srv := exec.Command(demofs, "-ttl", "0", direct)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.UnmountOnInterrupt(t, direct)
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGCONT)
		srv.Process.Kill()
		srv.Wait()
		if _, err := mount.FindFUSEMount(direct); err == nil {
			t.Errorf("%s left mounted", direct)
			mount.Abort(direct)
		}
	})
	eventually(t, "demofs mounted", func() bool {
		_, err := mount.FindFUSEMount(direct)
		return err == nil
	})
	// Mounted is not answered: until demofs answers INIT, the kernel
	// counts it waiting. A stat returns once it has (demofs serves the
	// mount, not this process).
	if _, err := os.Stat(direct); err != nil {
		t.Fatal(err)
	}
	controlFSBefore := controlFSMounted(t)

	ps := func() map[string]psRow {
		t.Helper()
		var out bytes.Buffer
		if err := runCommand(context.Background(), nil, &out, io.Discard, "ps", "--json"); err != nil {
			t.Fatalf("fusectl ps: %v", err)
		}
		var rows []psRow
		if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
			t.Fatalf("ps --json: %v\n%s", err, out.String())
		}
		byMnt := map[string]psRow{}
		for _, r := range rows {
			byMnt[r.Mountpoint] = r
		}
		return byMnt
	}
	rows := ps()
	if r, ok := rows[viaFusectl]; !ok || !r.Fusectl || r.ServerPid <= 0 || r.FusectlPid != os.Getpid() || r.Rate == nil || r.FSType != "fuse.demofs" || r.Waiting == nil {
		t.Errorf("fusectl mount listed as %+v (present %v)", r, ok)
	}
	if r, ok := rows[direct]; !ok || r.Fusectl || r.Rate != nil || r.Waiting == nil || *r.Waiting != 0 {
		t.Errorf("direct mount listed as %+v (present %v)", r, ok)
	}
	// Where the kernel names a /dev/fuse descriptor's connection, ps
	// names the server of a mount fusectl did not make, and fusectl as
	// the holder of its own.
	if namesConnections(srv.Process.Pid) {
		if r := rows[direct]; r.ServerPid != srv.Process.Pid || !slices.Equal(r.Holders, []int{srv.Process.Pid}) || len(r.Server) == 0 || r.Server[0] != demofs {
			t.Errorf("direct mount's server listed as pid %d %q, holders %v; want pid %d %s", r.ServerPid, r.Server, r.Holders, srv.Process.Pid, demofs)
		}
		if r := rows[viaFusectl]; !slices.Equal(r.Holders, []int{os.Getpid()}) {
			t.Errorf("fusectl mount's holders %v, want fusectl's pid %d", r.Holders, os.Getpid())
		}
	} else {
		t.Log("this kernel does not name connections in /dev/fuse's fdinfo: servers of other mounts not checked")
	}
	if controlFSMounted(t) != controlFSBefore {
		t.Errorf("ps left the control file system mounted=%v, was %v", !controlFSBefore, controlFSBefore)
	}

	// A stat on the stopped server hangs until the abort.
	if err := srv.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	statCmd := exec.Command("stat", filepath.Join(direct, "x"))
	statCmd.Dir = "/"
	if err := statCmd.Start(); err != nil {
		t.Fatal(err)
	}
	statDone := make(chan error, 1)
	go func() { statDone <- statCmd.Wait() }()
	t.Cleanup(func() { statCmd.Process.Kill() })
	eventually(t, "ps shows the stat waiting", func() bool {
		r := ps()[direct]
		return r.Waiting != nil && *r.Waiting > 0
	})
	select {
	case err := <-statDone:
		t.Fatalf("stat on a stopped server returned: %v", err)
	default:
	}

	var out bytes.Buffer
	if err := runCommand(context.Background(), nil, &out, io.Discard, "abort", direct); err != nil {
		t.Fatalf("fusectl abort: %v", err)
	}
	if want := "aborted and unmounted " + direct + "\n"; out.String() != want {
		t.Errorf("abort printed %q, want %q", out.String(), want)
	}
	select {
	case err := <-statDone:
		if err == nil {
			t.Errorf("stat on an aborted connection succeeded")
		}
	case <-time.After(stuck):
		t.Fatalf("stat still stuck after the abort")
	}
	if _, err := mount.FindFUSEMount(direct); !errors.Is(err, mount.ErrNotFUSE) {
		t.Errorf("still mounted after abort: %v", err)
	}
	if _, ok := ps()[direct]; ok {
		t.Errorf("ps lists the aborted mount")
	}
	if controlFSMounted(t) != controlFSBefore {
		t.Errorf("abort changed whether the control file system is mounted")
	}
}

// controlFSMounted reports whether the kernel's fusectl control file
// system is mounted.
// namesConnections reports whether the kernel names the connection of
// process pid's /dev/fuse descriptor in its fdinfo.
func namesConnections(pid int) bool {
	named := false
	procfs.Descriptors(pid, func(fd int, target string) bool {
		if target == "/dev/fuse" {
			_, named = procfs.FDInfo(pid, fd)["fuse_connection"]
		}
		return !named
	})
	return named
}

func controlFSMounted(t *testing.T) bool {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && fields[4] == mount.ControlDir {
			return true
		}
	}
	return false
}

// TestMakeDemo runs `make demo` as a user would: it must mount, run its
// workload, unmount, and print statistics and decoded lines of a clean
// capture, leaving no mount or temporary directory behind.
func TestMakeDemo(t *testing.T) {
	testenv.RequireFUSE(t)
	testenv.RequireCommand(t, "make")
	tmp, bin := t.TempDir(), t.TempDir()
	cmd := exec.Command("make", "-C", filepath.Join("..", ".."), "demo", "BIN="+bin)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make demo: %v\n%s", err, out)
	}
	for _, want := range []string{
		"== workload: mkdir, write, cat, ls, rename, rm",
		"  hello from fusectl\n",
		"  unmounted ",
		"\nMKDIR\t1\t1\t0\t",
		"records=",
		" unpaired=0 malformed=0\n",
		` CREATE n2 "hello.txt" `,
		` WRITE n3 "/notes/hello.txt" `,
		` RENAME`,
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("make demo output lacks %q:\n%s", want, out)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("make demo left %d entries in its TMPDIR, first %s", len(left), left[0].Name())
	}
	if all, err := mount.FUSEMounts(); err == nil {
		for _, fm := range all {
			if strings.HasPrefix(fm.Mountpoint, tmp) {
				t.Errorf("make demo left %s mounted", fm.Mountpoint)
				mount.Abort(fm.Mountpoint)
			}
		}
	}
}

// TestMountCaptureStdout runs fusectl mount --capture - as a child: the
// capture streams on standard output from the first message (INIT), what
// fusectl says goes to standard error, and when the stream's reader goes
// away the mount goes on (no death by SIGPIPE, which would leave it
// stale), warns, and still unmounts cleanly on SIGINT.
func TestMountCaptureStdout(t *testing.T) {
	testenv.RequireFUSE(t)
	demofs := buildDemofs(t)
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	mnt := t.TempDir()
	testenv.UnmountOnInterrupt(t, mnt)
	cmd := exec.Command("fusectl", "mount", "--capture", "-", mnt, "--", demofs, "{}")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderrW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stderrW.Close()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if _, err := mount.FindFUSEMount(mnt); !errors.Is(err, mount.ErrNotFUSE) {
			t.Errorf("%s still mounted: %v", mnt, err)
			mount.Abort(mnt)
		}
	})
	said := bufio.NewReader(stderrR)
	if line, err := said.ReadString('\n'); err != nil || !strings.HasPrefix(line, "mounted "+mnt) {
		t.Fatalf("standard error starts %q, %v; want the mounted line", line, err)
	}
	shell(t, mnt, "echo hello > f")
	// The stream: INIT first, then the WRITE, while the mount runs.
	r, err := capture.NewReader(stdout, capture.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := decode.NewSession(decode.Options{})
	var d decode.Record
	for i := 0; ; i++ {
		rec, err := r.Next()
		if err != nil {
			t.Fatalf("stream record %d: %v", i, err)
		}
		s.DecodeMsg(rec.Time, rec.Dir, rec.Flags, rec.Msg, rec.OrigLen, abi.NativeEndian, &d)
		if i == 0 && d.Op != abi.FUSE_INIT {
			t.Fatalf("stream starts with %v, want INIT", d.Op)
		}
		if d.Op == abi.FUSE_WRITE {
			break
		}
	}
	// The reader goes away; the next records cannot be written.
	stdout.Close()
	shell(t, mnt, "echo more > g && cat g > /dev/null")
	line, err := said.ReadString('\n')
	if err != nil || !strings.Contains(line, "warning: capture stream stopped") || !strings.Contains(line, "broken pipe") {
		t.Errorf("after the reader left, standard error says %q, %v; want the capture's broken pipe", line, err)
	}
	shell(t, mnt, "cat f g")
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(stuck):
		t.Fatalf("fusectl mount did not end after SIGINT")
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Errorf("fusectl mount died of %v", ws.Signal())
	}
	if _, err := mount.FindFUSEMount(mnt); !errors.Is(err, mount.ErrNotFUSE) {
		t.Errorf("%s still mounted after SIGINT: %v", mnt, err)
	}
}

// TestMountDaemonizingServer mounts squashfuse without -f: libfuse forks
// once mounted and the process fusectl started exits. fusectl mount names
// the process that goes on serving, in its "mounted" line or, when the
// parent exits only after the INIT exchange, in a line of its own; and
// Ctrl-C still ends it.
func TestMountDaemonizingServer(t *testing.T) {
	testenv.RequireFUSE(t)
	testenv.RequireCommand(t, "squashfuse")
	testenv.RequireCommand(t, "mksquashfs")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	img := filepath.Join(t.TempDir(), "img.sqfs")
	if out, err := exec.Command("mksquashfs", seedDir(t), img, "-quiet", "-noappend").CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs: %v\n%s", err, out)
	}
	mnt := t.TempDir()
	testenv.UnmountOnInterrupt(t, mnt)
	cmd := exec.Command("fusectl", "mount", mnt, "--", "squashfuse", img, "{}")
	var stdout, stderr testenv.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	daemon := 0
	t.Cleanup(func() { // after a failure
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(stuck):
			cmd.Process.Kill()
			<-done
		}
		if daemon != 0 {
			syscall.Kill(daemon, syscall.SIGKILL)
		}
		if _, err := mount.FindFUSEMount(mnt); !errors.Is(err, mount.ErrNotFUSE) {
			t.Errorf("%s still mounted: %v", mnt, err)
			mount.Abort(mnt)
		}
	})
	eventually(t, "the mounted line", func() bool { return strings.HasSuffix(stdout.String(), "\n") })
	var minor int
	if _, err := fmt.Sscanf(stdout.String(), "mounted "+mnt+" (server pid %d, connection %d)", &daemon, &minor); err != nil {
		t.Fatalf("standard output %q: %v", stdout.String(), err)
	}
	serving := func(pid int) bool {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		return err == nil && bytes.Contains(st, []byte("Name:\tsquashfuse\n")) &&
			!bytes.Contains(st, []byte(fmt.Sprintf("\nPPid:\t%d\n", cmd.Process.Pid)))
	}
	if !serving(daemon) {
		// The parent was still there when the server answered INIT.
		eventually(t, "a line naming the daemon", func() bool { return strings.Contains(stderr.String(), "\n") })
		parent, started := daemon, 0
		if _, err := fmt.Sscanf(stderr.String(), "fusectl: server pid %d went into the background as pid %d\n", &started, &daemon); err != nil || started != parent {
			t.Fatalf("standard error %q (%v): want pid %d's daemon named", stderr.String(), err, parent)
		}
		if !serving(daemon) {
			t.Fatalf("pid %d is not the squashfuse that fusectl's child forked", daemon)
		}
	}
	shell(t, mnt, "cat a.txt >/dev/null")
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
		if waitErr != nil {
			t.Errorf("fusectl mount after Ctrl-C: %v\n%s", waitErr, stderr.String())
		}
	case <-time.After(stuck):
		t.Fatal("fusectl mount did not end after Ctrl-C")
	}
	// The daemon is not fusectl's child: it is gone, or a zombie for init
	// to reap.
	eventually(t, "the daemonized server exits", func() bool {
		st := procfs.State(daemon)
		return st == "" || st == "Z"
	})
	daemon = 0
}

// TestMountPasswordOnStdin: a server that reads its password from standard
// input (gocryptfs without -extpass) reads fusectl's.
func TestMountPasswordOnStdin(t *testing.T) {
	testenv.RequireFUSE(t)
	testenv.RequireCommand(t, "gocryptfs")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	cipher := filepath.Join(t.TempDir(), "cipher")
	if err := os.Mkdir(cipher, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gocryptfs", "-q", "-init", "-extpass", "echo pw", "-scryptn", "10", cipher).CombinedOutput(); err != nil {
		t.Fatalf("gocryptfs -init: %v\n%s", err, out)
	}
	mnt := fusectlMountServer(t, testenv.Input(t, "pw\n"), "gocryptfs", "-f", "-q", cipher, "{}")
	shell(t, mnt, `echo hello > f && test "$(cat f)" = hello`)
	// The file went through gocryptfs: it is in cipher, its name encrypted.
	ents, err := os.ReadDir(cipher)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "gocryptfs.") {
			names = append(names, e.Name())
		}
	}
	if len(names) != 1 || names[0] == "f" {
		t.Errorf("cipher directory holds %q, want one encrypted name", names)
	}
}
