package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/client"
	"github.com/fusectl/fusectl/client/launch"
)

// ServerFlags are the flags and the server command line shared by the
// commands that start a server and talk to it with fusectl's own client:
// probe, ls, stat and cat.
type ServerFlags struct {
	// Server is the server's argv, after --; "{}" marks the mountpoint.
	Server []string
	// Method forces a launch method; launch.Auto detects it.
	Method launch.Method
	// RecordPath, if set, receives an .fcap of the session.
	RecordPath string
	// ServerOutput passes the server's output through to standard error.
	ServerOutput bool
	// Verbose logs what the launcher and the client do.
	Verbose bool
	// StartTimeout bounds starting the server and its INIT handshake.
	StartTimeout time.Duration

	method string
}

// methodUsage is the help of every --method flag.
const methodUsage = "how the server gets its socket: auto, devfd, shim-path, shim-namespace, intercept"

// bind adds the shared flags to cmd.
func (s *ServerFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.method, "method", "auto", methodUsage)
	cmd.Flags().StringVar(&s.RecordPath, "record", "", "record the session to this .fcap `file`")
	cmd.Flags().BoolVar(&s.ServerOutput, "server-output", false, "pass the server's output through to standard error")
	cmd.Flags().BoolVarP(&s.Verbose, "verbose", "v", false, "log what the launcher and the client do")
	cmd.Flags().DurationVar(&s.StartTimeout, "start-timeout", 30*time.Second, "give up if the server has not answered INIT by then")
}

// parse splits args at -- into the operands before it and the server
// command after it, and parses --method. The command takes least to most
// operands (most -1: no limit).
func (s *ServerFlags) parse(cmd *cobra.Command, args []string, name string, least, most int) ([]string, error) {
	operands, server, err := splitAtDash(cmd, args)
	if err != nil {
		return nil, err
	}
	n := len(operands)
	switch {
	case most == 0 && n > 0:
		return nil, flagErrorf("%s takes no arguments before --, got %d", name, n)
	case least == most && n != least:
		return nil, flagErrorf("%s needs exactly %d PATH before --, got %d", name, least, n)
	case n < least:
		return nil, flagErrorf("%s needs a PATH before --", name)
	case most >= 0 && n > most:
		return nil, flagErrorf("%s takes at most %d PATH before --, got %d", name, most, n)
	}
	m, err := parseMethod(s.method)
	if err != nil {
		return nil, err
	}
	if s.StartTimeout <= 0 {
		return nil, flagErrorf("invalid --start-timeout %v: must be positive", s.StartTimeout)
	}
	s.Method = m
	s.Server = server
	return operands, nil
}

// splitAtDash splits the arguments of a command that starts a server into
// the operands before -- and the server command after it, which must be
// there.
func splitAtDash(cmd *cobra.Command, args []string) (operands, server []string, err error) {
	dash := cmd.ArgsLenAtDash()
	if dash < 0 {
		return nil, nil, flagErrorf("missing -- before the server command")
	}
	if len(args) == dash {
		return nil, nil, flagErrorf("missing server command after --")
	}
	if args[dash] == "" {
		return nil, nil, flagErrorf("empty server command after --")
	}
	return args[:dash], args[dash:], nil
}

// parseMethod parses the --method flag.
func parseMethod(s string) (launch.Method, error) {
	m, err := launch.ParseMethod(s)
	if err != nil {
		return launch.Auto, flagErrorf("--method: %v", err)
	}
	return m, nil
}

// Server is what the commands need of a started server (*launch.Server).
type Server interface {
	Method() launch.Method
	MountOptions() []string
	Output() []byte
	Stop(ctx context.Context) error
}

// Starter starts a server and runs INIT with it; tests replace it.
type Starter func(ctx context.Context, lopts launch.Options, copts client.Options) (*client.Conn, Server, error)

// startServer is the real Starter.
func startServer(ctx context.Context, lopts launch.Options, copts client.Options) (*client.Conn, Server, error) {
	c, s, err := client.Start(ctx, lopts, copts)
	if err != nil {
		return nil, nil, err
	}
	return c, s, nil
}

