package client

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/client/transport"
)

// pipeConn is an in-process transport.Conn: messages written by the client
// go to toServer, messages the fake server sends come from toClient.
type pipeConn struct {
	wdl      atomic.Int64 // write deadline, UnixNano; 0 for none
	rmu      sync.Mutex
	rdl      time.Time     // read deadline; zero for none
	rdlMoved chan struct{} // closed when rdl changes
	toServer chan []byte
	toClient chan []byte
	closed   chan struct{}
	gone     chan struct{}
	once     sync.Once
	goneOnce sync.Once
}

func newPipe() *pipeConn {
	return &pipeConn{
		toServer: make(chan []byte, 64),
		toClient: make(chan []byte, 64),
		closed:   make(chan struct{}),
		gone:     make(chan struct{}),
		rdlMoved: make(chan struct{}),
	}
}

func (p *pipeConn) ReadMsg(buf []byte) ([]byte, error) {
	for {
		p.rmu.Lock()
		d, moved := p.rdl, p.rdlMoved
		p.rmu.Unlock()
		var timeout <-chan time.Time
		if !d.IsZero() {
			wait := time.Until(d)
			if wait <= 0 {
				return nil, fmt.Errorf("read: %w", os.ErrDeadlineExceeded)
			}
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case m := <-p.toClient:
			if cap(buf) >= len(m) {
				return append(buf[:0], m...), nil
			}
			return append([]byte(nil), m...), nil
		case <-p.closed:
			return nil, fmt.Errorf("read: %w", os.ErrClosed)
		case <-p.gone:
			return nil, fmt.Errorf("read: %w", transport.ErrPeerGone)
		case <-timeout:
			return nil, fmt.Errorf("read: %w", os.ErrDeadlineExceeded)
		case <-moved:
		}
	}
}

// SetReadDeadline bounds the pending and later reads, as a socket's does.
func (p *pipeConn) SetReadDeadline(t time.Time) error {
	p.rmu.Lock()
	p.rdl = t
	close(p.rdlMoved)
	p.rdlMoved = make(chan struct{})
	p.rmu.Unlock()
	return nil
}

func (p *pipeConn) WriteMsg(parts ...[]byte) error {
	var m []byte
	for _, part := range parts {
		m = append(m, part...)
	}
	select {
	case <-p.closed:
		return fmt.Errorf("write: %w", os.ErrClosed)
	case <-p.gone:
		return fmt.Errorf("write: %w", transport.ErrPeerGone)
	default:
	}
	var timeout <-chan time.Time
	if d := p.wdl.Load(); d != 0 {
		t := time.NewTimer(time.Until(time.Unix(0, d)))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case p.toServer <- m:
		return nil
	case <-p.closed:
		return fmt.Errorf("write: %w", os.ErrClosed)
	case <-p.gone:
		return fmt.Errorf("write: %w", transport.ErrPeerGone)
	case <-timeout:
		return fmt.Errorf("write: %w", os.ErrDeadlineExceeded)
	}
}

// SetWriteDeadline bounds later writes, as a socket's does.
func (p *pipeConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		p.wdl.Store(0)
	} else {
		p.wdl.Store(t.UnixNano())
	}
	return nil
}

func (p *pipeConn) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// kill makes the server side go away.
func (p *pipeConn) kill() { p.goneOnce.Do(func() { close(p.gone) }) }

// fakeReq is a request as the fake server sees it.
type fakeReq struct {
	hdr  abi.InHeader
	body []byte
}

// fakeServer answers requests on a pipeConn with a handler. A handler
// returns the messages to send back (none to leave the request pending).
type fakeServer struct {
	t    testing.TB
	p    *pipeConn
	mu   sync.Mutex
	seen []fakeReq
	reqs chan fakeReq // every request, for tests that watch
}

var ne = abi.NativeEndian

