package launch

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/internal/procfs"
	"github.com/fusectl/fusectl/internal/testenv"
)

func TestParseMethod(t *testing.T) {
	for _, m := range []Method{Auto, DevFD, ShimPath, ShimNamespace} {
		got, err := ParseMethod(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMethod(%q) = %v, %v", m.String(), got, err)
		}
	}
	for in, want := range map[string]Method{"A": DevFD, "path": ShimPath, "ns": ShimNamespace, "": Auto} {
		if got, err := ParseMethod(in); err != nil || got != want {
			t.Errorf("ParseMethod(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseMethod("preload"); !errors.Is(err, ErrBadMethod) {
		t.Errorf("ParseMethod(preload): %v, want ErrBadMethod", err)
	}
	if s := Method(9).String(); s != "method(9)" {
		t.Errorf("Method(9).String() = %q", s)
	}
}

func TestPlaceMountpoint(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args       []string
		mountpoint string
		want       []string
	}{
		{[]string{"srv", "-f", "img", "{}"}, "", []string{"srv", "-f", "img", "M"}},
		{[]string{"srv", "--mount_point={}", "x"}, "/mnt", []string{"srv", "--mount_point=M", "x"}},
		{[]string{"srv", "img", "/mnt", "-f"}, "/mnt", []string{"srv", "img", "M", "-f"}},
		{[]string{"srv", "img"}, "/mnt", []string{"srv", "img", "M"}},
		// The mountpoint as the user typed it, relative or not clean.
		{[]string{"srv", "img", "/mnt/"}, "/mnt", []string{"srv", "img", "M"}},
		{[]string{"srv", "img", "./m"}, cwd + "/m", []string{"srv", "img", "M"}},
		{[]string{"srv", "./img", "m/"}, "m", []string{"srv", "./img", "M"}},
		{[]string{"srv", "-o", "x", "/m"}, "m", []string{"srv", "-o", "x", "/m", "M"}},
		{[]string{"srv", "img"}, "", []string{"srv", "img", "M"}},
		// Mounted over its own source: only the last is the mountpoint.
		{[]string{"bindfs", "-f", "/x", "/x"}, "/x", []string{"bindfs", "-f", "/x", "M"}},
		// argv[0] is never the mountpoint.
		{[]string{"{}", "a"}, "", []string{"{}", "a", "M"}},
	}
	for _, tt := range tests {
		if got := PlaceMountpoint(tt.args, tt.mountpoint, "M"); !slices.Equal(got, tt.want) {
			t.Errorf("PlaceMountpoint(%q, %q) = %q, want %q", tt.args, tt.mountpoint, got, tt.want)
		}
	}
}

func TestAddAutoUnmount(t *testing.T) {
	got := addAutoUnmount([]string{"bindfs", "-f", "a", "b"})
	if want := []string{"bindfs", "-o", "auto_unmount", "-f", "a", "b"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	already := []string{"mergerfs", "-o", "ro,auto_unmount", "a", "b"}
	if got := addAutoUnmount(already); !slices.Equal(got, already) {
		t.Errorf("added twice: %q", got)
	}
}

func TestMountOptions(t *testing.T) {
	tests := []struct {
		argv []string
		want []string
	}{
		{[]string{"fusermount", "-o", `rw,nosuid,allow_other,fsname=a\,b`, "--", "/m"}, []string{"rw", "nosuid", "allow_other", "fsname=a,b"}},
		{[]string{"fusermount3", "/m", "-o", "default_permissions,subtype=x"}, []string{"default_permissions", "subtype=x"}},
		{[]string{"fusermount3", "-oro", "-o", "allow_other", "--", "-o"}, []string{"ro", "allow_other"}},
		{[]string{"fusermount3", "--", "/m"}, nil},
	}
	for _, tt := range tests {
		if got := mountOptions(tt.argv); !slices.Equal(got, tt.want) {
			t.Errorf("mountOptions(%q) = %q, want %q", tt.argv, got, tt.want)
		}
	}
}

func TestRing(t *testing.T) {
	r := newRing(8)
	r.Write([]byte("abc"))
	if got := string(r.Bytes()); got != "abc" {
		t.Fatalf("got %q", got)
	}
	r.Write([]byte("defghij"))
	if got := string(r.Bytes()); got != "cdefghij" {
		t.Fatalf("got %q", got)
	}
	r.Write([]byte("0123456789"))
	if got := string(r.Bytes()); got != "23456789" {
		t.Fatalf("got %q", got)
	}
}

func TestShimUnmountAndErrors(t *testing.T) {
	if code := runShim([]string{"fusermount3", "-u", "-q", "-z", "--", "/x"}, "", "", ""); code != 0 {
		t.Errorf("-u exited %d, want 0", code)
	}
	if code := runShim([]string{"fusermount", "-o", "rw", "--", "/x"}, "", "3", ""); code == 0 {
		t.Error("mount without a rendezvous socket succeeded")
	}
	if code := runShim([]string{"fusermount", "-o", "rw", "--", "/x"}, filepath.Join(t.TempDir(), "none"), "nope", ""); code == 0 {
		t.Error("mount without _FUSE_COMMFD succeeded")
	}
}

// buildGo builds a Go main package into the test's temp dir.
func buildGo(t *testing.T, pkg, name string) string {
	t.Helper()
	testenv.RequireCommand(t, "go")
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

func TestDetectMethod(t *testing.T) {
	sh, _ := exec.LookPath("sh")
	cases := []struct {
		path string
		want Method
	}{
		{sh, DevFD},
		// A Go binary whose build information lists no modules (a test
		// binary, or a GOPATH build such as Debian's rclone): its FUSE
		// library is unknown.
		{os.Args[0], Intercept},
	}
	if interceptAvailable() != nil {
		cases[1].want = ShimPath
	}
	for _, c := range []struct {
		cmd  string
		want Method
	}{{"squashfuse", DevFD}, {"fuse-overlayfs", DevFD}, {"bindfs", Intercept}, {"ntfs-3g", Intercept}} {
		if p, err := exec.LookPath(c.cmd); err == nil {
			cases = append(cases, struct {
				path string
				want Method
			}{p, c.want})
		}
	}
	if testing.Short() {
		t.Log("-short: not building jacobsa memfs")
	} else {
		cases = append(cases, struct {
			path string
			want Method
		}{buildGo(t, "github.com/jacobsa/fuse/samples/mount_memfs", "mount_memfs"), DevFD})
	}
	for _, c := range cases {
		got, reason, err := DetectMethod(c.path)
		if err != nil || got != c.want {
			t.Errorf("DetectMethod(%s) = %v (%s), %v; want %v", c.path, got, reason, err, c.want)
		}
		t.Logf("%s: %v (%s)", filepath.Base(c.path), got, reason)
	}
	if _, _, err := DetectMethod("/nonexistent/server"); err == nil {
		t.Error("DetectMethod of a missing file succeeded")
	}
}

// TestDetectGoLibraries: by a Go binary's modules, with intercept and
// without (old kernels, containers). The PATH shim serves every Go
// library, where /dev/fd/N fails bazil's.
func TestDetectGoLibraries(t *testing.T) {
	const (
		gofuse  = "github.com/hanwen/go-fuse/v2"
		jacobsa = "github.com/jacobsa/fuse"
		bazil   = "bazil.org/fuse"
	)
	for _, c := range []struct {
		mods                   []string
		intercept, noIntercept Method
	}{
		{[]string{"example.com/srv", gofuse}, DevFD, DevFD},
		{[]string{"example.com/srv", jacobsa}, DevFD, DevFD},
		{[]string{"example.com/srv", bazil}, Intercept, ShimPath},
		{[]string{"github.com/rclone/rclone", bazil, gofuse}, Intercept, ShimPath},
		{[]string{"example.com/srv"}, Intercept, ShimPath}, // no modules named
		{[]string{"example.com/srv", "example.com/other"}, DevFD, DevFD},
	} {
		// Not an ELF file: no C library to find.
		x := executable{path: "/nonexistent", isGo: true, goMods: c.mods}
		if got, why := detectMethod(x, true); got != c.intercept {
			t.Errorf("%q with intercept: %v (%s), want %v", c.mods, got, why, c.intercept)
		}
		if got, why := detectMethod(x, false); got != c.noIntercept {
			t.Errorf("%q without intercept: %v (%s), want %v", c.mods, got, why, c.noIntercept)
		}
	}
}

// checkGone checks that no process of the server's session is left: not
// the server, and nothing it started.
func checkGone(t *testing.T, pid int) {
	t.Helper()
	// A zombie is dead: a daemonized server's is init's to reap.
	if st := procfs.State(pid); st != "" && st != "Z" {
		t.Errorf("server pid %d still exists", pid)
	}
	for _, p := range sessionProcs(pid) {
		t.Errorf("process %d of the server's session still runs", p)
	}
}

// startServer starts a server, registers its Stop and leftover checks, and
// returns it.
func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	opts.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start %q: %v", opts.Args, err)
	}
	t.Cleanup(func() {
		pid, tmp := s.Pid(), s.tmp
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
		select {
		case <-s.Done():
		default:
			t.Error("Done not closed after Stop")
		}
		checkGone(t, pid)
		if tmp != "" {
			if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("temp dir %s left behind (%v)", tmp, err)
			}
		}
		out := s.Output()
		t.Logf("server output:\n%s", out)
		// A libfuse server running as root unmounts its mountpoint on
		// exit; under the namespace method there must be one to unmount.
		if bytes.Contains(out, []byte("failed to unmount")) {
			t.Errorf("the server could not unmount its mountpoint:\n%s", out)
		}
		// libfuse says so when it reads end of stream: it must have
		// been asked to exit first.
		if bytes.Contains(out, []byte("short read on fuse device")) {
			t.Errorf("the server met end of stream before SIGTERM:\n%s", out)
		}
	})
	return s
}

