package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
	"github.com/fusectl/fusectl/decode/decodetest"
	"github.com/fusectl/fusectl/internal/procfs"
)

func TestNewCmdDecode(t *testing.T) {
	tests := []struct {
		name    string
		cli     string
		want    DecodeOptions
		wantErr string
	}{
		{name: "file", cli: "s.fcap", want: DecodeOptions{Input: "s.fcap"}},
		{name: "stdin", cli: "-", want: DecodeOptions{Input: "-"}},
		{name: "json stats", cli: "--json --stats s.fcap", want: DecodeOptions{Input: "s.fcap", JSON: true, Stats: true}},
		{name: "time", cli: "--utc --hex s.fcap", want: DecodeOptions{Input: "s.fcap", UTC: true, Hex: true}},
		{name: "relative", cli: "--relative s.fcap", want: DecodeOptions{Input: "s.fcap", Relative: true}},
		{
			name: "filters",
			cli:  "--op LOOKUP,read --errors --min-latency 1.5ms --nodeid 0 --path /a/* --pid 42 s.fcap",
			want: DecodeOptions{Input: "s.fcap", Errors: true, MinLatency: 1500 * time.Microsecond,
				filterFlags: filterFlags{Ops: "LOOKUP,read", NodeID: 0, HasNodeID: true, Path: "/a/*", PID: 42, HasPID: true}},
		},
		{name: "no file", cli: "", wantErr: "decode needs one capture file, or - for standard input"},
		{name: "two files", cli: "a b", wantErr: "decode needs one capture file, or - for standard input"},
		{name: "utc and relative", cli: "--utc --relative s.fcap", wantErr: "--utc and --relative cannot be used together"},
		{name: "hex and stats", cli: "--hex --stats s.fcap", wantErr: "--hex and --stats cannot be used together"},
		{name: "bad op", cli: "--op LOOKUP,FROB s.fcap", wantErr: `invalid --op: unknown operation "FROB"`},
		{name: "empty op", cli: "--op , s.fcap", wantErr: "invalid --op: empty operation list"},
		{name: "negative latency", cli: "--min-latency -1ms s.fcap", wantErr: "invalid --min-latency -1ms: must not be negative"},
		{name: "bad latency", cli: "--min-latency soon s.fcap", wantErr: `invalid argument "soon" for "--min-latency" flag: time: invalid duration "soon"`},
		{name: "bad pid", cli: "--pid -1 s.fcap", wantErr: `invalid argument "-1" for "--pid" flag: strconv.ParseUint: parsing "-1": invalid syntax`},
		{name: "unknown flag", cli: "--frob s.fcap", wantErr: "unknown flag: --frob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(t, tt.cli, NewCmdDecode)
			if wantError(t, err, tt.wantErr) {
				return
			}
			w := tt.want
			if got.Input != w.Input || got.JSON != w.JSON || got.Stats != w.Stats || got.Hex != w.Hex ||
				got.UTC != w.UTC || got.Relative != w.Relative || got.Ops != w.Ops || got.Errors != w.Errors ||
				got.MinLatency != w.MinLatency || got.NodeID != w.NodeID || got.HasNodeID != w.HasNodeID ||
				got.Path != w.Path || got.PID != w.PID || got.HasPID != w.HasPID {
				t.Errorf("options\n got %+v\nwant %+v", *got, w)
			}
			if w.Ops != "" && got.filter.Ops == nil {
				t.Errorf("--op not parsed into the filter")
			}
		})
	}
}

