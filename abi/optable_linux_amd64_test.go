//go:build linux && amd64

package abi

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/fusectl/fusectl/internal/testenv"
)

// Syscalls and flags the syscall package lacks (x86-64 numbers).
const (
	sysRenameat2     = 316
	sysCopyFileRange = 326
	sysStatx         = 332
	fsIocGetflags    = 0x80086601
	renameNoreplace  = 1
	oTmpfile         = 0o20000000 | syscall.O_DIRECTORY
	seekData         = 3
	statxBasicStats  = 0x7ff
	statxBtime       = 0x800
	atStatxForceSync = 0x2000
	// Accepted in INIT: extensions on every creating request (the
	// security-context block is sent, empty, even without an LSM), the
	// 16-byte SetxattrIn, POSIX and flock locks, READDIR not READDIRPLUS.
	probeInitFlags = FUSE_POSIX_LOCKS | FUSE_FLOCK_LOCKS | FUSE_SETXATTR_EXT | FUSE_INIT_EXT |
		FUSE_SECURITY_CTX | FUSE_BIG_WRITES | FUSE_ATOMIC_O_TRUNC
)

// probeReq is one request the kernel sent to the probe server.
type probeReq struct {
	op       Opcode
	args     []byte        // after the in-header, extensions excluded
	extlen   int           // TotalExtlen
	replied  bool          // a reply was written
	errno    syscall.Errno // of the reply
	replyErr error         // error of writing the reply (the kernel's verdict on it)
	replyLen int           // bytes of reply after the out-header
}

// probeServer answers every request with a success reply of the size the
// opcode table gives (shorter for OutVar replies) over a tiny tree: the
// root (1), file "f" (2), directory "d" (3), symlink "l" (4); creations get
// node 5 (file), 6 (directory) or 7 (symlink).
type probeServer struct {
	fd   int
	mu   sync.Mutex
	reqs []probeReq
}

func probeMode(node uint64) uint32 {
	switch node {
	case 1, 3, 6:
		return syscall.S_IFDIR | 0o755
	case 4, 7:
		return syscall.S_IFLNK | 0o777
	}
	return syscall.S_IFREG | 0o644
}

func probeAttr(node uint64) Attr {
	return Attr{Ino: node, Size: 4096, Blocks: 8, Mode: probeMode(node), Nlink: 1, Blksize: 4096}
}

func probeEntry(node uint64) EntryOut {
	return EntryOut{NodeID: node, Generation: 1, Attr: probeAttr(node)}
}

