package decodetest

import (
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
)

// Open flags used in the sessions (asm-generic values).
const (
	oRDONLY    = 0
	oWRONLY    = 1
	oRDWR      = 2
	oCREAT     = 0o100
	oLARGEFILE = 0o100000
)

// serverFlags is what the built sessions' server accepts at the newest
// minor; older minors drop the flags they did not know.
func serverFlags(minor uint32) abi.InitFlags {
	f := abi.FUSE_ASYNC_READ | abi.FUSE_POSIX_LOCKS | abi.FUSE_BIG_WRITES | abi.FUSE_EXPORT_SUPPORT
	if minor >= 12 {
		f |= abi.FUSE_DONT_MASK
	}
	if minor >= 21 {
		f |= abi.FUSE_DO_READDIRPLUS
	}
	if minor >= 28 {
		f |= abi.FUSE_MAX_PAGES
	}
	if minor >= 33 {
		f |= abi.FUSE_SETXATTR_EXT
	}
	if minor >= 36 {
		f |= abi.FUSE_INIT_EXT
	}
	if minor >= 38 {
		f |= abi.FUSE_SECURITY_CTX | abi.FUSE_CREATE_SUPP_GROUP
	}
	return f
}

// Init encodes the INIT exchange of a kernel offering its defaults and a
// server replying with minor, as libfuse sizes it; flags marks both
// records (capture.FlagSynthesized for a capture started mid-session).
// It returns the negotiated flags.
func (b *Builder) Init(minor uint32, flags capture.Flags) abi.InitFlags {
	kernelMinor := uint32(abi.FUSE_KERNEL_MINOR_VERSION)
	if minor < 36 {
		// An old kernel, as old servers ran on: its 16-byte init_in.
		kernelMinor = minor
	}
	in := abi.InitIn{Major: 7, Minor: kernelMinor, MaxReadahead: 131072}
	offered := abi.DefaultInitFlags
	if kernelMinor < 36 {
		offered &= 1<<30 - 1
	}
	in.SetInitFlags(offered)
	b.unique += 2
	u := b.RequestHdr(abi.InHeader{Opcode: abi.FUSE_INIT, Unique: b.unique}, flags,
		Prefix{&in, abi.InitInSize(kernelMinor)})
	neg := serverFlags(minor) & offered
	out := abi.InitOut{Major: 7, Minor: minor, MaxReadahead: 131072, MaxBackground: 12,
		CongestionThreshold: 9, MaxWrite: 131072, TimeGran: 1, MaxPages: 32}
	out.SetInitFlags(neg)
	b.ReplyFlags(u, 0, flags, Prefix{&out, abi.InitOutSize(minor)})
	return neg
}

// ext returns request extensions for the negotiated flags: a security
// context (SELinux-style) and one supplementary group.
func (b *Builder) ext(neg abi.InitFlags) []byte {
	o := b.order()
	var ext []byte
	if neg&abi.FUSE_SECURITY_CTX != 0 {
		val := []byte("system_u:object_r:fusefs_t:s0\x00")
		name := "security.selinux\x00"
		body := (&abi.Secctx{Size: uint32(len(val))}).Append(nil, o)
		body = append(body, name...)
		body = append(body, val...)
		for len(body)%8 != 0 {
			body = append(body, 0)
		}
		ext = (&abi.SecctxHeader{Size: uint32(8 + len(body)), NrSecctx: 1}).Append(ext, o)
		ext = append(ext, body...)
	}
	if neg&abi.FUSE_CREATE_SUPP_GROUP != 0 {
		g := (&abi.SuppGroups{NrGroups: 1}).Append(nil, o)
		g = o.AppendUint32(g, 100)
		ext = abi.AppendExt(ext, abi.FUSE_EXT_GROUPS, g, o)
	}
	return ext
}

// create sends a creating request, with extensions when negotiated.
func (b *Builder) create(neg abi.InitFlags, minor uint32, op abi.Opcode, nodeid uint64, args ...any) uint64 {
	if minor >= 38 {
		if ext := b.ext(neg); len(ext) > 0 {
			return b.RequestExt(op, nodeid, ext, args...)
		}
	}
	return b.Request(op, nodeid, args...)
}

