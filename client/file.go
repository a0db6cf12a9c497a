package client

import (
	"errors"
	"io"
	"io/fs"
	"sync"
	"syscall"

	"github.com/fusectl/fusectl/abi"
)

// File is an open file or directory of an FS. It implements fs.File,
// fs.ReadDirFile, io.ReaderAt, io.Seeker, io.Writer and io.WriterAt. Its
// methods are safe for concurrent use.
type File struct {
	fsys      *FS
	name      string
	nodeid    uint64
	fh        uint64
	flags     uint32
	dir       bool
	noRelease bool // the server has no open/release (ENOSYS on OPEN)

	mu   sync.Mutex
	attr abi.Attr
	// Read-ahead buffer: small reads are served from one larger READ, as
	// the kernel's page cache and readahead serve them. Writes through
	// this File drop it.
	rbuf    []byte
	rbufOff int64
	off     int64
	closed  bool
	// directory reading state
	dirOff  uint64
	dirEOF  bool
	pending []fs.DirEntry
}

var (
	_ fs.ReadDirFile = (*File)(nil)
	_ io.ReaderAt    = (*File)(nil)
	_ io.Seeker      = (*File)(nil)
	_ io.WriterAt    = (*File)(nil)
)

// NodeID returns the node of the file.
func (fl *File) NodeID() uint64 { return fl.nodeid }

// Fh returns the server's file handle.
func (fl *File) Fh() uint64 { return fl.fh }

func (fl *File) pathErr(op string, err error) error {
	return &fs.PathError{Op: op, Path: fl.name, Err: err}
}

// Stat returns the file's attributes.
func (fl *File) Stat() (fs.FileInfo, error) {
	if fl.isClosed() {
		return nil, fl.pathErr("stat", fs.ErrClosed)
	}
	a, err := fl.fsys.getattr(fl.nodeid)
	if err != nil {
		return nil, fl.pathErr("stat", err)
	}
	fl.mu.Lock()
	fl.attr = a
	fl.mu.Unlock()
	return &fileInfo{name: baseName(fl.name), attr: a}, nil
}

func (fl *File) isClosed() bool {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.closed
}

