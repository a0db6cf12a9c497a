package decode

import (
	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
)

// emitter receives the decoded fields of a record in order; the text and
// the JSON form implement it, so that the two list the same fields.
type emitter interface {
	// uint, int and hex emit numbers (hex: shown as 0x... in text).
	uint(key string, v uint64)
	int(key string, v int64)
	hex(key string, v uint64)
	// flags emits a symbolic value: flag names, a whence or type name.
	flags(key string, kind flagKind, v uint64)
	// name emits a file or xattr name; text shows it quoted, without key
	// when positional.
	name(key string, v []byte, positional bool)
	// node emits a node ID; text shows nN, without key when positional.
	node(key string, id uint64, positional bool)
	// mode emits a file mode.
	mode(key string, v uint32)
	// ttl emits a validity (seconds and nanoseconds).
	ttl(key string, sec uint64, nsec uint32)
	// time emits a timestamp (seconds and nanoseconds since the epoch).
	time(key string, sec int64, nsec uint32)
	// data emits a payload, summarised unless the full form was asked.
	data(key string, v []byte)
	// open starts a nested object, close ends it.
	open(key string)
	close()
	// list starts a list of objects, item one object in it, endList ends it.
	list(key string)
	item()
	endItem()
	endList(more int)
}

// maxItems is how many list items the text form shows.
const maxItems = 8

