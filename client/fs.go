package client

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fusectl/fusectl/abi"
)

// FSOptions configure an FS.
type FSOptions struct {
	// Umask is applied to the modes of created files, as the kernel
	// applies the caller's umask (unless FUSE_DONT_MASK was negotiated, in
	// which case it is sent to the server instead).
	Umask uint32
	// NoReaddirplus uses READDIR even when FUSE_DO_READDIRPLUS was
	// negotiated.
	NoReaddirplus bool
	// Now returns the time for cache expiry; nil means time.Now.
	Now func() time.Time
}

// FS is a path-level view of a connection: io/fs.FS with ReadDirFS,
// StatFS and ReadFileFS, ReadLink and Lstat, plus write operations. Names
// are io/fs paths (slash-separated, no leading slash, "." for the root).
//
// It resolves paths with LOOKUP and caches entries and attributes for as
// long as the server allows (entry_valid, attr_valid), like the kernel's
// dcache and attribute cache, dropping them on the server's invalidation
// notifications. When it drops the last cached entry of a node it returns
// the node's lookup references with FORGET.
type FS struct {
	st  *fsState
	ctx context.Context
}

type dkey struct {
	parent uint64
	name   string
}

type dentry struct {
	nodeid  uint64 // 0 for a negative entry
	expires time.Time
}

type cachedAttr struct {
	attr    abi.Attr
	expires time.Time
}

// fsState is the cache shared by an FS and its WithContext views.
//
// Lock order of the package: File.mu, then fsState.mu or any of Conn's
// locks (File.mu is held across calls, to fill a file's read-ahead or
// directory buffer). fsState.mu is a leaf: nothing is called and no other
// lock is taken while it is held, so whichever goroutine reads the
// connection (possibly a caller holding a File.mu) may take it to apply a
// notification.
type fsState struct {
	c    *Conn
	opts FSOptions
	now  func() time.Time

	mu sync.Mutex
	// +checklocks:mu
	dentries map[dkey]dentry
	// +checklocks:mu
	attrs map[uint64]cachedAttr
	// +checklocks:mu
	refs map[uint64]int // cached dentries per node
	// +checklocks:mu
	forget []uint64 // nodes to FORGET at the next operation
}

// NewFS returns the path view of c. Methods without a context use
// context.Background; see WithContext.
func NewFS(c *Conn, opts FSOptions) *FS {
	st := &fsState{
		c:        c,
		opts:     opts,
		now:      opts.Now,
		dentries: make(map[dkey]dentry),
		attrs:    make(map[uint64]cachedAttr),
		refs:     make(map[uint64]int),
	}
	if st.now == nil {
		st.now = time.Now
	}
	c.onNotify(st.invalidate)
	return &FS{st: st, ctx: context.Background()}
}

// WithContext returns a view sharing f's caches whose calls use ctx.
func (f *FS) WithContext(ctx context.Context) *FS {
	return &FS{st: f.st, ctx: ctx}
}

// Conn returns the connection under f.
func (f *FS) Conn() *Conn { return f.st.c }

var (
	_ fs.FS         = (*FS)(nil)
	_ fs.ReadDirFS  = (*FS)(nil)
	_ fs.StatFS     = (*FS)(nil)
	_ fs.ReadFileFS = (*FS)(nil)
)

func validUntil(now time.Time, sec uint64, nsec uint32) time.Time {
	if sec > uint64(1<<33) {
		sec = 1 << 33 // about 270 years: forever
	}
	return now.Add(time.Duration(sec)*time.Second + time.Duration(nsec))
}