// writeSession writes the realistic session capture into a temp dir.
func writeSession(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.fcap")
	if err := decodetest.WriteFile(p, decodetest.Realistic); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecodeRun(t *testing.T) {
	session := writeSession(t)
	data, err := os.ReadFile(session)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	trunc := filepath.Join(dir, "trunc.fcap")
	os.WriteFile(trunc, data[:len(data)-20], 0o600)
	bad := filepath.Join(dir, "corrupt.fcap")
	os.WriteFile(bad, corrupt(data), 0o600)

	tests := []struct {
		name       string
		opts       DecodeOptions
		tty        bool
		stdin      []byte
		wantOut    []string // substrings, in order
		wantNotOut []string
		wantErrOut string
		wantErr    string
		lines      int
	}{
		{
			name: "text", opts: DecodeOptions{Input: session, UTC: true},
			wantOut: []string{
				"12:00:01.000020 #4 LOOKUP n1 \"dir\" pid=4242\n",
				"#12 OK 2.01ms READ data=6B:68656c6c6f0a\n",
				"#14 ENOENT 10µs LOOKUP n2 \"nope.txt\"\n",
				"#23 INTERRUPT of #22 READ n4 \"/dir/b.txt\"\n",
				"notify DELETE n2 \"a.txt\" child=n3\n",
			},
			lines: 27,
		},
		{
			name: "stdin relative", opts: DecodeOptions{Input: "-", Relative: true}, stdin: data,
			wantOut: []string{"+0.000000 #2 INIT", "+0.000020 #4 LOOKUP"}, lines: 27,
		},
		{
			name: "errors only", opts: DecodeOptions{Input: session, UTC: true, Errors: true},
			wantOut: []string{"#14 ENOENT", "#22 EINTR"}, wantNotOut: []string{"#4 "}, lines: 2,
		},
		{
			name: "slow", opts: DecodeOptions{Input: session, UTC: true, MinLatency: time.Millisecond},
			wantOut: []string{"#12 OK 2.01ms READ"}, lines: 1,
		},
		{
			name: "path and pid", opts: DecodeOptions{Input: session, UTC: true, filterFlags: filterFlags{Path: "/dir/b*", PID: 777, HasPID: true}},
			// The INTERRUPT of #22 goes with it.
			wantOut: []string{"#22 READ n4 \"/dir/b.txt\"", "#23 INTERRUPT of #22 READ n4", "#22 EINTR"}, lines: 3,
		},
		{
			name: "stats tty", opts: DecodeOptions{Input: session, Stats: true}, tty: true,
			wantOut: []string{"OP                  COUNT  REPLIES  ERRORS   P50     P90     P99     MAX\n", "READ                    2        2       1  20µs  2.01ms  2.01ms  2.01ms\n", "TOTAL                  15       12       2\n"},
		},
		{
			name: "stats piped", opts: DecodeOptions{Input: session, Stats: true},
			wantOut: []string{"OP\tCOUNT\tREPLIES\tERRORS\tP50\tP90\tP99\tMAX\n", "READ\t2\t2\t1\t20µs\t2.01ms\t2.01ms\t2.01ms\n"},
		},
		{
			name: "truncated", opts: DecodeOptions{Input: trunc, UTC: true},
			wantOut:    []string{"#24 OK"},
			wantErrOut: "fusectl: warning: " + trunc + " ends inside a record (truncated capture); decoded 26 records\n",
			lines:      26,
		},
		{
			name: "corrupt", opts: DecodeOptions{Input: bad, UTC: true},
			wantOut: []string{"#2 INIT"},
			wantErr: "corrupt capture at byte offset",
		},
		{
			name: "missing", opts: DecodeOptions{Input: filepath.Join(dir, "nope.fcap")},
			wantErr: "no such file or directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			opts := tt.opts
			opts.IO = TestIO(bytes.NewReader(tt.stdin), &out, &errOut, tt.tty)
			opts.Open = func(p string) (io.ReadCloser, error) { return os.Open(p) }
			opts.Ctx = context.Background()
			opts.filter = decode.Filter{ErrorsOnly: opts.Errors, MinLatency: opts.MinLatency, Path: opts.Path, PID: opts.PID, HasPID: opts.HasPID}
			err := runDecode(&opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			s := out.String()
			at := 0
			for _, w := range tt.wantOut {
				i := strings.Index(s[at:], w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, s)
				}
				at += i + len(w)
			}
			for _, w := range tt.wantNotOut {
				if strings.Contains(s, w) {
					t.Errorf("output has %q:\n%s", w, s)
				}
			}
			if tt.lines > 0 && strings.Count(s, "\n") != tt.lines {
				t.Errorf("%d lines, want %d:\n%s", strings.Count(s, "\n"), tt.lines, s)
			}
			if errOut.String() != tt.wantErrOut {
				t.Errorf("stderr %q, want %q", errOut.String(), tt.wantErrOut)
			}
		})
	}
}

