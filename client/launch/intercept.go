package launch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The intercept method serves servers that open /dev/fuse and call mount(2)
// themselves, from inside their own code, where no fake fusermount is ever
// run: ntfs-3g's built-in "fuse-lite" above all, but also libfuse run as
// root without auto_unmount, jacobsa/fuse as root and go-fuse's
// DirectMount. A launcher (this executable, re-run) installs a seccomp
// filter that turns the server's open, openat, openat2, mount, umount2 and
// fsopen calls into user notifications, hands the filter's listener to
// Start, and execs the server. Start answers each notification:
//
//   - an open of "/dev/fuse" gets the server's end of the socketpair,
//     placed in the server's descriptor table as the call's result
//     (SECCOMP_ADDFD_FLAG_SEND);
//   - a mount(2) of a fuse file system succeeds without mounting, and its
//     options become MountOptions, as the shim methods' fusermount
//     arguments do;
//   - a umount of the stand-in mountpoint succeeds;
//   - fsopen("fuse…") fails with ENOSYS, so that a library that tries the
//     new mount API falls back to mount(2);
//   - every other call runs as it would have (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
//
// The fake fusermount is first on PATH as well, for servers that run one
// instead (bazil.org/fuse, go-fuse given a directory).
//
// The filter does what an LD_PRELOAD library wrapping open and mount would:
// nothing has to be built or shipped beside fusectl, and it works for
// statically linked servers, which ignore LD_PRELOAD. Its price is a round
// trip to fusectl on each of the server's opens that asks for O_RDWR (the
// filter lets the others pass), a handful in a whole bindfs session.

// interceptAvailable reports why the intercept method cannot run here, or
// nil: it needs a filter for the architecture, and Linux 5.14 for
// SECCOMP_ADDFD_FLAG_SEND (on older kernels the filter installs, but the
// socket cannot be handed over).
var interceptAvailable = sync.OnceValue(func() error {
	if !interceptSupported {
		return fmt.Errorf("the intercept method has no seccomp filter for %s", runtime.GOARCH)
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return fmt.Errorf("the intercept method cannot tell the kernel's version: %w", err)
	}
	if release := unix.ByteSliceToString(u.Release[:]); !kernelAtLeast(release, 5, 14) {
		return fmt.Errorf("the intercept method needs Linux 5.14 or later (SECCOMP_ADDFD_FLAG_SEND); this kernel is %s", release)
	}
	return nil
})

