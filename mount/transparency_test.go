package mount

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/client/launch"
	"github.com/fusectl/fusectl/decode"
	"github.com/fusectl/fusectl/internal/testenv"
)

var (
	bigMiB     = flag.Int("mount.bigfile", 256, "MiB of the large sequential write+read of the transparency workload")
	readersMiB = flag.Int("mount.readers", 32, "MiB per file of the parallel-readers test")
)

// makeTree creates the workload's source tree in dir: files, nested
// directories, symlinks (relative, absolute-looking, dangling) and hard
// links, and returns a tarball of it.
func makeTree(t testing.TB, dir string) string {
	t.Helper()
	run(t, dir, `
		mkdir -p tree/a/b/c tree/empty tree/x
		printf 'one\n' > tree/a/one.txt
		seq 1 20000 > tree/a/b/numbers
		head -c 300000 /dev/urandom > tree/a/b/c/random.bin
		ln tree/a/one.txt tree/x/one-hardlink
		ln -s ../a/one.txt tree/x/one-symlink
		ln -s /nonexistent/target tree/x/dangling
		ln -s a tree/a-link
		printf 'exec\n' > tree/x/script.sh && chmod 755 tree/x/script.sh
		chmod 640 tree/a/b/numbers
		tar -C tree -cf tree.tar .
	`)
	return filepath.Join(dir, "tree.tar")
}

// workloadRW is the read-write transparency workload. It prints results
// only (no inode numbers or times), and the exit status of every step, so
// that a step a server does not support still compares. The link counts
// are read after dropping the kernel's cached inodes: after LINK the kernel
// keeps the count of the other name's inode until its attributes expire (1 s
// for libfuse servers), so whether it shows 1 or 2 would otherwise depend on
// how long tar took.
const workloadRW = `
step() { echo "== $*"; out=$("$@" 2>&1); rc=$?; printf '%s\nrc=%d\n' "$out" "$rc" | sed "s#$MNT#MNT#g"; }
cd "$MNT"
step tar -xf "$TAR"
step sh -c 'find . | LC_ALL=C sort'
echo 2 > /proc/sys/vm/drop_caches
step sh -c 'find . -mindepth 1 | LC_ALL=C sort | xargs stat -c "%n %s %F %h %a %N"'
step cp -a a a-copy
step sh -c 'find a-copy | LC_ALL=C sort | xargs stat -c "%n %s %F %h %a"'
step diff -r a a-copy
step mv a-copy moved
step ls -la --time-style=+ moved
step rm -r moved
step ls
step setfattr -n user.fusectl -v hello a/one.txt
step getfattr -n user.fusectl --only-values a/one.txt
step getfattr -d a/one.txt
step truncate -s 12345 a/one.txt
step stat -c %s a/one.txt
step truncate -s 3 a/one.txt
step md5sum a/one.txt x/one-hardlink
step dd if=/dev/zero of=synced bs=4k count=4 conv=fsync status=none
step sync synced
step flock a/b/numbers -c 'echo locked'
step python3 -c 'import mmap,sys,hashlib; f=open(sys.argv[1],"rb"); m=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ); print(hashlib.sha256(m[:]).hexdigest())' a/b/c/random.bin
step dd if="$BIG" of=big bs=1M status=none
step sh -c 'echo 1 > /proc/sys/vm/drop_caches; sha256sum < big'
step stat -c %s big
step rm big synced
step sh -c 'find . | LC_ALL=C sort'
`

// workloadRO is the read-only part, for squashfuse.
const workloadRO = `
step() { echo "== $*"; out=$("$@" 2>&1); rc=$?; printf '%s\nrc=%d\n' "$out" "$rc" | sed "s#$MNT#MNT#g"; }
cd "$MNT"
step sh -c 'find . | LC_ALL=C sort'
step sh -c 'find . -mindepth 1 | LC_ALL=C sort | xargs stat -c "%n %s %F %h %a %N"'
step sh -c 'find . -type f | LC_ALL=C sort | xargs md5sum'
step readlink x/one-symlink x/dangling
step getfattr -d a/one.txt
step flock a/b/numbers -c 'echo locked'
step python3 -c 'import mmap,sys,hashlib; f=open(sys.argv[1],"rb"); m=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ); print(hashlib.sha256(m[:]).hexdigest())' a/b/c/random.bin
step sh -c 'echo 1 > /proc/sys/vm/drop_caches; sha256sum < big'
step touch newfile
`

func runWorkload(t *testing.T, script, mnt, tarball, big string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "MNT="+mnt, "TAR="+tarball, "BIG="+big, "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("workload: %v\n%s", err, out)
	}
	return string(out)
}

