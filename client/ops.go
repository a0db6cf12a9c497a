package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"syscall"

	"github.com/fusectl/fusectl/abi"
)

// The typed calls below encode their request for the negotiated minor and
// flags and decode the reply. nodeid is the target inode (the parent
// directory for name operations). A server errno comes back as an *Error.

// call sends a request and returns the reply body, which must be
// minLen..maxLen bytes long on success.
func (c *Conn) call(ctx context.Context, op abi.Opcode, nodeid uint64, minLen, maxLen int, body ...[]byte) ([]byte, error) {
	msg, err := c.roundTrip(ctx, &Request{Op: op, NodeID: nodeid, Body: body}, minLen, maxLen, false)
	if err != nil {
		return nil, err
	}
	return msg[abi.OutHeaderSize:], nil
}

// callFixed sends a request whose success reply has the op's fixed size.
func (c *Conn) callFixed(ctx context.Context, op abi.Opcode, nodeid uint64, body ...[]byte) ([]byte, error) {
	size := 0
	if info := op.Info(); info != nil {
		size = info.OutSize
	}
	n, _ := c.fixedReplySize(op, size)
	return c.call(ctx, op, nodeid, n, n, body...)
}

// cstr returns name NUL-terminated, refusing names the kernel could never
// send (empty, or holding a NUL).
func cstr(op abi.Opcode, name string) ([]byte, error) {
	if name == "" || bytes.IndexByte([]byte(name), 0) >= 0 {
		return nil, &Error{Op: op, Errno: syscall.EINVAL, Err: fmt.Errorf("invalid name %q", name)}
	}
	return append([]byte(name), 0), nil
}

// validType reports whether mode has a file type the kernel accepts
// (fuse_valid_type).
func validType(mode uint32) bool {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG, syscall.S_IFDIR, syscall.S_IFLNK, syscall.S_IFCHR,
		syscall.S_IFBLK, syscall.S_IFIFO, syscall.S_IFSOCK:
		return true
	}
	return false
}

// validAttr reports whether the kernel would accept attributes
// (fuse_invalid_attr).
func validAttr(a *abi.Attr) bool {
	return validType(a.Mode) && a.Size <= math.MaxInt64
}

// entry decodes an entry reply and takes a lookup reference on its node.
// An entry the kernel would refuse fails with EIO and is forgotten at once,
// as fuse_lookup_name does.
func (c *Conn) entry(ctx context.Context, op abi.Opcode, b []byte) (*abi.EntryOut, error) {
	e := new(abi.EntryOut)
	if _, err := e.UnmarshalPrefix(b, len(b), c.order); err != nil {
		return nil, c.badReply(op, "decode entry: %v", err)
	}
	if e.NodeID == 0 {
		if op == abi.FUSE_LOOKUP {
			return e, &Error{Op: op, Errno: syscall.ENOENT}
		}
		return nil, c.badReply(op, "entry with node ID 0")
	}
	if !validAttr(&e.Attr) {
		c.forgetN(ctx, e.NodeID, 1)
		return nil, c.badReply(op, "entry with invalid attributes (mode %#o, size %d)", e.Attr.Mode, e.Attr.Size)
	}
	c.mu.Lock()
	c.lookups[e.NodeID]++
	c.mu.Unlock()
	return e, nil
}

// Lookup looks name up in directory parent. A negative entry (node ID 0)
// is returned together with an ENOENT error, so that its EntryValid can be
// cached.
func (c *Conn) Lookup(ctx context.Context, parent uint64, name string) (*abi.EntryOut, error) {
	n, err := cstr(abi.FUSE_LOOKUP, name)
	if err != nil {
		return nil, err
	}
	b, err := c.callFixed(ctx, abi.FUSE_LOOKUP, parent, n)
	if err != nil {
		return nil, err
	}
	return c.entry(ctx, abi.FUSE_LOOKUP, b)
}

// Lookups returns the lookup count the client holds on nodeid.
func (c *Conn) Lookups(nodeid uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lookups[nodeid]
}

// Forget returns every lookup reference held on nodeid with FUSE_FORGET
// (nothing is sent when none is held).
func (c *Conn) Forget(ctx context.Context, nodeid uint64) error {
	c.mu.Lock()
	n := c.lookups[nodeid]
	delete(c.lookups, nodeid)
	c.mu.Unlock()
	if n == 0 {
		return nil
	}
	return c.forgetN(ctx, nodeid, n)
}

func (c *Conn) forgetN(ctx context.Context, nodeid, n uint64) error {
	in := abi.ForgetIn{Nlookup: n}
	_, err := c.roundTrip(ctx, &Request{Op: abi.FUSE_FORGET, NodeID: nodeid, Body: [][]byte{in.Append(nil, c.order)}}, 0, 0, true)
	return err
}