// kernelAtLeast reports whether a kernel release string (uname -r, such
// as "6.18.44-fc") is major.minor or later; false if it does not parse.
func kernelAtLeast(release string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(release, "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// errFilterRefused: the launcher could not install its filter (seccomp
// is refused, as some container profiles do); the method cannot run.
var errFilterRefused = errors.New("the kernel refused the intercept method's seccomp filter")

// filterRefused starts the launcher's message that it could not install
// its filter, followed by the reason.
const filterRefused = "refused: "

// envIntercept makes RunShimIfInvoked the intercept launcher: it installs
// the filter, sends its listener over the descriptor named here, and execs
// argv[1:].
const envIntercept = "FUSECTL_INTERCEPT"

// seccomp_notif, seccomp_notif_resp and seccomp_notif_addfd of
// <linux/seccomp.h>.
type seccompNotif struct {
	id    uint64
	pid   uint32
	flags uint32
	nr    int32
	arch  uint32
	ip    uint64
	args  [6]uint64
}

type seccompResp struct {
	id    uint64
	val   int64
	error int32
	flags uint32
}

type seccompAddFD struct {
	id         uint64
	flags      uint32
	srcfd      uint32
	newfd      uint32
	newfdFlags uint32
}

// interceptFilter returns the seccomp program: notify on the calls the
// method answers, allow everything else, and allow every call of another
// architecture's ABI (a 32-bit server under a 64-bit kernel) untouched.
// An open or openat notifies only when it asks for O_RDWR, as every FUSE
// library opens /dev/fuse: a server that opens a file per request (bindfs
// opening what it mirrors, and every opendir) mostly reads or writes only,
// and those calls then cost nothing.
func interceptFilter() []unix.SockFilter {
	const (
		ld   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ja   = unix.BPF_JMP | unix.BPF_JA
		and  = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
		arch = 4  // offsetof(struct seccomp_data, arch)
		nr   = 0  // offsetof(struct seccomp_data, nr)
		args = 16 // offsetof(struct seccomp_data, args); the low half of each on little-endian machines
	)
	// Jumps go forward only; targets are labels, resolved below.
	type insn struct {
		unix.SockFilter
		jt, jf, to string // labels; "" is the next instruction
		label      string // of this instruction
	}
	p := []insn{
		{SockFilter: unix.SockFilter{Code: ld, K: arch}},
		{SockFilter: unix.SockFilter{Code: jeq, K: auditArch}, jf: "allow"},
		{SockFilter: unix.SockFilter{Code: ld, K: nr}},
		{SockFilter: unix.SockFilter{Code: jeq, K: unix.SYS_OPENAT}, jt: "openat"},
	}
	if open := sysOpen; open >= 0 { // a variable: -1 is no uint32
		p = append(p, insn{SockFilter: unix.SockFilter{Code: jeq, K: uint32(open)}, jt: "open"})
	}
	for _, n := range []uint32{unix.SYS_OPENAT2, unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_FSOPEN} {
		p = append(p, insn{SockFilter: unix.SockFilter{Code: jeq, K: n}, jt: "notify"})
	}
	p = append(p,
		insn{SockFilter: unix.SockFilter{Code: ja}, to: "allow"},
		insn{SockFilter: unix.SockFilter{Code: ld, K: args + 8*2}, label: "openat"},
		insn{SockFilter: unix.SockFilter{Code: ja}, to: "flags"},
		insn{SockFilter: unix.SockFilter{Code: ld, K: args + 8*1}, label: "open"},
		insn{SockFilter: unix.SockFilter{Code: and, K: unix.O_ACCMODE}, label: "flags"},
		insn{SockFilter: unix.SockFilter{Code: jeq, K: unix.O_RDWR}, jt: "notify", jf: "allow"},
		insn{SockFilter: unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ALLOW}, label: "allow"},
		insn{SockFilter: unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_USER_NOTIF}, label: "notify"},
	)
	at := map[string]int{}
	for i, in := range p {
		if in.label != "" {
			at[in.label] = i
		}
	}
	// off is the jump from instruction i to label l: 0 for the next one.
	off := func(i int, l string) uint32 {
		if l == "" {
			return 0
		}
		return uint32(at[l] - i - 1)
	}
	prog := make([]unix.SockFilter, len(p))
	for i, in := range p {
		prog[i] = in.SockFilter
		prog[i].Jt, prog[i].Jf = uint8(off(i, in.jt)), uint8(off(i, in.jf))
		if in.to != "" {
			prog[i].K = off(i, in.to)
		}
	}
	return prog
}

// runIntercept is the intercept launcher. It runs on one locked thread:
// the filter belongs to the thread that installs it and passes to the
// program it execs.
func runIntercept(handoff string, argv []string) int {
	fail := launcherFail("intercept")
	if len(argv) == 0 {
		return fail("no server command")
	}
	hfd, err := strconv.Atoi(handoff)
	if err != nil || hfd < 0 {
		return fail("bad %s=%q", envIntercept, handoff)
	}
	runtime.LockOSThread()
	filter := interceptFilter()
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	install := func() (uintptr, syscall.Errno) {
		fd, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
			unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&prog)))
		return fd, errno
	}
	listener, errno := install()
	if errno == unix.EACCES {
		// Without CAP_SYS_ADMIN a filter needs no_new_privs; a setuid
		// server then runs with the caller's rights.
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fail("set no_new_privs: %v", err)
		}
		listener, errno = install()
	}
	if errno != 0 {
		// Start says so, or falls back to another method when it chose
		// this one.
		if err := unix.Sendmsg(hfd, []byte(filterRefused+errno.Error()), nil, nil, 0); err != nil {
			return fail("install seccomp filter: %v", errno)
		}
		return 127
	}
	if err := unix.Sendmsg(hfd, []byte{0}, unix.UnixRights(int(listener)), nil, 0); err != nil {
		return fail("hand over the seccomp listener: %v", err)
	}
	unix.Close(int(listener))
	unix.Close(hfd)
	err = syscall.Exec(argv[0], argv, environWithout(envIntercept))
	return fail("exec %s: %v", argv[0], err)
}

