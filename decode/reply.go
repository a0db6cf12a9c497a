package decode

import (
	"errors"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
)

// DecodeReply decodes a reply into a new Record; see [DecodeReplyInto]. It
// returns nil and the error when the message is malformed.
func DecodeReply(msg []byte, c Call, o abi.ByteOrder, p *Proto) (*Record, error) {
	r := new(Record)
	if err := DecodeReplyInto(r, msg, c, o, p); err != nil {
		return nil, err
	}
	return r, nil
}

// DecodeReplyInto decodes a reply (out-header and body) into r, which is
// reused and aliases msg (see [Record]). c names the request's opcode; a
// zero Call decodes the body as raw bytes. A reply with unique 0 is a
// notification and is decoded as one. A reply with a non-zero error
// carries only the header; any body is reported as malformed.
func DecodeReplyInto(r *Record, msg []byte, c Call, o abi.ByteOrder, p *Proto) error {
	if p == nil {
		d := DefaultProto()
		p = &d
	}
	if o == nil {
		o = abi.NativeEndian
	}
	r.reset(msg, o)
	r.Dir = capture.DirReply
	body, ok := r.outHeader(msg, o)
	if !ok {
		return r.Malformed
	}
	if r.headCut {
		r.Error = 0
		return nil // without its unique, not even a reply to c for sure
	}
	if r.Unique == 0 {
		r.Dir = capture.DirNotify
		r.Notify = abi.NotifyCode(r.Error)
		r.Error = 0
		r.decodeNotifyBody(body, o)
		return r.Malformed
	}
	r.Op = c.Op
	if r.Error != 0 {
		if r.Error > 0 || r.Error <= -512 {
			r.failWith(ErrErrno, "error %d: %v", r.Error, ErrErrno)
			r.Errno = abi.Errno(-r.Error)
			if r.Error > 0 {
				r.Errno = abi.Errno(r.Error)
			}
		} else {
			r.Errno = abi.Errno(-r.Error)
		}
		if len(body) > 0 && r.Malformed == nil {
			r.fail("error reply with a %d-byte body", len(body))
		}
		return r.Malformed
	}
	r.decodeReplyBody(body, c, o, p)
	if r.cut {
		r.proto, r.call = *p, c
	}
	return r.Malformed
}

// outHeader decodes the out-header and returns the body, cut to the
// header's length.
func (r *Record) outHeader(msg []byte, o abi.ByteOrder) ([]byte, bool) {
	if len(msg) < abi.OutHeaderSize {
		// Short of its unique: a reply to no request that can be known,
		// or a notification, whose code is where a reply's error is.
		r.headCut = true
		if len(msg) >= headLen {
			r.Len = o.Uint32(msg)
		}
		if len(msg) >= headOp {
			r.Error = int32(o.Uint32(msg[4:]))
		}
		if !r.Truncated {
			r.fail("message of %d bytes, shorter than the out-header", len(msg))
			return nil, false
		}
		return nil, true
	}
	var h abi.OutHeader
	if _, err := h.Unmarshal(msg, o); err != nil {
		r.failErr("out-header", err)
		return nil, false
	}
	r.Len, r.Error, r.Unique = h.Len, h.Error, h.Unique
	body := msg[abi.OutHeaderSize:]
	switch {
	case int(h.Len) == len(msg):
	case r.Truncated && int(h.Len) > len(msg) && (r.OrigLen <= len(msg) || int(h.Len) == r.OrigLen):
		// Cut at the snap length: the length field is the wire length.
	case r.Truncated && int(h.Len) > len(msg):
		r.failWith(ErrLength, "out-header len %d, message had %d bytes", h.Len, r.OrigLen)
	case int(h.Len) < abi.OutHeaderSize || int(h.Len) > len(msg):
		r.failWith(ErrLength, "out-header len %d, message has %d bytes", h.Len, len(msg))
	default:
		r.failWith(ErrLength, "out-header len %d, message has %d bytes", h.Len, len(msg))
		body = msg[abi.OutHeaderSize:h.Len]
	}
	return body, true
}

