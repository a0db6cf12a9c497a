package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/client/launch"
	"github.com/fusectl/fusectl/internal/testenv"
)

// fsOps is what the differential test does to a file system: once through
// a kernel mount (os calls), once through the client (FS).
type fsOps interface {
	WriteFile(name string, data []byte, perm fs.FileMode) error
	ReadFile(name string) ([]byte, error)
	Lstat(name string) (fs.FileInfo, error)
	Stat(name string) (fs.FileInfo, error)
	Mkdir(name string, perm fs.FileMode) error
	Remove(name string) error
	Rename(oldname, newname string) error
	Symlink(target, name string) error
	Link(oldname, newname string) error
	ReadLink(name string) (string, error)
	Truncate(name string, size int64) error
	Chmod(name string, mode fs.FileMode) error
	ReadDir(name string) ([]fs.DirEntry, error)
	Setxattr(name, attr string, value []byte, flags uint32) error
	Getxattr(name, attr string) ([]byte, error)
	Listxattr(name string) ([]string, error)
	Removexattr(name, attr string) error
}

// kernelOps runs the operations on a kernel mount at root.
type kernelOps struct{ root string }

func (k kernelOps) p(name string) string { return filepath.Join(k.root, name) }
func (k kernelOps) WriteFile(name string, data []byte, perm fs.FileMode) error {
	return os.WriteFile(k.p(name), data, perm)
}
func (k kernelOps) ReadFile(name string) ([]byte, error)      { return os.ReadFile(k.p(name)) }
func (k kernelOps) Lstat(name string) (fs.FileInfo, error)    { return os.Lstat(k.p(name)) }
func (k kernelOps) Stat(name string) (fs.FileInfo, error)     { return os.Stat(k.p(name)) }
func (k kernelOps) Mkdir(name string, perm fs.FileMode) error { return os.Mkdir(k.p(name), perm) }
func (k kernelOps) Remove(name string) error                  { return os.Remove(k.p(name)) }
func (k kernelOps) Rename(o, n string) error                  { return os.Rename(k.p(o), k.p(n)) }
func (k kernelOps) Symlink(target, name string) error         { return os.Symlink(target, k.p(name)) }
func (k kernelOps) Link(o, n string) error                    { return os.Link(k.p(o), k.p(n)) }
func (k kernelOps) ReadLink(name string) (string, error)      { return os.Readlink(k.p(name)) }
func (k kernelOps) Truncate(name string, size int64) error    { return os.Truncate(k.p(name), size) }
func (k kernelOps) Chmod(name string, mode fs.FileMode) error { return os.Chmod(k.p(name), mode) }
func (k kernelOps) ReadDir(name string) ([]fs.DirEntry, error) {
	return os.ReadDir(k.p(name))
}
func (k kernelOps) Setxattr(name, attr string, value []byte, flags uint32) error {
	return unix.Setxattr(k.p(name), attr, value, int(flags))
}
func (k kernelOps) Getxattr(name, attr string) ([]byte, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Getxattr(k.p(name), attr, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}
func (k kernelOps) Listxattr(name string) ([]string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Listxattr(k.p(name), buf)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range strings.Split(string(buf[:n]), "\x00") {
		if s != "" {
			names = append(names, s)
		}
	}
	return names, nil
}
func (k kernelOps) Removexattr(name, attr string) error { return unix.Removexattr(k.p(name), attr) }

// errnoOf reduces an error to its errno name, or "ok".
func errnoOf(err error) string {
	if err == nil {
		return "ok"
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return abi.Errno(e).String()
	}
	return "error: " + err.Error()
}

func describe(fi fs.FileInfo, err error) string {
	if err != nil {
		return errnoOf(err)
	}
	st := fi.Sys()
	nlink := uint64(0)
	switch a := st.(type) {
	case *syscall.Stat_t:
		nlink = uint64(a.Nlink)
	case *abi.Attr:
		nlink = uint64(a.Nlink)
	}
	if fi.IsDir() {
		// Directory sizes and link counts are the server's business and
		// the kernel's caching of them differs; compare the mode.
		return fmt.Sprintf("%v", fi.Mode())
	}
	return fmt.Sprintf("%v size=%d nlink=%d", fi.Mode(), fi.Size(), nlink)
}

// script is the differential sequence; each step returns a line.
func script(o fsOps) []string {
	var out []string
	add := func(step, result string) { out = append(out, step+": "+result) }
	data := func(b []byte, err error) string {
		if err != nil {
			return errnoOf(err)
		}
		if len(b) > 64 {
			return fmt.Sprintf("%d bytes sum %x", len(b), sum(b))
		}
		return fmt.Sprintf("%q", b)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320000 bytes

	add("write f1", errnoOf(o.WriteFile("f1", []byte("hello world"), 0o644)))
	add("read f1", data(o.ReadFile("f1")))
	add("stat f1", describe(o.Lstat("f1")))
	add("write big", errnoOf(o.WriteFile("big", big, 0o600)))
	add("read big", data(o.ReadFile("big")))
	add("stat big", describe(o.Lstat("big")))
	add("mkdir d", errnoOf(o.Mkdir("d", 0o755)))
	add("mkdir d again", errnoOf(o.Mkdir("d", 0o755)))
	add("stat d", describe(o.Lstat("d")))
	add("rename f1 d/f2", errnoOf(o.Rename("f1", "d/f2")))
	add("stat f1", describe(o.Lstat("f1")))
	add("read d/f2", data(o.ReadFile("d/f2")))
	add("link d/f2 hard", errnoOf(o.Link("d/f2", "hard")))
	add("stat hard", describe(o.Lstat("hard")))
	add("stat d/f2", describe(o.Lstat("d/f2")))
	add("link to existing", errnoOf(o.Link("d/f2", "hard")))
	add("symlink sym", errnoOf(o.Symlink("d/f2", "sym")))
	add("readlink sym", func() string { s, err := o.ReadLink("sym"); return s + " " + errnoOf(err) }())
	add("lstat sym", describe(o.Lstat("sym")))
	add("stat sym", describe(o.Stat("sym")))
	add("read sym", data(o.ReadFile("sym")))
	add("setxattr", errnoOf(o.Setxattr("d/f2", "user.k", []byte("v1"), 0)))
	add("setxattr create again", errnoOf(o.Setxattr("d/f2", "user.k", []byte("v2"), 1)))
	add("getxattr", data(o.Getxattr("d/f2", "user.k")))
	add("listxattr", func() string { l, err := o.Listxattr("d/f2"); slices.Sort(l); return fmt.Sprint(l, " ", errnoOf(err)) }())
	add("removexattr", errnoOf(o.Removexattr("d/f2", "user.k")))
	add("getxattr removed", data(o.Getxattr("d/f2", "user.k")))
	add("truncate", errnoOf(o.Truncate("d/f2", 5)))
	add("read truncated", data(o.ReadFile("d/f2")))
	add("stat truncated", describe(o.Lstat("hard")))
	add("chmod", errnoOf(o.Chmod("d/f2", 0o600)))
	add("stat chmod", describe(o.Lstat("d/f2")))
	add("readdir .", readdir(o, "."))
	add("readdir d", readdir(o, "d"))
	add("remove d (not empty)", errnoOf(o.Remove("d")))
	add("remove hard", errnoOf(o.Remove("hard")))
	add("stat d/f2 after unlink", describe(o.Lstat("d/f2")))
	add("remove d/f2", errnoOf(o.Remove("d/f2")))
	add("remove d", errnoOf(o.Remove("d")))
	add("remove missing", errnoOf(o.Remove("missing")))
	add("read missing", data(o.ReadFile("missing")))
	add("read dir as file", data(o.ReadFile(".")))
	add("mkdir in missing", errnoOf(o.Mkdir("nope/x", 0o755)))
	add("readdir . end", readdir(o, "."))
	return out
}

func readdir(o fsOps, name string) string {
	ents, err := o.ReadDir(name)
	if err != nil {
		return errnoOf(err)
	}
	var s []string
	for _, e := range ents {
		s = append(s, e.Name()+":"+e.Type().String())
	}
	return strings.Join(s, " ")
}

func sum(b []byte) uint32 {
	var h uint32 = 2166136261
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// TestKernelDifferential runs the same sequence through a kernel mount of
// demofs and through the client against a second demofs, and compares
// data, sizes, modes and errnos.
func TestKernelDifferential(t *testing.T) {
	testenv.RequireFUSE(t)
	demofs := buildTool(t, "demofs", "github.com/fusectl/fusectl/cmd/demofs")

	mnt := t.TempDir()
	cmd := exec.Command(demofs, mnt)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.UnmountOnInterrupt(t, mnt)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if mounted(mnt) {
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
	})
	// Wait for the mount: no event tells us, so poll mountinfo.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !mounted(mnt) {
		select {
		case err := <-exited:
			t.Fatalf("demofs exited: %v\n%s", err, out.String())
		case <-tick.C:
		case <-time.After(20 * time.Second):
			t.Fatalf("demofs did not mount\n%s", out.String())
		}
	}

	old := syscall.Umask(0o022)
	syscall.Umask(old)
	c, _ := startReal(t, []string{demofs, "{}"}, Options{}, launch.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fsys := NewFS(c, FSOptions{Umask: uint32(old)}).WithContext(ctx)

	kernel := script(kernelOps{mnt})
	client := script(fsys)
	if len(kernel) != len(client) {
		t.Fatalf("%d kernel steps, %d client steps", len(kernel), len(client))
	}
	for i := range kernel {
		if kernel[i] != client[i] {
			t.Errorf("differs:\n  kernel: %s\n  client: %s", kernel[i], client[i])
		} else {
			t.Logf("same: %s", kernel[i])
		}
	}
}

// mounted reports whether dir is a mount point (per mountinfo).
func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}