// interceptor answers the seccomp notifications of one server.
type interceptor struct {
	s        *Server
	listener int
	// stopR ends serve when stopW closes.
	stopR, stopW int
	// mnt is the stand-in mountpoint the server was given.
	mnt     string
	done    chan struct{}
	mounted bool // a fuse mount(2) was answered; serve's own
	// answered counts the notifications, each a round trip that the
	// server's call paid; serve's own until done closes.
	answered int
}

// newInterceptor makes the pipe that stops serve; serve owns listener from
// the call on.
func newInterceptor(s *Server, listener int, mnt string) (*interceptor, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		unix.Close(listener)
		return nil, fmt.Errorf("create pipe: %w", err)
	}
	return &interceptor{s: s, listener: listener, stopR: p[0], stopW: p[1], mnt: mnt, done: make(chan struct{})}, nil
}

// serve answers notifications until every filtered process has exited (the
// listener hangs up) or stop is called.
func (ic *interceptor) serve() {
	defer close(ic.done)
	defer func() { ic.s.logf("launch: intercept: answered %d of the server's calls", ic.answered) }()
	defer unix.Close(ic.listener)
	defer unix.Close(ic.stopR)
	fds := []unix.PollFd{{Fd: int32(ic.listener), Events: unix.POLLIN}, {Fd: int32(ic.stopR), Events: unix.POLLIN}}
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			ic.s.logf("launch: intercept: poll: %v", err)
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			var n seccompNotif
			if err := ioctlPtr(ic.listener, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&n)); err != nil {
				// ENOENT: the caller was killed before we got it.
				if err != unix.ENOENT && err != unix.EINTR {
					ic.s.logf("launch: intercept: receive: %v", err)
				}
				continue
			}
			ic.answered++
			ic.answer(&n)
			continue
		}
		if fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
			return // no filtered process is left
		}
	}
}

// stop ends serve and waits for it.
func (ic *interceptor) stop() {
	unix.Close(ic.stopW)
	<-ic.done
}

// answer handles one notification. Failing to read the caller's memory
// lets the call run as it was: the server then meets the real /dev/fuse
// or mount(2), and says so.
func (ic *interceptor) answer(n *seccompNotif) {
	resp := seccompResp{id: n.id, flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
	arg := func(i int) uintptr { return uintptr(n.args[i]) }
	switch {
	case n.nr == sysOpen || n.nr == unix.SYS_OPENAT || n.nr == unix.SYS_OPENAT2:
		pathArg, flags := 1, int(n.args[2])
		if n.nr != unix.SYS_OPENAT && n.nr != unix.SYS_OPENAT2 {
			pathArg, flags = 0, int(n.args[1]) // open(2)
		}
		if n.nr == unix.SYS_OPENAT2 {
			// struct open_how starts with the u64 flags.
			var how [8]byte
			if readMem(int(n.pid), arg(2), how[:]) == nil {
				flags = int(*(*uint64)(unsafe.Pointer(&how[0])))
			}
		}
		p, err := readString(int(n.pid), arg(pathArg))
		if err != nil || p != "/dev/fuse" || !ic.valid(n) {
			break
		}
		if fd, ok := ic.giveSocket(n, flags); ok {
			ic.s.logf("launch: intercept: pid %d opened /dev/fuse: gave it the socket as fd %d", n.pid, fd)
			return // the addfd answered the call
		}
	case n.nr == unix.SYS_MOUNT:
		fstype, err := readString(int(n.pid), arg(2))
		if err != nil || !IsFUSEType(fstype) {
			break
		}
		source, _ := readString(int(n.pid), arg(0))
		target, _ := readString(int(n.pid), arg(1))
		var data string
		if arg(4) != 0 {
			data, _ = readString(int(n.pid), arg(4))
		}
		if !ic.valid(n) {
			break
		}
		opts := fuseMountOptions(source, fstype, uintptr(n.args[3]), data)
		ic.s.logf("launch: intercept: pid %d mount(%q, %q, %q, %#x, %q): faked; options %q", n.pid, source, target, fstype, n.args[3], data, opts)
		resp.flags = 0
		ic.mount(opts)
	case n.nr == unix.SYS_UMOUNT2:
		target, err := readString(int(n.pid), arg(0))
		if err != nil || !ic.isStandIn(target) || !ic.valid(n) {
			break
		}
		ic.s.logf("launch: intercept: pid %d unmounts %s: faked", n.pid, target)
		resp.flags = 0
	case n.nr == unix.SYS_FSOPEN:
		name, err := readString(int(n.pid), arg(0))
		if err != nil || !IsFUSEType(name) || !ic.valid(n) {
			break
		}
		resp.flags, resp.error = 0, -int32(unix.ENOSYS)
	}
	if err := ioctlPtr(ic.listener, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp)); err != nil && err != unix.ENOENT {
		ic.s.logf("launch: intercept: answer pid %d: %v", n.pid, err)
	}
}

