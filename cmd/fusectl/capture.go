package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
	"github.com/fusectl/fusectl/mount"
)

// CaptureOptions holds what `fusectl capture` needs.
type CaptureOptions struct {
	IO *IOStreams

	Output   string
	Mount    string
	Count    int
	Duration time.Duration
	Ops      []string
	Paths    []string
	Pid      int
	SnapLen  int

	// ControlDir is where control sockets are looked up ("" default).
	ControlDir string
}

// NewCmdCapture builds `fusectl capture`.
func NewCmdCapture(f *Factory, runF func(*CaptureOptions) error) *cobra.Command {
	opts := &CaptureOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "capture -o FILE|- [--mount MNT] [flags]",
		Short: "Record the traffic of a running fusectl mount",
		Long: heredoc.Doc(`
			Attach to a running "fusectl mount" (the only one, unless --mount
			names it) and record its messages to a .fcap file, or to standard
			output with -o -.

			The capture starts with synthesized records (the INIT exchange and
			one LOOKUP per node the kernel knows, flagged synthesized) so that
			it decodes paths and the protocol version like a capture taken
			from the start. Filters keep the requests that match and their
			replies. Ctrl-C ends the capture and closes the file properly.
		`),
		Example: heredoc.Doc(`
			$ fusectl capture -o s.fcap --duration 10s
			$ fusectl capture -o - --op LOOKUP,GETATTR | fusectl decode -
			$ fusectl capture -o big.fcap --mount /mnt/x --snaplen 256 --path /data
		`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Output == "" {
				return flagErrorf("-o FILE or -o - is required")
			}
			if opts.Count < 0 || opts.SnapLen < 0 || opts.Duration < 0 || opts.Pid < 0 {
				return flagErrorf("-c, --duration, --pid and --snaplen take non-negative values")
			}
			if opts.SnapLen > 0 && opts.SnapLen < 64 {
				return flagErrorf("--snaplen %d is too small to keep the headers (minimum 64)", opts.SnapLen)
			}
			for _, op := range opts.Ops {
				if _, ok := parseOp(op); !ok {
					return flagErrorf("--op: unknown opcode %q", op)
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return runCapture(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "write the capture to `file` (- for standard output)")
	cmd.Flags().StringVar(&opts.Mount, "mount", "", "the mountpoint of the fusectl mount to attach to")
	cmd.Flags().IntVarP(&opts.Count, "count", "c", 0, "stop after `n` live records (0: no limit)")
	cmd.Flags().DurationVar(&opts.Duration, "duration", 0, "stop after this long (0: no limit)")
	cmd.Flags().StringSliceVar(&opts.Ops, "op", nil, "keep only these opcodes (LOOKUP,READ,...; NOTIFY for notifications)")
	cmd.Flags().StringSliceVar(&opts.Paths, "path", nil, "keep only requests on these paths and below")
	cmd.Flags().IntVar(&opts.Pid, "pid", 0, "keep only requests made by this process")
	cmd.Flags().IntVar(&opts.SnapLen, "snaplen", 0, "cut messages at this many `bytes` (0: whole)")
	return cmd
}

// parseOp maps an opcode name ("LOOKUP", "lookup", "FUSE_LOOKUP") or
// "NOTIFY" to an opcode; NOTIFY is 0.
func parseOp(name string) (abi.Opcode, bool) {
	n := strings.TrimPrefix(strings.ToUpper(name), "FUSE_")
	if n == "NOTIFY" {
		return 0, true
	}
	for _, in := range abi.Ops() {
		if in.Name == n {
			return in.Op, true
		}
	}
	return 0, false
}

func runCapture(ctx context.Context, opts *CaptureOptions) error {
	r, err := mount.FindRunning(ctx, opts.ControlDir, opts.Mount)
	if err != nil {
		return err
	}
	if opts.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Duration)
		defer cancel()
	}
	feed, err := mount.OpenFeed(ctx, r.Socket, mount.FeedOptions{SnapLen: opts.SnapLen})
	if err != nil {
		return err
	}
	// Closing the connection is how a cancelled context ends a blocked
	// read.
	stop := context.AfterFunc(ctx, func() { feed.Close() })
	defer stop()
	defer feed.Close()

	wopts := capture.WriterOptions{
		Interfaces: []capture.Interface{{Name: r.Status.Mountpoint, Description: strings.Join(r.Status.Server, " ")}},
		SnapLen:    opts.SnapLen,
	}
	var w *capture.Writer
	if opts.Output == "-" {
		w, err = capture.NewWriter(opts.IO.Out, wopts)
	} else {
		w, err = capture.Create(opts.Output, wopts)
	}
	if err != nil {
		return fmt.Errorf("create capture: %w", err)
	}
	flt := newCaptureFilter(opts)
	live := 0
	var rec capture.Record
	var ferr error
	for opts.Count == 0 || live < opts.Count {
		ev, err := feed.Next()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, io.EOF) {
				ferr = err
			}
			break
		}
		if !flt.keep(ev) {
			continue
		}
		rec = capture.Record{Time: ev.Time, Dir: ev.Dir, Flags: ev.Flags, Msg: ev.Msg, OrigLen: ev.OrigLen}
		if err := w.Write(&rec); err != nil {
			ferr = fmt.Errorf("write capture: %w", err)
			break
		}
		if ev.Flags&capture.FlagSynthesized == 0 {
			live++
		}
		if feed.Buffered() == 0 {
			// Nothing more waiting: flush, so a live reader (decode -)
			// sees the record now.
			if err := w.Flush(); err != nil {
				ferr = fmt.Errorf("flush capture: %w", err)
				break
			}
		}
	}
	cerr := w.Close()
	if d := feed.Dropped(); d > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "warning: %d records dropped: the capture could not keep up with the mount\n", d)
	}
	if opts.Output != "-" {
		fmt.Fprintf(opts.IO.ErrOut, "%d records captured from %s to %s\n", live, r.Status.Mountpoint, opts.Output)
	}
	if ferr != nil {
		return ferr
	}
	if cerr != nil {
		return fmt.Errorf("close capture: %w", cerr)
	}
	return nil
}

