package mount

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/capture"
)

func TestFeedDropsCounted(t *testing.T) {
	var f feed
	if f.active() {
		t.Fatal("feed active without subscribers")
	}
	slow := f.add(SubscribeOptions{QueueLen: 2}, nil)
	cut := f.add(SubscribeOptions{QueueLen: 16, SnapLen: 4}, nil)
	msg := []byte("0123456789")
	for range 5 {
		f.publish(time.Now(), capture.DirRequest, 0, msg, 0)
	}
	if got := slow.Dropped(); got != 3 {
		t.Errorf("slow subscriber dropped %d, want 3", got)
	}
	if got := cut.Dropped(); got != 0 {
		t.Errorf("roomy subscriber dropped %d", got)
	}
	ev, ok := cut.Next()
	if !ok || !bytes.Equal(ev.Msg, msg[:4]) || ev.OrigLen != len(msg) || ev.Flags&capture.FlagTruncated == 0 {
		t.Fatalf("snapped event %+v", ev)
	}
	cut.Release(ev)
	// Publishing must not alias the publisher's buffer.
	msg[0] = 'X'
	ev, _ = slow.Next()
	if ev.Msg[0] != '0' {
		t.Errorf("event aliases the publisher's buffer")
	}
	slow.Close()
	if got := f.totalDropped(); got != 3 {
		t.Errorf("total dropped after close %d, want 3", got)
	}
	f.close()
	n := 0
	for {
		ev, ok := cut.Next()
		if !ok {
			break
		}
		cut.Release(ev)
		n++
	}
	if n != 4 {
		t.Errorf("drained %d events after close, want 4", n)
	}
}

// TestFeedGaps checks that the events a subscriber lost are told by the
// next event it gets, where the gap is.
func TestFeedGaps(t *testing.T) {
	var f feed
	s := f.add(SubscribeOptions{QueueLen: 2}, nil)
	publish := func(b byte) { f.publish(time.Now(), capture.DirRequest, 0, []byte{b}, 0) }
	next := func() (byte, uint64) {
		t.Helper()
		ev, ok := s.Next()
		if !ok {
			t.Fatal("feed ended")
		}
		defer s.Release(ev)
		return ev.Msg[0], ev.Lost
	}
	for b := range byte(5) { // 0 and 1 queued, 2-4 lost
		publish(b)
	}
	for _, want := range []struct {
		b    byte
		lost uint64
	}{{0, 0}, {1, 0}} {
		if b, lost := next(); b != want.b || lost != want.lost {
			t.Errorf("event %d lost %d before it, want %d lost %d", b, lost, want.b, want.lost)
		}
	}
	publish(5)
	publish(6)
	publish(7) // lost
	if b, lost := next(); b != 5 || lost != 3 {
		t.Errorf("event %d lost %d before it, want 5 after 3 lost", b, lost)
	}
	if b, lost := next(); b != 6 || lost != 0 {
		t.Errorf("event %d lost %d before it, want 6 after none", b, lost)
	}
	publish(8)
	if b, lost := next(); b != 8 || lost != 1 {
		t.Errorf("event %d lost %d before it, want 8 after 1 lost", b, lost)
	}
	if s.Dropped() != 4 {
		t.Errorf("dropped %d, want 4", s.Dropped())
	}
}

func TestFeedByteBound(t *testing.T) {
	var f feed
	s := f.add(SubscribeOptions{QueueBytes: 100}, nil)
	big := make([]byte, 60)
	f.publish(time.Now(), capture.DirReply, 0, big, 0)
	f.publish(time.Now(), capture.DirReply, 0, big, 0)
	if s.Dropped() != 1 {
		t.Errorf("dropped %d, want 1 over the byte bound", s.Dropped())
	}
	ev, _ := s.Next()
	s.Release(ev)
	f.publish(time.Now(), capture.DirReply, 0, big, 0)
	if s.Dropped() != 1 {
		t.Errorf("dropped %d after dequeue, want still 1", s.Dropped())
	}
}

