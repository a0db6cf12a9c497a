package mount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/client/launch"
	"github.com/fusectl/fusectl/internal/testenv"
)

// minimalMount mounts args through the simplest forwarder there is: two OS
// threads, each in a blocking read followed by a write, with no
// bookkeeping, no feed and no INIT adjustment (so no READ clamp either).
// It is not a usable interposer (its teardown relies on the unmount ending
// the kernel side); it is the benchmark's yardstick for what the two extra
// hops of any forwarder cost on this machine, beside fusectl's own figure.
func minimalMount(b *testing.B, args []string) (mnt string, pid int) {
	b.Helper()
	mnt = b.TempDir()
	nolog := func(string, ...any) {}
	srv, err := launch.Start(context.Background(), launch.Options{
		Args: args, Mountpoint: mnt, MaxWrite: DefaultMaxWrite, Logf: nolog,
	})
	if err != nil {
		b.Fatalf("start server: %v", err)
	}
	stopServer := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Stop(ctx)
	}
	ko, _, err := parseMountOptions(srv.MountOptions())
	if err != nil {
		stopServer()
		b.Fatal(err)
	}
	km, err := mountKernel(mnt, &ko, nolog)
	if err != nil {
		stopServer()
		b.Fatal(err)
	}
	testenv.UnmountOnInterrupt(b, mnt)
	kfd, kerr := blockingDup(km.dev)
	sfd, serr := blockingDup(srv.Conn().File())
	km.dev.Close()
	if err := errors.Join(kerr, serr); err != nil {
		km.unmount()
		stopServer()
		b.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		closing atomic.Bool
	)
	pump := func(what string, from, to, size int) {
		defer wg.Done()
		runtime.LockOSThread()
		buf := make([]byte, size)
		var err error
		defer func() {
			if closing.Swap(true) {
				return // the teardown, or the other pump, came first
			}
			// Nothing answers the mount now (most often, its server
			// died): without an abort the workload would wait for its
			// replies until the benchmark's timeout.
			srvState := "running"
			select {
			case <-srv.Done():
				srvState = fmt.Sprintf("exited (%v), its output: %q", srv.Wait(), srv.Output())
			case <-time.After(time.Second):
			}
			why := "end of stream"
			if err != nil {
				why = err.Error()
			}
			b.Logf("minimal forwarder: %s ended (%s); server %s; aborting the connection", what, why, srvState)
			AbortConnection(km.conn)
		}()
		for {
			var n int
			n, err = unix.Read(from, buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil || n == 0 {
				return
			}
			// ENOENT: the kernel dropped an interrupted request.
			if _, err = unix.Write(to, buf[:n]); err != nil && err != unix.ENOENT {
				return
			}
		}
	}
	wg.Add(2)
	go pump("kernel to server", kfd, sfd, DefaultMaxWrite+2*os.Getpagesize())
	go pump("server to kernel", sfd, kfd, srv.Conn().MaxMsg())
	b.Cleanup(func() {
		closing.Store(true)
		km.unmount()
		// The server's end closes when it exits, which ends the socket
		// pump; the unmount ended the kernel pump.
		stopServer()
		wg.Wait()
		unix.Close(kfd)
		unix.Close(sfd)
	})
	waitMountinfo(b, mnt, true)
	return mnt, srv.Pid()
}

// blockingDup returns a blocking duplicate of f's descriptor. O_NONBLOCK
// belongs to the open file, so f becomes blocking too; f must not be read
// through the runtime poller afterwards.
func blockingDup(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(ofd uintptr) {
		fd, derr = unix.FcntlInt(ofd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// wakeRoundTrip returns the mean time for a one-byte ping-pong between two
// OS threads on different CPUs, over two pipes: two cross-CPU wake-ups,
// the cost that each forwarded request adds twice. It is what sets the
// small-file ratio: on a virtual machine whose idle vCPUs halt at once it
// is tens of microseconds, where with guest halt polling it is a few. (On
// one CPU it measures two context switches.)
func wakeRoundTrip(b *testing.B) time.Duration {
	b.Helper()
	var ping, pong [2]int
	if err := errors.Join(unix.Pipe2(ping[:], unix.O_CLOEXEC), unix.Pipe2(pong[:], unix.O_CLOEXEC)); err != nil {
		b.Fatal(err)
	}
	defer func() {
		for _, fd := range append(ping[:], pong[:]...) {
			unix.Close(fd)
		}
	}()
	const rounds = 2000
	// The first two CPUs this process may use, or its only one.
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		b.Fatal(err)
	}
	var cpus []int
	for c := 0; c < len(allowed)*64 && len(cpus) < 2; c++ {
		if allowed.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	// Each side runs on its own locked thread, pinned to one CPU. The
	// goroutines end still locked, so the runtime discards their threads
	// rather than reuse them pinned.
	side := func(i, in, out int, first bool) (time.Duration, error) {
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpus[i%len(cpus)])
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return 0, err
		}
		var c [1]byte
		start := time.Now()
		for range rounds {
			if first {
				if _, err := unix.Write(out, c[:]); err != nil {
					return 0, err
				}
			}
			if _, err := unix.Read(in, c[:]); err != nil {
				return 0, err
			}
			if !first {
				if _, err := unix.Write(out, c[:]); err != nil {
					return 0, err
				}
			}
		}
		return time.Since(start), nil
	}
	type result struct {
		d   time.Duration
		err error
	}
	echo, timed := make(chan result, 1), make(chan result, 1)
	go func() { d, err := side(1, ping[0], pong[1], false); echo <- result{d, err} }()
	go func() { d, err := side(0, pong[0], ping[1], true); timed <- result{d, err} }()
	r, e := <-timed, <-echo
	if err := errors.Join(r.err, e.err); err != nil {
		b.Fatal(err)
	}
	return r.d / rounds
}
