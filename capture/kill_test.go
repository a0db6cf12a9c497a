package capture

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestKilledWriter kills a writing process with SIGKILL and reads what it
// left: every record flushed before the kill, without an error.
func TestKilledWriter(t *testing.T) {
	if path := os.Getenv("FCAP_KILL_WRITER"); path != "" {
		killedWriterChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "killed.fcap")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriter$")
	cmd.Env = append(os.Environ(), "FCAP_KILL_WRITER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	// The child prints how many records it has flushed after each Flush.
	sc := bufio.NewScanner(out)
	flushed := 0
	for flushed < 5000 && sc.Scan() {
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			flushed = n
		}
	}
	if flushed < 5000 {
		t.Fatalf("child stopped after %d records: %v", flushed, sc.Err())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, out)
	cmd.Wait()

	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs, err := readAll(t, r, true)
	if err != io.EOF {
		t.Fatalf("after %d records: %v", len(recs), err)
	}
	if len(recs) < flushed {
		t.Errorf("read %d records, %d were flushed", len(recs), flushed)
	}
	for i, rec := range recs {
		if string(rec.Msg) != fmt.Sprintf("record %d", i) {
			t.Fatalf("record %d is %q", i, rec.Msg)
		}
	}
	t.Logf("%d records flushed, %d read, truncated %v", flushed, len(recs), r.Truncated())
}

// killedWriterChild writes records until killed, flushing every 100.
func killedWriterChild(path string) {
	w, err := Create(path, WriterOptions{Interfaces: []Interface{{Name: "/mnt/killed"}}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		if err := w.WriteMsg(time.Now(), 0, DirRequest, 0, fmt.Appendf(nil, "record %d", i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if i%100 == 99 {
			if err := w.Flush(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			fmt.Println(i + 1)
		}
	}
}