// captureFilter keeps the requests that match every given condition, the
// replies to them, and what decoding needs (INIT and synthesized records).
type captureFilter struct {
	ops     []abi.Opcode
	notify  bool
	paths   []string
	pid     uint32
	any     bool
	sess    *decode.Session
	rec     decode.Record
	matched map[uint64]bool
}

func newCaptureFilter(opts *CaptureOptions) *captureFilter {
	f := &captureFilter{pid: uint32(opts.Pid), paths: opts.Paths}
	for _, o := range opts.Ops {
		op, _ := parseOp(o)
		if op == 0 {
			f.notify = true
		} else {
			f.ops = append(f.ops, op)
		}
	}
	f.any = len(opts.Ops) > 0 || len(opts.Paths) > 0 || opts.Pid > 0
	if f.any {
		f.sess = decode.NewSession(decode.Options{})
		f.matched = make(map[uint64]bool)
	}
	return f
}

func (f *captureFilter) keep(ev *mount.Event) bool {
	if !f.any {
		return true
	}
	// Decode everything, kept or not, so that paths stay known.
	f.sess.DecodeMsg(ev.Time, ev.Dir, ev.Flags, ev.Msg, ev.OrigLen, abi.NativeEndian, &f.rec)
	r := &f.rec
	if ev.Flags&capture.FlagSynthesized != 0 || r.Op == abi.FUSE_INIT {
		return true
	}
	switch ev.Dir {
	case capture.DirNotify:
		return f.notify || (len(f.ops) == 0 && len(f.paths) == 0 && f.pid == 0)
	case capture.DirReply:
		id := r.Unique
		if f.matched[id] {
			delete(f.matched, id)
			return true
		}
		return false
	}
	ok := (len(f.ops) == 0 && !f.notify) || slices.Contains(f.ops, r.Op)
	if ok && f.pid != 0 {
		ok = r.PID == f.pid
	}
	if ok && len(f.paths) > 0 {
		ok = false
		for _, p := range f.paths {
			if pathUnder(string(r.Path), p) {
				ok = true
				break
			}
		}
	}
	if ok && !noReplyOp(r.Op) {
		if len(f.matched) >= 1<<16 {
			clear(f.matched) // bound memory if replies never come
		}
		f.matched[r.Unique] = true
	}
	return ok
}

func noReplyOp(op abi.Opcode) bool {
	in := op.Info()
	return in != nil && in.NoReply
}

// pathUnder reports whether p is prefix or below it.
func pathUnder(p, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return true
	}
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}
