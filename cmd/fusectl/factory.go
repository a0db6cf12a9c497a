package main

import (
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// IOStreams carries a command's standard streams, so that commands never
// touch os.Stdout and tests can swap in buffers.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	// outTTY reports whether Out is a terminal: aligned tables and colour
	// there, tab-separated values when piped.
	outTTY bool
	// errTTY reports whether ErrOut is a terminal, where a status line
	// can be rewritten in place.
	errTTY bool
}

// IsStdoutTTY reports whether the command's standard output is a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.outTTY }

// IsStderrTTY reports whether the command's standard error is a terminal.
func (s *IOStreams) IsStderrTTY() bool { return s.errTTY }

// SystemIO returns the process's own streams.
func SystemIO() *IOStreams {
	return &IOStreams{
		In:     os.Stdin,
		Out:    os.Stdout,
		ErrOut: os.Stderr,
		outTTY: isatty.IsTerminal(os.Stdout.Fd()),
		errTTY: isatty.IsTerminal(os.Stderr.Fd()),
	}
}

// TestIO returns streams backed by the given reader and writers, with the
// TTY setting a test wants.
func TestIO(in io.Reader, out, errOut io.Writer, tty bool) *IOStreams {
	return &IOStreams{In: in, Out: out, ErrOut: errOut, outTTY: tty}
}

// Factory hands commands their streams and lazily built dependencies.
type Factory struct {
	IO *IOStreams
	// Getenv reads the environment; tests replace it.
	Getenv func(string) string
}

// NewFactory returns the factory used by the real binary.
func NewFactory() *Factory {
	return &Factory{IO: SystemIO(), Getenv: os.Getenv}
}