// invalidate applies a notification to the caches. It runs on whichever
// goroutine reads the connection, so it only drops entries; FORGETs wait
// for the next operation.
func (st *fsState) invalidate(n Notification) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch b := n.Body.(type) {
	case *abi.NotifyInvalInodeOut:
		delete(st.attrs, b.Ino)
	case *abi.NotifyInvalEntryOut:
		st.dropLocked(dkey{b.Parent, string(n.Name)})
		delete(st.attrs, b.Parent)
	case *abi.NotifyDeleteOut:
		st.dropLocked(dkey{b.Parent, string(n.Name)})
		delete(st.attrs, b.Parent)
		delete(st.attrs, b.Child)
	case *abi.NotifyStoreOut:
		delete(st.attrs, b.NodeID)
	case *abi.NotifyPruneOut:
		for _, id := range n.NodeIDs {
			delete(st.attrs, id)
			for k, d := range st.dentries {
				if d.nodeid == id {
					st.dropLocked(k)
				}
			}
		}
	}
	if n.Code == abi.FUSE_NOTIFY_INC_EPOCH {
		for k := range st.dentries {
			st.dropLocked(k)
		}
	}
}

// dropLocked removes a cached entry, queueing a FORGET for its node when
// no other cached entry refers to it.
func (st *fsState) dropLocked(k dkey) {
	d, ok := st.dentries[k]
	if !ok {
		return
	}
	delete(st.dentries, k)
	if d.nodeid == 0 {
		return
	}
	st.refs[d.nodeid]--
	if st.refs[d.nodeid] <= 0 {
		delete(st.refs, d.nodeid)
		delete(st.attrs, d.nodeid)
		st.forget = append(st.forget, d.nodeid)
	}
}

// putEntry caches the result of a LOOKUP (or of an operation that made an
// entry), taking over its lookup reference.
func (st *fsState) putEntry(k dkey, e *abi.EntryOut) {
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.dropLocked(k)
	d := dentry{nodeid: e.NodeID, expires: validUntil(now, e.EntryValid, e.EntryValidNsec)}
	if e.NodeID != 0 {
		st.refs[e.NodeID]++
		st.attrs[e.NodeID] = cachedAttr{attr: e.Attr, expires: validUntil(now, e.AttrValid, e.AttrValidNsec)}
	} else if !d.expires.After(now) {
		return // a negative entry valid for no time is not cached
	}
	st.dentries[k] = d
}

// flushForgets sends the FORGETs queued by dropped entries.
func (f *FS) flushForgets() {
	st := f.st
	st.mu.Lock()
	ids := st.forget
	st.forget = nil
	// A node looked up again since it was queued is still in use.
	ids = slices.DeleteFunc(ids, func(id uint64) bool { return st.refs[id] > 0 })
	st.mu.Unlock()
	if len(ids) > 0 {
		st.c.BatchForget(f.ctx, ids)
	}
}

// lookup resolves one name in directory parent, from the cache when valid.
func (f *FS) lookup(parent uint64, name string) (uint64, error) {
	st := f.st
	k := dkey{parent, name}
	now := st.now()
	st.mu.Lock()
	d, ok := st.dentries[k]
	st.mu.Unlock()
	if ok && d.expires.After(now) {
		if d.nodeid == 0 {
			return 0, &Error{Op: abi.FUSE_LOOKUP, Errno: syscall.ENOENT}
		}
		return d.nodeid, nil
	}
	e, err := st.c.Lookup(f.ctx, parent, name)
	if e != nil {
		st.putEntry(k, e)
	}
	if err != nil {
		if e == nil && errors.Is(err, syscall.ENOENT) {
			st.mu.Lock()
			st.dropLocked(k)
			st.mu.Unlock()
		}
		return 0, err
	}
	return e.NodeID, nil
}

// getattr returns the attributes of nodeid, from the cache when valid.
func (f *FS) getattr(nodeid uint64) (abi.Attr, error) {
	st := f.st
	now := st.now()
	st.mu.Lock()
	a, ok := st.attrs[nodeid]
	st.mu.Unlock()
	if ok && a.expires.After(now) {
		return a.attr, nil
	}
	out, err := st.c.Getattr(f.ctx, nodeid, abi.GetattrIn{})
	if err != nil {
		return abi.Attr{}, err
	}
	f.putAttr(nodeid, out)
	return out.Attr, nil
}