// emitRequest emits the arguments of a request.
func emitRequest(e emitter, r *Record, text bool) {
	in := &r.In
	switch r.Op {
	case abi.FUSE_LOOKUP, abi.FUSE_UNLINK, abi.FUSE_RMDIR, abi.FUSE_REMOVEXATTR:
		e.name("name", r.Name, true)
	case abi.FUSE_FORGET:
		e.uint("nlookup", in.Forget.Nlookup)
	case abi.FUSE_GETATTR:
		if in.Getattr.GetattrFlags != 0 {
			e.flags("getattr_flags", kGetattr, uint64(in.Getattr.GetattrFlags))
			e.uint("fh", in.Getattr.Fh)
		}
	case abi.FUSE_SETATTR:
		emitSetattr(e, &in.Setattr)
	case abi.FUSE_SYMLINK:
		e.name("name", r.Name, true)
		e.name("target", r.Name2, false)
	case abi.FUSE_MKNOD:
		e.name("name", r.Name, true)
		e.mode("mode", in.Mknod.Mode)
		e.hex("rdev", uint64(in.Mknod.Rdev))
		e.mode("umask", in.Mknod.Umask)
	case abi.FUSE_MKDIR:
		e.name("name", r.Name, true)
		e.mode("mode", in.Mkdir.Mode)
		e.mode("umask", in.Mkdir.Umask)
	case abi.FUSE_RENAME:
		e.name("oldname", r.Name, true)
		e.node("newdir", in.Rename.NewDir, false)
		e.name("newname", r.Name2, false)
	case abi.FUSE_RENAME2:
		e.name("oldname", r.Name, true)
		e.node("newdir", in.Rename2.NewDir, false)
		e.name("newname", r.Name2, false)
		e.flags("flags", kRename, uint64(in.Rename2.Flags))
	case abi.FUSE_LINK:
		e.name("newname", r.Name, true)
		e.node("oldnodeid", in.Link.OldNodeID, false)
	case abi.FUSE_OPEN, abi.FUSE_OPENDIR:
		e.flags("flags", kOpen, uint64(in.Open.Flags))
		if in.Open.OpenFlags != 0 || !text {
			e.flags("open_flags", kOpenIn, uint64(in.Open.OpenFlags))
		}
	case abi.FUSE_READ, abi.FUSE_READDIR, abi.FUSE_READDIRPLUS:
		rd := &in.Read
		e.uint("fh", rd.Fh)
		e.uint("offset", rd.Offset)
		e.uint("size", uint64(rd.Size))
		if rd.ReadFlags != 0 || !text {
			e.flags("read_flags", kRead, uint64(rd.ReadFlags))
		}
		if rd.ReadFlags&abi.FUSE_READ_LOCKOWNER != 0 || !text {
			e.hex("lock_owner", rd.LockOwner)
		}
		e.flags("flags", kOpen, uint64(rd.Flags))
	case abi.FUSE_WRITE:
		w := &in.Write
		e.uint("fh", w.Fh)
		e.uint("offset", w.Offset)
		e.uint("size", uint64(w.Size))
		if w.WriteFlags != 0 || !text {
			e.flags("write_flags", kWrite, uint64(w.WriteFlags))
		}
		if w.WriteFlags&abi.FUSE_WRITE_LOCKOWNER != 0 || !text {
			e.hex("lock_owner", w.LockOwner)
		}
		e.flags("flags", kOpen, uint64(w.Flags))
		e.data("data", r.Data)
	case abi.FUSE_RELEASE, abi.FUSE_RELEASEDIR:
		rl := &in.Release
		e.uint("fh", rl.Fh)
		e.flags("flags", kOpen, uint64(rl.Flags))
		if rl.ReleaseFlags != 0 || !text {
			e.flags("release_flags", kRelease, uint64(rl.ReleaseFlags))
		}
		if rl.LockOwner != 0 || !text {
			e.hex("lock_owner", rl.LockOwner)
		}
	case abi.FUSE_FSYNC, abi.FUSE_FSYNCDIR:
		e.uint("fh", in.Fsync.Fh)
		if in.Fsync.FsyncFlags != 0 || !text {
			e.flags("fsync_flags", kFsync, uint64(in.Fsync.FsyncFlags))
		}
	case abi.FUSE_SETXATTR:
		sx := &in.Setxattr
		e.name("name", r.Name, true)
		e.uint("size", uint64(sx.Size))
		e.flags("flags", kXattr, uint64(sx.Flags))
		if sx.SetxattrFlags != 0 || !text {
			e.flags("setxattr_flags", kSetxattr, uint64(sx.SetxattrFlags))
		}
		e.data("value", r.Data)
	case abi.FUSE_GETXATTR:
		e.name("name", r.Name, true)
		e.uint("size", uint64(in.Getxattr.Size))
	case abi.FUSE_LISTXATTR:
		e.uint("size", uint64(in.Getxattr.Size))
	case abi.FUSE_FLUSH:
		e.uint("fh", in.Flush.Fh)
		e.hex("lock_owner", in.Flush.LockOwner)
	case abi.FUSE_INIT:
		i := &in.Init
		e.uint("major", uint64(i.Major))
		e.uint("minor", uint64(i.Minor))
		e.uint("max_readahead", uint64(i.MaxReadahead))
		e.flags("flags", kInit, uint64(i.InitFlags()))
	case abi.CUSE_INIT:
		e.uint("major", uint64(in.CuseInit.Major))
		e.uint("minor", uint64(in.CuseInit.Minor))
		e.flags("flags", kCuse, uint64(in.CuseInit.Flags))
	case abi.FUSE_GETLK, abi.FUSE_SETLK, abi.FUSE_SETLKW:
		e.uint("fh", in.Lk.Fh)
		e.hex("owner", in.Lk.Owner)
		emitLock(e, &in.Lk.Lk)
		if in.Lk.LkFlags != 0 || !text {
			e.flags("lk_flags", kLk, uint64(in.Lk.LkFlags))
		}
	case abi.FUSE_ACCESS:
		e.flags("mask", kAccess, uint64(in.Access.Mask))
	case abi.FUSE_CREATE, abi.FUSE_TMPFILE:
		c := &in.Create
		e.name("name", r.Name, true)
		e.flags("flags", kOpen, uint64(c.Flags))
		e.mode("mode", c.Mode)
		e.mode("umask", c.Umask)
		if c.OpenFlags != 0 || !text {
			e.flags("open_flags", kOpenIn, uint64(c.OpenFlags))
		}
	case abi.FUSE_INTERRUPT:
		if !text { // the text line says "of #N"
			e.uint("interrupt_unique", in.Interrupt.Unique)
		}
	case abi.FUSE_BMAP:
		e.uint("block", in.Bmap.Block)
		e.uint("blocksize", uint64(in.Bmap.Blocksize))
	case abi.FUSE_IOCTL:
		io := &in.Ioctl
		e.uint("fh", io.Fh)
		e.hex("cmd", uint64(io.Cmd))
		e.hex("arg", io.Arg)
		if io.Flags != 0 || !text {
			e.flags("flags", kIoctl, uint64(io.Flags))
		}
		e.uint("in_size", uint64(io.InSize))
		e.uint("out_size", uint64(io.OutSize))
		if len(r.Data) > 0 || !text {
			e.data("data", r.Data)
		}
	case abi.FUSE_POLL:
		e.uint("fh", in.Poll.Fh)
		e.uint("kh", in.Poll.Kh)
		if in.Poll.Flags != 0 || !text {
			e.flags("flags", kPoll, uint64(in.Poll.Flags))
		}
		e.hex("events", uint64(in.Poll.Events))
	case abi.FUSE_NOTIFY_REPLY:
		e.uint("offset", in.NotifyReply.Offset)
		e.uint("size", uint64(in.NotifyReply.Size))
		e.data("data", r.Data)
	case abi.FUSE_BATCH_FORGET:
		e.uint("count", uint64(in.BatchForget.Count))
		e.list("forgets")
		n := 0
		o := r.order
		for b := r.Entries; len(b) >= 16 && (n < maxItems || !text); b = b[16:] {
			e.item()
			e.node("nodeid", o.Uint64(b), true)
			e.uint("nlookup", o.Uint64(b[8:]))
			e.endItem()
			n++
		}
		e.endList(r.Count - n)
	case abi.FUSE_FALLOCATE:
		f := &in.Fallocate
		e.uint("fh", f.Fh)
		e.uint("offset", f.Offset)
		e.uint("length", f.Length)
		e.hex("mode", uint64(f.Mode))
	case abi.FUSE_LSEEK:
		e.uint("fh", in.Lseek.Fh)
		e.uint("offset", in.Lseek.Offset)
		e.flags("whence", kWhence, uint64(in.Lseek.Whence))
	case abi.FUSE_COPY_FILE_RANGE, abi.FUSE_COPY_FILE_RANGE_64:
		c := &in.CopyFileRange
		e.uint("fh_in", c.FhIn)
		e.uint("off_in", c.OffIn)
		e.node("nodeid_out", c.NodeIDOut, false)
		e.uint("fh_out", c.FhOut)
		e.uint("off_out", c.OffOut)
		e.uint("len", c.Len)
		e.hex("flags", c.Flags)
	case abi.FUSE_SETUPMAPPING:
		s := &in.Setupmapping
		e.uint("fh", s.Fh)
		e.uint("foffset", s.Foffset)
		e.uint("len", s.Len)
		e.flags("flags", kSetupmapping, uint64(s.Flags))
		e.uint("moffset", s.Moffset)
	case abi.FUSE_REMOVEMAPPING:
		e.uint("count", uint64(in.Removemapping.Count))
		e.list("mappings")
		n := 0
		o := r.order
		for b := r.Entries; len(b) >= 16 && (n < maxItems || !text); b = b[16:] {
			e.item()
			e.uint("moffset", o.Uint64(b))
			e.uint("len", o.Uint64(b[8:]))
			e.endItem()
			n++
		}
		e.endList(r.Count - n)
	case abi.FUSE_STATX:
		s := &in.Statx
		if s.GetattrFlags != 0 || !text {
			e.flags("getattr_flags", kGetattr, uint64(s.GetattrFlags))
			e.uint("fh", s.Fh)
		}
		e.hex("sx_flags", uint64(s.SxFlags))
		e.hex("sx_mask", uint64(s.SxMask))
	case abi.FUSE_READLINK, abi.FUSE_STATFS, abi.FUSE_DESTROY, abi.FUSE_SYNCFS:
	default:
		e.data("body", r.Data)
	}
	if r.Ext != nil {
		// A count the snap length cut is left out, not shown as 0.
		if r.NrSecctx > 0 || r.SecctxName != nil || (!text && !r.Truncated) {
			e.open("secctx")
			e.uint("nr", uint64(r.NrSecctx))
			if r.SecctxName != nil {
				e.name("name", r.SecctxName, false)
				e.data("value", r.SecctxValue)
			}
			e.close()
		}
		if r.GroupCount > 0 {
			e.list("groups")
			for b := r.Groups; len(b) >= 4; b = b[4:] {
				e.item()
				e.uint("gid", uint64(r.order.Uint32(b)))
				e.endItem()
			}
			e.endList(0)
		}
	}
}

