package main

import (
	"context"
	"errors"
	"io"
	"syscall"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/fusectl/fusectl/client"
)

// CatOptions are the inputs of `fusectl cat`.
type CatOptions struct {
	IO *IOStreams
	// Start starts the server; tests replace it.
	Start Starter

	ServerFlags
	// Paths are the files to print, in order.
	Paths []string
}

// NewCmdCat builds `fusectl cat`. runF, if set, receives the parsed options
// instead of runCat (tests).
func NewCmdCat(f *Factory, runF func(*CatOptions) error) *cobra.Command {
	opts := &CatOptions{IO: f.IO, Start: startServer}
	cmd := &cobra.Command{
		Use:   "cat [flags] PATH... -- SERVER [ARGS...]",
		Short: "Print files of a FUSE server, without mounting it",
		Long: heredoc.Doc(`
			Start SERVER on a socketpair and copy each PATH (relative to the
			server's root) to standard output through fusectl's own FUSE
			client: LOOKUP, OPEN, READ until end of file, FLUSH, RELEASE. The
			data is streamed, so files larger than memory work.
		`),
		Example: heredoc.Doc(`
			$ fusectl cat /big.bin -- squashfuse -f img.sqfs {} > big.bin
			$ fusectl cat --record s.fcap /a.txt -- demofs -seed ./data {}
		`),
		RunE: func(cmd *cobra.Command, args []string) error {
			operands, err := opts.parse(cmd, args, "cat", 1, -1)
			if err != nil {
				return err
			}
			opts.Paths = operands
			if runF != nil {
				return runF(opts)
			}
			return runCat(cmdContext(cmd), opts)
		},
	}
	opts.bind(cmd)
	return cmd
}

func runCat(ctx context.Context, opts *CatOptions) error {
	s, err := openSession(ctx, opts.IO, &opts.ServerFlags, opts.Start)
	if err != nil {
		return err
	}
	fsys := client.NewFS(s.conn, client.FSOptions{}).WithContext(ctx)
	var cerr error
	for _, p := range opts.Paths {
		if cerr = catFile(fsys, p, opts.IO.Out); cerr != nil {
			break
		}
	}
	if err := s.Close(); err != nil && cerr == nil {
		cerr = err
	}
	return cerr
}

// catFile copies one file to w.
func catFile(fsys *client.FS, p string, w io.Writer) error {
	f, err := fsys.OpenFile(fsPath(p), syscall.O_RDONLY)
	if err != nil {
		return pathErr("cat", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return pathErr("cat", p, err)
	}
	if fi.IsDir() {
		return pathErr("cat", p, syscall.EISDIR)
	}
	// Four READs of 14 pages, the most a READ asks of a server that may
	// splice.
	buf := make([]byte, 4*14*4096)
	for {
		n, rerr := f.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return pathErr("cat", p, rerr)
		}
	}
	return f.Close()
}
