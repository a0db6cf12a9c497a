package demofs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/fusectl/fusectl/internal/testenv"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// mount mounts f through the kernel on a temporary directory.
func mount(t *testing.T, f *FS) string {
	t.Helper()
	testenv.RequireFUSE(t)
	mnt := t.TempDir()
	srv, err := f.Mount(mnt, MountConfig{})
	if err != nil {
		t.Fatal(err)
	}
	testenv.UnmountOnInterrupt(t, mnt)
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		srv.Wait()
	})
	return mnt
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func stat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	must(t, syscall.Lstat(p, &st))
	return &st
}

func TestOperations(t *testing.T) {
	f, err := New(Options{})
	must(t, err)
	mnt := mount(t, f)
	p := func(name string) string { return filepath.Join(mnt, name) }

	// Files: write, read, append, truncate.
	must(t, os.WriteFile(p("a"), []byte("hello"), 0o640))
	af, err := os.OpenFile(p("a"), os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = af.WriteString(" world")
	must(t, err)
	must(t, af.Close())
	if b, _ := os.ReadFile(p("a")); string(b) != "hello world" {
		t.Fatalf("read %q", b)
	}
	must(t, os.Truncate(p("a"), 5))
	must(t, os.Truncate(p("a"), 8))
	if b, _ := os.ReadFile(p("a")); !bytes.Equal(b, []byte("hello\x00\x00\x00")) {
		t.Fatalf("after truncates: %q", b)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 40000)
	must(t, os.WriteFile(p("big"), big, 0o600))
	if b, _ := os.ReadFile(p("big")); !bytes.Equal(b, big) {
		t.Fatal("640000-byte file read back differently")
	}

	// chmod, chown, utimens.
	// chown clears set-user-ID, so it goes first.
	must(t, os.Chown(p("a"), 1234, 5678))
	must(t, syscall.Chmod(p("a"), 0o4711)) // os.Chmod drops 0o4000
	mt := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	must(t, os.Chtimes(p("a"), mt, mt))
	st := stat(t, p("a"))
	if st.Mode != syscall.S_IFREG|0o4711 || st.Uid != 1234 || st.Gid != 5678 || st.Size != 8 {
		t.Fatalf("attributes mode %o uid %d gid %d size %d", st.Mode, st.Uid, st.Gid, st.Size)
	}
	if got := time.Unix(st.Mtim.Unix()); !got.Equal(mt) {
		t.Fatalf("mtime %v, want %v", got, mt)
	}

	// Directories, symlinks, hard links.
	must(t, os.MkdirAll(p("d/e"), 0o755))
	if st := stat(t, p("d")); st.Nlink != 3 {
		t.Errorf("dir with one subdir has nlink %d, want 3", st.Nlink)
	}
	must(t, os.Symlink("../a", p("d/l")))
	if tgt, err := os.Readlink(p("d/l")); err != nil || tgt != "../a" {
		t.Fatalf("readlink: %q, %v", tgt, err)
	}
	must(t, os.Link(p("a"), p("d/hard")))
	if st1, st2 := stat(t, p("a")), stat(t, p("d/hard")); st1.Ino != st2.Ino || st1.Nlink != 2 {
		t.Fatalf("hard link: inos %d %d, nlink %d", st1.Ino, st2.Ino, st1.Nlink)
	}
	if err := os.Link(p("d"), p("dlink")); err == nil {
		t.Error("hard link to a directory succeeded")
	}
	must(t, syscall.Mkfifo(p("fifo"), 0o600))
	if st := stat(t, p("fifo")); st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		t.Errorf("fifo mode %o", st.Mode)
	}

	// Rename: plain, over a file, over a non-empty directory, below itself.
	must(t, os.Rename(p("big"), p("d/big2")))
	must(t, os.WriteFile(p("c"), []byte("c"), 0o600))
	must(t, os.Rename(p("c"), p("d/big2")))
	if b, _ := os.ReadFile(p("d/big2")); string(b) != "c" {
		t.Fatalf("rename over a file: %q", b)
	}
	must(t, os.Mkdir(p("empty"), 0o755))
	if err := os.Rename(p("empty"), p("d")); !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
		t.Errorf("rename over a non-empty dir: %v", err)
	}
	if err := os.Rename(p("d"), p("d/e/x")); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("rename below itself: %v", err)
	}

	// Unlink, rmdir.
	must(t, os.Remove(p("d/hard")))
	if st := stat(t, p("a")); st.Nlink != 1 {
		t.Errorf("nlink after unlinking a hard link: %d", st.Nlink)
	}
	if err := syscall.Rmdir(p("d")); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Errorf("rmdir of a non-empty dir: %v", err)
	}
	must(t, os.Remove(p("empty")))
	must(t, os.RemoveAll(p("d")))
	ents, err := os.ReadDir(mnt)
	must(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"a", "fifo"}; !slices.Equal(names, want) {
		t.Errorf("root lists %q, want %q", names, want)
	}

	// Extended attributes.
	must(t, syscall.Setxattr(p("a"), "user.k", []byte("v1"), 0))
	if err := syscall.Setxattr(p("a"), "user.k", []byte("v2"), 1 /* XATTR_CREATE */); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("XATTR_CREATE on an existing name: %v", err)
	}
	buf := make([]byte, 64)
	n, err := syscall.Getxattr(p("a"), "user.k", buf)
	if err != nil || string(buf[:n]) != "v1" {
		t.Fatalf("getxattr: %q, %v", buf[:n], err)
	}
	if n, err := syscall.Listxattr(p("a"), buf); err != nil || string(buf[:n]) != "user.k\x00" {
		t.Fatalf("listxattr: %q, %v", buf[:n], err)
	}
	must(t, syscall.Removexattr(p("a"), "user.k"))
	if _, err := syscall.Getxattr(p("a"), "user.k", buf); !errors.Is(err, syscall.ENODATA) {
		t.Errorf("getxattr after removal: %v", err)
	}

	// statfs.
	var sfs syscall.Statfs_t
	must(t, syscall.Statfs(mnt, &sfs))
	if sfs.Blocks != totalBlocks || sfs.Bfree >= sfs.Blocks || sfs.Files != totalFiles || sfs.Ffree >= sfs.Files {
		t.Errorf("statfs: %+v", sfs)
	}
}

