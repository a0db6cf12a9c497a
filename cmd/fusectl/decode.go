package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
)

// DecodeOptions are the inputs of `fusectl decode`.
type DecodeOptions struct {
	IO *IOStreams
	// Open opens a capture file; tests replace it.
	Open func(path string) (io.ReadCloser, error)
	// Ctx ends a live decode early (Ctrl-C).
	Ctx context.Context
	// Getenv reads the environment (GOMEMLIMIT); nil means none set.
	Getenv func(string) string

	// Input is the capture path, "-" for standard input.
	Input string
	// JSON prints one JSON object per record (and the statistics as one
	// object with Stats).
	JSON bool
	// Stats prints per-operation statistics instead of the records.
	Stats bool
	// Hex adds the raw bytes of every message.
	Hex bool
	// UTC and Relative select the time format (default: local time).
	UTC, Relative bool
	// Live flushes the output after every record; set for a pipe input.
	Live bool
	// Errors, Malformed, MinLatency and the shared filter flags select
	// records.
	Errors     bool
	Malformed  bool
	MinLatency time.Duration
	filterFlags

	filter decode.Filter
}

// NewCmdDecode builds `fusectl decode`. runF, if set, receives the parsed
// options instead of runDecode (tests).
func NewCmdDecode(f *Factory, runF func(*DecodeOptions) error) *cobra.Command {
	opts := &DecodeOptions{
		IO:     f.IO,
		Open:   func(path string) (io.ReadCloser, error) { return os.Open(path) },
		Getenv: f.Getenv,
	}
	cmd := &cobra.Command{
		Use:   "decode FILE|-",
		Short: "Print the records of a capture, decoded",
		Long: heredoc.Doc(`
			Print every record of an .fcap capture as one line: time, unique,
			operation, node and path, the decoded arguments; replies with their
			status (OK or the errno name) and latency. Paths are resolved from
			the LOOKUPs, creates, renames and READDIRPLUS entries seen so far.
			Data payloads are summarised as their length and first bytes.
			Records of a capture's second and later connections are marked
			[N] after the time.

			With - the capture is read from standard input, so that
			"fusectl capture -o - | fusectl decode -" shows a live session. A
			capture that ends inside a record (a capture killed mid-write)
			decodes to its last whole record, with a warning. Where the
			recorder fell behind and lost records, a line says how many,
			and a warning at the end gives the total.

			Filters combine: --op selects operations (and notify codes),
			--errors and --min-latency select replies, --nodeid, --path and
			--pid select what the records are about.
		`),
		Example: heredoc.Doc(`
			$ fusectl decode session.fcap
			$ fusectl decode --json session.fcap | jq 'select(.op == "READ")'
			$ fusectl decode --op LOOKUP,READ --errors session.fcap
			$ fusectl decode --min-latency 1ms --path '/home/*' session.fcap
			$ fusectl decode --stats session.fcap
			$ fusectl decode --malformed session.fcap   # where the protocol was broken, and how
			$ fusectl capture -o - | fusectl decode -
		`),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return flagErrorf("decode needs one capture file, or - for standard input")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Input = args[0]
			opts.Ctx = cmd.Context()
			if opts.UTC && opts.Relative {
				return flagErrorf("--utc and --relative cannot be used together")
			}
			if opts.MinLatency < 0 {
				return flagErrorf("invalid --min-latency %v: must not be negative", opts.MinLatency)
			}
			if opts.Hex && opts.Stats {
				return flagErrorf("--hex and --stats cannot be used together")
			}
			flt, err := opts.filterFlags.parse(cmd.Flags())
			if err != nil {
				return err
			}
			flt.ErrorsOnly, flt.MinLatency, flt.MalformedOnly = opts.Errors, opts.MinLatency, opts.Malformed
			opts.filter = flt
			if runF != nil {
				return runF(opts)
			}
			return runDecode(opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.JSON, "json", false, "print one JSON object per record")
	fl.BoolVar(&opts.Stats, "stats", false, "print per-operation counts, errors and latency percentiles")
	fl.BoolVar(&opts.Hex, "hex", false, "show the raw bytes of every message")
	fl.BoolVar(&opts.UTC, "utc", false, "print times in UTC")
	fl.BoolVar(&opts.Relative, "relative", false, "print times as seconds since the first record")
	opts.filterFlags.register(fl)
	fl.BoolVar(&opts.Errors, "errors", false, "only replies with an error")
	fl.BoolVar(&opts.Malformed, "malformed", false, "only records that break the protocol, with how")
	fl.DurationVar(&opts.MinLatency, "min-latency", 0, "only replies at least this slow (e.g. 1ms)")
	return cmd
}

// flushSize is how much output is gathered before a write.
const flushSize = 64 << 10

// decodeMemoryLimit is the soft heap limit while decoding, unless
// GOMEMLIMIT says otherwise. The session's tables are bounded (about 16
// MiB live on hostile input); the limit keeps the garbage collector from
// letting the heap double past that, so the process stays well under 64
// MiB whatever the capture.
const decodeMemoryLimit = 32 << 20

// runDecode decodes the capture and prints it.
func runDecode(opts *DecodeOptions) error {
	if opts.Getenv == nil || opts.Getenv("GOMEMLIMIT") == "" {
		prev := debug.SetMemoryLimit(decodeMemoryLimit)
		defer debug.SetMemoryLimit(prev)
	}
	name := opts.Input
	var in io.Reader
	if name == "-" {
		name = "standard input"
		in = opts.IO.In
		if f, ok := in.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&(os.ModeNamedPipe|os.ModeSocket|os.ModeCharDevice) != 0 {
				opts.Live = true
			}
		}
	} else {
		rc, err := opts.Open(name)
		if err != nil {
			return err
		}
		defer rc.Close()
		in = rc
	}
	ctx := opts.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if f, ok := in.(*os.File); ok && opts.Live {
		// A blocked read ends when the input is closed only if the
		// runtime polls it, and an inherited standard input is
		// usually blocking: Ctrl-C or SIGTERM of a decode waiting on
		// an idle live trace did nothing. A reopened description of
		// it (/proc/self/fd/N, non-blocking, its own flags) is polled;
		// the one shared with the shell keeps its flags.
		if rf, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			defer rf.Close()
			in = rf
		}
	}
	if c, ok := in.(io.Closer); ok && opts.Live {
		// A blocked read of a live pipe ends when the input is closed.
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
	}
	rd, err := capture.NewReader(in, capture.ReaderOptions{})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return decodeError(name, err)
	}
	n, lost, err := decodeStream(ctx, opts, rd)
	if lost > 0 {
		// Said even when decoding failed later: it explains what was
		// printed.
		fmt.Fprintf(opts.IO.ErrOut, "fusectl: warning: %s: %s lost while capturing (the recorder fell behind): some replies miss their request, some paths are unknown\n",
			name, counted(lost, "record was", "records were"))
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return decodeError(name, err)
	}
	if rd.Truncated() {
		fmt.Fprintf(opts.IO.ErrOut, "fusectl: warning: %s ends inside a record (truncated capture); decoded %s\n", name, counted(uint64(n), "record", "records"))
	}
	return nil
}