// BatchForget returns the lookup references held on every node of nodeids
// in one FUSE_BATCH_FORGET (FORGETs before 7.16).
func (c *Conn) BatchForget(ctx context.Context, nodeids []uint64) error {
	return c.forgetRefs(ctx, nodeids, true)
}

// dropRefs returns one lookup reference per element of refs: those a
// reply took and nobody will use (an entry the client refuses), leaving
// the ones earlier lookups hold.
func (c *Conn) dropRefs(ctx context.Context, refs []uint64) error {
	return c.forgetRefs(ctx, refs, false)
}

// forgetRefs forgets, for each element of ids, every reference held on it
// (all) or one.
func (c *Conn) forgetRefs(ctx context.Context, ids []uint64, all bool) error {
	var ones []abi.ForgetOne
	at := map[uint64]int{}
	c.mu.Lock()
	for _, id := range ids {
		n := c.lookups[id]
		if n == 0 {
			continue
		}
		take := uint64(1)
		if all {
			take = n
		}
		if n -= take; n == 0 {
			delete(c.lookups, id)
		} else {
			c.lookups[id] = n
		}
		if i, ok := at[id]; ok {
			ones[i].Nlookup += take
			continue
		}
		at[id] = len(ones)
		ones = append(ones, abi.ForgetOne{NodeID: id, Nlookup: take})
	}
	c.mu.Unlock()
	if len(ones) == 0 {
		return nil
	}
	if c.init.Minor < 16 {
		for _, o := range ones {
			if err := c.forgetN(ctx, o.NodeID, o.Nlookup); err != nil {
				return err
			}
		}
		return nil
	}
	// Keep each message within the transport's limit.
	per := (c.maxMsg - abi.InHeaderSize - 8) / 16
	for len(ones) > 0 {
		k := min(len(ones), per)
		in := abi.BatchForgetIn{Count: uint32(k)}
		body := in.Append(nil, c.order)
		for i := range ones[:k] {
			body = ones[i].Append(body, c.order)
		}
		if _, err := c.roundTrip(ctx, &Request{Op: abi.FUSE_BATCH_FORGET, Body: [][]byte{body}}, 0, 0, true); err != nil {
			return err
		}
		ones = ones[k:]
	}
	return nil
}

func (c *Conn) attrOut(op abi.Opcode, b []byte) (*abi.AttrOut, error) {
	a := new(abi.AttrOut)
	if _, err := a.UnmarshalPrefix(b, len(b), c.order); err != nil {
		return nil, c.badReply(op, "decode attr: %v", err)
	}
	if !validAttr(&a.Attr) {
		return nil, c.badReply(op, "invalid attributes (mode %#o, size %d)", a.Attr.Mode, a.Attr.Size)
	}
	return a, nil
}

// Getattr gets the attributes of nodeid.
func (c *Conn) Getattr(ctx context.Context, nodeid uint64, in abi.GetattrIn) (*abi.AttrOut, error) {
	b, err := c.callFixed(ctx, abi.FUSE_GETATTR, nodeid, in.Append(nil, c.order))
	if err != nil {
		return nil, err
	}
	return c.attrOut(abi.FUSE_GETATTR, b)
}

// Setattr changes the attributes selected by in.Valid.
func (c *Conn) Setattr(ctx context.Context, nodeid uint64, in abi.SetattrIn) (*abi.AttrOut, error) {
	b, err := c.callFixed(ctx, abi.FUSE_SETATTR, nodeid, in.Append(nil, c.order))
	if err != nil {
		return nil, err
	}
	return c.attrOut(abi.FUSE_SETATTR, b)
}