// AllOps encodes a session at the given negotiated minor with a request
// and reply (or notification) of every opcode and notify code that minor
// knows, each struct at that minor's size, plus errors, an interrupt, a
// resend, an unknown opcode and an unknown notify code. Node IDs: 1 root,
// 2 /dir, 3 /dir/a.txt, 4 /dir/link, 5 /dir/fifo, 6 /dir/sub,
// 7 /dir/sub/new.txt, 8 /dir/b.txt, 9 a tmpfile.
func AllOps(b *Builder, minor uint32) {
	o := b.order()
	has := func(op abi.Opcode) bool { return op.Info() != nil && op.Info().Minor <= minor }
	hasN := func(c abi.NotifyCode) bool { return c.Info() != nil && c.Info().Minor <= minor }
	entryN := abi.EntryOutSize(minor)
	neg := b.Init(minor, 0)

	u := b.Request(abi.FUSE_LOOKUP, 1, Name("dir"))
	b.Reply(u, 0, Prefix{Entry(2, 4096, true), entryN})
	u = b.Request(abi.FUSE_LOOKUP, 2, Name("a.txt"))
	b.Reply(u, 0, Prefix{Entry(3, 6, false), entryN})
	u = b.Request(abi.FUSE_LOOKUP, 1, Name("missing"))
	b.Reply(u, abi.Errno(2))

	u = b.getattr(minor, 3)
	ao := &abi.AttrOut{AttrValid: 1, Attr: Attr(3, 6, false)}
	b.Reply(u, 0, Prefix{ao, abi.AttrOutSize(minor)})
	u = b.Request(abi.FUSE_SETATTR, 3, &abi.SetattrIn{Valid: abi.FATTR_MODE | abi.FATTR_SIZE | abi.FATTR_FH, Fh: 1, Size: 6, Mode: 0o100600})
	b.Reply(u, 0, Prefix{ao, abi.AttrOutSize(minor)})

	u = b.create(neg, minor, abi.FUSE_SYMLINK, 2, Name("link"), Name("a.txt"))
	lnk := Entry(4, 5, false)
	lnk.Attr.Mode = 0o120777
	b.Reply(u, 0, Prefix{lnk, entryN})
	u = b.Request(abi.FUSE_READLINK, 4)
	b.Reply(u, 0, Raw("a.txt"))

	u = b.create(neg, minor, abi.FUSE_MKNOD, 2, Prefix{&abi.MknodIn{Mode: 0o10644, Umask: 0o22}, abi.MknodInSize(minor)}, Name("fifo"))
	fifo := Entry(5, 0, false)
	fifo.Attr.Mode = 0o10644
	b.Reply(u, 0, Prefix{fifo, entryN})
	u = b.create(neg, minor, abi.FUSE_MKDIR, 2, &abi.MkdirIn{Mode: 0o755, Umask: 0o22}, Name("sub"))
	b.Reply(u, 0, Prefix{Entry(6, 4096, true), entryN})
	if has(abi.FUSE_CREATE) {
		u = b.create(neg, minor, abi.FUSE_CREATE, 6, Prefix{&abi.CreateIn{Flags: oWRONLY | oCREAT | oLARGEFILE, Mode: 0o100644, Umask: 0o22}, abi.CreateInSize(minor)}, Name("new.txt"))
		b.Reply(u, 0, Prefix{Entry(7, 0, false), entryN}, &abi.OpenOut{Fh: 3})
	}

	u = b.Request(abi.FUSE_OPEN, 3, &abi.OpenIn{Flags: oRDONLY | oLARGEFILE})
	b.Reply(u, 0, &abi.OpenOut{Fh: 1, OpenFlags: abi.FOPEN_KEEP_CACHE})
	readN := 40
	if minor < 9 {
		readN = 24
	}
	u = b.Request(abi.FUSE_READ, 3, Prefix{&abi.ReadIn{Fh: 1, Size: 4096, Flags: oRDONLY | oLARGEFILE}, readN})
	b.Reply(u, 0, Raw("hello\n"))
	u = b.Request(abi.FUSE_WRITE, 7, Prefix{&abi.WriteIn{Fh: 3, Size: 6, Flags: oWRONLY | oLARGEFILE}, abi.WriteInSize(minor)}, Raw("world\n"))
	b.Reply(u, 0, &abi.WriteOut{Size: 6})
	u = b.Request(abi.FUSE_STATFS, 1)
	b.Reply(u, 0, Prefix{&abi.StatfsOut{St: abi.Kstatfs{Blocks: 1000, Bfree: 500, Bavail: 400, Files: 100, Ffree: 50, Bsize: 4096, Namelen: 255, Frsize: 4096}}, abi.StatfsOutSize(minor)})
	u = b.Request(abi.FUSE_FLUSH, 3, &abi.FlushIn{Fh: 1, LockOwner: 0xabc})
	b.Reply(u, 0)
	u = b.Request(abi.FUSE_FSYNC, 7, &abi.FsyncIn{Fh: 3, FsyncFlags: abi.FUSE_FSYNC_FDATASYNC})
	b.Reply(u, 0)

	u = b.Request(abi.FUSE_SETXATTR, 3, Prefix{&abi.SetxattrIn{Size: 2, Flags: 1}, abi.SetxattrInSize(neg)}, Name("user.k"), Raw("v1"))
	b.Reply(u, 0)
	u = b.Request(abi.FUSE_GETXATTR, 3, &abi.GetxattrIn{}, Name("user.k"))
	b.Reply(u, 0, &abi.GetxattrOut{Size: 2})
	u = b.Request(abi.FUSE_GETXATTR, 3, &abi.GetxattrIn{Size: 64}, Name("user.k"))
	b.Reply(u, 0, Raw("v1"))
	u = b.Request(abi.FUSE_GETXATTR, 3, &abi.GetxattrIn{Size: 64}, Name("user.none"))
	b.Reply(u, abi.Errno(61)) // ENODATA
	u = b.Request(abi.FUSE_LISTXATTR, 3, &abi.GetxattrIn{})
	b.Reply(u, 0, &abi.GetxattrOut{Size: 14})
	u = b.Request(abi.FUSE_LISTXATTR, 3, &abi.GetxattrIn{Size: 64})
	b.Reply(u, 0, Raw("user.k\x00user.j\x00"))
	u = b.Request(abi.FUSE_REMOVEXATTR, 3, Name("user.k"))
	b.Reply(u, 0)

	u = b.Request(abi.FUSE_OPENDIR, 2, &abi.OpenIn{Flags: oRDONLY | oLARGEFILE | 0o200000})
	b.Reply(u, 0, &abi.OpenOut{Fh: 2, OpenFlags: abi.FOPEN_CACHE_DIR})
	u = b.Request(abi.FUSE_READDIR, 2, Prefix{&abi.ReadIn{Fh: 2, Size: 4096}, readN})
	b.Reply(u, 0, Dirents(o, 2, ".", "..", "a.txt", "link"))
	if has(abi.FUSE_READDIRPLUS) {
		u = b.Request(abi.FUSE_READDIRPLUS, 2, &abi.ReadIn{Fh: 2, Size: 4096})
		b.Reply(u, 0, Direntplus(o, 3, "a.txt", "b.txt"))
	}
	u = b.Request(abi.FUSE_RELEASEDIR, 2, &abi.ReleaseIn{Fh: 2})
	b.Reply(u, 0)
	if has(abi.FUSE_FSYNCDIR) {
		u = b.Request(abi.FUSE_FSYNCDIR, 2, &abi.FsyncIn{Fh: 2})
		b.Reply(u, 0)
	}

	if has(abi.FUSE_GETLK) {
		lk := abi.LkIn{Fh: 1, Owner: 0xabc, Lk: abi.FileLock{Start: 0, End: 1<<63 - 1, Type: 1, PID: 4242}}
		u = b.Request(abi.FUSE_GETLK, 3, &lk)
		b.Reply(u, 0, &abi.LkOut{Lk: abi.FileLock{Type: 2}})
		u = b.Request(abi.FUSE_SETLK, 3, &lk)
		b.Reply(u, 0)
		// A blocking lock, interrupted: the server asks to retry the
		// interrupt (EAGAIN), then answers the lock with EINTR.
		u = b.Request(abi.FUSE_SETLKW, 3, &lk)
		iu := b.RequestHdr(abi.InHeader{Opcode: abi.FUSE_INTERRUPT, Unique: u | 1}, 0, &abi.InterruptIn{Unique: u})
		b.Reply(iu, abi.Errno(11)) // EAGAIN
		b.Reply(u, abi.Errno(4))   // EINTR
	}
	if has(abi.FUSE_ACCESS) {
		u = b.Request(abi.FUSE_ACCESS, 3, &abi.AccessIn{Mask: 6})
		b.Reply(u, abi.Errno(13)) // EACCES
	}
	if has(abi.FUSE_BMAP) {
		u = b.Request(abi.FUSE_BMAP, 3, &abi.BmapIn{Block: 7, Blocksize: 4096})
		b.Reply(u, 0, &abi.BmapOut{Block: 1234})
	}
	if has(abi.FUSE_IOCTL) {
		u = b.Request(abi.FUSE_IOCTL, 3, &abi.IoctlIn{Fh: 1, Cmd: 0x80086601, Arg: 0x7ffd0000, InSize: 4, OutSize: 8}, Raw{1, 2, 3, 4})
		b.Reply(u, 0, &abi.IoctlOut{Result: 0}, Raw{9, 8, 7, 6, 5, 4, 3, 2})
		u = b.Request(abi.FUSE_IOCTL, 3, &abi.IoctlIn{Fh: 1, Flags: abi.FUSE_IOCTL_UNRESTRICTED, Cmd: 0x5401, Arg: 0x7ffd1000})
		b.Reply(u, 0, &abi.IoctlOut{Flags: abi.FUSE_IOCTL_RETRY, InIovs: 1, OutIovs: 1},
			&abi.IoctlIovec{Base: 0x7ffd1000, Len: 16}, &abi.IoctlIovec{Base: 0x7ffd2000, Len: 32})
	}
	if has(abi.FUSE_POLL) {
		u = b.Request(abi.FUSE_POLL, 3, &abi.PollIn{Fh: 1, Kh: 77, Flags: abi.FUSE_POLL_SCHEDULE_NOTIFY, Events: 1})
		b.Reply(u, 0, &abi.PollOut{Revents: 1})
	}
	if hasN(abi.FUSE_NOTIFY_RETRIEVE) {
		b.Notify(abi.FUSE_NOTIFY_RETRIEVE, &abi.NotifyRetrieveOut{NotifyUnique: 1001, NodeID: 3, Offset: 0, Size: 6})
		b.RequestHdr(abi.InHeader{Opcode: abi.FUSE_NOTIFY_REPLY, Unique: 1001, NodeID: 3}, 0, &abi.NotifyRetrieveIn{Offset: 0, Size: 6}, Raw("hello\n"))
	}
	if has(abi.FUSE_FALLOCATE) {
		u = b.Request(abi.FUSE_FALLOCATE, 7, &abi.FallocateIn{Fh: 3, Offset: 0, Length: 8192, Mode: 1})
		b.Reply(u, 0)
	}

	u = b.Request(abi.FUSE_RENAME, 2, &abi.RenameIn{NewDir: 6}, Name("a.txt"), Name("a2.txt"))
	b.Reply(u, 0)
	u = b.getattr(minor, 3)
	b.Reply(u, 0, Prefix{ao, abi.AttrOutSize(minor)})
	if has(abi.FUSE_RENAME2) {
		u = b.Request(abi.FUSE_RENAME2, 6, &abi.Rename2In{NewDir: 2, Flags: 1}, Name("a2.txt"), Name("a.txt"))
		b.Reply(u, 0)
	}
	u = b.Request(abi.FUSE_LINK, 6, &abi.LinkIn{OldNodeID: 3}, Name("hard"))
	b.Reply(u, 0, Prefix{Entry(3, 6, false), entryN})
	if has(abi.FUSE_LSEEK) {
		u = b.Request(abi.FUSE_LSEEK, 3, &abi.LseekIn{Fh: 1, Offset: 2, Whence: 3})
		b.Reply(u, 0, &abi.LseekOut{Offset: 2})
	}
	if has(abi.FUSE_COPY_FILE_RANGE_64) {
		u = b.Request(abi.FUSE_COPY_FILE_RANGE_64, 3, &abi.CopyFileRangeIn{FhIn: 1, NodeIDOut: 7, FhOut: 3, Len: 6})
		b.Reply(u, abi.Errno(38)) // ENOSYS: the kernel falls back
	}
	if has(abi.FUSE_COPY_FILE_RANGE) {
		u = b.Request(abi.FUSE_COPY_FILE_RANGE, 3, &abi.CopyFileRangeIn{FhIn: 1, NodeIDOut: 7, FhOut: 3, Len: 6})
		b.Reply(u, 0, &abi.WriteOut{Size: 6})
	}
	if has(abi.FUSE_COPY_FILE_RANGE_64) {
		u = b.Request(abi.FUSE_COPY_FILE_RANGE_64, 3, &abi.CopyFileRangeIn{FhIn: 1, OffIn: 6, NodeIDOut: 7, FhOut: 3, OffOut: 6, Len: 1 << 33})
		b.Reply(u, 0, &abi.CopyFileRangeOut{BytesCopied: 1 << 32})
	}
	if has(abi.FUSE_SETUPMAPPING) {
		u = b.Request(abi.FUSE_SETUPMAPPING, 3, &abi.SetupmappingIn{Fh: 1, Len: 2 << 20, Flags: abi.FUSE_SETUPMAPPING_FLAG_READ, Moffset: 4 << 20})
		b.Reply(u, 0)
		u = b.Request(abi.FUSE_REMOVEMAPPING, 3, &abi.RemovemappingIn{Count: 2},
			&abi.RemovemappingOne{Moffset: 4 << 20, Len: 2 << 20}, &abi.RemovemappingOne{Moffset: 8 << 20, Len: 2 << 20})
		b.Reply(u, 0)
	}
	if has(abi.FUSE_SYNCFS) {
		u = b.Request(abi.FUSE_SYNCFS, 1, &abi.SyncfsIn{})
		b.Reply(u, 0)
	}
	if has(abi.FUSE_TMPFILE) {
		u = b.create(neg, minor, abi.FUSE_TMPFILE, 6, &abi.CreateIn{Flags: oRDWR | oLARGEFILE, Mode: 0o100600, Umask: 0o22}, Name("/"))
		b.Reply(u, 0, Entry(9, 0, false), &abi.OpenOut{Fh: 4})
	}
	if has(abi.FUSE_STATX) {
		u = b.Request(abi.FUSE_STATX, 3, &abi.StatxIn{SxMask: 0xfff})
		b.Reply(u, 0, &abi.StatxOut{AttrValid: 1, Stat: abi.Statx{Mask: 0xfff, Blksize: 4096, Nlink: 2, UID: 1000, GID: 1000,
			Mode: 0o100644, Ino: 3, Size: 6, Blocks: 8, Mtime: abi.SxTime{TvSec: 1767355200, TvNsec: 5}}})
	}
	if has(abi.FUSE_CREATE) {
		u = b.Request(abi.FUSE_UNLINK, 6, Name("new.txt"))
		b.Reply(u, 0)
	}
	u = b.Request(abi.FUSE_RMDIR, 2, Name("sub"))
	b.Reply(u, abi.Errno(39)) // ENOTEMPTY
	u = b.Request(abi.FUSE_RELEASE, 3, &abi.ReleaseIn{Fh: 1, Flags: oRDONLY | oLARGEFILE})
	b.Reply(u, 0)
	b.Request(abi.FUSE_FORGET, 7, &abi.ForgetIn{Nlookup: 1})
	if has(abi.FUSE_BATCH_FORGET) {
		b.unique += 2
		b.RequestHdr(abi.InHeader{Opcode: abi.FUSE_BATCH_FORGET, Unique: b.unique}, 0, &abi.BatchForgetIn{Count: 2},
			&abi.ForgetOne{NodeID: 5, Nlookup: 1}, &abi.ForgetOne{NodeID: 4, Nlookup: 1})
	}

	// Notifications, every code this minor knows.
	if hasN(abi.FUSE_NOTIFY_POLL) {
		b.Notify(abi.FUSE_NOTIFY_POLL, &abi.NotifyPollWakeupOut{Kh: 77})
	}
	if hasN(abi.FUSE_NOTIFY_INVAL_INODE) {
		b.Notify(abi.FUSE_NOTIFY_INVAL_INODE, &abi.NotifyInvalInodeOut{Ino: 3, Off: 0, Len: -1})
		b.Notify(abi.FUSE_NOTIFY_INVAL_ENTRY, &abi.NotifyInvalEntryOut{Parent: 2, Namelen: 4}, Name("link"))
	}
	if hasN(abi.FUSE_NOTIFY_STORE) {
		b.Notify(abi.FUSE_NOTIFY_STORE, &abi.NotifyStoreOut{NodeID: 3, Offset: 0, Size: 6}, Raw("hello\n"))
	}
	if hasN(abi.FUSE_NOTIFY_DELETE) {
		b.Notify(abi.FUSE_NOTIFY_DELETE, &abi.NotifyDeleteOut{Parent: 2, Child: 8, Namelen: 5}, Name("b.txt"))
	}
	if hasN(abi.FUSE_NOTIFY_RESEND) {
		// The server asks for its unanswered requests again: the kernel
		// re-queues them with bit 63 set, the reply echoes it.
		u = b.Request(abi.FUSE_GETATTR, 3, &abi.GetattrIn{})
		b.Notify(abi.FUSE_NOTIFY_RESEND)
		b.RequestHdr(abi.InHeader{Opcode: abi.FUSE_GETATTR, Unique: u | abi.FUSE_UNIQUE_RESEND, NodeID: 3, UID: b.UID, GID: b.GID, PID: b.PID}, 0, &abi.GetattrIn{})
		b.Reply(u|abi.FUSE_UNIQUE_RESEND, 0, ao)
	}
	if hasN(abi.FUSE_NOTIFY_INC_EPOCH) {
		b.Notify(abi.FUSE_NOTIFY_INC_EPOCH)
	}
	if hasN(abi.FUSE_NOTIFY_PRUNE) {
		b.Notify(abi.FUSE_NOTIFY_PRUNE, &abi.NotifyPruneOut{Count: 2}, Raw(o.AppendUint64(o.AppendUint64(nil, 3), 2)))
	}

	// Unknown opcode and notify code decode generically.
	u = b.Request(abi.Opcode(99), 3, Raw{0xde, 0xad, 0xbe, 0xef})
	b.Reply(u, 0, Raw{1, 2})
	b.Notify(abi.NotifyCode(12), Raw{0xca, 0xfe})
	if has(abi.FUSE_DESTROY) {
		u = b.Request(abi.FUSE_DESTROY, 0)
		b.Reply(u, 0)
	}
}

