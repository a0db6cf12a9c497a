package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestUsageExitStatus: wrong arguments, like wrong flags, print usage and
// exit 2, whichever check finds them.
func TestUsageExitStatus(t *testing.T) {
	for _, args := range [][]string{
		{"bogus"},
		{"ps", "extra"},
		{"capture", "-o", "x.fcap", "extra"},
		{"decode"},
		{"abort"},
		{"ps", "--bogus"},
		{"help", "bogus"},
		{"probe", "--", ""},
	} {
		var out, errOut bytes.Buffer
		f := &Factory{IO: TestIO(nil, &out, &errOut, false), Getenv: os.Getenv}
		root := NewCmdRoot(f)
		root.SetArgs(args)
		cmd, err := root.ExecuteContextC(context.Background())
		if code := exitCode(f, cmd, err); code != exitUsage || !strings.Contains(errOut.String(), "Usage:") {
			t.Errorf("fusectl %s: exit %d, stderr %q; want %d and usage", strings.Join(args, " "), code, errOut.String(), exitUsage)
		}
	}
}

// TestBrokenOutput: only a write to standard output or standard error
// that lost its reader ends quietly; a server's socket closing under a
// write is an error to report.
func TestBrokenOutput(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("cat /f: %w", &fs.PathError{Op: "write", Path: os.Stdout.Name(), Err: syscall.EPIPE}), true},
		{&fs.PathError{Op: "write", Path: os.Stderr.Name(), Err: syscall.EPIPE}, true},
		{fmt.Errorf("server squashfuse failed to start: init: write message: %w", syscall.EPIPE), false},
		{&fs.PathError{Op: "write", Path: "s.fcap", Err: syscall.EPIPE}, false},
		{&fs.PathError{Op: "write", Path: os.Stdout.Name(), Err: syscall.ENOSPC}, false},
		// A mount's teardown: the cause comes first, and must be told.
		{errors.Join(errors.New("server exited"), fmt.Errorf("write capture: %w", &fs.PathError{Op: "write", Path: os.Stdout.Name(), Err: syscall.EPIPE})), false},
	} {
		if got := brokenOutput(c.err); got != c.want {
			t.Errorf("brokenOutput(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
