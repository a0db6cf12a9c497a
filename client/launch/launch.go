package launch

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fusectl/fusectl/client/transport"
	"golang.org/x/sys/unix"
)

// Defaults of Options.
const (
	// OutputSize is how much server output Server.Output keeps.
	OutputSize = 64 << 10
	// DefaultStopGrace is how long Stop waits for the server to exit after
	// closing the socket, and again after SIGTERM, before escalating.
	DefaultStopGrace = 2 * time.Second
	// DefaultMountTimeout bounds how long Start waits for a shim-launched
	// server to ask for its mount.
	DefaultMountTimeout = 30 * time.Second
	// DevFDNumber is the descriptor number of the socket in a DevFD server.
	DevFDNumber = 3
)

var (
	// ErrNoArgs means Options.Args is empty.
	ErrNoArgs = errors.New("no server command")
	// ErrBadMethod means a method name could not be parsed.
	ErrBadMethod = errors.New("unknown launch method")
	// ErrUnsupported means the server needs a method this package lacks.
	ErrUnsupported = errors.New("server not launchable")
	// ErrExited means the server exited before it took its end of the
	// socketpair.
	ErrExited = errors.New("server exited before mounting")
	// ErrShimProtocol means a malformed message on the rendezvous socket.
	ErrShimProtocol = errors.New("shim protocol error")
	// ErrNotMounted means a shim-launched server did not ask for its
	// mount in time (or before the start's context ended).
	ErrNotMounted = errors.New("wait for the server to mount")
)

// Options configure Start.
type Options struct {
	// Args is the server's command line as the user typed it. An element
	// "{}" (or containing "{}") marks where the mountpoint goes.
	Args []string
	// Mountpoint, when Args has no "{}", names the argument to replace
	// with the mountpoint. If empty or absent, the mountpoint is appended.
	Mountpoint string
	// Method is how the server gets its end; Auto detects it.
	Method Method
	// Stdout and Stderr receive the server's output as it comes, in
	// addition to the ring buffer behind Server.Output. They are written
	// from one goroutine at a time. When either is set, the caller has
	// seen the output, and an error from a server that exited does not
	// repeat it.
	Stdout, Stderr io.Writer
	// Stdin is the server's standard input; nil means /dev/null. A server
	// that asks for a password (gocryptfs, cryfs, securefs) reads it
	// there: the server runs in a session of its own and has no terminal
	// to open.
	Stdin *os.File
	// Env is added to the inherited environment of the server.
	Env []string
	// MaxWrite sizes the socket buffers (see transport.Options).
	MaxWrite int
	// ShimPath is the executable that acts as fusermount and as the
	// namespace launcher; it must call RunShimIfInvoked first thing. The
	// default is the running executable.
	ShimPath string
	// StopGrace overrides DefaultStopGrace.
	StopGrace time.Duration
	// MountTimeout overrides DefaultMountTimeout.
	MountTimeout time.Duration
	// Logf receives progress messages; nil discards them.
	Logf func(format string, args ...any)
}

// Server is a running FUSE server with its end of the socketpair.
type Server struct {
	conn         *transport.SeqPacket
	method       Method
	neverSplices bool
	cmd          *exec.Cmd
	logf         func(string, ...any)
	grace        time.Duration
	out          *ring
	outShown     bool        // the caller gets the output as it comes
	goServer     bool        // a Go binary: see readyStandIn and termBeforeEOF
	termSent     bool        // termBeforeEOF sent SIGTERM; Stop's own
	ended        atomic.Bool // Stop closed the server's stream (see quietEnd)
	tmp          string      // private temporary directory of shim methods, or ""
	ln           *net.UnixListener
	ic           *interceptor // under Intercept, once the launcher handed it over

	done    chan struct{} // closed when the process has been reaped
	waitErr error         // set before done is closed

	handed chan struct{} // closed when a shim took the server end

	mu        sync.Mutex
	remote    *os.File // +checklocks:mu; server end until handed over
	mountOpts []string // +checklocks:mu
	// remoteIno is the inode of the server's end of the socket, by which
	// Pid finds a server that daemonized; daemon is the last one found.
	remoteIno uint64
	daemon    int // +checklocks:mu

	bg       sync.WaitGroup // accept loop
	outWG    sync.WaitGroup // output copiers
	outR     []*os.File
	stopOnce sync.Once
	stopErr  error
}