// Readlink reads the target of a symbolic link.
func (c *Conn) Readlink(ctx context.Context, nodeid uint64) (string, error) {
	// The kernel reads the target into one page, less a byte for the NUL.
	b, err := c.call(ctx, abi.FUSE_READLINK, nodeid, 0, pageSize-1)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Symlink creates a symbolic link name in parent pointing to target.
func (c *Conn) Symlink(ctx context.Context, parent uint64, name, target string) (*abi.EntryOut, error) {
	n, err := cstr(abi.FUSE_SYMLINK, name)
	if err != nil {
		return nil, err
	}
	t, err := cstr(abi.FUSE_SYMLINK, target)
	if err != nil {
		return nil, err
	}
	b, err := c.callFixed(ctx, abi.FUSE_SYMLINK, parent, n, t)
	if err != nil {
		return nil, err
	}
	return c.entry(ctx, abi.FUSE_SYMLINK, b)
}

// Mknod creates a node name in parent.
func (c *Conn) Mknod(ctx context.Context, parent uint64, name string, in abi.MknodIn) (*abi.EntryOut, error) {
	n, err := cstr(abi.FUSE_MKNOD, name)
	if err != nil {
		return nil, err
	}
	body := in.AppendPrefix(nil, abi.MknodInSize(c.init.Minor), c.order)
	b, err := c.callFixed(ctx, abi.FUSE_MKNOD, parent, body, n)
	if err != nil {
		return nil, err
	}
	return c.entry(ctx, abi.FUSE_MKNOD, b)
}

// Mkdir creates a directory name in parent.
func (c *Conn) Mkdir(ctx context.Context, parent uint64, name string, in abi.MkdirIn) (*abi.EntryOut, error) {
	n, err := cstr(abi.FUSE_MKDIR, name)
	if err != nil {
		return nil, err
	}
	b, err := c.callFixed(ctx, abi.FUSE_MKDIR, parent, in.Append(nil, c.order), n)
	if err != nil {
		return nil, err
	}
	return c.entry(ctx, abi.FUSE_MKDIR, b)
}

func (c *Conn) nameOnly(ctx context.Context, op abi.Opcode, nodeid uint64, name string) error {
	n, err := cstr(op, name)
	if err != nil {
		return err
	}
	_, err = c.callFixed(ctx, op, nodeid, n)
	return err
}

// Unlink removes the non-directory name from parent.
func (c *Conn) Unlink(ctx context.Context, parent uint64, name string) error {
	return c.nameOnly(ctx, abi.FUSE_UNLINK, parent, name)
}

// Rmdir removes the directory name from parent.
func (c *Conn) Rmdir(ctx context.Context, parent uint64, name string) error {
	return c.nameOnly(ctx, abi.FUSE_RMDIR, parent, name)
}

// Rename moves olddir/oldname to newdir/newname.
func (c *Conn) Rename(ctx context.Context, olddir uint64, oldname string, newdir uint64, newname string) error {
	o, err := cstr(abi.FUSE_RENAME, oldname)
	if err != nil {
		return err
	}
	n, err := cstr(abi.FUSE_RENAME, newname)
	if err != nil {
		return err
	}
	in := abi.RenameIn{NewDir: newdir}
	_, err = c.callFixed(ctx, abi.FUSE_RENAME, olddir, in.Append(nil, c.order), o, n)
	return err
}

// Rename2 is Rename with RENAME_* flags (NOREPLACE 1, EXCHANGE 2,
// WHITEOUT 4).
func (c *Conn) Rename2(ctx context.Context, olddir uint64, oldname string, newdir uint64, newname string, flags uint32) error {
	o, err := cstr(abi.FUSE_RENAME2, oldname)
	if err != nil {
		return err
	}
	n, err := cstr(abi.FUSE_RENAME2, newname)
	if err != nil {
		return err
	}
	in := abi.Rename2In{NewDir: newdir, Flags: flags}
	_, err = c.callFixed(ctx, abi.FUSE_RENAME2, olddir, in.Append(nil, c.order), o, n)
	return err
}

// Link makes newparent/newname a hard link to nodeid.
func (c *Conn) Link(ctx context.Context, nodeid, newparent uint64, newname string) (*abi.EntryOut, error) {
	n, err := cstr(abi.FUSE_LINK, newname)
	if err != nil {
		return nil, err
	}
	in := abi.LinkIn{OldNodeID: nodeid}
	b, err := c.callFixed(ctx, abi.FUSE_LINK, newparent, in.Append(nil, c.order), n)
	if err != nil {
		return nil, err
	}
	return c.entry(ctx, abi.FUSE_LINK, b)
}

func (c *Conn) open(ctx context.Context, op abi.Opcode, nodeid uint64, in abi.OpenIn) (*abi.OpenOut, error) {
	b, err := c.callFixed(ctx, op, nodeid, in.Append(nil, c.order))
	if err != nil {
		return nil, err
	}
	o := new(abi.OpenOut)
	if _, err := o.Unmarshal(b, c.order); err != nil {
		return nil, c.badReply(op, "decode open: %v", err)
	}
	return o, nil
}

// Open opens a file.
func (c *Conn) Open(ctx context.Context, nodeid uint64, in abi.OpenIn) (*abi.OpenOut, error) {
	return c.open(ctx, abi.FUSE_OPEN, nodeid, in)
}

// Opendir opens a directory.
func (c *Conn) Opendir(ctx context.Context, nodeid uint64, in abi.OpenIn) (*abi.OpenOut, error) {
	return c.open(ctx, abi.FUSE_OPENDIR, nodeid, in)
}

// ReadOnce sends one READ of in.Size bytes, unsplit, and returns the data
// (shorter at end of file).
func (c *Conn) ReadOnce(ctx context.Context, nodeid uint64, in abi.ReadIn) ([]byte, error) {
	return c.call(ctx, abi.FUSE_READ, nodeid, 0, int(in.Size), in.Append(nil, c.order))
}

// Read fills p from in.Offset (in.Size is ignored), in READs of at most
// max_pages and, unless Options.NoSplice, 14 pages. It returns the number
// of bytes read; fewer than len(p) means end of file.
func (c *Conn) Read(ctx context.Context, nodeid uint64, in abi.ReadIn, p []byte) (int, error) {
	chunk := c.maxRead()
	n := 0
	for n < len(p) {
		k := min(chunk, len(p)-n)
		in.Size = uint32(k)
		b, err := c.ReadOnce(ctx, nodeid, in)
		if err != nil {
			return n, err
		}
		copy(p[n:], b)
		n += len(b)
		in.Offset += uint64(len(b))
		if len(b) < k {
			break
		}
	}
	return n, nil
}

// WriteOnce sends one WRITE of data, unsplit, and returns the count the
// server wrote.
func (c *Conn) WriteOnce(ctx context.Context, nodeid uint64, in abi.WriteIn, data []byte) (uint32, error) {
	in.Size = uint32(len(data))
	hdr := in.AppendPrefix(nil, abi.WriteInSize(c.init.Minor), c.order)
	b, err := c.callFixed(ctx, abi.FUSE_WRITE, nodeid, hdr, data)
	if err != nil {
		return 0, err
	}
	var out abi.WriteOut
	if _, err := out.Unmarshal(b, c.order); err != nil {
		return 0, c.badReply(abi.FUSE_WRITE, "decode write: %v", err)
	}
	if out.Size > in.Size {
		return 0, c.badReply(abi.FUSE_WRITE, "wrote %d bytes of %d", out.Size, in.Size)
	}
	return out.Size, nil
}

// Write writes data at in.Offset (in.Size is ignored), in WRITEs of at most
// max_write bytes. It stops at the first short write and returns the total.
func (c *Conn) Write(ctx context.Context, nodeid uint64, in abi.WriteIn, data []byte) (int, error) {
	chunk := c.maxWrite()
	n := 0
	for n < len(data) || (len(data) == 0 && n == 0) {
		k := min(chunk, len(data)-n)
		w, err := c.WriteOnce(ctx, nodeid, in, data[n:n+k])
		n += int(w)
		if err != nil {
			return n, err
		}
		in.Offset += uint64(w)
		if int(w) < k || len(data) == 0 {
			break
		}
	}
	return n, nil
}

// Statfs returns file system statistics.
func (c *Conn) Statfs(ctx context.Context, nodeid uint64) (*abi.StatfsOut, error) {
	b, err := c.callFixed(ctx, abi.FUSE_STATFS, nodeid)
	if err != nil {
		return nil, err
	}
	s := new(abi.StatfsOut)
	if _, err := s.UnmarshalPrefix(b, len(b), c.order); err != nil {
		return nil, c.badReply(abi.FUSE_STATFS, "decode statfs: %v", err)
	}
	return s, nil
}

// Release closes a file handle.
func (c *Conn) Release(ctx context.Context, nodeid uint64, in abi.ReleaseIn) error {
	_, err := c.callFixed(ctx, abi.FUSE_RELEASE, nodeid, in.Append(nil, c.order))
	return err
}

// Releasedir closes a directory handle.
func (c *Conn) Releasedir(ctx context.Context, nodeid uint64, in abi.ReleaseIn) error {
	_, err := c.callFixed(ctx, abi.FUSE_RELEASEDIR, nodeid, in.Append(nil, c.order))
	return err
}

// Fsync syncs a file.
func (c *Conn) Fsync(ctx context.Context, nodeid uint64, in abi.FsyncIn) error {
	_, err := c.callFixed(ctx, abi.FUSE_FSYNC, nodeid, in.Append(nil, c.order))
	return err
}

// Fsyncdir syncs a directory.
func (c *Conn) Fsyncdir(ctx context.Context, nodeid uint64, in abi.FsyncIn) error {
	_, err := c.callFixed(ctx, abi.FUSE_FSYNCDIR, nodeid, in.Append(nil, c.order))
	return err
}

// Flush is sent on every close of a file descriptor.
func (c *Conn) Flush(ctx context.Context, nodeid uint64, in abi.FlushIn) error {
	_, err := c.callFixed(ctx, abi.FUSE_FLUSH, nodeid, in.Append(nil, c.order))
	return err
}

// Setxattr sets extended attribute name to value; flags are XATTR_CREATE
// (1) or XATTR_REPLACE (2). The request has the 16-byte form only when
// FUSE_SETXATTR_EXT was negotiated.
func (c *Conn) Setxattr(ctx context.Context, nodeid uint64, name string, value []byte, in abi.SetxattrIn) error {
	n, err := cstr(abi.FUSE_SETXATTR, name)
	if err != nil {
		return err
	}
	in.Size = uint32(len(value))
	hdr := in.AppendPrefix(nil, abi.SetxattrInSize(c.init.Flags), c.order)
	_, err = c.callFixed(ctx, abi.FUSE_SETXATTR, nodeid, hdr, n, value)
	return err
}

// GetxattrSize returns the size of extended attribute name's value.
func (c *Conn) GetxattrSize(ctx context.Context, nodeid uint64, name string) (uint32, error) {
	n, err := cstr(abi.FUSE_GETXATTR, name)
	if err != nil {
		return 0, err
	}
	in := abi.GetxattrIn{}
	return c.xattrSize(ctx, abi.FUSE_GETXATTR, nodeid, in.Append(nil, c.order), n)
}

func (c *Conn) xattrSize(ctx context.Context, op abi.Opcode, nodeid uint64, body ...[]byte) (uint32, error) {
	size := (&abi.GetxattrOut{}).SizeBytes()
	b, err := c.call(ctx, op, nodeid, size, size, body...)
	if err != nil {
		return 0, err
	}
	var out abi.GetxattrOut
	if _, err := out.Unmarshal(b, c.order); err != nil {
		return 0, c.badReply(op, "decode getxattr: %v", err)
	}
	return out.Size, nil
}

// Getxattr returns the value of extended attribute name, which must fit in
// size bytes (ERANGE otherwise). size 0 is refused: use GetxattrSize.
func (c *Conn) Getxattr(ctx context.Context, nodeid uint64, name string, size uint32) ([]byte, error) {
	n, err := cstr(abi.FUSE_GETXATTR, name)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, &Error{Op: abi.FUSE_GETXATTR, Errno: syscall.EINVAL, Err: fmt.Errorf("size 0: use GetxattrSize")}
	}
	in := abi.GetxattrIn{Size: size}
	return c.call(ctx, abi.FUSE_GETXATTR, nodeid, 0, int(size), in.Append(nil, c.order), n)
}