// reply returns the reply body for a request, or an errno, or ok false for
// no reply.
func (s *probeServer) reply(h *InHeader, args []byte) (out []byte, errno syscall.Errno, ok bool) {
	o := NativeEndian
	switch h.Opcode {
	case FUSE_FORGET, FUSE_BATCH_FORGET, FUSE_INTERRUPT:
		return nil, 0, false
	case FUSE_INIT:
		var in InitIn
		in.UnmarshalPrefix(args, min(len(args), in.SizeBytes()), o)
		out := InitOut{Major: 7, Minor: FUSE_KERNEL_MINOR_VERSION, MaxReadahead: in.MaxReadahead,
			MaxBackground: 16, CongestionThreshold: 12, MaxWrite: 128 << 10, TimeGran: 1, MaxPages: 32}
		out.SetInitFlags(in.InitFlags() & probeInitFlags)
		return out.Append(nil, o), 0, true
	case FUSE_LOOKUP:
		name, _, _ := CString(args)
		node := map[string]uint64{"f": 2, "d": 3, "l": 4}[string(name)]
		if node == 0 {
			return nil, syscall.ENOENT, true
		}
		e := probeEntry(node)
		return e.Append(nil, o), 0, true
	case FUSE_MKNOD, FUSE_LINK, FUSE_MKDIR, FUSE_SYMLINK, FUSE_CREATE, FUSE_TMPFILE:
		node := map[Opcode]uint64{FUSE_MKDIR: 6, FUSE_SYMLINK: 7}[h.Opcode]
		e := probeEntry(max(node, 5))
		b := e.Append(nil, o)
		if h.Opcode == FUSE_CREATE || h.Opcode == FUSE_TMPFILE {
			b = (&OpenOut{}).Append(b, o)
		}
		return b, 0, true
	case FUSE_GETATTR, FUSE_SETATTR:
		a := AttrOut{Attr: probeAttr(h.NodeID)}
		return a.Append(nil, o), 0, true
	case FUSE_STATX:
		a := probeAttr(h.NodeID)
		sx := StatxOut{Stat: Statx{Mask: statxBasicStats, Blksize: a.Blksize, Nlink: a.Nlink,
			Mode: uint16(a.Mode), Ino: a.Ino, Size: a.Size, Blocks: a.Blocks}}
		return sx.Append(nil, o), 0, true
	case FUSE_OPEN, FUSE_OPENDIR:
		return (&OpenOut{}).Append(nil, o), 0, true
	case FUSE_READ:
		var in ReadIn
		in.Unmarshal(args, o)
		if in.Offset >= 16 {
			return nil, 0, true
		}
		return bytes.Repeat([]byte{'x'}, int(min(in.Size, 16))), 0, true
	case FUSE_READDIR, FUSE_READDIRPLUS:
		return nil, 0, true
	case FUSE_READLINK:
		return []byte("f"), 0, true
	case FUSE_WRITE:
		var in WriteIn
		in.Unmarshal(args, o)
		return (&WriteOut{Size: in.Size}).Append(nil, o), 0, true
	case FUSE_COPY_FILE_RANGE, FUSE_COPY_FILE_RANGE_64:
		var in CopyFileRangeIn
		in.Unmarshal(args, o)
		if h.Opcode == FUSE_COPY_FILE_RANGE {
			return (&WriteOut{Size: uint32(in.Len)}).Append(nil, o), 0, true
		}
		return (&CopyFileRangeOut{BytesCopied: in.Len}).Append(nil, o), 0, true
	case FUSE_STATFS:
		st := StatfsOut{St: Kstatfs{Bsize: 4096, Namelen: 255, Frsize: 4096}}
		return st.Append(nil, o), 0, true
	case FUSE_GETXATTR, FUSE_LISTXATTR:
		var in GetxattrIn
		in.Unmarshal(args, o)
		if in.Size == 0 {
			return (&GetxattrOut{Size: 3}).Append(nil, o), 0, true
		}
		return []byte("ab\x00"), 0, true
	case FUSE_GETLK:
		return (&LkOut{Lk: FileLock{Type: syscall.F_UNLCK}}).Append(nil, o), 0, true
	case FUSE_LSEEK:
		var in LseekIn
		in.Unmarshal(args, o)
		return (&LseekOut{Offset: in.Offset}).Append(nil, o), 0, true
	case FUSE_POLL:
		return (&PollOut{Revents: 1}).Append(nil, o), 0, true
	case FUSE_BMAP:
		return (&BmapOut{}).Append(nil, o), 0, true
	case FUSE_IOCTL:
		// Exactly OutSize plus out_size: the file-attribute ioctls take
		// nothing shorter.
		var in IoctlIn
		in.Unmarshal(args, o)
		return append((&IoctlOut{}).Append(nil, o), make([]byte, in.OutSize)...), 0, true
	}
	return nil, 0, true
}

// serve answers requests until the device fails (the connection is aborted).
func (s *probeServer) serve() {
	buf := make([]byte, 1<<20)
	for {
		n, err := syscall.Read(s.fd, buf)
		if err == syscall.EINTR || err == syscall.ENOENT {
			continue
		}
		if err != nil {
			return
		}
		var h InHeader
		body, err := h.Unmarshal(buf[:n], NativeEndian)
		if err != nil {
			return
		}
		args, _, err := SplitExt(body, h.TotalExtlen)
		if err != nil {
			return
		}
		r := probeReq{op: h.Opcode, args: bytes.Clone(args), extlen: int(h.TotalExtlen)}
		out, errno, ok := s.reply(&h, args)
		if ok {
			oh := OutHeader{Len: uint32(OutHeaderSize + len(out)), Error: -int32(errno), Unique: h.Unique}
			_, r.replyErr = syscall.Write(s.fd, append(oh.Append(nil, NativeEndian), out...))
			r.replied, r.errno, r.replyLen = true, errno, len(out)
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		s.mu.Unlock()
	}
}

// fuseConnection returns the name of the connection of the FUSE mount at
// mnt in /sys/fs/fuse/connections: its device minor, from mountinfo.
func fuseConnection(mnt string) (string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == mnt {
			if major, minor, ok := strings.Cut(f[2], ":"); ok && major == "0" {
				return minor, nil
			}
		}
	}
	return "", fmt.Errorf("no FUSE mount at %s in mountinfo", mnt)
}