// Start launches the server of opts.Args on the far end of a fresh
// socketpair. With DevFD it returns once the process runs; with the shim
// methods once the server has asked for its mount and received its end,
// so MountOptions is known. If the server exits first, Start fails with
// ErrExited and the server's output. On any failure nothing is left
// running and temporary directories are gone. When Auto picked Intercept
// and the kernel refuses its seccomp filter, Start starts the server
// again by the method Auto would pick without it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if len(opts.Args) == 0 || opts.Args[0] == "" {
		return nil, ErrNoArgs
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	x, err := inspect(opts.Args[0])
	if err != nil {
		return nil, err
	}
	method, reason := opts.Method, "chosen by caller"
	if method == Auto {
		method, reason = detectMethod(x, interceptAvailable() == nil)
	}
	s, err := start(ctx, opts, x, method, reason, logf)
	if opts.Method == Auto && errors.Is(err, errFilterRefused) {
		method, reason = detectMethod(x, false)
		logf("launch: %v; falling back to %s", err, method)
		return start(ctx, opts, x, method, reason, logf)
	}
	return s, err
}

// start is Start by a given method.
func start(ctx context.Context, opts Options, x executable, method Method, reason string, logf func(string, ...any)) (_ *Server, err error) {
	path := x.path
	if method != DevFD && method != ShimPath && method != ShimNamespace && method != Intercept {
		return nil, fmt.Errorf("%w: %v", ErrBadMethod, method)
	}
	if method == Intercept {
		if err := interceptAvailable(); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrUnsupported, path, err)
		}
	}
	logf("launch: %s via %s (%s)", path, method, reason)
	neverSplices, why := neverSplices(x)
	if neverSplices {
		logf("launch: %s never splices its replies (%s)", path, why)
	}

	conn, remote, err := transport.SocketPair(transport.Options{MaxWrite: opts.MaxWrite})
	if err != nil {
		return nil, err
	}
	s := &Server{
		conn:         conn,
		method:       method,
		neverSplices: neverSplices,
		goServer:     x.isGo,
		logf:         logf,
		grace:        cmp(opts.StopGrace, DefaultStopGrace),
		out:          newRing(OutputSize),
		done:         make(chan struct{}),
		handed:       make(chan struct{}),
		remote:       remote,
		remoteIno:    socketInode(remote),
	}
	defer func() {
		if err != nil {
			s.Stop(context.Background())
		}
	}()

	argv := slices.Clone(opts.Args)
	env := append(os.Environ(), opts.Env...)
	var handoff [2]int // Intercept: the launcher sends its listener here
	cmd := &exec.Cmd{Path: path, SysProcAttr: &syscall.SysProcAttr{Setsid: true}}
	mnt := fmt.Sprintf("/dev/fd/%d", DevFDNumber)
	switch method {
	case DevFD:
		cmd.ExtraFiles = []*os.File{remote}
	case Intercept:
		// With the PATH shim too: a Go server whose library the binary
		// does not name (bazil.org/fuse, rclone mount) runs fusermount
		// from PATH where others call mount(2).
		if mnt, env, err = s.prepareShim(opts.ShimPath, env); err != nil {
			return nil, err
		}
		if handoff, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0); err != nil {
			return nil, fmt.Errorf("create socketpair: %w", err)
		}
		defer unix.Close(handoff[0])
		child := os.NewFile(uintptr(handoff[1]), "intercept-handoff")
		defer child.Close() // if Start fails before the launcher runs
		cmd.ExtraFiles = []*os.File{child}
		env = append(env, fmt.Sprintf("%s=%d", envIntercept, DevFDNumber))
	case ShimPath, ShimNamespace:
		if mnt, env, err = s.prepareShim(opts.ShimPath, env); err != nil {
			return nil, err
		}
		if wantsAutoUnmount(x, method) {
			argv = addAutoUnmount(argv)
		}
		if method == ShimNamespace {
			targets := fusermountTargets()
			logf("launch: private mount namespace, shim %s over %v", shimExe(opts.ShimPath), targets)
			env = append(env, envNSExec+"="+strings.Join(targets, ":"), envNSMount+"="+mnt)
			cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWNS
			if os.Geteuid() != 0 {
				cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWUSER
				cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
				cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
			}
		}
	}
	argv = PlaceMountpoint(argv, opts.Mountpoint, mnt)
	cmd.Args = argv
	switch method {
	case ShimNamespace:
		cmd.Path = shimExe(opts.ShimPath)
		cmd.Args = append([]string{"fusectl-nsexec", path}, argv[1:]...)
	case Intercept:
		cmd.Path = shimExe(opts.ShimPath)
		cmd.Args = append([]string{"fusectl-intercept", path}, argv[1:]...)
	}
	cmd.Env = env
	if opts.Stdin != nil {
		cmd.Stdin = opts.Stdin
	}
	s.outShown = opts.Stdout != nil || opts.Stderr != nil
	if err := s.pipeOutput(cmd, opts.Stdout, opts.Stderr); err != nil {
		return nil, err
	}
	logf("launch: argv %q", argv)
	if err := cmd.Start(); err != nil {
		cmd.Stdout.(*os.File).Close()
		cmd.Stderr.(*os.File).Close()
		return nil, fmt.Errorf("start server: %w", err)
	}
	s.cmd = cmd
	go func() {
		err := cmd.Wait()
		s.waitErr = err
		logf("launch: server pid %d exited: %v", cmd.Process.Pid, err)
		close(s.done)
	}()
	for _, f := range []*os.File{cmd.Stdout.(*os.File), cmd.Stderr.(*os.File)} {
		f.Close()
	}
	if method == Intercept {
		// Only the launcher may hold its end: a launcher that dies
		// before sending must read as end of stream at once.
		cmd.ExtraFiles[0].Close()
	}
	if method == DevFD {
		// The child has its copy; ours would hide the server's exit
		// from our reads.
		s.closeRemote()
		return s, nil
	}
	if method == Intercept {
		if err := s.startInterceptor(handoff[0], mnt); err != nil {
			return nil, err
		}
	}
	wait := cmp(opts.MountTimeout, DefaultMountTimeout)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-s.handed:
	case <-s.done:
		select {
		case <-s.handed:
		default:
			s.waitOutput()
			return nil, s.mountedItself(s.exitedError())
		}
	case <-ctx.Done():
		return nil, s.mountedItself(fmt.Errorf("%w: %w", ErrNotMounted, ctx.Err()))
	case <-timer.C:
		what := "fusermount call"
		if method == Intercept {
			what = "mount(2) of a fuse file system"
		}
		return nil, s.mountedItself(fmt.Errorf("%w: no %s within %v", ErrNotMounted, what, wait))
	}
	return s, nil
}

