package mount

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/client/launch"
	"github.com/fusectl/fusectl/internal/procfs"
)

// FUSEMount is one FUSE mount of the kernel, from mountinfo.
type FUSEMount struct {
	// Mountpoint is the absolute path, unescaped.
	Mountpoint string `json:"mountpoint"`
	// FSType is "fuse", "fuse.<subtype>" or "fuseblk".
	FSType string `json:"fstype"`
	// Source is the mount source (fsname).
	Source string `json:"source"`
	// Major and Minor are the device numbers: an anonymous device's
	// (major 0) for type fuse, the block device's for fuseblk.
	Major uint32 `json:"major"`
	Minor uint32 `json:"minor"`
	// Options are the per-mount and superblock options.
	Options string `json:"options"`
}

// Conn returns the connection's number, which names its directory in the
// kernel's control file system: the device number in the kernel's own
// encoding (major << 20 | minor), which for type fuse is the minor.
func (m FUSEMount) Conn() uint32 { return connNumber(m.Major, m.Minor) }

// connNumber encodes a device number as the kernel names connections.
func connNumber(major, minor uint32) uint32 { return major<<20 | minor }

// Owner returns the user the mount belongs to (its user_id option): the
// one besides root that the kernel lets unmount and abort it.
func (m FUSEMount) Owner() (uid uint32, ok bool) {
	for _, o := range strings.Split(m.Options, ",") {
		if v, found := strings.CutPrefix(o, "user_id="); found {
			if n, err := strconv.ParseUint(v, 10, 32); err == nil {
				return uint32(n), true
			}
		}
	}
	return 0, false
}

// mayAbort refuses, with a reason, what the kernel would refuse with a bare
// EPERM: another user's mount, for anyone but root.
func mayAbort(fm FUSEMount, euid int) error {
	if uid, ok := fm.Owner(); ok && euid != 0 && uid != uint32(euid) {
		return fmt.Errorf("%s is a mount of uid %d: aborting it needs root or that user", fm.Mountpoint, uid)
	}
	return nil
}

// ParseMountinfo reads /proc/PID/mountinfo text and returns its FUSE
// mounts. Malformed lines are skipped.
func ParseMountinfo(r io.Reader) ([]FUSEMount, error) {
	var out []FUSEMount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if len(f) < 6 || len(g) < 2 || !launch.IsFUSEType(g[0]) {
			continue
		}
		majS, minS, ok := strings.Cut(f[2], ":")
		if !ok {
			continue
		}
		maj, err1 := strconv.ParseUint(majS, 10, 32)
		mnr, err2 := strconv.ParseUint(minS, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		m := FUSEMount{
			Mountpoint: unescapeMountinfo(f[4]),
			FSType:     g[0],
			Source:     unescapeMountinfo(g[1]),
			Major:      uint32(maj),
			Minor:      uint32(mnr),
			Options:    f[5],
		}
		if len(g) > 2 {
			m.Options += "," + g[2]
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// coveredBy returns the file system type of the mount on top of
// mountpoint if the FUSE connection conn is mounted there under it: a
// mount stacked on a fusectl mount, which an unmount of the path would
// take instead. "" when conn's mount is on top, or not at mountpoint at
// all.
func coveredBy(mountpoint string, conn uint32) (string, error) {
	ours, top, err := readStack(mountpoint, conn)
	if !ours || err != nil {
		return "", err
	}
	return top, nil
}

// onTop reports whether the FUSE connection conn is the mount on top of
// mountpoint: the one an unmount of the path takes.
func onTop(mountpoint string, conn uint32) bool {
	ours, top, err := readStack(mountpoint, conn)
	return err == nil && ours && top == ""
}

// readStack reads mountinfo for the mounts at mountpoint: whether conn is
// one of them, and the type of the one on top if that is not conn.
func readStack(mountpoint string, conn uint32) (ours bool, top string, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, "", err
	}
	defer f.Close()
	return stackAt(f, mountpoint, conn)
}

// stackAt is readStack for mountinfo text: its entries are in mount
// order, so the last at a mountpoint is the one on top.
func stackAt(r io.Reader, mountpoint string, conn uint32) (ours bool, top string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 1 || unescapeMountinfo(f[4]) != mountpoint {
			continue
		}
		majS, minS, _ := strings.Cut(f[2], ":")
		maj, _ := strconv.ParseUint(majS, 10, 32)
		mnr, _ := strconv.ParseUint(minS, 10, 32)
		if connNumber(uint32(maj), uint32(mnr)) == conn && launch.IsFUSEType(g[0]) {
			ours, top = true, ""
		} else {
			top = g[0]
		}
	}
	return ours, top, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for space, ...) of
// mountinfo fields.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// FUSEMounts returns the FUSE mounts visible to this process.
func FUSEMounts() ([]FUSEMount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseMountinfo(f)
}

// OnConnection reports whether fi, from stat(2), is of a file on the FUSE
// connection numbered conn (see FUSEMount.Conn).
func OnConnection(fi os.FileInfo, conn uint32) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	dev := uint64(st.Dev) // uint32 on some architectures
	return connNumber(unix.Major(dev), unix.Minor(dev)) == conn
}