// startFakeServer starts the test binary as fakeServer (kind is
// envFakeServer's value) by method.
func startFakeServer(t *testing.T, kind string, method Method) *Server {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, Options{
		Args:   []string{exe, "-test.run=^$", "{}"},
		Env:    []string{envFakeServer + "=" + kind},
		Method: method,
	})
}

// TestShim starts a fake server that runs fusermount3 from PATH by each
// shim method. Under the namespace method the server takes the descriptor
// without waiting for fusermount, as libfuse does under auto_unmount, and
// fails unless the stand-in mountpoint is mounted by then: it must be, for
// the server to unmount it when told to stop at once.
func TestShim(t *testing.T) {
	for _, c := range []struct {
		method Method
		kind   string // envFakeServer's value
	}{{ShimPath, "1"}, {ShimNamespace, "nowait"}} {
		t.Run(c.method.String(), func(t *testing.T) {
			s := startFakeServer(t, c.kind, c.method)
			if s.Method() != c.method {
				t.Fatalf("method %v", s.Method())
			}
			if minor := handshake(t, s.Conn()); minor != 31 {
				t.Errorf("minor %d, want 31", minor)
			}
			want := []string{"fsname=fake,server", "allow_other", "default_permissions"}
			if got := s.MountOptions(); !slices.Equal(got, want) {
				t.Errorf("MountOptions() = %q, want %q", got, want)
			}
		})
	}
}