// mountedItself adds to err, the failure of a shim-launched server to
// reach fusectl, when the server mounted the stand-in for real instead (a
// server that calls mount(2) itself or runs fusermount by absolute path,
// forced onto a shim method): the cause, which is otherwise only logged
// when the stand-in is detached.
func (s *Server) mountedItself(err error) error {
	if s.tmp == "" {
		return err
	}
	if mounted, _ := isMountRoot(filepath.Join(s.tmp, "mnt")); mounted {
		return fmt.Errorf("%w (the server mounted by itself, past the shim: try --method intercept)", err)
	}
	return err
}

func cmp(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

func shimExe(p string) string {
	if p != "" {
		return p
	}
	exe, _ := os.Executable()
	return exe
}

// makeStandIn creates the private temporary directory of the methods that
// give the server a mountpoint of fusectl's own, with that mountpoint in
// it: an empty mnt/, which the server never really mounts.
func (s *Server) makeStandIn() (string, error) {
	tmp, err := os.MkdirTemp("", "fusectl-launch-")
	if err != nil {
		return "", fmt.Errorf("create temp dir: %w", err)
	}
	s.tmp = tmp
	mnt := filepath.Join(tmp, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return "", fmt.Errorf("create temp dir: %w", err)
	}
	return mnt, nil
}

// prepareShim creates the private temporary directory of the shim methods:
// bin/ with the shim (shimPath, or this executable) under every fusermount
// name (put first on PATH), an empty mnt/ as the mountpoint, and the
// rendezvous socket. It returns the mountpoint and the environment to add.
func (s *Server) prepareShim(shimPath string, env []string) (string, []string, error) {
	shim := shimExe(shimPath)
	if shim == "" {
		return "", nil, errors.New("find shim executable: unknown")
	}
	mnt, err := s.makeStandIn()
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(s.tmp, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		return "", nil, fmt.Errorf("create temp dir: %w", err)
	}
	for name := range shimNames {
		if err := os.Symlink(shim, filepath.Join(bin, name)); err != nil {
			return "", nil, fmt.Errorf("link shim: %w", err)
		}
	}
	sock := filepath.Join(s.tmp, "shim.sock")
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		return "", nil, fmt.Errorf("listen for shim: %w", err)
	}
	s.ln = ln
	s.bg.Add(1)
	go s.acceptShims()
	pathVar := os.Getenv("PATH")
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathVar = v
		}
	}
	env = append(env, EnvShimSock+"="+sock, "PATH="+shimPATH(bin, pathVar))
	return mnt, env, nil
}

// shimPATH is the server's PATH with bin first. An unset or empty PATH
// means the C library's default search to the server ("bin:" would mean
// the working directory, as an empty element does).
func shimPATH(bin, path string) string {
	if path == "" {
		path = "/bin:/usr/bin"
	}
	return bin + string(os.PathListSeparator) + path
}

// acceptShims serves shim connections until the listener closes. The first
// well-formed one receives the server end; later ones are refused.
func (s *Server) acceptShims() {
	defer s.bg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		if err := s.serveShim(c); err != nil {
			s.logf("launch: shim: %v", err)
		}
		c.Close()
	}
}

func (s *Server) serveShim(c *net.UnixConn) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	n, _, _, _, err := c.ReadMsgUnix(buf, nil)
	if err != nil {
		return fmt.Errorf("read shim argv: %w", err)
	}
	argv, err := parseShimArgv(buf[:n])
	if err != nil {
		c.WriteMsgUnix([]byte(replyErr+"bad hello"), nil, nil)
		return err
	}
	s.logf("launch: fusermount called: %q", argv)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.remote == nil {
		c.WriteMsgUnix([]byte(replyErr+"the server end was already handed over"), nil, nil)
		return errors.New("second mount request refused")
	}
	rc, err := s.remote.SyscallConn()
	if err != nil {
		return err
	}
	s.readyStandIn()
	var werr error
	rc.Control(func(fd uintptr) {
		_, _, werr = c.WriteMsgUnix([]byte(replyOK), unix.UnixRights(int(fd)), nil)
	})
	if werr != nil {
		return fmt.Errorf("send fd to shim: %w", werr)
	}
	// The descriptor in flight holds its own reference.
	s.handOverLocked(mountOptions(argv))
	return nil
}

// pollHackName is the file go-fuse opens in its mountpoint once mounted,
// which its own file system serves, to learn early that POLL is not
// supported (go-fuse's WaitMount; it skips it for /dev/fd/N).
const pollHackName = ".go-fuse-epoll-hack"

// readyStandIn puts go-fuse's poll-hack file in the stand-in mountpoint of
// a Go server, just before the server learns that it is mounted: go-fuse
// then opens it there, in a directory that is not its file system, and
// fails the mount with ENOENT if it is missing (rclone mount2, gocryptfs
// under the shim and intercept methods). Not sooner: servers refuse a
// mountpoint that is not empty (gocryptfs, libfuse's nonempty check).
func (s *Server) readyStandIn() {
	if !s.goServer || s.tmp == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(s.tmp, "mnt", pollHackName), nil, 0o444); err != nil {
		s.logf("launch: %v", err)
	}
}

// handOverLocked records that the server has its end, with the mount
// options it asked for: our copy closes and Start goes on. Only the first
// hand-over counts (under Intercept, a server may both open /dev/fuse and
// run the shim). s.mu must be held.
func (s *Server) handOverLocked(opts []string) {
	select {
	case <-s.handed:
		return
	default:
	}
	s.mountOpts = opts
	if s.remote != nil {
		s.remote.Close()
		s.remote = nil
	}
	close(s.handed)
}

func (s *Server) closeRemote() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.remote != nil {
		s.remote.Close()
		s.remote = nil
	}
}

// lockedWriter serializes writes from the stdout and stderr copiers into
// caller-supplied writers, which may be one and the same.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// pipeOutput connects the server's stdout and stderr to pipes whose
// readers feed the ring and the caller's writers. Plain pipes rather than
// exec's copying goroutines, so that reaping the server (Done) does not
// wait for a daemonized child that still holds the pipe.
func (s *Server) pipeOutput(cmd *exec.Cmd, stdout, stderr io.Writer) error {
	var mu sync.Mutex
	for i, user := range []io.Writer{stdout, stderr} {
		r, w, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("create output pipe: %w", err)
		}
		s.outR = append(s.outR, r)
		if i == 0 {
			cmd.Stdout = w
		} else {
			cmd.Stderr = w
		}
		dst := io.Writer(s.out)
		var shown *quietEnd
		if user != nil {
			shown = &quietEnd{w: lockedWriter{&mu, user}, ended: &s.ended}
			dst = io.MultiWriter(s.out, shown)
		}
		s.outWG.Add(1)
		go func() {
			defer s.outWG.Done()
			io.Copy(dst, r)
			if shown != nil {
				shown.flush()
			}
		}()
	}
	return nil
}

// waitOutput waits briefly for the output copiers to drain, then closes
// the read ends so that a grandchild holding the pipes cannot keep them.
func (s *Server) waitOutput() {
	drained := make(chan struct{})
	go func() { s.outWG.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(time.Second):
	}
	for _, r := range s.outR {
		r.Close()
	}
	<-drained
}

// PlaceMountpoint returns the server command line args with mnt where the
// user marked it: every "{}" (also inside an element, as in
// --mount_point={}); else the last element naming mountpoint (as the same
// absolute path: "./m", "m/" and "/abs/m" are one directory, for the server
// runs in our working directory); else at the end. args[0] is the program
// and is left alone.
func PlaceMountpoint(args []string, mountpoint, mnt string) []string {
	out := slices.Clone(args)
	placed := false
	for i := 1; i < len(out); i++ {
		if strings.Contains(out[i], "{}") {
			out[i] = strings.ReplaceAll(out[i], "{}", mnt)
			placed = true
		}
	}
	if !placed && mountpoint != "" {
		// The last one only: a server mounted over its own source
		// (bindfs /x /x) names the directory twice, and the mountpoint
		// comes last.
		want := absPath(mountpoint)
		for i := len(out) - 1; i >= 1; i-- {
			if out[i] != "" && absPath(out[i]) == want {
				out[i] = mnt
				placed = true
				break
			}
		}
	}
	if !placed {
		out = append(out, mnt)
	}
	return out
}

// absPath is p made absolute and clean, or p itself when the working
// directory is gone.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// wantsAutoUnmount reports whether the server x gets -o auto_unmount
// under a shim method: servers on libfuse (mergerfs's fork under either
// method), so that they run fusermount even as root. Go servers run
// fusermount anyway and have options of their own: rclone read the -o as
// its --option and complained.
func wantsAutoUnmount(x executable, method Method) bool {
	if x.isGo {
		return false
	}
	if isMergerfs(x.path) {
		return method == ShimNamespace || method == ShimPath
	}
	// An interpreter (python3 fs.py, sh -c ...) would take the -o for its
	// own option; a script passes its arguments on to its server.
	return method == ShimNamespace && !interpreter(x.path)
}

// interpreter reports whether the executable at path is a program that
// does not link libfuse (python3, sh, perl): an ELF file that links no
// libfuse. A script (#!) is not one.
func interpreter(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	libs, _ := f.ImportedLibraries()
	return !slices.ContainsFunc(libs, func(l string) bool {
		return strings.HasPrefix(l, "libfuse.so") || strings.HasPrefix(l, "libfuse3.so")
	})
}

// addAutoUnmount inserts -o auto_unmount right after the program name,
// unless the option is already there. libfuse then uses fusermount even as
// root (and mergerfs does too), instead of calling mount(2).
func addAutoUnmount(args []string) []string {
	if slices.Contains(mountOptions(args), "auto_unmount") {
		return args
	}
	return slices.Concat(args[:1], []string{"-o", "auto_unmount"}, args[1:])
}

// exitedError says that the server exited before it could be used, with
// the end of its output unless the caller has seen it already.
func (s *Server) exitedError() error {
	if s.outShown {
		return fmt.Errorf("%w: %v (its output is above)", ErrExited, s.waitErr)
	}
	return fmt.Errorf("%w: %v: %s", ErrExited, s.waitErr, outputTail(s.out.Bytes()))
}

// outputTail returns the last lines of server output for an error message.
func outputTail(out []byte) string {
	const max = 2048
	if len(out) > max {
		out = out[len(out)-max:]
	}
	s := strings.TrimSpace(string(out))
	if s == "" {
		return "(no output)"
	}
	return s
}

// Conn returns our end of the socketpair.
func (s *Server) Conn() *transport.SeqPacket { return s.conn }

// Method returns the method used.
func (s *Server) Method() Method { return s.method }

// NeverSplices reports whether the server is known never to splice its
// replies (see NeverSplices), so that its READ replies need no clamp.
func (s *Server) NeverSplices() bool { return s.neverSplices }

// MountOptions returns the -o options the server passed to fusermount
// (shim methods), such as default_permissions, allow_other, fsname=…; nil
// under DevFD, where the server never says.
func (s *Server) MountOptions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mountOpts)
}

// Pid returns the server's process id. A server that daemonized (a libfuse
// server run without -f forks, and the process we started exits) is found
// by the socket it still holds; its pid is returned once the process we
// started has exited.
func (s *Server) Pid() int {
	select {
	case <-s.done:
		if pid := s.daemonPid(); pid != 0 {
			return pid
		}
	default:
	}
	return s.cmd.Process.Pid
}

// daemonPid returns the process, other than ours, that holds the server's
// end of the socket, or 0. Once the process we started has exited, that is
// the server, daemonized.
func (s *Server) daemonPid() int {
	if s.remoteIno == 0 {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.daemon == 0 || !holdsSocket(s.daemon, s.remoteIno) {
		s.daemon = socketHolder(s.remoteIno)
	}
	return s.daemon
}

// Done is closed when the server process has exited and been reaped.
func (s *Server) Done() <-chan struct{} { return s.done }

// Wait waits for the server to exit and returns its exit status as
// exec.Cmd.Wait does (nil for status 0). Exit statuses at shutdown carry no
// meaning: libfuse servers exit 1 or 8 when the socket closes.
func (s *Server) Wait() error {
	<-s.done
	return s.waitErr
}

// Output returns the last OutputSize bytes the server wrote to stdout and
// stderr, interleaved as they arrived.
func (s *Server) Output() []byte { return s.out.Bytes() }

// Stop ends the server: it closes our end of the socket (servers exit on
// end of stream), sends SIGTERM to the server's session after the grace
// period and SIGKILL after another, reaps it, ends a daemonized server
// (one that still holds the socket) the same way, and removes the
// temporary directory. A server that is not a Go binary gets a SIGTERM
// first, to the processes that hold the socket, and end of stream after
// the grace period (see termBeforeEOF). It
// is idempotent. A non-zero exit caused by the closed socket is not an
// error; Stop fails only if the server could not be reaped before ctx
// ended (it keeps trying in the background).
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	if !s.goServer {
		s.termBeforeEOF(ctx)
	}
	s.ended.Store(true)
	s.conn.Close()
	if s.ln != nil {
		s.ln.Close()
	}
	s.bg.Wait()
	s.closeRemote()
	var err error
	if s.cmd != nil {
		err = s.reap(ctx)
		// Stragglers in the server's session (helpers it started).
		if left := killSession(s.cmd.Process.Pid, 5*time.Second); len(left) > 0 && err == nil {
			err = fmt.Errorf("stop server: processes %v of its session did not die", left)
		}
		// A server that daemonized left the session, and is not our
		// child: whoever still holds its end of the socket.
		if pid := s.daemonPid(); pid != 0 {
			if derr := s.stopDaemon(ctx, pid); derr != nil && err == nil {
				err = derr
			}
		}
	}
	if s.ic != nil {
		// After the server: its last umount2 is answered too.
		s.ic.stop()
	}
	s.waitOutput()
	if s.tmp != "" {
		s.unmountStray()
		if rerr := s.removeTemp(); rerr != nil && err == nil {
			err = fmt.Errorf("remove temp dir: %w", rerr)
		}
	}
	return err
}

// removeTemp removes the temporary directory and what fusectl put in it,
// but nothing on a file system mounted on the stand-in: one that
// unmountStray could not detach (a user's, a daemonized server's), which
// os.RemoveAll would walk into, deleting the server's files.
func (s *Server) removeTemp() error {
	mnt := filepath.Join(s.tmp, "mnt")
	if mounted, err := isMountRoot(mnt); mounted || (err != nil && !errors.Is(err, fs.ErrNotExist)) {
		// Mounted (or a dead mount: ENOTCONN): left alone, and so is tmp.
		return fmt.Errorf("%s is still mounted by the server; left in place", mnt)
	} else if err == nil {
		os.Remove(filepath.Join(mnt, pollHackName))
		os.Remove(mnt)
	}
	os.RemoveAll(filepath.Join(s.tmp, "bin")) // symlinks to the shim
	os.Remove(filepath.Join(s.tmp, "shim.sock"))
	return os.Remove(s.tmp)
}

// termBeforeEOF asks a server that is not a Go binary to exit with
// SIGTERM before its socket closes. libfuse (and mergerfs's fork, and
// ntfs-3g's fuse-lite) reads end of stream as an error: it prints "short
// read on fuse device" and exits 1. Its SIGTERM handler leaves the loop
// cleanly, as an unmount does for a direct mount; a server without one
// dies, which ends it as well. Go servers keep end of stream first: on
// SIGTERM rclone and gocryptfs try to unmount, and go-fuse ends quietly at
// end of stream. It waits up to the grace period; Stop then goes on from
// end of stream, without a second SIGTERM.
//
// The signal goes to the processes that hold the socket, which an
// unmount would end, and not to helpers the server started: sshfs's ssh,
// killed beside it, makes sshfs say "remote host has disconnected". The
// whole session gets it where no holder is found.
func (s *Server) termBeforeEOF(ctx context.Context) {
	if s.cmd == nil {
		return
	}
	p := s.started()
	if holders := s.sessionHolders(); len(holders) > 0 {
		p.signal = func(sig unix.Signal) { signalPids(holders, sig) }
	}
	select {
	case <-s.done:
		// Daemonized: the daemon holds the socket.
		pid := s.daemonPid()
		if pid == 0 {
			return
		}
		var ok bool
		if p, ok = s.daemonized(pid); !ok {
			return
		}
		defer p.close()
	default:
	}
	s.termSent = true
	s.logf("launch: sending SIGTERM to %s", p.what)
	p.signal(unix.SIGTERM)
	p.exited(ctx, s.grace)
}

// sessionHolders returns the processes of the server's session that hold
// its end of the socket; nil if none or if that cannot be told.
func (s *Server) sessionHolders() []int {
	if s.remoteIno == 0 {
		return nil
	}
	var out []int
	for _, pid := range sessionProcs(s.cmd.Process.Pid) {
		if holdsSocket(pid, s.remoteIno) {
			out = append(out, pid)
		}
	}
	return out
}

// proc is a server process that Stop ends: how to name it, signal it and
// wait for its exit.
type proc struct {
	what   string
	signal func(unix.Signal)
	// exited waits up to d, or until ctx ends, and reports whether the
	// process has exited.
	exited func(ctx context.Context, d time.Duration) bool
	close  func()
}

// started is the process Start ran, with its whole session: Setsid made
// its pid the session's id, and the pid cannot be reused before we reap
// it.
func (s *Server) started() proc {
	pid := s.cmd.Process.Pid
	return proc{
		what:   fmt.Sprintf("server pid %d", pid),
		signal: func(sig unix.Signal) { unix.Kill(-pid, sig) },
		exited: func(ctx context.Context, d time.Duration) bool {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-s.done:
				return true
			case <-t.C:
			case <-ctx.Done():
			}
			return false
		},
		close: func() {},
	}
}

// daemonized is pid, a server that daemonized and is not our child,
// pinned by a pidfd so that a signal cannot hit a reused pid; ok is false
// when it is gone already. The caller must call close.
func (s *Server) daemonized(pid int) (p proc, ok bool) {
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return proc{}, false
	}
	return proc{
		what:   fmt.Sprintf("daemonized server pid %d", pid),
		signal: func(sig unix.Signal) { unix.PidfdSendSignal(pfd, sig, nil, 0) },
		exited: func(ctx context.Context, d time.Duration) bool { return pollExit(ctx, pfd, d) },
		close:  func() { unix.Close(pfd) },
	}, true
}

// stopDaemon ends pid, a server that daemonized, as reap ends the server
// we started.
func (s *Server) stopDaemon(ctx context.Context, pid int) error {
	p, ok := s.daemonized(pid)
	if !ok {
		return nil // gone already
	}
	defer p.close()
	return s.escalate(ctx, p)
}

// isMountRoot reports whether something is mounted on dir: statx's
// STATX_ATTR_MOUNT_ROOT (Linux 5.8), else a device that differs from its
// parent's (which misses a bind mount within one file system).
func isMountRoot(dir string) (bool, error) {
	var st unix.Statx_t
	// Cached attributes: a server that mounted dir may be stuck.
	if err := unix.Statx(unix.AT_FDCWD, dir, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC, unix.STATX_BASIC_STATS, &st); err != nil {
		return false, err
	}
	if st.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
	}
	var parent unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, filepath.Dir(dir), 0, unix.STATX_BASIC_STATS, &parent); err != nil {
		return false, err
	}
	return st.Dev_major != parent.Dev_major || st.Dev_minor != parent.Dev_minor, nil
}

// unmountStray detaches a real mount on our private mountpoint before the
// temporary directory is removed. It happens only when a shim method was
// forced on a server that mounts by itself as root (jacobsa/fuse, or
// mergerfs without auto_unmount); removing the directory would otherwise
// walk into the mounted file system.
func (s *Server) unmountStray() {
	// Stat cannot tell: a dead server's mount answers ENOTCONN. The
	// directory is ours, so detaching is safe; EINVAL means no mount.
	mnt := filepath.Join(s.tmp, "mnt")
	if err := unix.Unmount(mnt, unix.MNT_DETACH); err == nil {
		s.logf("launch: the server had mounted %s for real; detached it", mnt)
	}
}

// reap waits for the server to exit, escalating from end of stream to
// SIGTERM to SIGKILL.
func (s *Server) reap(ctx context.Context) error {
	return s.escalate(ctx, s.started())
}

// escalate ends p as Stop does: it gives it the grace period to exit at
// end of stream, then SIGTERM (unless termBeforeEOF sent it) and the grace
// period again, then SIGKILL and 10 s. When ctx ends first the process
// gets SIGKILL.
func (s *Server) escalate(ctx context.Context, p proc) error {
	for _, sig := range []unix.Signal{0, unix.SIGTERM, unix.SIGKILL} {
		if sig == unix.SIGTERM && s.termSent {
			continue // termBeforeEOF sent it, and waited
		}
		if sig != 0 {
			s.logf("launch: sending %v to %s", sig, p.what)
			p.signal(sig)
		}
		wait := s.grace
		if sig == unix.SIGKILL {
			wait = 10 * time.Second
		}
		if p.exited(ctx, wait) {
			return nil
		}
		if ctx.Err() != nil {
			p.signal(unix.SIGKILL)
			return fmt.Errorf("stop %s: %w", p.what, ctx.Err())
		}
	}
	return fmt.Errorf("stop server: %s did not exit after SIGKILL", p.what)
}