// getattr sends GETATTR, without argument before 7.9.
func (b *Builder) getattr(minor uint32, nodeid uint64) uint64 {
	if minor >= 9 {
		return b.Request(abi.FUSE_GETATTR, nodeid, &abi.GetattrIn{})
	}
	return b.Request(abi.FUSE_GETATTR, nodeid)
}

// Cuse encodes a CUSE session's INIT.
func Cuse(b *Builder) {
	u := b.Request(abi.CUSE_INIT, 0, &abi.CuseInitIn{Major: 7, Minor: 45, Flags: abi.CUSE_UNRESTRICTED_IOCTL})
	b.Reply(u, 0, &abi.CuseInitOut{Major: 7, Minor: 45, Flags: abi.CUSE_UNRESTRICTED_IOCTL, MaxRead: 65536, MaxWrite: 65536, DevMajor: 10, DevMinor: 200},
		Raw("DEVNAME=mydev\x00"))
}

// Malformed encodes messages that break the protocol in different ways,
// after a normal INIT.
func Malformed(b *Builder) {
	o := b.order()
	b.Init(45, 0)
	// A name without its NUL.
	u := b.Request(abi.FUSE_LOOKUP, 1, Raw("abc"))
	b.Reply(u, abi.Errno(2))
	// An error reply with a body.
	u = b.Request(abi.FUSE_GETATTR, 1, &abi.GetattrIn{})
	b.Reply(u, abi.Errno(5), Raw{1, 2, 3, 4, 5, 6, 7, 8})
	// A short entry reply.
	u = b.Request(abi.FUSE_LOOKUP, 1, Name("x"))
	b.Reply(u, 0, Raw(make([]byte, 40)))
	// A dirent with an empty name, which the kernel fails with EIO.
	u = b.Request(abi.FUSE_READDIR, 1, &abi.ReadIn{Fh: 1, Size: 4096})
	bad := abi.AppendDirent(nil, abi.Dirent{Ino: 1, Off: 1, Namelen: 1, Type: 4}, ".", o)
	bad = (&abi.Dirent{Ino: 2, Off: 2, Namelen: 0, Type: 8}).Append(bad, o)
	bad = append(bad, 'x', 0, 0, 0, 0, 0, 0, 0)
	b.Reply(u, 0, Raw(bad))
	// Not malformed: a last dirent whose name runs past the reply, which
	// the kernel takes for the end of the listing. libfuse 2 cuts its
	// listings at any byte.
	u = b.Request(abi.FUSE_READDIR, 1, &abi.ReadIn{Fh: 1, Offset: 1, Size: 4096})
	cut := abi.AppendDirent(nil, abi.Dirent{Ino: 1, Off: 1, Namelen: 2, Type: 4}, "..", o)
	cut = (&abi.Dirent{Ino: 2, Off: 2, Namelen: 200, Type: 8}).Append(cut, o)
	cut = append(cut, 'x', 0, 0, 0, 0, 0, 0, 0)
	b.Reply(u, 0, Raw(cut))
	// An error out of range.
	u = b.Request(abi.FUSE_FLUSH, 1, &abi.FlushIn{Fh: 1})
	b.Reply(u, abi.Errno(600))
	// A header whose length lies.
	h := abi.InHeader{Len: 1000, Opcode: abi.FUSE_GETATTR, Unique: 9000, NodeID: 1}
	b.emit(capture.DirRequest, 0, append(h.Append(nil, o), make([]byte, 16)...))
	// A message shorter than a header.
	b.emit(capture.DirRequest, 0, []byte{1, 2, 3})
	// Too many BATCH_FORGET entries for the body.
	b.unique += 2
	b.RequestHdr(abi.InHeader{Opcode: abi.FUSE_BATCH_FORGET, Unique: b.unique}, 0, &abi.BatchForgetIn{Count: 5}, &abi.ForgetOne{NodeID: 2, Nlookup: 1})
	// A reply nobody asked for.
	b.Reply(123456, 0, Raw{1, 2, 3})
	// An INVAL_ENTRY whose name length is wrong.
	b.Notify(abi.FUSE_NOTIFY_INVAL_ENTRY, &abi.NotifyInvalEntryOut{Parent: 1, Namelen: 9}, Name("ab"))
}