// Large event buffers are reused by size class, across garbage
// collections, and an outsize message still gets a buffer of its own.
func TestLargeEventReuse(t *testing.T) {
	for _, tc := range []struct{ n, class int }{
		{smallEvent + 1, 0}, {8192, 0}, {8193, 1}, {57344 + 80, 3}, {1<<20 + 4096, 8}, {4 << 20, 9}, {4<<20 + 1, -1},
	} {
		if got := largeClass(tc.n); got != tc.class {
			t.Errorf("largeClass(%d) = %d, want %d", tc.n, got, tc.class)
		}
	}
	// The free lists are the process's: empty this class's of what earlier
	// tests (or runs, with -count) released, so that the buffer released
	// below is the one taken next.
	for len(largeFree[largeClass(60000)]) > 0 {
		<-largeFree[largeClass(60000)]
	}
	ev := newEvent(60000)
	if len(ev.Msg) != 60000 || cap(ev.buf) != 64<<10 {
		t.Fatalf("event of 60000 bytes: len %d, buffer %d", len(ev.Msg), cap(ev.buf))
	}
	buf := &ev.buf[0]
	releaseEvent(ev)
	runtime.GC()
	runtime.GC()
	again := newEvent(50000)
	if &again.buf[0] != buf {
		t.Error("a released 64 KiB buffer was not reused after a collection")
	}
	if len(again.Msg) != 50000 {
		t.Errorf("reused event has len %d, want 50000", len(again.Msg))
	}
	releaseEvent(again)
	huge := newEvent(5 << 20)
	if len(huge.Msg) != 5<<20 {
		t.Errorf("outsize event has len %d", len(huge.Msg))
	}
	releaseEvent(huge)
}

// BenchmarkPublish publishes to one reader with the capture's queue
// bounds: metadata-sized messages, and READ replies of the clamped size.
func BenchmarkPublish(b *testing.B) {
	for _, size := range []int{128, 56 << 10} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			var f feed
			s := f.add(SubscribeOptions{QueueBytes: 256 << 20, QueueLen: 1 << 16}, nil)
			msg := make([]byte, size)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					ev, ok := s.Next()
					if !ok {
						return
					}
					s.Release(ev)
				}
			}()
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				f.publish(time.Now(), capture.DirReply, 0, msg, 0)
			}
			f.close()
			<-done
		})
	}
}

// TestWriteEventsLost: the capture of fusectl mount --capture marks where
// its subscriber lost events, and ends with the total. A message over the queue's byte bound is
// lost while the small ones around it are queued.
func TestWriteEventsLost(t *testing.T) {
	var f feed
	s := f.add(SubscribeOptions{QueueBytes: 100}, nil)
	for _, n := range []int{10, 200, 200, 10} {
		f.publish(time.Now(), capture.DirRequest, 0, make([]byte, n), 0)
	}
	f.close()
	var buf bytes.Buffer
	w, err := capture.NewWriter(&buf, capture.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeEvents(w, s, 0, func(err error) { t.Error(err) }); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r, err := capture.NewReader(&buf, capture.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		got = append(got, rec.Lost)
	}
	if fmt.Sprint(got) != "[0 2]" {
		t.Errorf("lost before each record %v, want [0 2]", got)
	}
	if n := r.Lost(0); n != 2 {
		t.Errorf("the file's total lost %d, want 2", n)
	}
}

// TestPreludeStopsOnClose: a subscriber closed inside its prelude gets
// no more of it.
func TestPreludeStopsOnClose(t *testing.T) {
	var f feed
	prelude := []*Event{{Msg: []byte("a")}, {Msg: []byte("b")}, {Msg: []byte("c")}}
	s := f.add(SubscribeOptions{}, prelude)
	if ev, ok := s.Next(); !ok || string(ev.Msg) != "a" {
		t.Fatalf("first event %v, %v", ev, ok)
	}
	s.Close()
	if ev, ok := s.Next(); ok {
		t.Errorf("event %q of the prelude after Close", ev.Msg)
	}
}

// TestFeedStopPatience: once a reader has asked the mount to end its
// feed, it waits for the mount's data up to stopPatience from the last of
// it, however long it took to drain what it had already read. Before, a
// frame that began in the read buffer and ended in the socket was read
// under the deadline set when the feed was stopped, long past, and the
// capture ended without the mount's final count of dropped records.
func TestFeedStopPatience(t *testing.T) {
	defer func(p time.Duration) { stopPatience = p }(stopPatience)
	stopPatience = 300 * time.Millisecond
	mountSide, readerSide := unixPair(t)
	defer mountSide.Close()
	frame := func(kind byte, payload []byte) []byte {
		b := make([]byte, frameHeaderSize, frameHeaderSize+len(payload))
		ne.PutUint32(b, uint32(frameHeaderSize+len(payload)))
		b[4], b[5] = kind, byte(capture.DirRequest)
		ne.PutUint64(b[16:], uint64(time.Now().UnixNano()))
		return append(b, payload...)
	}
	drops := make([]byte, 8)
	ne.PutUint64(drops, 42)
	third := frame(frameEvent, []byte("three"))
	var first []byte
	first = append(first, frame(frameEvent, []byte("one"))...)
	first = append(first, frame(frameEvent, []byte("two"))...)
	first = append(first, third[:10]...) // a frame cut at the socket
	if _, err := mountSide.Write(first); err != nil {
		t.Fatal(err)
	}
	f := &FeedReader{c: readerSide}
	f.r = bufio.NewReaderSize(patientReader{f}, 256<<10)
	defer f.Close()
	f.Stop()
	reading := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		<-reading
		rest := append(third[10:], frame(frameDrops, drops)...)
		_, err := mountSide.Write(append(rest, frame(frameEnd, nil)...))
		wrote <- err
	}()
	for i, want := range []string{"one", "two", "three"} {
		if i == 1 {
			// A slow output drains the backlog, past the patience.
			time.Sleep(2 * stopPatience)
		}
		if i == 2 {
			close(reading)
		}
		ev, err := f.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i+1, err)
		}
		if string(ev.Msg) != want {
			t.Fatalf("event %d is %q, want %q", i+1, ev.Msg, want)
		}
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if _, err := f.Next(); err != io.EOF {
		t.Fatalf("after the end: %v, want io.EOF", err)
	}
	if f.Dropped() != 42 {
		t.Errorf("final count of drops %d, want 42", f.Dropped())
	}
	// A mount that sends nothing more is given up on, saying so.
	quiet, other := unixPair(t)
	defer quiet.Close()
	g := &FeedReader{c: other}
	g.r = bufio.NewReaderSize(patientReader{g}, 256<<10)
	defer g.Close()
	g.Stop()
	if _, err := g.Next(); err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "asked to end it") {
		t.Errorf("a silent mount after Stop: %v", err)
	}
}

