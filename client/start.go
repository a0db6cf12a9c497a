package client

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/fusectl/fusectl/client/launch"
	"github.com/fusectl/fusectl/client/transport"
)

// StartError is the error of Start when the server was launched but the
// INIT handshake failed; Output holds what the server printed.
type StartError struct {
	Err    error
	Output []byte
	// Method is how the server was given its socket.
	Method launch.Method
}

// Error returns the handshake error's text.
func (e *StartError) Error() string { return e.Err.Error() }

// Unwrap returns the handshake error.
func (e *StartError) Unwrap() error { return e.Err }

// Start launches a server with package launch and runs INIT with it. The
// caller closes the Conn and then stops the Server. On error nothing is
// left running.
func Start(ctx context.Context, lopts launch.Options, opts Options) (*Conn, *launch.Server, error) {
	if lopts.Logf == nil {
		lopts.Logf = opts.Logf
	}
	srv, err := launch.Start(ctx, lopts)
	if err != nil {
		return nil, nil, fmt.Errorf("start server: %w", err)
	}
	if opts.MaxMessage == 0 {
		// The socket's send buffers hold MaxWrite + 4096 bytes.
		mw := lopts.MaxWrite
		if mw <= 0 {
			mw = transport.DefaultMaxWrite
		}
		opts.MaxMessage = mw + 4096
	}
	if srv.NeverSplices() {
		opts.NoSplice = true
	}
	c, err := Dial(ctx, srv.Conn(), opts)
	if err != nil {
		exited := false
		if errors.Is(err, syscall.ENOTCONN) {
			// The server closed the socket; give it a moment to be
			// reaped so that its exit status can be reported.
			t := time.NewTimer(time.Second)
			select {
			case <-srv.Done():
				exited = true
			case <-t.C:
			}
			t.Stop()
		}
		srv.Stop(context.Background())
		if werr := srv.Wait(); exited {
			// Most often the server refused its arguments; a program
			// that is no FUSE server ends at once with status 0.
			status := "status 0"
			if werr != nil {
				status = werr.Error()
			}
			err = &exitedError{status: status, err: err}
		}
		return nil, nil, &StartError{Err: err, Output: srv.Output(), Method: srv.Method()}
	}
	return c, srv, nil
}

// exitedError says that the server exited before it answered INIT, which
// says more than how the socket failed; it wraps that error.
type exitedError struct {
	status string // "exit status 3", "signal: killed"
	err    error
}

func (e *exitedError) Error() string {
	return "server exited before answering INIT (" + e.status + ")"
}

func (e *exitedError) Unwrap() error { return e.err }