// emitReply emits the body of a successful reply.
func emitReply(e emitter, r *Record, text bool) {
	out := &r.Out
	switch r.Op {
	case abi.FUSE_LOOKUP, abi.FUSE_MKNOD, abi.FUSE_MKDIR, abi.FUSE_SYMLINK, abi.FUSE_LINK:
		emitEntry(e, &out.Entry, text)
	case abi.FUSE_CREATE, abi.FUSE_TMPFILE:
		emitEntry(e, &out.Entry, text)
		emitOpen(e, &out.Open, text)
	case abi.FUSE_GETATTR, abi.FUSE_SETATTR:
		e.ttl("attr_valid", out.Attr.AttrValid, out.Attr.AttrValidNsec)
		emitAttr(e, &out.Attr.Attr)
	case abi.FUSE_OPEN, abi.FUSE_OPENDIR:
		emitOpen(e, &out.Open, text)
	case abi.FUSE_READLINK:
		e.name("target", tail(r, r.Data), true)
	case abi.FUSE_READ:
		e.data("data", r.Data)
	case abi.FUSE_WRITE, abi.FUSE_COPY_FILE_RANGE:
		e.uint("size", uint64(out.Write.Size))
	case abi.FUSE_STATFS:
		st := &out.Statfs.St
		e.uint("blocks", st.Blocks)
		e.uint("bfree", st.Bfree)
		e.uint("bavail", st.Bavail)
		e.uint("files", st.Files)
		e.uint("ffree", st.Ffree)
		e.uint("bsize", uint64(st.Bsize))
		e.uint("namelen", uint64(st.Namelen))
		e.uint("frsize", uint64(st.Frsize))
	case abi.FUSE_GETXATTR, abi.FUSE_LISTXATTR:
		if r.Data == nil {
			e.uint("size", uint64(out.Getxattr.Size))
			break
		}
		if r.Op == abi.FUSE_LISTXATTR {
			e.list("names")
			n, count := 0, 0
			for b := r.Data; len(b) > 0; {
				name, rest, err := abi.CString(b)
				if err != nil {
					name, rest = b, nil
				}
				if n < maxItems || !text {
					e.item()
					e.name("name", name, true)
					e.endItem()
					n++
				}
				count++
				b = rest
			}
			e.endList(count - n)
			break
		}
		e.data("value", r.Data)
	case abi.FUSE_GETLK:
		emitLock(e, &out.Lk.Lk)
	case abi.FUSE_INIT:
		i := &out.Init
		e.uint("major", uint64(i.Major))
		e.uint("minor", uint64(i.Minor))
		e.uint("max_readahead", uint64(i.MaxReadahead))
		e.flags("flags", kInit, uint64(i.InitFlags()))
		e.uint("max_background", uint64(i.MaxBackground))
		e.uint("congestion_threshold", uint64(i.CongestionThreshold))
		e.uint("max_write", uint64(i.MaxWrite))
		e.uint("time_gran", uint64(i.TimeGran))
		e.uint("max_pages", uint64(i.MaxPages))
		e.uint("map_alignment", uint64(i.MapAlignment))
		e.uint("max_stack_depth", uint64(i.MaxStackDepth))
		e.uint("request_timeout", uint64(i.RequestTimeout))
	case abi.CUSE_INIT:
		c := &out.CuseInit
		e.uint("major", uint64(c.Major))
		e.uint("minor", uint64(c.Minor))
		e.flags("flags", kCuse, uint64(c.Flags))
		e.uint("max_read", uint64(c.MaxRead))
		e.uint("max_write", uint64(c.MaxWrite))
		e.uint("dev_major", uint64(c.DevMajor))
		e.uint("dev_minor", uint64(c.DevMinor))
		e.name("info", tail(r, trimNUL(r.Data)), false)
	case abi.FUSE_BMAP:
		e.uint("block", out.Bmap.Block)
	case abi.FUSE_IOCTL:
		io := &out.Ioctl
		e.int("result", int64(io.Result))
		if io.Flags != 0 || !text {
			e.flags("flags", kIoctl, uint64(io.Flags))
		}
		e.uint("in_iovs", uint64(io.InIovs))
		e.uint("out_iovs", uint64(io.OutIovs))
		if io.Flags&abi.FUSE_IOCTL_RETRY != 0 && r.Entries != nil {
			e.list("iovecs")
			n := 0
			for b := r.Entries; len(b) >= 16 && (n < maxItems || !text); b = b[16:] {
				e.item()
				e.hex("base", r.order.Uint64(b))
				e.uint("len", r.order.Uint64(b[8:]))
				e.endItem()
				n++
			}
			e.endList(r.Count - n)
		} else if len(r.Data) > 0 || !text {
			e.data("data", r.Data)
		}
	case abi.FUSE_POLL:
		e.hex("revents", uint64(out.Poll.Revents))
	case abi.FUSE_READDIR:
		if !r.Truncated {
			e.uint("count", uint64(r.Count))
		}
		e.list("entries")
		n := 0
		for b := r.Entries; len(b) > 0 && (n < maxItems || !text); n++ {
			d, name, rest, err := abi.NextDirent(b, r.order)
			if err != nil {
				break
			}
			e.item()
			e.name("name", name, true)
			e.uint("ino", d.Ino)
			e.uint("off", d.Off)
			e.flags("type", kDtype, uint64(d.Type))
			e.endItem()
			b = rest
		}
		e.endList(r.Count - n)
		trailing(e, r)
	case abi.FUSE_READDIRPLUS:
		if !r.Truncated {
			e.uint("count", uint64(r.Count))
		}
		e.list("entries")
		n := 0
		for b := r.Entries; len(b) > 0 && (n < maxItems || !text); n++ {
			d, name, rest, err := abi.NextDirentplus(b, r.order)
			if err != nil {
				break
			}
			e.item()
			e.name("name", name, true)
			e.node("nodeid", d.EntryOut.NodeID, true)
			e.uint("ino", d.Dirent.Ino)
			e.uint("off", d.Dirent.Off)
			e.flags("type", kDtype, uint64(d.Dirent.Type))
			if !text {
				emitEntry(e, &d.EntryOut, false)
			}
			e.endItem()
			b = rest
		}
		e.endList(r.Count - n)
		trailing(e, r)
	case abi.FUSE_LSEEK:
		e.uint("offset", out.Lseek.Offset)
	case abi.FUSE_COPY_FILE_RANGE_64:
		e.uint("bytes_copied", out.CopyFileRange.BytesCopied)
	case abi.FUSE_STATX:
		s := &out.Statx
		e.ttl("attr_valid", s.AttrValid, s.AttrValidNsec)
		if s.Flags != 0 || !text {
			e.hex("flags", uint64(s.Flags))
		}
		emitStatx(e, &s.Stat)
	default:
		if len(r.Data) > 0 || r.Op == 0 || r.Op.Info() == nil {
			e.data("body", r.Data)
		}
	}
}

