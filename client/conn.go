package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/client/transport"
)

// Defaults of Options.
const (
	// DefaultMaxReadahead is the max_readahead offered in INIT.
	DefaultMaxReadahead = 128 << 10
	// DefaultMaxMessage is the largest message the client expects the
	// transport to carry: a 1 MiB WRITE plus headers.
	DefaultMaxMessage = 1<<20 + 8192
	// DefaultDestroyTimeout bounds the DESTROY that Close sends.
	DefaultDestroyTimeout = 500 * time.Millisecond
	// DefaultMaxBackground is the in-flight limit when the server states
	// none (the kernel's FUSE_DEFAULT_MAX_BACKGROUND).
	DefaultMaxBackground = 12
	// spliceSafePages is the largest READ reply, in pages, that a server
	// splicing into a SOCK_SEQPACKET socket sends in one datagram: the
	// kernel moves 16 pipe buffers per sendmsg, one of them the header and
	// one a possible unaligned tail.
	spliceSafePages = 14
	pageSize        = 4096
)

// Caller is the identity put in the in-header of every request.
type Caller struct {
	UID, GID, PID uint32
}

// Options configure a Conn. The zero value offers what Linux 6.18 offers.
type Options struct {
	// Minor is the protocol minor offered in INIT; 0 means 45.
	Minor uint32
	// Flags are the INIT flags offered; 0 means abi.DefaultInitFlags
	// (which has FUSE_DONT_MASK: fuse-overlayfs refuses INIT without it).
	// Set NoFlags to offer none at all.
	Flags abi.InitFlags
	// NoFlags offers no INIT flags (Flags is ignored).
	NoFlags bool
	// MaxReadahead is offered in INIT; 0 means DefaultMaxReadahead.
	MaxReadahead uint32
	// MaxInflight bounds the requests in flight; 0 means the max_background
	// the server negotiated (DefaultMaxBackground if it gave none).
	MaxInflight int
	// NoSplice says the server never splices READ replies, so READ may use
	// the whole max_pages instead of 14 pages per request.
	NoSplice bool
	// MaxMessage is the largest message the transport carries (for a
	// socketpair: what its send buffers were raised for); WRITE requests
	// are split to fit. 0 means DefaultMaxMessage.
	MaxMessage int
	// Caller is the uid, gid and pid sent in requests; nil means this
	// process's.
	Caller *Caller
	// DestroyTimeout bounds the DESTROY sent by Close; 0 means
	// DefaultDestroyTimeout, negative sends no DESTROY.
	DestroyTimeout time.Duration
	// OnNotify receives every valid notification the server sends, on the
	// connection's reader goroutine: it must return quickly and must not
	// wait for replies of this connection.
	OnNotify func(Notification)
	// Recorder, if set, receives every message sent and received, as
	// capture records on interface RecorderIface. The Conn does not close
	// it.
	Recorder *capture.Writer
	// RecorderIface is the capture interface index of this connection.
	RecorderIface int
	// Logf receives diagnostics (unknown uniques, late replies, bad
	// notifications); nil discards them.
	Logf func(format string, args ...any)
}

// Conn is a FUSE connection to one server. Its methods are safe for
// concurrent use.
//
// Lock order: writeMu, then recMu. mu is never held while taking either,
// nor while writing to the transport or calling OnNotify.
type Conn struct {
	t      transport.Conn
	opts   Options
	order  abi.ByteOrder
	logf   func(string, ...any)
	caller Caller
	maxMsg int

	init InitInfo // set by Dial before the Conn is shared; read-only after

	// sem holds one token per request in flight (backpressure at
	// max_background).
	sem chan struct{}

	// writeMu serialises writes to the transport and the recording of
	// requests, so that the recorded order is the order on the wire. It
	// is a one-token channel so that a caller waiting for it can give up
	// when its context ends (a stopped server can fill the socket).
	writeMu chan struct{}
	// wdl sets the transport's write deadline, if it has one.
	wdl interface{ SetWriteDeadline(time.Time) error }

	// recMu serialises writes to the recorder.
	recMu sync.Mutex

	mu sync.Mutex
	// +checklocks:mu
	pending map[uint64]*call
	// +checklocks:mu
	unique uint64
	// +checklocks:mu
	dead error // why the connection is gone; nil while alive
	// +checklocks:mu
	closing bool
	// +checklocks:mu
	noInterrupt bool
	// +checklocks:mu
	lookups map[uint64]uint64
	// +checklocks:mu
	hooks []func(Notification)

	deadCh chan struct{} // closed when dead is set
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	stats struct {
		unknown  atomic.Uint64
		late     atomic.Uint64
		bad      atomic.Uint64
		epoch    atomic.Uint64
		notifies atomic.Uint64
	}
}

