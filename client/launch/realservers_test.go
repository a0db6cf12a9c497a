package launch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fusectl/fusectl/internal/testenv"
)

// dataDir makes a small directory tree for servers that serve one.
func dataDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "a.txt"), []byte("hello from a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(d, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "sub", "c.txt"), []byte("c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func squashImage(t *testing.T) string {
	t.Helper()
	testenv.RequireCommand(t, "mksquashfs")
	img := filepath.Join(t.TempDir(), "img.squashfs")
	if out, err := exec.Command("mksquashfs", dataDir(t), img, "-noappend", "-quiet").CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs: %v\n%s", err, out)
	}
	return img
}

// ntfsImage makes an empty NTFS image.
func ntfsImage(t *testing.T) string {
	t.Helper()
	testenv.RequireCommand(t, "mkntfs")
	img := filepath.Join(t.TempDir(), "img.ntfs")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkntfs", "-q", "-F", "-f", img).CombinedOutput(); err != nil {
		t.Fatalf("mkntfs: %v\n%s", err, out)
	}
	return img
}

// TestRealServers starts real FUSE servers over the socketpair with the
// method Auto picks (or a forced one), runs INIT and GETATTR(1), and stops
// them, checking that nothing is left behind.
func TestRealServers(t *testing.T) {
	tests := []struct {
		name   string
		cmd    string // must be on PATH, unless build is set
		build  string // Go package to build as the server
		method Method // forced; Auto means check what Auto picks
		want   Method
		args   func(t *testing.T, bin string) []string
	}{
		{name: "squashfuse", cmd: "squashfuse", want: DevFD, args: func(t *testing.T, bin string) []string {
			return []string{bin, "-f", squashImage(t), "{}"}
		}},
		{name: "fuse-overlayfs", cmd: "fuse-overlayfs", want: DevFD, args: func(t *testing.T, bin string) []string {
			l, d := dataDir(t), t.TempDir()
			u, w := filepath.Join(d, "u"), filepath.Join(d, "w")
			os.Mkdir(u, 0o755)
			os.Mkdir(w, 0o755)
			return []string{bin, "-f", "-o", "lowerdir=" + l + ",upperdir=" + u + ",workdir=" + w, "{}"}
		}},
		{name: "bindfs", cmd: "bindfs", want: Intercept, args: func(t *testing.T, bin string) []string {
			return []string{bin, "-f", dataDir(t), "{}"}
		}},
		{name: "squashfuse-namespace", cmd: "squashfuse", method: ShimNamespace, want: ShimNamespace, args: func(t *testing.T, bin string) []string {
			return []string{bin, "-f", squashImage(t), "{}"}
		}},
		// Some servers (rclone) refuse a mountpoint that is mounted
		// already; a real fusermount mounts it only when called.
		{name: "bindfs-namespace-checks-mountpoint", cmd: "bindfs", method: ShimNamespace, want: ShimNamespace, args: func(t *testing.T, bin string) []string {
			script := filepath.Join(t.TempDir(), "bindfs-checking")
			err := os.WriteFile(script, []byte(`#!/bin/sh
for mnt; do :; done
if grep -q " $mnt " /proc/self/mountinfo; then echo "$mnt is mounted already" >&2; exit 1; fi
exec `+bin+` "$@"
`), 0o755)
			if err != nil {
				t.Fatal(err)
			}
			return []string{script, "-f", dataDir(t), "{}"}
		}},
		{name: "demofs", build: "github.com/fusectl/fusectl/cmd/demofs", want: DevFD, args: func(t *testing.T, bin string) []string {
			return []string{bin, "-ttl", "0", "-seed", dataDir(t), "{}"}
		}},
		{name: "jacobsa-memfs", build: "github.com/jacobsa/fuse/samples/mount_memfs", want: DevFD, args: func(t *testing.T, bin string) []string {
			return []string{bin, "--mount_point", "{}"}
		}},
		// ntfs-3g opens /dev/fuse and calls mount(2) in its own code.
		{name: "ntfs-3g", cmd: "ntfs-3g", want: Intercept, args: func(t *testing.T, bin string) []string {
			return []string{bin, "-o", "no_detach", ntfsImage(t), "{}"}
		}},
		// As root, libfuse 3 and 2 and jacobsa/fuse mount by themselves
		// when given a directory (without auto_unmount): a static Go
		// binary among them, which LD_PRELOAD could not reach.
		{name: "squashfuse-intercept", cmd: "squashfuse", method: Intercept, want: Intercept, args: func(t *testing.T, bin string) []string {
			return []string{bin, "-f", squashImage(t), "{}"}
		}},
		{name: "bindfs-namespace", cmd: "bindfs", method: ShimNamespace, want: ShimNamespace, args: func(t *testing.T, bin string) []string {
			return []string{bin, "-f", dataDir(t), "{}"}
		}},
		// go-fuse given a directory runs fusermount from PATH with an
		// environment of its own (_FUSE_COMMFD alone), then opens its
		// poll-hack file in the mountpoint: demofs exits if either fails.
		{name: "demofs-intercept", build: "github.com/fusectl/fusectl/cmd/demofs", method: Intercept, want: Intercept, args: func(t *testing.T, bin string) []string {
			return []string{bin, "-ttl", "0", "-seed", dataDir(t), "{}"}
		}},
		{name: "demofs-shim-path", build: "github.com/fusectl/fusectl/cmd/demofs", method: ShimPath, want: ShimPath, args: func(t *testing.T, bin string) []string {
			return []string{bin, "-ttl", "0", "-seed", dataDir(t), "{}"}
		}},
		{name: "jacobsa-memfs-intercept", build: "github.com/jacobsa/fuse/samples/mount_memfs", method: Intercept, want: Intercept, args: func(t *testing.T, bin string) []string {
			return []string{bin, "--mount_point", "{}"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var bin string
			if tt.build != "" {
				if testing.Short() {
					t.Skip("-short: not building Go servers")
				}
				bin = buildGo(t, tt.build, filepath.Base(tt.build))
			} else {
				bin = testenv.RequireCommand(t, tt.cmd)
			}
			if tt.want == ShimNamespace || tt.want == Intercept {
				// Intercept: the servers above mount by themselves
				// only as root, and Debian's ntfs-3g is setuid.
				testenv.RequireRoot(t)
			}
			if tt.method == Auto {
				got, reason, err := DetectMethod(bin)
				if err != nil || got != tt.want {
					t.Fatalf("DetectMethod = %v (%s), %v; want %v", got, reason, err, tt.want)
				}
			}
			s := startServer(t, Options{Args: tt.args(t, bin), Method: tt.method})
			if s.Method() != tt.want {
				t.Fatalf("method %v, want %v", s.Method(), tt.want)
			}
			minor := handshake(t, s.Conn())
			t.Logf("%s: method %v, proto 7.%d, mount options %q", tt.name, s.Method(), minor, s.MountOptions())
			if tt.want != DevFD && len(s.MountOptions()) == 0 {
				t.Error("a shim-launched server reported no mount options")
			}
		})
	}
}

// TestForcedShimOnSelfMounter forces the PATH shim on jacobsa memfs, which
// as root mounts by itself with mount(2) and never calls fusermount: Start
// must time out and leave no mount, process or directory behind.
func TestForcedShimOnSelfMounter(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not building Go servers")
	}
	testenv.RequireFUSE(t)
	bin := buildGo(t, "github.com/jacobsa/fuse/samples/mount_memfs", "mount_memfs")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	_, err := Start(context.Background(), Options{
		Args:         []string{bin, "--mount_point", "{}"},
		Method:       ShimPath,
		MountTimeout: 2 * time.Second,
		StopGrace:    500 * time.Millisecond,
		Logf:         t.Logf,
	})
	if err == nil {
		t.Fatal("Start succeeded although the server never called fusermount")
	}
	t.Logf("Start: %v", err)
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), tmp) {
		t.Errorf("a mount under %s is left:\n%s", tmp, mounts)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("temp dir left behind: %v", ents[0].Name())
	}
}

// TestDaemonizedServerPid runs squashfuse without -f: libfuse forks, and
// the process Start ran exits while its child serves the socket. Pid must
// then name the child. The child is stopped (SIGSTOP) so that it cannot
// exit at end of stream: Stop must still end it, through SIGKILL, as
// startServer's cleanup checks of the pid Pid gives.
func TestDaemonizedServerPid(t *testing.T) {
	bin := testenv.RequireCommand(t, "squashfuse")
	daemon := 0
	t.Cleanup(func() { // after Stop: only if Stop failed
		if daemon != 0 {
			syscall.Kill(daemon, syscall.SIGKILL)
		}
	})
	s := startServer(t, Options{Args: []string{bin, squashImage(t), "{}"}, StopGrace: 200 * time.Millisecond})
	started := s.cmd.Process.Pid
	handshake(t, s.Conn())
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("squashfuse without -f did not daemonize: pid %d still runs", started)
	}
	daemon = s.Pid()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", daemon))
	if daemon == started || err != nil || strings.TrimSpace(string(comm)) != "squashfuse" {
		t.Fatalf("Pid() = %d (%q, %v) after pid %d exited, want the daemonized squashfuse", daemon, comm, err, started)
	}
	if err := syscall.Kill(daemon, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
}
