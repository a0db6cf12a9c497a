//go:build unix

package capture

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
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