// call is one request waiting for its reply.
type call struct {
	op     abi.Opcode
	key    uint64   // current unique (FUSE_UNIQUE_RESEND set after a resend)
	parts  [][]byte // the request, header first, kept for RESEND
	minLen int      // smallest valid success body
	maxLen int      // largest valid success body
	ch     chan result
	// +checklocks:Conn.mu
	abandoned bool
}

type result struct {
	msg []byte // whole reply message, header included
	err error
}

// Stats are counters of protocol anomalies on a connection.
type Stats struct {
	// UnknownUniques counts replies to requests never sent or already
	// answered.
	UnknownUniques uint64
	// LateReplies counts replies to requests whose caller had given up.
	LateReplies uint64
	// BadMessages counts messages that broke the protocol (bad length,
	// bad notification, errno out of range).
	BadMessages uint64
	// Notifications counts valid notifications.
	Notifications uint64
	// Epoch counts FUSE_NOTIFY_INC_EPOCH notifications.
	Epoch uint64
}

// Stats returns the connection's counters.
func (c *Conn) Stats() Stats {
	return Stats{
		UnknownUniques: c.stats.unknown.Load(),
		LateReplies:    c.stats.late.Load(),
		BadMessages:    c.stats.bad.Load(),
		Notifications:  c.stats.notifies.Load(),
		Epoch:          c.stats.epoch.Load(),
	}
}

func newConn(t transport.Conn, opts Options) *Conn {
	c := &Conn{
		t:       t,
		opts:    opts,
		order:   abi.NativeEndian,
		logf:    opts.Logf,
		maxMsg:  opts.MaxMessage,
		pending: make(map[uint64]*call),
		lookups: make(map[uint64]uint64),
		deadCh:  make(chan struct{}),
		writeMu: make(chan struct{}, 1),
	}
	c.wdl, _ = t.(interface{ SetWriteDeadline(time.Time) error })
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	if c.maxMsg <= 0 {
		c.maxMsg = DefaultMaxMessage
	}
	if opts.Caller != nil {
		c.caller = *opts.Caller
	} else {
		c.caller = Caller{UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), PID: uint32(os.Getpid())}
	}
	c.wg.Add(1)
	go c.readLoop()
	return c
}

// Request is a raw request for DoRequest.
type Request struct {
	Op     abi.Opcode
	NodeID uint64
	// Caller overrides the connection's caller identity when non-nil.
	Caller *Caller
	// TotalExtlen is put in the in-header as is (the extensions themselves
	// are the tail of Body).
	TotalExtlen uint16
	// Body is the request after the in-header, in parts.
	Body [][]byte
	// Unique, for a request that gets no reply (FORGET, BATCH_FORGET,
	// NOTIFY_REPLY), is put in the in-header as is when non-zero (a
	// NOTIFY_REPLY carries the server's notify_unique); others always get
	// a fresh even unique.
	Unique uint64
}

// Do sends a raw request and returns the whole reply message (out-header
// included). The reply is validated as the kernel validates it; a reply
// with an errno is returned together with an *Error. Requests that get no
// reply (FORGET, BATCH_FORGET, NOTIFY_REPLY) return nil, nil once sent.
// An INTERRUPT is sent for the unique in its body, with that unique|1, as
// Interrupt does.
func (c *Conn) Do(ctx context.Context, op abi.Opcode, nodeid uint64, body ...[]byte) ([]byte, error) {
	return c.DoRequest(ctx, &Request{Op: op, NodeID: nodeid, Body: body})
}

// DoRequest is Do with full control of the in-header.
func (c *Conn) DoRequest(ctx context.Context, req *Request) ([]byte, error) {
	if req.Op == abi.FUSE_INTERRUPT {
		var body []byte
		for _, p := range req.Body {
			body = append(body, p...)
		}
		var in abi.InterruptIn
		if _, err := in.Unmarshal(body, c.order); err != nil {
			return nil, &Error{Op: req.Op, Errno: syscall.EINVAL, Err: err}
		}
		return nil, c.Interrupt(ctx, in.Unique)
	}
	minLen, maxLen := 0, c.maxMsg
	if info := req.Op.Info(); info != nil && !info.OutVar {
		minLen, maxLen = c.fixedReplySize(req.Op, info.OutSize)
	}
	return c.roundTrip(ctx, req, minLen, maxLen, false)
}