func TestServerExitsAtOnce(t *testing.T) {
	args := []string{"sh", "-c", "echo no such image >&2; exit 3"}
	t.Run("devfd", func(t *testing.T) {
		s := startServer(t, Options{Args: args, Method: DevFD})
		<-s.Done()
		var ee *exec.ExitError
		if err := s.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("Wait() = %v, want exit status 3", err)
		}
		// Output may still be in flight when Done closes; Stop drains it.
		s.Stop(context.Background())
		if !bytes.Contains(s.Output(), []byte("no such image")) {
			t.Errorf("output %q lacks the server's message", s.Output())
		}
	})
	t.Run("shim", func(t *testing.T) {
		tmp := t.TempDir()
		t.Setenv("TMPDIR", tmp)
		_, err := Start(context.Background(), Options{Args: args, Method: ShimPath, Logf: t.Logf})
		if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "no such image") {
			t.Fatalf("Start: %v, want ErrExited with the server's output", err)
		}
		if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
			t.Errorf("temp dir left behind: %v", ents[0].Name())
		}
	})
}

// TestStopStubborn: a server that ignores end of stream and SIGTERM and
// has a child still ends with nothing left.
func TestStopStubborn(t *testing.T) {
	s := startServer(t, Options{
		Args:      []string{"sh", "-c", `trap "" TERM; sleep 1000 & sleep 1000; wait`},
		Method:    DevFD,
		StopGrace: 100 * time.Millisecond,
	})
	pid := s.Pid()
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkGone(t, pid)
}

