package client

import (
	"os"
	"testing"

	"github.com/fusectl/fusectl/client/launch"
)

func TestMain(m *testing.M) {
	// The test binary is the fusermount shim and the namespace launcher
	// of the tests that use those methods, as fusectl is in production.
	if code, ok := launch.RunShimIfInvoked(); ok {
		os.Exit(code)
	}
	if os.Getenv(trivialServerEnv) != "" {
		os.Exit(runTrivialServer())
	}
	dir, err := os.MkdirTemp("", "fusectl-client-tools")
	if err != nil {
		panic(err)
	}
	toolDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
