package decode

import (
	"bytes"
	"fmt"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
)

// DecodeRequest decodes a request (in-header and arguments) into a new
// Record. It returns nil and the error when the message is malformed; the
// Record aliases msg.
func DecodeRequest(msg []byte, o abi.ByteOrder, p *Proto) (*Record, error) {
	r := new(Record)
	if err := DecodeRequestInto(r, msg, o, p); err != nil {
		return nil, err
	}
	return r, nil
}

// DecodeRequestInto decodes a request into r, which is reused: the fields
// the request does not use are unspecified, and r aliases msg (see
// [Record]). p selects the sizes of older minors (nil means
// [DefaultProto]). A malformed message is decoded as far as it goes,
// r.Malformed says why, and the same error is returned. Set r.Truncated
// before the call for a message cut at the snap length: running short is
// then not an error.
func DecodeRequestInto(r *Record, msg []byte, o abi.ByteOrder, p *Proto) error {
	if p == nil {
		d := DefaultProto()
		p = &d
	}
	if o == nil {
		o = abi.NativeEndian
	}
	r.reset(msg, o)
	r.Dir = capture.DirRequest
	if len(msg) < abi.InHeaderSize {
		r.cutInHeader(msg, o)
		if r.Truncated {
			return nil
		}
		return r.fail("request of %d bytes, shorter than the in-header", len(msg))
	}
	var h abi.InHeader
	if _, err := h.Unmarshal(msg, o); err != nil {
		return r.failErr("in-header", err)
	}
	r.Len, r.Op, r.Unique, r.NodeID = h.Len, h.Opcode, h.Unique, h.NodeID
	r.caller = abi.InHeaderSize
	r.UID, r.GID, r.PID, r.TotalExtlen = h.UID, h.GID, h.PID, h.TotalExtlen
	body := msg[abi.InHeaderSize:]
	switch {
	case int(h.Len) == len(msg):
	case r.Truncated && int(h.Len) > len(msg) && (r.OrigLen <= len(msg) || int(h.Len) == r.OrigLen):
		// Cut at the snap length: the length field is the wire length.
	case r.Truncated && int(h.Len) > len(msg):
		r.failWith(ErrLength, "in-header len %d, message had %d bytes", h.Len, r.OrigLen)
	case int(h.Len) < abi.InHeaderSize || int(h.Len) > len(msg):
		r.failWith(ErrLength, "in-header len %d, message has %d bytes", h.Len, len(msg))
	default:
		r.failWith(ErrLength, "in-header len %d, message has %d bytes", h.Len, len(msg))
		body = msg[abi.InHeaderSize:h.Len]
	}
	if h.TotalExtlen > 0 {
		n := int(h.TotalExtlen) * 8
		end := int(h.Len) - abi.InHeaderSize
		if end > len(body) || end < n {
			if !r.Truncated {
				r.fail("extensions of %d bytes do not fit a %d-byte body", n, len(body))
			} else if start := end - n; start >= 0 && start < len(body) {
				// The cut ended inside the extensions: set apart what
				// is left of them from the arguments, and decode the
				// whole ones.
				r.Ext = body[start:]
				body = body[:start]
				r.decodeExt(o)
			}
		} else {
			r.Ext = body[end-n : end]
			body = body[:end-n]
			r.decodeExt(o)
		}
	}
	r.decodeRequestBody(body, o, p)
	if r.cut {
		r.proto = *p
	}
	return r.Malformed
}

// decodeExt splits the request extensions (7.38): the security context
// block (types 0..31 hold nr_secctx) and the supplementary groups.
func (r *Record) decodeExt(o abi.ByteOrder) {
	rest := r.Ext
	for len(rest) > 0 {
		hdr, body, next, err := abi.NextExt(rest, o)
		if err != nil {
			r.failErr("request extension", err)
			return
		}
		switch {
		case hdr.Type <= abi.FUSE_MAX_NR_SECCTX:
			r.decodeSecctx(hdr.Type, body, o)
		case hdr.Type == abi.FUSE_EXT_GROUPS:
			if len(body) < 4 {
				r.fail("supplementary groups extension of %d bytes", len(body))
				break
			}
			n := int(o.Uint32(body))
			g := body[4:]
			if n > len(g)/4 {
				r.fail("%d supplementary groups in %d bytes", n, len(g))
				n = len(g) / 4
			}
			r.Groups, r.GroupCount = g[:4*n], n
		}
		rest = next
	}
}

