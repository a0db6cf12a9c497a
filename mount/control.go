package mount

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/capture"
)

// The control socket speaks a small protocol: the client sends one JSON
// request line; for "status" the server answers one JSON line and closes;
// for "feed" it streams binary frames until the client goes away or the
// mount ends. A frame is a 24-byte header (host byte order: u32 frame
// length including the header, u8 kind, u8 direction, u16 flags, u32
// original message length, u32 process of a request (Event.Process; 0 when
// not asked for, and from a fusectl that predates it), i64 time in Unix
// nanoseconds)
// followed by the message (kind event), an 8-byte count (kind drops: the
// events dropped so far; kind gap: the events lost just before the next
// event, Event.Lost), or nothing (kinds live and end). Kind live comes
// once, after the synthesized prelude: live events follow. A client
// ignores kinds it does not know.

const (
	frameHeaderSize = 24
	frameEvent      = 1
	frameDrops      = 2
	frameEnd        = 3
	frameLive       = 4
	frameGap        = 5
	maxFrame        = 64 << 20
)

// controlRequest is the JSON request line.
type controlRequest struct {
	Op         string `json:"op"`
	SnapLen    int    `json:"snaplen,omitempty"`
	Synthesize bool   `json:"synthesize,omitempty"`
	Processes  bool   `json:"processes,omitempty"`
}

// Status describes a running fusectl mount, as served on its control
// socket.
type Status struct {
	Mountpoint string    `json:"mountpoint"`
	Server     []string  `json:"server"`
	ServerPid  int       `json:"server_pid"`
	Pid        int       `json:"pid"` // the fusectl process
	Method     string    `json:"method"`
	Conn       uint32    `json:"conn"` // see FUSEMount.Conn
	Started    time.Time `json:"started"`
	Requests   uint64    `json:"requests"`
	Replies    uint64    `json:"replies"`
	Notifies   uint64    `json:"notifies"`
	Bytes      uint64    `json:"bytes"`
	// Rate is messages per second over the last second.
	Rate     float64 `json:"rate"`
	InFlight int     `json:"in_flight"`
	// Oldest is the request that has waited longest for the server, if
	// any waits.
	Oldest *Pending `json:"oldest,omitempty"`
	// Injected counts error replies fusectl made on the server's behalf;
	// NoRequest counts replies the kernel refused as no longer pending.
	Injected  uint64 `json:"injected"`
	NoRequest uint64 `json:"no_request"`
	// Malformed counts messages from the server that no kernel would
	// take (dropped, as the kernel would).
	Malformed uint64 `json:"malformed"`
	// Dropped counts events lost by slow subscribers, Capture the ones of
	// the --capture file among them.
	Dropped        uint64 `json:"dropped"`
	CaptureDropped uint64 `json:"capture_dropped"`
	Subscribers    int    `json:"subscribers"`
}

// DefaultControlDir returns where control sockets live:
// $XDG_RUNTIME_DIR/fusectl, else /run/fusectl for root, else a directory
// per user under the temporary directory.
func DefaultControlDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "fusectl")
	}
	if os.Geteuid() == 0 {
		return "/run/fusectl"
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("fusectl-%d", os.Geteuid()))
}

// SocketPath returns the path of the control socket for mountpoint in dir
// ("" for DefaultControlDir()).
func SocketPath(dir, mountpoint string) string {
	if dir == "" {
		dir = DefaultControlDir()
	}
	return filepath.Join(dir, socketName(mountpoint))
}

// HasSocket reports whether a control socket for mountpoint is in dir (""
// for DefaultControlDir()), whether or not a fusectl answers on it.
func HasSocket(dir, mountpoint string) bool {
	if dir == "" {
		dir = DefaultControlDir()
	}
	if privateDir(dir) != nil {
		return false // not one this user can trust or use
	}
	_, err := os.Lstat(SocketPath(dir, mountpoint))
	return err == nil
}

