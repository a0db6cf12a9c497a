package mount

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/client/launch"
	"github.com/fusectl/fusectl/client/transport"
)

// Defaults of Options.
const (
	// DefaultMaxWrite is the largest WRITE the interposer is prepared to
	// carry; the device read buffer and the socket send buffers are sized
	// for it.
	DefaultMaxWrite = 1 << 20
	// SplicePages is the largest READ reply, in pages, that a splicing
	// server sends in at most 16 pipe buffers, so that its datagrams cannot
	// interleave with another reply's.
	SplicePages = 14
	// DefaultGrace is how long teardown waits for a normal unmount and for
	// the server to exit before forcing.
	DefaultGrace = 3 * time.Second
)

// Options configure a Mount.
type Options struct {
	// Mountpoint is the directory to mount on.
	Mountpoint string
	// Args is the server's command line as the user typed it; "{}" marks
	// where the mountpoint goes, else the last argument equal to Mountpoint is
	// replaced, else it is appended (client/launch places it).
	Args []string
	// Method forces how the server gets its end of the socketpair.
	Method launch.Method
	// MountOptions are -o options (each element may hold several,
	// comma-separated): allow_other, default_permissions, max_read, fsname,
	// subtype, ro, nosuid, ... They are added to the options a
	// shim-launched server asked for itself.
	MountOptions []string
	// NoClamp keeps the server's max_pages even if it may splice READ
	// replies (see SplicePages). Only safe for servers known not to splice;
	// those the launcher recognises as such (launch.NeverSplices) are not
	// clamped anyway.
	NoClamp bool
	// CapturePath, if set, records every message from the first INIT to
	// this .fcap file (created 0600).
	CapturePath string
	// CaptureTo, if set instead, receives the capture as a stream (a
	// pipe to fusectl decode -), flushed whenever the feed runs dry. It
	// is not closed.
	CaptureTo io.Writer
	// CaptureSnapLen cuts captured messages at this many bytes (0: whole),
	// flagging them truncated.
	CaptureSnapLen int
	// ControlDir is where the control socket goes; "" means
	// DefaultControlDir(). NoControl disables the socket.
	ControlDir string
	NoControl  bool
	// Env is added to the server's environment.
	Env []string
	// Stdout and Stderr receive the server's output (also kept in the
	// server's ring buffer).
	Stdout, Stderr io.Writer
	// Stdin is the server's standard input (launch.Options.Stdin).
	Stdin *os.File
	// Grace bounds the waits of teardown (DefaultGrace if 0).
	Grace time.Duration
	// Logf receives diagnostics; nil discards them.
	Logf func(format string, args ...any)
	// Warnf receives what the user must hear: -o options that do nothing,
	// the capture file failing (the mount goes on without it). nil sends
	// it to Logf.
	Warnf func(format string, args ...any)
}

// Mount is a FUSE file system mounted with fusectl in the middle.
type Mount struct {
	opts    Options
	logf    func(string, ...any)
	warnf   func(string, ...any)
	mnt     string
	cmdline string
	started time.Time

	km     *kernelMount
	kern   *transport.DevFuse
	notes  *notifier // writes notifications on a duplicate of kern
	server *launch.Server
	srv    *transport.SeqPacket

	sess *session
	// clamp keeps READ replies within SplicePages: set unless NoClamp or
	// the server is known never to splice.
	clamp bool
	// pages is the most pages of data a READ or WRITE may carry (0: the
	// server's choice): SplicePages with clamp, and no more than a
	// datagram on the socket holds.
	pages int
	feed  feed
	stat  counters

	capSub  *Subscriber
	capDone chan struct{}
	capW    *capture.Writer // kept once Start succeeds
	capErr  error

	ctl *controlServer
	// ctlErr is why there is no control socket.
	ctlErr error

	// failing is set once requests can no longer reach the server: new
	// ones are answered with ENOTCONN by the interposer.
	failing  atomic.Bool
	kernDone chan struct{} // kernel reader ended
	srvDone  chan struct{} // server reader ended
	ready    chan struct{} // closed once the INIT reply was forwarded

	stopReq chan error // first cause of teardown
	done    chan struct{}
	err     error
}

// counters are the message statistics, updated without locks.
type counters struct {
	requests, replies, notifies atomic.Uint64
	reqBytes, repBytes          atomic.Uint64
	injected, noRequest         atomic.Uint64
	malformed                   atomic.Uint64
}