func (f *FS) putAttr(nodeid uint64, out *abi.AttrOut) {
	st := f.st
	now := st.now()
	st.mu.Lock()
	if nodeid == abi.FUSE_ROOT_ID || st.refs[nodeid] > 0 {
		st.attrs[nodeid] = cachedAttr{attr: out.Attr, expires: validUntil(now, out.AttrValid, out.AttrValidNsec)}
	}
	st.mu.Unlock()
}

// invalAttr drops the cached attributes of nodes an operation changed.
func (f *FS) invalAttr(ids ...uint64) {
	f.st.mu.Lock()
	for _, id := range ids {
		delete(f.st.attrs, id)
	}
	f.st.mu.Unlock()
}

// forgetEntry drops a cached entry an operation removed or replaced.
func (f *FS) forgetEntry(parent uint64, name string) {
	f.st.mu.Lock()
	f.st.dropLocked(dkey{parent, name})
	f.st.mu.Unlock()
}

const maxSymlinks = 40

// resolve walks name to a node. With follow, a symbolic link as the last
// component is followed; links in the middle always are. Targets are
// resolved inside the FS (an absolute target starts at its root).
func (f *FS) resolve(op, name string, follow bool) (uint64, error) {
	f.flushForgets()
	if !fs.ValidPath(name) {
		return 0, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	id, err := f.walk(name, follow, 0)
	if err != nil {
		return 0, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return id, nil
}

func (f *FS) walk(name string, follow bool, hops int) (uint64, error) {
	var dirs []uint64 // ancestors, for ".." in link targets
	cur := uint64(abi.FUSE_ROOT_ID)
	if name == "." || name == "" {
		return cur, nil
	}
	parts := strings.Split(name, "/")
	for i := 0; i < len(parts); i++ {
		p := parts[i]
		switch p {
		case "", ".":
			continue
		case "..":
			if len(dirs) > 0 {
				cur, dirs = dirs[len(dirs)-1], dirs[:len(dirs)-1]
			}
			continue
		}
		id, err := f.lookup(cur, p)
		if err != nil {
			return 0, err
		}
		last := i == len(parts)-1
		if last && !follow {
			return id, nil
		}
		a, err := f.getattr(id)
		if err != nil {
			return 0, err
		}
		if a.Mode&syscall.S_IFMT == syscall.S_IFLNK {
			if hops >= maxSymlinks {
				return 0, syscall.ELOOP
			}
			hops++
			target, err := f.st.c.Readlink(f.ctx, id)
			if err != nil {
				return 0, err
			}
			rest := parts[i+1:]
			if strings.HasPrefix(target, "/") {
				cur, dirs = abi.FUSE_ROOT_ID, nil
			}
			parts = append(strings.Split(strings.Trim(target, "/"), "/"), rest...)
			i = -1
			continue
		}
		if !last && a.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			return 0, syscall.ENOTDIR
		}
		dirs = append(dirs, cur)
		cur = id
	}
	return cur, nil
}

// parent resolves the directory of name and returns it with the base name.
func (f *FS) parent(op, name string) (uint64, string, error) {
	f.flushForgets()
	if !fs.ValidPath(name) || name == "." {
		return 0, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	id, err := f.walk(dir, true, 0)
	if err != nil {
		return 0, "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	return id, base, nil
}

// fileInfo is the fs.FileInfo of a node.
type fileInfo struct {
	name string
	attr abi.Attr
}

func (fi *fileInfo) Name() string      { return fi.name }
func (fi *fileInfo) Size() int64       { return int64(fi.attr.Size) }
func (fi *fileInfo) Mode() fs.FileMode { return unixMode(fi.attr.Mode) }
func (fi *fileInfo) ModTime() time.Time {
	return time.Unix(int64(fi.attr.Mtime), int64(fi.attr.Mtimensec))
}
func (fi *fileInfo) IsDir() bool { return fi.Mode().IsDir() }

// Sys returns the *abi.Attr the server sent.
func (fi *fileInfo) Sys() any { return &fi.attr }

// unixMode converts a Linux st_mode to an fs.FileMode.
func unixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & syscall.S_IFMT {
	case syscall.S_IFDIR:
		mode |= fs.ModeDir
	case syscall.S_IFLNK:
		mode |= fs.ModeSymlink
	case syscall.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		mode |= fs.ModeDevice
	case syscall.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&syscall.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&syscall.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&syscall.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// dtMode converts a dirent type (DT_*) to fs.FileMode type bits.
func dtMode(t uint32) fs.FileMode {
	return unixMode(t<<12) &^ 0o777
}

func baseName(name string) string {
	if name == "." {
		return "."
	}
	return path.Base(name)
}

func (f *FS) stat(op, name string, follow bool) (fs.FileInfo, error) {
	id, err := f.resolve(op, name, follow)
	if err != nil {
		return nil, err
	}
	a, err := f.getattr(id)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return &fileInfo{name: baseName(name), attr: a}, nil
}

// Stat returns the attributes of name, following symbolic links.
func (f *FS) Stat(name string) (fs.FileInfo, error) { return f.stat("stat", name, true) }

// Lstat returns the attributes of name without following a final
// symbolic link.
func (f *FS) Lstat(name string) (fs.FileInfo, error) { return f.stat("lstat", name, false) }

// ReadLink returns the target of the symbolic link name.
func (f *FS) ReadLink(name string) (string, error) {
	id, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	t, err := f.st.c.Readlink(f.ctx, id)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return t, nil
}

// Open opens name for reading (a directory for ReadDir).
func (f *FS) Open(name string) (fs.File, error) {
	return f.OpenFile(name, syscall.O_RDONLY)
}

// OpenFile opens name with open(2) flags (O_CREAT and O_TRUNC are not
// handled here: use Create, WriteFile, Truncate). The result is a *File.
func (f *FS) OpenFile(name string, flags int) (*File, error) {
	id, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	a, err := f.getattr(id)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	file := &File{fsys: f, name: name, nodeid: id, attr: a}
	in := abi.OpenIn{Flags: uint32(flags) &^ (syscall.O_CREAT | syscall.O_EXCL | syscall.O_NOCTTY | syscall.O_TRUNC)}
	if a.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		file.dir = true
		in.Flags = syscall.O_RDONLY | syscall.O_DIRECTORY
		out, err := f.st.c.Opendir(f.ctx, id, in)
		switch {
		case err == nil:
			file.fh = out.Fh
		case errors.Is(err, syscall.ENOSYS):
			// FUSE_NO_OPENDIR_SUPPORT servers: no handle needed.
			file.noRelease = true
		default:
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return file, nil
	}
	out, err := f.st.c.Open(f.ctx, id, in)
	switch {
	case err == nil:
		file.fh = out.Fh
	case errors.Is(err, syscall.ENOSYS):
		file.noRelease = true
	default:
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	file.flags = uint32(in.Flags)
	return file, nil
}

// ReadFile reads the whole file name.
func (f *FS) ReadFile(name string) ([]byte, error) {
	file, err := f.OpenFile(name, syscall.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	if file.dir {
		return nil, &fs.PathError{Op: "read", Path: name, Err: syscall.EISDIR}
	}
	buf := make([]byte, 0, min(file.attr.Size+1, 64<<20))
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(cap(buf), 64<<10))
		}
		n, err := file.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// ReadDir reads the directory name, sorted by name, without "." and "..".
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	file, err := f.OpenFile(name, syscall.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	if !file.dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: syscall.ENOTDIR}
	}
	ents, err := file.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}
