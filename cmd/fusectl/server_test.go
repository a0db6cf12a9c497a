package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/shlex"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/client"
	"github.com/fusectl/fusectl/client/launch"
	"github.com/fusectl/fusectl/client/transport"
	"github.com/fusectl/fusectl/internal/demofs"
)

// inprocServer is a demofs served in this process on a socketpair: the
// Starter of the Run tests, so they need no external program.
type inprocServer struct {
	done chan struct{}
}

func (s *inprocServer) Method() launch.Method  { return launch.DevFD }
func (s *inprocServer) MountOptions() []string { return nil }
func (s *inprocServer) Output() []byte         { return nil }
func (s *inprocServer) Stop(context.Context) error {
	// Conn.Close closed our end; go-fuse's loop ends on end of stream.
	<-s.done
	return nil
}

// demofsStarter returns a Starter serving a demofs seeded from dir in
// process. It fails the test if it is called more than max times (a fake
// that is not supposed to be used).
func demofsStarter(t *testing.T, seed string, max int) Starter {
	var mu sync.Mutex
	calls := 0
	return func(ctx context.Context, lopts launch.Options, copts client.Options) (*client.Conn, Server, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n > max {
			t.Errorf("server started %d times, want at most %d", n, max)
			return nil, nil, errors.New("unexpected start")
		}
		local, remote, err := transport.SocketPair(transport.Options{})
		if err != nil {
			return nil, nil, err
		}
		// go-fuse owns (and closes) the descriptor it is given.
		fd, err := unix.Dup(int(remote.Fd()))
		remote.Close()
		if err != nil {
			local.Close()
			return nil, nil, err
		}
		f, err := demofs.New(demofs.Options{Seed: seed})
		if err != nil {
			local.Close()
			unix.Close(fd)
			return nil, nil, err
		}
		s := &inprocServer{done: make(chan struct{})}
		go func() {
			defer close(s.done)
			srv, err := f.Mount(fmt.Sprintf("/dev/fd/%d", fd), demofs.MountConfig{TTL: time.Second})
			if err != nil {
				return
			}
			srv.Wait()
		}()
		c, err := client.Dial(ctx, local, copts)
		if err != nil {
			<-s.done
			return nil, nil, &client.StartError{Err: err}
		}
		return c, s, nil
	}
}

// failStarter is a Starter that fails like a server that exits at once.
func failStarter(ctx context.Context, lopts launch.Options, copts client.Options) (*client.Conn, Server, error) {
	return nil, nil, &client.StartError{Err: errors.New("init: server gone"), Output: []byte("Can't open squashfs image: No such file or directory\n")}
}

// seedDir makes the tree the Run tests list and read.
func seedDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "a.txt"), []byte("hello from a\n"), 0o644))
	must(os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "sub", "c.txt"), []byte("sea\n"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "big.bin"), bytes.Repeat([]byte{0xa5}, 300<<10), 0o644))
	must(os.Symlink("a.txt", filepath.Join(dir, "link")))
	return dir
}

// parseCmd runs a command built by newCmd on a shlex-split command line
// and returns its error.
func parseCmd(t *testing.T, cli string, newCmd func(f *Factory) *cobra.Command) error {
	t.Helper()
	f := &Factory{IO: TestIO(nil, io.Discard, io.Discard, false)}
	cmd := newCmd(f)
	args, err := shlex.Split(cli)
	if err != nil {
		t.Fatal(err)
	}
	// Not nil: cobra would parse the test binary's own arguments.
	cmd.SetArgs(append([]string{}, args...))
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	_, err = cmd.ExecuteC()
	return err
}

// parseOptions runs the command newCmd builds on the command line cli,
// with a run function that only keeps the parsed options, and returns
// them (nil if the command failed before running) with the error.
func parseOptions[O any](t *testing.T, cli string, newCmd func(*Factory, func(*O) error) *cobra.Command) (*O, error) {
	t.Helper()
	var got *O
	err := parseCmd(t, cli, func(f *Factory) *cobra.Command {
		return newCmd(f, func(o *O) error { got = o; return nil })
	})
	return got, err
}

// wantError checks err against wantErr, an exact error text or "" for
// none, and reports whether the test case ends there (an error was
// expected).
func wantError(t *testing.T, err error, wantErr string) bool {
	t.Helper()
	if wantErr != "" {
		if err == nil || err.Error() != wantErr {
			t.Fatalf("error %v, want %q", err, wantErr)
		}
		return true
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	return false
}

// testIO returns streams writing to buffers.
func testIO(tty bool) (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return TestIO(nil, &out, &errOut, tty), &out, &errOut
}

// TestDemofsScripts runs the scripts of testdata/script/demofs with a
// freshly built demofs on PATH (the scripts directly in testdata/script
// use servers installed on the machine).
func TestDemofsScripts(t *testing.T) {
	bin := filepath.Dir(buildDemofs(t))
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script", "demofs"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", bin+string(os.PathListSeparator)+env.Getenv("PATH"))
			return nil
		},
		RequireExplicitExec: true,
	})
}

// TestServerStartError checks the message of a server that fails: its
// output is shown.
func TestServerStartError(t *testing.T) {
	ios, _, _ := testIO(false)
	sf := &ServerFlags{Server: []string{"squashfuse", "-f", "nonexistent.sqfs", "{}"}}
	_, err := openSession(context.Background(), ios, sf, failStarter)
	if err == nil {
		t.Fatal("no error")
	}
	want := "server squashfuse failed to start: init: server gone\nserver output:\n  Can't open squashfs image: No such file or directory"
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
	if !strings.Contains(err.Error(), "Can't open") {
		t.Error("server output missing")
	}
}

// TestServerStartHint: a server given /dev/fd/N that ran the real
// fusermount with it is told about the fake one; under another method, or
// without fusermount in its output, nothing is added.
func TestServerStartHint(t *testing.T) {
	const hint = "\nhint: the server ran fusermount with /dev/fd/N as its mountpoint; a server that mounts through fusermount needs --method intercept (or shim-path)"
	out := []byte("mount helper error: fusermount: mount failed: No such file or directory\n")
	for _, tt := range []struct {
		method launch.Method
		output []byte
		want   string
	}{
		{launch.DevFD, out, "server rclone failed to start: init: server gone\nserver output:\n  mount helper error: fusermount: mount failed: No such file or directory" + hint},
		{launch.ShimPath, out, "server rclone failed to start: init: server gone\nserver output:\n  mount helper error: fusermount: mount failed: No such file or directory"},
		{launch.DevFD, []byte("usage: rclone\n"), "server rclone failed to start: init: server gone\nserver output:\n  usage: rclone"},
	} {
		err := serverStartError([]string{"rclone"}, &client.StartError{Err: errors.New("init: server gone"), Output: tt.output, Method: tt.method})
		if err.Error() != tt.want {
			t.Errorf("%v, %q:\n%s\nwant:\n%s", tt.method, tt.output, err, tt.want)
		}
	}
}