// Start mounts opts.Mountpoint, starts the server and forwards messages
// until Close, the server's exit, or an external unmount. The context only
// bounds the start; the mount lives until Close.
func Start(ctx context.Context, opts Options) (*Mount, error) {
	m := &Mount{
		opts:     opts,
		logf:     opts.Logf,
		sess:     newSession(),
		kernDone: make(chan struct{}),
		srvDone:  make(chan struct{}),
		ready:    make(chan struct{}),
		stopReq:  make(chan error, 1),
		done:     make(chan struct{}),
		started:  time.Now(),
	}
	if m.logf == nil {
		m.logf = func(string, ...any) {}
	}
	m.warnf = opts.Warnf
	if m.warnf == nil {
		m.warnf = m.logf
	}
	if m.opts.Grace <= 0 {
		m.opts.Grace = DefaultGrace
	}
	if len(opts.Args) == 0 {
		return nil, errors.New("no server command")
	}
	mnt, err := filepath.Abs(opts.Mountpoint)
	if err != nil {
		return nil, fmt.Errorf("mountpoint: %w", err)
	}
	if fi, err := os.Stat(mnt); err != nil {
		return nil, fmt.Errorf("mountpoint: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("mountpoint %s: not a directory", mnt)
	}
	// mountinfo names the directory, not a symlink to it: found there
	// under another name, the mount would have no connection (no abort,
	// no check that the capture is not inside the mount). The server's
	// argument is still matched against the name given.
	given := mnt
	if real, err := filepath.EvalSymlinks(mnt); err == nil {
		mnt = real
	}
	m.mnt = mnt
	m.cmdline = strings.Join(opts.Args, " ")
	if _, ignored, err := parseMountOptions(opts.MountOptions); err != nil {
		return nil, err
	} else if len(ignored) > 0 {
		// A typo, or an option meant for the server: the user must hear
		// that it does nothing here.
		m.warnf("mount options %s are not kernel FUSE options and are ignored (options for the server go after --)", strings.Join(ignored, ","))
	}

	if opts.CapturePath != "" || opts.CaptureTo != nil {
		if err := m.startCapture(opts.CapturePath, opts.CaptureTo); err != nil {
			return nil, err
		}
	}
	cleanup := func() {
		if m.capSub != nil {
			m.feed.close()
			<-m.capDone
		}
	}

	// ctx bounds only the wait for a shim-launched server to ask for its
	// mount (a server that derives a key or asks for a password first):
	// once launched, the server is stopped by the teardown, after the
	// unmount, never by a cancelled start context.
	srv, err := launch.Start(ctx, launch.Options{
		Args:       opts.Args,
		Mountpoint: given,
		Method:     opts.Method,
		Stdout:     opts.Stdout,
		Stderr:     opts.Stderr,
		Stdin:      opts.Stdin,
		Env:        opts.Env,
		MaxWrite:   DefaultMaxWrite,
		Logf:       m.logf,
	})
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("start server: %w", err)
	}
	m.server = srv
	m.srv = srv.Conn()
	stopServer := func() {
		sctx, cancel := context.WithTimeout(context.Background(), m.opts.Grace)
		defer cancel()
		srv.Stop(sctx)
	}

	// The server's own options come first so that -o can override them.
	all := append(append([]string{}, srv.MountOptions()...), opts.MountOptions...)
	ko, ignored, err := parseMountOptions(all)
	if err != nil {
		stopServer()
		cleanup()
		return nil, err
	}
	if len(ignored) > 0 {
		m.logf("server mount options not for the kernel, ignored: %s", strings.Join(ignored, ","))
	}
	if ko.subtype == "" {
		ko.subtype = filepath.Base(opts.Args[0])
	}
	m.clamp = !opts.NoClamp && !srv.NeverSplices()
	if !opts.NoClamp && !m.clamp {
		m.logf("READ replies not clamped: the server never splices")
	}
	if m.clamp {
		m.pages = SplicePages
	}
	if fit := socketPages(m.srv.SendBuffer(), os.Getpagesize()); fit*os.Getpagesize() < DefaultMaxWrite && (m.pages == 0 || fit < m.pages) {
		// An unprivileged fusectl cannot raise the send buffers past
		// net.core.wmem_max: a larger WRITE, or READ reply, would fail
		// with EMSGSIZE and end the mount.
		m.logf("socket send buffer %d bytes: READ and WRITE limited to %d pages", m.srv.SendBuffer(), fit)
		m.pages = fit
	}
	if m.pages > 0 {
		limit := m.pages * os.Getpagesize()
		if ko.maxRead == 0 || ko.maxRead > limit {
			ko.data = append(withoutMaxRead(ko.data), fmt.Sprintf("max_read=%d", limit))
			ko.maxRead = limit
		}
	}
	km, err := mountKernel(mnt, &ko, m.logf)
	if err != nil {
		stopServer()
		cleanup()
		return nil, err
	}
	m.km = km
	kern, err := transport.NewDevFuse(km.dev, DefaultMaxWrite+2*os.Getpagesize())
	if err != nil {
		km.dev.Close()
		km.unmount()
		stopServer()
		cleanup()
		return nil, err
	}
	m.kern = kern
	notesDev, err := kern.Dup()
	if err != nil {
		kern.Close()
		km.unmount()
		stopServer()
		cleanup()
		return nil, err
	}
	m.notes = newNotifier(notesDev, m.logf)
	m.logf("mounted %s (connection %d), server pid %d (%s)", mnt, km.conn, srv.Pid(), srv.Method())

	if !opts.NoControl {
		ctl, err := m.listenControl()
		if err != nil {
			// Not logged: ControlErr reports it, and fusectl mount
			// prints it whether verbose or not.
			m.ctlErr = err
		} else {
			m.ctl = ctl
		}
	}

	if m.capW != nil {
		if err := m.capW.Keep(); err != nil {
			m.warnf("%v", err)
		}
	}
	go m.kernelToServer()
	go m.serverToKernel()
	go m.run()
	return m, nil
}

