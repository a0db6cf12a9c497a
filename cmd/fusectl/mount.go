package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/fusectl/fusectl/client/launch"
	"github.com/fusectl/fusectl/mount"
)

// MountOptions holds what `fusectl mount` needs.
type MountOptions struct {
	IO *IOStreams

	Mountpoint   string
	Server       []string
	MountOpts    []string
	CapturePath  string
	Method       launch.Method
	NoClamp      bool
	Verbose      bool
	ServerOutput bool

	// Start mounts; tests replace it.
	Start func(ctx context.Context, opts mount.Options) (mounter, error)
}

// mounter is what runMount needs of a *mount.Mount.
type mounter interface {
	Mountpoint() string
	Pid() int
	Conn() uint32
	ControlSocket() string
	ControlErr() error
	Ready() <-chan struct{}
	Done() <-chan struct{}
	ServerDone() <-chan struct{}
	Method() launch.Method
	ServerOutput() []byte
	Err() error
	Close() error
	Status() mount.Status
}

// NewCmdMount builds `fusectl mount`.
func NewCmdMount(f *Factory, runF func(*MountOptions) error) *cobra.Command {
	opts := &MountOptions{
		IO: f.IO,
		Start: func(ctx context.Context, o mount.Options) (mounter, error) {
			return mount.Start(ctx, o)
		},
	}
	var method string
	cmd := &cobra.Command{
		Use:   "mount [-o OPTS] [--capture FILE] [flags] MNT -- SERVER [ARGS...]",
		Short: "Mount a FUSE server with fusectl in the middle",
		Long: heredoc.Doc(`
			Mount SERVER at MNT with fusectl between the kernel and the server:
			the kernel talks to fusectl over /dev/fuse, fusectl talks to the
			server over a socketpair, and every message passes through, is
			counted and can be recorded.

			The server's mountpoint argument is the token {} if present, else
			the last argument equal to MNT, else it is appended. fusectl puts there
			what the launch method needs (/dev/fd/N or a directory of its own).
			The server reads fusectl's standard input, where it may ask for a
			password, and its output goes to standard error (unless
			--server-output=false).

			Runs in the foreground; Ctrl-C, SIGTERM, SIGHUP (the terminal
			closed; ignored under nohup) or Ctrl-\ (SIGQUIT, which first
			prints fusectl's goroutine stacks) unmounts cleanly. If the server
			exits, pending requests fail with ENOTCONN and the mount is
			removed. Other fusectl commands (capture, ps) find the mount
			through its control socket.

			--capture - streams the capture from the first message to standard
			output (a live trace through fusectl decode -); fusectl's own
			messages then go to standard error. If the reader goes away, the
			mount goes on without the capture.
		`),
		Example: heredoc.Doc(`
			$ fusectl mount /mnt/x -- squashfuse -f img.sqfs {}
			$ fusectl mount -o allow_other --capture s.fcap /mnt/y -- demofs /mnt/y
			$ fusectl mount --capture - /mnt/z -- demofs {} | fusectl decode -
		`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dash := cmd.ArgsLenAtDash(); dash >= 0 && dash != 1 {
				return flagErrorf("want exactly one mountpoint before --, got %d", dash)
			}
			operands, server, err := splitAtDash(cmd, args)
			if err != nil {
				return err
			}
			m, err := parseMethod(method)
			if err != nil {
				return err
			}
			if opts.CapturePath == "-" {
				if err := refuseTerminal(opts.IO, "--capture"); err != nil {
					return err
				}
			}
			opts.Mountpoint, opts.Server, opts.Method = operands[0], server, m
			if runF != nil {
				return runF(opts)
			}
			// A --capture - reader that quits fails the capture's
			// writes (Main catches SIGPIPE), and the mount goes on.
			return runMount(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringArrayVarP(&opts.MountOpts, "options", "o", nil, "mount options (allow_other, default_permissions, max_read=N, fsname=S, subtype=S, ro, ...)")
	cmd.Flags().StringVar(&opts.CapturePath, "capture", "", "record every message to this .fcap `file` (- for standard output, a live stream)")
	cmd.Flags().StringVar(&method, "method", "auto", methodUsage)
	cmd.Flags().BoolVar(&opts.NoClamp, "no-clamp", false, "keep the server's max_pages, for a server that never splices READ replies (jacobsa/fuse and bazil servers are recognised and never clamped); a splicing server's concurrent READs then end the mount")
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "log what the interposer does")
	cmd.Flags().BoolVar(&opts.ServerOutput, "server-output", true, "pass the server's output through to standard error")
	return cmd
}

func runMount(ctx context.Context, opts *MountOptions) error {
	mo := mount.Options{
		Mountpoint:   opts.Mountpoint,
		Args:         opts.Server,
		Method:       opts.Method,
		MountOptions: opts.MountOpts,
		NoClamp:      opts.NoClamp,
		CapturePath:  opts.CapturePath,
	}
	// With --capture -, standard output carries the capture, and what
	// fusectl says goes to standard error.
	say := opts.IO.Out
	if opts.CapturePath == "-" {
		mo.CapturePath, mo.CaptureTo, say = "", opts.IO.Out, opts.IO.ErrOut
	}
	if opts.ServerOutput {
		mo.Stdout, mo.Stderr = opts.IO.ErrOut, opts.IO.ErrOut
	}
	if opts.Verbose {
		mo.Logf = func(format string, args ...any) {
			fmt.Fprintf(opts.IO.ErrOut, "fusectl: "+format+"\n", args...)
		}
	}
	mo.Warnf = func(format string, args ...any) {
		fmt.Fprintf(opts.IO.ErrOut, "fusectl: warning: "+format+"\n", args...)
	}
	mo.Stdin = serverStdin(opts.IO)
	// A Ctrl-C during Start ends the wait for a server that has not
	// asked for its mount yet, and Start stops it; once the server has,
	// Start finishes the mount and teardown handles the Ctrl-C.
	startDone := sayIfSlow(opts.IO.ErrOut, initPatience, func() string {
		return fmt.Sprintf("fusectl: waiting for the server to mount %s; Ctrl-C to give up", opts.Mountpoint)
	})
	m, err := opts.Start(ctx, mo)
	startDone()
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			fmt.Fprintf(opts.IO.ErrOut, "fusectl: stopped before the server mounted %s\n", opts.Mountpoint)
			return nil
		}
		return err
	}
	// The mount is announced once the server has answered INIT: a server
	// that fails at once is reported as such, not as a mount that ended.
	requested, ready := waitReady(ctx, opts, m)
	if ready {
		started := m.Pid()
		fmt.Fprintf(say, "mounted %s (server pid %d, connection %d); Ctrl-C to unmount\n", m.Mountpoint(), started, m.Conn())
		if cerr := m.ControlErr(); cerr != nil {
			fmt.Fprintf(opts.IO.ErrOut, "fusectl: fusectl capture and ps cannot reach this mount: %v\n", cerr)
		}
		if f, ok := say.(interface{ Sync() error }); ok {
			f.Sync()
		}
		serverDone := m.ServerDone()
	wait:
		for {
			select {
			case <-ctx.Done():
				requested = true
				break wait
			case <-m.Done():
				break wait
			case <-serverDone:
				// A libfuse server run without -f forks once mounted and
				// its parent exits: name the process that serves.
				serverDone = nil
				if pid := m.Pid(); pid != started {
					fmt.Fprintf(opts.IO.ErrOut, "fusectl: server pid %d went into the background as pid %d\n", started, pid)
				}
			}
		}
	}
	// A stopped or busy server makes teardown wait for it: say so, rather
	// than seem to ignore the Ctrl-C.
	closeDone := sayIfSlow(opts.IO.ErrOut, teardownPatience, func() string {
		return fmt.Sprintf("fusectl: unmounting %s: waiting for the server (pid %d) to finish", m.Mountpoint(), m.Pid())
	})
	err = m.Close()
	closeDone()
	st := m.Status()
	if requested && errors.Is(err, mount.ErrUnmounted) {
		err = nil
	}
	summary(opts.IO.ErrOut, st, opts.CapturePath, ready)
	if requested && !ready {
		fmt.Fprintf(opts.IO.ErrOut, "fusectl: stopped before the server answered INIT\n")
	}
	if err != nil {
		if errors.Is(err, mount.ErrUnmounted) {
			// Unmounted from outside (umount, fusectl abort): a normal end.
			return nil
		}
		if !ready {
			return fmt.Errorf("%s: %w before answering INIT%s", m.Mountpoint(), err, methodHint(m.Method(), m.ServerOutput()))
		}
		return fmt.Errorf("%s: %w", m.Mountpoint(), err)
	}
	return nil
}