// valid reports whether the notification is still pending: its caller
// has not died, so the memory read on its behalf was its own.
func (ic *interceptor) valid(n *seccompNotif) bool {
	id := n.id
	return ioctlPtr(ic.listener, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil
}

// giveSocket answers an open of /dev/fuse with a new descriptor for the
// server's end of the socketpair, as long as Start still holds it (until
// the server has mounted; later opens, such as libfuse's clone_fd, meet
// the real device and fall back).
func (ic *interceptor) giveSocket(n *seccompNotif, flags int) (int, bool) {
	s := ic.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.remote == nil {
		return 0, false
	}
	rc, err := s.remote.SyscallConn()
	if err != nil {
		return 0, false
	}
	fd, ok := 0, false
	rc.Control(func(src uintptr) {
		add := seccompAddFD{id: n.id, flags: unix.SECCOMP_ADDFD_FLAG_SEND, srcfd: uint32(src)}
		if flags&unix.O_CLOEXEC != 0 {
			add.newfdFlags = unix.O_CLOEXEC
		}
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(ic.listener), unix.SECCOMP_IOCTL_NOTIF_ADDFD, uintptr(unsafe.Pointer(&add)))
		if errno != 0 {
			s.logf("launch: intercept: hand the socket to pid %d: %v", n.pid, errno)
			return
		}
		fd, ok = int(r), true
	})
	return fd, ok
}

// mount records the options of the server's first fuse mount(2) and lets
// Start go on; the server's end is then in its hands, so ours closes.
func (ic *interceptor) mount(opts []string) {
	if ic.mounted {
		return
	}
	ic.mounted = true
	s := ic.s
	s.readyStandIn()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handOverLocked(opts)
}

// isStandIn reports whether p names the stand-in mountpoint.
func (ic *interceptor) isStandIn(p string) bool {
	return filepath.Clean(p) == ic.mnt
}

// IsFUSEType reports whether a file system type (of mount(2), or of
// mountinfo) is FUSE's: fuse, fuseblk, fuse.SUBTYPE or fuseblk.SUBTYPE.
func IsFUSEType(t string) bool {
	base, _, _ := strings.Cut(t, ".")
	return base == "fuse" || base == "fuseblk"
}