// decodeSecctx reads the security contexts after a fuse_secctx_header:
// per context a fuse_secctx, the xattr name and the value. Only the first
// context is kept; the kernel sends at most one.
func (r *Record) decodeSecctx(nr uint32, body []byte, o abi.ByteOrder) {
	r.NrSecctx = nr
	if nr == 0 {
		return
	}
	var c abi.Secctx
	rest, err := c.Unmarshal(body, o)
	if err != nil {
		r.failErr("security context", err)
		return
	}
	name, rest, err := abi.CString(rest)
	if err != nil {
		r.failErr("security context name", err)
		return
	}
	if int(c.Size) > len(rest) {
		if r.Truncated {
			r.SecctxName, r.SecctxValue = name, rest // what the cut left
			return
		}
		r.fail("security context value of %d bytes in %d", c.Size, len(rest))
		return
	}
	r.SecctxName, r.SecctxValue = name, rest[:c.Size]
}

// names reads n NUL-terminated names into Name and Name2 and returns what
// follows.
func (r *Record) names(b []byte, n int) []byte {
	var err error
	if n >= 1 {
		if r.Name, b, err = abi.CString(b); err != nil {
			r.Name = r.unterminated(&r.nameBuf, b)
			r.failErr("name", err)
			return nil
		}
	}
	if n >= 2 {
		if r.Name2, b, err = abi.CString(b); err != nil {
			r.Name2 = r.unterminated(&r.name2Buf, b)
			r.failErr("second name", err)
			return nil
		}
	}
	return b
}

// unterminated returns a name that runs to the end of the message without
// its NUL: as it is in a whole message (malformed, shown as sent), and
// with "…" after it when the snap length cut it, so that neither the
// record nor the paths the session learns from it pass it off as whole.
func (r *Record) unterminated(buf *[]byte, b []byte) []byte {
	// One byte short: the cut took the NUL alone (what follows a name
	// needs more).
	if !r.Truncated || r.OrigLen-len(r.Msg) == 1 {
		return b
	}
	*buf = append(append((*buf)[:0], b...), cutMark...)
	return *buf
}

// cutMark follows a name that the snap length cut.
const cutMark = "…"

// wholeLen is the length body b had before the snap length cut it (hdr
// is the header's size), for the structs whose size goes by the body's.
func (r *Record) wholeLen(b []byte, hdr int) int {
	if r.Truncated && int(r.Len)-hdr > len(b) {
		return int(r.Len) - hdr
	}
	return len(b)
}

// end checks that nothing follows the last argument.
func (r *Record) end(rest []byte) {
	if len(rest) > 0 && r.Malformed == nil {
		r.Malformed = &MalformedError{Reason: fmt.Sprintf("%d %v", len(rest), ErrTrailing), Err: ErrTrailing}
	}
}

// unmarshaler is implemented by every fixed-size abi struct.
type unmarshaler interface {
	UnmarshalPrefix(src []byte, n int, o abi.ByteOrder) ([]byte, error)
}

// fixed decodes the first n bytes of b into s (the wire size at the
// negotiated minor) and returns the rest. When the message is cut at the
// snap length, what is there is decoded and the rest padded with r.fill
// (zero), and r.cut set: the formatters then leave out the fields the cut
// took (findCut).
func (r *Record) fixed(what string, s unmarshaler, b []byte, n int, o abi.ByteOrder) []byte {
	if len(b) < n {
		if !r.Truncated {
			s.UnmarshalPrefix(b, len(b), o)
			r.fail("%s: %d bytes, want %d", what, len(b), n)
			return nil
		}
		r.cut = true
		if r.fill == 0 {
			s.UnmarshalPrefix(b, len(b), o)
			return nil
		}
		buf := bytes.Repeat([]byte{r.fill}, n)
		copy(buf, b)
		s.UnmarshalPrefix(buf, n, o)
		return nil
	}
	rest, err := s.UnmarshalPrefix(b, n, o)
	if err != nil {
		r.failErr(what, err)
		return nil
	}
	return rest
}

