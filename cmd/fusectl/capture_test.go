package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
	"github.com/fusectl/fusectl/decode/decodetest"
	"github.com/fusectl/fusectl/internal/testenv"
	"github.com/fusectl/fusectl/mount"
)

func TestNewCmdCapture(t *testing.T) {
	for _, tt := range []struct {
		name, cli string
		wantErr   string
		check     func(*CaptureOptions) bool
	}{
		{name: "file", cli: "-o s.fcap -c 10 --duration 2s --snaplen 128", check: func(o *CaptureOptions) bool {
			return o.Output == "s.fcap" && o.Count == 10 && o.Duration.Seconds() == 2 && o.SnapLen == 128 && o.filter == (decode.Filter{})
		}},
		{name: "filters", cli: "-o - --op lookup,READ --path /a --pid 7 --nodeid 0", check: func(o *CaptureOptions) bool {
			f := o.filter
			return f.Ops != nil && f.Ops.HasOp(abi.FUSE_LOOKUP) && f.Ops.HasOp(abi.FUSE_READ) && !f.Ops.HasOp(abi.FUSE_OPEN) &&
				f.Path == "/a" && f.HasPID && f.PID == 7 && f.HasNodeID && f.NodeID == 0
		}},
		{name: "no output", cli: "", wantErr: "-o FILE or -o - is required"},
		{name: "bad op", cli: "-o x --op FROB", wantErr: `invalid --op: unknown operation "FROB"`},
		{name: "negative count", cli: "-o x -c -1", wantErr: "invalid -c -1: must not be negative"},
		{name: "negative duration", cli: "-o x --duration -2s", wantErr: "invalid --duration -2s: must not be negative"},
		{name: "negative snaplen", cli: "-o x --snaplen -5", wantErr: "invalid --snaplen -5: must not be negative"},
		{name: "tiny snaplen", cli: "-o x --snaplen 10", wantErr: "--snaplen 10 is too small to keep the headers (minimum 64)"},
		{name: "operand", cli: "-o x y", wantErr: `capture takes no arguments, got "y" (a mount is named with --mount MNT)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(t, tt.cli, NewCmdCapture)
			if wantError(t, err, tt.wantErr) {
				return
			}
			if !tt.check(got) {
				t.Errorf("options %+v", *got)
			}
		})
	}
}

// TestCaptureToTerminal: -o - on a terminal is refused before attaching.
func TestCaptureToTerminal(t *testing.T) {
	var out, errOut strings.Builder
	f := &Factory{IO: TestIO(nil, &out, &errOut, true)}
	ran := false
	cmd := NewCmdCapture(f, func(*CaptureOptions) error { ran = true; return nil })
	cmd.SetArgs([]string{"-o", "-"})
	// cobra's own messages, apart from fusectl's output stream.
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "standard output is a terminal") || ran {
		t.Errorf("capture -o - on a terminal: %v (ran %v), want a refusal before attaching", err, ran)
	}
	if out.Len() != 0 {
		t.Errorf("wrote %d bytes to the terminal", out.Len())
	}
}

// TestCaptureFilter runs a session that starts with synthesized records
// through the capture filter: INIT and the synthesized records are always
// kept, a kept request keeps its reply, and a path may be given under the
// mountpoint.
func TestCaptureFilter(t *testing.T) {
	b := decodetest.New()
	b.O = abi.NativeEndian
	decodetest.Realistic(b)
	tests := []struct {
		name string
		cli  string
		want string // the live records kept
	}{
		{name: "all", cli: "", want: "INIT> INIT< LOOKUP> LOOKUP< LOOKUP> LOOKUP< GETATTR> GETATTR< OPEN> OPEN< READ> READ< LOOKUP> LOOKUP< OPENDIR> OPENDIR< READDIRPLUS> READDIRPLUS< RELEASEDIR> RELEASEDIR< READ> INTERRUPT> READ< INVAL_INODE RELEASE> RELEASE< DELETE"},
		// An INTERRUPT is kept for the operation it interrupts.
		{name: "ops", cli: "--op read,inval_inode", want: "INIT> INIT< READ> READ< READ> INTERRUPT> READ< INVAL_INODE"},
		{name: "path", cli: "--path /dir/a.txt", want: "INIT> INIT< LOOKUP> LOOKUP< GETATTR> GETATTR< OPEN> OPEN< READ> READ< INVAL_INODE RELEASE> RELEASE< DELETE"},
		{name: "full path", cli: "--path /mnt/x/dir/a.txt --op OPEN", want: "INIT> INIT< OPEN> OPEN<"},
		// The kernel's INTERRUPT carries no pid; it is kept for the pid of
		// the request it interrupts.
		{name: "pid", cli: "--pid 777", want: "INIT> INIT< READ> INTERRUPT> READ<"},
		// Nor a node: it is kept for the interrupted request's path.
		{name: "path of an INTERRUPT", cli: "--path /dir/b.txt --op READ", want: "INIT> INIT< READ> INTERRUPT> READ<"},
		// A LOOKUP's reply names the node, its request the directory: the
		// reply goes as its request went (synthesized), not alone.
		{name: "nodeid", cli: "--nodeid 3", want: "INIT> INIT< GETATTR> GETATTR< OPEN> OPEN< READ> READ< INVAL_INODE RELEASE> RELEASE<"},
	}
	// The path of every record in a capture of everything, by position.
	paths := map[int]string{}
	{
		s := decode.NewSession(decode.Options{})
		var rec decode.Record
		for i, m := range b.Msgs {
			s.DecodeMsg(m.Time, m.Dir, m.Flags, m.Data, len(m.Data), abi.NativeEndian, &rec)
			paths[i] = string(rec.Path)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := parseOptions(t, "-o x "+tt.cli, NewCmdCapture)
			if err != nil {
				t.Fatal(err)
			}
			f := newCaptureFilter(opts.filter, "/mnt/x/")
			s := decode.NewSession(decode.Options{})
			var rec decode.Record
			var got []string
			for i, m := range b.Msgs {
				ev := &mount.Event{Time: m.Time, Dir: m.Dir, Flags: m.Flags, Msg: m.Data, OrigLen: len(m.Data)}
				ok, msg, flags := f.keep(ev)
				if !ok {
					continue
				}
				if err := s.DecodeMsg(m.Time, m.Dir, flags, msg, len(msg), abi.NativeEndian, &rec); err != nil {
					t.Fatalf("kept record does not decode after the filter: %v", err)
				}
				if flags&capture.FlagSynthesized != 0 && m.Flags&capture.FlagSynthesized == 0 {
					// Left out by the filter, kept for the paths.
					if !namesNodes(rec.Op) {
						t.Errorf("%s kept as synthesized; only node-naming records are", describe(&rec))
					}
					continue
				}
				got = append(got, describe(&rec))
				// Its path is known as in a capture of everything.
				if string(rec.Path) != paths[i] {
					t.Errorf("%s: path %q, in a capture of everything %q", describe(&rec), rec.Path, paths[i])
				}
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("kept\n %s\nwant\n %s", strings.Join(got, " "), tt.want)
			}
			if c := s.Counters(); c.Unpaired != 0 || s.Pending() != 0 {
				t.Errorf("the kept records leave %d replies unpaired and %d requests pending", c.Unpaired, s.Pending())
			}
		})
	}
}

// describe names a record by operation and direction (> request, < reply);
// notifications by their code.
func describe(r *decode.Record) string {
	switch r.Dir {
	case capture.DirRequest:
		return r.Op.String() + ">"
	case capture.DirReply:
		return r.Op.String() + "<"
	}
	return r.Notify.String()
}

// TestCaptureUnendedFeed: a mount that, asked at Ctrl-C to end the feed,
// sends nothing more (hung, stopped) is given up on, and the capture says
// that records on their way and the final count of drops are missing,
// rather than end as if it had them all.
func TestCaptureUnendedFeed(t *testing.T) {
	base, err := os.MkdirTemp("", "ctl") // short: socket paths are bounded
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	t.Setenv("XDG_RUNTIME_DIR", base)
	dir := mount.DefaultControlDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "m.sock"))
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, _ := bufio.NewReader(c).ReadString('\n')
				if strings.Contains(req, `"status"`) {
					fmt.Fprintln(c, `{"mountpoint":"/mnt/m","minor":45}`)
					return
				}
				// The feed: "live" (a bare 24-byte frame header of
				// kind 4), then silence, whatever the reader does.
				var live [24]byte
				binary.NativeEndian.PutUint32(live[:], 24)
				live[4] = 4
				c.Write(live[:])
				<-hold
			}()
		}
	}()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errOut testenv.Buffer
	done := make(chan error, 1)
	go func() {
		done <- runCommand(ctx, nil, pw, &errOut, "capture", "-o", "-")
		pw.Close()
	}()
	// The file's header: the capture is attached.
	if _, err := io.ReadFull(pr, make([]byte, 16)); err != nil {
		t.Fatalf("capture's output: %v (stderr %q)", err, errOut.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("capture: %v", err)
		}
	case <-time.After(stuck):
		t.Fatal("capture did not end after Ctrl-C")
	}
	if want := "the capture ended without the mount's final count"; !strings.Contains(errOut.String(), want) {
		t.Errorf("capture's stderr %q, want it to say %q", errOut.String(), want)
	}
}
