package mount

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	ko, ignored, err := parseMountOptions([]string{"rw,nosuid,nodev,allow_other,default_permissions,auto_unmount,fsname=DATA", "max_read=65536,subtype=demo", "ro,noexec"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"allow_other", "default_permissions", "max_read=65536"}; !slices.Equal(ko.data, want) {
		t.Errorf("data %q, want %q", ko.data, want)
	}
	if want := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_RDONLY | unix.MS_NOEXEC); ko.flags != want {
		t.Errorf("flags %#x, want %#x", ko.flags, want)
	}
	if ko.fsname != "DATA" || ko.subtype != "demo" || ko.maxRead != 65536 {
		t.Errorf("fsname %q subtype %q max_read %d", ko.fsname, ko.subtype, ko.maxRead)
	}
	if ko.fstype() != "fuse.demo" || ko.source() != "DATA" {
		t.Errorf("fstype %q source %q", ko.fstype(), ko.source())
	}
	if !slices.Equal(ignored, []string{"auto_unmount"}) {
		t.Errorf("ignored %q", ignored)
	}
	for _, bad := range []string{"fd=3", "max_read=x", "allow_other=1", "rootmode=40000"} {
		if _, _, err := parseMountOptions([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSocketName(t *testing.T) {
	a, b := socketName("/mnt/x"), socketName("/srv/x")
	if a == b {
		t.Errorf("different mountpoints share socket name %q", a)
	}
	if len(socketName("/"+string(make([]byte, 300)))) > 100 {
		t.Errorf("socket name too long for sun_path")
	}
}

// TestRemoveStale keeps a socket someone listens on and removes one whose
// listener is gone, as a SIGKILLed fusectl leaves it.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.sock")
	ln, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if !removeStale(live) {
		t.Error("a listened-on socket is reported stale")
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a listened-on socket was removed: %v", err)
	}

	stale := filepath.Join(dir, "stale.sock")
	dead, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	dead.SetUnlinkOnClose(false)
	dead.Close()
	if removeStale(stale) {
		t.Error("a socket nobody listens on is reported live")
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale socket left: %v", err)
	}
	if removeStale(filepath.Join(dir, "missing.sock")) {
		t.Error("a missing socket is reported live")
	}
}

// TestControlPathTooLong mounts with a control directory too deep for a
// socket address: the mount works, and ControlErr says why capture and ps
// cannot reach it and what to do.
func TestControlPathTooLong(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	m, mnt := startMount(t, demofsArgs(t), Options{ControlDir: dir})
	if m.ControlSocket() != "" {
		t.Errorf("control socket %s with a %d-byte path", m.ControlSocket(), len(dir))
	}
	if err := m.ControlErr(); err == nil || !strings.Contains(err.Error(), "XDG_RUNTIME_DIR") {
		t.Errorf("ControlErr() = %v, want the path length and what to do", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(mnt, &st); err != nil {
		t.Errorf("stat of the mount: %v", err)
	}
}

// TestListRunningHung lists a control directory with one fusectl that
// answers and four that accept and never answer (stopped or hung): the
// answering one is listed, and the hung ones cost one timeout together,
// not one each.
func TestListRunningHung(t *testing.T) {
	dir, err := os.MkdirTemp("", "ctl") // short: socket paths are bounded
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	listen := func(name string, serve func(c net.Conn)) {
		ln, err := net.Listen("unix", filepath.Join(dir, name+".sock"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go serve(c)
			}
		}()
	}
	listen("ok", func(c net.Conn) {
		defer c.Close()
		bufio.NewReader(c).ReadString('\n')
		fmt.Fprintln(c, `{"mountpoint":"/mnt/ok","minor":7}`)
	})
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	for i := range 4 {
		listen(fmt.Sprint("hung", i), func(c net.Conn) {
			// Holds the connection, says nothing.
			<-done
			c.Close()
		})
	}
	defer func(d time.Duration) { statusPatience = d }(statusPatience)
	statusPatience = 400 * time.Millisecond
	start := time.Now()
	got, err := ListRunning(context.Background(), dir)
	took := time.Since(start)
	if err != nil || len(got) != 1 || got[0].Status.Mountpoint != "/mnt/ok" {
		t.Fatalf("ListRunning = %+v, %v; want the one that answers", got, err)
	}
	// One at a time, the four would take 1.6 s.
	if took > 1200*time.Millisecond {
		t.Errorf("listing took %v with four hung fusectls of %v each", took, statusPatience)
	}
}

// TestControlDirMustBePrivate: a control directory another user could
// write to (made first by them under a shared /tmp) is refused, by the
// mount and by the clients that list it, and its sockets are not used.
func TestControlDirMustBePrivate(t *testing.T) {
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", SocketPath(dir, "/mnt/p"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if paths, err := ControlSockets(dir); err != nil || len(paths) != 1 || !HasSocket(dir, "/mnt/p") {
		t.Fatalf("private directory: %q, %v", paths, err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if paths, err := ControlSockets(dir); err == nil || !strings.Contains(err.Error(), "not private") {
		t.Errorf("world-writable directory: %q, %v; want it refused", paths, err)
	}
	m := &Mount{opts: Options{ControlDir: dir}, mnt: "/mnt/x"}
	if s, err := m.listenControl(); err == nil {
		s.close()
		t.Errorf("listenControl in a world-writable directory succeeded")
	}
	if HasSocket(dir, "/mnt/p") {
		t.Errorf("HasSocket trusts a world-writable directory")
	}
	// Root with a user's XDG_RUNTIME_DIR (sudo -E) is told so.
	if os.Geteuid() == 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, 1, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := ControlSockets(dir); err == nil || !strings.Contains(err.Error(), "sudo -E") {
			t.Errorf("a user's directory, for root: %v; want the sudo -E hint", err)
		}
	}
	// A missing directory is no mount, not an error.
	if paths, err := ControlSockets(filepath.Join(dir, "none")); err != nil || len(paths) != 0 {
		t.Errorf("missing directory: %q, %v", paths, err)
	}
}