// ListxattrSize returns the size of the list of extended attribute names.
func (c *Conn) ListxattrSize(ctx context.Context, nodeid uint64) (uint32, error) {
	in := abi.GetxattrIn{}
	return c.xattrSize(ctx, abi.FUSE_LISTXATTR, nodeid, in.Append(nil, c.order))
}

// Listxattr returns the names of the extended attributes of nodeid; the
// list must fit in size bytes (ERANGE otherwise).
func (c *Conn) Listxattr(ctx context.Context, nodeid uint64, size uint32) ([]string, error) {
	if size == 0 {
		return nil, &Error{Op: abi.FUSE_LISTXATTR, Errno: syscall.EINVAL, Err: fmt.Errorf("size 0: use ListxattrSize")}
	}
	in := abi.GetxattrIn{Size: size}
	b, err := c.call(ctx, abi.FUSE_LISTXATTR, nodeid, 0, int(size), in.Append(nil, c.order))
	if err != nil {
		return nil, err
	}
	// fuse_verify_xattr_list: every name non-empty and NUL-terminated.
	var names []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i <= 0 {
			return nil, c.badReply(abi.FUSE_LISTXATTR, "malformed name list")
		}
		names = append(names, string(b[:i]))
		b = b[i+1:]
	}
	return names, nil
}