// FindFUSEMount returns the FUSE mount at path (made absolute, not
// resolved: a dead mount cannot be stat'ed). If several are stacked, the
// topmost is returned.
func FindFUSEMount(path string) (FUSEMount, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return FUSEMount{}, err
	}
	all, err := FUSEMounts()
	if err != nil {
		return FUSEMount{}, fmt.Errorf("read mountinfo: %w", err)
	}
	var found *FUSEMount
	matchPath(abs, all, func(p string) bool {
		for i := range all {
			if all[i].Mountpoint == p {
				found = &all[i]
			}
		}
		return found != nil
	})
	if found == nil {
		return FUSEMount{}, fmt.Errorf("%s: %w", abs, ErrNotFUSE)
	}
	return *found, nil
}

// matchPath calls match with abs, and while it says no, with abs's
// symbolic links resolved one at a time (a mountpoint named through a
// link, /var/run for /run): mountinfo names directories. Nothing on or
// under a FUSE mount (fuse) is ever stat'ed, for a hung one would wait
// for its server: such a path is taken as it is.
func matchPath(abs string, fuse []FUSEMount, match func(string) bool) bool {
	p := abs
	for range 40 { // the kernel's limit on links followed
		if match(p) {
			return true
		}
		for _, m := range fuse {
			if p == m.Mountpoint || strings.HasPrefix(p, strings.TrimSuffix(m.Mountpoint, "/")+"/") {
				return false
			}
		}
		if dir, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil && filepath.Join(dir, filepath.Base(p)) != p {
			p = filepath.Join(dir, filepath.Base(p))
			continue
		}
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return false
		}
		t, err := os.Readlink(p)
		if err != nil {
			return false
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		p = filepath.Clean(t)
	}
	return false
}

// Abort aborts the FUSE connection mounted at path, so that every process
// waiting on it returns (ECONNABORTED/ENOTCONN), and unmounts it lazily.
// Writing the abort needs root (the control file system is root's); the
// lazy unmount of a user's own mount goes through fusermount3. The control
// socket a killed fusectl left for the mount, in DefaultControlDir(), is
// removed; a running fusectl removes its own as it sees the abort.
func Abort(path string) error {
	fm, err := FindFUSEMount(path)
	if err != nil {
		return err
	}
	if err := mayAbort(fm, os.Geteuid()); err != nil {
		return err
	}
	aerr := AbortConnection(fm.Conn())
	if aerr != nil && errors.Is(aerr, os.ErrNotExist) {
		// Already gone from the control file system (a dead server's
		// connection): the unmount is what is left to do.
		aerr = nil
	}
	if fm.Source == "fusectl" && HasSocket("", fm.Mountpoint) {
		// Its fusectl unmounts it as it sees the abort: it is given the
		// time to, for two unmounts of one path race, and the second
		// would take the mount under it.
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if ours, _, err := readStack(fm.Mountpoint, fm.Conn()); err != nil || !ours {
				break
			}
		}
	}
	ours, top, err := readStack(fm.Mountpoint, fm.Conn())
	switch {
	case err == nil && !ours:
		// Its fusectl mount saw the abort and unmounted it first.
		removeStale(SocketPath("", fm.Mountpoint))
		return aerr
	case err == nil && top != "":
		// An unmount of the path would take the other mount.
		if aerr != nil {
			return aerr
		}
		return fmt.Errorf("%w: aborted, but a %s mount covers %s, so it stays mounted under it", ErrCovered, top, fm.Mountpoint)
	}
	var uerr error
	if os.Geteuid() == 0 {
		uerr = unix.Unmount(fm.Mountpoint, unix.MNT_DETACH)
	} else {
		_, uerr = unmountPath(fm.Mountpoint, true)
	}
	if uerr != nil && onTop(fm.Mountpoint, fm.Conn()) {
		return errors.Join(aerr, fmt.Errorf("lazy unmount %s: %w", fm.Mountpoint, uerr))
	}
	// Else gone meanwhile: its fusectl mount unmounted it on the abort.
	removeStale(SocketPath("", fm.Mountpoint))
	if aerr != nil {
		return fmt.Errorf("%w: %w", ErrNotAborted, aerr)
	}
	return nil
}

// DeviceHolders returns, for each FUSE connection, the processes holding a
// /dev/fuse descriptor on it, in ascending order: the servers of the
// machine's mounts (and, for a fusectl mount, fusectl). Recent kernels
// name a descriptor's connection in its fdinfo ("fuse_connection"); older
// ones do not, and there the map is empty. Processes this one may not
// inspect are left out.
func DeviceHolders() map[uint32][]int {
	held := map[uint32][]int{}
	for _, pid := range procfs.Pids() {
		procfs.Descriptors(pid, func(fd int, target string) bool {
			if target != "/dev/fuse" {
				return true
			}
			c, err := strconv.ParseUint(procfs.FDInfo(pid, fd)["fuse_connection"], 10, 32)
			// A process may hold several descriptors on one
			// connection (libfuse's clone_fd): count it once.
			if err == nil && !slices.Contains(held[uint32(c)], pid) {
				held[uint32(c)] = append(held[uint32(c)], pid)
			}
			return true
		})
	}
	return held
}
