package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fusectl/fusectl/client/launch"
	"github.com/fusectl/fusectl/mount"
)

func TestNewCmdMount(t *testing.T) {
	tests := []struct {
		name    string
		cli     string
		want    MountOptions
		wantErr string
	}{
		{
			name: "simple",
			cli:  "/mnt/x -- squashfuse -f img.sqfs {}",
			want: MountOptions{Mountpoint: "/mnt/x", Server: []string{"squashfuse", "-f", "img.sqfs", "{}"}, ServerOutput: true},
		},
		{
			name: "options",
			cli:  "-o allow_other -o fsname=x,ro --capture s.fcap --method shim-namespace --no-clamp -v /m -- bindfs -f /src /m",
			want: MountOptions{Mountpoint: "/m", Server: []string{"bindfs", "-f", "/src", "/m"}, MountOpts: []string{"allow_other", "fsname=x,ro"},
				CapturePath: "s.fcap", Method: launch.ShimNamespace, NoClamp: true, Verbose: true, ServerOutput: true},
		},
		{name: "server flags after dash are the server's", cli: "/m -- demofs -o x {}", want: MountOptions{Mountpoint: "/m", Server: []string{"demofs", "-o", "x", "{}"}, ServerOutput: true}},
		{name: "no dash", cli: "/m demofs", wantErr: "missing -- before the server command"},
		{name: "no mountpoint", cli: "-- demofs", wantErr: "want exactly one mountpoint before --, got 0"},
		{name: "two mountpoints", cli: "/a /b -- demofs", wantErr: "want exactly one mountpoint before --, got 2"},
		{name: "no server", cli: "/m --", wantErr: "missing server command after --"},
		{name: "bad method", cli: "--method teleport /m -- demofs", wantErr: "--method: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(t, tt.cli, NewCmdMount)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				var fe *flagError
				if !errors.As(err, &fe) {
					t.Errorf("error %v is not a flag error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			w := tt.want
			if got.Mountpoint != w.Mountpoint || !slices.Equal(got.Server, w.Server) || !slices.Equal(got.MountOpts, w.MountOpts) ||
				got.CapturePath != w.CapturePath || got.Method != w.Method || got.NoClamp != w.NoClamp ||
				got.Verbose != w.Verbose || got.ServerOutput != w.ServerOutput {
				t.Errorf("options\n got %+v\nwant %+v", *got, w)
			}
		})
	}
}

// fakeMount is a mounter that ends when told.
type fakeMount struct {
	closeDelay time.Duration
	ready      chan struct{}
	done       chan struct{}
	err        error
	closed     bool
	st         mount.Status
	ctlErr     error
	output     []byte
}

func (m *fakeMount) Mountpoint() string          { return "/mnt/x" }
func (m *fakeMount) Pid() int                    { return 42 }
func (m *fakeMount) Conn() uint32                { return 7 }
func (m *fakeMount) ControlSocket() string       { return "" }
func (m *fakeMount) ControlErr() error           { return m.ctlErr }
func (m *fakeMount) Ready() <-chan struct{}      { return m.ready }
func (m *fakeMount) Done() <-chan struct{}       { return m.done }
func (m *fakeMount) ServerDone() <-chan struct{} { return nil }
func (m *fakeMount) Method() launch.Method       { return launch.DevFD }
func (m *fakeMount) ServerOutput() []byte        { return m.output }
func (m *fakeMount) Err() error                  { <-m.done; return m.err }
func (m *fakeMount) Status() mount.Status        { return m.st }
func (m *fakeMount) Close() error {
	if !m.closed {
		m.closed = true
		time.Sleep(m.closeDelay)
		select {
		case <-m.done:
		default:
			close(m.done)
		}
	}
	return m.err
}

func TestMountRun(t *testing.T) {
	const mounted = "mounted /mnt/x (server pid 42, connection 7); Ctrl-C to unmount\n"
	tests := []struct {
		name      string
		notReady  bool  // the server never answers INIT
		slowInit  bool  // the server answers INIT late
		slowClose bool  // teardown takes a while
		cancel    bool  // Ctrl-C
		ended     error // the mount ends by itself with this error
		ctlErr    error // the mount has no control socket
		output    string
		wantErr   string
		wantOut   string
		wantErrIn string
	}{
		{name: "ctrl-c", cancel: true, wantOut: mounted, wantErrIn: "unmounted /mnt/x: 10 requests, 9 replies, 1 notification\n"},
		{name: "server exit", ended: mount.ErrServerExited, wantOut: mounted, wantErr: "/mnt/x: server exited"},
		{name: "external unmount", ended: mount.ErrUnmounted, wantOut: mounted},
		{name: "exit before INIT", notReady: true, ended: mount.ErrServerExited, wantErr: "/mnt/x: server exited before answering INIT"},
		{name: "ctrl-c before INIT", notReady: true, cancel: true, wantErrIn: "fusectl: stopped before the server answered INIT\n"},
		// A bazil server (rclone mount) given /dev/fd/3 runs the real
		// fusermount with it.
		{name: "fusermount under devfd", notReady: true, ended: mount.ErrServerExited, output: "mount helper error: fusermount: mount failed: No such file or directory\n",
			wantErr: "/mnt/x: server exited before answering INIT\nhint: the server ran fusermount with /dev/fd/N as its mountpoint; a server that mounts through fusermount needs --method intercept (or shim-path)"},
		{name: "no control socket", cancel: true, ctlErr: errors.New("control socket path too long"), wantOut: mounted, wantErrIn: "fusectl: fusectl capture and ps cannot reach this mount: control socket path too long\n"},
		{name: "slow INIT", slowInit: true, cancel: true, wantOut: mounted, wantErrIn: "fusectl: mounted /mnt/x, waiting for the server (pid 42) to answer INIT; Ctrl-C to give up\n"},
		{name: "slow teardown", slowClose: true, cancel: true, wantOut: mounted, wantErrIn: "fusectl: unmounting /mnt/x: waiting for the server (pid 42) to finish\nunmounted /mnt/x"},
	}
	defer func(p, q time.Duration) { initPatience, teardownPatience = p, q }(initPatience, teardownPatience)
	initPatience, teardownPatience = 10*time.Millisecond, 10*time.Millisecond
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			fm := &fakeMount{ready: make(chan struct{}), done: make(chan struct{}), ctlErr: tt.ctlErr, output: []byte(tt.output), st: mount.Status{Mountpoint: "/mnt/x", Requests: 10, Replies: 9, Notifies: 1, CaptureDropped: 3}}
			if tt.slowClose {
				fm.closeDelay = 200 * time.Millisecond
			}
			switch {
			case tt.slowInit:
				time.AfterFunc(100*time.Millisecond, func() { close(fm.ready) })
			case !tt.notReady:
				close(fm.ready)
			}
			var gotOpts mount.Options
			opts := &MountOptions{
				IO:          TestIO(nil, &out, &errOut, false),
				Mountpoint:  "/mnt/x",
				Server:      []string{"demofs", "{}"},
				CapturePath: "s.fcap",
				Start: func(ctx context.Context, o mount.Options) (mounter, error) {
					gotOpts = o
					return fm, nil
				},
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			switch {
			case tt.slowInit:
				// Ctrl-C once mounted.
				go func() {
					<-fm.ready
					cancel()
				}()
			case tt.cancel:
				cancel()
			default:
				fm.err = tt.ended
				close(fm.done)
			}
			err := runMount(ctx, opts)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("runMount: %v", err)
			}
			if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if !fm.closed {
				t.Errorf("mount not closed")
			}
			if gotOpts.CapturePath != "s.fcap" || !slices.Equal(gotOpts.Args, opts.Server) {
				t.Errorf("mount options %+v", gotOpts)
			}
			if out.String() != tt.wantOut {
				t.Errorf("stdout %q, want %q", out.String(), tt.wantOut)
			}
			if !strings.Contains(errOut.String(), tt.wantErrIn) {
				t.Errorf("stderr %q, want it to contain %q", errOut.String(), tt.wantErrIn)
			}
			if !strings.Contains(errOut.String(), "fusectl: warning: capture s.fcap lost 3 records") {
				t.Errorf("capture drops not reported: %q", errOut.String())
			}
			// A mount that never became ready was never announced.
			if said := strings.Contains(errOut.String(), "unmounted"); said != (tt.wantOut != "") {
				t.Errorf("stderr %q: says unmounted %v, want %v", errOut.String(), said, !said)
			}
		})
	}
}