func withoutMaxRead(data []string) []string {
	out := data[:0:0]
	for _, d := range data {
		if !strings.HasPrefix(d, "max_read=") {
			out = append(out, d)
		}
	}
	return out
}

// Mountpoint returns the absolute mountpoint.
func (m *Mount) Mountpoint() string { return m.mnt }

// Pid returns the server's process ID: once the process fusectl started
// has exited, the one it daemonized into, if any.
func (m *Mount) Pid() int { return m.server.Pid() }

// Method returns how the server was given its socket.
func (m *Mount) Method() launch.Method { return m.server.Method() }

// ServerDone is closed when the process fusectl started for the server has
// exited. A server that daemonized goes on serving from its child.
func (m *Mount) ServerDone() <-chan struct{} { return m.server.Done() }

// Conn returns the number of the FUSE connection (its directory in the
// kernel's control file system; see FUSEMount.Conn).
func (m *Mount) Conn() uint32 { return m.km.conn }

// ServerOutput returns the last output of the server.
func (m *Mount) ServerOutput() []byte { return m.server.Output() }

// ControlSocket returns the path of the control socket, "" if none.
func (m *Mount) ControlSocket() string {
	if m.ctl == nil {
		return ""
	}
	return m.ctl.path
}

// ControlErr returns why the mount has no control socket, which fusectl
// capture and ps need to reach it; nil if it has one or Options.NoControl
// asked for none. The mount works either way.
func (m *Mount) ControlErr() error { return m.ctlErr }

// Done is closed when the mount has been torn down.
func (m *Mount) Done() <-chan struct{} { return m.done }

// Ready is closed once the server's INIT reply has reached the kernel: the
// mount then serves requests. mount(2) returns before the INIT exchange,
// so a server that fails at once ends the mount (Done) without Ready.
func (m *Mount) Ready() <-chan struct{} { return m.ready }

// Err returns why the mount ended once Done is closed: nil after Close,
// ErrServerExited, ErrUnmounted, or a forwarding or teardown error.
func (m *Mount) Err() error {
	<-m.done
	return m.err
}

// Close tears the mount down (see the package comment) and waits for it.
// It returns the same as Err, with a requested close reported as nil.
func (m *Mount) Close() error {
	m.stop(nil)
	<-m.done
	return m.err
}

