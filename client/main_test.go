package client

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(trivialServerEnv) != "" {
		os.Exit(runTrivialServer())
	}
	os.Exit(m.Run())
}