// sayIfSlow writes line() to w if the work that the returned function
// ends lasts longer than d. That function returns once a line begun is
// written whole, so that what follows on w comes after it.
func sayIfSlow(w io.Writer, d time.Duration, line func() string) (done func()) {
	said := make(chan struct{})
	t := time.AfterFunc(d, func() {
		defer close(said)
		fmt.Fprintln(w, line())
	})
	return func() {
		if !t.Stop() {
			<-said
		}
	}
}

// initPatience is how long fusectl mount waits for the server's INIT
// reply before saying that it is waiting.
var initPatience = 5 * time.Second

// teardownPatience is how long teardown runs before fusectl mount says
// what it waits for.
var teardownPatience = time.Second

// waitReady waits until the server has answered INIT (ready), the mount
// ended, or Ctrl-C (requested).
func waitReady(ctx context.Context, opts *MountOptions, m mounter) (requested, ready bool) {
	slow := time.NewTimer(initPatience)
	defer slow.Stop()
	isReady := func() bool {
		select {
		case <-m.Ready():
			return true
		default:
			return false
		}
	}
	// Ready wins over an end or a Ctrl-C that came at the same time.
	for !isReady() {
		select {
		case <-m.Ready():
		case <-m.Done():
			return false, isReady()
		case <-ctx.Done():
			return true, isReady()
		case <-slow.C:
			fmt.Fprintf(opts.IO.ErrOut, "fusectl: mounted %s, waiting for the server (pid %d) to answer INIT; Ctrl-C to give up\n", m.Mountpoint(), m.Pid())
		}
	}
	return false, true
}

// summary prints the counts of a finished mount, and drops loudly. A
// mount that never became ready has only its error to say: it was never
// announced, so "unmounted" and its one INIT would be noise.
func summary(w io.Writer, st mount.Status, capturePath string, ready bool) {
	if ready {
		fmt.Fprintf(w, "unmounted %s: %s, %s, %s", st.Mountpoint, counted(st.Requests, "request", "requests"),
			counted(st.Replies, "reply", "replies"), counted(st.Notifies, "notification", "notifications"))
		if st.Injected > 0 {
			fmt.Fprintf(w, ", %d answered by fusectl", st.Injected)
		}
		if st.Malformed > 0 {
			fmt.Fprintf(w, ", %s dropped", counted(st.Malformed, "malformed message", "malformed messages"))
		}
		fmt.Fprintln(w)
	}
	if st.CaptureDropped > 0 {
		lost := counted(st.CaptureDropped, "record", "records")
		if capturePath == "-" {
			fmt.Fprintf(w, "fusectl: warning: the capture on standard output lost %s (its reader could not keep up)\n", lost)
		} else {
			fmt.Fprintf(w, "fusectl: warning: capture %s lost %s (the disk could not keep up)\n", capturePath, lost)
		}
	}
}
