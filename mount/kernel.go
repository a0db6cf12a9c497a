package mount

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// kernelOptions is what a kernel FUSE mount takes besides the device fd.
type kernelOptions struct {
	flags   uintptr  // MS_* flags
	data    []string // kernel data options (allow_other, default_permissions, max_read=N, blksize=N)
	fsname  string   // mount source, shown in mountinfo
	subtype string   // type is "fuse.<subtype>"
	maxRead int      // max_read, 0 if not given
	// blkdev mounts type fuseblk, on the block device named by fsname:
	// the kernel then sends DESTROY at unmount and waits for the server
	// to answer it, so the device is clean when umount returns (ntfs-3g,
	// exfat-fuse). Root only.
	blkdev bool
	// fusermount holds every option in fusermount3's own -o syntax.
	fusermount []string
}

// parseMountOptions turns -o style options (each element may hold several,
// comma-separated) into kernel mount arguments. Options that only mean
// something to libfuse (auto_unmount, big_writes, ...) are returned in
// ignored rather than passed to the kernel, which would refuse them.
func parseMountOptions(opts []string) (ko kernelOptions, ignored []string, err error) {
	ko.flags = unix.MS_NOSUID | unix.MS_NODEV
	for _, group := range opts {
		for _, o := range strings.Split(group, ",") {
			if o == "" {
				continue
			}
			name, val, hasVal := strings.Cut(o, "=")
			switch name {
			case "ro":
				ko.flags |= unix.MS_RDONLY
			case "rw":
				ko.flags &^= unix.MS_RDONLY
			case "nosuid":
				ko.flags |= unix.MS_NOSUID
			case "suid":
				ko.flags &^= unix.MS_NOSUID
			case "nodev":
				ko.flags |= unix.MS_NODEV
			case "dev":
				ko.flags &^= unix.MS_NODEV
			case "noexec":
				ko.flags |= unix.MS_NOEXEC
			case "exec":
				ko.flags &^= unix.MS_NOEXEC
			case "noatime":
				ko.flags |= unix.MS_NOATIME
			case "atime":
				ko.flags &^= unix.MS_NOATIME
			case "nodiratime":
				ko.flags |= unix.MS_NODIRATIME
			case "sync":
				ko.flags |= unix.MS_SYNCHRONOUS
			case "async":
				ko.flags &^= unix.MS_SYNCHRONOUS
			case "dirsync":
				ko.flags |= unix.MS_DIRSYNC
			case "allow_other", "default_permissions":
				if hasVal {
					return ko, nil, fmt.Errorf("mount option %q takes no value", o)
				}
				ko.data = append(ko.data, name)
			case "max_read", "blksize":
				n, perr := strconv.Atoi(val)
				if !hasVal || perr != nil || n <= 0 {
					return ko, nil, fmt.Errorf("mount option %q needs a positive number", o)
				}
				if name == "max_read" {
					ko.maxRead = n
				}
				ko.data = append(ko.data, o)
			case "blkdev":
				if hasVal {
					return ko, nil, fmt.Errorf("mount option %q takes no value", o)
				}
				if os.Geteuid() != 0 {
					// fusermount3 mounts fuseblk for root only.
					ignored = append(ignored, o)
					continue
				}
				ko.blkdev = true
				continue
			case "fsname":
				ko.fsname = val
			case "subtype":
				ko.subtype = val
			case "fd", "rootmode", "user_id", "group_id":
				return ko, nil, fmt.Errorf("mount option %q is set by fusectl", name)
			default:
				ignored = append(ignored, o)
				continue
			}
			ko.fusermount = append(ko.fusermount, o)
		}
	}
	if !ko.blkdev {
		// Type fuse refuses blksize.
		ko.data = slices.DeleteFunc(ko.data, func(o string) bool {
			if strings.HasPrefix(o, "blksize=") {
				ignored = append(ignored, o)
				return true
			}
			return false
		})
		ko.fusermount = slices.DeleteFunc(ko.fusermount, func(o string) bool { return strings.HasPrefix(o, "blksize=") })
	}
	return ko, ignored, nil
}

// fstype returns the file system type for mount(2).
func (ko *kernelOptions) fstype() string {
	if ko.subtype != "" {
		return ko.baseType() + "." + ko.subtype
	}
	return ko.baseType()
}

// baseType is fstype without the subtype.
func (ko *kernelOptions) baseType() string {
	if ko.blkdev {
		return "fuseblk"
	}
	return "fuse"
}

// source returns the mount source.
func (ko *kernelOptions) source() string {
	if ko.fsname != "" {
		return ko.fsname
	}
	return "fusectl"
}