// serverStdin returns fusectl's standard input for the server, which
// reads a password there; nil (the server gets /dev/null) when it is no
// file.
func serverStdin(ios *IOStreams) *os.File {
	f, _ := ios.In.(*os.File)
	return f
}

// session is a started server with its connection and recording.
type session struct {
	conn *client.Conn
	srv  Server
	rec  *capture.Writer
}

// openSession starts the server of sf and dials it, recording if asked.
func openSession(ctx context.Context, ios *IOStreams, sf *ServerFlags, start Starter) (*session, error) {
	var logf func(string, ...any)
	if sf.Verbose {
		logf = func(format string, args ...any) { fmt.Fprintf(ios.ErrOut, "fusectl: "+format+"\n", args...) }
	}
	lopts := launch.Options{Args: sf.Server, Method: sf.Method, Stdin: serverStdin(ios), Logf: logf}
	if sf.ServerOutput {
		lopts.Stdout, lopts.Stderr = ios.ErrOut, ios.ErrOut
	}
	copts := client.Options{Logf: logf}
	s := &session{}
	if sf.RecordPath != "" {
		// Put in place once the server has started, so that a failed
		// start leaves an earlier recording as it was.
		w, err := capture.CreatePending(sf.RecordPath, capture.WriterOptions{
			Interfaces: []capture.Interface{{Name: "client", Description: strings.Join(sf.Server, " ")}},
		})
		if err != nil {
			return nil, fmt.Errorf("create recording: %w", err)
		}
		s.rec = w
		copts.Recorder = w
	}
	startCtx := ctx
	if sf.StartTimeout > 0 {
		var cancel context.CancelFunc
		startCtx, cancel = context.WithTimeout(ctx, sf.StartTimeout)
		defer cancel()
	}
	c, srv, err := start(startCtx, lopts, copts)
	if err != nil {
		if s.rec != nil {
			s.rec.Close()
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			what := "no INIT reply"
			if errors.Is(err, launch.ErrNotMounted) {
				what = "the server did not mount" // it never got as far as INIT
			}
			err = fmt.Errorf("%s within %v (--start-timeout): %w", what, sf.StartTimeout, err)
		}
		return nil, serverStartError(sf.Server, err)
	}
	s.conn, s.srv = c, srv
	if s.rec != nil {
		if err := s.rec.Keep(); err != nil {
			fmt.Fprintf(ios.ErrOut, "fusectl: warning: %v\n", err)
		}
	}
	return s, nil
}

// serverStartError says why a server could not be used, with the end of
// its output when there is one.
func serverStartError(argv []string, err error) error {
	msg := fmt.Sprintf("server %s failed to start", argv[0])
	var se *client.StartError
	if errors.As(err, &se) {
		if out := outputTail(se.Output, 20); out != "" {
			return fmt.Errorf("%s: %w\nserver output:\n%s%s", msg, err, out, methodHint(se.Method, se.Output))
		}
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// methodHint suggests the fake fusermount to a server that was given
// /dev/fd/N as its mountpoint and ran the real fusermount with it, as
// servers built on bazil.org/fuse do, when devfd was forced or auto could
// not tell (a Go binary whose build information names a library that
// takes /dev/fd/N but that runs another). It returns "" or a line to
// append to an error.
func methodHint(m launch.Method, output []byte) string {
	if m != launch.DevFD || !bytes.Contains(output, []byte("fusermount")) {
		return ""
	}
	return "\nhint: the server ran fusermount with /dev/fd/N as its mountpoint; a server that mounts through fusermount needs --method intercept (or shim-path)"
}

// outputTail returns the last n lines of a server's output.
func outputTail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := strings.Join(lines, "\n")
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// Close ends the session: DESTROY, the server, then the recording.
func (s *session) Close() error {
	s.conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.srv.Stop(ctx)
	if s.rec != nil {
		if cerr := s.rec.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close recording: %w", cerr)
		}
	}
	return err
}

// fsPath turns a command-line PATH ("/", "/a/b", "a/b") into an io/fs
// name.
func fsPath(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return "."
	}
	return p
}

// cmdContext returns the command's context, or Background in tests that
// execute without one.
func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