// socketName returns the control socket's file name for a mountpoint: its
// base name (for people listing the directory) and a hash of the whole path.
func socketName(mountpoint string) string {
	sum := sha256.Sum256([]byte(mountpoint))
	base := strings.Map(func(r rune) rune {
		if r == '/' || r < ' ' || r > '~' {
			return '_'
		}
		return r
	}, filepath.Base(mountpoint))
	if len(base) > 32 {
		base = base[:32]
	}
	return base + "." + hex.EncodeToString(sum[:6]) + ".sock"
}

// Status returns the mount's current status.
func (m *Mount) Status() Status {
	st := Status{
		Mountpoint: m.mnt,
		Server:     m.opts.Args,
		ServerPid:  m.server.Pid(),
		Pid:        os.Getpid(),
		Method:     m.server.Method().String(),
		Conn:       m.km.conn,
		Started:    m.started,
		Requests:   m.stat.requests.Load(),
		Replies:    m.stat.replies.Load(),
		Notifies:   m.stat.notifies.Load(),
		Bytes:      m.stat.reqBytes.Load() + m.stat.repBytes.Load(),
		InFlight:   m.sess.inflightCount(),
		Oldest:     m.sess.oldest(time.Now()),
		Injected:   m.stat.injected.Load(),
		NoRequest:  m.stat.noRequest.Load(),
		Malformed:  m.stat.malformed.Load(),
		Dropped:    m.feed.totalDropped(),
	}
	if m.capSub != nil {
		st.CaptureDropped = m.capSub.Dropped()
	}
	st.Subscribers = len(m.feed.subscribers())
	if m.ctl != nil {
		st.Rate = m.ctl.rate()
	}
	return st
}

// controlServer serves one mount's control socket.
type controlServer struct {
	m    *Mount
	path string
	ln   *net.UnixListener
	wg   sync.WaitGroup
	quit chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]bool
	// +checklocks:mu
	lastRate float64
}

// maxSocketPath is the longest path a Unix socket address holds (sun_path
// is 108 bytes with the terminating NUL).
const maxSocketPath = 107

func (m *Mount) listenControl() (*controlServer, error) {
	dir := m.opts.ControlDir
	if dir == "" {
		dir = DefaultControlDir()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create control directory: %w", err)
	}
	if err := privateDir(dir); err != nil {
		return nil, err
	}
	path := SocketPath(dir, m.mnt)
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("control socket path %s is %d bytes, more than the %d a socket address holds: point XDG_RUNTIME_DIR at a shorter directory", path, len(path), maxSocketPath)
	}
	if removeStale(path) {
		return nil, fmt.Errorf("control socket %s: in use by another fusectl", path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on control socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod control socket: %w", err)
	}
	s := &controlServer{m: m, path: path, ln: ln, quit: make(chan struct{}), conns: make(map[net.Conn]bool)}
	s.wg.Add(2)
	go s.accept()
	go s.sampleRate()
	return s, nil
}

func (s *controlServer) rate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastRate
}

// sampleRate measures the message rate once a second.
func (s *controlServer) sampleRate() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	total := func() uint64 {
		return s.m.stat.requests.Load() + s.m.stat.replies.Load() + s.m.stat.notifies.Load()
	}
	last, lastT := total(), time.Now()
	for {
		select {
		case <-s.quit:
			return
		case now := <-t.C:
			n := total()
			r := float64(n-last) / now.Sub(lastT).Seconds()
			last, lastT = n, now
			s.mu.Lock()
			s.lastRate = r
			s.mu.Unlock()
		}
	}
}