// kernelMount is a mounted FUSE file system and its device.
type kernelMount struct {
	dev        *os.File
	mountpoint string
	conn       uint32 // connection number: its directory in the control fs (FUSEMount.Conn)
	viaHelper  bool   // mounted with fusermount3, so unmount with it too
}

// mountKernel opens /dev/fuse and mounts it at mnt: with mount(2) as root,
// else through the system's fusermount3, which hands the device back over
// _FUSE_COMMFD.
func mountKernel(mnt string, ko *kernelOptions, logf func(string, ...any)) (*kernelMount, error) {
	var st unix.Stat_t
	if err := unix.Stat(mnt, &st); err != nil {
		return nil, fmt.Errorf("stat mountpoint: %w", err)
	}
	km := &kernelMount{mountpoint: mnt}
	if os.Geteuid() == 0 {
		// Registered with the runtime poller (os.OpenFile of a character
		// device), so that closing it unblocks the reader even when the
		// connection cannot be aborted otherwise. Blocking reads would
		// also be slower: see "Blocking threads" in docs/design.md.
		dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("open /dev/fuse: %w", err)
		}
		data := append([]string{
			fmt.Sprintf("fd=%d", dev.Fd()),
			fmt.Sprintf("rootmode=%o", st.Mode&unix.S_IFMT),
			"user_id=0",
			"group_id=0",
		}, ko.data...)
		err = unix.Mount(ko.source(), mnt, ko.fstype(), ko.flags, strings.Join(data, ","))
		if err != nil && ko.subtype != "" && errors.Is(err, unix.ENODEV) {
			// Kernels without "fuse.<subtype>" registered still take
			// subtype as a data option.
			data = append(data, "subtype="+ko.subtype)
			err = unix.Mount(ko.source(), mnt, ko.baseType(), ko.flags, strings.Join(data, ","))
		}
		if err != nil {
			dev.Close()
			if ko.blkdev && errors.Is(err, unix.ENOTBLK) {
				// As a direct mount fails: the server asked for it.
				return nil, fmt.Errorf("mount %s: type fuseblk (blkdev), which the server asked for, needs a block device, and %s is not one (attach an image with losetup -f --show IMAGE): %w", mnt, ko.source(), err)
			}
			return nil, fmt.Errorf("mount %s: %w", mnt, err)
		}
		km.dev = dev
	} else {
		dev, err := fusermountMount(mnt, ko, logf)
		if err != nil {
			return nil, err
		}
		km.dev = dev
		km.viaHelper = true
	}
	// Not stat(2): that would wait for INIT, which nobody forwards yet.
	if fm, err := FindFUSEMount(mnt); err == nil {
		km.conn = fm.Conn()
	} else {
		logf("find the new mount in mountinfo: %v", err)
	}
	return km, nil
}

// fusermountMount runs fusermount3 -o OPTS -- MNT and receives the opened
// /dev/fuse over the _FUSE_COMMFD socket, as libfuse does.
func fusermountMount(mnt string, ko *kernelOptions, logf func(string, ...any)) (*os.File, error) {
	helper, err := exec.LookPath("fusermount3")
	if err != nil {
		return nil, fmt.Errorf("find fusermount3 (needed to mount without root): %w", err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create socketpair: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "fusermount-commfd")
	theirs := os.NewFile(uintptr(fds[1]), "fusermount-commfd-child")
	defer ours.Close()
	opts := append([]string{"fsname=" + ko.source()}, ko.fusermount...)
	if ko.subtype != "" && !containsPrefix(opts, "subtype=") {
		opts = append(opts, "subtype="+ko.subtype)
	}
	if ko.flags&unix.MS_RDONLY != 0 {
		opts = append(opts, "ro")
	}
	cmd := exec.Command(helper, "-o", strings.Join(opts, ","), "--", mnt)
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Env = append(os.Environ(), "_FUSE_COMMFD=3")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	theirs.Close()
	if err != nil {
		return nil, fmt.Errorf("fusermount3: %w: %s", err, strings.TrimSpace(out.String()))
	}
	logf("mounted %s with %s", mnt, helper)
	dev, err := recvFD(ours)
	if err != nil {
		return nil, fmt.Errorf("receive /dev/fuse from fusermount3: %w", err)
	}
	return dev, nil
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// recvFD receives one file descriptor sent with SCM_RIGHTS on a socket.
func recvFD(sock *os.File) (*os.File, error) {
	rc, err := sock.SyscallConn()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4*4))
	var n, oobn int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	}); err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, rerr
	}
	if n == 0 && oobn == 0 {
		return nil, errors.New("helper sent nothing")
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("parse control message: %w", err)
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil || len(fds) == 0 {
			continue
		}
		for _, extra := range fds[1:] {
			unix.Close(extra)
		}
		return os.NewFile(uintptr(fds[0]), "/dev/fuse"), nil
	}
	return nil, errors.New("no file descriptor in message")
}