// fixedReplySize is the size a success reply of op must have at the
// negotiated minor, for ops whose reply is not variable.
func (c *Conn) fixedReplySize(op abi.Opcode, size int) (int, int) {
	minor := c.init.Minor
	switch op {
	case abi.FUSE_LOOKUP, abi.FUSE_SYMLINK, abi.FUSE_MKNOD, abi.FUSE_MKDIR, abi.FUSE_LINK:
		size = abi.EntryOutSize(minor)
	case abi.FUSE_CREATE, abi.FUSE_TMPFILE:
		size = abi.EntryOutSize(minor) + (&abi.OpenOut{}).SizeBytes()
	case abi.FUSE_GETATTR, abi.FUSE_SETATTR:
		size = abi.AttrOutSize(minor)
	case abi.FUSE_STATFS:
		size = abi.StatfsOutSize(minor)
	}
	return size, size
}

// noReply reports whether op gets no reply.
func noReply(op abi.Opcode) bool {
	switch op {
	case abi.FUSE_FORGET, abi.FUSE_BATCH_FORGET, abi.FUSE_NOTIFY_REPLY:
		return true
	}
	return false
}

// roundTrip sends req and waits for its reply, which must have a body of
// minLen..maxLen bytes on success. The reply is the whole message.
func (c *Conn) roundTrip(ctx context.Context, req *Request, minLen, maxLen int, noIntr bool) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", req.Op, err)
	}
	oneway := noReply(req.Op)
	if !oneway && c.sem != nil {
		select {
		case c.sem <- struct{}{}:
			defer func() { <-c.sem }()
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w", req.Op, ctx.Err())
		case <-c.deadCh:
			return nil, c.deadErr(req.Op)
		}
	}
	total := abi.InHeaderSize
	for _, p := range req.Body {
		total += len(p)
	}
	if total > c.maxMsg {
		return nil, &Error{Op: req.Op, Errno: syscall.E2BIG, Err: fmt.Errorf("request of %d bytes exceeds the %d-byte message limit", total, c.maxMsg)}
	}
	cl := &call{op: req.Op, minLen: minLen, maxLen: maxLen}
	if !oneway {
		cl.ch = make(chan result, 1)
	}
	caller := c.caller
	if req.Caller != nil {
		caller = *req.Caller
	}

	hdr := make([]byte, 0, abi.InHeaderSize)
	c.mu.Lock()
	if c.dead != nil {
		c.mu.Unlock()
		return nil, c.deadErr(req.Op)
	}
	c.unique += 2
	u := c.unique
	if oneway && req.Unique != 0 {
		u = req.Unique
	}
	h := abi.InHeader{Len: uint32(total), Opcode: req.Op, Unique: u, NodeID: req.NodeID,
		UID: caller.UID, GID: caller.GID, PID: caller.PID, TotalExtlen: req.TotalExtlen}
	cl.parts = append([][]byte{h.Append(hdr, c.order)}, req.Body...)
	if !oneway {
		cl.key = u
		c.pending[u] = cl
	}
	c.mu.Unlock()
	if err := c.write(ctx, cl.parts); err != nil {
		if !oneway {
			c.mu.Lock()
			delete(c.pending, u)
			c.mu.Unlock()
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("%s: %w", req.Op, cerr)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The write deadline is the context's; its timer may not
			// have fired yet.
			return nil, fmt.Errorf("%s: %w", req.Op, context.DeadlineExceeded)
		}
		return nil, c.writeErr(req.Op, err)
	}
	if oneway {
		return nil, nil
	}
	select {
	case r := <-cl.ch:
		return r.msg, r.err
	case <-ctx.Done():
	}
	c.mu.Lock()
	if c.pending[cl.key] != cl {
		// The reply (or the connection's failure) won the race.
		c.mu.Unlock()
		r := <-cl.ch
		return r.msg, r.err
	}
	cl.abandoned = true
	key := cl.key
	c.mu.Unlock()
	if !noIntr {
		c.sendInterrupt(key)
	}
	return nil, fmt.Errorf("%s: %w", req.Op, ctx.Err())
}

// write sends one message under writeMu, recording it first. A context
// deadline bounds the write when the transport supports write deadlines;
// a message is one datagram, so a write that times out sent nothing.
func (c *Conn) write(ctx context.Context, parts [][]byte) error {
	select {
	case c.writeMu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.writeMu }()
	if d, ok := ctx.Deadline(); ok && c.wdl != nil {
		c.wdl.SetWriteDeadline(d)
		defer c.wdl.SetWriteDeadline(time.Time{})
	}
	c.record(capture.DirRequest, parts...)
	return c.t.WriteMsg(parts...)
}

