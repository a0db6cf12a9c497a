package client

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/client/transport"
)

// trivialServerEnv makes the test binary a trivial FUSE server on fd 3
// (see TestMain): INIT, GETATTR, DESTROY, with four threads, as a
// multi-threaded libfuse server reads the device.
const trivialServerEnv = "FUSECTL_CLIENT_TRIVIAL_SERVER"

// runTrivialServer serves fd 3 until it closes.
func runTrivialServer() int {
	const fd = 3
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<16)
			out := make([]byte, 0, 256)
			for {
				n, err := unix.Read(fd, buf)
				if err != nil || n == 0 {
					return
				}
				var h abi.InHeader
				if _, err := h.Unmarshal(buf[:n], abi.NativeEndian); err != nil {
					return
				}
				var body []byte
				errno := int32(0)
				switch h.Opcode {
				case abi.FUSE_INIT:
					o := abi.InitOut{Major: 7, Minor: 45, MaxWrite: 128 << 10, MaxPages: 32, MaxBackground: 64, CongestionThreshold: 48}
					o.SetInitFlags(abi.FUSE_ASYNC_READ | abi.FUSE_MAX_PAGES)
					body = o.Append(nil, abi.NativeEndian)
				case abi.FUSE_GETATTR:
					a := abi.AttrOut{AttrValid: 1, Attr: abi.Attr{Ino: h.NodeID, Mode: 0o40755, Nlink: 2}}
					body = a.Append(nil, abi.NativeEndian)
				case abi.FUSE_DESTROY:
				case abi.FUSE_FORGET, abi.FUSE_BATCH_FORGET, abi.FUSE_INTERRUPT:
					continue
				default:
					errno = -int32(unix.ENOSYS)
				}
				oh := abi.OutHeader{Len: uint32(abi.OutHeaderSize + len(body)), Error: errno, Unique: h.Unique}
				out = append(oh.Append(out[:0], abi.NativeEndian), body...)
				if _, err := unix.Write(fd, out); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	return 0
}

// startTrivialServer runs the trivial server in a child process on the
// remote end of a socketpair and returns our end.
func startTrivialServer(tb testing.TB) *transport.SeqPacket {
	tb.Helper()
	local, remote, err := transport.SocketPair(transport.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), trivialServerEnv+"=1")
	cmd.ExtraFiles = []*os.File{remote}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	remote.Close()
	tb.Cleanup(func() {
		local.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return local
}

// rawPinger sends GETATTR with blocking write(2)/read(2) on a raw
// SEQPACKET socket to a trivial server child: the machine's ceiling for one
// request at a time.
type rawPinger struct {
	fd  int
	msg []byte
	buf []byte
}

func startRawPinger(tb testing.TB) *rawPinger {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), trivialServerEnv+"=1")
	remote := os.NewFile(uintptr(fds[1]), "remote")
	cmd.ExtraFiles = []*os.File{remote}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	remote.Close()
	tb.Cleanup(func() {
		unix.Close(fds[0])
		cmd.Process.Kill()
		cmd.Wait()
	})
	in := abi.GetattrIn{}
	h := abi.InHeader{Len: uint32(abi.InHeaderSize + in.SizeBytes()), Opcode: abi.FUSE_GETATTR, Unique: 2, NodeID: 1}
	return &rawPinger{fd: fds[0], msg: in.Append(h.Append(nil, abi.NativeEndian), abi.NativeEndian), buf: make([]byte, 4096)}
}

// run does n round trips and returns how long they took.
func (p *rawPinger) run(tb testing.TB, n int) time.Duration {
	start := time.Now()
	for range n {
		if _, err := unix.Write(p.fd, p.msg); err != nil {
			tb.Fatal(err)
		}
		if _, err := unix.Read(p.fd, p.buf); err != nil {
			tb.Fatal(err)
		}
	}
	return time.Since(start)
}

// transportPinger sends GETATTR through a transport.SeqPacket from the
// calling goroutine, without a Conn: what the client costs over its
// transport shows as the ratio to this.
type transportPinger struct {
	sp  *transport.SeqPacket
	msg []byte
	buf []byte
}

