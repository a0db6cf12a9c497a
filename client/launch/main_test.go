package launch

import (
	"os"
	"testing"
)

// envFakeServer makes the test binary run fakeServer on its last argument:
// set to 1, mounting through fusermount, to "nowait" through fusermount
// without waiting for it, to "self" by itself.
const envFakeServer = "FUSECTL_TEST_FAKESERVER"

func TestMain(m *testing.M) {
	// The test binary is the shim and the namespace launcher of the tests
	// that use those methods, as fusectl is in production.
	if code, ok := RunShimIfInvoked(); ok {
		os.Exit(code)
	}
	switch os.Getenv(envFakeServer) {
	case "1":
		os.Exit(fakeServer(fakeMount, os.Args[len(os.Args)-1]))
	case "nowait":
		os.Exit(fakeServer(fakeMountNoWait, os.Args[len(os.Args)-1]))
	case "self":
		os.Exit(fakeServer(fakeSelfMount, os.Args[len(os.Args)-1]))
	}
	os.Exit(m.Run())
}