// Removexattr removes extended attribute name.
func (c *Conn) Removexattr(ctx context.Context, nodeid uint64, name string) error {
	return c.nameOnly(ctx, abi.FUSE_REMOVEXATTR, nodeid, name)
}

// DirEntry is one READDIR record.
type DirEntry struct {
	Ino  uint64
	Off  uint64 // cookie for the READDIR continuing after this entry
	Type uint32 // DT_*
	Name string
}

// DirEntryPlus is one READDIRPLUS record. A non-zero Entry.NodeID holds a
// lookup reference, except for "." and "..".
type DirEntryPlus struct {
	DirEntry
	Entry abi.EntryOut
}

// checkName applies the kernel's checks on a dirent name (fuse_parse_dirfile).
func (c *Conn) checkName(op abi.Opcode, name []byte) error {
	if len(name) == 0 || len(name) > 1024 || bytes.IndexByte(name, '/') >= 0 || bytes.IndexByte(name, 0) >= 0 {
		return c.badReply(op, "invalid entry name %q", name)
	}
	return nil
}

// Readdir reads directory entries from in.Offset with one READDIR of
// in.Size bytes (0 or too large: the per-request maximum). An empty result
// means the end of the directory.
func (c *Conn) Readdir(ctx context.Context, nodeid uint64, in abi.ReadIn) ([]DirEntry, error) {
	if in.Size == 0 || int(in.Size) > c.maxRead() {
		in.Size = uint32(c.maxRead())
	}
	b, err := c.call(ctx, abi.FUSE_READDIR, nodeid, 0, int(in.Size), in.Append(nil, c.order))
	if err != nil {
		return nil, err
	}
	var ents []DirEntry
	for len(b) > 0 {
		d, name, rest, err := abi.NextDirent(b, c.order)
		if errors.Is(err, abi.ErrShort) {
			break // a last record cut short ends the listing, as in the kernel
		}
		if err != nil {
			return nil, c.badReply(abi.FUSE_READDIR, "%v", err)
		}
		if err := c.checkName(abi.FUSE_READDIR, name); err != nil {
			return nil, err
		}
		ents = append(ents, DirEntry{Ino: d.Ino, Off: d.Off, Type: d.Type, Name: string(name)})
		b = rest
	}
	return ents, nil
}

