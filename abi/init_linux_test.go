//go:build linux

package abi

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/fusectl/fusectl/internal/testenv"
)

// kernelInit mounts a FUSE file system with no server and returns the INIT
// request the running kernel sends for it. The connection is aborted and
// the mount detached when the test ends.
func kernelInit(t *testing.T) (InHeader, InitIn) {
	t.Helper()
	testenv.RequireFUSE(t)
	mnt := t.TempDir()
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Fd puts the file in blocking mode, so the read waits for INIT.
	fd := int(f.Fd())
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0", fd)
	if err := syscall.Mount("fusectl-abi", mnt, "fuse.fusectl-abi", syscall.MS_NODEV|syscall.MS_NOSUID, opts); err != nil {
		f.Close()
		t.Fatalf("mount: %v", err)
	}
	testenv.UnmountOnInterrupt(t, mnt)
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	t.Cleanup(func() { f.Close() }) // runs first: aborts the connection
	buf := make([]byte, 1<<20)      // above any read-buffer minimum
	n, err := syscall.Read(fd, buf)
	if err != nil {
		t.Fatalf("read INIT: %v", err)
	}
	var h InHeader
	var in InitIn
	rest, err := h.Unmarshal(buf[:n], NativeEndian)
	if err != nil {
		t.Fatal(err)
	}
	if h.Opcode != FUSE_INIT || int(h.Len) != n {
		t.Fatalf("first request %v of %d bytes, read %d", h.Opcode, h.Len, n)
	}
	// Kernels before 7.36 send the 16-byte compat layout.
	if _, err := in.UnmarshalPrefix(rest, min(len(rest), in.SizeBytes()), NativeEndian); err != nil {
		t.Fatal(err)
	}
	return h, in
}

// TestDefaultInitFlagsMatchKernel compares DefaultInitFlags with what the
// running kernel offers, if it speaks 7.45 (Linux 6.18). The bits the kernel
// offers only by configuration (DAX, virtiofs submounts, passthrough,
// io-uring) are left out of the comparison; a stock 6.18 offers
// 0x5fd73fffffb, DefaultInitFlags plus FUSE_PASSTHROUGH.
func TestDefaultInitFlagsMatchKernel(t *testing.T) {
	h, in := kernelInit(t)
	if in.Major != FUSE_KERNEL_VERSION || in.Minor != FUSE_KERNEL_MINOR_VERSION {
		t.Skipf("kernel speaks %d.%d, DefaultInitFlags is for 7.45", in.Major, in.Minor)
	}
	if got := int(h.Len) - InHeaderSize; got != in.SizeBytes() {
		t.Errorf("INIT argument of %d bytes, InitIn is %d", got, in.SizeBytes())
	}
	const conditional = FUSE_MAP_ALIGNMENT | FUSE_HAS_INODE_DAX | FUSE_SUBMOUNTS |
		FUSE_PASSTHROUGH | FUSE_OVER_IO_URING
	offered := in.InitFlags()
	t.Logf("kernel offers %#x: %v", uint64(offered), offered)
	if got := offered &^ conditional; got != DefaultInitFlags {
		t.Errorf("kernel offers %v\nbesides the configuration-dependent bits, DefaultInitFlags is %v\nkernel only: %v\nDefaultInitFlags only: %v",
			got, DefaultInitFlags, got&^DefaultInitFlags, DefaultInitFlags&^got)
	}
}
