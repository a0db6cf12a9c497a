package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/fusectl/fusectl/client/launch"
	"github.com/fusectl/fusectl/decode/decodetest"
)

// TestMain makes the test binary double as fusectl, so that the scripts
// under testdata/script run the real command: "fusectl ARGS" in a script
// runs Main in a child process. fusectl-rss is fusectl that reports its
// peak resident set (VmHWM) on standard error when it exits, for the
// decode benchmark.
func TestMain(m *testing.M) {
	// A server started from this process by a shim method runs this
	// binary as its fusermount or launcher.
	if code, ok := launch.RunShimIfInvoked(); ok {
		os.Exit(code)
	}
	testscript.Main(m, map[string]func(){
		"fusectl": func() { os.Exit(Main()) },
		"fusectl-rss": func() {
			code := Main()
			fmt.Fprintf(os.Stderr, "VmHWM-kB %d\n", peakRSSkB())
			os.Exit(code)
		},
		"read-threads": readThreads,
	})
}

// readThreads reads the file os.Args[1] over and over from three threads
// of its own until killed: a multi-threaded process, whose requests carry
// its threads' IDs.
func readThreads() {
	// Three threads at once whatever GOMAXPROCS the tests run with: with
	// one P, the thread that holds it keeps it through system calls that
	// return quickly, and the others' requests may never come.
	runtime.GOMAXPROCS(4)
	for range 3 {
		go func() {
			runtime.LockOSThread()
			buf := make([]byte, 512)
			for {
				if f, err := os.Open(os.Args[1]); err == nil {
					f.Read(buf)
					f.Close()
				}
			}
		}()
	}
	select {}
}

// peakRSSkB reads this process's peak resident set size from
// /proc/self/status, 0 if it cannot.
func peakRSSkB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	i := bytes.Index(b, []byte("VmHWM:"))
	if i < 0 {
		return 0
	}
	var kb int
	fmt.Sscanf(string(b[i+len("VmHWM:"):]), "%d", &kb)
	return kb
}

// TestScript runs the end-to-end scripts of testdata/script. Captures the
// decode scripts read are built here with capture's writer: session.fcap
// (a realistic session), truncated.fcap (the same cut inside its last
// record), corrupt.fcap (a block length overwritten) and malformed.fcap.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		// Under the test's own temporary directory, which the testing
		// package removes: testscript's own removes its parent only when
		// every script ran, and a -run that selects some left it in TMPDIR.
		WorkdirRoot: t.TempDir(),
		Setup: func(env *testscript.Env) error {
			return writeTestCaptures(env.WorkDir)
		},
		RequireExplicitExec: true,
	})
}

// writeTestCaptures writes session.fcap, truncated.fcap, corrupt.fcap and
// malformed.fcap (messages that break the protocol) into dir.
func writeTestCaptures(dir string) error {
	session := filepath.Join(dir, "session.fcap")
	if err := decodetest.WriteFile(session, decodetest.Realistic); err != nil {
		return err
	}
	data, err := os.ReadFile(session)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "truncated.fcap"), data[:len(data)-20], 0o600); err != nil {
		return err
	}
	if err := decodetest.WriteFile(filepath.Join(dir, "malformed.fcap"), decodetest.Malformed); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "corrupt.fcap"), corrupt(data), 0o600)
}

// corrupt overwrites the total-length field of the capture's tenth block
// with a value that is not a multiple of 4, which no pcapng reader
// accepts.
func corrupt(data []byte) []byte {
	c := append([]byte(nil), data...)
	off := 0
	for i := 0; i < 10 && off+12 <= len(c); i++ {
		n := int(uint32(c[off+4]) | uint32(c[off+5])<<8 | uint32(c[off+6])<<16 | uint32(c[off+7])<<24)
		if i == 9 {
			c[off+4] = 0x0d
			c[off+5] = 0x00
			c[off+6] = 0x00
			c[off+7] = 0x00
			break
		}
		off += n
	}
	return c
}