// Readdirplus is Readdir returning each entry's lookup result too.
func (c *Conn) Readdirplus(ctx context.Context, nodeid uint64, in abi.ReadIn) ([]DirEntryPlus, error) {
	if in.Size == 0 || int(in.Size) > c.maxRead() {
		in.Size = uint32(c.maxRead())
	}
	b, err := c.call(ctx, abi.FUSE_READDIRPLUS, nodeid, 0, int(in.Size), in.Append(nil, c.order))
	if err != nil {
		return nil, err
	}
	var ents []DirEntryPlus
	var refs []uint64
	var bad error
	for len(b) > 0 {
		d, name, rest, err := abi.NextDirentplus(b, c.order)
		if errors.Is(err, abi.ErrShort) {
			break // as in Readdir; the kernel does not instantiate its node
		}
		if err != nil {
			bad = c.badReply(abi.FUSE_READDIRPLUS, "%v", err)
			break
		}
		if err := c.checkName(abi.FUSE_READDIRPLUS, name); err != nil {
			bad = err
			break
		}
		e := DirEntryPlus{DirEntry: DirEntry{Ino: d.Dirent.Ino, Off: d.Dirent.Off, Type: d.Dirent.Type, Name: string(name)}, Entry: d.EntryOut}
		if id := d.EntryOut.NodeID; id != 0 && e.Name != "." && e.Name != ".." {
			refs = append(refs, id)
		}
		ents = append(ents, e)
		b = rest
	}
	c.mu.Lock()
	for _, id := range refs {
		c.lookups[id]++
	}
	c.mu.Unlock()
	if bad != nil {
		// The references the server took for the entries before the
		// bad one are still ours to return (and only those: a node
		// may also be held by an earlier lookup).
		c.dropRefs(ctx, refs)
		return nil, bad
	}
	return ents, nil
}

func (c *Conn) lk(ctx context.Context, op abi.Opcode, nodeid uint64, in abi.LkIn) ([]byte, error) {
	return c.callFixed(ctx, op, nodeid, in.Append(nil, c.order))
}

// Getlk tests for a POSIX lock.
func (c *Conn) Getlk(ctx context.Context, nodeid uint64, in abi.LkIn) (*abi.LkOut, error) {
	b, err := c.lk(ctx, abi.FUSE_GETLK, nodeid, in)
	if err != nil {
		return nil, err
	}
	o := new(abi.LkOut)
	if _, err := o.Unmarshal(b, c.order); err != nil {
		return nil, c.badReply(abi.FUSE_GETLK, "decode lk: %v", err)
	}
	return o, nil
}

// Setlk sets or clears a lock without waiting.
func (c *Conn) Setlk(ctx context.Context, nodeid uint64, in abi.LkIn) error {
	_, err := c.lk(ctx, abi.FUSE_SETLK, nodeid, in)
	return err
}

// Setlkw sets a lock, waiting for it; cancelling ctx interrupts the wait.
func (c *Conn) Setlkw(ctx context.Context, nodeid uint64, in abi.LkIn) error {
	_, err := c.lk(ctx, abi.FUSE_SETLKW, nodeid, in)
	return err
}