func (s *controlServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			select {
			case <-s.quit:
				return
			default:
			}
			// Out of descriptors (EMFILE), say: clients that connect
			// meanwhile wait, and the loop goes on once they are back.
			s.m.logf("control socket: %v", err)
			select {
			case <-s.quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

func (s *controlServer) serve(c *net.UnixConn) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, 4096)).ReadBytes('\n')
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	var req controlRequest
	if err := json.Unmarshal(line, &req); err != nil {
		fmt.Fprintf(c, "{\"error\":%q}\n", "bad request: "+err.Error())
		return
	}
	switch req.Op {
	case "status":
		b, _ := json.Marshal(s.m.Status())
		c.Write(append(b, '\n'))
	case "feed":
		s.serveFeed(c, req)
	default:
		fmt.Fprintf(c, "{\"error\":%q}\n", "unknown op "+req.Op)
	}
}

// serveFeed streams events until the client hangs up or the feed ends.
func (s *controlServer) serveFeed(c *net.UnixConn, req controlRequest) {
	sub := s.m.Subscribe(SubscribeOptions{SnapLen: req.SnapLen, Synthesize: req.Synthesize, Processes: req.Processes})
	defer sub.Close()
	// Notice a client that hangs up even when no event comes.
	go func() {
		var b [1]byte
		c.Read(b[:])
		sub.Close()
	}()
	w := bufio.NewWriterSize(c, 256<<10)
	var hdr [frameHeaderSize]byte
	var reported uint64
	writeFrame := func(kind byte, dir capture.Dir, flags capture.Flags, orig int, proc uint32, t time.Time, payload []byte) error {
		ne.PutUint32(hdr[0:], uint32(frameHeaderSize+len(payload)))
		hdr[4], hdr[5] = kind, byte(dir)
		ne.PutUint16(hdr[6:], uint16(flags))
		ne.PutUint32(hdr[8:], uint32(orig))
		ne.PutUint32(hdr[12:], proc)
		ne.PutUint64(hdr[16:], uint64(t.UnixNano()))
		if _, err := w.Write(hdr[:]); err != nil {
			return err
		}
		_, err := w.Write(payload)
		return err
	}
	live := false
	for {
		if !live && len(sub.prelude) == 0 {
			live = true
			if writeFrame(frameLive, 0, 0, 0, 0, time.Now(), nil) != nil || w.Flush() != nil {
				return
			}
		}
		ev, ok := sub.Next()
		if !ok {
			break
		}
		var err error
		if ev.Lost > 0 {
			var p [8]byte
			ne.PutUint64(p[:], ev.Lost)
			err = writeFrame(frameGap, 0, 0, 0, 0, ev.Time, p[:])
		}
		if err == nil {
			err = writeFrame(frameEvent, ev.Dir, ev.Flags, ev.OrigLen, ev.Process, ev.Time, ev.Msg)
		}
		sub.Release(ev)
		if err == nil {
			if d := sub.Dropped(); d != reported {
				reported = d
				var p [8]byte
				ne.PutUint64(p[:], d)
				err = writeFrame(frameDrops, 0, 0, 0, 0, time.Now(), p[:])
			}
		}
		if err == nil && sub.queueEmpty() {
			err = w.Flush()
		}
		if err != nil {
			return
		}
	}
	if d := sub.Dropped(); d != reported {
		var p [8]byte
		ne.PutUint64(p[:], d)
		writeFrame(frameDrops, 0, 0, 0, 0, time.Now(), p[:])
	}
	writeFrame(frameEnd, 0, 0, 0, 0, time.Now(), nil)
	w.Flush()
}

// close stops accepting, ends every client and removes the socket.
func (s *controlServer) close() {
	close(s.quit)
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		// Feed clients end by themselves when the feed closes; status
		// clients are quick. A deadline bounds the wait for stuck ones.
		c.SetDeadline(time.Now().Add(time.Second))
	}
	s.mu.Unlock()
	s.wg.Wait()
	// The listener unlinked its socket as it closed (SetUnlinkOnClose); a
	// removal now could take a new fusectl's socket of the same name.
}

// removeStale removes the control socket at path unless a fusectl answers
// on it, and reports whether one does. A socket whose fusectl was killed
// stays behind with nobody listening.
func removeStale(path string) (live bool) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return true
	}
	os.Remove(path)
	return false
}

