package launch

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// fakeMount does what bazil.org/fuse's mount does: run fusermount3 from
// PATH with a stream socket as _FUSE_COMMFD=3, wait for it, then receive
// the descriptor.
func fakeMount(mnt string) (int, error) {
	return fusermountFD(mnt, true)
}

// fakeMountNoWait does what libfuse 2 does under auto_unmount: take the
// descriptor while fusermount still runs, without waiting for it. The
// mountpoint must then be mounted already, as a real fusermount mounts
// before it sends the descriptor; a libfuse 2 server told to exit at once
// unmounts it.
func fakeMountNoWait(mnt string) (int, error) {
	return fusermountFD(mnt, false)
}

// fusermountFD runs fusermount3 for mnt and receives the descriptor it
// sends, waiting for fusermount3 to exit first if wait is set.
func fusermountFD(mnt string, wait bool) (int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fds[0])
	theirs := os.NewFile(uintptr(fds[1]), "commfd")
	cmd := exec.Command("fusermount3", "-o", `fsname=fake\,server,allow_other,default_permissions`, "--", mnt)
	cmd.Env = append(os.Environ(), "_FUSE_COMMFD=3")
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		theirs.Close()
		return -1, fmt.Errorf("fusermount3: %w", err)
	}
	theirs.Close()
	if wait {
		if err := cmd.Wait(); err != nil {
			return -1, fmt.Errorf("fusermount3: %w", err)
		}
	}
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(fds[0], buf, oob, 0)
	if err != nil {
		return -1, fmt.Errorf("receive fd: %w", err)
	}
	got, err := parseRights(oob[:oobn])
	if err != nil || len(got) != 1 {
		return -1, fmt.Errorf("no fd received (%v)", err)
	}
	if !wait {
		mounted, err := isMountpoint(mnt)
		if werr := cmd.Wait(); werr != nil {
			return -1, fmt.Errorf("fusermount3: %w", werr)
		}
		if err != nil || !mounted {
			return -1, fmt.Errorf("%s is not mounted when the descriptor arrives (%v)", mnt, err)
		}
	}
	return got[0], nil
}

// fakeSelfMount does what ntfs-3g's fuse-lite and libfuse as root do, with
// raw system calls as a static binary would: open /dev/fuse, then mount(2)
// it. Under the intercept method the descriptor must be the socket, an
// open of anything else must open it for real, and the mount must succeed
// without a mount appearing; fakeSelfMount fails otherwise.
func fakeSelfMount(mnt string) (int, error) {
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/fuse: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return -1, fmt.Errorf("/dev/fuse opened as mode %#o (%v), want the socket", st.Mode, err)
	}
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		return -1, fmt.Errorf("descriptor flags %#x (%v): O_CLOEXEC was not kept", flags, err)
	}
	// Ordinary opens: the filter lets those that only read pass
	// unseen (TestIntercept counts), and fusectl lets a read-write one
	// run.
	for range 100 {
		exe, err := unix.Open("/proc/self/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("open an ordinary file: %w", err)
		}
		unix.Close(exe)
	}
	rw, err := os.CreateTemp("", "fusectl-intercept-")
	if err != nil {
		return -1, fmt.Errorf("open an ordinary file read-write: %w", err)
	}
	rw.Close()
	os.Remove(rw.Name())
	data := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0,default_permissions,allow_other,max_read=65536", fd)
	if err := unix.Mount("fakefs", mnt, "fuse.fake", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_RDONLY, data); err != nil {
		return -1, fmt.Errorf("mount: %w", err)
	}
	if mounted, err := isMountpoint(mnt); err != nil || mounted {
		return -1, fmt.Errorf("%s is a mountpoint (%v): the mount was real", mnt, err)
	}
	return fd, nil
}

// isMountpoint reports whether dir is a mountpoint in this process's view.
func isMountpoint(dir string) (bool, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true, nil
		}
	}
	return false, nil
}