func TestDecodeRunJSON(t *testing.T) {
	session := writeSession(t)
	var out bytes.Buffer
	opts := DecodeOptions{Input: session, JSON: true, IO: TestIO(nil, &out, io.Discard, false),
		Open: func(p string) (io.ReadCloser, error) { return os.Open(p) }}
	if err := runDecode(&opts); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 27 {
		t.Fatalf("%d JSON lines, want 27", len(lines))
	}
	var v struct {
		Op        string  `json:"op"`
		Dir       string  `json:"dir"`
		Error     *string `json:"error"`
		LatencyNs *int64  `json:"latency_ns"`
		Path      string  `json:"path"`
	}
	if err := json.Unmarshal([]byte(lines[13]), &v); err != nil {
		t.Fatal(err)
	}
	if v.Op != "LOOKUP" || v.Dir != "reply" || v.Error == nil || *v.Error != "ENOENT" || v.LatencyNs == nil || *v.LatencyNs != 10000 || v.Path != "/dir/nope.txt" {
		t.Errorf("line 14 decoded as %+v: %s", v, lines[13])
	}

	out.Reset()
	opts.Stats = true
	if err := runDecode(&opts); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Records uint64 `json:"records"`
		Ops     []struct {
			Op     string `json:"op"`
			Count  uint64 `json:"count"`
			Errors uint64 `json:"errors"`
			P99    int64  `json:"p99_ns"`
		} `json:"ops"`
	}
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatalf("stats JSON: %v\n%s", err, out.Bytes())
	}
	if st.Records != 27 {
		t.Errorf("stats records %d, want 27", st.Records)
	}
}

// BenchmarkDecodeCapture decodes a generated capture of the mixed
// workload (decodetest.Mixed: LOOKUP, GETATTR, OPEN, 256-byte READ,
// RELEASE, ENOENT lookups, READDIRPLUS, FORGET) of 250k and 1M records.
//
// Two measurements per size: records/s of runDecode, the command's own
// code path, to io.Discard in this process; and, once per size, a child
// process running `fusectl decode FILE` with its output on /dev/null,
// which reports its peak resident set (VmHWM from /proc/self/status) as
// peak-RSS-MiB and its own rate as child-records/s. RSS is the whole
// process: Go runtime, reader buffer, session tables and output buffer.
//
// The hostile workload (decodetest.Hostile: a new node per LOOKUP, never
// forgotten, and requests never answered) shows the session's bounded
// tables: its peak RSS stays flat too.
func BenchmarkDecodeCapture(b *testing.B) {
	cases := []struct {
		name  string
		n     int
		build func(*decodetest.Builder, int)
	}{
		{"mixed", 250_000, decodetest.Mixed},
		{"mixed", 1_000_000, decodetest.Mixed},
		{"hostile", 250_000, decodetest.Hostile},
		{"hostile", 1_000_000, decodetest.Hostile},
	}
	for _, c := range cases {
		n := c.n
		b.Run(fmt.Sprintf("%s/records=%d", c.name, n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "capture.fcap")
			if err := decodetest.WriteFile(path, func(bld *decodetest.Builder) { c.build(bld, n) }); err != nil {
				b.Fatal(err)
			}
			opts := DecodeOptions{Input: path, IO: TestIO(nil, io.Discard, io.Discard, false),
				Open: func(p string) (io.ReadCloser, error) { return os.Open(p) }, Ctx: context.Background()}
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := runDecode(&opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "records/s")
			b.StopTimer()

			rss, rate, err := childDecode(path, n)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(rss)/1024, "peak-RSS-MiB")
			b.ReportMetric(rate, "child-records/s")

			// The reference DESIGN.md compares with: tshark reading the
			// same file (it only frames the packets, LINKTYPE_USER0 has no
			// dissector), when it is installed.
			if tsRate, tsRSS, ok := tsharkRead(b, path, n); ok {
				b.ReportMetric(rate/tsRate, "x-tshark-rate")
				b.ReportMetric(float64(tsRSS)/1024, "tshark-RSS-MiB")
			}
		})
	}
}

// tsharkRead times `tshark -r path` with its output on /dev/null and
// returns its records per second and peak RSS in kB (from rusage).
func tsharkRead(b *testing.B, path string, n int) (float64, int64, bool) {
	if _, err := exec.LookPath("tshark"); err != nil {
		return 0, 0, false
	}
	cmd := exec.Command("tshark", "-r", path)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Logf("tshark: %v", err)
		return 0, 0, false
	}
	rate := float64(n) / time.Since(start).Seconds()
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return rate, 0, true
	}
	return rate, ru.Maxrss, true
}

