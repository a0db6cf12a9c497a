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
	// OnNotify receives every valid notification the server sends, in
	// order and never concurrently, on whichever goroutine is reading the
	// transport at the time (a caller waiting for its reply, or the
	// connection's idle reader): it must return quickly and must not wait
	// for replies of this connection.
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
// Reading. No goroutine is dedicated to reading: at any time at most one
// goroutine, the reader, reads the transport and dispatches what comes
// (replies to their callers, notifications to the handlers, in order). A
// caller that has sent its request becomes the reader if there is none,
// else it joins the followers (waiters) and waits on its channel. The
// reader reads until its own reply comes, which it takes without any
// goroutine switch, and then promotes the newest follower (sending it a
// lead result; the newest is the one whose reply is likely furthest off)
// or, with no follower, leaves the role free. So one call at a time reads
// its own reply, as a blocking read(2) would; with many in flight the
// reader serves the others as a reader goroutine would, and the role
// passes on when it returns. When the role has been free and no caller has
// come for idleDelay, the idle reader takes it, so that notifications,
// late replies and a dead server are still seen while nothing is in
// flight; it gives the role up after the first message read once a caller
// has come since it took it (that caller meanwhile gets its reply through
// its channel). While callers keep coming, the idle reader looks at
// doubling intervals up to maxIdleCheck, so after a busy spell it may take
// about twice that to start reading. A caller decides after its write, not
// before: a reader stuck in a write to a server that has stopped reading
// because its own replies fill the socket would deadlock.
//
// Cancellation. A reader whose context ends must not stay blocked in
// ReadMsg: an AfterFunc of its context kicks it out with a read deadline in
// the past, under mu and only while it is still the reader; it then passes
// the role on. Whoever takes the role clears a kick left behind. The
// transport keeps a message a deadline interrupted half-way and the next
// ReadMsg finishes it, in rbuf, which all readers share. A follower whose
// context ends leaves the followers under mu; if it was promoted meanwhile
// it passes the role on. With a transport that has no read deadline the
// idle reader is the reader for good and callers only follow.
//
// Lock order: writeMu, then recMu. mu is never held while taking either,
// nor while reading or writing the transport or calling OnNotify. It is
// held while the read deadline is set, so that a kick cannot hit a later
// reader, and while a lead result is sent (call channels have room for a
// lead and a result, so that never blocks).
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

	// rbuf and badFrames belong to the reader.
	rbuf      []byte
	badFrames int
	// rdl sets the transport's read deadline; nil if it has none, and then
	// only the idle reader reads.
	rdl interface{ SetReadDeadline(time.Time) error }
	// idle gets a token when the reader role falls free.
	idle chan struct{}
	// idleSelf stands for the idle reader in reader.
	idleSelf *call
	// +checklocks:mu
	reader *call // who reads; nil for none
	// +checklocks:mu
	followers *call // newest follower, linked by prev
	// +checklocks:mu
	arrivals uint64 // counts callers that became reader or follower
	// +checklocks:mu
	kicked bool // the read deadline is in the past

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
	// hdr and partsBuf back parts, which spares allocations.
	hdr      [abi.InHeaderSize]byte
	partsBuf [3][]byte
	// ch gets the result, or a lead result first (then at most the
	// result of the connection's failure).
	ch chan result
	// +checklocks:Conn.mu
	abandoned bool
	// +checklocks:Conn.mu
	following bool // in Conn.followers
	// +checklocks:Conn.mu
	prev, next *call // older and newer followers
	// kickable says a kick of this call may still come; the caller's
	// goroutine alone uses it.
	kickable bool
}

// calls recycles calls (and their channels) that ended cleanly: a round
// trip then allocates only its reply.
var calls = sync.Pool{New: func() any { return &call{ch: make(chan result, 2)} }}

// putCall returns cl to calls; nothing may refer to it any more.
func putCall(cl *call) {
	ch := cl.ch
	if len(ch) != 0 {
		return
	}
	*cl = call{ch: ch}
	calls.Put(cl)
}