// Access checks access with mask R_OK/W_OK/X_OK/F_OK.
func (c *Conn) Access(ctx context.Context, nodeid uint64, mask uint32) error {
	in := abi.AccessIn{Mask: mask}
	_, err := c.callFixed(ctx, abi.FUSE_ACCESS, nodeid, in.Append(nil, c.order))
	return err
}

func (c *Conn) create(ctx context.Context, op abi.Opcode, parent uint64, name string, in abi.CreateIn) (*abi.EntryOut, *abi.OpenOut, error) {
	n, err := cstr(op, name)
	if err != nil {
		return nil, nil, err
	}
	body := in.AppendPrefix(nil, abi.CreateInSize(c.init.Minor), c.order)
	b, err := c.callFixed(ctx, op, parent, body, n)
	if err != nil {
		return nil, nil, err
	}
	es := abi.EntryOutSize(c.init.Minor)
	e, err := c.entry(ctx, op, b[:es])
	if err != nil {
		return nil, nil, err
	}
	o := new(abi.OpenOut)
	if _, err := o.Unmarshal(b[es:], c.order); err != nil {
		return nil, nil, c.badReply(op, "decode open: %v", err)
	}
	return e, o, nil
}

// Create creates and opens a file.
func (c *Conn) Create(ctx context.Context, parent uint64, name string, in abi.CreateIn) (*abi.EntryOut, *abi.OpenOut, error) {
	return c.create(ctx, abi.FUSE_CREATE, parent, name, in)
}

// Tmpfile creates and opens an unnamed file in parent (O_TMPFILE).
func (c *Conn) Tmpfile(ctx context.Context, parent uint64, name string, in abi.CreateIn) (*abi.EntryOut, *abi.OpenOut, error) {
	return c.create(ctx, abi.FUSE_TMPFILE, parent, name, in)
}

// Interrupt sends FUSE_INTERRUPT for the request with unique u. Calls
// interrupt themselves when their context ends; this is for raw use.
func (c *Conn) Interrupt(ctx context.Context, u uint64) error {
	in := abi.InterruptIn{Unique: u}
	h := abi.InHeader{Len: uint32(abi.InHeaderSize + in.SizeBytes()), Opcode: abi.FUSE_INTERRUPT, Unique: u | 1}
	msg := in.Append(h.Append(nil, c.order), c.order)
	if err := c.Err(); err != nil {
		return c.deadErr(abi.FUSE_INTERRUPT)
	}
	if err := c.write(ctx, [][]byte{msg}); err != nil {
		return c.writeErr(abi.FUSE_INTERRUPT, err)
	}
	return nil
}

// Bmap maps a file block to a device block (fuseblk servers).
func (c *Conn) Bmap(ctx context.Context, nodeid uint64, in abi.BmapIn) (*abi.BmapOut, error) {
	b, err := c.callFixed(ctx, abi.FUSE_BMAP, nodeid, in.Append(nil, c.order))
	if err != nil {
		return nil, err
	}
	o := new(abi.BmapOut)
	if _, err := o.Unmarshal(b, c.order); err != nil {
		return nil, c.badReply(abi.FUSE_BMAP, "decode bmap: %v", err)
	}
	return o, nil
}

// Destroy sends FUSE_DESTROY and waits for its reply. Close does this.
func (c *Conn) Destroy(ctx context.Context) error {
	_, err := c.callFixed(ctx, abi.FUSE_DESTROY, 0)
	return err
}

// Ioctl sends an ioctl with input data; the reply is the fixed part and
// up to in.OutSize bytes of output (or iovecs with FUSE_IOCTL_RETRY).
func (c *Conn) Ioctl(ctx context.Context, nodeid uint64, in abi.IoctlIn, data []byte) (*abi.IoctlOut, []byte, error) {
	in.InSize = uint32(len(data))
	fixed := (&abi.IoctlOut{}).SizeBytes()
	limit := fixed + int(in.OutSize)
	if in.Flags&abi.FUSE_IOCTL_UNRESTRICTED != 0 {
		// A retry reply carries up to FUSE_IOCTL_MAX_IOV iovecs.
		limit = fixed + max(int(in.OutSize), abi.FUSE_IOCTL_MAX_IOV*16)
	}
	b, err := c.call(ctx, abi.FUSE_IOCTL, nodeid, fixed, limit, in.Append(nil, c.order), data)
	if err != nil {
		return nil, nil, err
	}
	o := new(abi.IoctlOut)
	rest, err := o.Unmarshal(b, c.order)
	if err != nil {
		return nil, nil, c.badReply(abi.FUSE_IOCTL, "decode ioctl: %v", err)
	}
	return o, rest, nil
}