// childDecode runs `fusectl-rss decode path` (this test binary as
// fusectl) with its output on /dev/null and returns its peak RSS in kB and
// its records per second, startup included.
func childDecode(path string, n int) (int, float64, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, 0, err
	}
	defer devnull.Close()
	var stderr bytes.Buffer
	cmd := exec.Command("fusectl-rss", "decode", path)
	cmd.Stdout, cmd.Stderr = devnull, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("child decode: %v: %s", err, stderr.Bytes())
	}
	rate := float64(n) / time.Since(start).Seconds()
	var kb int
	i := bytes.Index(stderr.Bytes(), []byte("VmHWM-kB "))
	if i < 0 {
		return 0, 0, fmt.Errorf("child reported no VmHWM: %s", stderr.Bytes())
	}
	fmt.Sscanf(stderr.String()[i+len("VmHWM-kB "):], "%d", &kb)
	return kb, rate, nil
}

// TestDecodeRunLive reads a capture from a pipe as it is written: each
// record's line must come out before the writer sends the next one.
func TestDecodeRunLive(t *testing.T) {
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inR.Close()
	defer outR.Close()
	opts := DecodeOptions{Input: "-", UTC: true, IO: TestIO(inR, outW, io.Discard, false), Ctx: context.Background()}
	done := make(chan error, 1)
	go func() {
		done <- runDecode(&opts)
		outW.Close()
	}()

	w, err := capture.NewWriter(inW, capture.WriterOptions{ByteOrder: binary.LittleEndian})
	if err != nil {
		t.Fatal(err)
	}
	b := decodetest.New()
	b.Init(45, 0)
	u := b.Request(abi.FUSE_LOOKUP, 1, decodetest.Name("a"))
	b.Reply(u, abi.Errno(2))
	lines := bufio.NewReader(outR)
	for _, m := range b.Msgs {
		if err := w.WriteMsg(m.Time, 0, m.Dir, m.Flags, m.Data); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		// The line arrives while the capture is still open.
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("no line for record: %v", err)
		}
		if !strings.Contains(line, fmt.Sprintf("#%d ", le64(m.Data[8:]))) {
			t.Errorf("line %q is not about the record just written", line)
		}
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !opts.Live {
		t.Errorf("a pipe input did not switch to live output")
	}
}

// reopenedStdin reports whether process pid has its standard input, a
// pipe, open a second time: a live decode does so, non-blocking, once its
// signal handling is in place.
func reopenedStdin(pid int) bool {
	targets := map[int]string{}
	procfs.Descriptors(pid, func(fd int, target string) bool {
		targets[fd] = target
		return true
	})
	in := targets[0]
	for fd, target := range targets {
		if fd != 0 && target == in && strings.HasPrefix(in, "pipe:") {
			return true
		}
	}
	return false
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// TestDecodeLiveSignal: SIGTERM ends a decode of standard input that waits
// for a capture writer gone quiet. Its standard input is a blocking pipe,
// as a shell makes it; fusectl runs as a child (TestMain put it on PATH).
func TestDecodeLiveSignal(t *testing.T) {
	for _, header := range []bool{false, true} {
		cmd := exec.Command("fusectl", "decode", "-")
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if header {
			// A section header: the reader waits for a record.
			w, err := capture.NewWriter(in, capture.WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w.Flush()
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Signalled before it handles SIGTERM, it would die of it.
		eventually(t, "decode reopening its standard input", func() bool { return reopenedStdin(cmd.Process.Pid) })
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
			if code := cmd.ProcessState.ExitCode(); code != exitCancelled || stderr.Len() != 0 {
				t.Errorf("header %v: exit %d, stderr %q; want %d and nothing said", header, code, stderr.String(), exitCancelled)
			}
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("header %v: decode - still waits on its input 5 s after SIGTERM", header)
		}
		in.Close()
	}
}

// TestDecodeOutputError: a failed write to the output is reported as
// such, not as a fault of the capture being read.
func TestDecodeOutputError(t *testing.T) {
	session := writeSession(t)
	full := &fs.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}
	opts := &DecodeOptions{Input: session, IO: TestIO(nil, failingWriter{full}, io.Discard, false), Ctx: context.Background()}
	opts.Open = func(p string) (io.ReadCloser, error) { return os.Open(p) }
	err := runDecode(opts)
	if !errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), session) {
		t.Errorf("error %q, want the write's error without the capture's name", err)
	}
}
