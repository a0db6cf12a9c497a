package procfs

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseFDInfo(t *testing.T) {
	// A /dev/fuse descriptor's fdinfo, with an epoll-style line after it.
	in := "pos:\t0\nflags:\t02100002\nmnt_id:\t24\nino:\t90\nfuse_connection:\t41\ntfd:        5 events: 19 data: 5\ntfd:        6 events: 19 data: 6\nno colon here\n:empty name\nlast:  7"
	got := ParseFDInfo([]byte(in))
	want := map[string]string{"pos": "0", "flags": "02100002", "mnt_id": "24", "ino": "90", "fuse_connection": "41", "tfd": "5 events: 19 data: 5", "last": "7"}
	if len(got) != len(want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// The live readers are checked against this process, whose /proc entries
// are known.
func TestSelf(t *testing.T) {
	self := os.Getpid()
	pids := Pids()
	if !slices.Contains(pids, self) || !slices.IsSorted(pids) {
		t.Errorf("Pids() = %v: want it sorted and to hold %d", pids, self)
	}
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	found := false
	Descriptors(self, func(fd int, target string) bool {
		found = fd == int(f.Fd())
		if found && target != f.Name() {
			t.Errorf("descriptor %d names %q, want %q", fd, target, f.Name())
		}
		return !found
	})
	if !found {
		t.Errorf("descriptor %d of %s not found", f.Fd(), f.Name())
	}
	if info := FDInfo(self, int(f.Fd())); info["pos"] != "0" || info["flags"] == "" {
		t.Errorf("FDInfo = %q, want pos 0 and flags", info)
	}
	if got := Cmdline(self); !slices.Equal(got, os.Args) {
		t.Errorf("Cmdline = %q, want %q", got, os.Args)
	}
	// A child: sleeping, then stopped. (This process's own state is its
	// main thread's, which may sleep while another runs the test.)
	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		child.Process.Kill()
		child.Wait()
	}()
	waitState := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for State(child.Process.Pid) != want {
			if time.Now().After(deadline) {
				t.Fatalf("State of sleep = %q, want %q", State(child.Process.Pid), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitState("S")
	if f := StatFields(child.Process.Pid); len(f) < 13 || f[0] != "S" || f[1] != strconv.Itoa(self) {
		t.Errorf("StatFields of sleep = %q, want state S and our pid as its parent", f)
	}
	if err := child.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitState("T")
	if StatFields(-1) != nil || Cmdline(-1) != nil || FDInfo(-1, 0) != nil || State(-1) != "" {
		t.Error("a missing process gave fields")
	}
}

func FuzzParseFDInfo(f *testing.F) {
	f.Add([]byte("pos:\t0\nflags:\t02100002\nfuse_connection:\t41\n"))
	f.Add([]byte("tfd:        5 events: 19\n::\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k, v := range ParseFDInfo(b) {
			if k == "" || strings.ContainsAny(k, ":\n") || strings.Contains(v, "\n") || strings.TrimSpace(v) != v {
				t.Errorf("field %q = %q", k, v)
			}
			if !strings.Contains(string(b), k+":") {
				t.Errorf("field %q not in the input", k)
			}
		}
	})
}