// unixPair returns the two ends of a connected pair of Unix stream sockets.
func unixPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var c [2]*net.UnixConn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		c[i] = nc.(*net.UnixConn)
	}
	return c[0], c[1]
}

// byteConn is a net.Conn that reads from a byte slice, for FuzzFeedReader.
type byteConn struct {
	net.Conn
	r *bytes.Reader
}

func (c byteConn) Read(b []byte) (int, error)      { return c.r.Read(b) }
func (c byteConn) Close() error                    { return nil }
func (c byteConn) SetReadDeadline(time.Time) error { return nil }

// FuzzFeedReader reads arbitrary bytes as a mount's feed: the reader
// returns events, io.EOF after an end frame, or an error; it never panics
// and never returns an event larger than a frame may be.
func FuzzFeedReader(f *testing.F) {
	frame := func(kind byte, payload []byte) []byte {
		b := make([]byte, frameHeaderSize, frameHeaderSize+len(payload))
		ne.PutUint32(b, uint32(frameHeaderSize+len(payload)))
		b[4], b[5] = kind, byte(capture.DirReply)
		return append(b, payload...)
	}
	var valid []byte
	for _, fr := range [][]byte{frame(frameLive, nil), frame(frameEvent, []byte("abc")), frame(frameGap, make([]byte, 8)),
		frame(frameEvent, nil), frame(frameDrops, []byte{1, 0, 0, 0, 0, 0, 0, 0}), frame(frameEnd, nil)} {
		valid = append(valid, fr...)
	}
	f.Add(valid)
	f.Add(valid[:30])
	f.Add(frame(frameEvent, make([]byte, 5))[:20])
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := &FeedReader{c: byteConn{r: bytes.NewReader(data)}}
		fr.r = bufio.NewReaderSize(patientReader{fr}, 4096)
		for range len(data)/frameHeaderSize + 1 {
			ev, err := fr.Next()
			if err != nil {
				return
			}
			if len(ev.Msg) > maxFrame-frameHeaderSize {
				t.Fatalf("event of %d bytes", len(ev.Msg))
			}
		}
		// Every frame takes at least a header's bytes: the reader must
		// have ended by now.
		if _, err := fr.Next(); err == nil {
			t.Fatalf("more events than %d bytes can frame", len(data))
		}
	})
}

// TestCloseKeepsQueued: a subscriber closed with events queued (a capture
// that stops) still gets every one of them before Next says the end, so
// that nothing is lost uncounted.
func TestCloseKeepsQueued(t *testing.T) {
	for range 20 {
		var f feed
		s := f.add(SubscribeOptions{}, nil)
		for range 100 {
			f.publish(time.Now(), capture.DirRequest, 0, []byte("0123456789abcdef"), 0)
		}
		s.Close()
		got := 0
		for ev, ok := s.Next(); ok; ev, ok = s.Next() {
			got++
			s.Release(ev)
		}
		if got+int(s.Dropped()) != 100 {
			t.Fatalf("delivered %d and dropped %d of 100 events queued before Close", got, s.Dropped())
		}
	}
}