// decodeReplyBody decodes a successful reply's body for opcode c.Op.
func (r *Record) decodeReplyBody(b []byte, c Call, o abi.ByteOrder, p *Proto) {
	out := &r.Out
	switch c.Op {
	case abi.FUSE_LOOKUP, abi.FUSE_MKNOD, abi.FUSE_MKDIR, abi.FUSE_SYMLINK, abi.FUSE_LINK:
		// Before 7.9 fuse_entry_out was 120 bytes.
		r.end(r.fixed("entry_out", &out.Entry, b, abi.EntryOutSize(p.Minor), o))
	case abi.FUSE_CREATE, abi.FUSE_TMPFILE:
		b = r.fixed("entry_out", &out.Entry, b, abi.EntryOutSize(p.Minor), o)
		r.end(r.fixed("open_out", &out.Open, b, 16, o))
	case abi.FUSE_GETATTR, abi.FUSE_SETATTR:
		// Before 7.9 fuse_attr_out was 96 bytes.
		r.end(r.fixed("attr_out", &out.Attr, b, abi.AttrOutSize(p.Minor), o))
	case abi.FUSE_OPEN, abi.FUSE_OPENDIR:
		r.end(r.fixed("open_out", &out.Open, b, 16, o))
	case abi.FUSE_READ, abi.FUSE_READLINK:
		r.Data = b
	case abi.FUSE_WRITE, abi.FUSE_COPY_FILE_RANGE:
		r.end(r.fixed("write_out", &out.Write, b, 8, o))
	case abi.FUSE_STATFS:
		// Before 7.4 fuse_kstatfs had no frsize (48 bytes).
		r.end(r.fixed("statfs_out", &out.Statfs, b, abi.StatfsOutSize(p.Minor), o))
	case abi.FUSE_GETXATTR, abi.FUSE_LISTXATTR:
		if c.XattrSizeCut {
			if r.wholeLen(b, abi.OutHeaderSize) == 8 {
				r.end(r.fixed("getxattr_out", &out.Getxattr, b, 8, o))
			} else {
				r.Data = b
			}
			break
		}
		if c.XattrSize == 0 {
			r.end(r.fixed("getxattr_out", &out.Getxattr, b, 8, o))
			break
		}
		r.Data = b
		if len(b) > int(c.XattrSize) && r.Malformed == nil {
			r.fail("%d-byte value for a %d-byte buffer", len(b), c.XattrSize)
		}
	case abi.FUSE_GETLK:
		r.end(r.fixed("lk_out", &out.Lk, b, 24, o))
	case abi.FUSE_INIT:
		// fuse_init_out is out_argvar: 8 bytes before 7.5, 24 before 7.23,
		// 64 since; the kernel accepts any length up to 64.
		whole := r.wholeLen(b, abi.OutHeaderSize)
		if whole < 8 {
			r.fixed("init_out", &out.Init, b, 8, o)
			break
		}
		r.end(r.fixed("init_out", &out.Init, b, min(whole, 64), o))
	case abi.CUSE_INIT:
		b = r.fixed("cuse_init_out", &out.CuseInit, b, 72, o)
		r.Data = b
	case abi.FUSE_BMAP:
		r.end(r.fixed("bmap_out", &out.Bmap, b, 8, o))
	case abi.FUSE_IOCTL:
		b = r.fixed("ioctl_out", &out.Ioctl, b, 16, o)
		if out.Ioctl.Flags&abi.FUSE_IOCTL_RETRY != 0 {
			n := int(out.Ioctl.InIovs) + int(out.Ioctl.OutIovs)
			if n > abi.FUSE_IOCTL_MAX_IOV || out.Ioctl.InIovs > abi.FUSE_IOCTL_MAX_IOV || out.Ioctl.OutIovs > abi.FUSE_IOCTL_MAX_IOV {
				r.fail("ioctl retry with %d+%d iovecs, over %d", out.Ioctl.InIovs, out.Ioctl.OutIovs, abi.FUSE_IOCTL_MAX_IOV)
				r.Data = b
				break
			}
			r.list(b, n, 16)
			break
		}
		r.Data = b
	case abi.FUSE_POLL:
		r.end(r.fixed("poll_out", &out.Poll, b, 8, o))
	case abi.FUSE_READDIR:
		r.dirents(b, false, o)
	case abi.FUSE_READDIRPLUS:
		r.dirents(b, true, o)
	case abi.FUSE_LSEEK:
		r.end(r.fixed("lseek_out", &out.Lseek, b, 8, o))
	case abi.FUSE_COPY_FILE_RANGE_64:
		r.end(r.fixed("copy_file_range_out", &out.CopyFileRange, b, 8, o))
	case abi.FUSE_STATX:
		r.end(r.fixed("statx_out", &out.Statx, b, 288, o))
	case 0:
		r.Data = b
	default:
		if info := c.Op.Info(); info == nil {
			// Unknown opcode: keep the raw body.
			r.Data = b
			break
		}
		// Every other known opcode replies with the header alone.
		r.end(b)
	}
}

// dirents validates a READDIR or READDIRPLUS reply and keeps it in
// Entries, counting the records. As the kernel does (parse_dirfile), a
// last record that runs past the end ends the listing; a bad name length
// is malformed wherever it is.
func (r *Record) dirents(b []byte, plus bool, o abi.ByteOrder) {
	n, good, err := countDirents(b, plus, o)
	r.Entries, r.Count = b[:good], n
	if err != nil {
		if r.Truncated {
			return
		}
		if errors.Is(err, abi.ErrShort) {
			r.Trailing = len(b) - good
			return
		}
		r.failErr("dirent", err)
	}
}

