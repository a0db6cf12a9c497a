package main

import (
	"errors"
	"fmt"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/fusectl/fusectl/mount"
)

// AbortOptions holds what `fusectl abort` needs.
type AbortOptions struct {
	IO         *IOStreams
	Mountpoint string

	// Abort aborts and lazily unmounts; tests replace it.
	Abort func(mnt string) error
}

// NewCmdAbort builds `fusectl abort`.
func NewCmdAbort(f *Factory, runF func(*AbortOptions) error) *cobra.Command {
	opts := &AbortOptions{IO: f.IO, Abort: mount.Abort}
	cmd := &cobra.Command{
		Use:   "abort MNT",
		Short: "Abort a hung FUSE connection and unmount it",
		Long: heredoc.Doc(`
			Abort the FUSE connection mounted at MNT through the kernel's
			control file system (/sys/fs/fuse/connections/N/abort, N the
			connection's number, conn in "fusectl ps --json"): every
			request waiting on the server fails, so processes stuck on the
			mount return. Then unmount MNT lazily, and remove the control
			socket a killed "fusectl mount" left for it. Works on any FUSE mount,
			also one whose server is hung or dead ("Transport endpoint is not
			connected"). Needs root, or the mount's own user; an ordinary user
			cannot mount the control file system where it is not mounted, and
			then gets the lazy unmount alone, with a warning.
		`),
		Example: heredoc.Doc(`
			$ fusectl ps
			$ sudo fusectl abort /mnt/x
		`),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return flagErrorf("want one mountpoint, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Mountpoint = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runAbort(opts)
		},
	}
	return cmd
}

func runAbort(opts *AbortOptions) error {
	err := opts.Abort(opts.Mountpoint)
	if errors.Is(err, mount.ErrNotAborted) {
		// The mount is gone, which is most of what was asked: say what
		// was not done, and succeed.
		fmt.Fprintf(opts.IO.ErrOut, "fusectl: warning: %v; processes waiting on it wait for its server\n", err)
		fmt.Fprintf(opts.IO.Out, "unmounted %s (lazily, not aborted)\n", opts.Mountpoint)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "aborted and unmounted %s\n", opts.Mountpoint)
	return nil
}
