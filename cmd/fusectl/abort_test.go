package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/fusectl/fusectl/mount"
)

func TestNewCmdAbort(t *testing.T) {
	for _, tt := range []struct{ cli, want, wantErr string }{
		{cli: "/mnt/x", want: "/mnt/x"},
		{cli: "", wantErr: "want one mountpoint, got 0 arguments"},
		{cli: "/a /b", wantErr: "want one mountpoint, got 2 arguments"},
	} {
		t.Run(tt.cli, func(t *testing.T) {
			got, err := parseOptions(t, tt.cli, NewCmdAbort)
			if wantError(t, err, tt.wantErr) {
				return
			}
			if got.Mountpoint != tt.want {
				t.Errorf("mountpoint %q, want %q", got.Mountpoint, tt.want)
			}
		})
	}
}

func TestAbortRun(t *testing.T) {
	var out bytes.Buffer
	var aborted string
	opts := &AbortOptions{IO: TestIO(nil, &out, io.Discard, false), Mountpoint: "/mnt/x", Abort: func(m string) error { aborted = m; return nil }}
	if err := runAbort(opts); err != nil {
		t.Fatal(err)
	}
	if aborted != "/mnt/x" || out.String() != "aborted and unmounted /mnt/x\n" {
		t.Errorf("aborted %q, output %q", aborted, out.String())
	}
	opts.Abort = func(string) error { return mount.ErrNotFUSE }
	if err := runAbort(opts); !errors.Is(err, mount.ErrNotFUSE) {
		t.Errorf("error %v, want ErrNotFUSE", err)
	}
	// Unmounted, but the connection could not be aborted (no root): a
	// success that says what it did not do.
	var warn bytes.Buffer
	out.Reset()
	opts.IO = TestIO(nil, &out, &warn, false)
	opts.Abort = func(string) error {
		return fmt.Errorf("%w: the control file system is not mounted", mount.ErrNotAborted)
	}
	if err := runAbort(opts); err != nil {
		t.Errorf("partial abort: %v, want success", err)
	}
	if out.String() != "unmounted /mnt/x (lazily, not aborted)\n" || !strings.Contains(warn.String(), "fusectl: warning: connection not aborted: the control file system is not mounted") {
		t.Errorf("partial abort said %q and %q", out.String(), warn.String())
	}
}