// emitNotify emits the body of a notification.
func emitNotify(e emitter, r *Record, text bool) {
	n := &r.Note
	switch r.Notify {
	case abi.FUSE_NOTIFY_POLL:
		e.uint("kh", n.Poll.Kh)
	case abi.FUSE_NOTIFY_INVAL_INODE:
		e.int("off", n.InvalInode.Off)
		e.int("len", n.InvalInode.Len)
	case abi.FUSE_NOTIFY_INVAL_ENTRY:
		e.name("name", r.Name, true)
		if n.InvalEntry.Flags != 0 || !text {
			e.flags("flags", kInvalEntry, uint64(n.InvalEntry.Flags))
		}
	case abi.FUSE_NOTIFY_STORE:
		e.uint("offset", n.Store.Offset)
		e.uint("size", uint64(n.Store.Size))
		e.data("data", r.Data)
	case abi.FUSE_NOTIFY_RETRIEVE:
		e.uint("notify_unique", n.Retrieve.NotifyUnique)
		e.uint("offset", n.Retrieve.Offset)
		e.uint("size", uint64(n.Retrieve.Size))
	case abi.FUSE_NOTIFY_DELETE:
		e.name("name", r.Name, true)
		e.node("child", n.Delete.Child, false)
	case abi.FUSE_NOTIFY_PRUNE:
		e.uint("count", uint64(n.Prune.Count))
		e.list("nodeids")
		k := 0
		for b := r.Entries; len(b) >= 8 && (k < maxItems || !text); b = b[8:] {
			e.item()
			e.node("nodeid", r.order.Uint64(b), true)
			e.endItem()
			k++
		}
		e.endList(r.Count - k)
	case abi.FUSE_NOTIFY_RESEND, abi.FUSE_NOTIFY_INC_EPOCH:
		if len(r.Data) > 0 {
			e.data("body", r.Data)
		}
	default:
		e.data("body", r.Data)
	}
}

