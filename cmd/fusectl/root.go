package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"github.com/MakeNowJust/heredoc"
	"github.com/fusectl/fusectl/client/launch"
	"github.com/spf13/cobra"
)

// Exit codes of fusectl, documented in the README.
const (
	exitOK        = 0
	exitError     = 1 // the command failed
	exitUsage     = 2 // bad flags or arguments
	exitCancelled = 130
	// exitBrokenPipe is what a shell reports of a writer SIGPIPE killed
	// (128+13): fusectl ends so, quietly, when its reader went away.
	exitBrokenPipe = 141
)

// flagError marks an error in the command line, so that usage is printed
// and the exit status is exitUsage.
type flagError struct{ err error }

func (e *flagError) Error() string { return e.err.Error() }
func (e *flagError) Unwrap() error { return e.err }

func flagErrorf(format string, args ...any) error {
	return &flagError{fmt.Errorf(format, args...)}
}

// Examples are written flush left in the commands and indented in the
// help, as in every other section. Template functions are global to cobra:
// registered once, not per command tree.
func init() {
	cobra.AddTemplateFunc("indentExamples", func(s string) string {
		return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
	})
}

// NewCmdRoot builds the command tree.
func NewCmdRoot(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "fusectl <command>",
		Short: "Debug and record FUSE sessions",
		Long: heredoc.Doc(`
			fusectl sees the FUSE protocol between the kernel (or its own
			userspace client) and a FUSE server: it decodes every message
			and records sessions to .fcap files that Wireshark can open.
		`),
		Example: heredoc.Doc(`
			$ fusectl mount --capture s.fcap /mnt/x -- squashfuse -f img.sqfs {}
			$ fusectl capture -o - | fusectl decode -
			$ fusectl decode --stats s.fcap
			$ fusectl probe -- fuse-overlayfs -f -o lowerdir=/l,upperdir=/u,workdir=/w {}
			$ fusectl ls -l / -- squashfuse -f img.sqfs {}
			$ fusectl ps
		`),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &flagError{err}
	})
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(),
		"{{.Example}}", "{{indentExamples .Example}}", 1))

	addCommands(root, f)
	root.SetHelpCommand(helpCommand(root))
	usageArgs(root)
	return root
}

// helpCommand is cobra's help command, but an unknown topic is a usage
// error (exit 2), as an unknown command is, not a help text and exit 0.
func helpCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, _, err := root.Find(args)
			if err != nil || cmd == nil || (len(args) > 0 && cmd == root) {
				return flagErrorf("unknown help topic %q", strings.Join(args, " "))
			}
			return cmd.Help()
		},
	}
}

// noArgs is cobra.NoArgs with a message that names the command, where
// cobra's takes the argument for an unknown subcommand.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return flagErrorf("%s takes no arguments, got %q", cmd.Name(), args[0])
	}
	return nil
}

// usageArgs makes every argument check of cmd and its subcommands a
// flagError, so that wrong arguments get usage and exitUsage as wrong
// flags do.
func usageArgs(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			err := check(c, args)
			var fe *flagError
			if err != nil && !errors.As(err, &fe) {
				return &flagError{err}
			}
			return err
		}
	}
	for _, sub := range cmd.Commands() {
		usageArgs(sub)
	}
}

// Main runs fusectl and returns its exit status.
func Main() int {
	// fusectl is its own fake fusermount and namespace and intercept
	// launcher for servers that cannot take /dev/fd/N; those invocations
	// never reach cobra.
	if code, ok := launch.RunShimIfInvoked(); ok {
		return code
	}
	// A reader of standard output or standard error that goes away
	// (| head) must not kill fusectl by SIGPIPE mid-session, which would
	// leave a mount stale, a server running and temporary files behind:
	// the write fails instead (EPIPE), the command ends as it would on
	// any error, and exitCode ends quietly with the status a shell expects
	// of a pipe's writer. Caught rather than ignored, so that servers,
	// which inherit an ignored signal across exec, keep the default.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	f := NewFactory()
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals()...)
	defer stop()
	ctx, quit := quitDumps(ctx, f.IO.ErrOut)
	defer quit()
	root := NewCmdRoot(f)
	cmd, err := root.ExecuteContextC(ctx)
	return exitCode(f, cmd, err)
}

// stopSignals are the signals that end a command the way Ctrl-C does: a
// mount unmounts, a capture closes its file. SIGHUP (the terminal went
// away) is one: by default it would kill fusectl and leave its mount
// stale. Under nohup it stays ignored, as nohup asked; catching it would
// undo that.
func stopSignals() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

// quitDumps makes SIGQUIT (Ctrl-\) print every goroutine's stack, as Go
// does by default, and then end the command as Ctrl-C does, where Go's
// default would exit and leave a mount stale. A second SIGQUIT gets Go's
// default: a dump and an exit at once, for a teardown that hangs.
func quitDumps(parent context.Context, w io.Writer) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGQUIT)
	go func() {
		defer signal.Stop(ch)
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
		signal.Reset(syscall.SIGQUIT)
		fmt.Fprintf(w, "SIGQUIT: goroutine stacks of fusectl (pid %d):\n\n", os.Getpid())
		pprof.Lookup("goroutine").WriteTo(w, 2) // the format of Go's own dump
		fmt.Fprintf(w, "\nfusectl: SIGQUIT: ending as on Ctrl-C; another SIGQUIT exits at once\n")
		cancel()
	}()
	return ctx, cancel
}

// exitCode prints err and maps it to fusectl's exit status.
func exitCode(f *Factory, cmd *cobra.Command, err error) int {
	if err == nil {
		return exitOK
	}
	var fe *flagError
	switch {
	case errors.As(err, &fe), strings.HasPrefix(err.Error(), "unknown command "):
		// cobra's own check of a command name has no hook to wrap.
		fmt.Fprintf(f.IO.ErrOut, "fusectl: %v\n", err)
		if cmd != nil {
			fmt.Fprintf(f.IO.ErrOut, "\n%s", cmd.UsageString())
		}
		return exitUsage
	case errors.Is(err, context.Canceled):
		return exitCancelled
	case errors.Is(err, errSilent):
		return exitError
	case brokenOutput(err):
		return exitBrokenPipe
	}
	var ee *codeError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(f.IO.ErrOut, "fusectl: %s\n", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintf(f.IO.ErrOut, "fusectl: %v\n", err)
	return exitError
}

// brokenOutput reports whether err is a write to standard output or
// standard error whose reader went away; a server's socket closing under
// a write (EPIPE too) is a failure to report.
func brokenOutput(err error) bool {
	// Along the chain of single wraps only: an error joined with others
	// (a mount's teardown: the cause, then the capture's) has more to
	// tell than the broken pipe.
	for ; err != nil; err = errors.Unwrap(err) {
		if pe, ok := err.(*fs.PathError); ok {
			return pe.Op == "write" && (pe.Path == os.Stdout.Name() || pe.Path == os.Stderr.Name()) && errors.Is(pe.Err, syscall.EPIPE)
		}
	}
	return false
}

// errSilent ends a command with exitError after it has printed its own
// message.
var errSilent = errors.New("silent error")

// codeError carries a specific exit status out of a command.
type codeError struct {
	code int
	msg  string
}

func (e *codeError) Error() string { return e.msg }

// counted says "1 record" or "3 records".
func counted(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatUint(n, 10) + " " + many
}
