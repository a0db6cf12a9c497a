//go:build unix

package capture

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestCreateLeavesFIFOMode writes a capture into a named pipe: the records
// reach the reader and the pipe keeps its mode. Create used to set any
// existing file to 0600, which made /dev/null unusable for everyone else
// after a capture to it.
func TestCreateLeavesFIFOMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // past the umask
		t.Fatal(err)
	}
	got := make(chan []Record, 1)
	go func() {
		var recs []Record
		defer func() { got <- recs }()
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		r, err := NewReader(f, ReaderOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		for {
			rec, err := r.Next()
			if err != nil {
				return
			}
			recs = append(recs, *rec)
		}
	}()
	createOne(t, path)
	if recs := <-got; len(recs) != 1 {
		t.Errorf("reader got %d records through the pipe, want 1", len(recs))
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("pipe mode after the capture: %v, want prw-r--r--", st.Mode())
	}
}

func TestCreatePending(t *testing.T) {
	const old = "an earlier capture"
	write := func(w *Writer) {
		t.Helper()
		if err := w.WriteMsg(time.Now(), 0, DirRequest, 0, []byte("0123456789abcdef")); err != nil {
			t.Fatal(err)
		}
	}
	// entries lists dir, to show that no temporary file is left.
	entries := func(dir string) []string {
		t.Helper()
		des, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, de := range des {
			names = append(names, de.Name())
		}
		return names
	}
	opts := WriterOptions{Interfaces: []Interface{{Name: "/mnt"}}}

	t.Run("not kept", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "s.fcap")
		if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
			t.Fatal(err)
		}
		w, err := CreatePending(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		write(w)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != old {
			t.Errorf("before Keep, %s holds %q, want the earlier capture", path, b)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != old {
			t.Errorf("after Close without Keep, %s holds %q, want the earlier capture", path, b)
		}
		if got := entries(dir); len(got) != 1 {
			t.Errorf("directory holds %q, want only s.fcap", got)
		}
	})

	t.Run("kept through a symlink", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "s.fcap")
		if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, "link.fcap")
		if err := os.Symlink("s.fcap", link); err != nil {
			t.Fatal(err)
		}
		w, err := CreatePending(link, opts)
		if err != nil {
			t.Fatal(err)
		}
		write(w)
		if err := w.Keep(); err != nil {
			t.Fatal(err)
		}
		write(w) // records after Keep go to the same file
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode().Type() != os.ModeSymlink {
			t.Errorf("the symlink was replaced: %v, %v", fi, err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", st.Mode().Perm())
		}
		r, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if recs, err := readAll(t, r, true); err != io.EOF || len(recs) != 2 {
			t.Errorf("read %d records, %v; want 2", len(recs), err)
		}
		if got := entries(dir); len(got) != 2 {
			t.Errorf("directory holds %q, want s.fcap and its link", got)
		}
	})

	t.Run("not writable", func(t *testing.T) {
		// A directory in place of the file fails at once, as Create
		// fails, not when the session has started.
		path := filepath.Join(t.TempDir(), "s.fcap")
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := CreatePending(path, opts); err == nil {
			t.Error("CreatePending on a directory succeeded")
		}
		if _, err := CreatePending(filepath.Join(path, "no", "such.fcap"), opts); err == nil {
			t.Error("CreatePending in a missing directory succeeded")
		}
	})
}
