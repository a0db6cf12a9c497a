package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pair returns our end and the server end, both as SeqPackets, closed at
// the end of the test.
func pair(t *testing.T, opts Options) (local, remote *SeqPacket) {
	t.Helper()
	local, rf, err := SocketPair(opts)
	if err != nil {
		t.Fatal(err)
	}
	remote, err = NewSeqPacket(rf, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close(); remote.Close() })
	return local, remote
}

// rawPair returns our end and the raw server-end descriptor, so a test can
// send datagrams the way a splicing server does.
func rawPair(t *testing.T, opts Options) (*SeqPacket, int) {
	t.Helper()
	local, rf, err := SocketPair(opts)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Dup(int(rf.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	rf.Close()
	t.Cleanup(func() { local.Close(); unix.Close(fd) })
	return local, fd
}

// message builds a FUSE-like message of total length n: a header whose len
// is n, then a byte pattern seeded by seed.
func message(n int, seed byte) []byte {
	b := make([]byte, n)
	binary.NativeEndian.PutUint32(b, uint32(n))
	for i := 4; i < n; i++ {
		b[i] = seed + byte(i*7)
	}
	return b
}

func sendRaw(t *testing.T, fd int, b []byte) {
	t.Helper()
	if err := unix.Sendto(fd, b, unix.MSG_NOSIGNAL, nil); err != nil {
		t.Fatalf("send %d bytes: %v", len(b), err)
	}
}

func TestRoundTrip(t *testing.T) {
	local, remote := pair(t, Options{})
	for _, n := range []int{16, 40, 80, 4096, 65536 + 80} {
		req := message(n, 1)
		if err := local.WriteMsg(req[:10], req[10:]); err != nil {
			t.Fatal(err)
		}
		got, err := remote.ReadMsg(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, req) {
			t.Fatalf("request of %d bytes arrived as %d bytes, differing", n, len(got))
		}
		rep := message(n, 2)
		if err := remote.WriteMsg(rep); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, local.MaxMsg())
		got, err = local.ReadMsg(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, rep) || &got[0] != &buf[0] {
			t.Fatalf("reply of %d bytes: equal=%v, in caller's buffer=%v", n, bytes.Equal(got, rep), &got[0] == &buf[0])
		}
	}
}

// TestSplicedReply sends a 128 KiB READ reply the way a splicing server
// does on Linux 6.18: 61456 + 65536 + 4096 bytes.
func TestSplicedReply(t *testing.T) {
	for _, bufCap := range []int{0, 1 << 10, 131088, DefaultMaxWrite + 8192} {
		t.Run(fmt.Sprintf("cap%d", bufCap), func(t *testing.T) {
			local, fd := rawPair(t, Options{})
			msg := message(16+128<<10, 3)
			sendRaw(t, fd, msg[:61456])
			sendRaw(t, fd, msg[61456:61456+65536])
			sendRaw(t, fd, msg[61456+65536:])
			next := message(80, 4)
			sendRaw(t, fd, next)
			got, err := local.ReadMsg(make([]byte, 0, bufCap))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("reassembled %d bytes, want %d equal bytes", len(got), len(msg))
			}
			got, err = local.ReadMsg(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, next) {
				t.Fatalf("message after the spliced one: got %d bytes, want %d", len(got), len(next))
			}
		})
	}
}

// TestLargeMessage checks that raised send buffers carry a 1 MiB WRITE and
// a 1 MiB READ reply in one datagram each.
func TestLargeMessage(t *testing.T) {
	local, remote := pair(t, Options{})
	if local.SendBuffer() < 2*(DefaultMaxWrite+4096) {
		t.Logf("send buffer only %d (no CAP_NET_ADMIN and low wmem_max?)", local.SendBuffer())
	}
	write := message(80+DefaultMaxWrite, 5)
	if err := local.WriteMsg(write[:80], write[80:]); err != nil {
		t.Fatal(err)
	}
	got, err := remote.ReadMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, write) {
		t.Fatal("1 MiB WRITE differs")
	}
	reply := message(16+DefaultMaxWrite, 6)
	if err := remote.WriteMsg(reply); err != nil {
		t.Fatal(err)
	}
	if got, err = local.ReadMsg(got); err != nil || !bytes.Equal(got, reply) {
		t.Fatalf("1 MiB READ reply: err %v, equal %v", err, bytes.Equal(got, reply))
	}
}

func TestBadFrames(t *testing.T) {
	opts := Options{MaxWrite: 64 << 10}
	tooBig := message(HeaderMin, 0)
	binary.NativeEndian.PutUint32(tooBig, 0xfffffff0)
	tooSmall := message(HeaderMin, 0)
	binary.NativeEndian.PutUint32(tooSmall, 8)
	longer := message(64, 0)
	binary.NativeEndian.PutUint32(longer, 32)
	tests := []struct {
		name string
		dgs  [][]byte
	}{
		{"short datagram", [][]byte{{1, 2, 3, 4, 5}}},
		{"len below header", [][]byte{tooSmall}},
		{"len above maximum", [][]byte{tooBig}},
		{"datagram longer than len", [][]byte{longer}},
	}
	for _, tt := range tests {
		for _, bufCap := range []int{0, 1 << 20} {
			t.Run(fmt.Sprintf("%s/cap%d", tt.name, bufCap), func(t *testing.T) {
				local, fd := rawPair(t, opts)
				for _, d := range tt.dgs {
					sendRaw(t, fd, d)
				}
				good := message(100, 9)
				sendRaw(t, fd, good)
				buf := make([]byte, 0, bufCap)
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				_, err := local.ReadMsg(buf)
				runtime.ReadMemStats(&after)
				var fe *FrameError
				if !errors.Is(err, ErrBadFrame) || !errors.As(err, &fe) {
					t.Fatalf("got %v, want a FrameError", err)
				}
				if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
					t.Errorf("rejecting the frame allocated %d bytes", grew)
				}
				got, err := local.ReadMsg(nil)
				if err != nil || !bytes.Equal(got, good) {
					t.Fatalf("next message after the bad one: %v", err)
				}
			})
		}
	}
}

