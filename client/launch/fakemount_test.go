package launch

import (
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

// fakeMount does what bazil.org/fuse's mount does: run fusermount3 from
// PATH with a stream socket as _FUSE_COMMFD=3, wait for it, then receive
// the descriptor.
func fakeMount(mnt string) (int, error) {
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
	err = cmd.Run()
	theirs.Close()
	if err != nil {
		return -1, fmt.Errorf("fusermount3: %w", err)
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
	return got[0], nil
}
