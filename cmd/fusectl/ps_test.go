package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/fusectl/fusectl/mount"
)

func TestNewCmdPs(t *testing.T) {
	for _, tt := range []struct {
		cli     string
		json    bool
		wantErr string
	}{
		{cli: ""},
		{cli: "--json", json: true},
		{cli: "x", wantErr: `ps takes no arguments, got "x"`},
	} {
		t.Run(tt.cli, func(t *testing.T) {
			got, err := parseOptions(t, tt.cli, NewCmdPs)
			if wantError(t, err, tt.wantErr) {
				return
			}
			if got.JSON != tt.json {
				t.Errorf("json %v, want %v", got.JSON, tt.json)
			}
		})
	}
}

func psFakes(opts *PsOptions) {
	opts.Mounts = func() ([]mount.FUSEMount, error) {
		return []mount.FUSEMount{
			{Mountpoint: "/mnt/a", FSType: "fuse.demofs", Source: "fusectl", Minor: 41},
			{Mountpoint: "/mnt/b", FSType: "fuse.bindfs", Source: "/src", Minor: 42},
			{Mountpoint: "/mnt/c", FSType: "fuse.demofs", Source: "fusectl", Minor: 43},
			// fuseblk: the connection is named by the block device's
			// number, 7:0, in the kernel's encoding.
			{Mountpoint: "/mnt/d", FSType: "fuseblk.ntfs-3g", Source: "/dev/loop0", Major: 7, Minor: 0},
			{Mountpoint: "/mnt/e", FSType: "fuse.demofs", Source: "fusectl", Minor: 44},
			{Mountpoint: "/mnt/f", FSType: "fuse.demofs", Source: "fusectl", Minor: 45},
			// A fusectl mount whose control socket is elsewhere
			// (another user's, another XDG_RUNTIME_DIR): its holder is
			// fusectl, not its server.
			{Mountpoint: "/mnt/g", FSType: "fuse.demofs", Source: "fusectl", Minor: 46},
			// A name with a tab, a newline and a backslash: escaped in
			// the table, not breaking its row.
			{Mountpoint: "/mnt/h\tx\ny\\z", FSType: "fuse", Source: "/src", Minor: 47},
		}, nil
	}
	// The fusectls of /mnt/c, /mnt/e and /mnt/f left their sockets and do
	// not answer: /mnt/c's holds nothing (killed, or a kernel that does
	// not say), /mnt/e's is stopped, /mnt/f's hangs.
	opts.HasSocket = func(mnt string) bool {
		return mnt == "/mnt/a" || mnt == "/mnt/c" || mnt == "/mnt/d" || mnt == "/mnt/e" || mnt == "/mnt/f"
	}
	opts.Running = func(context.Context) ([]mount.Running, error) {
		return []mount.Running{
			{Socket: "/run/fusectl/a.sock", Status: &mount.Status{
				Mountpoint: "/mnt/a", Conn: 41, Server: []string{"demofs", "{}"}, ServerPid: 100, Pid: 99, Rate: 12.4, Dropped: 7,
				Oldest: &mount.Pending{Op: 3, NodeID: 5, Path: "/dir/f", Pid: 1234, Age: 2*time.Minute + 13*time.Second + 400*time.Millisecond}}},
			{Socket: "/run/fusectl/d.sock", Status: &mount.Status{
				Mountpoint: "/mnt/d", Conn: 7 << 20, Server: []string{"ntfs-3g", "img"}, ServerPid: 200, Pid: 199, Rate: 1,
				// A node the interposer does not know: named by ID.
				Oldest: &mount.Pending{Op: 15, NodeID: 9, Pid: 77, Age: 1520 * time.Microsecond}}},
		}, nil
	}
	// Processes holding /dev/fuse: fusectl for /mnt/a, and bindfs (and
	// a child of it) for /mnt/b, the one mount fusectl did not make.
	opts.Holders = func() map[uint32][]int {
		return map[uint32][]int{41: {99}, 42: {300, 301}, 44: {500}, 45: {600}, 46: {700}}
	}
	opts.State = func(pid int) string {
		if pid == 500 {
			return "T"
		}
		return "S"
	}
	opts.Cmdline = func(pid int) []string {
		if pid == 300 {
			return []string{"bindfs", "/src", "/mnt/b"}
		}
		return nil
	}
	opts.Waiting = func(conn uint32) (int, error) {
		switch conn {
		case 41:
			return 3, nil
		case 7 << 20:
			return 1, nil
		}
		return 0, errors.New("no control fs")
	}
}