// countDirents walks the dirents of b and returns how many are valid and
// how many bytes they take.
func countDirents(b []byte, plus bool, o abi.ByteOrder) (n, good int, err error) {
	rest := b
	for len(rest) > 0 {
		var next []byte
		if plus {
			_, _, next, err = abi.NextDirentplus(rest, o)
		} else {
			_, _, next, err = abi.NextDirent(rest, o)
		}
		if err != nil {
			return n, good, err
		}
		n++
		good += len(rest) - len(next)
		rest = next
	}
	return n, good, nil
}

// DecodeNotify decodes a notification into a new Record; see
// [DecodeNotifyInto]. It returns nil and the error when the message is
// malformed.
func DecodeNotify(msg []byte, o abi.ByteOrder) (*Record, error) {
	r := new(Record)
	if err := DecodeNotifyInto(r, msg, o); err != nil {
		return nil, err
	}
	return r, nil
}

// DecodeNotifyInto decodes a notification (out-header with unique 0 and
// the notify code in the error field, then the body) into r, which is
// reused and aliases msg. Unknown codes keep the raw body in Data.
func DecodeNotifyInto(r *Record, msg []byte, o abi.ByteOrder) error {
	if o == nil {
		o = abi.NativeEndian
	}
	r.reset(msg, o)
	r.Dir = capture.DirNotify
	body, ok := r.outHeader(msg, o)
	if !ok {
		return r.Malformed
	}
	r.Notify = abi.NotifyCode(r.Error)
	r.Error = 0
	if r.Unique != 0 {
		r.fail("notification with unique %d", r.Unique)
	}
	if r.headCut {
		r.nodeCut = true // the body that holds it is gone too
		return nil
	}
	r.decodeNotifyBody(body, o)
	return r.Malformed
}

// decodeNotifyBody decodes the body of notification r.Notify.
func (r *Record) decodeNotifyBody(b []byte, o abi.ByteOrder) {
	n := &r.Note
	body := b // b moves past the fixed part; the node ID is in body
	switch r.Notify {
	case abi.FUSE_NOTIFY_POLL:
		r.end(r.fixed("notify_poll_wakeup_out", &n.Poll, b, 8, o))
	case abi.FUSE_NOTIFY_INVAL_INODE:
		r.end(r.fixed("notify_inval_inode_out", &n.InvalInode, b, 24, o))
		r.notifyNode(body, 0, n.InvalInode.Ino)
	case abi.FUSE_NOTIFY_INVAL_ENTRY:
		b = r.fixed("notify_inval_entry_out", &n.InvalEntry, b, 16, o)
		r.notifyNode(body, 0, n.InvalEntry.Parent)
		r.notifyName(b, n.InvalEntry.Namelen)
	case abi.FUSE_NOTIFY_STORE:
		b = r.fixed("notify_store_out", &n.Store, b, 24, o)
		r.notifyNode(body, 0, n.Store.NodeID)
		r.Data = b
		if int(n.Store.Size) != len(b) && !r.Truncated && r.Malformed == nil {
			r.fail("notify_store_out.size %d, %d data bytes", n.Store.Size, len(b))
		}
	case abi.FUSE_NOTIFY_RETRIEVE:
		r.end(r.fixed("notify_retrieve_out", &n.Retrieve, b, 32, o))
		r.notifyNode(body, 8, n.Retrieve.NodeID)
	case abi.FUSE_NOTIFY_DELETE:
		b = r.fixed("notify_delete_out", &n.Delete, b, 24, o)
		r.notifyNode(body, 0, n.Delete.Parent)
		r.notifyName(b, n.Delete.Namelen)
	case abi.FUSE_NOTIFY_RESEND, abi.FUSE_NOTIFY_INC_EPOCH:
		// No body; the kernel ignores the size.
		r.Data = b
	case abi.FUSE_NOTIFY_PRUNE:
		b = r.fixed("notify_prune_out", &n.Prune, b, 16, o)
		r.list(b, int(n.Prune.Count), 8)
	default:
		r.Data = b
	}
}

// notifyNode sets the record's node ID to id, a notification's, which
// body holds at offset off; a snap length that cut it leaves none.
func (r *Record) notifyNode(body []byte, off int, id uint64) {
	if len(body) < off+8 {
		r.NodeID, r.nodeCut = 0, true
		return
	}
	r.NodeID = id
}

// notifyName reads the name of INVAL_ENTRY and DELETE: namelen bytes and a
// NUL, exactly.
func (r *Record) notifyName(b []byte, namelen uint32) {
	if int64(namelen) >= int64(len(b)) {
		if r.Truncated {
			r.Name = r.unterminated(&r.nameBuf, b)
			return
		}
		r.fail("name of %d bytes in %d", namelen, len(b))
		r.Name = b
		return
	}
	r.Name = b[:namelen]
	if b[namelen] != 0 {
		r.fail("name not NUL-terminated")
	}
	r.end(b[namelen+1:])
}
