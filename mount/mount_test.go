package mount

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
	"github.com/fusectl/fusectl/internal/demofs"
	"github.com/fusectl/fusectl/internal/testenv"
)

// loopbackArgs returns the command line of go-fuse's loopback example over
// a fresh directory. It splices READ replies (ReadResultFd), which makes it
// the test for reassembly and the max_pages clamp.
func loopbackArgs(t testing.TB) ([]string, string) {
	orig := t.TempDir()
	return []string{buildServer(t, "github.com/hanwen/go-fuse/v2/example/loopback"), "-q", "{}", orig}, orig
}

func TestMountForwardsAndTearsDown(t *testing.T) {
	args, orig := loopbackArgs(t)
	capPath := filepath.Join(t.TempDir(), "s.fcap")
	m, mnt := startMount(t, args, Options{CapturePath: capPath})

	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	if err := os.Mkdir(filepath.Join(mnt, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mnt, "d", "f"), data)
	if err := os.Rename(filepath.Join(mnt, "d", "f"), filepath.Join(mnt, "d", "g")); err != nil {
		t.Fatal(err)
	}
	// Drop the page cache so the read goes to the server.
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0)
	got := readFile(t, filepath.Join(mnt, "d", "g"))
	if !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, differ from the %d written", len(got), len(data))
	}
	if b, err := os.ReadFile(filepath.Join(orig, "d", "g")); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("the server's backing file differs: %v", err)
	}
	if ls := run(t, mnt, "ls d"); ls != "g" {
		t.Fatalf("ls d = %q, want g", ls)
	}
	// Captures and control sockets hold file names and contents.
	if fi, err := os.Stat(m.ControlSocket()); err != nil {
		t.Error(err)
	} else if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode %v, want a 0600 socket", fi.Mode())
	}
	st := m.Status()
	if st.Requests == 0 || st.Replies == 0 || st.Bytes < uint64(2*len(data)) {
		t.Errorf("status %+v", st)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	requireNotMounted(t, mnt)
	if _, err := os.Stat(m.ControlSocket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket left behind: %v", err)
	}

	// The capture holds INIT first and as many replies as requests that
	// want one.
	var n, reqs, reps int
	firstInit := false
	if _, err := eachRecord(capPath, func(rec *capture.Record) {
		if n++; n == 1 {
			firstInit = rec.Dir == capture.DirRequest && ne.Uint32(rec.Msg[4:]) == opInit
		}
		switch rec.Dir {
		case capture.DirRequest:
			if !noReply(ne.Uint32(rec.Msg[4:])) {
				reqs++
			}
		case capture.DirReply:
			reps++
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !firstInit {
		t.Fatalf("first record is not the INIT request")
	}
	if reqs == 0 || reqs != reps {
		t.Errorf("capture has %d requests wanting a reply and %d replies", reqs, reps)
	}
	if fi, err := os.Stat(capPath); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("capture file mode %v, want 0600", fi.Mode())
	}
}

// TestNoClampForNeverSplicing mounts jacobsa's memfs, which writes every
// reply with write(2): the interposer recognises it and leaves max_read and
// max_pages alone, so the kernel asks for READs of more than 14 pages, and
// 1 MiB written and read back through the mount is byte-exact.
func TestNoClampForNeverSplicing(t *testing.T) {
	memfs := buildServer(t, "github.com/jacobsa/fuse/samples/mount_memfs")
	capPath := filepath.Join(t.TempDir(), "s.fcap")
	m, mnt := startMount(t, []string{memfs, "--mount_point", "{}"}, Options{CapturePath: capPath})
	fm, err := FindFUSEMount(mnt)
	if err != nil {
		t.Fatal(err)
	}
	limit := SplicePages * os.Getpagesize()
	if strings.Contains(fm.Options, fmt.Sprintf("max_read=%d", limit)) {
		t.Errorf("max_read clamped for a server that never splices: %s", fm.Options)
	}
	run(t, mnt, `src=$(mktemp) && head -c 1048576 /dev/urandom > "$src" && cp "$src" f && echo 3 > /proc/sys/vm/drop_caches && cmp "$src" f; rc=$?; rm -f "$src"; exit $rc`)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	largest := 0
	if _, err := eachRecord(capPath, func(rec *capture.Record) {
		// READ requests: opcode 15; fuse_read_in's size follows fh and
		// offset after the 40-byte header.
		if rec.Dir == capture.DirRequest && len(rec.Msg) >= 60 && ne.Uint32(rec.Msg[4:]) == 15 {
			largest = max(largest, int(ne.Uint32(rec.Msg[56:])))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if largest <= limit {
		t.Errorf("largest READ asked %d bytes, want more than the %d-byte clamp", largest, limit)
	}
}

// TestMountOptionsReachKernel checks where the kernel mount's options come
// from: -o for a server started on /dev/fd/N (which hides its own), the
// server's own fusermount arguments for one started through the shim
// (bindfs asks for fsname=SOURCE, default_permissions and allow_other).
// A max_read within the READ clamp is kept as given. An -o option the
// kernel does not take is ignored, and the user warned.
func TestMountOptionsReachKernel(t *testing.T) {
	t.Run("-o", func(t *testing.T) {
		var warned testenv.Buffer
		_, mnt := startMount(t, demofsArgs(t), Options{
			MountOptions: []string{"fsname=fusectl-test,subtype=probe", "default_permissions,alow_other,allow_other,max_read=32768"},
			Warnf:        func(f string, a ...any) { fmt.Fprintf(&warned, f+"\n", a...) },
		})
		if want := "mount options alow_other are not kernel FUSE options and are ignored"; !strings.Contains(warned.String(), want) {
			t.Errorf("warnings %q, want %q", warned.String(), want)
		}
		fm, err := FindFUSEMount(mnt)
		if err != nil {
			t.Fatal(err)
		}
		if fm.Source != "fusectl-test" || fm.FSType != "fuse.probe" {
			t.Errorf("source %q type %q, want fusectl-test and fuse.probe", fm.Source, fm.FSType)
		}
		for _, o := range []string{"default_permissions", "allow_other", "max_read=32768"} {
			if !slices.Contains(strings.Split(fm.Options, ","), o) {
				t.Errorf("mount options %q lack %s", fm.Options, o)
			}
		}
	})
	t.Run("shim", func(t *testing.T) {
		testenv.RequireCommand(t, "bindfs")
		src := t.TempDir()
		_, mnt := startMount(t, []string{"bindfs", "-f", src, "{}"}, Options{})
		fm, err := FindFUSEMount(mnt)
		if err != nil {
			t.Fatal(err)
		}
		if fm.Source != src {
			t.Errorf("source %q, want bindfs's fsname %q", fm.Source, src)
		}
		for _, o := range []string{"default_permissions", "allow_other"} {
			if !slices.Contains(strings.Split(fm.Options, ","), o) {
				t.Errorf("mount options %q lack bindfs's %s", fm.Options, o)
			}
		}
	})
}

// TestForwardsForgetAndInterrupt checks the requests that want no reply:
// dropping the dentry cache makes the kernel send FORGET or BATCH_FORGET,
// and a caller interrupted while the server is stopped makes it send
// INTERRUPT for the pending request. Both must reach the capture and
// the server (which then answers the interrupted request), and the
// capture must decode with every reply paired.
func TestForwardsForgetAndInterrupt(t *testing.T) {
	capPath := filepath.Join(t.TempDir(), "s.fcap")
	m, mnt := startMount(t, demofsArgs(t, "-ttl", "1h"), Options{CapturePath: capPath})
	run(t, mnt, "mkdir d && for i in $(seq 64); do echo $i > d/$i; done")
	writeFile(t, "/proc/sys/vm/drop_caches", []byte("2"))

	sub := m.Subscribe(SubscribeOptions{})
	defer sub.Close()
	if err := syscall.Kill(m.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(m.Pid(), syscall.SIGCONT) })
	// The LOOKUP of d (forgotten above) waits on the stopped server;
	// SIGINT then makes the kernel queue an INTERRUPT for it.
	cat := startWorkload(t, "/", "exec cat "+filepath.Join(mnt, "d", "1"))
	waitEvents(t, sub, 1, func(ev *Event) bool { return ev.Dir == capture.DirRequest && ne.Uint32(ev.Msg[4:]) == opLookup })
	if err := cat.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, sub, 1, func(ev *Event) bool {
		return ev.Dir == capture.DirRequest && ne.Uint32(ev.Msg[4:]) == opInterrupt
	})
	if err := syscall.Kill(m.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitProcess(t, "interrupted cat", cat)
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	checkCapture(t, capPath)
	forgets, interrupted := 0, map[uint64]bool{}
	replied := map[uint64]bool{}
	if _, err := eachRecord(capPath, func(rec *capture.Record) {
		unique := ne.Uint64(rec.Msg[8:])
		switch {
		case rec.Dir == capture.DirReply:
			replied[unique] = true
		case ne.Uint32(rec.Msg[4:]) == opForget || ne.Uint32(rec.Msg[4:]) == opBatchForget:
			forgets++
		case ne.Uint32(rec.Msg[4:]) == opInterrupt:
			interrupted[ne.Uint64(rec.Msg[inHeaderSize:])] = true
		}
	}); err != nil {
		t.Fatal(err)
	}
	if forgets == 0 {
		t.Errorf("no FORGET or BATCH_FORGET in the capture after dropping the dentry cache")
	}
	if len(interrupted) == 0 {
		t.Errorf("no INTERRUPT in the capture")
	}
	for u := range interrupted {
		if !replied[u] {
			t.Errorf("the server never answered interrupted request %d", u)
		}
	}
}

// TestForwardsNotifications has demofs send every kind of notification
// through the interposer, and retrieve a file's cached contents: the
// kernel must act on them (the retrieve gets the bytes back through the
// kernel's NOTIFY_REPLY), and the capture must hold them all and decode.
func TestForwardsNotifications(t *testing.T) {
	capPath := filepath.Join(t.TempDir(), "s.fcap")
	m, mnt := startMount(t, demofsArgs(t, "-ttl", "1h"), Options{CapturePath: capPath})
	run(t, mnt, "echo hello > f && cat f > /dev/null && mkdir d && touch d/x d/y")
	sub := m.Subscribe(SubscribeOptions{})
	defer sub.Close()
	isNotify := func(ev *Event) bool { return ev.Dir == capture.DirNotify }
	// demofs sends each notification after its SETXATTR reply, so the
	// store must be seen before the retrieve is asked for.
	const notify = `setfattr -n user.demofs.notify -v `
	run(t, mnt, notify+"store f")
	waitEvents(t, sub, 1, isNotify)
	// The retrieved length appears once the NOTIFY_REPLY reached demofs.
	got := run(t, mnt, notify+`retrieve f && for i in $(seq 200); do v=$(getfattr --only-values -n user.demofs.retrieved f 2>/dev/null) && break; sleep 0.05; done; echo "$v"`)
	if got != "6" {
		t.Errorf("retrieved %q bytes of f's cache, want 6 (hello\\n)", got)
	}
	run(t, mnt, notify+"inval_inode f && "+notify+"inval_entry:x d && "+notify+"delete:y d")
	waitEvents(t, sub, 4, isNotify) // RETRIEVE and these three
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	checkCapture(t, capPath)
	codes := map[uint32]int{}
	replies := 0
	if _, err := eachRecord(capPath, func(rec *capture.Record) {
		switch {
		case rec.Dir == capture.DirNotify:
			codes[ne.Uint32(rec.Msg[4:])]++
		case rec.Dir == capture.DirRequest && ne.Uint32(rec.Msg[4:]) == opNotifyReply:
			replies++
		}
	}); err != nil {
		t.Fatal(err)
	}
	for code, name := range map[uint32]string{2: "INVAL_INODE", 3: "INVAL_ENTRY", 4: "STORE", 5: "RETRIEVE", 6: "DELETE"} {
		if codes[code] == 0 {
			t.Errorf("no %s notification in the capture", name)
		}
	}
	// go-fuse retrieves until the kernel returns nothing: one reply per
	// RETRIEVE.
	if replies != codes[5] {
		t.Errorf("%d NOTIFY_REPLY requests in the capture for %d RETRIEVEs", replies, codes[5])
	}
}

// TestNotificationWaitingForALock reproduces a notification that waits in
// the kernel for a lock held by a request whose reply comes after it: the
// INVAL_ENTRY on d arrives while a slow SETXATTR on d holds d's lock, and
// that SETXATTR's reply follows the notification. With one goroutine
// writing both in order, the mount would hang for good; a direct mount
// does not, because the server writes them from different threads.
func TestNotificationWaitingForALock(t *testing.T) {
	// One, and more behind it than fusectl would once queue: a server's
	// other threads may go on sending while one notification waits.
	for _, count := range []int{1, 3000} {
		t.Run(strconv.Itoa(count), func(t *testing.T) { testNotificationWaitingForALock(t, count) })
	}
}

func testNotificationWaitingForALock(t *testing.T, count int) {
	capPath := filepath.Join(t.TempDir(), "s.fcap")
	m, mnt := startMount(t, demofsArgs(t, "-ttl", "1h"), Options{CapturePath: capPath})
	run(t, mnt, "mkdir d && touch d/x && ls d > /dev/null")
	work := startWorkload(t, mnt, `
		setfattr -n user.demofs.notify -v inval_entry:x@100ms*`+strconv.Itoa(count)+` d &&
		setfattr -n user.demofs.sleep -v 300ms d && ls d`)
	select {
	case <-work.done:
		if work.err != nil {
			t.Fatalf("workload: %v", work.err)
		}
	case <-time.After(stuckAfter):
		// Free the deadlocked mount, or its teardown would hang too.
		AbortConnection(m.Conn())
		t.Fatalf("setfattr on a directory with a notification pending is stuck")
	}
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	checkCapture(t, capPath)
	entries := 0
	if _, err := eachRecord(capPath, func(rec *capture.Record) {
		if rec.Dir == capture.DirNotify && ne.Uint32(rec.Msg[4:]) == 3 {
			entries++
		}
	}); err != nil {
		t.Fatal(err)
	}
	if entries != count {
		t.Errorf("%d INVAL_ENTRY notifications in the capture, want %d", entries, count)
	}
}

// TestCaptureFailureWarns fills the capture's file system: the user is
// warned while the mount runs, the mount goes on forwarding, and Close
// reports the capture's error.
func TestCaptureFailureWarns(t *testing.T) {
	testenv.RequireRoot(t)
	small := t.TempDir()
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatalf("mount a small tmpfs: %v", err)
	}
	testenv.UndoOnInterrupt(t, func() { syscall.Unmount(small, syscall.MNT_DETACH) })
	t.Cleanup(func() { syscall.Unmount(small, syscall.MNT_DETACH) })
	warned := make(chan string, 4)
	m, mnt := startMount(t, demofsArgs(t), Options{
		CapturePath: filepath.Join(small, "s.fcap"),
		Warnf: func(format string, args ...any) {
			select {
			case warned <- fmt.Sprintf(format, args...):
			default:
			}
		},
	})
	// 512 KiB of WRITEs cannot fit in 64 KiB.
	run(t, mnt, "head -c 524288 /dev/zero > f")
	select {
	case w := <-warned:
		if !strings.Contains(w, "no space left on device") || !strings.Contains(w, "the mount goes on") {
			t.Errorf("warning %q, want the capture's ENOSPC", w)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no warning 10 s after the capture's file system filled")
	}
	if got := run(t, mnt, "echo more > g && cat g && wc -c < f"); got != "more\n524288" {
		t.Errorf("after the capture failed, the mount gives %q", got)
	}
	if err := m.Close(); err == nil || !strings.Contains(err.Error(), "capture") {
		t.Errorf("Close: %v, want the capture's error", err)
	}
}

// TestCloseAfterOutsideUnmount: a mount detached from outside while in use
// (umount -l) keeps its connection, so the stop that follows is the first
// cause of teardown and finds nothing to unmount. That is a normal end,
// not "unmount: invalid argument".
func TestCloseAfterOutsideUnmount(t *testing.T) {
	testenv.RequireRoot(t)
	m, mnt := startMount(t, demofsArgs(t), Options{Grace: 500 * time.Millisecond})
	// A child whose working directory keeps the file system in use.
	holder := exec.Command("sh", "-c", `cd "$1" && exec sleep 60`, "sh", mnt)
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		holder.Process.Kill()
		holder.Wait()
	}()
	for i := 0; ; i++ {
		if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", holder.Process.Pid)); err == nil && cwd == mnt {
			break
		}
		if i == 100 {
			t.Fatal("the holder did not enter the mount")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close after an outside unmount: %v", err)
	}
}

// TestGoFuseServerEndsQuietly: go-fuse logs two lines per reader when its
// stream ends, which a direct mount's unmount never makes it do; what the
// server shows at the end through fusectl must be what it would show by
// itself.
func TestGoFuseServerEndsQuietly(t *testing.T) {
	var shown testenv.Buffer
	m, mnt := startMount(t, demofsArgs(t), Options{Stderr: &shown})
	// Parallel work, so that go-fuse runs several readers.
	run(t, mnt, "for i in 1 2 3 4 5 6 7 8; do (echo $i > f$i; cat f$i; stat f$i) >/dev/null & done; wait")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	kept := string(m.ServerOutput())
	if !strings.Contains(kept, "Short read for input header") {
		t.Fatalf("demofs did not log end of stream (the test needs it to):\n%s", kept)
	}
	if s := shown.String(); strings.Contains(s, "Short read for input header") || strings.Contains(s, "Failed to read from fuse conn") {
		t.Errorf("the server's end-of-stream lines were shown:\n%s", s)
	}
}

// brokenWriter fails every write, as fusectl's standard error does once
// the pipe it writes to has no reader.
type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, syscall.EPIPE }

// TestServerOutputUnshowable: where the server's output can no longer be
// shown, it must still be drained; a server that logs every request
// (demofs -debug) otherwise fills the pipe after a few hundred requests
// and blocks, and the mount with it.
func TestServerOutputUnshowable(t *testing.T) {
	_, mnt := startMount(t, demofsArgs(t, "-debug"), Options{Stderr: brokenWriter{}})
	// In the shell, not cmd.Dir: the child would enter the mount between
	// fork and exec, while this process, which serves it, waits for the
	// exec. If it hangs, the cleanup's teardown stops the server, which
	// ends the workload's stuck request.
	work := startWorkload(t, mnt, "for i in $(seq 300); do echo $i > f$i && cat f$i >/dev/null && rm f$i; done")
	if err := waitProcess(t, "the workload (the server's output not drained?)", work); err != nil {
		t.Fatalf("workload: %v", err)
	}
}

// TestTeardownCatchesUp: a request the kernel queued before the stop,
// which the reader had not taken yet, reaches the server before the
// unmount, which would end it inside the kernel: here the RELEASE of a
// file closed just before fusectl is stopped.
func TestTeardownCatchesUp(t *testing.T) {
	// The hook parks the reader after it forwarded the holder's FLUSH,
	// before it reads the RELEASE that follows. Set before the mount
	// starts and cleared after it ended: the reader reads it without
	// locks.
	var hold atomic.Bool
	parked := make(chan struct{}, 1)
	gate := make(chan struct{})
	var opened sync.Once
	open := func() { opened.Do(func() { close(gate) }) }
	defer open()
	beforeKernelRead = func(last abi.Opcode) {
		if hold.Load() && last == abi.FUSE_FLUSH {
			select {
			case parked <- struct{}{}:
			default:
			}
			<-gate
		}
	}
	defer func() { beforeKernelRead = nil }()
	capPath := filepath.Join(t.TempDir(), "s.fcap")
	m, mnt := startMount(t, demofsArgs(t), Options{CapturePath: capPath})
	run(t, mnt, "echo x > f")
	// A process holds f open until its standard input closes.
	holder := testenv.ShellCommand(mnt, "exec 3<f; echo open; read x || true")
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "open\n" {
		holder.Process.Kill()
		holder.Wait()
		t.Fatalf("holder: %q, %v", line, err)
	}
	// The holder exits: its FLUSH is answered, and the kernel queues its
	// RELEASE, which no one reads until the gate opens, after the stop
	// has begun.
	hold.Store(true)
	stdin.Close()
	if err := holder.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}
	select {
	case <-parked:
	case <-time.After(stuckAfter):
		t.Fatal("the reader did not park after the holder's FLUSH")
	}
	time.AfterFunc(50*time.Millisecond, open)
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	requireNotMounted(t, mnt)
	requireReleasesAnswered(t, capPath, "echo's and the holder's")
}

// TestTeardownKeepsLastReplies: a RELEASE that the kernel sent in the
// background just before the unmount is still with the server when the
// kernel's end closes. fusectl lets the server answer it before closing
// the server's socket, and the capture holds the reply.
func TestTeardownKeepsLastReplies(t *testing.T) {
	capPath := filepath.Join(t.TempDir(), "s.fcap")
	m, mnt := startMount(t, demofsArgs(t), Options{CapturePath: capPath})
	sub := m.Subscribe(SubscribeOptions{})
	defer sub.Close()
	run(t, mnt, "echo x > f")
	if err := unix.Setxattr(filepath.Join(mnt, "f"), demofs.ReleaseSleepXattr, []byte("300ms"), 0); err != nil {
		t.Fatal(err)
	}
	run(t, mnt, "cat f >/dev/null")
	// The kernel queues cat's RELEASE as cat exits. An unmount that
	// comes before fusectl has read it ends it in the kernel, where no
	// server (direct or through fusectl) ever sees it: with GOMAXPROCS=1
	// this goroutine can reach the unmount first. The case under test is
	// the RELEASE the server holds, so wait for both to be forwarded.
	waitEvents(t, sub, 2, func(ev *Event) bool {
		return ev.Dir == capture.DirRequest && len(ev.Msg) >= 8 && ne.Uint32(ev.Msg[4:]) == uint32(abi.FUSE_RELEASE)
	})
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	requireNotMounted(t, mnt)
	requireReleasesAnswered(t, capPath, "echo's and cat's")
}

// requireReleasesAnswered checks that the capture at path holds two
// RELEASE requests (want says whose), each with the server's reply rather
// than one fusectl made up at teardown.
func requireReleasesAnswered(t *testing.T, path, want string) {
	t.Helper()
	releases := map[uint64]bool{} // by unique: answered by the server
	if _, err := eachRecord(path, func(rec *capture.Record) {
		unique := ne.Uint64(rec.Msg[8:])
		switch {
		case rec.Dir == capture.DirRequest && ne.Uint32(rec.Msg[4:]) == uint32(abi.FUSE_RELEASE):
			releases[unique] = false
		case rec.Dir == capture.DirReply:
			if _, ok := releases[unique]; ok {
				releases[unique] = rec.Flags&capture.FlagInjected == 0
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(releases) != 2 {
		t.Fatalf("capture has %d RELEASE requests, want %s", len(releases), want)
	}
	for u, answered := range releases {
		if !answered {
			t.Errorf("RELEASE %d has no reply from the server in the capture", u)
		}
	}
}

// TestMountThroughSymlink: a mountpoint given through a symlink mounts the
// directory it names, with its connection known (mountinfo names the
// directory), and a server argument naming the symlink still takes the
// mountpoint's place.
func TestMountThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	link := filepath.Join(dir, "link")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	bin := demofsArgs(t)[0]
	m, mnt := startMount(t, []string{bin, link}, Options{Mountpoint: link})
	if mnt != real {
		t.Errorf("mountpoint %s, want %s", mnt, real)
	}
	fm, err := FindFUSEMount(real)
	if err != nil {
		t.Fatal(err)
	}
	if m.Conn() == 0 || m.Conn() != fm.Conn() {
		t.Errorf("connection %d, mountinfo says %d", m.Conn(), fm.Conn())
	}
	run(t, "/", "echo hi > "+link+"/f && cat "+real+"/f")
	// Named through the link again, it is found (capture --mount, abort).
	if fm, err := FindFUSEMount(link); err != nil || fm.Conn() != m.Conn() {
		t.Errorf("FindFUSEMount(link) = %+v, %v", fm, err)
	}
	if r, err := FindRunning(context.Background(), m.opts.ControlDir, link); err != nil || r.Status.Mountpoint != real {
		t.Errorf("FindRunning(link) = %+v, %v", r, err)
	}
}

// TestMalformedServerMessage: a message from the server that no kernel
// would take is dropped, as the kernel would, and the mount goes on; the
// capture keeps what arrived of it, which a decode flags, and the count
// says so.
func TestMalformedServerMessage(t *testing.T) {
	capPath := filepath.Join(t.TempDir(), "s.fcap")
	m, mnt := startMount(t, demofsArgs(t), Options{CapturePath: capPath})
	out := run(t, mnt, "echo hi > f && setfattr -n user.demofs.malformed -v x f && cat f")
	if strings.TrimSpace(out) != "hi" {
		t.Errorf("workload printed %q, want hi", out)
	}
	select {
	case <-m.Done():
		t.Fatalf("the mount ended: %v", m.Err())
	default:
	}
	if n := m.Status().Malformed; n != 1 {
		t.Errorf("%d malformed messages counted, want 1", n)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s := decode.NewSession(decode.Options{})
	var rec decode.Record
	var bad []string
	if _, err := eachRecord(capPath, func(cr *capture.Record) {
		if err := s.DecodeMsg(cr.Time, cr.Dir, cr.Flags, cr.Msg, cr.OrigLen, abi.NativeEndian, &rec); err != nil {
			bad = append(bad, fmt.Sprintf("%s %d of %d bytes: %v", cr.Dir, len(cr.Msg), cr.OrigLen, err))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || !strings.Contains(bad[0], "reply 16 of 32 bytes: out-header len 1073741824") {
		t.Errorf("malformed records %q, want the one reply the server lied in", bad)
	}
}

// TestAbortedFromOutside: a connection aborted through the control file
// system ends the mount, and its teardown removes the dead mount instead
// of leaving it ("Transport endpoint is not connected").
func TestAbortedFromOutside(t *testing.T) {
	m, mnt := startMount(t, demofsArgs(t), Options{})
	if err := AbortConnection(m.Conn()); err != nil {
		t.Fatal(err)
	}
	waitMount(t, m)
	requireNotMounted(t, mnt)
}

// TestCoveredMount: a mount stacked on a fusectl mount is neither taken
// by its teardown nor by fusectl abort, which abort fusectl's connection
// and say why its mount stays.
func TestCoveredMount(t *testing.T) {
	testenv.RequireRoot(t)
	for _, by := range []string{"teardown", "abort"} {
		t.Run(by, func(t *testing.T) {
			m, mnt := startMount(t, demofsArgs(t), Options{})
			if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
				t.Fatal(err)
			}
			// Before startMount's check that nothing is left: the
			// tmpfs, then fusectl's aborted mount under it.
			t.Cleanup(func() {
				unix.Unmount(mnt, unix.MNT_DETACH)
				unix.Unmount(mnt, unix.MNT_DETACH)
			})
			var err error
			if by == "abort" {
				err = Abort(mnt)
				waitMount(t, m)
			} else {
				err = m.Close()
			}
			if !errors.Is(err, ErrCovered) {
				t.Errorf("%s of a covered mount: %v, want ErrCovered", by, err)
			}
			if top, _ := coveredBy(mnt, m.Conn()); top != "tmpfs" {
				t.Errorf("on top of %s after %s: %q, want the tmpfs still", mnt, by, top)
			}
		})
	}
}
