package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/internal/procfs"
	"github.com/fusectl/fusectl/mount"
)

// PsOptions holds what `fusectl ps` needs.
type PsOptions struct {
	IO   *IOStreams
	JSON bool

	// Mounts lists the kernel's FUSE mounts; Running the fusectl mounts;
	// Waiting reads a connection's waiting count; HasSocket reports
	// whether a control socket exists for a mountpoint; Holders lists
	// the processes holding /dev/fuse per connection, Cmdline gives
	// one's command line and State its state letter (R, S, T...). Tests
	// replace them.
	Mounts    func() ([]mount.FUSEMount, error)
	Running   func(ctx context.Context) ([]mount.Running, error)
	Waiting   func(conn uint32) (int, error)
	HasSocket func(mountpoint string) bool
	Holders   func() map[uint32][]int
	Cmdline   func(pid int) []string
	State     func(pid int) string
}

// psRow is one line of `fusectl ps`, and its JSON form.
type psRow struct {
	Mountpoint string `json:"mountpoint"`
	FSType     string `json:"fstype"`
	Source     string `json:"source"`
	Minor      uint32 `json:"minor"`
	// Conn is the connection's number, its directory under
	// /sys/fs/fuse/connections: the minor for type fuse, major<<20|minor
	// for fuseblk.
	Conn       uint32   `json:"conn"`
	Waiting    *int     `json:"waiting"`
	Fusectl    bool     `json:"fusectl"`
	Server     []string `json:"server,omitempty"`
	ServerPid  int      `json:"server_pid,omitempty"`
	FusectlPid int      `json:"fusectl_pid,omitempty"`
	// Holders are the processes with a /dev/fuse descriptor on the
	// connection, where the kernel tells: the server, or fusectl for a
	// fusectl mount.
	Holders []int    `json:"holders,omitempty"`
	Rate    *float64 `json:"rate,omitempty"`
	Dropped uint64   `json:"dropped,omitempty"`
	// Oldest is, for a fusectl mount, the request that has waited
	// longest for the server: on a hung mount, what it hangs on.
	Oldest *psPending `json:"oldest,omitempty"`
	// NotAnswering marks a mount whose fusectl left its control socket
	// but does not answer on it: stopped, hung or killed. FusectlPid is
	// then the process still holding the connection, if any is known.
	NotAnswering bool `json:"not_answering,omitempty"`
	// Stopped: that process is stopped (SIGSTOP, a debugger).
	Stopped bool `json:"stopped,omitempty"`
	// Elsewhere marks a fusectl mount with no control socket here: one of
	// another user, or started with another XDG_RUNTIME_DIR (as under
	// sudo), or stacked on another fusectl mount's mountpoint, whose
	// socket that one has. FusectlPid is its fusectl, if known.
	Elsewhere bool `json:"control_elsewhere,omitempty"`
}

// psPending is mount.Pending for people: the operation by name, the age
// in seconds.
type psPending struct {
	Op     string  `json:"op"`
	NodeID uint64  `json:"nodeid"`
	Path   string  `json:"path,omitempty"`
	Pid    uint32  `json:"pid"`
	Age    float64 `json:"age_seconds"`
}

// String is the table's OLDEST column: "2.1s GETATTR /a/b pid 1234".
func (p *psPending) String() string {
	where := p.Path
	if where == "" {
		where = "n" + strconv.FormatUint(p.NodeID, 10)
	}
	age := time.Duration(p.Age * float64(time.Second))
	return fmt.Sprintf("%s %s %s pid %d", age.Round(roundAge(age)), p.Op, where, p.Pid)
}

// roundAge keeps two or three significant digits of an age.
func roundAge(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return time.Second
	case d >= time.Second:
		return 100 * time.Millisecond
	case d >= time.Millisecond:
		return 100 * time.Microsecond
	default:
		return time.Microsecond
	}
}