// MidSession encodes a capture that attaches to a running mount: the
// synthesized INIT and LOOKUP pairs first, then live traffic, including a
// reply to a request sent before the capture began.
func MidSession(b *Builder) {
	b.unique = 1000
	b.Init(45, capture.FlagSynthesized)
	syn := func(parent uint64, name string, id uint64, dir bool) {
		b.unique += 2
		u := b.RequestHdr(abi.InHeader{Opcode: abi.FUSE_LOOKUP, Unique: b.unique, NodeID: parent}, capture.FlagSynthesized, Name(name))
		b.ReplyFlags(u, 0, capture.FlagSynthesized, Entry(id, 6, dir))
	}
	syn(1, "dir", 20, true)
	syn(20, "a.txt", 21, false)
	b.Reply(998, 0, &abi.AttrOut{AttrValid: 1, Attr: Attr(21, 6, false)})
	u := b.Request(abi.FUSE_GETATTR, 21, &abi.GetattrIn{})
	b.Reply(u, 0, &abi.AttrOut{AttrValid: 1, Attr: Attr(21, 6, false)})
	u = b.Request(abi.FUSE_OPEN, 21, &abi.OpenIn{Flags: oRDONLY})
	b.Reply(u, 0, &abi.OpenOut{Fh: 5})
	u = b.Request(abi.FUSE_READ, 21, &abi.ReadIn{Fh: 5, Size: 4096})
	b.Reply(u, 0, Data(6))
	b.Request(abi.FUSE_FORGET, 21, &abi.ForgetIn{Nlookup: 3})
	u = b.Request(abi.FUSE_GETATTR, 21, &abi.GetattrIn{})
	b.Reply(u, 0, &abi.AttrOut{AttrValid: 1, Attr: Attr(21, 6, false)})
}