// unmount unmounts the file system: normally, and lazily (MNT_DETACH) if it
// is busy. It reports whether the detach was lazy.
func (km *kernelMount) unmount() (lazy bool, err error) {
	return unmountPath(km.mountpoint, km.viaHelper)
}

// unmountPath unmounts mnt, lazily if busy; viaHelper uses fusermount3 -u.
func unmountPath(mnt string, viaHelper bool) (lazy bool, err error) {
	if viaHelper || os.Geteuid() != 0 {
		if out, err := exec.Command("fusermount3", "-u", mnt).CombinedOutput(); err == nil {
			return false, nil
		} else if out2, err2 := exec.Command("fusermount3", "-u", "-z", mnt).CombinedOutput(); err2 != nil {
			out, out2 = bytes.TrimSpace(out), bytes.TrimSpace(out2)
			if bytes.Equal(out, out2) {
				return true, fmt.Errorf("fusermount3 -u -z: %w: %s", err2, out2)
			}
			return true, fmt.Errorf("fusermount3 -u -z: %w: %s (before: %s)", err2, out2, out)
		}
		return true, nil
	}
	err = unix.Unmount(mnt, 0)
	if err == nil {
		return false, nil
	}
	if errors.Is(err, unix.EBUSY) {
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			return true, fmt.Errorf("lazy unmount %s: %w", mnt, err)
		}
		return true, nil
	}
	return false, fmt.Errorf("unmount %s: %w", mnt, err)
}

// ControlDir is where the kernel's fusectl control file system is mounted.
const ControlDir = "/sys/fs/fuse/connections"

// controlFS counts this process's users of the control file system, so
// that what the process mounted it also unmounts, once, when the last user
// is done, and leaves mounted what it found mounted.
var controlFS struct {
	mu      sync.Mutex
	users   int
	mounted bool // by this process
}

// UseControlFS makes the kernel's fusectl control file system available at
// ControlDir until release is called, mounting it if it is not mounted
// (root only). The last release in the process unmounts it if this
// process mounted it, so fusectl leaves the machine's mounts as it found
// them. Another process may unmount it in the meantime;
// AbortConnection therefore retries once.
func UseControlFS() (release func(), err error) {
	controlFS.mu.Lock()
	defer controlFS.mu.Unlock()
	mounted, err := mountControlFS()
	if err != nil {
		return nil, err
	}
	controlFS.mounted = controlFS.mounted || mounted
	controlFS.users++
	var once sync.Once
	return func() { once.Do(releaseControlFS) }, nil
}

func releaseControlFS() {
	controlFS.mu.Lock()
	defer controlFS.mu.Unlock()
	controlFS.users--
	if controlFS.users == 0 && controlFS.mounted {
		controlFS.mounted = false
		// Lazily: another process may be reading a file of it.
		unix.Unmount(ControlDir, unix.MNT_DETACH)
	}
}

// mountControlFS mounts the control file system at ControlDir unless it is
// mounted there already, and reports whether it mounted it.
func mountControlFS() (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(ControlDir, &st); err != nil {
		return false, fmt.Errorf("statfs %s: %w", ControlDir, err)
	}
	const fusectlMagic = 0x65735543
	if st.Type == fusectlMagic {
		return false, nil
	}
	if err := unix.Mount("fusectl", ControlDir, "fusectl", 0, ""); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return false, nil
		}
		if errors.Is(err, unix.EPERM) {
			return false, fmt.Errorf("the control file system is not mounted at %s, and mounting it needs root: %w", ControlDir, err)
		}
		return false, fmt.Errorf("mount fusectl control fs: %w", err)
	}
	return true, nil
}

// AbortConnection aborts the FUSE connection numbered conn (see
// FUSEMount.Conn) through the control file system: every pending and
// future request fails, so processes stuck on the mount return.
func AbortConnection(conn uint32) error {
	p := filepath.Join(ControlDir, strconv.FormatUint(uint64(conn), 10), "abort")
	var err error
	for range 2 {
		release, uerr := UseControlFS()
		if uerr != nil {
			return uerr
		}
		err = os.WriteFile(p, []byte("1"), 0)
		release()
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
		// Another fusectl may have unmounted the control file system
		// between our check and the write: once more.
	}
	if err != nil {
		return fmt.Errorf("abort connection %d: %w", conn, err)
	}
	return nil
}

// Waiting returns the number of requests waiting on the FUSE connection
// numbered conn (see FUSEMount.Conn), from the control file system.
func Waiting(conn uint32) (int, error) {
	b, err := os.ReadFile(filepath.Join(ControlDir, strconv.FormatUint(uint64(conn), 10), "waiting"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
