package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// TestUsageExitStatus: wrong arguments, like wrong flags, print usage and
// exit 2, whichever check finds them.
func TestUsageExitStatus(t *testing.T) {
	for _, args := range [][]string{
		{"bogus"},
		{"ps", "extra"},
		{"capture", "-o", "x.fcap", "extra"},
		{"decode"},
		{"abort"},
		{"ps", "--bogus"},
	} {
		var out, errOut bytes.Buffer
		f := &Factory{IO: TestIO(nil, &out, &errOut, false), Getenv: os.Getenv}
		root := NewCmdRoot(f)
		root.SetArgs(args)
		cmd, err := root.ExecuteContextC(context.Background())
		if code := exitCode(f, cmd, err); code != exitUsage || !strings.Contains(errOut.String(), "Usage:") {
			t.Errorf("fusectl %s: exit %d, stderr %q; want %d and usage", strings.Join(args, " "), code, errOut.String(), exitUsage)
		}
	}
}