// Realistic encodes the small session the command's tests decode: INIT,
// LOOKUP, GETATTR, OPEN, READ, READDIRPLUS, errors, an interrupt and
// notifications.
func Realistic(b *Builder) {
	o := b.order()
	b.Init(45, 0)
	u := b.Request(abi.FUSE_LOOKUP, 1, Name("dir"))
	b.Reply(u, 0, Entry(2, 4096, true))
	u = b.Request(abi.FUSE_LOOKUP, 2, Name("a.txt"))
	b.Reply(u, 0, Entry(3, 6, false))
	u = b.Request(abi.FUSE_GETATTR, 3, &abi.GetattrIn{})
	b.Reply(u, 0, &abi.AttrOut{AttrValid: 1, Attr: Attr(3, 6, false)})
	u = b.Request(abi.FUSE_OPEN, 3, &abi.OpenIn{Flags: oRDONLY | oLARGEFILE})
	b.Reply(u, 0, &abi.OpenOut{Fh: 1})
	u = b.Request(abi.FUSE_READ, 3, &abi.ReadIn{Fh: 1, Size: 4096, Flags: oRDONLY | oLARGEFILE})
	b.Now = b.Now.Add(2 * time.Millisecond) // a slow read
	b.Reply(u, 0, Raw("hello\n"))
	u = b.Request(abi.FUSE_LOOKUP, 2, Name("nope.txt"))
	b.Reply(u, abi.Errno(2))
	u = b.Request(abi.FUSE_OPENDIR, 2, &abi.OpenIn{Flags: oRDONLY | oLARGEFILE | 0o200000})
	b.Reply(u, 0, &abi.OpenOut{Fh: 2})
	u = b.Request(abi.FUSE_READDIRPLUS, 2, &abi.ReadIn{Fh: 2, Size: 4096})
	b.Reply(u, 0, Direntplus(o, 3, "a.txt", "b.txt"))
	u = b.Request(abi.FUSE_RELEASEDIR, 2, &abi.ReleaseIn{Fh: 2})
	b.Reply(u, 0)
	b.PID = 777
	u = b.Request(abi.FUSE_READ, 4, &abi.ReadIn{Fh: 1, Offset: 6, Size: 4096})
	iu := b.RequestHdr(abi.InHeader{Opcode: abi.FUSE_INTERRUPT, Unique: u | 1}, 0, &abi.InterruptIn{Unique: u})
	b.Reply(u, abi.Errno(4))
	_ = iu
	b.PID = 4242
	b.Notify(abi.FUSE_NOTIFY_INVAL_INODE, &abi.NotifyInvalInodeOut{Ino: 3, Off: 0, Len: -1})
	u = b.Request(abi.FUSE_RELEASE, 3, &abi.ReleaseIn{Fh: 1, Flags: oRDONLY | oLARGEFILE})
	b.Reply(u, 0)
	b.Notify(abi.FUSE_NOTIFY_DELETE, &abi.NotifyDeleteOut{Parent: 2, Child: 3, Namelen: 5}, Name("a.txt"))
}