// mountinfoChanged waits until the mount table changes (poll(2) reports
// POLLPRI on /proc/self/mountinfo) or the timeout passes.
func waitMountinfo(t testing.TB, mnt string, mounted bool) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rc, _ := f.SyscallConn()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := FindFUSEMount(mnt)
		if (err == nil) == mounted {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: mounted=%v not reached", mnt, !mounted)
		}
		io.Copy(io.Discard, f)
		f.Seek(0, 0)
		rc.Control(func(fd uintptr) {
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}, 1000)
		})
	}
}

// directMount runs a server that mounts mnt by itself (no fusectl) and
// unmounts it at cleanup, then stops it: SIGINT for a server that does
// not exit when unmounted (demofs under strace), SIGKILL after 10 s.
func directMount(t testing.TB, mnt string, args []string) (pid int) {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.UnmountOnInterrupt(t, mnt)
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("direct server output:\n%s", out.String())
		}
	})
	waitMountinfo(t, mnt, true)
	return cmd.Process.Pid
}

// checkCapture decodes a capture: no malformed record, every reply paired
// with its request.
func checkCapture(t *testing.T, path string) {
	t.Helper()
	s := decode.NewSession(decode.Options{})
	var rec decode.Record
	n, noReply := 0, uint64(0)
	_, err := eachRecord(path, func(cr *capture.Record) {
		n++
		err := s.DecodeMsg(cr.Time, cr.Dir, cr.Flags, cr.Msg, cr.OrigLen, abi.NativeEndian, &rec)
		switch {
		case errors.Is(err, decode.ErrNoReply):
			// The server's own error, which a direct mount gets too:
			// ntfs-3g answers BATCH_FORGET with ENOSYS.
			noReply++
		case err != nil:
			t.Errorf("record %d (%s %s): malformed: %v", n, cr.Dir, rec.Op, err)
		}
	})
	if err != nil {
		t.Fatalf("read capture: %v", err)
	}
	c := s.Counters()
	if c.Malformed != noReply || c.Unpaired != 0 {
		t.Errorf("capture: %d records, %d malformed, %d unpaired replies", n, c.Malformed-noReply, c.Unpaired)
	}
	if noReply > 0 {
		t.Logf("capture: %d replies to requests that take none (the server's)", noReply)
	}
	if n == 0 {
		t.Errorf("empty capture")
	}
}

// subdirs creates directories named names in dir and returns their paths.
func subdirs(dir string, names ...string) []string {
	var paths []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		os.Mkdir(p, 0o755)
		paths = append(paths, p)
	}
	return paths
}

type transparencyCase struct {
	name     string
	needs    []string
	readOnly bool
	// args returns the server command line for an instance whose private
	// files live in dir, mounting at mnt (direct) or "{}" (fusectl).
	args func(t *testing.T, dir, mnt, tree string) []string
	// opts are the interposer's options (a forced launch method, say).
	opts Options
}