// TestDirLinks follows a directory's link count (2 + subdirectories)
// through every operation that moves a subdirectory.
func TestDirLinks(t *testing.T) {
	f, err := New(Options{})
	must(t, err)
	mnt := mount(t, f)
	p := func(name string) string { return filepath.Join(mnt, name) }
	want := func(step string, links map[string]uint64) {
		t.Helper()
		for name, n := range links {
			if st := stat(t, p(name)); st.Nlink != n {
				t.Errorf("after %s: %q has nlink %d, want %d", step, name, st.Nlink, n)
			}
		}
	}
	for _, d := range []string{"a", "a/x", "a/y", "b"} {
		must(t, os.Mkdir(p(d), 0o755))
	}
	must(t, os.WriteFile(p("b/f"), nil, 0o644))
	want("mkdir", map[string]uint64{".": 4, "a": 4, "b": 2})
	must(t, os.Rename(p("a/x"), p("b/x")))
	want("moving a/x to b", map[string]uint64{".": 4, "a": 3, "b": 3})
	must(t, unix.Rename(p("b/x"), p("a/y"))) // os.Rename refuses an existing directory
	want("moving b/x over the empty a/y", map[string]uint64{".": 4, "a": 3, "b": 2})
	must(t, os.Rename(p("a/y"), p("a/z")))
	want("renaming a/y in place", map[string]uint64{"a": 3})
	must(t, unix.Renameat2(unix.AT_FDCWD, p("a/z"), unix.AT_FDCWD, p("b/f"), unix.RENAME_EXCHANGE))
	want("exchanging a/z with the file b/f", map[string]uint64{".": 4, "a": 2, "b": 3})
	must(t, os.Remove(p("b/f")))
	want("rmdir b/f", map[string]uint64{".": 4, "a": 2, "b": 2})
	must(t, os.Rename(p("b"), p("a/b")))
	want("moving b into a", map[string]uint64{".": 3, "a": 3, "a/b": 2})
}

// TestDirAttrCost checks that a directory's attributes cost the same
// whatever it holds: with zero timeouts every path lookup asks for them.
func TestDirAttrCost(t *testing.T) {
	f, err := New(Options{})
	must(t, err)
	mnt := mount(t, f)
	must(t, os.Mkdir(filepath.Join(mnt, "d"), 0o755))
	for i := range 1000 {
		must(t, os.WriteFile(filepath.Join(mnt, "d", fmt.Sprint(i)), nil, 0o644))
	}
	d := f.root.GetChild("d").Operations().(*node)
	var a fuse.Attr
	f.mu.Lock()
	allocs := testing.AllocsPerRun(100, func() { d.fill(&a) })
	f.mu.Unlock()
	if allocs != 0 || a.Nlink != 2 {
		t.Errorf("attributes of a directory of 1000 files: %v allocations, nlink %d; want 0 and 2", allocs, a.Nlink)
	}
}

