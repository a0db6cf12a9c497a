package transport

import (
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// echoEnv makes the test binary an echo peer on fd 3 (see runEcho).
const echoEnv = "FUSECTL_TRANSPORT_ECHO"

func TestMain(m *testing.M) {
	if os.Getenv(echoEnv) == "1" {
		os.Exit(runEcho(3))
	}
	os.Exit(m.Run())
}

// runEcho sends back every datagram it reads on fd with plain blocking
// system calls, until end of stream.
func runEcho(fd int) int {
	buf := make([]byte, 1<<17)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return 0
		}
		if _, err := unix.Write(fd, buf[:n]); err != nil {
			return 1
		}
	}
}

// startEcho runs the test binary as an echo peer on remote and returns a
// function that waits for it; the peer exits when our end closes.
func startEcho(tb testing.TB, remote *os.File) func() {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), echoEnv+"=1")
	cmd.ExtraFiles = []*os.File{remote}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	remote.Close()
	return func() {
		if err := cmd.Wait(); err != nil {
			tb.Errorf("echo peer: %v", err)
		}
	}
}