// decodeRequestBody decodes the arguments after the in-header.
func (r *Record) decodeRequestBody(b []byte, o abi.ByteOrder, p *Proto) {
	in := &r.In
	switch r.Op {
	case abi.FUSE_LOOKUP, abi.FUSE_UNLINK, abi.FUSE_RMDIR, abi.FUSE_REMOVEXATTR:
		r.end(r.names(b, 1))
	case abi.FUSE_FORGET:
		r.end(r.fixed("forget_in", &in.Forget, b, 8, o))
	case abi.FUSE_GETATTR:
		// GETATTR had no argument before 7.9. Kernels since send
		// fuse_getattr_in whatever minor the server chose, so at an older
		// one the message says which it is.
		if p.Minor < 9 && r.wholeLen(b, abi.InHeaderSize) == 0 {
			in.Getattr = abi.GetattrIn{}
			break
		}
		r.end(r.fixed("getattr_in", &in.Getattr, b, 16, o))
	case abi.FUSE_SETATTR:
		r.end(r.fixed("setattr_in", &in.Setattr, b, 88, o))
	case abi.FUSE_READLINK, abi.FUSE_STATFS, abi.FUSE_DESTROY:
		r.end(b)
	case abi.FUSE_SYMLINK:
		r.createTail(r.names(b, 2), p)
	case abi.FUSE_MKNOD:
		// Before 7.12 fuse_mknod_in had no umask (8 bytes).
		b = r.fixed("mknod_in", &in.Mknod, b, abi.MknodInSize(p.Minor), o)
		r.createTail(r.names(b, 1), p)
	case abi.FUSE_MKDIR:
		b = r.fixed("mkdir_in", &in.Mkdir, b, 8, o)
		r.createTail(r.names(b, 1), p)
	case abi.FUSE_RENAME:
		b = r.fixed("rename_in", &in.Rename, b, 8, o)
		r.end(r.names(b, 2))
	case abi.FUSE_RENAME2:
		b = r.fixed("rename2_in", &in.Rename2, b, 16, o)
		r.end(r.names(b, 2))
	case abi.FUSE_LINK:
		b = r.fixed("link_in", &in.Link, b, 8, o)
		r.end(r.names(b, 1))
	case abi.FUSE_OPEN, abi.FUSE_OPENDIR:
		r.end(r.fixed("open_in", &in.Open, b, 8, o))
	case abi.FUSE_READ, abi.FUSE_READDIR, abi.FUSE_READDIRPLUS:
		// Before 7.9 fuse_read_in was 24 bytes (no lock_owner and flags).
		// Kernels since send the full struct whatever minor the server
		// chose, so at an older one the message says which it is.
		n := 40
		if p.Minor < 9 && r.wholeLen(b, abi.InHeaderSize) == 24 {
			n = 24
		}
		r.end(r.fixed("read_in", &in.Read, b, n, o))
	case abi.FUSE_WRITE:
		// Before 7.9 fuse_write_in was 24 bytes; the data follows it.
		b = r.fixed("write_in", &in.Write, b, abi.WriteInSize(p.Minor), o)
		r.Data = b
		if int(in.Write.Size) != len(b) && !r.Truncated && r.Malformed == nil {
			r.fail("write_in.size %d, %d data bytes", in.Write.Size, len(b))
		}
	case abi.FUSE_RELEASE, abi.FUSE_RELEASEDIR:
		// Before 7.8 fuse_release_in had no lock_owner (16 bytes); as
		// with READ, newer kernels send all of it to older servers.
		n := 24
		if p.Minor < 8 && r.wholeLen(b, abi.InHeaderSize) == 16 {
			n = 16
		}
		r.end(r.fixed("release_in", &in.Release, b, n, o))
	case abi.FUSE_FSYNC, abi.FUSE_FSYNCDIR:
		r.end(r.fixed("fsync_in", &in.Fsync, b, 16, o))
	case abi.FUSE_SETXATTR:
		// fuse_setxattr_in is 8 bytes unless FUSE_SETXATTR_EXT (7.33) was
		// negotiated.
		n := abi.FUSE_COMPAT_SETXATTR_IN_SIZE
		if p.Flags&abi.FUSE_SETXATTR_EXT != 0 {
			n = 16
		}
		if !p.Known {
			// No INIT seen (a capture begun mid-session): take the size
			// whose value length matches the message.
			var sure bool
			if n, sure = setxattrSize(b, r.wholeLen(b, abi.InHeaderSize), o, n); !sure && r.Truncated {
				// The cut leaves it open: keep the 8 bytes both sizes
				// share and take the rest for cut.
				r.fixed("setxattr_in", &in.Setxattr, b[:min(len(b), abi.FUSE_COMPAT_SETXATTR_IN_SIZE)], 16, o)
				break
			}
		}
		b = r.fixed("setxattr_in", &in.Setxattr, b, n, o)
		b = r.names(b, 1)
		r.Data = b
		if int(in.Setxattr.Size) != len(b) && !r.Truncated && r.Malformed == nil {
			r.fail("setxattr_in.size %d, %d value bytes", in.Setxattr.Size, len(b))
		}
	case abi.FUSE_GETXATTR:
		b = r.fixed("getxattr_in", &in.Getxattr, b, 8, o)
		r.end(r.names(b, 1))
	case abi.FUSE_LISTXATTR:
		r.end(r.fixed("getxattr_in", &in.Getxattr, b, 8, o))
	case abi.FUSE_FLUSH:
		r.end(r.fixed("flush_in", &in.Flush, b, 24, o))
	case abi.FUSE_INIT:
		// The kernel's fuse_init_in was 16 bytes before 7.36; since, 64
		// bytes with flags2. Decide by the kernel's own minor.
		whole := r.wholeLen(b, abi.InHeaderSize)
		n := min(whole, 64)
		if len(b) >= 8 && o.Uint32(b[4:]) < 36 {
			n = min(whole, abi.FUSE_COMPAT_INIT_IN_SIZE)
		}
		if n < 8 {
			r.fixed("init_in", &in.Init, b, 8, o)
			break
		}
		r.end(r.fixed("init_in", &in.Init, b, n, o))
	case abi.CUSE_INIT:
		r.end(r.fixed("cuse_init_in", &in.CuseInit, b, 16, o))
	case abi.FUSE_GETLK, abi.FUSE_SETLK, abi.FUSE_SETLKW:
		r.end(r.fixed("lk_in", &in.Lk, b, 48, o))
	case abi.FUSE_ACCESS:
		r.end(r.fixed("access_in", &in.Access, b, 8, o))
	case abi.FUSE_CREATE, abi.FUSE_TMPFILE:
		// Before 7.12 CREATE sent a fuse_open_in (8 bytes): flags and mode.
		b = r.fixed("create_in", &in.Create, b, abi.CreateInSize(p.Minor), o)
		r.createTail(r.names(b, 1), p)
	case abi.FUSE_INTERRUPT:
		r.end(r.fixed("interrupt_in", &in.Interrupt, b, 8, o))
		r.Interrupts = in.Interrupt.Unique
	case abi.FUSE_BMAP:
		r.end(r.fixed("bmap_in", &in.Bmap, b, 16, o))
	case abi.FUSE_IOCTL:
		b = r.fixed("ioctl_in", &in.Ioctl, b, 32, o)
		r.Data = b
		if int(in.Ioctl.InSize) != len(b) && !r.Truncated && r.Malformed == nil {
			r.fail("ioctl_in.in_size %d, %d data bytes", in.Ioctl.InSize, len(b))
		}
	case abi.FUSE_POLL:
		// Before 7.21 the events field was padding.
		r.end(r.fixed("poll_in", &in.Poll, b, 24, o))
	case abi.FUSE_NOTIFY_REPLY:
		b = r.fixed("notify_retrieve_in", &in.NotifyReply, b, 40, o)
		r.Data = b
		if int(in.NotifyReply.Size) != len(b) && !r.Truncated && r.Malformed == nil {
			r.fail("notify_retrieve_in.size %d, %d data bytes", in.NotifyReply.Size, len(b))
		}
	case abi.FUSE_BATCH_FORGET:
		b = r.fixed("batch_forget_in", &in.BatchForget, b, 8, o)
		r.list(b, int(in.BatchForget.Count), 16)
	case abi.FUSE_FALLOCATE:
		r.end(r.fixed("fallocate_in", &in.Fallocate, b, 32, o))
	case abi.FUSE_LSEEK:
		r.end(r.fixed("lseek_in", &in.Lseek, b, 24, o))
	case abi.FUSE_COPY_FILE_RANGE, abi.FUSE_COPY_FILE_RANGE_64:
		r.end(r.fixed("copy_file_range_in", &in.CopyFileRange, b, 56, o))
	case abi.FUSE_SETUPMAPPING:
		r.end(r.fixed("setupmapping_in", &in.Setupmapping, b, 40, o))
	case abi.FUSE_REMOVEMAPPING:
		// A 4-byte head, then the entries at offset 4.
		b = r.fixed("removemapping_in", &in.Removemapping, b, 4, o)
		r.list(b, int(in.Removemapping.Count), 16)
	case abi.FUSE_SYNCFS:
		r.end(r.fixed("syncfs_in", &in.Syncfs, b, 8, o))
	case abi.FUSE_STATX:
		r.end(r.fixed("statx_in", &in.Statx, b, 24, o))
	default:
		// Unknown opcode: keep the raw body.
		r.Data = b
	}
}