// Poll polls a file handle.
func (c *Conn) Poll(ctx context.Context, nodeid uint64, in abi.PollIn) (*abi.PollOut, error) {
	b, err := c.callFixed(ctx, abi.FUSE_POLL, nodeid, in.Append(nil, c.order))
	if err != nil {
		return nil, err
	}
	o := new(abi.PollOut)
	if _, err := o.Unmarshal(b, c.order); err != nil {
		return nil, c.badReply(abi.FUSE_POLL, "decode poll: %v", err)
	}
	return o, nil
}

// Fallocate allocates or punches space.
func (c *Conn) Fallocate(ctx context.Context, nodeid uint64, in abi.FallocateIn) error {
	_, err := c.callFixed(ctx, abi.FUSE_FALLOCATE, nodeid, in.Append(nil, c.order))
	return err
}

// Lseek finds data or holes (SEEK_DATA 3, SEEK_HOLE 4).
func (c *Conn) Lseek(ctx context.Context, nodeid uint64, in abi.LseekIn) (*abi.LseekOut, error) {
	b, err := c.callFixed(ctx, abi.FUSE_LSEEK, nodeid, in.Append(nil, c.order))
	if err != nil {
		return nil, err
	}
	o := new(abi.LseekOut)
	if _, err := o.Unmarshal(b, c.order); err != nil {
		return nil, c.badReply(abi.FUSE_LSEEK, "decode lseek: %v", err)
	}
	return o, nil
}

// CopyFileRange copies with FUSE_COPY_FILE_RANGE (32-bit count; the kernel
// caps in.Len at 0xFFFFF000 for this op).
func (c *Conn) CopyFileRange(ctx context.Context, nodeid uint64, in abi.CopyFileRangeIn) (uint64, error) {
	in.Len = min(in.Len, 0xFFFFF000)
	b, err := c.callFixed(ctx, abi.FUSE_COPY_FILE_RANGE, nodeid, in.Append(nil, c.order))
	if err != nil {
		return 0, err
	}
	var o abi.WriteOut
	if _, err := o.Unmarshal(b, c.order); err != nil {
		return 0, c.badReply(abi.FUSE_COPY_FILE_RANGE, "decode write: %v", err)
	}
	return uint64(o.Size), nil
}

// CopyFileRange64 copies with FUSE_COPY_FILE_RANGE_64 (64-bit count, 7.45).
func (c *Conn) CopyFileRange64(ctx context.Context, nodeid uint64, in abi.CopyFileRangeIn) (uint64, error) {
	b, err := c.callFixed(ctx, abi.FUSE_COPY_FILE_RANGE_64, nodeid, in.Append(nil, c.order))
	if err != nil {
		return 0, err
	}
	var o abi.CopyFileRangeOut
	if _, err := o.Unmarshal(b, c.order); err != nil {
		return 0, c.badReply(abi.FUSE_COPY_FILE_RANGE_64, "decode copy: %v", err)
	}
	return o.BytesCopied, nil
}

// Setupmapping sets up a DAX mapping (virtiofs).
func (c *Conn) Setupmapping(ctx context.Context, nodeid uint64, in abi.SetupmappingIn) error {
	_, err := c.callFixed(ctx, abi.FUSE_SETUPMAPPING, nodeid, in.Append(nil, c.order))
	return err
}

// Removemapping removes DAX mappings (virtiofs).
func (c *Conn) Removemapping(ctx context.Context, nodeid uint64, ones []abi.RemovemappingOne) error {
	in := abi.RemovemappingIn{Count: uint32(len(ones))}
	body := in.Append(nil, c.order)
	for i := range ones {
		body = ones[i].Append(body, c.order)
	}
	_, err := c.callFixed(ctx, abi.FUSE_REMOVEMAPPING, nodeid, body)
	return err
}

// Syncfs syncs the file system (nodeid: the root).
func (c *Conn) Syncfs(ctx context.Context, nodeid uint64) error {
	in := abi.SyncfsIn{}
	_, err := c.callFixed(ctx, abi.FUSE_SYNCFS, nodeid, in.Append(nil, c.order))
	return err
}

// Statx gets extended attributes (7.39).
func (c *Conn) Statx(ctx context.Context, nodeid uint64, in abi.StatxIn) (*abi.StatxOut, error) {
	b, err := c.callFixed(ctx, abi.FUSE_STATX, nodeid, in.Append(nil, c.order))
	if err != nil {
		return nil, err
	}
	o := new(abi.StatxOut)
	if _, err := o.Unmarshal(b, c.order); err != nil {
		return nil, c.badReply(abi.FUSE_STATX, "decode statx: %v", err)
	}
	return o, nil
}
