package transport

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// pingPongSizes are the message sizes of the ping-pong benchmarks: a bare
// out-header and a typical small request (in-header plus a 40-byte body).
var pingPongSizes = []int{16, 80}

// BenchmarkRawPingPong measures the machine's SOCK_SEQPACKET round trip
// rate between two processes with plain blocking read(2)/write(2): the
// ceiling any FUSE client over a socketpair can reach. The client's own
// benchmarks are compared against it.
func BenchmarkRawPingPong(b *testing.B) {
	for _, size := range pingPongSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			wait := startEcho(b, os.NewFile(uintptr(fds[1]), "echo"))
			fd := fds[0]
			msg, buf := message(size, 1), make([]byte, 1<<16)
			b.ResetTimer()
			for range b.N {
				if _, err := unix.Write(fd, msg); err != nil {
					b.Fatal(err)
				}
				if n, err := unix.Read(fd, buf); err != nil || n != size {
					b.Fatalf("read %d bytes: %v", n, err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
			unix.Close(fd)
			wait()
		})
	}
}

// BenchmarkSeqPacketPingPong is the same exchange through SeqPacket (runtime
// poller, header checks), to be read as a ratio to BenchmarkRawPingPong.
func BenchmarkSeqPacketPingPong(b *testing.B) {
	for _, size := range pingPongSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			local, remote, err := SocketPair(Options{})
			if err != nil {
				b.Fatal(err)
			}
			wait := startEcho(b, remote)
			msg := message(size, 1)
			buf := make([]byte, 0, local.MaxMsg())
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := local.WriteMsg(msg); err != nil {
					b.Fatal(err)
				}
				got, err := local.ReadMsg(buf)
				if err != nil || len(got) != size {
					b.Fatalf("read %d bytes: %v", len(got), err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
			local.Close()
			wait()
		})
	}
}

// TestEchoPeer checks the benchmark's echo peer, so a broken peer fails a
// test rather than only a benchmark.
func TestEchoPeer(t *testing.T) {
	local, remote, err := SocketPair(Options{})
	if err != nil {
		t.Fatal(err)
	}
	wait := startEcho(t, remote)
	for _, n := range []int{16, 80, 65536} {
		msg := message(n, byte(n))
		if err := local.WriteMsg(msg); err != nil {
			t.Fatal(err)
		}
		got, err := local.ReadMsg(nil)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo of %d bytes: %v", n, err)
		}
	}
	local.Close()
	wait()
}