// fuseMountOptions turns a fuse mount(2) call into the options a fake
// fusermount would have been given: the flags as ro, nosuid (or suid) and so on,
// the data string less what belongs to the connection (fd, rootmode,
// user_id, group_id), the source as fsname, a type's suffix as subtype,
// and type fuseblk as libfuse's blkdev.
func fuseMountOptions(source, fstype string, flags uintptr, data string) []string {
	var opts []string
	for _, f := range []struct {
		bit  uintptr
		name string
	}{
		{unix.MS_RDONLY, "ro"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"},
		{unix.MS_NOEXEC, "noexec"}, {unix.MS_NOATIME, "noatime"}, {unix.MS_NODIRATIME, "nodiratime"},
		{unix.MS_SYNCHRONOUS, "sync"}, {unix.MS_DIRSYNC, "dirsync"},
	} {
		if flags&f.bit != 0 {
			opts = append(opts, f.name)
		}
	}
	// The mount's defaults are nosuid and nodev (fusermount's, and
	// fusectl's): a server that mounted without them asked for set-user-ID
	// files and device nodes to work.
	if flags&unix.MS_NOSUID == 0 {
		opts = append(opts, "suid")
	}
	if flags&unix.MS_NODEV == 0 {
		opts = append(opts, "dev")
	}
	given := map[string]bool{}
	for _, o := range strings.Split(data, ",") {
		name, _, _ := strings.Cut(o, "=")
		switch name {
		case "", "fd", "rootmode", "user_id", "group_id", "blkdev":
			continue
		}
		given[name] = true
		opts = append(opts, o)
	}
	base, _, _ := strings.Cut(fstype, ".")
	if base == "fuseblk" {
		opts = append(opts, "blkdev")
	}
	if source != "" && !given["fsname"] {
		opts = append(opts, "fsname="+source)
	}
	if _, sub, ok := strings.Cut(fstype, "."); ok && sub != "" && !given["subtype"] {
		opts = append(opts, "subtype="+sub)
	}
	return opts
}

// readString reads a NUL-terminated string of at most PATH_MAX bytes from
// process pid at addr, a page at a time so that a string near the end of a
// mapping reads as far as it goes.
func readString(pid int, addr uintptr) (string, error) {
	if addr == 0 {
		return "", unix.EFAULT
	}
	const limit = 4096
	page := uintptr(os.Getpagesize())
	var out []byte
	for len(out) < limit {
		chunk := make([]byte, page-addr%page)
		if err := readMem(pid, addr, chunk); err != nil {
			return "", err
		}
		if i := bytes.IndexByte(chunk, 0); i >= 0 {
			return string(append(out, chunk[:i]...)), nil
		}
		out = append(out, chunk...)
		addr += uintptr(len(chunk))
	}
	return "", errors.New("string too long")
}

// readMem fills buf from process pid's memory at addr.
func readMem(pid int, addr uintptr, buf []byte) error {
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: addr, Len: len(buf)}}
	n, err := unix.ProcessVMReadv(pid, local, remote, 0)
	if err != nil {
		return err
	}
	if n != len(buf) {
		return unix.EFAULT
	}
	return nil
}

func ioctlPtr(fd int, req uint, p unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(p))
	if errno != 0 {
		return errno
	}
	return nil
}

// startInterceptor receives the seccomp listener from the launcher on
// handoff and starts answering the server's calls. The launcher sends it
// before it execs the server, or says that the kernel refused its filter
// (errFilterRefused), or exits with its reason on stderr.
func (s *Server) startInterceptor(handoff int, mnt string) error {
	fds := []unix.PollFd{{Fd: int32(handoff), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(handoffTimeout.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for the intercept launcher: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("wait for the intercept launcher: nothing within %v", handoffTimeout)
		}
		break
	}
	buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(handoff, buf, oob, unix.MSG_CMSG_CLOEXEC)
	var got []int
	if err == nil {
		got, err = parseRights(oob[:oobn])
	}
	if reason, ok := strings.CutPrefix(string(buf[:max(n, 0)]), filterRefused); ok && len(got) == 0 {
		<-s.done // the launcher exits at once
		return fmt.Errorf("%w: %s", errFilterRefused, reason)
	}
	if err != nil || len(got) != 1 {
		for _, fd := range got {
			unix.Close(fd)
		}
		// The launcher failed and exits; its message is in the output.
		// One that sent something else and lives on is no launcher of
		// ours: Start's cleanup stops it.
		select {
		case <-s.done:
			s.waitOutput()
			return s.exitedError()
		case <-time.After(handoffTimeout):
			return fmt.Errorf("%w: the intercept launcher sent no seccomp listener", ErrShimProtocol)
		}
	}
	if real, err := filepath.EvalSymlinks(mnt); err == nil {
		mnt = real
	}
	ic, err := newInterceptor(s, got[0], mnt)
	if err != nil {
		return err
	}
	s.ic = ic
	go ic.serve()
	return nil
}

// handoffTimeout bounds the wait for the launcher's listener, which it
// sends before anything else.
const handoffTimeout = 10 * time.Second