// ControlSockets lists the control sockets in dir ("" for
// DefaultControlDir()).
func ControlSockets(dir string) ([]string, error) {
	if dir == "" {
		dir = DefaultControlDir()
	}
	if err := privateDir(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.sock"))
	if err != nil {
		return nil, err
	}
	return paths, nil
}

// privateDir checks that dir, a control directory, is this user's and
// writable by nobody else: under a shared temporary directory another
// user could have made it first, and then planted or removed sockets in
// it (a forged feed).
func privateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o022 != 0 {
		uid := -1
		if ok {
			uid = int(st.Uid)
		}
		if os.Geteuid() == 0 && uid > 0 {
			// sudo -E: root with a user's XDG_RUNTIME_DIR.
			return fmt.Errorf("control directory %s belongs to uid %d, not root (XDG_RUNTIME_DIR of another user, as under sudo -E?): run without that XDG_RUNTIME_DIR", dir, uid)
		}
		return fmt.Errorf("control directory %s is not private (%v, owner uid %d; want a directory of uid %d that only it may write to): remove it", dir, fi.Mode(), uid, os.Geteuid())
	}
	return nil
}

// peerTrusted checks that the fusectl at the other end of a control
// socket runs as this user or as root.
func peerTrusted(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("control socket served by uid %d (pid %d), not by this user or root", cred.Uid, cred.Pid)
	}
	return nil
}

func dialControl(ctx context.Context, path string, req controlRequest) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("connect to control socket: %w", err)
	}
	if err := peerTrusted(c); err != nil {
		c.Close()
		return nil, err
	}
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		c.Close()
		return nil, fmt.Errorf("send control request: %w", err)
	}
	return c, nil
}

// QueryStatus asks the fusectl mount behind a control socket for its
// status.
func QueryStatus(ctx context.Context, path string) (*Status, error) {
	c, err := dialControl(ctx, path, controlRequest{Op: "status"})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(5 * time.Second))
	}
	line, err := bufio.NewReader(io.LimitReader(c, 1<<20)).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	var st struct {
		Status
		Error string `json:"error"`
	}
	if err := json.Unmarshal(line, &st); err != nil {
		return nil, fmt.Errorf("decode status: %w", err)
	}
	if st.Error != "" {
		return nil, fmt.Errorf("control socket: %s", st.Error)
	}
	return &st.Status, nil
}

// Running is a fusectl mount found through its control socket.
type Running struct {
	Socket string
	Status *Status
}

// ListRunning queries every control socket in dir ("" for the default) and
// returns the mounts that answer; sockets nobody answers on (left by a
// killed fusectl) are skipped.
func ListRunning(ctx context.Context, dir string) ([]Running, error) {
	paths, err := ControlSockets(dir)
	if err != nil {
		return nil, err
	}
	// All at once: each fusectl that does not answer (stopped, hung)
	// costs the timeout, which one at a time would add up.
	sts := make([]*Status, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() {
			qctx, cancel := context.WithTimeout(ctx, statusPatience)
			defer cancel()
			if st, err := QueryStatus(qctx, p); err == nil {
				sts[i] = st
			}
		})
	}
	wg.Wait()
	var out []Running
	for i, st := range sts {
		if st != nil {
			out = append(out, Running{Socket: paths[i], Status: st})
		}
	}
	return out, nil
}

// statusPatience is how long ListRunning waits for a fusectl to answer.
var statusPatience = 2 * time.Second