// TestOpTableMatchesKernelRequests mounts the probe server, runs a syscall
// per operation against it and checks every request the running kernel
// sent against the opcode table: extensions only where InExt, the fixed
// part InSize long, then InNames NUL-terminated names and nothing else
// unless InData. Each reply has the table's OutSize (or less for OutVar),
// so the kernel accepting it confirms OutSize and OutVar.
func TestOpTableMatchesKernelRequests(t *testing.T) {
	testenv.RequireFUSE(t)
	mnt := t.TempDir()
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := &probeServer{fd: int(f.Fd())}
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0", s.fd)
	if err := syscall.Mount("fusectl-abi", mnt, "fuse.fusectl-abi", syscall.MS_NODEV|syscall.MS_NOSUID, opts); err != nil {
		f.Close()
		t.Fatalf("mount: %v", err)
	}
	testenv.UnmountOnInterrupt(t, mnt)
	done := make(chan struct{})
	go func() { defer close(done); s.serve() }()
	conn, err := fuseConnection(mnt)
	if err != nil {
		t.Error(err)
	}
	// Closing the device does not end a read blocked on it; aborting the
	// connection does, and fails any caller waiting for a reply.
	abort := func() {
		if conn == "" {
			return
		}
		const ctl = "/sys/fs/fuse/connections"
		var st syscall.Statfs_t
		if syscall.Statfs(ctl, &st) == nil && st.Type != 0x65735543 /* fusectl */ {
			// Not mounted (systemd usually mounts it): mount it for the
			// abort and put things back.
			if err := syscall.Mount("fusectl", ctl, "fusectl", 0, ""); err == nil {
				defer syscall.Unmount(ctl, syscall.MNT_DETACH)
			}
		}
		os.WriteFile(filepath.Join(ctl, conn, "abort"), []byte("1"), 0)
	}
	watchdog := time.AfterFunc(time.Minute, abort)
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			if !watchdog.Stop() {
				t.Error("workload hung; the connection was aborted")
			}
			if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount: %v", err)
			}
			abort()
			<-done
			f.Close()
		})
	}
	t.Cleanup(stop)

	p := func(name string) string { return filepath.Join(mnt, name) }
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	raw := func(trap uintptr, a ...uintptr) error {
		a = append(a, 0, 0, 0, 0, 0, 0)
		if _, _, e := syscall.Syscall6(trap, a[0], a[1], a[2], a[3], a[4], a[5]); e != 0 {
			return e
		}
		return nil
	}
	cstr := func(s string) uintptr { b, _ := syscall.BytePtrFromString(s); return uintptr(unsafe.Pointer(b)) }

	var st syscall.Stat_t
	must("stat", syscall.Stat(p("f"), &st))
	must("lstat", syscall.Lstat(p("l"), &st))
	_, err = os.Readlink(p("l"))
	must("readlink", err)
	_, err = os.ReadDir(mnt)
	must("readdir", err)
	var sfs syscall.Statfs_t
	must("statfs", syscall.Statfs(mnt, &sfs))
	must("access", syscall.Access(p("f"), 4))
	must("mkdir", syscall.Mkdir(p("newd"), 0o755))
	must("mknod", syscall.Mknod(p("newn"), syscall.S_IFREG|0o644, 0))
	must("symlink", syscall.Symlink("target", p("news")))
	must("link", syscall.Link(p("f"), p("newl")))
	must("rename", syscall.Rename(p("f"), p("newr")))
	must("renameat2", raw(sysRenameat2, uintptr(^uint(99)), cstr(p("f")), uintptr(^uint(99)), cstr(p("newq")), renameNoreplace))
	must("unlink", syscall.Unlink(p("f")))
	must("rmdir", syscall.Rmdir(p("d")))
	if fd, err := syscall.Open(p("newc"), syscall.O_CREAT|syscall.O_EXCL|syscall.O_RDWR, 0o644); err != nil {
		t.Errorf("create: %v", err)
	} else {
		syscall.Close(fd)
	}
	if fd, err := syscall.Open(mnt, oTmpfile|syscall.O_RDWR, 0o600); err != nil {
		t.Errorf("tmpfile: %v", err)
	} else {
		syscall.Close(fd)
	}
	if fd, err := syscall.Open(mnt, syscall.O_RDONLY|syscall.O_DIRECTORY, 0); err != nil {
		t.Errorf("opendir: %v", err)
	} else {
		must("fsyncdir", syscall.Fsync(fd))
		syscall.Close(fd)
	}
	if fd, err := syscall.Open(p("f"), syscall.O_RDWR, 0); err != nil {
		t.Errorf("open: %v", err)
	} else {
		_, err := syscall.Write(fd, []byte("hello"))
		must("write", err)
		_, err = syscall.Pread(fd, make([]byte, 100), 0)
		must("read", err)
		must("fsync", syscall.Fsync(fd))
		must("fallocate", syscall.Fallocate(fd, 0, 0, 100))
		_, err = syscall.Seek(fd, 0, seekData)
		must("lseek", err)
		lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0}
		must("setlk", syscall.FcntlFlock(uintptr(fd), syscall.F_SETLK, &lk))
		must("getlk", syscall.FcntlFlock(uintptr(fd), syscall.F_GETLK, &lk))
		must("flock", syscall.Flock(fd, syscall.LOCK_EX))
		must("ftruncate", syscall.Ftruncate(fd, 10))
		var attrFlags int32
		must("FS_IOC_GETFLAGS", raw(syscall.SYS_IOCTL, uintptr(fd), fsIocGetflags, uintptr(unsafe.Pointer(&attrFlags))))
		offIn, offOut := int64(0), int64(100)
		must("copy_file_range", raw(sysCopyFileRange, uintptr(fd), uintptr(unsafe.Pointer(&offIn)),
			uintptr(fd), uintptr(unsafe.Pointer(&offOut)), 5, 0))
		must("close", syscall.Close(fd))
	}
	must("setxattr", syscall.Setxattr(p("f"), "user.x", []byte("ab"), 0))
	_, err = syscall.Getxattr(p("f"), "user.x", nil)
	must("getxattr size", err)
	_, err = syscall.Getxattr(p("f"), "user.x", make([]byte, 64))
	must("getxattr", err)
	_, err = syscall.Listxattr(p("f"), make([]byte, 64))
	must("listxattr", err)
	must("removexattr", syscall.Removexattr(p("f"), "user.x"))
	var sx [256]byte
	must("statx", raw(sysStatx, uintptr(^uint(99)), cstr(p("f")), atStatxForceSync, statxBasicStats|statxBtime,
		uintptr(unsafe.Pointer(&sx[0]))))

	// Stop the server first, so that every request and the kernel's
	// verdict on every reply are recorded.
	stop()
	s.mu.Lock()
	reqs := slices.Clone(s.reqs)
	s.mu.Unlock()
	seen := map[Opcode]bool{}
	for _, r := range reqs {
		seen[r.op] = true
		info := r.op.Info()
		if info == nil {
			t.Errorf("kernel sent unknown %v", r.op)
			continue
		}
		if r.extlen != 0 && !info.InExt {
			t.Errorf("%v carries %d bytes of extensions, InExt false", r.op, 8*r.extlen)
		}
		if len(r.args) < info.InSize {
			t.Errorf("%v: %d argument bytes, InSize %d", r.op, len(r.args), info.InSize)
			continue
		}
		tail := r.args[info.InSize:]
		switch {
		case info.InNames > 0 && !info.InData:
			if bytes.Count(tail, []byte{0}) != info.InNames || !bytes.HasSuffix(tail, []byte{0}) {
				t.Errorf("%v: %q after the fixed part, want %d names", r.op, tail, info.InNames)
			}
		case info.InNames == 0 && !info.InData && len(tail) != 0:
			t.Errorf("%v: %d argument bytes, InSize %d and no names or data", r.op, len(r.args), info.InSize)
		}
		if r.replied && r.errno == 0 && !info.OutVar && r.replyLen != info.OutSize {
			t.Errorf("%v: replied %d bytes, OutSize %d", r.op, r.replyLen, info.OutSize)
		}
		if r.replyErr != nil {
			t.Errorf("%v: kernel rejected a reply of %d bytes (OutSize %d, OutVar %v): %v",
				r.op, r.replyLen, info.OutSize, info.OutVar, r.replyErr)
		}
	}
	for _, op := range []Opcode{FUSE_INIT, FUSE_LOOKUP, FUSE_GETATTR, FUSE_SETATTR, FUSE_READLINK,
		FUSE_SYMLINK, FUSE_MKNOD, FUSE_MKDIR, FUSE_UNLINK, FUSE_RMDIR, FUSE_RENAME, FUSE_LINK,
		FUSE_OPEN, FUSE_READ, FUSE_WRITE, FUSE_STATFS, FUSE_FSYNC, FUSE_SETXATTR, FUSE_GETXATTR,
		FUSE_LISTXATTR, FUSE_REMOVEXATTR, FUSE_FLUSH, FUSE_OPENDIR, FUSE_READDIR, FUSE_FSYNCDIR,
		FUSE_GETLK, FUSE_SETLK, FUSE_ACCESS, FUSE_CREATE, FUSE_FALLOCATE, FUSE_RENAME2, FUSE_LSEEK,
		FUSE_TMPFILE, FUSE_STATX, FUSE_COPY_FILE_RANGE_64, FUSE_IOCTL} {
		if !seen[op] {
			t.Errorf("kernel sent no %v", op)
		}
	}
	for _, op := range []Opcode{FUSE_SYMLINK, FUSE_MKNOD, FUSE_MKDIR, FUSE_CREATE, FUSE_TMPFILE} {
		if !slices.ContainsFunc(reqs, func(r probeReq) bool { return r.op == op && r.extlen > 0 }) {
			t.Errorf("%v carried no extension though FUSE_SECURITY_CTX was accepted", op)
		}
	}
}