func TestPsRun(t *testing.T) {
	tests := []struct {
		name string
		tty  bool
		json bool
		want string
	}{
		{name: "tsv", want: "/mnt/a\tfuse.demofs\t41\t3\t100\t12/s\t7\t2m13s GETATTR /dir/f pid 1234\tdemofs {}\n/mnt/b\tfuse.bindfs\t42\t-\t300\t-\t-\t-\tbindfs /src /mnt/b\n" +
			"/mnt/c\tfuse.demofs\t43\t-\t-\t-\t-\t-\t(its fusectl does not answer: stopped, hung or killed)\n" +
			"/mnt/d\tfuseblk.ntfs-3g\t0\t1\t200\t1/s\t0\t1.5ms READ n9 pid 77\tntfs-3g img\n" +
			"/mnt/e\tfuse.demofs\t44\t-\t-\t-\t-\t-\t(its fusectl, pid 500, is stopped)\n" +
			"/mnt/f\tfuse.demofs\t45\t-\t-\t-\t-\t-\t(its fusectl, pid 600, does not answer: hung)\n" +
			"/mnt/g\tfuse.demofs\t46\t-\t-\t-\t-\t-\t(a fusectl mount, pid 700, with its control socket elsewhere)\n" +
			"/mnt/h\\tx\\ny\\\\z\tfuse\t47\t-\t-\t-\t-\t-\t-\n"},
		{name: "tty", tty: true, want: "MOUNTPOINT       TYPE             MINOR  WAITING  PID  RATE  DROPPED  OLDEST                         SERVER\n" +
			"/mnt/a           fuse.demofs      41     3        100  12/s  7        2m13s GETATTR /dir/f pid 1234  demofs {}\n" +
			"/mnt/b           fuse.bindfs      42     -        300  -     -        -                              bindfs /src /mnt/b\n" +
			"/mnt/c           fuse.demofs      43     -        -    -     -        -                              (its fusectl does not answer: stopped, hung or killed)\n" +
			"/mnt/d           fuseblk.ntfs-3g  0      1        200  1/s   0        1.5ms READ n9 pid 77           ntfs-3g img\n" +
			"/mnt/e           fuse.demofs      44     -        -    -     -        -                              (its fusectl, pid 500, is stopped)\n" +
			"/mnt/f           fuse.demofs      45     -        -    -     -        -                              (its fusectl, pid 600, does not answer: hung)\n" +
			"/mnt/g           fuse.demofs      46     -        -    -     -        -                              (a fusectl mount, pid 700, with its control socket elsewhere)\n" +
			"/mnt/h\\tx\\ny\\\\z  fuse             47     -        -    -     -        -                              -\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			opts := &PsOptions{IO: TestIO(nil, &out, io.Discard, tt.tty)}
			psFakes(opts)
			if err := runPs(context.Background(), opts); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("output\n%q\nwant\n%q", out.String(), tt.want)
			}
		})
	}
	var out bytes.Buffer
	opts := &PsOptions{IO: TestIO(nil, &out, io.Discard, false), JSON: true}
	psFakes(opts)
	if err := runPs(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	var rows []psRow
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("json: %v\n%s", err, out.String())
	}
	if len(rows) != 8 || rows[7].Mountpoint != "/mnt/h\tx\ny\\z" || rows[3].Conn != 7<<20 || rows[0].Conn != 41 || !rows[6].Fusectl || !rows[6].Elsewhere || rows[6].FusectlPid != 700 || rows[6].ServerPid != 0 || rows[6].Server != nil || !rows[3].Fusectl || rows[3].ServerPid != 200 || *rows[3].Waiting != 1 || !rows[0].Fusectl || rows[0].NotAnswering || rows[0].ServerPid != 100 || *rows[0].Waiting != 3 || rows[1].Fusectl || rows[1].Waiting != nil ||
		rows[1].ServerPid != 300 || !slices.Equal(rows[1].Holders, []int{300, 301}) || !slices.Equal(rows[0].Holders, []int{99}) ||
		!rows[2].Fusectl || !rows[2].NotAnswering || rows[2].ServerPid != 0 || rows[2].FusectlPid != 0 || rows[2].Stopped ||
		!rows[4].NotAnswering || !rows[4].Stopped || rows[4].FusectlPid != 500 || !rows[5].NotAnswering || rows[5].Stopped || rows[5].FusectlPid != 600 {
		t.Errorf("rows %+v", rows)
	}
	want := psPending{Op: "GETATTR", NodeID: 5, Path: "/dir/f", Pid: 1234, Age: 133.4}
	if o := rows[0].Oldest; o == nil || *o != want || rows[1].Oldest != nil || rows[2].Oldest != nil {
		t.Errorf("oldest requests %v, %v, %v; want %+v, none, none", rows[0].Oldest, rows[1].Oldest, rows[2].Oldest, want)
	}
}

// TestPsOutputError: a failed write of the table is an error, as it is
// with --json, not an exit 0 with the listing lost.
func TestPsOutputError(t *testing.T) {
	full := &fs.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}
	for _, tty := range []bool{false, true} {
		opts := &PsOptions{IO: TestIO(nil, failingWriter{full}, io.Discard, tty)}
		psFakes(opts)
		if err := runPs(context.Background(), opts); !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("tty=%v: error %v, want ENOSPC", tty, err)
		}
	}
}

// failingWriter fails every write with its error.
type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }
