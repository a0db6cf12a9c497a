package launch

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Environment variables of the shim protocol.
const (
	// EnvShim set to 1 makes RunShimIfInvoked act as the shim whatever
	// argv[0] is.
	EnvShim = "FUSECTL_SHIM"
	// EnvShimSock is the path of Start's rendezvous socket.
	EnvShimSock = "FUSECTL_SHIM_SOCK"
	// envNSExec makes RunShimIfInvoked the namespace launcher: bind-mount
	// the executable over each ':'-separated target, then exec argv[1:].
	envNSExec = "FUSECTL_NSEXEC"
	// envNSMount names the server's stand-in mountpoint in its private
	// namespace, which the fake fusermount bind-mounts onto itself there
	// once it has handed over the descriptor.
	envNSMount = "FUSECTL_NSEXEC_MNT"
	// envCommFD is how libfuse, bazil and jacobsa tell fusermount where
	// to send the /dev/fuse descriptor.
	envCommFD = "_FUSE_COMMFD"
)

// shimNames are the names under which an executable acts as the shim.
var shimNames = map[string]bool{"fusermount": true, "fusermount3": true, "mergerfs-fusermount": true}

// Rendezvous messages: the shim sends shimHello followed by its argv,
// NUL-separated; Start answers replyOK with the descriptor, or replyErr
// followed by a reason.
const (
	shimHello = "fusectl-shim-1\x00"
	replyOK   = "ok"
	replyErr  = "error: "
)

// RunShimIfInvoked must be called first thing in main (and in TestMain of
// tests that use the shim methods). When the program was invoked as
// fusermount, fusermount3 or mergerfs-fusermount (argv[0] basename), or
// with FUSECTL_SHIM=1, it acts as the fake fusermount and returns its exit
// code with ok=true; the caller must then exit with that code. When invoked
// by Start as the namespace or intercept launcher it execs the server and
// does not return unless that fails. Otherwise it returns ok=false at once.
func RunShimIfInvoked() (exitCode int, ok bool) {
	if targets, set := os.LookupEnv(envNSExec); set {
		return runNSExec(targets, os.Args[1:]), true
	}
	if handoff, set := os.LookupEnv(envIntercept); set {
		return runIntercept(handoff, os.Args[1:]), true
	}
	if !shimNames[filepath.Base(os.Args[0])] && os.Getenv(EnvShim) != "1" {
		return 0, false
	}
	sock := os.Getenv(EnvShimSock)
	if sock == "" {
		sock = shimSockBeside(os.Args[0])
	}
	return runShim(os.Args, sock, os.Getenv(envCommFD), os.Getenv(envNSMount)), true
}

// shimSockBeside finds the rendezvous socket from the path the shim was
// run by, for a library that runs fusermount with an environment of its
// own: go-fuse gives it _FUSE_COMMFD alone. Start's layout puts the shim
// in DIR/bin and the socket at DIR/shim.sock; "" if that is not where
// argv0 points.
func shimSockBeside(argv0 string) string {
	bin := filepath.Dir(argv0)
	if !filepath.IsAbs(argv0) || filepath.Base(bin) != "bin" {
		return ""
	}
	sock := filepath.Join(filepath.Dir(bin), "shim.sock")
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Type() != os.ModeSocket {
		return ""
	}
	return sock
}

// runShim is the fake fusermount: it sends its arguments to Start over the
// rendezvous socket, gets the server's end of the socketpair back, and
// passes it on through _FUSE_COMMFD as fusermount passes /dev/fuse. mnt, set under
// the namespace method, is bind-mounted onto itself as the descriptor is
// handed over: a real fusermount leaves a mount there, and libfuse 2 run as
// root unmounts its mountpoint itself, printing "fuse: failed to unmount
// ...: Invalid argument" at every clean exit when there is none. Not
// before the server runs fusermount: some servers (rclone) refuse a
// mountpoint that is mounted already.
func runShim(argv []string, sock, commfd, mnt string) int {
	name := "fusermount3"
	if len(argv) > 0 {
		name = filepath.Base(argv[0])
	}
args:
	for _, a := range argv[1:] {
		switch {
		case a == "--":
			break args
		case strings.HasPrefix(a, "-u"):
			// Nothing was mounted, so unmounting succeeds.
			return 0
		case a == "-V" || a == "--version":
			fmt.Printf("%s version: 3.14.0 (fusectl shim)\n", name)
			return 0
		}
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "%s (fusectl shim): "+format+"\n", append([]any{name}, args...)...)
		return 1
	}
	if sock == "" {
		return fail("%s is not set; this program is not a real fusermount", EnvShimSock)
	}
	cfd, err := strconv.Atoi(commfd)
	if err != nil || cfd < 0 {
		return fail("bad or missing %s=%q", envCommFD, commfd)
	}
	fd, err := fetchFD(sock, argv)
	if err != nil {
		return fail("%v", err)
	}
	defer unix.Close(fd)
	// Mounted before the descriptor goes, as a real fusermount does: libfuse
	// 2 does not wait for fusermount under auto_unmount, and a server told
	// to exit at once would otherwise find nothing to unmount yet.
	if mnt != "" {
		if err := unix.Mount(mnt, mnt, "", unix.MS_BIND, ""); err != nil {
			return fail("bind %s onto itself: %v", mnt, err)
		}
	}
	// What fusermount does: one byte with the descriptor attached.
	if err := unix.Sendmsg(cfd, []byte{0}, unix.UnixRights(fd), nil, 0); err != nil {
		if mnt != "" {
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
		return fail("send fd over %s: %v", envCommFD, err)
	}
	return 0
}