func startTransportPinger(tb testing.TB) *transportPinger {
	sp := startTrivialServer(tb)
	in := abi.GetattrIn{}
	h := abi.InHeader{Len: uint32(abi.InHeaderSize + in.SizeBytes()), Opcode: abi.FUSE_GETATTR, Unique: 2, NodeID: 1}
	return &transportPinger{sp: sp, msg: in.Append(h.Append(nil, abi.NativeEndian), abi.NativeEndian), buf: make([]byte, 0, sp.MaxMsg())}
}

func (p *transportPinger) run(tb testing.TB, n int) time.Duration {
	start := time.Now()
	for range n {
		if err := p.sp.WriteMsg(p.msg); err != nil {
			tb.Fatal(err)
		}
		if _, err := p.sp.ReadMsg(p.buf); err != nil {
			tb.Fatal(err)
		}
	}
	return time.Since(start)
}

// BenchmarkGetattr measures GETATTR round trips per second through Conn
// against a trivial server child, one at a time, and reports it as a
// ratio to raw SEQPACKET ping-pong with the same server in the same run
// (x-raw, target >= 0.85), and to the same exchange through the transport
// alone, without Conn (x-transport). The three are
// measured in alternating slices, so that drift of the machine's speed
// affects them alike.
func BenchmarkGetattr(b *testing.B) {
	c, err := Dial(context.Background(), startTrivialServer(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	raw := startRawPinger(b)
	tp := startTransportPinger(b)
	ctx := context.Background()
	const slices = 20
	var rawTime, tpTime time.Duration
	refN := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := range slices {
		k := b.N / slices
		if i < b.N%slices {
			k++
		}
		for range k {
			if _, err := c.Getattr(ctx, 1, abi.GetattrIn{}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		kr := max(k, 50)
		rawTime += raw.run(b, kr)
		tpTime += tp.run(b, kr)
		refN += kr
		b.StartTimer()
	}
	b.StopTimer()
	rate := float64(b.N) / b.Elapsed().Seconds()
	rawRate := float64(refN) / rawTime.Seconds()
	tpRate := float64(refN) / tpTime.Seconds()
	b.ReportMetric(rate, "roundtrips/s")
	b.ReportMetric(rawRate, "raw-roundtrips/s")
	b.ReportMetric(rate/rawRate, "x-raw")
	b.ReportMetric(rate/tpRate, "x-transport")
}

// BenchmarkGetattrInflight16 measures GETATTR throughput with 16 calls in
// flight from 16 goroutines, as a ratio to one call at a time measured in
// the same run (target ≥ 1.5 on 2 cores).
func BenchmarkGetattrInflight16(b *testing.B) {
	c, err := Dial(context.Background(), startTrivialServer(b), Options{MaxInflight: 16})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	run := func(workers, n int) float64 {
		var wg sync.WaitGroup
		start := time.Now()
		for w := range workers {
			k := n / workers
			if w < n%workers {
				k++
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range k {
					if _, err := c.Getattr(ctx, 1, abi.GetattrIn{}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return float64(n) / time.Since(start).Seconds()
	}
	b.ReportAllocs()
	b.ResetTimer()
	rate := run(16, b.N)
	b.StopTimer()
	single := run(1, max(b.N, 1000))
	b.ReportMetric(rate, "roundtrips/s")
	b.ReportMetric(single, "single-roundtrips/s")
	b.ReportMetric(rate/single, "x-single")
}

// TestTrivialServer checks the benchmarks' server, so that a broken one
// fails a test rather than only a benchmark.
func TestTrivialServer(t *testing.T) {
	c, err := Dial(context.Background(), startTrivialServer(t), Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := c.Getattr(context.Background(), 1, abi.GetattrIn{})
	if err != nil || a.Attr.Mode != 0o40755 {
		t.Fatalf("Getattr: %+v, %v", a, err)
	}
	if in := c.Init(); in.Minor != 45 || in.MaxBackground != 64 {
		t.Errorf("init %+v", in)
	}
}
