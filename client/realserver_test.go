package client

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/client/launch"
	"github.com/fusectl/fusectl/internal/testenv"
)

// toolDir holds binaries built once per test run (see TestMain).
var (
	toolDir   string
	toolMu    sync.Mutex
	toolBuilt = map[string]string{}
)

// buildTool builds a Go main package once per test run and returns the
// binary's path.
func buildTool(tb testing.TB, name, pkg string) string {
	tb.Helper()
	testenv.RequireCommand(tb, "go")
	toolMu.Lock()
	defer toolMu.Unlock()
	if p, ok := toolBuilt[pkg]; ok {
		return p
	}
	out := filepath.Join(toolDir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	toolBuilt[pkg] = out
	return out
}

// dataDir makes the fixture tree of the real-server tests and returns it
// with the contents of big.bin (1 MiB of random bytes).
func dataDir(tb testing.TB) (string, []byte) {
	tb.Helper()
	dir := tb.TempDir()
	big := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	files := map[string][]byte{
		"a.txt":     []byte("hello from a\n"),
		"b.txt":     []byte("bee\n"),
		"sub/c.txt": []byte("sea\n"),
		"big.bin":   big,
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(dir, "link")); err != nil {
		tb.Fatal(err)
	}
	return dir, big
}

// TestStartServerExits: a server that exits before answering INIT is
// reported by its exit status and output, not by how the socket failed.
func TestStartServerExits(t *testing.T) {
	for _, c := range []struct {
		script, want string
	}{
		{"echo no such image >&2; exit 3", "server exited before answering INIT (exit status 3)"},
		{"exit 0", "server exited before answering INIT (status 0)"},
	} {
		_, _, err := Start(t.Context(), launch.Options{Args: []string{"sh", "-c", c.script, "{}"}, Logf: t.Logf}, Options{Logf: t.Logf})
		var se *StartError
		if !errors.As(err, &se) || err.Error() != c.want || !errors.Is(err, syscall.ENOTCONN) {
			t.Errorf("%q: Start: %v, want a StartError %q that is ENOTCONN", c.script, err, c.want)
			continue
		}
		if !strings.Contains(c.script, "echo") {
			continue
		}
		if !bytes.Contains(se.Output, []byte("no such image")) {
			t.Errorf("output %q lacks the server's message", se.Output)
		}
	}
}

// startReal launches a real server and dials it; both end with the test.
func startReal(tb testing.TB, args []string, opts Options, lopts launch.Options) (*Conn, *launch.Server) {
	tb.Helper()
	testenv.RequireCommand(tb, args[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts.Logf = tb.Logf
	lopts.Args = args
	lopts.Logf = tb.Logf
	c, srv, err := Start(ctx, lopts, opts)
	if err != nil {
		var se *StartError
		if errors.As(err, &se) {
			tb.Fatalf("start %v: %v\nserver output:\n%s", args, err, se.Output)
		}
		tb.Fatalf("start %v: %v", args, err)
	}
	tb.Cleanup(func() {
		c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			tb.Errorf("stop server: %v", err)
		}
	})
	return c, srv
}

// mkSquashfs builds a squashfs image of dir.
func mkSquashfs(tb testing.TB, dir string) string {
	tb.Helper()
	testenv.RequireCommand(tb, "mksquashfs")
	img := filepath.Join(tb.TempDir(), "img.sqfs")
	if out, err := exec.Command("mksquashfs", dir, img, "-noappend", "-quiet").CombinedOutput(); err != nil {
		tb.Fatalf("mksquashfs: %v\n%s", err, out)
	}
	return img
}

// checkReadOnlyTree reads the fixture tree through the FS view.
func checkReadOnlyTree(t *testing.T, fsys *FS, big []byte) {
	t.Helper()
	got, err := fsys.ReadFile("a.txt")
	if err != nil || string(got) != "hello from a\n" {
		t.Errorf("ReadFile a.txt: %q, %v", got, err)
	}
	got, err = fsys.ReadFile("big.bin")
	if err != nil || !bytes.Equal(got, big) {
		t.Errorf("ReadFile big.bin: %d bytes, %v; equal %v", len(got), err, bytes.Equal(got, big))
	}
	got, err = fsys.ReadFile("sub/c.txt")
	if err != nil || string(got) != "sea\n" {
		t.Errorf("ReadFile sub/c.txt: %q, %v", got, err)
	}
	ents, err := fsys.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := "a.txt b.txt big.bin empty link sub"; strings.Join(names, " ") != want {
		t.Errorf("ReadDir: %q, want %q", names, want)
	}
	if _, err := fsys.Stat("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat missing: %v", err)
	}
	if target, err := fsys.ReadLink("link"); err != nil || target != "a.txt" {
		t.Errorf("ReadLink: %q, %v", target, err)
	}
	if fi, err := fsys.Lstat("link"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat link: %v, %v", fi, err)
	}
	if got, err := fsys.ReadFile("link"); err != nil || string(got) != "hello from a\n" {
		t.Errorf("ReadFile link: %q, %v", got, err)
	}
	if err := fstest.TestFS(fsys, "a.txt", "b.txt", "sub/c.txt", "big.bin", "empty", "link"); err != nil {
		t.Errorf("fstest: %v", err)
	}
}

func TestSquashfuse(t *testing.T) {
	testenv.RequireCommand(t, "squashfuse")
	dir, big := dataDir(t)
	img := mkSquashfs(t, dir)
	c, srv := startReal(t, []string{"squashfuse", "-f", img, "{}"}, Options{}, launch.Options{})
	if srv.Method() != launch.DevFD {
		t.Errorf("method %v, want devfd", srv.Method())
	}
	if in := c.Init(); in.Minor < 31 {
		t.Errorf("negotiated %d.%d", in.Major, in.Minor)
	}
	checkReadOnlyTree(t, NewFS(c, FSOptions{}), big)
	// A read-only file system refuses writes with EROFS or ENOSYS.
	if err := NewFS(c, FSOptions{}).Mkdir("new", 0o755); err == nil {
		t.Error("Mkdir on squashfs succeeded")
	}
}

func TestFuseOverlayfs(t *testing.T) {
	testenv.RequireCommand(t, "fuse-overlayfs")
	lower, big := dataDir(t)
	upper, work := t.TempDir(), t.TempDir()
	c, _ := startReal(t, []string{"fuse-overlayfs", "-f", "-o", "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work, "{}"}, Options{}, launch.Options{})
	ctx := context.Background()
	in := c.Init()
	t.Logf("fuse-overlayfs: %d.%d flags %v max_write %d max_pages %d", in.Major, in.Minor, in.Flags, in.MaxWrite, in.MaxPages)

	// A 128 KiB READ reply is spliced into three datagrams; the transport
	// joins them.
	e, err := c.Lookup(ctx, 1, "big.bin")
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Open(ctx, e.NodeID, abi.OpenIn{Flags: syscall.O_RDONLY})
	if err != nil {
		t.Fatal(err)
	}
	if in.MaxPages >= 32 {
		got, err := c.ReadOnce(ctx, e.NodeID, abi.ReadIn{Fh: o.Fh, Size: 128 << 10})
		if err != nil || !bytes.Equal(got, big[:128<<10]) {
			t.Errorf("128 KiB READ: %d bytes, %v", len(got), err)
		}
	}
	c.Release(ctx, e.NodeID, abi.ReleaseIn{Fh: o.Fh})

	// 1 MiB WRITE and 1 MiB READ, byte-exact.
	ce, co, err := c.Create(ctx, 1, "new.bin", abi.CreateIn{Flags: syscall.O_RDWR, Mode: syscall.S_IFREG | 0o644})
	if err != nil {
		t.Fatal(err)
	}
	if in.MaxWrite >= 1<<20 && in.MaxPages >= 256 {
		n, err := c.WriteOnce(ctx, ce.NodeID, abi.WriteIn{Fh: co.Fh}, big)
		if err != nil || n != 1<<20 {
			t.Fatalf("1 MiB WRITE: %d, %v", n, err)
		}
	} else {
		t.Errorf("max_write %d, max_pages %d: no 1 MiB WRITE", in.MaxWrite, in.MaxPages)
		if n, err := c.Write(ctx, ce.NodeID, abi.WriteIn{Fh: co.Fh}, big); err != nil || n != len(big) {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	buf := make([]byte, 1<<20)
	n, err := c.Read(ctx, ce.NodeID, abi.ReadIn{Fh: co.Fh}, buf)
	if err != nil || n != len(buf) || !bytes.Equal(buf, big) {
		t.Errorf("1 MiB READ back: %d, %v", n, err)
	}
	c.Release(ctx, ce.NodeID, abi.ReleaseIn{Fh: co.Fh})
	onDisk, err := os.ReadFile(filepath.Join(upper, "new.bin"))
	if err != nil || !bytes.Equal(onDisk, big) {
		t.Errorf("upper/new.bin: %d bytes, %v", len(onDisk), err)
	}

	fsys := NewFS(c, FSOptions{})
	if err := fsys.Remove("new.bin"); err != nil {
		t.Errorf("Remove: %v", err)
	}
	checkReadOnlyTree(t, fsys, big)
}

func TestBindfs(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "bindfs")
	dir, big := dataDir(t)
	c, srv := startReal(t, []string{"bindfs", "-f", dir, "{}"}, Options{}, launch.Options{})
	if srv.Method() != launch.Intercept {
		t.Errorf("method %v, want intercept", srv.Method())
	}
	if in := c.Init(); in.Minor != 19 || in.ReplySize != 24 {
		t.Errorf("libfuse2 INIT: %d.%d, %d-byte reply", in.Major, in.Minor, in.ReplySize)
	}
	t.Logf("bindfs mount options: %v", srv.MountOptions())
	if len(srv.MountOptions()) == 0 {
		t.Error("no mount options seen in its mount(2)")
	}
	fsys := NewFS(c, FSOptions{})
	checkReadOnlyTree(t, fsys, big)
	if err := fsys.WriteFile("w.txt", []byte("written"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "w.txt")); err != nil || string(b) != "written" {
		t.Errorf("w.txt on disk: %q, %v", b, err)
	}
}

func TestDemofs(t *testing.T) {
	demofs := buildTool(t, "demofs", "github.com/fusectl/fusectl/cmd/demofs")
	dir, big := dataDir(t)
	c, srv := startReal(t, []string{demofs, "-seed", dir, "{}"}, Options{}, launch.Options{})
	if srv.Method() != launch.DevFD {
		t.Errorf("method %v", srv.Method())
	}
	in := c.Init()
	if in.ServerFlags&abi.FUSE_INIT_EXT != 0 && in.Flags&abi.FUSE_INIT_EXT != 0 && in.Offered&abi.FUSE_INIT_EXT == 0 {
		t.Error("INIT_EXT kept though not offered")
	}
	fsys := NewFS(c, FSOptions{})
	checkReadOnlyTree(t, fsys, big)
	if err := fsys.WriteFile("x/y", nil, 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteFile in a missing dir: %v", err)
	}
	if err := fsys.Mkdir("x", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsys.WriteFile("x/y", []byte("why"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(fsys, "a.txt", "x/y", "big.bin"); err != nil {
		t.Errorf("fstest after writes: %v", err)
	}
	// A SETATTR reply carries what a GETATTR reply does: the inode
	// number and the attribute timeout (demofs's -ttl, 1 s by default).
	ent, err := c.Lookup(t.Context(), abi.FUSE_ROOT_ID, "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Setattr(t.Context(), ent.NodeID, abi.SetattrIn{Valid: abi.FATTR_MODE, Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	if got.Attr.Ino != ent.Attr.Ino || got.AttrValid != 1 || got.Attr.Mode != syscall.S_IFREG|0o600 {
		t.Errorf("SETATTR reply: ino %d (lookup %d), attr_valid %d s, mode %o", got.Attr.Ino, ent.Attr.Ino, got.AttrValid, got.Attr.Mode)
	}
}

func TestJacobsaMemfs(t *testing.T) {
	memfs := buildTool(t, "mount_memfs", "github.com/jacobsa/fuse/samples/mount_memfs")
	c, _ := startReal(t, []string{memfs, "--mount_point", "{}"}, Options{}, launch.Options{})
	in := c.Init()
	if in.MaxReadahead > DefaultMaxReadahead {
		t.Errorf("max_readahead %d not clamped to the %d offered", in.MaxReadahead, DefaultMaxReadahead)
	}
	fsys := NewFS(c, FSOptions{})
	data := bytes.Repeat([]byte("jacobsa "), 16<<10)
	if err := fsys.WriteFile("f", data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := fsys.ReadFile("f")
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("read back %d bytes, %v", len(got), err)
	}
	if err := fsys.Mkdir("d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Rename("f", "d/g"); err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(fsys, "d/g"); err != nil {
		t.Errorf("fstest: %v", err)
	}
}

// TestHungServer stops the server with SIGSTOP: a call must end with the
// context's deadline, and once the server runs again it must see the
// INTERRUPT (libfuse's debug output names every request it reads).
func TestHungServer(t *testing.T) {
	testenv.RequireCommand(t, "squashfuse")
	dir, _ := dataDir(t)
	img := mkSquashfs(t, dir)
	var rec bytes.Buffer
	w, err := capture.NewWriter(&rec, capture.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, srv := startReal(t, []string{"squashfuse", "-d", img, "{}"}, Options{Recorder: w}, launch.Options{})
	if _, err := c.Getattr(context.Background(), 1, abi.GetattrIn{}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(srv.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = c.Lookup(ctx, 1, "a.txt")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lookup on a stopped server: %v, want context.DeadlineExceeded", err)
	}
	if err := syscall.Kill(srv.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// The server answers the LOOKUP late (dropped) and reads the INTERRUPT.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !bytes.Contains(srv.Output(), []byte("INTERRUPT")) || c.Stats().LateReplies == 0 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("server never reported the INTERRUPT (late replies %d); output:\n%s", c.Stats().LateReplies, srv.Output())
		}
	}
	// The connection goes on.
	if _, err := c.Lookup(context.Background(), 1, "a.txt"); err != nil {
		t.Errorf("Lookup after SIGCONT: %v", err)
	}
	c.Close()
	w.Flush()
	if !bytes.Contains(rec.Bytes(), interruptPrefix(t)) {
		t.Error("no INTERRUPT in the recording")
	}
}

// interruptPrefix is the opcode field of an INTERRUPT in-header, to find
// in a recording.
func interruptPrefix(t *testing.T) []byte {
	h := abi.InHeader{Len: 48, Opcode: abi.FUSE_INTERRUPT}
	return h.Append(nil, abi.NativeEndian)[:8]
}

// TestKilledServer kills the server while a call is pending: the call and
// every later one fail with ENOTCONN.
func TestKilledServer(t *testing.T) {
	testenv.RequireCommand(t, "squashfuse")
	dir, _ := dataDir(t)
	img := mkSquashfs(t, dir)
	c, srv := startReal(t, []string{"squashfuse", "-f", img, "{}"}, Options{}, launch.Options{})
	if err := syscall.Kill(srv.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Lookup(context.Background(), 1, "a.txt")
		errc <- err
	}()
	// Wait until the request has left: the stopped server cannot answer.
	for {
		c.mu.Lock()
		n := len(c.pending)
		c.mu.Unlock()
		if n > 0 {
			break
		}
		select {
		case err := <-errc:
			t.Fatalf("Lookup returned %v before the kill", err)
		case <-time.After(time.Millisecond):
		}
	}
	if err := syscall.Kill(srv.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, syscall.ENOTCONN) {
			t.Errorf("pending Lookup: %v, want ENOTCONN", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pending call not failed after SIGKILL")
	}
	if _, err := c.Getattr(context.Background(), 1, abi.GetattrIn{}); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("later call: %v, want ENOTCONN", err)
	}
}