// TestMountInterruptedStart: while Start waits for the server to ask for
// its mount, fusectl says that it waits, and a Ctrl-C ends the command
// then, saying so, with no error and no mount announced.
func TestMountInterruptedStart(t *testing.T) {
	defer func(p time.Duration) { initPatience = p }(initPatience)
	initPatience = 10 * time.Millisecond
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := &MountOptions{
		IO:         TestIO(nil, &out, &errOut, false),
		Mountpoint: "/mnt/x",
		Server:     []string{"cryfs", "{}"},
		Start: func(ctx context.Context, o mount.Options) (mounter, error) {
			time.Sleep(50 * time.Millisecond) // past initPatience
			cancel()
			<-ctx.Done()
			return nil, fmt.Errorf("start server: wait for the server to mount: %w", ctx.Err())
		},
	}
	if err := runMount(ctx, opts); err != nil {
		t.Fatalf("runMount: %v", err)
	}
	want := "fusectl: waiting for the server to mount /mnt/x; Ctrl-C to give up\nfusectl: stopped before the server mounted /mnt/x\n"
	if errOut.String() != want || out.Len() != 0 {
		t.Errorf("stdout %q, stderr %q; want nothing and %q", out.String(), errOut.String(), want)
	}
	// A start that fails by itself still fails.
	opts.Start = func(ctx context.Context, o mount.Options) (mounter, error) {
		return nil, errors.New("start server: server exited before mounting")
	}
	if err := runMount(context.Background(), opts); err == nil {
		t.Error("a failed start returned no error")
	}
}
