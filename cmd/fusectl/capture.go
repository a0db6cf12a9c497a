package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MakeNowJust/heredoc"
	"github.com/dustin/go-humanize"
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
	SnapLen  int
	// The filter flags decode has too; a path may also be given as the
	// file's full path under the mountpoint.
	filterFlags
	filter decode.Filter

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
			from the start. Filters (the same as decode's) keep the requests
			that match and their replies; a --path may be given relative to
			the mount's root, as decode shows paths, or as the full path under
			the mountpoint. Ctrl-C ends the capture and closes the file
			properly. On a terminal, a status line counts what was recorded
			(and dropped) so far.

			Records the capture could not keep up with are dropped, never
			waited for: the mount does not slow down. The file marks where
			they are missing, and the count is reported at the end.
		`),
		Example: heredoc.Doc(`
			$ fusectl capture -o s.fcap --duration 10s
			$ fusectl capture -o - --op LOOKUP,GETATTR | fusectl decode -
			$ fusectl capture -o big.fcap --mount /mnt/x --snaplen 256 --path /data
		`),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return flagErrorf("capture takes no arguments, got %q (a mount is named with --mount MNT)", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Output == "" {
				return flagErrorf("-o FILE or -o - is required")
			}
			if opts.Output == "-" {
				if err := refuseTerminal(opts.IO, "-o"); err != nil {
					return err
				}
			}
			switch {
			case opts.Count < 0:
				return flagErrorf("invalid -c %d: must not be negative", opts.Count)
			case opts.Duration < 0:
				return flagErrorf("invalid --duration %v: must not be negative", opts.Duration)
			case opts.SnapLen < 0:
				return flagErrorf("invalid --snaplen %d: must not be negative", opts.SnapLen)
			}
			if opts.SnapLen > 0 && opts.SnapLen < 64 {
				return flagErrorf("--snaplen %d is too small to keep the headers (minimum 64)", opts.SnapLen)
			}
			flt, err := opts.filterFlags.parse(cmd.Flags())
			if err != nil {
				return err
			}
			opts.filter = flt
			if runF != nil {
				return runF(opts)
			}
			return runCapture(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "write the capture to `file` (- for standard output)")
	cmd.Flags().StringVar(&opts.Mount, "mount", "", "the mountpoint of the fusectl mount to attach to")
	cmd.Flags().IntVarP(&opts.Count, "count", "c", 0, "stop after `n` live records (0: no limit)")
	cmd.Flags().DurationVar(&opts.Duration, "duration", 0, "stop after recording live traffic this long, after the synthesized records (0: no limit)")
	opts.filterFlags.register(cmd.Flags())
	cmd.Flags().IntVar(&opts.SnapLen, "snaplen", 0, "cut messages at this many `bytes` (0: whole)")
	return cmd
}

// liveFlushEvery bounds how long a kept record waits in the writer's buffer
// while the feed stays busy.
const liveFlushEvery = 100 * time.Millisecond

func runCapture(ctx context.Context, opts *CaptureOptions) error {
	r, err := mount.FindRunning(ctx, opts.ControlDir, opts.Mount)
	if err != nil {
		return err
	}
	// --duration counts live traffic: a mount that knows many nodes takes
	// a while to send its synthesized prelude, and a capture cut inside it
	// would not decode its paths. The timer starts when the prelude is
	// over, or at the first live record from a fusectl that does not say.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var startOnce sync.Once
	startDuration := func() {
		if opts.Duration > 0 {
			startOnce.Do(func() { time.AfterFunc(opts.Duration, cancel) })
		}
	}
	feed, err := mount.OpenFeed(ctx, r.Socket, mount.FeedOptions{SnapLen: opts.SnapLen, Processes: opts.filter.HasPID, OnLive: startDuration})
	if err != nil {
		return err
	}
	// A cancelled context (Ctrl-C, --duration) asks the mount to end the
	// feed: what is already on its way is still recorded, and the final
	// count of dropped records comes with the end.
	stop := context.AfterFunc(ctx, feed.Stop)
	defer stop()
	defer feed.Close()

	if err := checkOutput(opts, r.Status); err != nil {
		return err
	}
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
	flt := newCaptureFilter(opts.filter, r.Status.Mountpoint)
	var progress captureProgress
	if opts.IO.IsStderrTTY() && opts.Output != "-" {
		// As dumpcap does on a terminal: a running count, rewritten in
		// place, gone before the summary.
		progress.show(opts.IO.ErrOut, fmt.Sprintf("capturing from %s to %s: ", r.Status.Mountpoint, opts.Output), time.Second)
		defer progress.stop()
	}
	live := 0
	var lost uint64
	var rec capture.Record
	var ferr error
	// Kept records are flushed when the feed has nothing more waiting, so
	// that a live reader (decode -) sees them now, and at least every
	// liveFlushEvery while a busy feed never runs dry.
	unflushed := false
	var flushed time.Time
	ended := false    // the mount ended, and with it the feed
	var unended error // why the feed, asked to end, ended otherwise
	for opts.Count == 0 || live < opts.Count {
		ev, err := feed.Next()
		if err != nil {
			switch {
			case ctx.Err() == nil: // not Ctrl-C or --duration
				ended = errors.Is(err, io.EOF)
				if !ended {
					ferr = err
				}
			case !errors.Is(err, io.EOF):
				unended = err
			}
			break
		}
		if ev.Flags&capture.FlagSynthesized == 0 {
			startDuration()
		}
		progress.dropped.Store(feed.Dropped())
		// What was lost before a record the filter leaves out is told at
		// the next record kept.
		lost += ev.Lost
		if ok, msg, flags := flt.keep(ev); ok {
			rec = capture.Record{Time: ev.Time, Dir: ev.Dir, Flags: flags, Msg: msg, OrigLen: ev.OrigLen, Lost: lost}
			lost = 0
			// The writer's errors say "write capture" already.
			if err := w.Write(&rec); err != nil {
				ferr = err
				break
			}
			if flags&capture.FlagSynthesized == 0 {
				live++
				progress.records.Add(1)
			}
			progress.bytes.Add(int64(len(ev.Msg)))
			unflushed = true
		}
		if unflushed && (feed.Buffered() == 0 || time.Since(flushed) >= liveFlushEvery) {
			if err := w.Flush(); err != nil {
				ferr = err
				break
			}
			unflushed, flushed = false, time.Now()
		}
	}
	// The total, with any lost after the last record, in the file too.
	if d := feed.Dropped(); d > 0 {
		w.SetLost(0, d)
	}
	cerr := w.Close()
	progress.stop()
	if unended != nil {
		// Never silent: what was still on its way is missing, and so
		// may be the last of the drops.
		fmt.Fprintf(opts.IO.ErrOut, "fusectl: warning: the capture ended without the mount's final count (%v): records still on their way are not in it, and the count of dropped records may be short\n", unended)
	}
	if d := feed.Dropped(); d > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "fusectl: warning: %s dropped: the capture could not keep up with the mount\n", counted(d, "record", "records"))
	}
	if opts.Output != "-" {
		why := ""
		if ended {
			why = " (the mount ended)"
		}
		fmt.Fprintf(opts.IO.ErrOut, "%s captured from %s to %s%s\n", counted(uint64(live), "record", "records"), r.Status.Mountpoint, opts.Output, why)
	}
	if ferr != nil {
		return ferr
	}
	if cerr != nil {
		return fmt.Errorf("close capture: %w", cerr)
	}
	return nil
}

// captureProgress is the running count a capture to a file shows on a
// terminal.
type captureProgress struct {
	records, bytes atomic.Int64
	dropped        atomic.Uint64
	done           chan struct{}
	stopped        chan struct{}
}

// show rewrites the status line on w every period until stop is called,
// which clears it.
func (p *captureProgress) show(w io.Writer, prefix string, period time.Duration) {
	p.done, p.stopped = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.stopped)
		t := time.NewTicker(period)
		defer t.Stop()
		shown := false
		for {
			select {
			case <-t.C:
				line := fmt.Sprintf("\r%s%s, %s", prefix, counted(uint64(p.records.Load()), "record", "records"), humanize.IBytes(uint64(p.bytes.Load())))
				if d := p.dropped.Load(); d > 0 {
					line += fmt.Sprintf(", %d dropped", d)
				}
				io.WriteString(w, line+"\x1b[K")
				shown = true
			case <-p.done:
				if shown {
					io.WriteString(w, "\r\x1b[K")
				}
				return
			}
		}
	}()
}

// stop clears the status line and ends its updates; it may be called
// again, and does nothing if show was not called.
func (p *captureProgress) stop() {
	if p.done == nil {
		return
	}
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	<-p.stopped
}

// refuseTerminal refuses a capture to standard output when that is a
// terminal, as gzip does: binary on a terminal is garbage at best. fileFlag
// is the flag that takes a file instead.
func refuseTerminal(ios *IOStreams, fileFlag string) error {
	if !ios.IsStdoutTTY() {
		return nil
	}
	return fmt.Errorf("standard output is a terminal: not writing a binary capture to it; pipe it (| fusectl decode -) or use %s FILE", fileFlag)
}

// checkOutput refuses a capture written to the mount it records: each
// write of the capture would be recorded, and recording it would write
// again, without end (two seconds of it made a 160 MB file). It stats the
// output's directory, or standard output, before anything is created.
func checkOutput(opts *CaptureOptions, st *mount.Status) error {
	var (
		fi   os.FileInfo
		err  error
		name = opts.Output
	)
	if opts.Output == "-" {
		f, ok := opts.IO.Out.(*os.File)
		if !ok {
			return nil
		}
		fi, err = f.Stat()
		name = "standard output"
	} else {
		// Where the file will be: a symbolic link, dangling or not, is
		// followed by the create.
		p := opts.Output
		for range 40 {
			l, err := os.Readlink(p)
			if err != nil {
				break
			}
			if !filepath.IsAbs(l) {
				l = filepath.Join(filepath.Dir(p), l)
			}
			p = l
		}
		fi, err = os.Stat(filepath.Dir(p))
	}
	if err != nil {
		return nil // creating the file reports it
	}
	if mount.OnConnection(fi, st.Conn) {
		return fmt.Errorf("%s is on %s, the mount being captured: every write of the capture would be recorded in it again, without end; write it to another file system", name, st.Mountpoint)
	}
	return nil
}

// captureFilter keeps the records a decode.Filter selects (a reply carries
// its request's operation, process and path, so a kept request keeps its
// reply) and what decoding needs: the INIT exchange, the synthesized
// records, and the requests and replies that name nodes (LOOKUP, CREATE,
// RENAME, READDIRPLUS...), so that the file's paths decode as in a
// capture of everything. Those go in as synthesized records (fed to a
// decoder's state, not counted as traffic), under uniques of the
// synthesized range.
type captureFilter struct {
	f    decode.Filter
	any  bool
	sess *decode.Session
	rec  decode.Record
	// processOf maps the thread IDs of requests to their processes, as
	// fusectl mount found them (Event.Process), so that a reply and an
	// INTERRUPT find their request's.
	processOf map[uint32]uint32
	// naming maps the uniques of node-naming requests written as
	// synthesized to the uniques they were given; next is the last given.
	naming map[uint64]uint64
	next   uint64
	buf    []byte
}

// filterUniqueBase starts the uniques of the node-naming records a
// filtered capture keeps: even, in the synthesized range (docs/fcap.md),
// and above those of a mount's synthesized prelude.
const filterUniqueBase = 1<<62 | 1<<61

// namesNodes reports whether an operation's success changes the paths a
// decoder knows.
func namesNodes(op abi.Opcode) bool {
	switch op {
	case abi.FUSE_LOOKUP, abi.FUSE_MKNOD, abi.FUSE_MKDIR, abi.FUSE_SYMLINK, abi.FUSE_LINK,
		abi.FUSE_CREATE, abi.FUSE_TMPFILE, abi.FUSE_RENAME, abi.FUSE_RENAME2,
		abi.FUSE_UNLINK, abi.FUSE_RMDIR, abi.FUSE_READDIRPLUS:
		return true
	}
	return false
}

func newCaptureFilter(f decode.Filter, mountpoint string) *captureFilter {
	// Paths in records are relative to the mount's root.
	if mnt := strings.TrimSuffix(mountpoint, "/"); mnt != "" && (f.Path == mnt || strings.HasPrefix(f.Path, mnt+"/")) {
		f.Path = "/" + strings.TrimPrefix(f.Path[len(mnt):], "/")
	}
	c := &captureFilter{f: f, any: f != (decode.Filter{}), processOf: map[uint32]uint32{}, naming: map[uint64]uint64{}, next: filterUniqueBase}
	if c.any {
		c.sess = decode.NewSession(decode.Options{})
	}
	return c
}

// keep reports whether ev goes into the file, and the message and flags
// to write there (a node-naming record the filter leaves out, made
// synthesized).
func (c *captureFilter) keep(ev *mount.Event) (bool, []byte, capture.Flags) {
	if !c.any {
		return true, ev.Msg, ev.Flags
	}
	// Decode everything, kept or not, so that paths stay known.
	c.sess.DecodeMsg(ev.Time, ev.Dir, ev.Flags, ev.Msg, ev.OrigLen, abi.NativeEndian, &c.rec)
	if ev.Flags&capture.FlagSynthesized != 0 || c.rec.Op == abi.FUSE_INIT {
		return true, ev.Msg, ev.Flags
	}
	var u uint64
	if len(ev.Msg) >= 16 {
		u = abi.NativeEndian.Uint64(ev.Msg[8:])
	}
	// A reply goes as its request went: one written as synthesized is
	// followed by its reply under the unique it was given, whatever the
	// filter says of the reply (--nodeid matches a LOOKUP's reply, not
	// its request, which names the directory).
	if _, synth := c.naming[u]; !(ev.Dir == capture.DirReply && synth) && c.match(ev) {
		return true, ev.Msg, ev.Flags
	}
	// Left out: a node-naming request goes in as synthesized, and so
	// does its reply, under the unique it was given.
	if len(ev.Msg) < 16 {
		return false, nil, 0
	}
	var to uint64
	switch {
	case ev.Dir == capture.DirRequest && namesNodes(c.rec.Op):
		if len(c.naming) >= 4096 {
			clear(c.naming) // requests that never got their reply
		}
		c.next += 2
		to = c.next
		c.naming[u] = to
	case ev.Dir == capture.DirReply:
		var ok bool
		if to, ok = c.naming[u]; !ok {
			return false, nil, 0
		}
		delete(c.naming, u)
	default:
		return false, nil, 0
	}
	c.buf = append(c.buf[:0], ev.Msg...)
	abi.NativeEndian.PutUint64(c.buf[8:], to)
	return true, c.buf, ev.Flags | capture.FlagSynthesized
}

// match applies the filter to the record just decoded.
func (c *captureFilter) match(ev *mount.Event) bool {
	if !c.f.HasPID {
		return c.f.Match(&c.rec)
	}
	// The kernel sends the calling thread's ID, so a process's other
	// threads have pids of their own: match them by their process, which
	// fusectl mount looked up while the thread waited.
	// (An INTERRUPT's own pid is 0: it names its request's thread.)
	if ev.Dir == capture.DirRequest && c.rec.PID != 0 {
		if len(c.processOf) >= 4096 {
			clear(c.processOf)
		}
		c.processOf[c.rec.PID] = ev.Process
	}
	tid := c.rec.PID
	if c.rec.Op == abi.FUSE_INTERRUPT {
		tid = c.rec.InterruptsPID
	}
	f := c.f
	if tid != 0 && tid != f.PID && c.processOf[tid] == f.PID {
		f.PID = tid
	}
	return f.Match(&c.rec)
}
