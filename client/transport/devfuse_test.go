package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/fusectl/fusectl/internal/testenv"
	"golang.org/x/sys/unix"
)

// mountDevFuse opens /dev/fuse, mounts it on a temporary directory and
// returns it as a DevFuse with the mountpoint. The kernel queues INIT as
// soon as the mount exists. Cleanup detaches the mount.
func mountDevFuse(t *testing.T) (*DevFuse, string) {
	t.Helper()
	testenv.RequireFUSE(t)
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	var merr error
	rc.Control(func(fd uintptr) {
		data := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0", fd)
		merr = unix.Mount("fusectl-test", mnt, "fuse.fusectltest", unix.MS_NOSUID|unix.MS_NODEV, data)
	})
	if merr != nil {
		f.Close()
		t.Fatalf("mount: %v", merr)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	testenv.UnmountOnInterrupt(t, mnt)
	d, err := NewDevFuse(f, 1<<20+8192)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, mnt
}

const opInit = 26 // FUSE_INIT

func TestDevFuse(t *testing.T) {
	d, _ := mountDevFuse(t)
	req, err := d.ReadMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(req) < 40 || binary.NativeEndian.Uint32(req[4:]) != opInit {
		t.Fatalf("first request is not INIT: % x", req[:min(len(req), 40)])
	}
	// A reply to a unique the kernel does not know: ENOENT, not fatal.
	var hdr [16]byte
	binary.NativeEndian.PutUint32(hdr[0:], 16)
	binary.NativeEndian.PutUint64(hdr[8:], 0x7777770)
	if err := d.WriteMsg(hdr[:8], hdr[8:]); !errors.Is(err, ErrNoRequest) {
		t.Fatalf("reply to an unknown unique: got %v, want ErrNoRequest", err)
	}
	// Nothing else is queued until INIT is answered, so this read blocks
	// until Close.
	done := make(chan error, 1)
	go func() {
		_, err := d.ReadMsg(nil)
		done <- err
	}()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read during close: got %v, want os.ErrClosed", err)
	}
}

func TestDevFuseUnmounted(t *testing.T) {
	d, mnt := mountDevFuse(t)
	if _, err := d.ReadMsg(nil); err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadMsg(nil); !errors.Is(err, ErrPeerGone) {
		t.Fatalf("read after unmount: got %v, want ErrPeerGone", err)
	}
}
