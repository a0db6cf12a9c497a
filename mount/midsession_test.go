package mount

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
	"github.com/fusectl/fusectl/internal/testenv"
)

func demofsArgs(t testing.TB, extra ...string) []string {
	return append(append([]string{buildServer(t, "github.com/fusectl/fusectl/cmd/demofs")}, extra...), "{}")
}

// readPaths decodes events with a fresh session and returns the path of
// every live READ request, and the protocol the session learnt.
type decoded struct {
	readPaths []string
	proto     decode.Proto
	counters  decode.Counters
}

func decodeAll(t testing.TB, next func() (capture.Dir, capture.Flags, []byte, int, error)) decoded {
	t.Helper()
	s := decode.NewSession(decode.Options{})
	var r decode.Record
	var d decoded
	for {
		dir, flags, msg, orig, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read events: %v", err)
		}
		if err := s.DecodeMsg(r.Time, dir, flags, msg, orig, abi.NativeEndian, &r); err != nil {
			t.Errorf("malformed %s: %v", dir, err)
		}
		if dir == capture.DirRequest && r.Op == abi.FUSE_READ && flags&capture.FlagSynthesized == 0 {
			d.readPaths = append(d.readPaths, string(r.Path))
		}
	}
	d.proto, d.counters = s.Proto(), s.Counters()
	return d
}

// TestMidSessionFeed attaches to the control socket after the file was
// looked up, so its READ names a node only the synthesized LOOKUPs
// explain; the result must decode like the capture taken from the start.
func TestMidSessionFeed(t *testing.T) {
	capPath := filepath.Join(t.TempDir(), "full.fcap")
	m, mnt := startMount(t, demofsArgs(t, "-ttl", "1h"), Options{CapturePath: capPath})
	run(t, mnt, "mkdir -p a/b/c && echo hello > a/b/c/f && ln -s c a/b/l && cat a/b/c/f")

	// read counts the events read; liveAt is read when the feed said its
	// prelude was over.
	read, liveAt, synthesized := 0, -1, 0
	feed, err := OpenFeed(context.Background(), m.ControlSocket(), FeedOptions{OnLive: func() { liveAt = read }})
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	// The prelude is queued at attach; wait until the server has seen
	// this subscriber before generating traffic.
	ev, err := feed.Next()
	if err != nil || ev.Flags&capture.FlagSynthesized == 0 {
		t.Fatalf("first feed event %+v, %v; want a synthesized INIT", ev, err)
	}
	read, synthesized = 1, 1
	first := struct {
		dir   capture.Dir
		flags capture.Flags
		msg   []byte
		orig  int
	}{ev.Dir, ev.Flags, append([]byte(nil), ev.Msg...), ev.OrigLen}

	// Drop the page cache but not the dentries: the READ goes to the
	// server for a node the feed has not seen looked up.
	writeFile(t, "/proc/sys/vm/drop_caches", []byte("1"))
	if got := run(t, mnt, "cat a/b/c/f"); got != "hello" {
		t.Fatalf("cat = %q", got)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	gotFirst := false
	mid := decodeAll(t, func() (capture.Dir, capture.Flags, []byte, int, error) {
		if !gotFirst {
			gotFirst = true
			return first.dir, first.flags, first.msg, first.orig, nil
		}
		ev, err := feed.Next()
		if err != nil {
			return 0, 0, nil, 0, err
		}
		read++
		if ev.Flags&capture.FlagSynthesized != 0 {
			synthesized++
		}
		return ev.Dir, ev.Flags, ev.Msg, ev.OrigLen, nil
	})
	// The live marker comes after the last synthesized event and before
	// the first live one.
	if liveAt != synthesized || synthesized < 4 {
		t.Errorf("live marker after %d events, %d synthesized", liveAt, synthesized)
	}

	r, err := capture.Open(capPath)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	full := decodeAll(t, func() (capture.Dir, capture.Flags, []byte, int, error) {
		rec, err := r.Next()
		if err != nil {
			return 0, 0, nil, 0, err
		}
		return rec.Dir, rec.Flags, rec.Msg, rec.OrigLen, nil
	})

	if len(mid.readPaths) == 0 {
		t.Fatalf("no READ in the mid-session feed")
	}
	want := full.readPaths[len(full.readPaths)-1]
	if got := mid.readPaths[len(mid.readPaths)-1]; got != want || got != "/a/b/c/f" {
		t.Errorf("mid-session READ path %q, from-start path %q, want both /a/b/c/f", got, want)
	}
	if !mid.proto.Known || mid.proto != full.proto {
		t.Errorf("mid-session protocol %+v, from start %+v", mid.proto, full.proto)
	}
	if mid.counters.Malformed != 0 || full.counters.Malformed != 0 {
		t.Errorf("malformed records: mid %d, full %d", mid.counters.Malformed, full.counters.Malformed)
	}
	if full.counters.Unpaired != 0 {
		t.Errorf("%d unpaired replies in the capture from the start", full.counters.Unpaired)
	}
}

// TestFeedReaderFallsBehind attaches a control-socket reader that does not
// read while 256 MiB are written through the mount: forwarding must go on,
// and the events lost for the reader must be counted by the mount and
// reported to the reader, which still gets a consistent stream.
func TestFeedReaderFallsBehind(t *testing.T) {
	m, mnt := startMount(t, demofsArgs(t), Options{})
	feed, err := OpenFeed(context.Background(), m.ControlSocket(), FeedOptions{NoSynthesize: true})
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	run(t, mnt, "dd if=/dev/zero of=big bs=1M count=256 status=none && rm big")
	lost := m.Status().Dropped
	if lost == 0 {
		t.Fatalf("no event dropped for a reader that did not read 256 MiB of writes")
	}
	// The reader learns of the loss with the events after it: the total,
	// and each event the number lost just before it. The last drops are
	// told only with an event queued after them, so traffic goes on until
	// the reader has heard of them all: a single write could itself be
	// dropped while the reader still drains a full queue, and the reader
	// would then wait for ever.
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			testenv.ShellCommand(mnt, "echo more > f").Run()
		}
	}()
	defer func() { close(stop); <-stopped }()
	// A reader that is never told fails rather than hangs.
	giveUp := time.AfterFunc(time.Minute, func() { feed.Close() })
	defer giveUp.Stop()
	n := 0
	var gaps uint64
	for feed.Dropped() < lost || gaps < lost {
		ev, err := feed.Next()
		if err != nil {
			t.Fatalf("after %d events: %v; the reader was told of %d lost events (%d before events), the mount counted %d", n, err, feed.Dropped(), gaps, lost)
		}
		gaps += ev.Lost
		if ev.Dir != capture.DirRequest && ev.Dir != capture.DirReply {
			t.Fatalf("event %d: direction %v", n, ev.Dir)
		}
		n++
	}
}