// writeErr turns a transport write error into the call's error.
func (c *Conn) writeErr(op abi.Opcode, err error) error {
	if errors.Is(err, transport.ErrPeerGone) || errors.Is(err, os.ErrClosed) {
		return &Error{Op: op, Errno: syscall.ENOTCONN, Err: err}
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return &Error{Op: op, Errno: errno, Err: err}
	}
	return &Error{Op: op, Errno: syscall.EIO, Err: err}
}

// deadErr is the error of a call made after the connection died or closed.
func (c *Conn) deadErr(op abi.Opcode) error {
	c.mu.Lock()
	cause := c.dead
	c.mu.Unlock()
	return &Error{Op: op, Errno: syscall.ENOTCONN, Err: cause}
}

// sendInterrupt sends FUSE_INTERRUPT for the request with unique u, on its
// own goroutine: a server that stopped reading must not block the caller.
func (c *Conn) sendInterrupt(u uint64) {
	c.goAsync(func() {
		c.mu.Lock()
		skip := c.noInterrupt || c.dead != nil
		c.mu.Unlock()
		if skip {
			return
		}
		in := abi.InterruptIn{Unique: u}
		h := abi.InHeader{Len: uint32(abi.InHeaderSize + in.SizeBytes()), Opcode: abi.FUSE_INTERRUPT, Unique: u | 1}
		msg := h.Append(nil, c.order)
		msg = in.Append(msg, c.order)
		if err := c.write(context.Background(), [][]byte{msg}); err != nil {
			c.logf("fuse client: send INTERRUPT for %d: %v", u, err)
		}
	})
}

// goAsync runs f on a goroutine joined by Close, unless Close has begun.
func (c *Conn) goAsync(f func()) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// record writes one message to the recorder, if any.
func (c *Conn) record(dir capture.Dir, parts ...[]byte) {
	if c.opts.Recorder == nil {
		return
	}
	msg := parts[0]
	if len(parts) > 1 {
		n := 0
		for _, p := range parts {
			n += len(p)
		}
		msg = make([]byte, 0, n)
		for _, p := range parts {
			msg = append(msg, p...)
		}
	}
	c.recMu.Lock()
	err := c.opts.Recorder.WriteMsg(time.Now(), c.opts.RecorderIface, dir, 0, msg)
	c.recMu.Unlock()
	if err != nil {
		c.logf("fuse client: record %s: %v", dir, err)
	}
}

// readLoop is the connection's only reader.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	size := c.maxMsg
	if m, ok := c.t.(interface{ MaxMsg() int }); ok {
		// A buffer as large as the transport's limit spares it a peek.
		size = max(size, m.MaxMsg())
	}
	buf := make([]byte, size)
	badFrames := 0
	for {
		msg, err := c.t.ReadMsg(buf)
		if err != nil {
			if errors.Is(err, transport.ErrBadFrame) && badFrames < 100 {
				// The transport dropped a datagram it could not frame;
				// the stream itself is still in step.
				badFrames++
				c.stats.bad.Add(1)
				c.logf("fuse client: %v", err)
				continue
			}
			c.fail(err)
			return
		}
		badFrames = 0
		if cap(msg) > cap(buf) {
			buf = msg[:cap(msg)]
		}
		c.handle(msg)
	}
}

// handle dispatches one message from the server. msg aliases the read
// buffer: whatever is kept is copied.
func (c *Conn) handle(msg []byte) {
	var h abi.OutHeader
	if _, err := h.Unmarshal(msg, c.order); err != nil {
		c.record(capture.DirReply, msg)
		c.stats.bad.Add(1)
		c.logf("fuse client: message of %d bytes is shorter than an out-header", len(msg))
		return
	}
	if h.Unique == 0 {
		c.record(capture.DirNotify, msg)
		c.notify(h, msg)
		return
	}
	c.record(capture.DirReply, msg)
	if h.Unique&1 == 1 {
		c.interruptReply(h, len(msg))
		return
	}
	c.mu.Lock()
	cl := c.pending[h.Unique]
	if cl != nil {
		delete(c.pending, h.Unique)
	}
	abandoned := cl != nil && cl.abandoned
	c.mu.Unlock()
	switch {
	case cl == nil:
		c.stats.unknown.Add(1)
		c.logf("fuse client: reply to unknown unique %d (error %d, %d bytes)", h.Unique, h.Error, len(msg))
		return
	case abandoned:
		c.stats.late.Add(1)
		c.logf("fuse client: late reply to %s %d dropped", cl.op, h.Unique)
		return
	}
	cl.ch <- c.check(cl, h, msg)
}