type result struct {
	msg  []byte // whole reply message, header included
	err  error
	lead bool // not a result: the receiver is now the reader
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
		t:        t,
		opts:     opts,
		order:    abi.NativeEndian,
		logf:     opts.Logf,
		maxMsg:   opts.MaxMessage,
		pending:  make(map[uint64]*call),
		lookups:  make(map[uint64]uint64),
		deadCh:   make(chan struct{}),
		writeMu:  make(chan struct{}, 1),
		idle:     make(chan struct{}, 1),
		idleSelf: new(call),
	}
	c.wdl, _ = t.(interface{ SetWriteDeadline(time.Time) error })
	c.rdl, _ = t.(interface{ SetReadDeadline(time.Time) error })
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
	size := c.maxMsg
	if m, ok := t.(interface{ MaxMsg() int }); ok {
		// A buffer as large as the transport's limit spares it a peek.
		size = max(size, m.MaxMsg())
	}
	c.rbuf = make([]byte, size)
	if c.rdl == nil {
		c.reader = c.idleSelf
	}
	c.idle <- struct{}{}
	c.wg.Add(1)
	go c.idleReader()
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
	cl := calls.Get().(*call)
	cl.op, cl.minLen, cl.maxLen = req.Op, minLen, maxLen
	caller := c.caller
	if req.Caller != nil {
		caller = *req.Caller
	}

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
	cl.parts = append(cl.partsBuf[:0], h.Append(cl.hdr[:0], c.order))
	cl.parts = append(cl.parts, req.Body...)
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
		putCall(cl)
		return nil, nil
	}
	if r, ok := c.await(ctx, cl); ok {
		if r.err == nil && !cl.kickable {
			// Out of pending, no reader, no follower, its kick
			// stopped: nothing refers to cl any more.
			putCall(cl)
		}
		return r.msg, r.err
	}
	// ctx ended; cl is no reader and no follower.
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

// idleDelay is how long no caller must have waited for a reply before the
// idle reader reads: short, so that notifications and a dead server are
// noticed soon, long enough that a caller issuing calls one after another
// reads its own replies.
const idleDelay = time.Millisecond

// maxIdleCheck bounds how far apart the idle reader's looks are while
// callers keep coming: each look that finds them doubles the interval,
// since each wake-up costs the callers far more than its own work (it
// starts the other CPU, and calls run slower for a while after).
const maxIdleCheck = 16 * time.Millisecond

// await waits for the reply of cl, reading the transport itself when the
// reader role is free or passed to it. It reports false when ctx ended
// first, with cl neither reader nor follower; the caller then abandons cl.
func (c *Conn) await(ctx context.Context, cl *call) (result, bool) {
	c.mu.Lock()
	if c.pending[cl.key] != cl {
		// Answered (or failed) while we were writing.
		c.mu.Unlock()
		return <-cl.ch, true
	}
	c.arrivals++
	if c.reader == nil {
		c.setReaderLocked(cl)
		c.mu.Unlock()
		return c.lead(ctx, cl)
	}
	if c.rdl != nil {
		cl.following = true
		cl.prev = c.followers
		if c.followers != nil {
			c.followers.next = cl
		}
		c.followers = cl
	}
	c.mu.Unlock()
	var r result
	select {
	case r = <-cl.ch:
	case <-ctx.Done():
		if c.rdl == nil {
			return result{}, false
		}
		c.mu.Lock()
		following := cl.following
		if following {
			c.unfollowLocked(cl)
		}
		c.mu.Unlock()
		if following {
			return result{}, false
		}
		// Promoted or answered meanwhile.
		if r = <-cl.ch; r.lead {
			c.mu.Lock()
			c.passOnLocked(cl)
			c.mu.Unlock()
			return result{}, false
		}
	}
	if !r.lead {
		return r, true
	}
	return c.lead(ctx, cl)
}