func startFake(tb testing.TB, handle func(fakeReq) [][]byte) (*fakeServer, *pipeConn) {
	p := newPipe()
	s := &fakeServer{t: tb, p: p, reqs: make(chan fakeReq, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var m []byte
			select {
			case m = <-p.toServer:
			case <-p.closed:
				return
			case <-p.gone:
				return
			}
			var r fakeReq
			rest, err := r.hdr.Unmarshal(m, ne)
			if err != nil {
				tb.Errorf("fake server: bad request: %v", err)
				continue
			}
			r.body = rest
			s.mu.Lock()
			s.seen = append(s.seen, r)
			s.mu.Unlock()
			select {
			case s.reqs <- r:
			default:
			}
			for _, out := range handle(r) {
				select {
				case p.toClient <- out:
				case <-p.closed:
					return
				case <-p.gone:
					return
				}
			}
		}
	}()
	tb.Cleanup(func() {
		p.Close()
		<-done
	})
	return s, p
}

// sent returns the requests seen with opcode op.
func (s *fakeServer) sent(op abi.Opcode) []fakeReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []fakeReq
	for _, r := range s.seen {
		if r.hdr.Opcode == op {
			out = append(out, r)
		}
	}
	return out
}

// reply builds a reply message.
func reply(unique uint64, errno int32, body ...[]byte) []byte {
	n := abi.OutHeaderSize
	for _, b := range body {
		n += len(b)
	}
	h := abi.OutHeader{Len: uint32(n), Error: errno, Unique: unique}
	m := h.Append(nil, ne)
	for _, b := range body {
		m = append(m, b...)
	}
	return m
}

// notifyMsg builds a notification message.
func notifyMsg(code abi.NotifyCode, body ...[]byte) []byte {
	return reply(0, int32(code), body...)
}

// initReply answers INIT like a libfuse3 server at 7.31.
func initReply(r fakeReq, mod func(*abi.InitOut)) []byte {
	out := abi.InitOut{Major: 7, Minor: 31, MaxReadahead: 128 << 10, MaxWrite: 128 << 10,
		MaxPages: 32, MaxBackground: 16, CongestionThreshold: 12, TimeGran: 1}
	out.SetInitFlags(abi.FUSE_ASYNC_READ | abi.FUSE_BIG_WRITES | abi.FUSE_MAX_PAGES | abi.FUSE_DO_READDIRPLUS)
	if mod != nil {
		mod(&out)
	}
	return reply(r.hdr.Unique, 0, out.Append(nil, ne))
}

var testAttr = abi.Attr{Ino: 5, Size: 13, Mode: 0o100644, Nlink: 1, Blksize: 4096}

func entryBody(nodeid uint64, a abi.Attr) []byte {
	e := abi.EntryOut{NodeID: nodeid, Generation: 1, EntryValid: 1, AttrValid: 1, Attr: a}
	return e.Append(nil, ne)
}

func attrBody(a abi.Attr) []byte {
	o := abi.AttrOut{AttrValid: 1, Attr: a}
	return o.Append(nil, ne)
}

// simpleHandler serves INIT and a one-file file system; other opcodes get
// ENOSYS. FORGET and INTERRUPT get nothing.
func simpleHandler(r fakeReq) [][]byte {
	switch r.hdr.Opcode {
	case abi.FUSE_INIT:
		return [][]byte{initReply(r, nil)}
	case abi.FUSE_LOOKUP:
		if string(r.body) == "a.txt\x00" {
			return [][]byte{reply(r.hdr.Unique, 0, entryBody(2, testAttr))}
		}
		return [][]byte{reply(r.hdr.Unique, -2)}
	case abi.FUSE_GETATTR:
		return [][]byte{reply(r.hdr.Unique, 0, attrBody(testAttr))}
	case abi.FUSE_DESTROY:
		return [][]byte{reply(r.hdr.Unique, 0)}
	case abi.FUSE_FORGET, abi.FUSE_BATCH_FORGET, abi.FUSE_INTERRUPT, abi.FUSE_NOTIFY_REPLY:
		return nil
	}
	return [][]byte{reply(r.hdr.Unique, -38)}
}

// dialFake dials a fake server with the handler.
func dialFake(tb testing.TB, handle func(fakeReq) [][]byte, opts Options) (*Conn, *fakeServer, *pipeConn) {
	tb.Helper()
	s, p := startFake(tb, handle)
	if opts.Logf == nil {
		opts.Logf = tb.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, p, opts)
	if err != nil {
		tb.Fatalf("Dial: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c, s, p
}