// ReadAt reads len(p) bytes at off; fewer means end of file (io.EOF).
// Reads smaller than the negotiated max_readahead are served from a
// buffer filled by one READ of that size.
func (fl *File) ReadAt(p []byte, off int64) (int, error) {
	if fl.isClosed() {
		return 0, fl.pathErr("read", fs.ErrClosed)
	}
	if fl.dir {
		return 0, fl.pathErr("read", syscall.EISDIR)
	}
	if off < 0 {
		return 0, fl.pathErr("read", fs.ErrInvalid)
	}
	if len(p) == 0 {
		return 0, nil
	}
	c := fl.fsys.st.c
	ra := int(c.init.MaxReadahead)
	if len(p) >= ra {
		n, err := c.Read(fl.fsys.ctx, fl.nodeid, abi.ReadIn{Fh: fl.fh, Offset: uint64(off), Flags: fl.flags}, p)
		if err != nil {
			return n, fl.pathErr("read", err)
		}
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	in := func() bool { return off >= fl.rbufOff && off+int64(len(p)) <= fl.rbufOff+int64(len(fl.rbuf)) }
	if !in() {
		// Refill from off: the buffer ends early only at end of file.
		buf := make([]byte, ra)
		n, err := c.Read(fl.fsys.ctx, fl.nodeid, abi.ReadIn{Fh: fl.fh, Offset: uint64(off), Flags: fl.flags}, buf)
		if err != nil {
			fl.rbuf = nil
			return 0, fl.pathErr("read", err)
		}
		fl.rbuf, fl.rbufOff = buf[:n], off
	}
	n := 0
	if start := off - fl.rbufOff; start < int64(len(fl.rbuf)) {
		n = copy(p, fl.rbuf[start:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Read reads from the current offset.
func (fl *File) Read(p []byte) (int, error) {
	fl.mu.Lock()
	off := fl.off
	fl.mu.Unlock()
	n, err := fl.ReadAt(p, off)
	fl.mu.Lock()
	fl.off = off + int64(n)
	fl.mu.Unlock()
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

// Seek sets the offset for the next Read or Write.
func (fl *File) Seek(offset int64, whence int) (int64, error) {
	if fl.isClosed() {
		return 0, fl.pathErr("seek", fs.ErrClosed)
	}
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		fl.mu.Lock()
		base = fl.off
		fl.mu.Unlock()
	case io.SeekEnd:
		a, err := fl.fsys.getattr(fl.nodeid)
		if err != nil {
			return 0, fl.pathErr("seek", err)
		}
		base = int64(a.Size)
	default:
		return 0, fl.pathErr("seek", fs.ErrInvalid)
	}
	if base+offset < 0 {
		return 0, fl.pathErr("seek", fs.ErrInvalid)
	}
	fl.mu.Lock()
	fl.off = base + offset
	fl.mu.Unlock()
	return base + offset, nil
}

// WriteAt writes p at off.
func (fl *File) WriteAt(p []byte, off int64) (int, error) {
	if fl.isClosed() {
		return 0, fl.pathErr("write", fs.ErrClosed)
	}
	if off < 0 {
		return 0, fl.pathErr("write", fs.ErrInvalid)
	}
	fl.mu.Lock()
	fl.rbuf = nil
	fl.mu.Unlock()
	n, err := fl.fsys.st.c.Write(fl.fsys.ctx, fl.nodeid, abi.WriteIn{Fh: fl.fh, Offset: uint64(off), Flags: fl.flags}, p)
	fl.fsys.invalAttr(fl.nodeid)
	if err != nil {
		return n, fl.pathErr("write", err)
	}
	if n < len(p) {
		return n, fl.pathErr("write", io.ErrShortWrite)
	}
	return n, nil
}

// Write writes at the current offset.
func (fl *File) Write(p []byte) (int, error) {
	fl.mu.Lock()
	off := fl.off
	fl.mu.Unlock()
	n, err := fl.WriteAt(p, off)
	fl.mu.Lock()
	fl.off = off + int64(n)
	fl.mu.Unlock()
	return n, err
}

// Sync sends FSYNC.
func (fl *File) Sync() error {
	if err := fl.fsys.st.c.Fsync(fl.fsys.ctx, fl.nodeid, abi.FsyncIn{Fh: fl.fh}); err != nil && !errors.Is(err, syscall.ENOSYS) {
		return fl.pathErr("sync", err)
	}
	return nil
}

// Close sends FLUSH (files) and RELEASE or RELEASEDIR. ENOSYS from FLUSH
// is ignored, as the kernel ignores it.
func (fl *File) Close() error {
	fl.mu.Lock()
	if fl.closed {
		fl.mu.Unlock()
		return fl.pathErr("close", fs.ErrClosed)
	}
	fl.closed = true
	fl.mu.Unlock()
	if fl.noRelease {
		return nil
	}
	c, ctx := fl.fsys.st.c, fl.fsys.ctx
	var err error
	if fl.dir {
		err = c.Releasedir(ctx, fl.nodeid, abi.ReleaseIn{Fh: fl.fh, Flags: syscall.O_RDONLY | syscall.O_DIRECTORY})
	} else {
		if ferr := c.Flush(ctx, fl.nodeid, abi.FlushIn{Fh: fl.fh}); ferr != nil && !errors.Is(ferr, syscall.ENOSYS) {
			err = ferr
		}
		if rerr := c.Release(ctx, fl.nodeid, abi.ReleaseIn{Fh: fl.fh, Flags: fl.flags}); rerr != nil && err == nil && !errors.Is(rerr, syscall.ENOSYS) {
			err = rerr
		}
	}
	if err != nil && !errors.Is(err, syscall.ENOSYS) {
		return fl.pathErr("close", err)
	}
	return nil
}

// dirEntry is an fs.DirEntry of a FUSE directory.
type dirEntry struct {
	fsys   *FS
	parent uint64
	name   string
	typ    fs.FileMode
	attr   *abi.Attr // from READDIRPLUS
}

func (d *dirEntry) Name() string      { return d.name }
func (d *dirEntry) IsDir() bool       { return d.typ.IsDir() }
func (d *dirEntry) Type() fs.FileMode { return d.typ }
func (d *dirEntry) Info() (fs.FileInfo, error) {
	if d.attr != nil {
		return &fileInfo{name: d.name, attr: *d.attr}, nil
	}
	id, err := d.fsys.lookup(d.parent, d.name)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: d.name, Err: err}
	}
	a, err := d.fsys.getattr(id)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: d.name, Err: err}
	}
	return &fileInfo{name: d.name, attr: a}, nil
}

func (d *dirEntry) String() string { return fs.FormatDirEntry(d) }

// ReadDir reads directory entries, n at most if n > 0 (io.EOF at the
// end), else all remaining. "." and ".." are never returned, whether the
// server sends them or not.
func (fl *File) ReadDir(n int) ([]fs.DirEntry, error) {
	if fl.isClosed() {
		return nil, fl.pathErr("readdir", fs.ErrClosed)
	}
	if !fl.dir {
		return nil, fl.pathErr("readdir", syscall.ENOTDIR)
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	var out []fs.DirEntry
	for n <= 0 || len(out) < n {
		if len(fl.pending) == 0 {
			if fl.dirEOF {
				break
			}
			if err := fl.fillLocked(); err != nil {
				return out, fl.pathErr("readdir", err)
			}
			continue
		}
		k := len(fl.pending)
		if n > 0 {
			k = min(k, n-len(out))
		}
		out = append(out, fl.pending[:k]...)
		fl.pending = fl.pending[k:]
	}
	if n > 0 && len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

// fillLocked reads the next batch of entries from the server.
func (fl *File) fillLocked() error {
	f := fl.fsys
	c := f.st.c
	start := fl.dirOff
	defer func() {
		// A server that does not move the offset on would be read for
		// ever: treat it as the end of the directory.
		if fl.dirOff == start && !fl.dirEOF {
			fl.dirEOF = true
		}
	}()
	in := abi.ReadIn{Fh: fl.fh, Offset: fl.dirOff, Flags: syscall.O_RDONLY | syscall.O_DIRECTORY}
	if c.init.Has(abi.FUSE_DO_READDIRPLUS) && !f.st.opts.NoReaddirplus {
		ents, err := c.Readdirplus(f.ctx, fl.nodeid, in)
		if err != nil {
			return err
		}
		if len(ents) == 0 {
			fl.dirEOF = true
			return nil
		}
		for i := range ents {
			e := &ents[i]
			fl.dirOff = e.Off
			if e.Name == "." || e.Name == ".." {
				continue
			}
			de := &dirEntry{fsys: f, parent: fl.nodeid, name: e.Name, typ: dtMode(e.Type)}
			if e.Entry.NodeID != 0 {
				if !validAttr(&e.Entry.Attr) {
					// This entry's reference and those of the entries
					// after it will not be cached: return them.
					var refs []uint64
					for _, r := range ents[i:] {
						if r.Entry.NodeID != 0 && r.Name != "." && r.Name != ".." {
							refs = append(refs, r.Entry.NodeID)
						}
					}
					c.dropRefs(f.ctx, refs)
					return c.badReply(abi.FUSE_READDIRPLUS, "entry %q with invalid attributes", e.Name)
				}
				f.st.putEntry(dkey{fl.nodeid, e.Name}, &e.Entry)
				a := e.Entry.Attr
				de.attr = &a
				de.typ = unixMode(a.Mode) &^ 0o777 &^ (fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
			}
			fl.pending = append(fl.pending, de)
		}
		return nil
	}
	ents, err := c.Readdir(f.ctx, fl.nodeid, in)
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		fl.dirEOF = true
		return nil
	}
	for _, e := range ents {
		fl.dirOff = e.Off
		if e.Name == "." || e.Name == ".." {
			continue
		}
		fl.pending = append(fl.pending, &dirEntry{fsys: f, parent: fl.nodeid, name: e.Name, typ: dtMode(e.Type)})
	}
	return nil
}