// Subscribe attaches a subscriber to the event feed.
func (m *Mount) Subscribe(opts SubscribeOptions) *Subscriber {
	var prelude []*Event
	if opts.Synthesize {
		// The synthesized messages are fresh, and a large mount has
		// tens of thousands: the events hold them as they are, from one
		// allocation, rather than each in a pooled 4 KiB buffer (which
		// made a capture of 17,000 nodes cost the mount 140 MB).
		now := time.Now()
		pairs := m.sess.synthesize()
		evs := make([]Event, 2*len(pairs))
		prelude = make([]*Event, 0, len(evs))
		for i, pair := range pairs {
			for j, msg := range pair {
				dir := capture.DirRequest
				if j == 1 {
					dir = capture.DirReply
				}
				ev := &evs[2*i+j]
				ev.Time, ev.Dir, ev.Flags, ev.OrigLen, ev.Msg = now, dir, capture.FlagSynthesized, len(msg), msg
				prelude = append(prelude, ev)
			}
		}
	}
	return m.feed.add(opts, prelude)
}

// catchUpLimit bounds how long teardown waits for the reader to take what
// the kernel has queued.
const catchUpLimit = 100 * time.Millisecond

// catchUp waits, at most catchUpLimit, until the reader has taken every
// request the kernel had queued. The unmount ends whatever is still
// queued inside the kernel, unseen by the server and the capture, and a
// stop often comes right after the last files were closed, whose RELEASEs
// the kernel queues as they close. A reader held up (a stopped server, or
// an application that keeps sending) costs the limit, no more.
func (m *Mount) catchUp() {
	deadline := time.Now().Add(catchUpLimit)
	for {
		pending, err := m.kern.Pending()
		if err != nil || !pending {
			return
		}
		if time.Now().After(deadline) {
			m.logf("the kernel still holds requests after %v; unmounting", catchUpLimit)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// stop asks for teardown with the given cause (nil: requested).
func (m *Mount) stop(cause error) {
	select {
	case m.stopReq <- cause:
	default:
	}
}

// beforeKernelRead, if set, runs before each read of a request with the
// opcode of the request read last: tests hold the reader back with it.
var beforeKernelRead func(last abi.Opcode)

// kernelToServer forwards requests. It ends when the kernel ends the
// connection (unmount or abort) or the device is closed.
func (m *Mount) kernelToServer() {
	defer close(m.kernDone)
	buf := make([]byte, DefaultMaxWrite+2*os.Getpagesize())
	procs := newProcessCache(ProcessOf)
	var last abi.Opcode
	for {
		if beforeKernelRead != nil {
			beforeKernelRead(last)
		}
		msg, err := m.kern.ReadMsg(buf)
		if err != nil {
			if errors.Is(err, transport.ErrPeerGone) || errors.Is(err, os.ErrClosed) {
				m.stop(ErrUnmounted)
			} else {
				m.stop(fmt.Errorf("read from kernel: %w", err))
			}
			return
		}
		if len(msg) < inHeaderSize {
			m.logf("short request from kernel (%d bytes), dropped", len(msg))
			continue
		}
		m.stat.requests.Add(1)
		m.stat.reqBytes.Add(uint64(len(msg)))
		// One clock read for the feed and for the session's note of
		// when the request began to wait.
		now := time.Now()
		if m.feed.active() {
			// The requesting thread is alive while its request waits
			// here; a subscriber that reads the event later may not
			// find it any more.
			var proc uint32
			if pid := ne.Uint32(msg[32:]); pid != 0 && m.feed.wantsProcesses() {
				proc = procs(pid)
			}
			m.feed.publish(now, capture.DirRequest, 0, msg, proc)
		}
		op := ne.Uint32(msg[4:])
		unique := ne.Uint64(msg[8:])
		last = abi.Opcode(op)
		if m.failing.Load() {
			if !noReply(op) {
				m.inject(unique, syscall.ENOTCONN)
			}
			continue
		}
		m.sess.request(msg, now)
		if err := m.srv.WriteMsg(msg); err != nil {
			if m.failing.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
				// startFailing cut the write short; this request is
				// answered with the others.
				m.failPending()
				continue
			}
			// The server is gone or refuses: fail this request and every
			// other pending one; the server reader reports the cause.
			m.logf("write to server: %v", err)
			m.startFailing()
			if errors.Is(err, transport.ErrPeerGone) {
				// It exited: its exit status, added in teardown,
				// says more than the broken pipe.
				m.stop(ErrServerExited)
			} else {
				m.stop(fmt.Errorf("%w: %w", ErrServerExited, err))
			}
			continue
		}
		if m.failing.Load() {
			// Raced with startFailing: make sure this one is answered.
			m.failPending()
		}
	}
}

// maxMalformedWarnings is how many malformed messages from the server are
// told one by one; a server that keeps sending them is then only counted.
const maxMalformedWarnings = 10

// malformed handles a message from the server that no kernel would take (a
// length field that is not the message's): the kernel would refuse the
// write with EINVAL and go on, and so does fusectl, which cannot pass the
// error back. What arrived of it (its header) goes to the feed, so that a
// capture shows what the server sent and a decode flags it.
func (m *Mount) malformed(fe *transport.FrameError) {
	switch n := m.stat.malformed.Add(1); {
	case n <= maxMalformedWarnings:
		m.warnf("%s: the server sent a malformed message, dropped as the kernel would: %v", m.mnt, fe)
	case n == maxMalformedWarnings+1:
		m.warnf("%s: more malformed messages from the server; counted, not shown", m.mnt)
	}
	if len(fe.Head) > 0 && m.feed.active() {
		m.feed.publishCut(time.Now(), capture.DirReply, fe.Head, max(fe.Got, len(fe.Head)))
	}
}

// serverToKernel forwards replies and notifications.
func (m *Mount) serverToKernel() {
	defer close(m.srvDone)
	buf := make([]byte, m.srv.MaxMsg())
	ready := false
	for {
		msg, err := m.srv.ReadMsg(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			var fe *transport.FrameError
			if errors.As(err, &fe) && fe.Skipped {
				m.malformed(fe)
				continue
			}
			if errors.Is(err, transport.ErrPeerGone) {
				m.stop(ErrServerExited)
			} else if errors.Is(err, transport.ErrBadFrame) && m.opts.NoClamp {
				// Two spliced replies interleaved their pieces, which the
				// clamp exists to prevent.
				m.stop(fmt.Errorf("read from server: %w (the server splices its replies: mount it without --no-clamp)", err))
			} else {
				m.stop(fmt.Errorf("read from server: %w", err))
			}
			m.startFailing()
			return
		}
		// The clock is read only when someone listens, and as the
		// message arrived, before the session bookkeeping.
		var now time.Time
		listening := m.feed.active()
		if listening {
			now = time.Now()
		}
		unique := ne.Uint64(msg[8:])
		dir := capture.DirReply
		var op uint32
		if unique == 0 {
			dir = capture.DirNotify
			m.stat.notifies.Add(1)
		} else {
			m.stat.replies.Add(1)
			op = m.sess.reply(msg)
		}
		m.stat.repBytes.Add(uint64(len(msg)))
		if listening {
			m.feed.publish(now, dir, 0, msg, 0)
		}
		if op == opInit {
			if note := adjustInit(msg, m.pages, os.Getpagesize()); note != "" {
				m.logf("INIT reply adjusted: %s", note)
			}
		}
		if dir == capture.DirNotify {
			m.notes.send(msg)
			continue
		}
		m.notes.beforeReply()
		if err := m.kern.WriteMsg(msg); err != nil {
			switch {
			case errors.Is(err, transport.ErrNoRequest):
				// The request was interrupted and is gone: normal.
				m.stat.noRequest.Add(1)
			case errors.Is(err, transport.ErrPeerGone), errors.Is(err, os.ErrClosed):
				// The connection ended; the kernel reader reports it.
			default:
				m.logf("write to kernel (%s, unique %d): %v", dir, unique, err)
			}
		}
		if op == opInit && !ready {
			ready = true
			close(m.ready)
		}
	}
}

// inject answers a kernel request with an error on the server's behalf.
func (m *Mount) inject(unique uint64, errno syscall.Errno) {
	var rep [outHeaderSize]byte
	ne.PutUint32(rep[0:], outHeaderSize)
	ne.PutUint32(rep[4:], uint32(-int32(errno)))
	ne.PutUint64(rep[8:], unique)
	now := time.Now()
	if err := m.kern.WriteMsg(rep[:]); err != nil {
		// ENOENT: answered meanwhile (a late server reply), so not by
		// fusectl.
		if !errors.Is(err, transport.ErrNoRequest) {
			m.logf("answer request %d: %v", unique, err)
		}
		return
	}
	m.stat.injected.Add(1)
	if m.feed.active() {
		m.feed.publish(now, capture.DirReply, capture.FlagInjected, rep[:], 0)
	}
}

// startFailing makes the interposer answer every request itself with
// ENOTCONN from now on, and fails those already sent to the server.
func (m *Mount) startFailing() {
	m.failing.Store(true)
	// Nothing goes to the server any more: a forwarder blocked writing to
	// a server that stopped reading (its socket full) is let go, or it
	// would never read the kernel's next request, nor see the end.
	m.srv.SetWriteDeadline(time.Unix(1, 0))
	m.failPending()
}

func (m *Mount) failPending() {
	for _, u := range m.sess.takeInflight() {
		m.inject(u, syscall.ENOTCONN)
	}
}

// awaitServer waits up to d for the server to answer every request
// forwarded to it, unless its reader ends first. The kernel's end is closed
// by then, so no request is added while it waits.
func (m *Mount) awaitServer(d time.Duration) {
	deadline := time.Now().Add(d)
	for n := m.sess.inflightCount(); n > 0; n = m.sess.inflightCount() {
		if time.Now().After(deadline) {
			m.logf("%d requests still unanswered by the server at teardown", n)
			return
		}
		select {
		case <-m.srvDone:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// closeDevice closes both descriptors of /dev/fuse: the connection ends
// only when the last one is closed.
func (m *Mount) closeDevice() {
	m.kern.Close()
	m.notes.dev.Close()
}

// stillMounted reports whether the mountpoint still holds this mount's
// connection.
func (m *Mount) stillMounted() bool {
	fm, err := FindFUSEMount(m.km.mountpoint)
	return err == nil && fm.Conn() == m.km.conn
}

// run waits for the first cause of teardown and carries it out.
func (m *Mount) run() {
	cause := <-m.stopReq
	m.err = m.teardown(cause)
	close(m.done)
}

func (m *Mount) teardown(cause error) error {
	grace := m.opts.Grace
	var errs []error
	serverGone := errors.Is(cause, ErrServerExited)
	if serverGone {
		m.logf("server exited: %v", cause)
		m.startFailing()
	}
	covered := ""
	if m.km.conn != 0 {
		covered, _ = coveredBy(m.km.mountpoint, m.km.conn)
	}
	switch {
	case covered != "":
		// Unmounting the path would take the mount on top, not ours:
		// end our connection, so that nothing waits on it, and say so.
		m.startFailing()
		if err := AbortConnection(m.km.conn); err != nil {
			m.logf("%v; closing the device instead", err)
			m.closeDevice()
		}
		errs = append(errs, fmt.Errorf("%w: a %s mount covers %s, so fusectl's stays mounted under it, its connection aborted; unmount both (umount %s twice)", ErrCovered, covered, m.km.mountpoint, m.km.mountpoint))
	case errors.Is(cause, ErrUnmounted) && m.km.conn != 0 && onTop(m.km.mountpoint, m.km.conn):
		// The connection ended but the mount is still there (an abort
		// through the control file system): a dead mount, which the
		// teardown of a mount must not leave.
		if _, err := m.km.unmount(); err != nil && onTop(m.km.mountpoint, m.km.conn) {
			errs = append(errs, err)
		}
	case !errors.Is(cause, ErrUnmounted):
		m.catchUp()
		// Unmount while the server still answers, so that the kernel can
		// finish what it is doing; if that takes longer than the grace
		// period (a stopped server), fail what waits for it.
		unmounted := make(chan error, 1)
		var lazy bool
		go func() {
			l, err := m.km.unmount()
			lazy = l
			unmounted <- err
		}()
		var uerr error
		select {
		case uerr = <-unmounted:
		case <-time.After(grace):
			m.logf("unmount is waiting for the server; failing its requests")
			m.startFailing()
			uerr = <-unmounted
		}
		if uerr != nil && !m.stillMounted() {
			// Unmounted from outside (umount, fusectl abort) while a
			// stop was already under way, so that the kernel's end of
			// the connection did not reach us first: a normal end.
			m.logf("%v: the mount was gone already", uerr)
			uerr = nil
		}
		if uerr != nil {
			errs = append(errs, uerr)
		}
		if lazy {
			// Something still uses the file system: end the connection
			// so that nothing stays stuck on it.
			m.logf("mount busy, detached lazily; aborting the connection")
			m.startFailing()
			if err := AbortConnection(m.km.conn); err != nil {
				m.logf("%v; closing the device instead", err)
				m.closeDevice()
			}
		}
	}
	// Wait for the kernel to end the connection, then close the device.
	select {
	case <-m.kernDone:
	case <-time.After(grace):
		m.logf("kernel connection still open; closing the device")
		m.closeDevice()
		<-m.kernDone
	}
	m.closeDevice()
	// What the kernel sent last (the RELEASE of a file closed just before
	// the unmount) may still be with the server: its replies belong in
	// the capture, and closing the socket now would lose them.
	m.awaitServer(grace)

	// Stop the server: closing our end makes it read end of file.
	sctx, cancel := context.WithTimeout(context.Background(), 2*grace)
	m.server.Stop(sctx)
	cancel()
	if serverGone {
		// It went first, so its exit status says how (at our close it
		// would mean nothing).
		select {
		case <-m.server.Done():
			if werr := m.server.Wait(); werr != nil {
				cause = fmt.Errorf("%w (%v)", cause, werr)
			}
		default:
		}
	}
	m.srv.Close()
	<-m.srvDone
	m.notes.close()

	if dropped := m.feed.totalDropped(); dropped > 0 {
		m.logf("%d events dropped by slow subscribers", dropped)
	}
	m.feed.close()
	if m.capSub != nil {
		<-m.capDone
		if m.capErr != nil {
			errs = append(errs, m.capErr)
		}
		if d := m.capSub.Dropped(); d > 0 {
			m.logf("capture: %d records dropped (the writer fell behind)", d)
		}
	}
	if m.ctl != nil {
		m.ctl.close()
	}
	if cause != nil && !errors.Is(cause, ErrUnmounted) {
		errs = append([]error{cause}, errs...)
	} else if cause != nil && len(errs) == 0 {
		errs = append(errs, cause)
	}
	return errors.Join(errs...)
}

// startCapture subscribes the capture writer (of a file at path, or of
// stream to) before anything is mounted, so that it records from the first
// message.
func (m *Mount) startCapture(path string, to io.Writer) error {
	wopts := capture.WriterOptions{
		Interfaces: []capture.Interface{{Name: m.mnt, Description: m.cmdline}},
		SnapLen:    m.opts.CaptureSnapLen,
	}
	var w *capture.Writer
	var err error
	if to != nil {
		w, err = capture.NewWriter(to, wopts)
		path = "stream"
	} else {
		// A server that cannot start leaves an earlier file at path
		// as it was.
		w, err = capture.CreatePending(path, wopts)
	}
	if err != nil {
		return fmt.Errorf("create capture: %w", err)
	}
	m.capW = w
	m.capSub = m.feed.add(SubscribeOptions{QueueLen: 1 << 16, QueueBytes: 256 << 20, SnapLen: m.opts.CaptureSnapLen}, nil)
	m.capDone = make(chan struct{})
	go func() {
		defer close(m.capDone)
		m.capErr = writeEvents(w, m.capSub, 0, func(err error) {
			m.warnf("capture %s stopped: %v; the mount goes on without it", path, err)
		})
		if err := w.Close(); err != nil && m.capErr == nil {
			m.capErr = fmt.Errorf("close capture: %w", err)
		}
	}()
	return nil
}

// writeEvents writes a subscriber's events to a capture writer until the
// feed ends, flushing whenever the queue runs empty, so that a killed
// fusectl leaves a file readable up to the last flush. After the first
// error, given to failed at once, it drains the feed without writing.
func writeEvents(w *capture.Writer, sub *Subscriber, iface int, failed func(error)) error {
	rec := capture.Record{Iface: iface}
	var werr error
	for {
		ev, ok := sub.Next()
		if !ok {
			break
		}
		if werr == nil {
			rec.Time, rec.Dir, rec.Flags, rec.Msg, rec.OrigLen, rec.Lost = ev.Time, ev.Dir, ev.Flags, ev.Msg, ev.OrigLen, ev.Lost
			// The writer's errors say "write capture" already.
			if err := w.Write(&rec); err != nil {
				werr = err
				failed(werr)
			}
		}
		sub.Release(ev)
		if werr == nil && sub.queueEmpty() {
			if err := w.Flush(); err != nil {
				werr = err
				failed(werr)
			}
		}
	}
	if d := sub.Dropped(); d > 0 {
		w.SetLost(iface, d) // written when the caller closes w
	}
	if werr == nil {
		werr = w.Flush()
	}
	return werr
}