// FindRunning returns the running fusectl mount at mountpoint, or the only
// one if mountpoint is "".
func FindRunning(ctx context.Context, dir, mountpoint string) (Running, error) {
	all, err := ListRunning(ctx, dir)
	if err != nil {
		return Running{}, err
	}
	if mountpoint == "" {
		switch len(all) {
		case 0:
			return Running{}, notFound(dir, "")
		case 1:
			return all[0], nil
		}
		var names []string
		for _, r := range all {
			names = append(names, r.Status.Mountpoint)
		}
		return Running{}, fmt.Errorf("%w (%s): name one with --mount", ErrAmbiguous, strings.Join(names, ", "))
	}
	abs, err := filepath.Abs(mountpoint)
	if err != nil {
		return Running{}, err
	}
	var found *Running
	fuse, _ := FUSEMounts()
	matchPath(abs, fuse, func(p string) bool {
		for i := range all {
			if all[i].Status.Mountpoint == p {
				found = &all[i]
				return true
			}
		}
		return false
	})
	if found != nil {
		return *found, nil
	}
	return Running{}, notFound(dir, abs)
}

// notFound explains ErrNoMount for the mount at abs ("": any) by the FUSE
// mounts that fusectl made (source "fusectl") but that no control socket
// in dir answers for: a fusectl that was killed, or one of another user
// or started with another XDG_RUNTIME_DIR (as under sudo), whose socket
// is in another directory.
func notFound(dir, abs string) error {
	if dir == "" {
		dir = DefaultControlDir()
	}
	err := ErrNoMount
	if abs != "" {
		err = fmt.Errorf("%w at %s", ErrNoMount, abs)
	}
	ms, _ := FUSEMounts()
	var dead, elsewhere []string
	for _, m := range ms {
		if m.Source != "fusectl" || abs != "" && m.Mountpoint != abs {
			continue
		}
		if HasSocket(dir, m.Mountpoint) {
			dead = append(dead, m.Mountpoint)
		} else {
			elsewhere = append(elsewhere, m.Mountpoint)
		}
	}
	if len(dead) > 0 {
		err = fmt.Errorf("%w; the fusectl of %s does not answer (stopped, or killed: fusectl abort clears its mount)", err, strings.Join(dead, ", "))
	}
	if len(elsewhere) > 0 {
		what := "the fusectl mount on %s has no control socket in %s: it runs"
		if len(elsewhere) > 1 {
			what = "the fusectl mounts on %s have no control socket in %s: they run"
		}
		err = fmt.Errorf("%w; "+what+" as another user or with another XDG_RUNTIME_DIR", err, strings.Join(elsewhere, ", "), dir)
	}
	return err
}

// FeedOptions configure OpenFeed.
type FeedOptions struct {
	// SnapLen cuts messages at this many bytes (0: whole).
	SnapLen int
	// NoSynthesize skips the synthesized INIT and LOOKUP records that make
	// a mid-session feed decodable.
	NoSynthesize bool
	// Processes asks for Event.Process of requests.
	Processes bool
	// OnLive, if set, is called by Next once the synthesized prelude is
	// over (at once without one), before any live event. A fusectl mount
	// that predates the marker never calls it.
	OnLive func()
}

// FeedReader reads the live event feed of a fusectl mount.
type FeedReader struct {
	c       net.Conn
	r       *bufio.Reader
	dropped uint64
	gap     uint64 // for the next event's Lost
	stopped atomic.Bool
	buf     []byte
	ended   bool
	onLive  func()
}

// OpenFeed attaches to the live feed behind a control socket.
func OpenFeed(ctx context.Context, path string, opts FeedOptions) (*FeedReader, error) {
	c, err := dialControl(ctx, path, controlRequest{Op: "feed", SnapLen: opts.SnapLen, Synthesize: !opts.NoSynthesize, Processes: opts.Processes})
	if err != nil {
		return nil, err
	}
	f := &FeedReader{c: c, onLive: opts.OnLive}
	f.r = bufio.NewReaderSize(patientReader{f}, 256<<10)
	return f, nil
}

// patientReader reads the feed's socket. Once the feed is stopped, each
// read may wait stopPatience: patience counts from the last data, as a
// slow output may take a while to drain the backlog, and a read for the
// rest of a frame half in the buffer must not inherit a deadline that ran
// out while the buffer was drained.
type patientReader struct{ f *FeedReader }