func TestTransparency(t *testing.T) {
	testenv.RequireFUSE(t)
	cases := []transparencyCase{
		{
			name: "demofs",
			args: func(t *testing.T, dir, mnt, tree string) []string {
				return []string{buildServer(t, "github.com/fusectl/fusectl/cmd/demofs"), mnt}
			},
		},
		{
			name:     "squashfuse",
			needs:    []string{"squashfuse", "mksquashfs"},
			readOnly: true,
			args: func(t *testing.T, dir, mnt, tree string) []string {
				return []string{"squashfuse", "-f", filepath.Join(filepath.Dir(tree), "image.sqfs"), mnt}
			},
		},
		{
			name:  "fuse-overlayfs",
			needs: []string{"fuse-overlayfs"},
			args: func(t *testing.T, dir, mnt, tree string) []string {
				d := subdirs(dir, "upper", "work")
				up, work := d[0], d[1]
				return []string{"fuse-overlayfs", "-f", "-o", "lowerdir=" + filepath.Join(filepath.Dir(tree), "lower") + ",upperdir=" + up + ",workdir=" + work, mnt}
			},
		},
		{
			name:  "bindfs",
			needs: []string{"bindfs"},
			args: func(t *testing.T, dir, mnt, tree string) []string {
				return []string{"bindfs", "-f", subdirs(dir, "src")[0], mnt}
			},
		},
		{
			// Opens /dev/fuse and mounts in its own code: the
			// intercept method.
			name:  "ntfs-3g",
			needs: []string{"ntfs-3g", "mkntfs"},
			args: func(t *testing.T, dir, mnt, tree string) []string {
				img := filepath.Join(dir, "img.ntfs")
				run(t, dir, fmt.Sprintf("truncate -s %dM img.ntfs && mkntfs -q -F -f img.ntfs", 2**bigMiB+64))
				return []string{"ntfs-3g", "-o", "no_detach", img, mnt}
			},
		},
		// Beyond the four the workload was written for, a server of
		// each kind that auto starts by intercept: mergerfs (its own
		// libfuse fork), fuse2fs and unionfs-fuse (libfuse 2),
		// gocryptfs (Go, go-fuse, no module list) and rclone (Go, its
		// bazil mount).
		{
			name:  "mergerfs",
			needs: []string{"mergerfs"},
			args: func(t *testing.T, dir, mnt, tree string) []string {
				return []string{"mergerfs", "-f", strings.Join(subdirs(dir, "b1", "b2"), ":"), mnt}
			},
		},
		{
			name:  "fuse2fs",
			needs: []string{"fuse2fs", "mkfs.ext4"},
			args: func(t *testing.T, dir, mnt, tree string) []string {
				run(t, dir, fmt.Sprintf("truncate -s %dM img.ext4 && mkfs.ext4 -q -F img.ext4", 2**bigMiB+64))
				return []string{"fuse2fs", "-f", filepath.Join(dir, "img.ext4"), mnt}
			},
		},
		{
			name:  "unionfs-fuse",
			needs: []string{"unionfs"},
			args: func(t *testing.T, dir, mnt, tree string) []string {
				return []string{"unionfs", "-f", "-o", "cow", subdirs(dir, "rw")[0] + "=RW", mnt}
			},
		},
		{
			name:  "gocryptfs",
			needs: []string{"gocryptfs"},
			args: func(t *testing.T, dir, mnt, tree string) []string {
				// The lowest scrypt cost, so that init and mount are quick.
				run(t, dir, "mkdir cipher && gocryptfs -q -init -extpass 'echo pw' -scryptn 10 cipher")
				return []string{"gocryptfs", "-f", "-q", "-extpass", "echo pw", filepath.Join(dir, "cipher"), mnt}
			},
		},
		{
			name:  "rclone",
			needs: []string{"rclone"},
			args: func(t *testing.T, dir, mnt, tree string) []string {
				// Its cache beside the instance's files, not in $HOME.
				return []string{"rclone", "mount", "--vfs-cache-mode", "writes", "--cache-dir", filepath.Join(dir, "cache"), "--config", "/dev/null", subdirs(dir, "src")[0], mnt}
			},
		},
	}
	base := t.TempDir()
	tarball := makeTree(t, base)
	big := filepath.Join(base, "big.bin")
	run(t, base, fmt.Sprintf("head -c %d /dev/urandom > big.bin", *bigMiB<<20))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range tc.needs {
				testenv.RequireCommand(t, c)
			}
			script := workloadRW
			shared := t.TempDir()
			tree := filepath.Join(shared, "tree")
			switch tc.name {
			case "squashfuse":
				script = workloadRO
				run(t, shared, "mkdir tree && tar -C tree -xf "+tarball+" && setfattr -n user.fusectl -v hello tree/a/one.txt && cp "+big+" tree/big && mksquashfs tree image.sqfs -quiet -noI -noD -noF -noX -xattrs >/dev/null")
			case "fuse-overlayfs":
				run(t, shared, "mkdir lower tree")
			}

			results := make(map[string]string)
			for _, mode := range []string{"direct", "fusectl"} {
				dir := t.TempDir()
				mnt := filepath.Join(dir, "mnt")
				os.Mkdir(mnt, 0o755)
				args := tc.args(t, dir, mnt, tree)
				if mode == "direct" {
					directMount(t, mnt, args)
					results[mode] = runWorkload(t, script, mnt, tarball, big)
					continue
				}
				capPath := filepath.Join(dir, "s.fcap")
				opts := tc.opts
				opts.Mountpoint = mnt
				opts.CapturePath = capPath
				opts.CaptureSnapLen = 4096
				m, _ := startMount(t, args, opts)
				results[mode] = runWorkload(t, script, mnt, tarball, big)
				if err := m.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
				if st := m.Status(); st.CaptureDropped != 0 {
					t.Errorf("capture dropped %d records", st.CaptureDropped)
				}
				checkCapture(t, capPath)
			}
			if results["direct"] != results["fusectl"] {
				t.Errorf("results differ:\n%s", lineDiff(results["direct"], results["fusectl"]))
			} else {
				t.Logf("%d lines of identical results", strings.Count(results["direct"], "\n"))
			}
			if !strings.Contains(results["direct"], "rc=0") {
				t.Errorf("workload did nothing:\n%s", results["direct"])
			}
		})
	}
}

// lineDiff shows the first differing lines.
func lineDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out bytes.Buffer
	for i := 0; i < max(len(la), len(lb)) && out.Len() < 4000; i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			fmt.Fprintf(&out, "line %d:\n  direct:  %s\n  fusectl: %s\n", i+1, x, y)
		}
	}
	return out.String()
}