func emitEntry(e emitter, ent *abi.EntryOut, text bool) {
	e.open("entry")
	e.node("nodeid", ent.NodeID, true)
	e.uint("generation", ent.Generation)
	e.ttl("entry_valid", ent.EntryValid, ent.EntryValidNsec)
	e.ttl("attr_valid", ent.AttrValid, ent.AttrValidNsec)
	if ent.NodeID != 0 || !text {
		emitAttr(e, &ent.Attr)
	}
	e.close()
}

func emitOpen(e emitter, o *abi.OpenOut, text bool) {
	e.uint("fh", o.Fh)
	if o.OpenFlags != 0 || !text {
		e.flags("open_flags", kFopen, uint64(o.OpenFlags))
	}
	if o.BackingID != 0 || !text {
		e.int("backing_id", int64(o.BackingID))
	}
}

func emitAttr(e emitter, a *abi.Attr) {
	e.open("attr")
	e.mode("mode", a.Mode)
	e.uint("size", a.Size)
	e.uint("ino", a.Ino)
	e.uint("nlink", uint64(a.Nlink))
	e.uint("uid", uint64(a.UID))
	e.uint("gid", uint64(a.GID))
	e.uint("blocks", a.Blocks)
	e.uint("blksize", uint64(a.Blksize))
	e.hex("rdev", uint64(a.Rdev))
	e.time("atime", int64(a.Atime), a.Atimensec)
	e.time("mtime", int64(a.Mtime), a.Mtimensec)
	e.time("ctime", int64(a.Ctime), a.Ctimensec)
	if a.Flags != 0 {
		e.flags("flags", kAttr, uint64(a.Flags))
	}
	e.close()
}