// lead reads and dispatches messages as the reader until the reply of self
// comes (reported true) or ctx ends (false); either way the role has passed
// on when it returns.
func (c *Conn) lead(ctx context.Context, self *call) (result, bool) {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { c.kick(self) })
		defer func() {
			if !stop() {
				self.kickable = true // the kick may still run
			}
		}()
	}
	for {
		select {
		case r := <-self.ch:
			// The connection failed.
			return r, true
		default:
		}
		if ctx.Err() != nil {
			c.mu.Lock()
			c.passOnLocked(self)
			c.mu.Unlock()
			return result{}, false
		}
		msg, err := c.read()
		if err != nil {
			var lr *lostReply
			if errors.As(err, &lr) {
				if r, own := c.lose(lr, self); own {
					return r, true
				}
				continue
			}
			if errors.Is(err, errRetry) {
				continue
			}
			// The connection failed and fail answered every call.
			return <-self.ch, true
		}
		if r, own := c.handle(msg, self); own {
			return r, true
		}
	}
}

// setReaderLocked gives the reader role to cl, clearing a kick aimed at an
// earlier reader.
//
// +checklocks:c.mu
func (c *Conn) setReaderLocked(cl *call) {
	c.reader = cl
	if c.kicked {
		c.kicked = false
		c.rdl.SetReadDeadline(time.Time{})
	}
}

// passOnLocked hands the reader role of cl to the newest follower, or
// leaves it free.
//
// +checklocks:c.mu
func (c *Conn) passOnLocked(cl *call) {
	if c.reader != cl {
		return
	}
	if f := c.followers; f != nil {
		c.unfollowLocked(f)
		c.setReaderLocked(f)
		f.ch <- result{lead: true}
		return
	}
	c.reader = nil
	select {
	case c.idle <- struct{}{}:
	default:
	}
}

// unfollowLocked takes cl out of the followers.
//
// +checklocks:c.mu
func (c *Conn) unfollowLocked(cl *call) {
	if cl.next != nil {
		cl.next.prev = cl.prev
	} else {
		c.followers = cl.prev
	}
	if cl.prev != nil {
		cl.prev.next = cl.next
	}
	cl.prev, cl.next, cl.following = nil, nil, false
}

// kick makes the read of self's goroutine return with a deadline error, if
// it is still the reader.
func (c *Conn) kick(self *call) {
	c.mu.Lock()
	if c.reader == self {
		c.kicked = true
		c.rdl.SetReadDeadline(time.Unix(1, 0))
	}
	c.mu.Unlock()
}

// errRetry is what read returns when the reader should read again (after a
// kick or a datagram the transport could not frame).
var errRetry = errors.New("read again")

// lostReply is what read returns for a reply the transport could not
// frame but whose header names its request: the reader fails that call
// (lose) and reads again.
type lostReply struct {
	unique uint64
	err    error
}

func (e *lostReply) Error() string { return e.err.Error() }

// read reads one message into rbuf; the caller is the reader. A fatal
// error has already failed the connection when read returns it.
func (c *Conn) read() ([]byte, error) {
	msg, err := c.t.ReadMsg(c.rbuf)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) && c.rdl != nil {
			// A kick: the reader's context ended.
			return nil, errRetry
		}
		if errors.Is(err, transport.ErrBadFrame) && c.badFrames < 100 {
			// The transport dropped a datagram it could not frame;
			// the stream itself is still in step.
			c.badFrames++
			c.stats.bad.Add(1)
			c.logf("fuse client: %v", err)
			var fe *transport.FrameError
			if errors.As(err, &fe) && len(fe.Head) >= abi.OutHeaderSize {
				// Its caller may have no deadline: it fails.
				return nil, &lostReply{unique: c.order.Uint64(fe.Head[8:]), err: fe}
			}
			return nil, errRetry
		}
		c.fail(err)
		return nil, err
	}
	c.badFrames = 0
	if cap(msg) > cap(c.rbuf) {
		c.rbuf = msg[:cap(msg)]
	}
	return msg, nil
}

