package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/client"
	"github.com/fusectl/fusectl/decode"
)

// LsOptions are the inputs of `fusectl ls`.
type LsOptions struct {
	IO *IOStreams
	// Start starts the server; tests replace it.
	Start Starter

	ServerFlags
	// Path is the directory (or file) to list, "/" for the root.
	Path string
	// Long prints mode, links, owner, size and time.
	Long bool
	// JSON prints a JSON array.
	JSON bool
}

// NewCmdLs builds `fusectl ls`. runF, if set, receives the parsed options
// instead of runLs (tests).
func NewCmdLs(f *Factory, runF func(*LsOptions) error) *cobra.Command {
	opts := &LsOptions{IO: f.IO, Start: startServer}
	cmd := &cobra.Command{
		Use:   "ls [-l] [--json] [flags] [PATH] -- SERVER [ARGS...]",
		Short: "List a directory of a FUSE server, without mounting it",
		Long: heredoc.Doc(`
			Start SERVER on a socketpair and list PATH (relative to the
			server's root; / is the root, and the default) through fusectl's
			own FUSE client: LOOKUP, OPENDIR, READDIR or READDIRPLUS,
			RELEASEDIR. "." and ".." are not listed. No mount and no root are
			needed for servers that accept /dev/fd/N.
		`),
		Example: heredoc.Doc(`
			$ fusectl ls -- squashfuse -f img.sqfs {}
			$ fusectl ls -l --json /sub -- demofs -seed ./data {}
		`),
		RunE: func(cmd *cobra.Command, args []string) error {
			operands, err := opts.parse(cmd, args, "ls", 0, 1)
			if err != nil {
				return err
			}
			opts.Path = "/"
			if len(operands) == 1 {
				opts.Path = operands[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return runLs(cmdContext(cmd), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Long, "long", "l", false, "long listing: mode, links, owner, size, time")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the entries as a JSON array")
	opts.bind(cmd)
	return cmd
}

// fileJSON is the JSON form of a file for ls and stat.
type fileJSON struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Mode   string `json:"mode"`
	Perm   uint32 `json:"perm"`
	Size   int64  `json:"size"`
	Ino    uint64 `json:"ino"`
	Nlink  uint32 `json:"nlink"`
	UID    uint32 `json:"uid"`
	GID    uint32 `json:"gid"`
	Rdev   uint32 `json:"rdev,omitempty"`
	Blocks uint64 `json:"blocks"`
	Atime  string `json:"atime"`
	Mtime  string `json:"mtime"`
	Ctime  string `json:"ctime"`
	Target string `json:"target,omitempty"`
}

func attrTime(sec uint64, nsec uint32) time.Time { return time.Unix(int64(sec), int64(nsec)) }

// typeName names the file type of a Linux mode.
func typeName(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return "regular file"
	case syscall.S_IFDIR:
		return "directory"
	case syscall.S_IFLNK:
		return "symbolic link"
	case syscall.S_IFCHR:
		return "character device"
	case syscall.S_IFBLK:
		return "block device"
	case syscall.S_IFIFO:
		return "fifo"
	case syscall.S_IFSOCK:
		return "socket"
	}
	return "unknown"
}

func toJSON(name string, fi fs.FileInfo, target string) fileJSON {
	a, _ := fi.Sys().(*abi.Attr)
	if a == nil {
		a = &abi.Attr{}
	}
	return fileJSON{
		Name: name, Type: typeName(a.Mode), Mode: decode.ModeString(a.Mode), Perm: a.Mode & 0o7777,
		Size: fi.Size(), Ino: a.Ino, Nlink: a.Nlink, UID: a.UID, GID: a.GID, Rdev: a.Rdev, Blocks: a.Blocks,
		Atime:  attrTime(a.Atime, a.Atimensec).UTC().Format(time.RFC3339Nano),
		Mtime:  attrTime(a.Mtime, a.Mtimensec).UTC().Format(time.RFC3339Nano),
		Ctime:  attrTime(a.Ctime, a.Ctimensec).UTC().Format(time.RFC3339Nano),
		Target: target,
	}
}

// pathErr reports a failed operation on a command-line path.
func pathErr(op, p string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s %s: %w", op, p, err)
}

type lsEntry struct {
	name   string
	info   fs.FileInfo
	target string
}

func runLs(ctx context.Context, opts *LsOptions) error {
	s, err := openSession(ctx, opts.IO, &opts.ServerFlags, opts.Start)
	if err != nil {
		return err
	}
	ents, lerr := listPath(client.NewFS(s.conn, client.FSOptions{}).WithContext(ctx), opts.Path, opts.Long || opts.JSON)
	if err := s.Close(); err != nil && lerr == nil {
		lerr = err
	}
	if lerr != nil {
		return lerr
	}
	return printLs(opts, ents)
}

// listPath lists the directory p, or p itself if it is not a directory.
func listPath(fsys *client.FS, p string, long bool) ([]lsEntry, error) {
	name := fsPath(p)
	fi, err := fsys.Lstat(name)
	if err != nil {
		return nil, pathErr("ls", p, err)
	}
	readTarget := func(name string, fi fs.FileInfo) string {
		if fi.Mode()&fs.ModeSymlink == 0 {
			return ""
		}
		t, _ := fsys.ReadLink(name)
		return t
	}
	if !fi.IsDir() {
		return []lsEntry{{name: p, info: fi, target: readTarget(name, fi)}}, nil
	}
	dents, err := fsys.ReadDir(name)
	if err != nil {
		return nil, pathErr("ls", p, err)
	}
	out := make([]lsEntry, 0, len(dents))
	for _, d := range dents {
		e := lsEntry{name: d.Name()}
		if long {
			info, err := d.Info()
			if err != nil {
				return nil, pathErr("ls", path.Join(p, d.Name()), err)
			}
			e.info = info
			e.target = readTarget(path.Join(name, d.Name()), info)
		}
		out = append(out, e)
	}
	return out, nil
}

func printLs(opts *LsOptions, ents []lsEntry) error {
	out := opts.IO.Out
	if opts.JSON {
		list := make([]fileJSON, 0, len(ents))
		for _, e := range ents {
			list = append(list, toJSON(e.name, e.info, e.target))
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if !opts.Long {
		for _, e := range ents {
			if _, err := fmt.Fprintln(out, e.name); err != nil {
				return err
			}
		}
		return nil
	}
	tty := opts.IO.IsStdoutTTY()
	tw := tabwriter.NewWriter(out, 0, 4, 1, ' ', tabwriter.AlignRight)
	for _, e := range ents {
		a, _ := e.info.Sys().(*abi.Attr)
		if a == nil {
			a = &abi.Attr{}
		}
		name := e.name
		if e.target != "" {
			name += " -> " + e.target
		}
		mtime := attrTime(a.Mtime, a.Mtimensec)
		if tty {
			fmt.Fprintf(tw, "%s\t %d\t %d\t %d\t %d\t %s\t %s\t\n", decode.ModeString(a.Mode), a.Nlink, a.UID, a.GID, e.info.Size(),
				mtime.Local().Format("Jan _2 15:04 2006"), strings.ReplaceAll(name, "\t", " "))
			continue
		}
		if _, err := fmt.Fprintf(out, "%s\t%d\t%d\t%d\t%d\t%s\t%s\n", decode.ModeString(a.Mode), a.Nlink, a.UID, a.GID, e.info.Size(),
			mtime.UTC().Format(time.RFC3339), name); err != nil {
			return err
		}
	}
	if tty {
		return tw.Flush()
	}
	return nil
}