func TestPieceOverrun(t *testing.T) {
	local, fd := rawPair(t, Options{})
	msg := message(100, 1)
	sendRaw(t, fd, msg[:50])
	sendRaw(t, fd, message(80, 2))
	if _, err := local.ReadMsg(nil); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("got %v, want ErrBadFrame", err)
	}
}

func TestPeerGone(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		local, remote := pair(t, Options{})
		remote.Close()
		if _, err := local.ReadMsg(nil); !errors.Is(err, ErrPeerGone) {
			t.Fatalf("read: got %v, want ErrPeerGone", err)
		}
		if err := local.WriteMsg(message(40, 0)); !errors.Is(err, ErrPeerGone) {
			t.Fatalf("write: got %v, want ErrPeerGone", err)
		}
	})
	t.Run("mid-message", func(t *testing.T) {
		local, fd := rawPair(t, Options{})
		msg := message(100, 1)
		sendRaw(t, fd, msg[:50])
		unix.Close(fd)
		if _, err := local.ReadMsg(make([]byte, 1<<21)); !errors.Is(err, ErrPeerGone) {
			t.Fatalf("got %v, want ErrPeerGone", err)
		}
	})
	t.Run("shutdown", func(t *testing.T) {
		local, remote := pair(t, Options{})
		if err := local.Shutdown(); err != nil {
			t.Fatal(err)
		}
		if _, err := remote.ReadMsg(nil); !errors.Is(err, ErrPeerGone) {
			t.Fatalf("got %v, want ErrPeerGone", err)
		}
	})
}

func TestCloseUnblocksRead(t *testing.T) {
	local, _ := pair(t, Options{})
	done := make(chan error, 1)
	go func() {
		_, err := local.ReadMsg(nil)
		done <- err
	}()
	if err := local.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, os.ErrClosed) {
		t.Fatalf("got %v, want os.ErrClosed", err)
	}
	if err := local.WriteMsg(message(40, 0)); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("write after close: got %v", err)
	}
	if err := local.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second close: got %v", err)
	}
}

func TestReadDeadline(t *testing.T) {
	local, _ := pair(t, Options{})
	if err := local.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := local.ReadMsg(nil); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want os.ErrDeadlineExceeded", err)
	}
}

// TestReadDeadlineMidMessage checks that a read deadline passing between
// the pieces of a spliced message loses nothing: the next ReadMsg finishes
// the message, and the stream stays in step.
func TestReadDeadlineMidMessage(t *testing.T) {
	local, fd := rawPair(t, Options{})
	msg := message(3000, 9)
	sendRaw(t, fd, msg[:1000])
	if err := local.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := local.ReadMsg(make([]byte, 0, local.MaxMsg())); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want os.ErrDeadlineExceeded", err)
	}
	sendRaw(t, fd, msg[1000:])
	next := message(40, 3)
	sendRaw(t, fd, next)
	if err := local.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	got, err := local.ReadMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("interrupted message read back as %d bytes, differing", len(got))
	}
	got, err = local.ReadMsg(nil)
	if err != nil || !bytes.Equal(got, next) {
		t.Fatalf("next message: %d bytes, %v", len(got), err)
	}
}

func TestEmptyWrite(t *testing.T) {
	local, _ := pair(t, Options{})
	if err := local.WriteMsg(nil, []byte{}); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("got %v, want ErrBadFrame", err)
	}
}

func TestNotSeqPacket(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	if _, err := NewSeqPacket(os.NewFile(uintptr(fds[0]), "stream"), Options{}); err == nil {
		t.Fatal("a stream socket was accepted")
	}
}

// TestConcurrentWriters checks that messages from concurrent writers stay
// whole (run with -race).
func TestConcurrentWriters(t *testing.T) {
	local, remote := pair(t, Options{})
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				m := message(16+w*1000+i, byte(w))
				if err := local.WriteMsg(m[:16], m[16:]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	seen := map[int]bool{}
	buf := make([]byte, 0, remote.MaxMsg())
	for range writers * each {
		m, err := remote.ReadMsg(buf)
		if err != nil {
			t.Fatal(err)
		}
		n := len(m)
		w, i := (n-16)/1000, (n-16)%1000
		if !bytes.Equal(m, message(n, byte(w))) || seen[n] || i >= each {
			t.Fatalf("message of %d bytes garbled or repeated", n)
		}
		seen[n] = true
	}
	wg.Wait()
}

// TestWriteManyParts sends messages in more parts than the pooled iovec
// array holds, and with empty parts, which a send skips: each must arrive
// as one datagram, the parts joined in order.
func TestWriteManyParts(t *testing.T) {
	local, remote := pair(t, Options{})
	for _, nparts := range []int{1, 2, maxIov, maxIov + 1, 3 * maxIov} {
		msg := message(16+8*nparts, byte(nparts))
		var parts [][]byte
		rest := msg
		for i := range nparts {
			k := len(rest)
			if i < nparts-1 {
				k = min(len(rest), 8+i%3)
			}
			parts = append(parts, rest[:k], nil)
			rest = rest[k:]
		}
		if err := local.WriteMsg(parts...); err != nil {
			t.Fatalf("%d parts: %v", nparts, err)
		}
		got, err := remote.ReadMsg(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("%d parts: got %x, want %x", nparts, got, msg)
		}
	}
}