// check validates a reply as fs/fuse/dev.c does and returns the result
// for its caller.
func (c *Conn) check(cl *call, h abi.OutHeader, msg []byte) result {
	if int(h.Len) != len(msg) {
		// The kernel refuses the write and leaves the request pending; a
		// caller here may have no deadline, so the call fails instead.
		c.stats.bad.Add(1)
		return result{err: badReply(cl.op, "header len %d, message %d bytes", h.Len, len(msg))}
	}
	errno, err := replyErrno(h.Error)
	if err != nil {
		c.stats.bad.Add(1)
		return result{err: &Error{Op: cl.op, Errno: errno, Err: err}}
	}
	body := len(msg) - abi.OutHeaderSize
	if errno != 0 {
		if body != 0 {
			c.stats.bad.Add(1)
			return result{err: badReply(cl.op, "error reply %s with a %d-byte body", abi.Errno(errno), body)}
		}
		return result{msg: append([]byte(nil), msg...), err: &Error{Op: cl.op, Errno: errno}}
	}
	if body < cl.minLen || body > cl.maxLen {
		c.stats.bad.Add(1)
		if cl.minLen == cl.maxLen {
			return result{err: badReply(cl.op, "body of %d bytes, want %d", body, cl.minLen)}
		}
		return result{err: badReply(cl.op, "body of %d bytes, want %d..%d", body, cl.minLen, cl.maxLen)}
	}
	return result{msg: append([]byte(nil), msg...)}
}

// interruptReply handles the reply to an INTERRUPT: -ENOSYS stops
// interrupts for the connection, -EAGAIN asks for the interrupt again
// (fs/fuse/dev.c).
func (c *Conn) interruptReply(h abi.OutHeader, n int) {
	if n != abi.OutHeaderSize {
		c.stats.bad.Add(1)
		c.logf("fuse client: INTERRUPT reply of %d bytes", n)
		return
	}
	orig := h.Unique &^ 1
	switch h.Error {
	case -int32(syscall.ENOSYS):
		c.mu.Lock()
		c.noInterrupt = true
		c.mu.Unlock()
	case -int32(syscall.EAGAIN):
		c.mu.Lock()
		cl := c.pending[orig]
		c.mu.Unlock()
		if cl != nil {
			c.sendInterrupt(orig)
		}
	}
}

// fail marks the connection dead and fails every pending call: with
// ECONNABORTED when Close caused it, else with ENOTCONN.
func (c *Conn) fail(cause error) {
	c.mu.Lock()
	if c.dead == nil {
		if c.closing {
			c.dead = fmt.Errorf("connection closed: %w", os.ErrClosed)
		} else {
			c.dead = fmt.Errorf("server gone: %w", cause)
		}
		close(c.deadCh)
	}
	errno := syscall.ENOTCONN
	if c.closing {
		errno = syscall.ECONNABORTED
	}
	cause = c.dead
	pend := c.pending
	c.pending = make(map[uint64]*call)
	for _, cl := range pend {
		if !cl.abandoned {
			cl.ch <- result{err: &Error{Op: cl.op, Errno: errno, Err: cause}}
		}
	}
	c.mu.Unlock()
}

// Done returns a channel closed when the connection is unusable: the
// server went away or Close was called.
func (c *Conn) Done() <-chan struct{} { return c.deadCh }

// Err returns why the connection is unusable, or nil while it is alive.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

// Close sends DESTROY (best effort, bounded by Options.DestroyTimeout),
// fails pending calls with ECONNABORTED, closes the transport and waits for
// the connection's goroutines. Later calls fail with ENOTCONN. Lookup
// counts are not forgotten: DESTROY ends them all.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		if d := c.opts.DestroyTimeout; d >= 0 && c.Err() == nil {
			if d == 0 {
				d = DefaultDestroyTimeout
			}
			ctx, cancel := context.WithTimeout(context.Background(), d)
			_, err := c.roundTrip(ctx, &Request{Op: abi.FUSE_DESTROY}, 0, 0, true)
			cancel()
			if err != nil && !errors.Is(err, syscall.ENOSYS) {
				c.logf("fuse client: DESTROY: %v", err)
			}
		}
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		c.fail(os.ErrClosed)
		c.closeErr = c.t.Close()
		c.wg.Wait()
	})
	return c.closeErr
}
