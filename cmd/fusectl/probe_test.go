package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fusectl/fusectl/client/launch"
)

func TestNewCmdProbe(t *testing.T) {
	tests := []struct {
		name    string
		cli     string
		want    ProbeOptions
		wantErr string
	}{
		{name: "server", cli: "-- squashfuse -f img.sqfs {}", want: ProbeOptions{ServerFlags: ServerFlags{Server: []string{"squashfuse", "-f", "img.sqfs", "{}"}}}},
		{name: "json method record", cli: "--json --method shim-namespace --record s.fcap -- bindfs -f /d {}",
			want: ProbeOptions{JSON: true, ServerFlags: ServerFlags{Server: []string{"bindfs", "-f", "/d", "{}"}, Method: launch.ShimNamespace, RecordPath: "s.fcap"}}},
		{name: "verbose output", cli: "-v --server-output -- x", want: ProbeOptions{ServerFlags: ServerFlags{Server: []string{"x"}, Verbose: true, ServerOutput: true}}},
		{name: "start timeout", cli: "--start-timeout 5s -- x", want: ProbeOptions{ServerFlags: ServerFlags{Server: []string{"x"}, StartTimeout: 5 * time.Second}}},
		{name: "zero start timeout", cli: "--start-timeout 0 -- x", wantErr: "invalid --start-timeout 0s: must be positive"},
		{name: "no dash", cli: "squashfuse img {}", wantErr: "missing -- before the server command"},
		{name: "no server", cli: "--json --", wantErr: "missing server command after --"},
		{name: "operand", cli: "/a -- x", wantErr: "probe takes no arguments before --, got 1"},
		{name: "bad method", cli: "--method magic -- x", wantErr: `--method: unknown launch method: "magic" (want auto, devfd, shim-path, shim-namespace or intercept)`},
		{name: "unknown flag", cli: "--frob -- x", wantErr: "unknown flag: --frob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(t, tt.cli, NewCmdProbe)
			if wantError(t, err, tt.wantErr) {
				return
			}
			if strings.Join(got.Server, " ") != strings.Join(tt.want.Server, " ") || got.JSON != tt.want.JSON ||
				got.Method != tt.want.Method || got.RecordPath != tt.want.RecordPath ||
				got.Verbose != tt.want.Verbose || got.ServerOutput != tt.want.ServerOutput ||
				(tt.want.StartTimeout != 0 && got.StartTimeout != tt.want.StartTimeout) || got.StartTimeout <= 0 {
				t.Errorf("options %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestProbeRun(t *testing.T) {
	tests := []struct {
		name string
		tty  bool
		json bool
		want []string // substrings of the output, in order
	}{
		{name: "tty", tty: true, want: []string{"server:", "demofs {}", "method:", "devfd", "mount options:", "(not visible with devfd)",
			"protocol:", "7.28 (offered 7.45)", "flags:", "ASYNC_READ", "max_write:", "max_pages:", "init reply:", "64 bytes"}},
		{name: "pipe", want: []string{"server\tdemofs {}\n", "method\tdevfd\n", "protocol\t7.28 (offered 7.45)\n", "max_background\t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, out, _ := testIO(tt.tty)
			opts := &ProbeOptions{IO: ios, Start: demofsStarter(t, "", 1), ServerFlags: ServerFlags{Server: []string{"demofs", "{}"}}}
			if err := runProbe(t.Context(), opts); err != nil {
				t.Fatal(err)
			}
			s := out.String()
			for _, w := range tt.want {
				i := strings.Index(s, w)
				if i < 0 {
					t.Fatalf("output lacks %q:\n%s", w, out.String())
				}
				s = s[i+len(w):]
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		ios, out, _ := testIO(false)
		opts := &ProbeOptions{IO: ios, JSON: true, Start: demofsStarter(t, "", 1), ServerFlags: ServerFlags{Server: []string{"demofs", "{}"}}}
		if err := runProbe(t.Context(), opts); err != nil {
			t.Fatal(err)
		}
		var r probeResult
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if r.Major != 7 || r.Minor != 28 || r.Method != "devfd" || r.InitReplySize != 64 || len(r.Flags) == 0 || r.MaxWrite == 0 {
			t.Errorf("result %+v", r)
		}
	})
	t.Run("start fails", func(t *testing.T) {
		ios, out, _ := testIO(false)
		opts := &ProbeOptions{IO: ios, Start: failStarter, ServerFlags: ServerFlags{Server: []string{"squashfuse", "x", "{}"}}}
		err := runProbe(t.Context(), opts)
		if err == nil || !strings.Contains(err.Error(), "Can't open squashfs image") {
			t.Errorf("error %v, want the server's output in it", err)
		}
		if out.Len() != 0 {
			t.Errorf("output %q on failure", out)
		}
	})
}
