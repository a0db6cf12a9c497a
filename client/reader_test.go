package client

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/client/transport"
)

// TestCancelledReaderPassesOn: whichever of two waiting calls reads the
// transport, the one whose context ends returns on time and the other
// still gets its reply.
func TestCancelledReaderPassesOn(t *testing.T) {
	for _, cancelFirst := range []bool{true, false} {
		held := make(chan fakeReq, 2)
		h := func(r fakeReq) [][]byte {
			if r.hdr.Opcode == abi.FUSE_GETATTR {
				held <- r
				return nil
			}
			return simpleHandler(r)
		}
		c, _, p := dialFake(t, h, Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		short := make(chan error, 1)
		long := make(chan error, 1)
		start := func(ctx context.Context, nodeid uint64, errc chan error) {
			go func() {
				_, err := c.Getattr(ctx, nodeid, abi.GetattrIn{})
				errc <- err
			}()
			<-held
		}
		if cancelFirst {
			start(ctx, 2, short)
			start(context.Background(), 3, long)
		} else {
			start(context.Background(), 3, long)
			start(ctx, 2, short)
		}
		select {
		case err := <-short:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("cancelled call: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("cancelled call did not return")
		}
		// The requests have uniques 4 and 6 (INIT had 2); the reply to
		// the cancelled one is a late one.
		for _, un := range []uint64{4, 6} {
			p.toClient <- reply(un, 0, attrBody(abi.Attr{Ino: un, Mode: 0o100644}))
		}
		select {
		case err := <-long:
			if err != nil {
				t.Fatalf("waiting call: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waiting call got no reply after the reader gave up")
		}
	}
}

// socketServer is the far end of a real socketpair, for tests of what
// only a socket does (spliced replies in pieces, framing errors): recv
// reads a request, send writes a message.
type socketServer struct {
	t      *testing.T
	remote *transport.SeqPacket
}

func (s socketServer) recv() fakeReq {
	s.t.Helper()
	m, err := s.remote.ReadMsg(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	var r fakeReq
	rest, err := r.hdr.Unmarshal(m, ne)
	if err != nil {
		s.t.Fatal(err)
	}
	r.body = rest
	return r
}

func (s socketServer) send(m []byte) {
	s.t.Helper()
	if err := s.remote.WriteMsg(m); err != nil {
		s.t.Fatal(err)
	}
}

// dialSocket dials a Conn over a new socketpair, answering its INIT from
// the far end, which it returns. The Conn is nil if Dial failed (the test
// is failed then).
func dialSocket(t *testing.T, opts Options) (*Conn, socketServer) {
	local, rf, err := transport.SocketPair(transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	remote, err := transport.NewSeqPacket(rf, transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { remote.Close() })
	srv := socketServer{t: t, remote: remote}
	dialed := make(chan *Conn, 1)
	go func() {
		c, err := Dial(context.Background(), local, opts)
		if err != nil {
			t.Error(err)
		}
		dialed <- c
	}()
	srv.send(initReply(srv.recv(), nil))
	c := <-dialed
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, srv
}

// TestKickMidMessage: a reader whose context ends while it waits for the
// rest of a spliced message is kicked out, and the next reader finishes
// that message, so nothing is lost and the stream stays in step.
func TestKickMidMessage(t *testing.T) {
	notes := make(chan Notification, 4)
	c, srv := dialSocket(t, Options{OnNotify: func(n Notification) { notes <- n }, Logf: t.Logf, DestroyTimeout: -1})
	recv, send := srv.recv, srv.send
	if c == nil {
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Getattr(ctx, 1, abi.GetattrIn{})
		errc <- err
	}()
	if r := recv(); r.hdr.Opcode != abi.FUSE_GETATTR {
		t.Fatalf("got %s, want GETATTR", r.hdr.Opcode)
	}
	// Whoever reads this notification (the idle reader, which then
	// promotes the caller, or the caller), the caller reads next.
	poll := abi.NotifyPollWakeupOut{Kh: 1}
	send(notifyMsg(abi.FUSE_NOTIFY_POLL, poll.Append(nil, ne)))
	if n := <-notes; n.Code != abi.FUSE_NOTIFY_POLL {
		t.Fatalf("notification %s", n.Code)
	}
	data := bytes.Repeat([]byte("0123456789"), 300)
	store := abi.NotifyStoreOut{NodeID: 2, Size: uint32(len(data))}
	msg := notifyMsg(abi.FUSE_NOTIFY_STORE, store.Append(nil, ne), data)
	send(msg[:1000])
	if err := <-errc; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Getattr: %v, want context.DeadlineExceeded", err)
	}
	send(msg[1000:])
	select {
	case n := <-notes:
		if n.Code != abi.FUSE_NOTIFY_STORE || !bytes.Equal(n.Data, data) {
			t.Fatalf("got %s with %d data bytes, want STORE with %d", n.Code, len(n.Data), len(data))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the interrupted notification was never delivered")
	}
	go func() {
		_, err := c.Getattr(context.Background(), 1, abi.GetattrIn{})
		errc <- err
	}()
	for {
		r := recv()
		if r.hdr.Opcode == abi.FUSE_GETATTR {
			send(reply(r.hdr.Unique, 0, attrBody(testAttr)))
			break
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.BadMessages != 0 {
		t.Errorf("stats %+v, want no bad messages", st)
	}
}

// TestManyCallersOutOfOrder: calls from many goroutines, some cancelled,
// answered in shuffled order, each get their own reply (run with -race).
func TestManyCallersOutOfOrder(t *testing.T) {
	queue := make(chan fakeReq, 4096)
	h := func(r fakeReq) [][]byte {
		if r.hdr.Opcode == abi.FUSE_GETATTR {
			queue <- r
			return nil
		}
		return simpleHandler(r)
	}
	c, _, p := dialFake(t, h, Options{MaxInflight: 32})
	stop := make(chan struct{})
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		rng := rand.New(rand.NewPCG(1, 2))
		for {
			var batch []fakeReq
			select {
			case r := <-queue:
				batch = append(batch, r)
			case <-stop:
				return
			}
		drain:
			for len(batch) < 8 {
				select {
				case r := <-queue:
					batch = append(batch, r)
				default:
					break drain
				}
			}
			rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
			for _, r := range batch {
				if r.hdr.NodeID%7 == 0 {
					continue // never answered: the caller gives up
				}
				a := abi.Attr{Ino: r.hdr.NodeID, Mode: 0o100644}
				select {
				case p.toClient <- reply(r.hdr.Unique, 0, attrBody(a)):
				case <-stop:
					return
				}
			}
		}
	}()
	defer func() { close(stop); <-answered }()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 100 {
				nodeid := uint64(1 + g*100 + i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if nodeid%7 == 0 {
					ctx, cancel = context.WithTimeout(context.Background(), time.Duration(1+i%5)*time.Millisecond)
				}
				a, err := c.Getattr(ctx, nodeid, abi.GetattrIn{})
				cancel()
				if nodeid%7 == 0 {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("unanswered %d: %v", nodeid, err)
					}
					continue
				}
				if err != nil {
					t.Errorf("Getattr %d: %v", nodeid, err)
					return
				}
				if a.Attr.Ino != nodeid {
					t.Errorf("Getattr %d got the reply for %d", nodeid, a.Attr.Ino)
				}
			}
		})
	}
	wg.Wait()
	if st := c.Stats(); st.UnknownUniques != 0 || st.BadMessages != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestIdleServerGone: a server that goes away while no call is in flight
// is noticed by the idle reader.
func TestIdleServerGone(t *testing.T) {
	c, _, p := dialFake(t, simpleHandler, Options{})
	p.kill()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the server went away")
	}
	if _, err := c.Getattr(context.Background(), 1, abi.GetattrIn{}); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("later call: %v, want ENOTCONN", err)
	}
}

// plainPipe is a pipeConn without a read deadline, as a transport that
// has none: the idle reader then reads for everyone.
type plainPipe struct{ p *pipeConn }

func (q plainPipe) ReadMsg(b []byte) ([]byte, error)   { return q.p.ReadMsg(b) }
func (q plainPipe) WriteMsg(parts ...[]byte) error     { return q.p.WriteMsg(parts...) }
func (q plainPipe) SetWriteDeadline(t time.Time) error { return q.p.SetWriteDeadline(t) }
func (q plainPipe) Close() error                       { return q.p.Close() }

// TestTransportWithoutReadDeadline runs calls, a cancellation, a
// notification and the server's death over a transport without read
// deadlines.
func TestTransportWithoutReadDeadline(t *testing.T) {
	held := make(chan fakeReq, 1)
	h := func(r fakeReq) [][]byte {
		if r.hdr.Opcode == abi.FUSE_GETATTR && r.hdr.NodeID == 9 {
			held <- r
			return nil
		}
		return simpleHandler(r)
	}
	s, p := startFake(t, h)
	notes := make(chan Notification, 1)
	c, err := Dial(context.Background(), plainPipe{p}, Options{Logf: t.Logf, OnNotify: func(n Notification) { notes <- n }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.rdl != nil {
		t.Fatal("plainPipe has a read deadline")
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if _, err := c.Getattr(context.Background(), 1, abi.GetattrIn{}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Getattr(ctx, 9, abi.GetattrIn{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Getattr: %v, want context.DeadlineExceeded", err)
	}
	<-held
	waitFor(t, s, abi.FUSE_INTERRUPT)
	ino := abi.NotifyInvalInodeOut{Ino: 2}
	p.toClient <- notifyMsg(abi.FUSE_NOTIFY_INVAL_INODE, ino.Append(nil, ne))
	select {
	case n := <-notes:
		if n.Code != abi.FUSE_NOTIFY_INVAL_INODE {
			t.Errorf("notification %s", n.Code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("notification not delivered")
	}
	p.kill()
	<-c.Done()
	if _, err := c.Getattr(context.Background(), 1, abi.GetattrIn{}); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("later call: %v, want ENOTCONN", err)
	}
}

// TestUnframedReplyFailsItsCall: a reply the transport cannot frame (its
// header claims more than any message may be) fails the call it names
// instead of leaving a caller without a deadline waiting forever, and the
// connection goes on.
func TestUnframedReplyFailsItsCall(t *testing.T) {
	c, srv := dialSocket(t, Options{Logf: t.Logf, DestroyTimeout: -1})
	if c == nil {
		return
	}
	recv := srv.recv
	remote := srv.remote

	for _, reader := range []string{"the caller", "the idle reader"} {
		errc := make(chan error, 1)
		go func() {
			_, err := c.Getattr(context.Background(), 1, abi.GetattrIn{})
			errc <- err
		}()
		r := recv()
		if reader == "the idle reader" {
			time.Sleep(50 * time.Millisecond) // the caller waits; the idle reader reads
		}
		// 32 bytes whose header says 1 GiB.
		bad := reply(r.hdr.Unique, 0, make([]byte, 16))
		ne.PutUint32(bad, 1<<30)
		if err := remote.WriteMsg(bad); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if !errors.Is(err, ErrBadReply) || !errors.Is(err, transport.ErrBadFrame) {
				t.Errorf("read by %s: GETATTR error %v, want a bad reply of bad framing", reader, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("read by %s: the GETATTR whose reply could not be framed still waits", reader)
		}
	}
	// The connection is still usable.
	errc := make(chan error, 1)
	go func() {
		_, err := c.Getattr(context.Background(), 1, abi.GetattrIn{})
		errc <- err
	}()
	r := recv()
	if err := remote.WriteMsg(reply(r.hdr.Unique, 0, attrBody(abi.Attr{Ino: 1, Mode: 0o40755}))); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Errorf("GETATTR after the bad reply: %v", err)
	}
}