// NewCmdPs builds `fusectl ps`.
func NewCmdPs(f *Factory, runF func(*PsOptions) error) *cobra.Command {
	opts := &PsOptions{
		IO:     f.IO,
		Mounts: mount.FUSEMounts,
		Running: func(ctx context.Context) ([]mount.Running, error) {
			return mount.ListRunning(ctx, "")
		},
		Waiting:   mount.Waiting,
		HasSocket: func(mnt string) bool { return mount.HasSocket("", mnt) },
		Holders:   mount.DeviceHolders,
		Cmdline:   procfs.Cmdline,
		State:     procfs.State,
	}
	cmd := &cobra.Command{
		Use:   "ps [--json]",
		Short: "List FUSE mounts and the requests waiting on them",
		Long: heredoc.Doc(`
			List every FUSE mount of the machine (from
			/proc/self/mountinfo): mountpoint, file system type, the
			connection's device minor, and the number of requests waiting on
			it (from the kernel's fusectl control file system at
			/sys/fs/fuse/connections, mounted for the listing if needed;
			needs root). For mounts made by "fusectl mount" it also shows
			the server, its pid, the current message rate, the records its
			capture and live readers dropped because they fell behind, and
			the request that has waited longest for the server (OLDEST: its
			age, operation, path and the thread that made it; on a hung
			mount, what it hangs on); a fusectl mount whose fusectl does not
			answer is marked so, with that fusectl's pid and whether it is
			stopped where the kernel tells which process holds the
			connection (a killed fusectl holds none), and one whose control
			socket is not in this user's directory (another user's, or
			started with another XDG_RUNTIME_DIR, as under sudo) is marked
			so. For other mounts the server is the process holding
			/dev/fuse for the connection, where the kernel tells (its
			fdinfo names the connection on recent kernels; root sees every
			process's). In the table a tab, a newline or a backslash in a
			name is written \t, \n or \\; --json gives names as they are,
			and each connection's number (conn), which names its
			directory under /sys/fs/fuse/connections.
		`),
		Example: heredoc.Doc(`
			$ fusectl ps
			$ fusectl ps --json | jq '.[] | select(.waiting > 0)'
			$ fusectl ps --json | jq '.[] | select(.oldest.age_seconds > 10) | .oldest'
		`),
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			if os.Geteuid() == 0 {
				// Mount the control file system for the listing if it
				// is not mounted (reading it needs root anyway); it is
				// unmounted again afterwards.
				if release, err := mount.UseControlFS(); err == nil {
					defer release()
				}
			}
			return runPs(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array")
	return cmd
}

// cell escapes what would break a row (a mountpoint may hold a tab or a
// newline): as C strings write them, a backslash too.
var cell = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`).Replace

func runPs(ctx context.Context, opts *PsOptions) error {
	mounts, err := opts.Mounts()
	if err != nil {
		return fmt.Errorf("list mounts: %w", err)
	}
	running, err := opts.Running(ctx)
	if err != nil {
		// The mounts are still listed, as mounts of others are.
		fmt.Fprintf(opts.IO.ErrOut, "fusectl: warning: fusectl mounts: %v\n", err)
	}
	byMnt := make(map[string]*mount.Status, len(running))
	for _, r := range running {
		byMnt[r.Status.Mountpoint] = r.Status
	}
	var holders map[uint32][]int
	if opts.Holders != nil {
		holders = opts.Holders()
	}
	rows := make([]psRow, 0, len(mounts))
	for _, m := range mounts {
		row := psRow{Mountpoint: m.Mountpoint, FSType: m.FSType, Source: m.Source, Minor: m.Minor, Conn: m.Conn(), Holders: holders[m.Conn()]}
		if n, err := opts.Waiting(m.Conn()); err == nil {
			row.Waiting = &n
		}
		st := byMnt[m.Mountpoint]
		if st != nil && st.Conn == m.Conn() {
			row.Fusectl = true
			row.Server = st.Server
			row.ServerPid = st.ServerPid
			row.FusectlPid = st.Pid
			// Sampled over a second: more digits would be noise.
			rate := math.Round(st.Rate*10) / 10
			row.Rate = &rate
			row.Dropped = st.Dropped
			if o := st.Oldest; o != nil {
				row.Oldest = &psPending{Op: abi.Opcode(o.Op).String(), NodeID: o.NodeID, Path: o.Path, Pid: o.Pid, Age: o.Age.Seconds()}
			}
		} else if st == nil && opts.HasSocket != nil && opts.HasSocket(m.Mountpoint) {
			row.Fusectl, row.NotAnswering = true, true
			// A killed fusectl holds nothing (and its connection is
			// dead); one that holds it is stopped or hung.
			if len(row.Holders) > 0 {
				row.FusectlPid = row.Holders[0]
				if opts.State != nil {
					st := opts.State(row.FusectlPid)
					row.Stopped = st == "T" || st == "t"
				}
			}
		} else if m.Source == "fusectl" {
			// The holder is fusectl, not the server.
			row.Fusectl, row.Elsewhere = true, true
			if len(row.Holders) > 0 {
				row.FusectlPid = row.Holders[0]
			}
		} else if len(row.Holders) > 0 {
			// Several holders are one server's processes (a forked
			// daemon, a helper); the lowest pid is named.
			row.ServerPid = row.Holders[0]
			if opts.Cmdline != nil {
				row.Server = opts.Cmdline(row.ServerPid)
			}
		}
		rows = append(rows, row)
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	// Aligned columns with a header on a terminal, tab-separated values
	// when piped.
	tty := opts.IO.IsStdoutTTY()
	var out io.Writer = opts.IO.Out
	var tw *tabwriter.Writer
	if tty {
		tw = tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
		out = tw
		fmt.Fprintln(tw, "MOUNTPOINT\tTYPE\tMINOR\tWAITING\tPID\tRATE\tDROPPED\tOLDEST\tSERVER")
	}
	for _, r := range rows {
		waiting := "-"
		if r.Waiting != nil {
			waiting = strconv.Itoa(*r.Waiting)
		}
		pid, rate, dropped, oldest, server := "-", "-", "-", "-", "-"
		if r.Oldest != nil {
			oldest = r.Oldest.String()
		}
		switch {
		case r.NotAnswering && r.Stopped:
			server = fmt.Sprintf("(its fusectl, pid %d, is stopped)", r.FusectlPid)
		case r.NotAnswering && r.FusectlPid != 0:
			server = fmt.Sprintf("(its fusectl, pid %d, does not answer: hung)", r.FusectlPid)
		case r.NotAnswering:
			server = "(its fusectl does not answer: stopped, hung or killed)"
		case r.Elsewhere && r.FusectlPid != 0:
			server = fmt.Sprintf("(a fusectl mount, pid %d, with its control socket elsewhere)", r.FusectlPid)
		case r.Elsewhere:
			server = "(a fusectl mount with its control socket elsewhere)"
		case r.Fusectl:
			pid = strconv.Itoa(r.ServerPid)
			rate = fmt.Sprintf("%.0f/s", *r.Rate)
			dropped = strconv.FormatUint(r.Dropped, 10)
			server = strings.Join(r.Server, " ")
		case r.ServerPid != 0:
			pid = strconv.Itoa(r.ServerPid)
			server = strings.Join(r.Server, " ")
		}
		if _, err := fmt.Fprintln(out, strings.Join([]string{cell(r.Mountpoint), r.FSType, strconv.FormatUint(uint64(r.Minor), 10), waiting, pid, rate, dropped, cell(oldest), cell(server)}, "\t")); err != nil {
			return err // a full disk or a closed pipe, as --json reports it
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}