// fetchFD connects to Start's rendezvous socket, sends argv and receives
// the server end of the socketpair.
func fetchFD(sock string, argv []string) (int, error) {
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		return -1, fmt.Errorf("connect to fusectl: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	msg := []byte(shimHello + strings.Join(argv, "\x00"))
	if _, _, err := c.WriteMsgUnix(msg, nil, nil); err != nil {
		return -1, fmt.Errorf("send argv: %w", err)
	}
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return -1, fmt.Errorf("receive fd: %w", err)
	}
	fds, perr := parseRights(oob[:oobn])
	if string(buf[:n]) != replyOK || perr != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		if reason, ok := strings.CutPrefix(string(buf[:n]), replyErr); ok {
			return -1, fmt.Errorf("fusectl refused: %s", reason)
		}
		return -1, fmt.Errorf("%w: bad reply from fusectl", ErrShimProtocol)
	}
	return fds[0], nil
}

// parseRights returns the descriptors of SCM_RIGHTS messages in oob.
func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// parseShimArgv checks a rendezvous message and returns the argv in it.
func parseShimArgv(msg []byte) ([]string, error) {
	rest, ok := bytes.CutPrefix(msg, []byte(shimHello))
	if !ok {
		return nil, fmt.Errorf("%w: no hello", ErrShimProtocol)
	}
	return strings.Split(string(rest), "\x00"), nil
}

// mountOptions extracts the -o options from a fusermount argv, in order,
// splitting comma lists (libfuse escapes a comma inside a value as "\,").
// The forms seen are `-o opts -- MNT` (libfuse, bazil, jacobsa) and
// `MNT -o opts` (go-fuse); "-oopts" is accepted too.
func mountOptions(argv []string) []string {
	var opts []string
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		var v string
		switch {
		case a == "--":
			return opts
		case a == "-o" && i+1 < len(argv):
			i++
			v = argv[i]
		case strings.HasPrefix(a, "-o") && len(a) > 2:
			v = a[2:]
		default:
			continue
		}
		opts = append(opts, splitOptions(v)...)
	}
	return opts
}

func splitOptions(v string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == '\\' && i+1 < len(v):
			i++
			cur.WriteByte(v[i])
		case v[i] == ',':
			if cur.Len() > 0 {
				out = append(out, cur.String())
			}
			cur.Reset()
		default:
			cur.WriteByte(v[i])
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// runNSExec is the namespace launcher. Start runs it with CLONE_NEWNS
// (and CLONE_NEWUSER when not root), so the mounts below, and the one the
// fake fusermount makes (see runShim), exist only in the server's private
// namespace and vanish with it; the real fusermount is never touched.
func runNSExec(targets string, argv []string) int {
	fail := launcherFail("namespace")
	if len(argv) == 0 {
		return fail("no server command")
	}
	// Keep the bind mounts from propagating to the host namespace, in
	// case / is a shared mount (as under systemd), while the host's later
	// mounts still reach the server: a server that mirrors a directory
	// (bindfs, mergerfs) must see what is mounted there after it started,
	// as it would without fusectl.
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fail("make mounts slaves: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fail("find own executable: %v", err)
	}
	for _, t := range strings.Split(targets, ":") {
		if t == "" {
			continue
		}
		if err := unix.Mount(self, t, "", unix.MS_BIND, ""); err != nil {
			return fail("bind %s over %s: %v", self, t, err)
		}
	}
	// envNSMount stays, for the fake fusermount the server will run.
	err = syscall.Exec(argv[0], argv, environWithout(envNSExec))
	return fail("exec %s: %v", argv[0], err)
}

// launcherFail returns the error reporter of a launcher: its message on
// stderr, which Start shows as the server's output, and exit status 127,
// as a shell gives for a command it cannot run.
func launcherFail(name string) func(format string, args ...any) int {
	return func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "fusectl "+name+" launcher: "+format+"\n", args...)
		return 127
	}
}

// environWithout is the environment less the variable name, which was
// meant for a launcher and not for the server it execs.
func environWithout(name string) []string {
	env := make([]string, 0, len(os.Environ()))
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, name+"=") {
			env = append(env, e)
		}
	}
	return env
}

// fusermountTargets returns the real fusermount executables a FUSE library
// may exec by absolute path, resolved through symlinks and deduplicated:
// on Debian /bin/fusermount, /usr/bin/fusermount and /bin/fusermount3 all
// end at /usr/bin/fusermount3, so one bind mount covers them.
func fusermountTargets() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range []string{
		"/bin/fusermount", "/bin/fusermount3",
		"/usr/bin/fusermount", "/usr/bin/fusermount3",
		"/usr/local/bin/fusermount", "/usr/local/bin/fusermount3",
		"/usr/local/bin/mergerfs-fusermount",
	} {
		r, err := filepath.EvalSymlinks(p)
		if err != nil || seen[r] {
			continue
		}
		if fi, err := os.Stat(r); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		seen[r] = true
		out = append(out, r)
	}
	return out
}