func emitStatx(e emitter, s *abi.Statx) {
	e.open("statx")
	e.hex("mask", uint64(s.Mask))
	e.mode("mode", uint32(s.Mode))
	e.uint("size", s.Size)
	e.uint("ino", s.Ino)
	e.uint("nlink", uint64(s.Nlink))
	e.uint("uid", uint64(s.UID))
	e.uint("gid", uint64(s.GID))
	e.uint("blocks", s.Blocks)
	e.uint("blksize", uint64(s.Blksize))
	e.hex("attributes", s.Attributes)
	e.time("atime", s.Atime.TvSec, s.Atime.TvNsec)
	e.time("btime", s.Btime.TvSec, s.Btime.TvNsec)
	e.time("ctime", s.Ctime.TvSec, s.Ctime.TvNsec)
	e.time("mtime", s.Mtime.TvSec, s.Mtime.TvNsec)
	e.uint("rdev_major", uint64(s.RdevMajor))
	e.uint("rdev_minor", uint64(s.RdevMinor))
	e.uint("dev_major", uint64(s.DevMajor))
	e.uint("dev_minor", uint64(s.DevMinor))
	e.close()
}

func emitSetattr(e emitter, s *abi.SetattrIn) {
	e.flags("valid", kFattr, uint64(s.Valid))
	if v, ok := s.GetMode(); ok {
		e.mode("mode", v)
	}
	// Named apart from the caller's uid and gid, which JSON has already.
	if v, ok := s.GetUID(); ok {
		e.uint("owner", uint64(v))
	}
	if v, ok := s.GetGID(); ok {
		e.uint("group", uint64(v))
	}
	if v, ok := s.GetSize(); ok {
		e.uint("size", v)
	}
	if v, ok := s.GetFh(); ok {
		e.uint("fh", v)
	}
	if v, ok := s.GetLockOwner(); ok {
		e.hex("lock_owner", v)
	}
	if sec, ns, ok := s.GetAtime(); ok && s.Valid&abi.FATTR_ATIME_NOW == 0 {
		e.time("atime", int64(sec), ns)
	}
	if sec, ns, ok := s.GetMtime(); ok && s.Valid&abi.FATTR_MTIME_NOW == 0 {
		e.time("mtime", int64(sec), ns)
	}
	if sec, ns, ok := s.GetCtime(); ok {
		e.time("ctime", int64(sec), ns)
	}
}