// TestParallelReaders reads 8 large files at once through servers that
// splice their READ replies (fuse-overlayfs, and go-fuse's loopback
// example for files it serves from a descriptor): every byte must match.
func TestParallelReaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func(t *testing.T, dir, lower string) []string
	}{
		{"fuse-overlayfs", func(t *testing.T, dir, lower string) []string {
			testenv.RequireCommand(t, "fuse-overlayfs")
			up, work := filepath.Join(dir, "upper"), filepath.Join(dir, "work")
			os.Mkdir(up, 0o755)
			os.Mkdir(work, 0o755)
			return []string{"fuse-overlayfs", "-f", "-o", "lowerdir=" + lower + ",upperdir=" + up + ",workdir=" + work, "{}"}
		}},
		{"go-fuse-loopback", func(t *testing.T, dir, lower string) []string {
			if testing.Short() {
				t.Skip("-short: not building Go servers")
			}
			return []string{buildServer(t, "github.com/hanwen/go-fuse/v2/example/loopback"), "-q", "{}", lower}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			lower := filepath.Join(dir, "lower")
			os.Mkdir(lower, 0o755)
			args := tc.args(t, dir, lower)
			want := run(t, lower, fmt.Sprintf("for i in 1 2 3 4 5 6 7 8; do head -c %d /dev/urandom > f$i; done; sha256sum f? ", *readersMiB<<20))
			_, mnt := startMount(t, args, Options{})
			writeFile(t, "/proc/sys/vm/drop_caches", []byte("3"))
			got := run(t, mnt, `for i in 1 2 3 4 5 6 7 8; do sha256sum f$i > /tmp/.fusectl-sum.$$.$i & done; wait; for i in 1 2 3 4 5 6 7 8; do cat /tmp/.fusectl-sum.$$.$i; rm /tmp/.fusectl-sum.$$.$i; done`)
			if got != want {
				t.Errorf("parallel reads differ:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestCutListing lists a large directory through bindfs, a libfuse 2
// server whose high-level readdir cuts each READDIR reply at the size asked
// for, whatever byte that falls on: the kernel ignores the record cut
// short, and the capture must decode it as the kernel reads it, not as
// malformed. (The transparency captures cut payloads at 4 KiB, so they
// never see a whole listing.)
func TestCutListing(t *testing.T) {
	testenv.RequireCommand(t, "bindfs")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	run(t, dir, `mkdir src && cd src && i=0; while [ $i -lt 3000 ]; do : > "a-file-name-long-enough-to-fill-listings-$i"; i=$((i+1)); done`)
	capPath := filepath.Join(dir, "s.fcap")
	m, mnt := startMount(t, []string{"bindfs", "-f", src, "{}"}, Options{CapturePath: capPath})
	if n := strings.TrimSpace(run(t, mnt, "ls -f | wc -l")); n != "3002" {
		t.Errorf("listed %s entries, want 3002 (3000 files, . and ..)", n)
	}
	if err := m.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	checkCapture(t, capPath)
	s := decode.NewSession(decode.Options{})
	var rec decode.Record
	cut := 0
	eachRecord(capPath, func(cr *capture.Record) {
		s.DecodeMsg(cr.Time, cr.Dir, cr.Flags, cr.Msg, cr.OrigLen, abi.NativeEndian, &rec)
		if rec.Dir == capture.DirReply && rec.Op == abi.FUSE_READDIR && rec.Trailing > 0 {
			cut++
		}
	})
	if cut == 0 {
		t.Error("no READDIR reply ends in a record cut short: the test shows nothing")
	}
}

// TestLaterMounts: a server that mirrors a directory (bindfs) sees what is
// mounted there after it started, as it does without fusectl, whatever
// the launch method. The namespace method's private mount namespace hid
// such mounts while it was private rather than a slave of the host's.
func TestLaterMounts(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "bindfs")
	for _, method := range []launch.Method{launch.Auto, launch.ShimNamespace} {
		t.Run(method.String(), func(t *testing.T) {
			src := t.TempDir()
			sub := filepath.Join(src, "sub")
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			// Shared, as / is under systemd: mounts below propagate to
			// the namespace copies that are its slaves.
			if err := unix.Mount(src, src, "", unix.MS_BIND, ""); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Unmount(src, unix.MNT_DETACH) })
			if err := unix.Mount("", src, "", unix.MS_SHARED, ""); err != nil {
				t.Fatal(err)
			}
			_, mnt := startMount(t, []string{"bindfs", "-f", src, "{}"}, Options{Method: method})
			if err := unix.Mount("tmpfs", sub, "tmpfs", 0, ""); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
			if err := os.WriteFile(filepath.Join(sub, "later.txt"), []byte("mounted later\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := run(t, "/", "cat "+filepath.Join(mnt, "sub", "later.txt")); got != "mounted later" {
				t.Errorf("through bindfs: %q, want the file of the later mount", got)
			}
		})
	}
}