func TestSeed(t *testing.T) {
	src := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(src, "sub"), 0o750))
	must(t, os.WriteFile(filepath.Join(src, "sub", "f"), []byte("seeded"), 0o604))
	must(t, os.Link(filepath.Join(src, "sub", "f"), filepath.Join(src, "f2")))
	must(t, os.Symlink("sub/f", filepath.Join(src, "l")))
	xattrs := syscall.Setxattr(filepath.Join(src, "f2"), "user.seed", []byte("x"), 0) == nil

	f, err := New(Options{Seed: src})
	must(t, err)
	mnt := mount(t, f)
	if b, err := os.ReadFile(filepath.Join(mnt, "sub", "f")); err != nil || string(b) != "seeded" {
		t.Fatalf("seeded file: %q, %v", b, err)
	}
	st, st2 := stat(t, filepath.Join(mnt, "sub", "f")), stat(t, filepath.Join(mnt, "f2"))
	if st.Mode != syscall.S_IFREG|0o604 || st.Nlink != 2 || st.Ino != st2.Ino {
		t.Errorf("seeded hard link: mode %o nlink %d inos %d %d", st.Mode, st.Nlink, st.Ino, st2.Ino)
	}
	if st := stat(t, filepath.Join(mnt, "sub")); st.Mode != syscall.S_IFDIR|0o750 || st.Nlink != 2 {
		t.Errorf("seeded dir mode %o nlink %d", st.Mode, st.Nlink)
	}
	if st := stat(t, mnt); st.Nlink != 3 {
		t.Errorf("seeded root with one subdirectory has nlink %d, want 3", st.Nlink)
	}
	if tgt, err := os.Readlink(filepath.Join(mnt, "l")); err != nil || tgt != "sub/f" {
		t.Errorf("seeded symlink: %q, %v", tgt, err)
	}
	if xattrs {
		buf := make([]byte, 8)
		if n, err := syscall.Getxattr(filepath.Join(mnt, "sub", "f"), "user.seed", buf); err != nil || string(buf[:n]) != "x" {
			t.Errorf("seeded xattr: %q, %v", buf[:n], err)
		}
	} else {
		t.Log("temp dir has no user xattrs; not checking seeded xattrs")
	}
	// The copy is independent of the source.
	must(t, os.WriteFile(filepath.Join(mnt, "f2"), []byte("changed"), 0o600))
	if b, _ := os.ReadFile(filepath.Join(src, "f2")); string(b) != "seeded" {
		t.Errorf("source changed: %q", b)
	}
}

func TestSeedErrors(t *testing.T) {
	if _, err := New(Options{Seed: "/nonexistent/dir"}); err == nil {
		t.Error("missing seed accepted")
	}
	file := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(file, nil, 0o600))
	if _, err := New(Options{Seed: file}); err == nil {
		t.Error("seed that is a file accepted")
	}
}

// TestNotifyTriggers checks the notification and sleep attributes on a
// direct mount: bad requests fail, a retrieve gets the cached contents
// back, and nothing is stored under the trigger names.
func TestNotifyTriggers(t *testing.T) {
	f, err := New(Options{})
	must(t, err)
	mnt := mount(t, f)
	p := func(name string) string { return filepath.Join(mnt, name) }
	must(t, os.WriteFile(p("a"), []byte("cached\n"), 0o644))
	must(t, os.Mkdir(p("d"), 0o755))
	must(t, os.WriteFile(p("d/x"), nil, 0o644))

	for _, tt := range []struct {
		path, value string
		want        error
	}{
		{"a", "frob", syscall.EINVAL},
		{"a", "inval_entry:x", syscall.EINVAL}, // not a directory
		{"d", "delete:nope", syscall.ENOENT},
		{"a", "store@soon", syscall.EINVAL},
		{"a", "store", nil},
		{"a", "inval_inode@1ms", nil},
		{"d", "inval_entry:x", nil},
	} {
		if err := syscall.Setxattr(p(tt.path), NotifyXattr, []byte(tt.value), 0); !errors.Is(err, tt.want) {
			t.Errorf("notify %s on %s: %v, want %v", tt.value, tt.path, err, tt.want)
		}
	}
	start := time.Now()
	must(t, syscall.Setxattr(p("a"), SleepXattr, []byte("50ms"), 0))
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("a 50ms sleep took %v", d)
	}
	if err := syscall.Setxattr(p("a"), SleepXattr, []byte("2h"), 0); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("a 2h sleep: %v, want EINVAL", err)
	}

	// Fill the page cache, then ask for it back.
	if b, err := os.ReadFile(p("a")); err != nil || string(b) != "cached\n" {
		t.Fatalf("read a: %q, %v", b, err)
	}
	must(t, syscall.Setxattr(p("a"), NotifyXattr, []byte("retrieve"), 0))
	buf := make([]byte, 64)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := syscall.Getxattr(p("a"), RetrievedXattr, buf)
		if err == nil {
			if got := string(buf[:n]); got != "7" {
				t.Errorf("retrieved %q bytes, want 7", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no retrieve result: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	n, err := syscall.Listxattr(p("a"), buf)
	must(t, err)
	if names := string(buf[:n]); names != RetrievedXattr+"\x00" {
		t.Errorf("xattrs of a: %q, want only %s", names, RetrievedXattr)
	}
}