func emitLock(e emitter, l *abi.FileLock) {
	e.open("lk")
	e.flags("type", kLockType, uint64(l.Type))
	e.uint("start", l.Start)
	e.uint("end", l.End)
	e.uint("pid", uint64(l.PID))
	e.close()
}

// emitBody emits a whole record's body for its direction, without the
// fields a snap length cut.
func emitBody(e emitter, r *Record, text bool) {
	if r.headCut {
		return
	}
	if r.Truncated {
		emitCut(e, r, text)
		return
	}
	emitFields(e, r, text)
}

// emitFields emits a record's body for its direction, every field.
func emitFields(e emitter, r *Record, text bool) {
	switch r.Dir {
	case capture.DirRequest:
		emitRequest(e, r, text)
	case capture.DirReply:
		if r.Errno == 0 && r.Malformed == nil || r.Errno == 0 && r.Len > 0 {
			emitReply(e, r, text)
		}
	default:
		emitNotify(e, r, text)
	}
}

// tail returns a string that runs to the end of r's message (a READLINK
// target, CUSE's device info), marked with "…" when the snap length cut
// it.
func tail(r *Record, v []byte) []byte {
	if !r.Truncated {
		return v
	}
	return append(v[:len(v):len(v)], cutMark...)
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// trailing shows the bytes of a directory listing's last record cut short,
// which the kernel ignores.
func trailing(e emitter, r *Record) {
	if r.Trailing > 0 && !r.Truncated {
		e.uint("trailing_bytes", uint64(r.Trailing))
	}
}
