package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"text/tabwriter"
	"time"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/client"
	"github.com/fusectl/fusectl/decode"
)

// StatOptions are the inputs of `fusectl stat`.
type StatOptions struct {
	IO *IOStreams
	// Start starts the server; tests replace it.
	Start Starter

	ServerFlags
	// Path is the file to describe, "/" for the root.
	Path string
	// JSON prints one JSON object.
	JSON bool
}

// NewCmdStat builds `fusectl stat`. runF, if set, receives the parsed
// options instead of runStat (tests).
func NewCmdStat(f *Factory, runF func(*StatOptions) error) *cobra.Command {
	opts := &StatOptions{IO: f.IO, Start: startServer}
	cmd := &cobra.Command{
		Use:   "stat [--json] [flags] PATH -- SERVER [ARGS...]",
		Short: "Print the attributes of a file of a FUSE server, without mounting it",
		Long: heredoc.Doc(`
			Start SERVER on a socketpair and print the attributes of PATH
			(relative to the server's root; / is the root) as the server
			returns them to LOOKUP and GETATTR. A symbolic link is described
			itself, not followed. --record keeps the session, whose decode
			shows the node IDs and cache timeouts the server chose.
		`),
		Example: heredoc.Doc(`
			$ fusectl stat /big.bin -- squashfuse -f img.sqfs {}
			$ fusectl stat --json / -- demofs {}
		`),
		RunE: func(cmd *cobra.Command, args []string) error {
			operands, err := opts.parse(cmd, args, "stat", 1, 1)
			if err != nil {
				return err
			}
			opts.Path = operands[0]
			if runF != nil {
				return runF(opts)
			}
			return runStat(cmdContext(cmd), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the attributes as JSON")
	opts.bind(cmd)
	return cmd
}

func runStat(ctx context.Context, opts *StatOptions) error {
	s, err := openSession(ctx, opts.IO, &opts.ServerFlags, opts.Start)
	if err != nil {
		return err
	}
	fsys := client.NewFS(s.conn, client.FSOptions{}).WithContext(ctx)
	name := fsPath(opts.Path)
	fi, serr := fsys.Lstat(name)
	target := ""
	if serr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, serr = fsys.ReadLink(name)
	}
	if err := s.Close(); err != nil && serr == nil {
		serr = err
	}
	if serr != nil {
		return pathErr("stat", opts.Path, serr)
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(toJSON(opts.Path, fi, target))
	}
	a, _ := fi.Sys().(*abi.Attr)
	if a == nil {
		a = &abi.Attr{}
	}
	tf := func(sec uint64, nsec uint32) string {
		return attrTime(sec, nsec).UTC().Format(time.RFC3339Nano)
	}
	name = opts.Path
	if target != "" {
		name += " -> " + target
	}
	rows := [][2]string{
		{"path", name},
		{"type", typeName(a.Mode)},
		{"mode", fmt.Sprintf("%s (%04o)", decode.ModeString(a.Mode), a.Mode&0o7777)},
		{"size", fmt.Sprint(a.Size)},
		{"blocks", fmt.Sprint(a.Blocks)},
		{"blksize", fmt.Sprint(a.Blksize)},
		{"ino", fmt.Sprint(a.Ino)},
		{"nlink", fmt.Sprint(a.Nlink)},
		{"uid", fmt.Sprint(a.UID)},
		{"gid", fmt.Sprint(a.GID)},
		{"rdev", fmt.Sprint(a.Rdev)},
		{"atime", tf(a.Atime, a.Atimensec)},
		{"mtime", tf(a.Mtime, a.Mtimensec)},
		{"ctime", tf(a.Ctime, a.Ctimensec)},
	}
	if a.Flags != 0 {
		rows = append(rows, [2]string{"attr flags", a.Flags.String()})
	}
	out := opts.IO.Out
	if opts.IO.IsStdoutTTY() {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, r := range rows {
			fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
		}
		return tw.Flush()
	}
	for _, r := range rows {
		if _, err := fmt.Fprintf(out, "%s\t%s\n", r[0], r[1]); err != nil {
			return err
		}
	}
	return nil
}