// counting makes b count the messages it emits, into *count, until
// restore is called; they go where they went before (Emit, else Msgs).
func (b *Builder) counting() (count *int, restore func()) {
	count = new(int)
	b0 := b.Emit
	b.Emit = func(m Msg) {
		*count++
		if b0 != nil {
			b0(m)
			return
		}
		m.Data = append([]byte(nil), m.Data...)
		b.Msgs = append(b.Msgs, m)
	}
	return count, func() { b.Emit = b0 }
}

// Mixed emits n messages of a steady mixed workload over a bounded set of
// files: LOOKUP, GETATTR, OPEN, READ (256 bytes), RELEASE, an ENOENT
// LOOKUP, a READDIRPLUS of 8 entries and FORGETs, the proportions of a
// small-file read workload. It starts with INIT.
func Mixed(b *Builder, n int) {
	o := b.order()
	count, restore := b.counting()
	defer restore()
	b.Init(45, 0)
	names := make([]Name, 1000)
	for i := range names {
		names[i] = Name("file" + itoa(i) + ".txt")
	}
	dirents := Direntplus(o, 2, "file0.txt", "file1.txt", "file2.txt", "file3.txt", "file4.txt", "file5.txt", "file6.txt", "file7.txt")
	data := Data(256)
	readIn := &abi.ReadIn{Fh: 1, Size: 4096, Flags: oRDONLY | oLARGEFILE}
	for i := 0; *count < n; i++ {
		k := i % len(names)
		id := uint64(k + 2)
		u := b.Request(abi.FUSE_LOOKUP, 1, names[k])
		b.Reply(u, 0, Entry(id, 256, false))
		u = b.Request(abi.FUSE_GETATTR, id, &abi.GetattrIn{})
		b.Reply(u, 0, &abi.AttrOut{AttrValid: 1, Attr: Attr(id, 256, false)})
		u = b.Request(abi.FUSE_OPEN, id, &abi.OpenIn{Flags: oRDONLY | oLARGEFILE})
		b.Reply(u, 0, &abi.OpenOut{Fh: 1})
		readIn.Fh = 1
		u = b.Request(abi.FUSE_READ, id, readIn)
		b.Reply(u, 0, data)
		u = b.Request(abi.FUSE_RELEASE, id, &abi.ReleaseIn{Fh: 1})
		b.Reply(u, 0)
		if i%4 == 0 {
			u = b.Request(abi.FUSE_LOOKUP, 1, Name("missing.txt"))
			b.Reply(u, abi.Errno(2))
		}
		if i%16 == 0 {
			u = b.Request(abi.FUSE_READDIRPLUS, 1, readIn)
			b.Reply(u, 0, dirents)
		}
		if i%8 == 7 {
			b.Request(abi.FUSE_FORGET, id, &abi.ForgetIn{Nlookup: 1})
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var d [20]byte
	n := len(d)
	for i > 0 {
		n--
		d[n] = byte('0' + i%10)
		i /= 10
	}
	return string(d[n:])
}

// Hostile emits n messages that grow a naive decoder's state without
// bound: LOOKUPs of ever new nodes that are never forgotten, and GETATTRs
// that are never answered.
func Hostile(b *Builder, n int) {
	count, restore := b.counting()
	defer restore()
	b.Init(45, 0)
	for i := 0; *count < n; i++ {
		id := uint64(i + 2)
		u := b.Request(abi.FUSE_LOOKUP, 1, Name("file-with-a-longish-name-"+itoa(i)))
		b.Reply(u, 0, Entry(id, 1, false))
		if i%2 == 0 {
			b.Request(abi.FUSE_GETATTR, id, &abi.GetattrIn{})
		}
	}
}
