package mount

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/internal/testenv"
)

// TestFuseblk mounts ntfs-3g on a loop device through fusectl. It asks for
// type fuseblk in its own mount(2), which the intercept method answers,
// and fusectl mounts fuseblk in its place: the kernel names the connection
// by the block device's number, and at unmount sends DESTROY and waits for
// the answer, so the volume is clean by the time the mount is gone.
func TestFuseblk(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "ntfs-3g")
	testenv.RequireCommand(t, "mkntfs")
	testenv.RequireCommand(t, "losetup")
	dir := t.TempDir()
	run(t, dir, "truncate -s 32M img.ntfs && mkntfs -q -F -f img.ntfs")
	loop := run(t, dir, "losetup -f --show img.ntfs")
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })

	capPath := filepath.Join(dir, "s.fcap")
	m, mnt := startMount(t, []string{"ntfs-3g", "-o", "no_detach", loop, "{}"}, Options{CapturePath: capPath})
	fm, err := FindFUSEMount(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fm.FSType, "fuseblk") || fm.Source != loop || fm.Major == 0 {
		t.Fatalf("mounted %+v, want fuseblk on %s", fm, loop)
	}
	if m.Conn() != fm.Conn() {
		t.Errorf("Conn() = %d, mountinfo's %d:%d is connection %d", m.Conn(), fm.Major, fm.Minor, fm.Conn())
	}
	// The control file system knows the connection by that number, which
	// is what ps and abort use.
	release, err := UseControlFS()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Waiting(fm.Conn())
	release()
	if err != nil {
		t.Errorf("waiting of connection %d: %v", fm.Conn(), err)
	}
	run(t, "/", "echo written through fusectl > "+filepath.Join(mnt, "x.txt"))
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	// The server answered DESTROY before the mount went: the volume is
	// closed and holds the file.
	var destroy, answered bool
	var destroyUnique uint64
	if _, err := eachRecord(capPath, func(r *capture.Record) {
		switch r.Dir {
		case capture.DirRequest:
			var h abi.InHeader
			if _, err := h.Unmarshal(r.Msg, abi.NativeEndian); err == nil && h.Opcode == abi.FUSE_DESTROY {
				destroy, destroyUnique = true, h.Unique
			}
		case capture.DirReply:
			var h abi.OutHeader
			if _, err := h.Unmarshal(r.Msg, abi.NativeEndian); err == nil && destroy && h.Unique == destroyUnique && h.Error == 0 {
				answered = true
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !destroy || !answered {
		t.Errorf("capture: DESTROY sent %v, answered %v", destroy, answered)
	}
	checkCapture(t, capPath)
	if got := run(t, dir, "ntfscat "+loop+" x.txt"); got != "written through fusectl" {
		t.Errorf("ntfscat x.txt after unmount: %q", got)
	}
}

// TestFuseblkNotABlockDevice: fuseblk on a regular file fails as a direct
// mount does, and the error says what to do.
func TestFuseblkNotABlockDevice(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireFUSE(t)
	img := filepath.Join(t.TempDir(), "img")
	run(t, "/", "truncate -s 1M "+img)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Start(ctx, Options{
		Mountpoint: t.TempDir(), Args: demofsArgs(t), NoControl: true, Logf: t.Logf,
		MountOptions: []string{"blkdev,fsname=" + img},
	})
	if err == nil || !errors.Is(err, unix.ENOTBLK) || !strings.Contains(err.Error(), "losetup") {
		t.Fatalf("Start: %v, want ENOTBLK with a hint", err)
	}
}