func (p patientReader) Read(b []byte) (int, error) {
	if p.f.stopped.Load() {
		p.f.c.SetReadDeadline(time.Now().Add(stopPatience))
	}
	return p.f.c.Read(b)
}

// Next returns the next event. The event's Msg is only valid until the
// next call. It returns io.EOF when the mount has ended, or an error when
// the connection fails or Close was called.
func (f *FeedReader) Next() (*Event, error) {
	var hdr [frameHeaderSize]byte
	for {
		if f.ended {
			return nil, io.EOF
		}
		if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("the fusectl mount went away without ending its feed (killed?): %w", io.ErrUnexpectedEOF)
			}
			return nil, f.readErr(err)
		}
		n := int(ne.Uint32(hdr[0:]))
		if n < frameHeaderSize || n > maxFrame {
			return nil, fmt.Errorf("read feed: bad frame length %d", n)
		}
		if cap(f.buf) < n-frameHeaderSize {
			f.buf = make([]byte, n-frameHeaderSize)
		}
		payload := f.buf[:n-frameHeaderSize]
		if _, err := io.ReadFull(f.r, payload); err != nil {
			return nil, f.readErr(err)
		}
		t := time.Unix(0, int64(ne.Uint64(hdr[16:])))
		switch hdr[4] {
		case frameEvent:
			return &Event{
				Time:    t,
				Dir:     capture.Dir(hdr[5]),
				Flags:   capture.Flags(ne.Uint16(hdr[6:])),
				OrigLen: int(ne.Uint32(hdr[8:])),
				Process: ne.Uint32(hdr[12:]),
				Lost:    f.takeGap(),
				Msg:     payload,
			}, nil
		case frameGap:
			if len(payload) >= 8 {
				f.gap += ne.Uint64(payload)
			}
		case frameDrops:
			if len(payload) >= 8 {
				f.dropped = ne.Uint64(payload)
			}
		case frameEnd:
			f.ended = true
		case frameLive:
			if f.onLive != nil {
				f.onLive()
				f.onLive = nil
			}
		}
	}
}

// readErr says why reading the feed failed.
func (f *FeedReader) readErr(err error) error {
	if f.stopped.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("read feed: the mount sent nothing for %v after being asked to end it: %w", stopPatience, err)
	}
	return fmt.Errorf("read feed: %w", err)
}

// takeGap returns the events lost before the event being returned, told
// by the gap frames since the last one.
func (f *FeedReader) takeGap() uint64 {
	g := f.gap
	f.gap = 0
	return g
}

// Dropped returns how many events the server dropped for this reader
// because it fell behind.
func (f *FeedReader) Dropped() uint64 { return f.dropped }

// stopPatience is how long each read of the feed waits for data once Stop
// was called (patientReader): the mount's end of the feed is expected
// within it of the last data.
var stopPatience = 2 * time.Second

// Stop asks the mount to end the feed, as a reader about to stop does to
// learn how many events were dropped for it in all: Next goes on returning
// the events already on their way, then io.EOF once the mount has sent its
// final count. A mount that sends nothing for two seconds makes Next
// fail. Stop may be called from another goroutine than Next.
func (f *FeedReader) Stop() {
	f.stopped.Store(true)
	if uc, ok := f.c.(*net.UnixConn); ok && uc.CloseWrite() == nil {
		// The mount notices the end of our requests, closes our
		// subscriber and ends the feed (any fusectl mount does: it
		// watches for a client that hangs up).
		uc.SetReadDeadline(time.Now().Add(stopPatience))
		return
	}
	f.c.Close()
}

// Close detaches from the feed.
func (f *FeedReader) Close() error { return f.c.Close() }

// Buffered returns how many bytes of the feed are already read from the
// socket and not returned yet: when 0, the next Next may block.
func (f *FeedReader) Buffered() int { return f.r.Buffered() }
