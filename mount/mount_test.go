package mount

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/fusectl/fusectl/capture"
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
	r, err := capture.Open(capPath)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n, reqs, reps int
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 && (rec.Dir != capture.DirRequest || ne.Uint32(rec.Msg[4:]) != opInit) {
			t.Fatalf("first record is not the INIT request")
		}
		n++
		switch rec.Dir {
		case capture.DirRequest:
			if !noReply(ne.Uint32(rec.Msg[4:])) {
				reqs++
			}
		case capture.DirReply:
			reps++
		}
	}
	if reqs == 0 || reqs != reps {
		t.Errorf("capture has %d requests wanting a reply and %d replies", reqs, reps)
	}
	if fi, err := os.Stat(capPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("capture file mode %v, %v; want 0600", fi.Mode(), err)
	}
}