// list keeps count fixed-size entries of size bytes each in Entries.
func (r *Record) list(b []byte, count, size int) {
	if count > len(b)/size {
		if r.Truncated {
			// The cut ended inside an entry: what is left of it is no
			// trailing garbage.
			count = len(b) / size
			r.Entries, r.Count = b[:count*size], count
			return
		}
		r.fail("%d entries of %d bytes in %d bytes", count, size, len(b))
		count = len(b) / size
	}
	r.Entries, r.Count = b[:count*size], count
	r.end(b[count*size:])
}

// createTail handles what follows the names of a creating operation: in
// 7.36 and 7.37 the security context block came there, before request
// extensions framed it (7.38).
func (r *Record) createTail(b []byte, p *Proto) {
	if len(b) > 0 && r.TotalExtlen == 0 && p.Flags&abi.FUSE_SECURITY_CTX != 0 && r.Ext == nil {
		var h abi.SecctxHeader
		rest, err := h.Unmarshal(b, r.order)
		if err == nil && int(h.Size) == len(b) {
			r.Ext = b
			r.decodeSecctx(h.NrSecctx, rest, r.order)
			return
		}
		if r.Truncated && (err != nil || int(h.Size) > len(b)) {
			r.Ext = b // the block, cut
			if err == nil {
				r.decodeSecctx(h.NrSecctx, rest, r.order)
			}
			return
		}
	}
	r.end(b)
}

// setxattrSize guesses the fuse_setxattr_in size of a SETXATTR body b,
// whole bytes long before any snap length cut it, when the negotiated
// flags are unknown: the one (16 or 8) after which a name and exactly size
// value bytes follow, and sure; guess and not sure if neither or both fit.
func setxattrSize(b []byte, whole int, o abi.ByteOrder, guess int) (n int, sure bool) {
	fits := func(n int) bool {
		if len(b) < n {
			return false
		}
		_, rest, err := abi.CString(b[n:])
		// The value is what follows the name in the whole body.
		return err == nil && int64(whole-(len(b)-len(rest))) == int64(o.Uint32(b))
	}
	f16, f8 := fits(16), fits(abi.FUSE_COMPAT_SETXATTR_IN_SIZE)
	switch {
	case f16 && !f8:
		return 16, true
	case f8 && !f16:
		return abi.FUSE_COMPAT_SETXATTR_IN_SIZE, true
	}
	return guess, false
}