// TestStopSignalsHolders: Stop's SIGTERM reaches the server, which holds
// the socket, and not a helper it started that does not (sshfs's ssh),
// which an unmount would not signal either.
func TestStopSignalsHolders(t *testing.T) {
	marks := filepath.Join(t.TempDir(), "marks")
	// $0 is /dev/fd/N, the server's end of the socket; the helper closes
	// its copy. A trapped signal ends wait at once, so that a helper
	// signalled writes its mark before Stop kills what is left.
	script := `fd=${0#/dev/fd/}
(eval "exec $fd>&-"; trap 'echo helper >>"$MARKS"; exit 0' TERM; sleep 1000 & wait) &
trap 'echo server >>"$MARKS"; exit 0' TERM
echo ready >>"$MARKS"
wait`
	s := startServer(t, Options{
		Args:   []string{"sh", "-c", script, "{}"},
		Env:    []string{"MARKS=" + marks},
		Method: DevFD,
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if b, _ := os.ReadFile(marks); bytes.Contains(b, []byte("ready")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server script did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(sessionProcs(s.Pid())) < 2 {
		t.Fatalf("the helper is not running: session %v", sessionProcs(s.Pid()))
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(marks)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(b)); !slices.Equal(got, []string{"ready", "server"}) {
		t.Errorf("signalled: %q, want the server alone", got)
	}
}

// TestStartFailsHalfway: a shim-method server that never calls fusermount
// makes Start time out, and nothing is left running or on disk.
func TestStartFailsHalfway(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	marker := "fusectl-test-marker-" + strconv.Itoa(os.Getpid())
	_, err := Start(context.Background(), Options{
		Args:         []string{"sh", "-c", "sleep 1000", marker},
		Method:       ShimPath,
		MountTimeout: 300 * time.Millisecond,
		StopGrace:    100 * time.Millisecond,
		Logf:         t.Logf,
	})
	if err == nil {
		t.Fatal("Start succeeded without a mount")
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && bytes.Contains(b, []byte(marker)) {
			t.Errorf("process %s still runs: %q", e.Name(), b)
		}
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("temp dir left behind: %v", ents[0].Name())
	}
}

// TestNeverSplices recognises jacobsa/fuse binaries as never splicing, and
// nothing else: not a go-fuse binary, not a Go binary without a FUSE
// library, not a script.
func TestNeverSplices(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not building FUSE servers")
	}
	cases := []struct {
		path string
		want bool
	}{
		{buildGo(t, "github.com/jacobsa/fuse/samples/mount_memfs", "mount_memfs"), true},
		{buildGo(t, "github.com/fusectl/fusectl/cmd/demofs", "demofs"), false},
		{os.Args[0], false},
		{"/bin/sh", false},
		{"/nonexistent/server", false},
	}
	for _, c := range cases {
		got, reason := NeverSplices(c.path)
		if got != c.want {
			t.Errorf("NeverSplices(%s) = %v (%s), want %v", c.path, got, reason, c.want)
		}
		if got && reason == "" {
			t.Errorf("NeverSplices(%s) gives no reason", c.path)
		}
	}
}

// TestWantsAutoUnmount: libfuse servers under the namespace method, and
// mergerfs under either shim method, get -o auto_unmount; Go servers never
// do.
func TestWantsAutoUnmount(t *testing.T) {
	exe, err := inspect(os.Args[0]) // a Go binary
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Method{ShimPath, ShimNamespace} {
		if wantsAutoUnmount(exe, m) {
			t.Errorf("a Go server gets -o auto_unmount under %v", m)
		}
	}
	bindfs, err := inspect(testenv.RequireCommand(t, "bindfs"))
	if err != nil {
		t.Fatal(err)
	}
	if !wantsAutoUnmount(bindfs, ShimNamespace) {
		t.Error("bindfs does not get -o auto_unmount under the namespace method")
	}
	if wantsAutoUnmount(bindfs, ShimPath) {
		t.Error("bindfs gets -o auto_unmount under the path method")
	}
	// An interpreter running a libfuse server (fusepy) would take the
	// -o before its script for its own option.
	sh, err := inspect(testenv.RequireCommand(t, "sh"))
	if err != nil {
		t.Fatal(err)
	}
	if wantsAutoUnmount(sh, ShimNamespace) {
		t.Error("sh gets -o auto_unmount under the namespace method")
	}
	// A script passes its arguments on to the server it runs.
	script := filepath.Join(t.TempDir(), "server.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec bindfs \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	x, err := inspect(script)
	if err != nil {
		t.Fatal(err)
	}
	if !wantsAutoUnmount(x, ShimNamespace) {
		t.Error("a script does not get -o auto_unmount under the namespace method")
	}
}

// TestIntercept runs the test binary as a server that opens /dev/fuse and
// calls mount(2) with raw system calls, as a static binary does
// (fakeSelfMount checks what it gets): it must be served over the socket,
// and its mount(2) arguments must come back as mount options.
func TestIntercept(t *testing.T) {
	if err := interceptAvailable(); err != nil {
		t.Skip(err)
	}
	s := startFakeServer(t, "self", Intercept)
	if minor := handshake(t, s.Conn()); minor != 31 {
		t.Errorf("minor %d, want 31", minor)
	}
	want := []string{"ro", "nosuid", "nodev", "default_permissions", "allow_other", "max_read=65536", "fsname=fakefs", "subtype=fake"}
	if got := s.MountOptions(); !slices.Equal(got, want) {
		t.Errorf("MountOptions() = %q, want %q", got, want)
	}
	ic := s.ic
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ic.done:
	default:
		t.Fatal("the interceptor still runs after Stop")
	}
	// /dev/fuse, the read-write open, mount(2), and what the loader and
	// runtime open read-write at exec (nothing, for a Go binary): not
	// the hundred read-only opens.
	if ic.answered < 3 || ic.answered > 10 {
		t.Errorf("the interceptor answered %d calls, want 3 to 10", ic.answered)
	}
}

// TestInterceptPathShim: under the intercept method a server that runs
// fusermount from PATH, as bazil.org/fuse does, gets the socket from the
// shim there, and its fusermount options are the mount options.
func TestInterceptPathShim(t *testing.T) {
	if err := interceptAvailable(); err != nil {
		t.Skip(err)
	}
	s := startFakeServer(t, "1", Intercept)
	handshake(t, s.Conn())
	want := []string{"fsname=fake,server", "allow_other", "default_permissions"}
	if got := s.MountOptions(); !slices.Equal(got, want) {
		t.Errorf("MountOptions() = %q, want %q", got, want)
	}
}

// TestShimSockBeside: the shim finds the rendezvous socket from its own
// path when the server's library gave it an environment of its own.
func TestShimSockBeside(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "shim.sock")
	if got := shimSockBeside(filepath.Join(bin, "fusermount3")); got != "" {
		t.Errorf("no socket yet: %q", got)
	}
	ln, err := net.Listen("unixpacket", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tt := range []struct{ argv0, want string }{
		{filepath.Join(bin, "fusermount3"), sock},
		{"fusermount3", ""},                                // not a path: the shim was found on PATH by name
		{filepath.Join(dir, "fusermount3"), ""},            // not in bin/
		{"bin/fusermount3", ""},                            // relative
		{filepath.Join(dir, "x", "bin", "fusermount"), ""}, // no socket there
	} {
		if got := shimSockBeside(tt.argv0); got != tt.want {
			t.Errorf("shimSockBeside(%q) = %q, want %q", tt.argv0, got, tt.want)
		}
	}
}

// TestInterceptLauncherFails: a server the launcher cannot exec is
// reported with the launcher's reason, and nothing but the server file is
// left.
func TestInterceptLauncherFails(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	bin := filepath.Join(tmp, "not-a-program")
	if err := os.WriteFile(bin, []byte("\x7fELF, but no"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{Args: []string{bin, "{}"}, Method: Intercept, Logf: t.Logf})
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "exec format error") {
		t.Fatalf("Start: %v, want ErrExited with the launcher's reason", err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 1 {
		t.Errorf("temp dir left behind: %v", ents)
	}
}

// TestInterceptLauncherDies: a launcher that exits before handing over its
// listener (here one that is not a launcher at all) is reported at once,
// not after the hand-over's timeout.
func TestInterceptLauncherDies(t *testing.T) {
	notLauncher := testenv.RequireCommand(t, "false")
	start := time.Now()
	_, err := Start(context.Background(), Options{Args: []string{"true", "{}"}, Method: Intercept, ShimPath: notLauncher, Logf: t.Logf})
	if !errors.Is(err, ErrExited) {
		t.Fatalf("Start: %v, want ErrExited", err)
	}
	if d := time.Since(start); d >= handoffTimeout {
		t.Errorf("Start took %v: it waited for the hand-over's timeout", d)
	}
}

func TestKernelAtLeast(t *testing.T) {
	for _, tt := range []struct {
		release string
		want    bool
	}{
		{"6.18.44-fc-v669", true}, {"5.14.0-362.el9.x86_64", true}, {"5.15.0", true},
		{"5.13.19", false}, {"5.4.0-150-generic", false}, {"4.19.0", false}, {"", false}, {"v6", false},
	} {
		if got := kernelAtLeast(tt.release, 5, 14); got != tt.want {
			t.Errorf("kernelAtLeast(%q, 5, 14) = %v", tt.release, got)
		}
	}
}

func TestFuseMountOptions(t *testing.T) {
	for _, tt := range []struct {
		source, fstype string
		flags          uintptr
		data           string
		want           []string
	}{
		{"/img.ntfs", "fuse", 0, "allow_other,fd=4,rootmode=40000,user_id=0,group_id=0",
			[]string{"suid", "dev", "allow_other", "fsname=/img.ntfs"}},
		{"/dev/loop0", "fuseblk", unix.MS_NOSUID | unix.MS_NODEV, "fd=4,rootmode=40000,user_id=0,group_id=0,blksize=4096",
			[]string{"nosuid", "nodev", "blksize=4096", "blkdev", "fsname=/dev/loop0"}},
		{"/dev/sdb1", "fuseblk.ntfs", unix.MS_NODEV, "blkdev,allow_other", []string{"nodev", "suid", "allow_other", "blkdev", "fsname=/dev/sdb1", "subtype=ntfs"}},
		{"sq", "fuse.squashfuse", unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV, "fd=5,rootmode=40000,user_id=0,group_id=0,fsname=x,subtype=y",
			[]string{"ro", "nosuid", "nodev", "fsname=x", "subtype=y"}},
		{"", "fuse.s", unix.MS_NOSUID | unix.MS_NODEV, "", []string{"nosuid", "nodev", "subtype=s"}},
	} {
		if got := fuseMountOptions(tt.source, tt.fstype, tt.flags, tt.data); !slices.Equal(got, tt.want) {
			t.Errorf("fuseMountOptions(%q, %q, %#x, %q) = %q, want %q", tt.source, tt.fstype, tt.flags, tt.data, got, tt.want)
		}
	}
}

// TestServerStdin: the server reads Options.Stdin, where a server that
// asks for a password reads it, and /dev/null without it.
func TestServerStdin(t *testing.T) {
	r := testenv.Input(t, "secret\n")
	args := []string{"sh", "-c", `read -r x; echo "read [$x]"; exec sleep 1000`}
	for _, c := range []struct {
		name  string
		stdin *os.File
		want  string
	}{
		{"given", r, "read [secret]"},
		{"none", nil, "read []"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := startServer(t, Options{Args: args, Method: DevFD, Stdin: c.stdin, StopGrace: 100 * time.Millisecond})
			deadline := time.Now().Add(10 * time.Second)
			for !bytes.Contains(s.Output(), []byte("read [")) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := strings.TrimSpace(string(s.Output())); got != c.want {
				t.Errorf("server printed %q, want %q", got, c.want)
			}
		})
	}
}

// TestRemoveTempSparesAMount: a file system left mounted on the stand-in
// (a daemonized server's real mount that could not be detached) is not
// walked into when the temporary directory goes: its files stay.
func TestRemoveTempSparesAMount(t *testing.T) {
	testenv.RequireRoot(t)
	s := &Server{logf: t.Logf}
	mnt, err := s.makeStandIn()
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "precious"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A bind mount within one file system: the same device as its parent.
	if err := unix.Mount(src, mnt, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	testenv.UnmountOnInterrupt(t, mnt)
	defer func() {
		unix.Unmount(mnt, unix.MNT_DETACH)
		os.RemoveAll(s.tmp)
	}()
	if err := s.removeTemp(); err == nil || !strings.Contains(err.Error(), "still mounted") {
		t.Errorf("removeTemp with a mount on the stand-in: %v, want it left in place", err)
	}
	if _, err := os.Stat(filepath.Join(src, "precious")); err != nil {
		t.Errorf("the mounted file system lost its file: %v", err)
	}
	// Once unmounted, all of it goes.
	if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := s.removeTemp(); err != nil {
		t.Errorf("removeTemp: %v", err)
	}
	if _, err := os.Stat(s.tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary directory left: %v", err)
	}
}

// TestShimPATH: the shim's directory goes first, and an unset PATH does
// not become one that searches the working directory.
func TestShimPATH(t *testing.T) {
	if got := shimPATH("/t/bin", "/usr/bin:/bin"); got != "/t/bin:/usr/bin:/bin" {
		t.Errorf("shimPATH = %q", got)
	}
	if got := shimPATH("/t/bin", ""); got != "/t/bin:/bin:/usr/bin" {
		t.Errorf("shimPATH with PATH unset = %q, want the C library's default after the shim", got)
	}
}

// TestServerMountedItself: a server forced onto a shim method that mounts
// the stand-in by itself (bindfs as root calls mount(2)) and daemonizes is
// told apart from one that failed: the error names the cause, and the
// stand-in is detached and removed.
func TestServerMountedItself(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireFUSE(t)
	bindfs := testenv.RequireCommand(t, "bindfs")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	_, err := Start(context.Background(), Options{Args: []string{bindfs, t.TempDir(), "{}"}, Method: ShimPath, Logf: t.Logf})
	if err == nil || !strings.Contains(err.Error(), "the server mounted by itself") {
		t.Fatalf("Start: %v, want the server's own mount named", err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("temp dir left behind: %v", ents[0].Name())
	}
}