// idleReader reads the transport while no caller does. With a transport
// that has no read deadline it is the only reader.
func (c *Conn) idleReader() {
	defer c.wg.Done()
	self := c.idleSelf
	if c.rdl == nil {
		for {
			msg, err := c.read()
			var lr *lostReply
			if errors.As(err, &lr) {
				c.lose(lr, nil)
				continue
			}
			if errors.Is(err, errRetry) {
				continue
			}
			if err != nil {
				return
			}
			c.handle(msg, nil)
		}
	}
	t := time.NewTimer(idleDelay)
	t.Stop()
	defer t.Stop()
	delay := idleDelay
	for {
		select {
		case <-c.idle:
		case <-c.deadCh:
			return
		}
		c.mu.Lock()
		n := c.arrivals
		c.mu.Unlock()
		t.Reset(delay)
		select {
		case <-t.C:
		case <-c.deadCh:
			return
		}
		c.mu.Lock()
		if c.reader != nil || c.arrivals != n {
			// Someone reads, or did and freed the role again (which
			// signalled idle).
			c.mu.Unlock()
			delay = min(2*delay, maxIdleCheck)
			continue
		}
		delay = idleDelay
		c.setReaderLocked(self)
		c.mu.Unlock()
		for {
			msg, err := c.read()
			var lr *lostReply
			if errors.As(err, &lr) {
				c.lose(lr, nil)
				continue
			}
			if errors.Is(err, errRetry) {
				continue
			}
			if err != nil {
				return
			}
			c.handle(msg, nil)
			c.mu.Lock()
			if c.arrivals != n {
				c.passOnLocked(self)
				c.mu.Unlock()
				break
			}
			c.mu.Unlock()
		}
	}
}

// handle dispatches one message from the server; the caller is the reader.
// The reply of self (nil for none) is returned with true instead of being
// sent to self's channel. msg aliases the read buffer: whatever is kept is
// copied.
func (c *Conn) handle(msg []byte, self *call) (result, bool) {
	var h abi.OutHeader
	if _, err := h.Unmarshal(msg, c.order); err != nil {
		c.record(capture.DirReply, msg)
		c.stats.bad.Add(1)
		c.logf("fuse client: message of %d bytes is shorter than an out-header", len(msg))
		return result{}, false
	}
	if h.Unique == 0 {
		c.record(capture.DirNotify, msg)
		c.notify(h, msg)
		return result{}, false
	}
	c.record(capture.DirReply, msg)
	if h.Unique&1 == 1 {
		c.interruptReply(h, len(msg))
		return result{}, false
	}
	cl, abandoned := c.take(h.Unique)
	switch {
	case cl == nil:
		c.stats.unknown.Add(1)
		c.logf("fuse client: reply to unknown unique %d (error %d, %d bytes)", h.Unique, h.Error, len(msg))
		return result{}, false
	case abandoned:
		c.stats.late.Add(1)
		c.logf("fuse client: late reply to %s %d dropped", cl.op, h.Unique)
		return result{}, false
	}
	return c.give(cl, self, c.check(cl, h, msg))
}

// take removes the call waiting for the reply to unique from the pending
// ones and returns it (nil if none), and whether its caller gave up.
func (c *Conn) take(unique uint64) (cl *call, abandoned bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl = c.pending[unique]
	if cl == nil {
		return nil, false
	}
	delete(c.pending, unique)
	if cl.following {
		c.unfollowLocked(cl)
	}
	return cl, cl.abandoned
}

// lose fails the call whose reply the transport could not frame; see
// handle for self and the results.
func (c *Conn) lose(lr *lostReply, self *call) (result, bool) {
	if lr.unique&1 == 1 {
		return result{}, false // an INTERRUPT's reply: nobody waits for it
	}
	cl, abandoned := c.take(lr.unique)
	if cl == nil || abandoned {
		return result{}, false
	}
	return c.give(cl, self, result{err: badReply(cl.op, "%w", lr.err)})
}

// give hands r to cl: returned with true if cl is self, the reader, else
// sent to its channel.
func (c *Conn) give(cl, self *call, r result) (result, bool) {
	if cl == self {
		// Only now that msg is copied may another reader use rbuf.
		c.mu.Lock()
		c.passOnLocked(self)
		c.mu.Unlock()
		return r, true
	}
	cl.ch <- r
	return result{}, false
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
	for c.followers != nil {
		c.unfollowLocked(c.followers)
	}
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