// decodeError words a reader error for the user, with the byte offset of
// corrupt data.
func decodeError(name string, err error) error {
	var fe *capture.FormatError
	if errors.As(err, &fe) {
		return fmt.Errorf("%s: corrupt capture at byte offset %d: %w", name, fe.Offset, fe.Err)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && (pe.Path == name || pe.Op == "write") {
		// Names the file already; a write is to the output, which
		// is not the capture's fault.
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

// decodeStream decodes every record of rd and writes the output; it
// returns the number of records read and of messages the recorder lost
// (those the records mark, or the total the capture ends with if larger).
func decodeStream(ctx context.Context, opts *DecodeOptions, rd *capture.Reader) (n int, totalLost uint64, err error) {
	out := opts.IO.Out
	d := decode.NewDecoder(decode.Options{})
	f := &decode.Formatter{Hex: opts.Hex}
	switch {
	case opts.UTC:
		f.Time = decode.TimeUTC
	case opts.Relative:
		f.Time = decode.TimeRelative
	}
	var stats *decode.Stats
	if opts.Stats {
		stats = decode.NewStats()
	}
	filter := &opts.filter
	var (
		cr  capture.Record
		r   decode.Record
		buf = make([]byte, 0, flushSize+4096)
		// lost is what the recorder lost since the last record shown.
		lost uint64
	)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		_, err := out.Write(buf)
		buf = buf[:0]
		return err
	}
	for {
		err := rd.NextInto(&cr)
		if err == io.EOF {
			break
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				return n, totalLost, ferr
			}
			return n, totalLost, err
		}
		n++
		if n&4095 == 0 && ctx.Err() != nil {
			return n, totalLost, ctx.Err()
		}
		d.Decode(&cr, &r)
		// Messages lost before a record the filter leaves out are told
		// at the next record shown.
		lost += r.Lost
		totalLost += r.Lost
		if !filter.Match(&r) {
			continue
		}
		r.Lost, lost = lost, 0
		if stats != nil {
			stats.Add(&r)
			continue
		}
		if opts.JSON {
			buf = f.AppendJSON(buf, &r)
		} else {
			buf = f.AppendText(buf, &r)
		}
		if len(buf) >= flushSize || opts.Live {
			if err := flush(); err != nil {
				return n, totalLost, err
			}
		}
	}
	// A recorder that knew its total wrote it last; what exceeds the
	// losses the records mark was lost after them.
	var recorded uint64
	for i := range rd.Interfaces() {
		recorded += rd.Lost(i)
	}
	if recorded > totalLost {
		if stats != nil {
			stats.AddLost(recorded - totalLost)
		}
		totalLost = recorded
	}
	if stats != nil {
		if opts.JSON {
			buf = stats.AppendJSON(buf)
		} else {
			buf = stats.AppendTable(buf, opts.IO.IsStdoutTTY())
		}
	}
	return n, totalLost, flush()
}
