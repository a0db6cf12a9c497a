package demofs

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Statfs figures: a nominal capacity, so that df shows something sensible.
const (
	blockSize   = 4096
	totalBlocks = 1 << 24 // 64 GiB
	totalFiles  = 1 << 20
)

// Options configure New.
type Options struct {
	// Seed, if set, is a directory whose tree (contents, modes, owners,
	// times, symlinks, hard links, readable extended attributes) the file
	// system starts with.
	Seed string
}

// FS is one in-memory file system.
type FS struct {
	mu   sync.Mutex
	root *node
	seed []seedChild
	// attrTTL is the attribute timeout Mount gave go-fuse, which fills
	// it in GETATTR replies and not in SETATTR's.
	attrTTL time.Duration
	nodes   atomic.Int64 // live nodes, for statfs
	bytes   atomic.Int64 // file contents, for statfs
	// devFD is the descriptor of a /dev/fd/N mountpoint (0: none), where
	// MalformedXattr writes.
	devFD int
}

// New returns an empty file system, or a copy of Options.Seed.
func New(opts Options) (*FS, error) {
	f := &FS{}
	now := time.Now()
	f.root = f.newNode(syscall.S_IFDIR|0o755, uint32(syscall.Getuid()), uint32(syscall.Getgid()), now)
	if opts.Seed != "" {
		if err := f.loadSeed(opts.Seed); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Root returns the root node, to pass to fs.Mount or fs.NewNodeFS.
func (f *FS) Root() fs.InodeEmbedder { return f.root }

// node is every kind of file. Fields are guarded by fsys.mu.
type node struct {
	fs.Inode
	fsys *FS

	mode                uint32 // type and permission bits
	uid, gid            uint32
	rdev                uint32
	nlink               uint32 // for non-directories
	subdirs             uint32 // for directories: kept, not counted per stat
	atime, mtime, ctime time.Time
	data                content // file contents, or symlink target
	xattrs              map[string][]byte
}

func (f *FS) newNode(mode, uid, gid uint32, now time.Time) *node {
	f.nodes.Add(1)
	return &node{fsys: f, mode: mode, uid: uid, gid: gid, nlink: 1, atime: now, mtime: now, ctime: now}
}

func (n *node) isDir() bool { return n.mode&syscall.S_IFMT == syscall.S_IFDIR }

// fill writes n's attributes; fsys.mu must be held.
func (n *node) fill(a *fuse.Attr) {
	a.Mode = n.mode
	a.Uid, a.Gid = n.uid, n.gid
	a.Rdev = n.rdev
	a.Size = uint64(n.data.len())
	a.Blocks = (a.Size + 511) / 512
	a.Blksize = blockSize
	a.Nlink = n.nlink
	if n.isDir() {
		a.Size = blockSize
		a.Nlink = 2 + n.subdirs
	}
	a.SetTimes(&n.atime, &n.mtime, &n.ctime)
}

// caller returns the uid and gid of the process behind a request.
func caller(ctx context.Context) (uint32, uint32) {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Uid, c.Gid
	}
	return uint32(syscall.Getuid()), uint32(syscall.Getgid())
}

var (
	_ fs.NodeGetattrer     = (*node)(nil)
	_ fs.NodeSetattrer     = (*node)(nil)
	_ fs.NodeOpener        = (*node)(nil)
	_ fs.NodeReader        = (*node)(nil)
	_ fs.NodeWriter        = (*node)(nil)
	_ fs.NodeFsyncer       = (*node)(nil)
	_ fs.NodeFlusher       = (*node)(nil)
	_ fs.NodeCreater       = (*node)(nil)
	_ fs.NodeMkdirer       = (*node)(nil)
	_ fs.NodeMknoder       = (*node)(nil)
	_ fs.NodeSymlinker     = (*node)(nil)
	_ fs.NodeReadlinker    = (*node)(nil)
	_ fs.NodeLinker        = (*node)(nil)
	_ fs.NodeUnlinker      = (*node)(nil)
	_ fs.NodeRmdirer       = (*node)(nil)
	_ fs.NodeRenamer       = (*node)(nil)
	_ fs.NodeGetxattrer    = (*node)(nil)
	_ fs.NodeSetxattrer    = (*node)(nil)
	_ fs.NodeListxattrer   = (*node)(nil)
	_ fs.NodeRemovexattrer = (*node)(nil)
	_ fs.NodeStatfser      = (*node)(nil)
	_ fs.NodeOnAdder       = (*node)(nil)
)

// OnAdd builds the seeded tree under the root when it is mounted.
func (n *node) OnAdd(ctx context.Context) {
	if n != n.fsys.root {
		return
	}
	n.fsys.mu.Lock()
	seed := n.fsys.seed
	n.fsys.seed = nil
	n.fsys.mu.Unlock()
	made := map[*node]*fs.Inode{}
	var add func(parent *fs.Inode, kids []seedChild)
	add = func(parent *fs.Inode, kids []seedChild) {
		for _, k := range kids {
			ino, ok := made[k.n]
			if !ok {
				ino = parent.NewPersistentInode(ctx, k.n, fs.StableAttr{Mode: k.n.mode & syscall.S_IFMT})
				made[k.n] = ino
			}
			parent.AddChild(k.name, ino, false)
			add(ino, k.kids)
		}
	}
	add(&n.Inode, seed)
}

// Getattr implements fs.NodeGetattrer.
func (n *node) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	n.fill(&out.Attr)
	return 0
}

// Setattr implements fs.NodeSetattrer: chmod, chown, truncate, utimens.
func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	now := time.Now()
	if m, ok := in.GetMode(); ok {
		n.mode = n.mode&syscall.S_IFMT | m&0o7777
	}
	if uid, ok := in.GetUID(); ok {
		n.uid = uid
	}
	if gid, ok := in.GetGID(); ok {
		n.gid = gid
	}
	if size, ok := in.GetSize(); ok {
		if n.isDir() {
			return syscall.EISDIR
		}
		if n.mode&syscall.S_IFMT != syscall.S_IFREG {
			return syscall.EINVAL
		}
		n.truncate(size)
		n.mtime = now
	}
	if t, ok := in.GetATime(); ok {
		n.atime = t
	}
	if t, ok := in.GetMTime(); ok {
		n.mtime = t
	}
	n.ctime = now
	n.fill(&out.Attr)
	// go-fuse fills these for GETATTR only; without them the kernel
	// drops what it cached of the file at every chmod.
	out.Ino = n.StableAttr().Ino
	out.SetTimeout(n.fsys.attrTTL)
	return 0
}

// truncate sets the file size; fsys.mu must be held.
func (n *node) truncate(size uint64) {
	n.fsys.bytes.Add(int64(size) - n.data.len())
	n.data.truncate(int64(size))
}

// Open implements fs.NodeOpener; the node itself serves reads and writes.
// The file handle is nil but for a file whose ReleaseSleepXattr is set.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if flags&syscall.O_TRUNC != 0 && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		n.truncate(0)
		n.mtime, n.ctime = time.Now(), time.Now()
	}
	if v, ok := n.xattrs[ReleaseSleepXattr]; ok {
		return slowRelease(v), 0, 0
	}
	return nil, 0, 0
}

// slowRelease is the handle of a file opened while its ReleaseSleepXattr
// was set: the attribute's value.
type slowRelease string

// Release implements fs.FileReleaser: it waits as the attribute said.
func (s slowRelease) Release(ctx context.Context) syscall.Errno { return sleep(string(s)) }

// Read implements fs.NodeReader. It copies into dest: the data may change
// once the lock is released.
func (n *node) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if off < 0 {
		return nil, syscall.EINVAL
	}
	c := n.data.readAt(dest, off)
	n.atime = time.Now()
	return fuse.ReadResultData(dest[:c]), 0
}

// maxFileSize bounds writes, so a bad offset cannot exhaust memory.
const maxFileSize = 1 << 34

// Write implements fs.NodeWriter.
func (n *node) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if off < 0 {
		return 0, syscall.EINVAL
	}
	end := off + int64(len(data))
	if end > maxFileSize {
		return 0, syscall.EFBIG
	}
	if end > n.data.len() {
		n.truncate(uint64(end))
	}
	n.data.writeAt(data, off)
	n.mtime = time.Now()
	n.ctime = n.mtime
	return uint32(len(data)), 0
}

// Fsync implements fs.NodeFsyncer: memory is always in sync.
func (n *node) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno { return 0 }

// Flush implements fs.NodeFlusher.
func (n *node) Flush(ctx context.Context, fh fs.FileHandle) syscall.Errno { return 0 }

// newChild creates a node named name in directory n; fsys.mu must be held.
func (n *node) newChild(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*node, *fs.Inode, syscall.Errno) {
	if n.GetChild(name) != nil {
		return nil, nil, syscall.EEXIST
	}
	uid, gid := caller(ctx)
	now := time.Now()
	c := n.fsys.newNode(mode, uid, gid, now)
	n.mtime, n.ctime = now, now
	ino := n.NewPersistentInode(ctx, c, fs.StableAttr{Mode: mode & syscall.S_IFMT})
	if c.isDir() {
		n.subdirs++
	}
	c.fill(&out.Attr)
	return c, ino, 0
}

// Create implements fs.NodeCreater.
func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	_, ino, errno := n.newChild(ctx, name, syscall.S_IFREG|mode&0o7777, out)
	return ino, nil, 0, errno
}

// Mkdir implements fs.NodeMkdirer.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	_, ino, errno := n.newChild(ctx, name, syscall.S_IFDIR|mode&0o7777, out)
	return ino, errno
}

// Mknod implements fs.NodeMknoder: regular files, FIFOs, sockets and
// device nodes (which only record their number).
func (n *node) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG, syscall.S_IFIFO, syscall.S_IFSOCK, syscall.S_IFCHR, syscall.S_IFBLK:
	default:
		return nil, syscall.EINVAL
	}
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	c, ino, errno := n.newChild(ctx, name, mode, out)
	if errno == 0 {
		c.rdev = dev
		c.fill(&out.Attr)
	}
	return ino, errno
}

// Symlink implements fs.NodeSymlinker.
func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	c, ino, errno := n.newChild(ctx, name, syscall.S_IFLNK|0o777, out)
	if errno == 0 {
		c.data = newContent([]byte(target))
		c.fill(&out.Attr)
	}
	return ino, errno
}

// Readlink implements fs.NodeReadlinker.
func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if n.mode&syscall.S_IFMT != syscall.S_IFLNK {
		return nil, syscall.EINVAL
	}
	return n.data.bytes(), 0
}

// Link implements fs.NodeLinker: the new name refers to the same inode.
func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	t, ok := target.(*node)
	if !ok || t.fsys != n.fsys {
		return nil, syscall.EXDEV
	}
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if t.isDir() {
		return nil, syscall.EPERM
	}
	if n.GetChild(name) != nil {
		return nil, syscall.EEXIST
	}
	now := time.Now()
	t.nlink++
	t.ctime, n.mtime, n.ctime = now, now, now
	t.fill(&out.Attr)
	return t.EmbeddedInode(), 0
}

// unref drops one link of a non-directory; fsys.mu must be held.
func (n *node) unref(now time.Time) {
	if n.nlink > 0 {
		n.nlink--
	}
	n.ctime = now
	if n.nlink == 0 {
		n.fsys.nodes.Add(-1)
	}
}

// Unlink implements fs.NodeUnlinker.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	ci := n.GetChild(name)
	if ci == nil {
		return syscall.ENOENT
	}
	c := ci.Operations().(*node)
	if c.isDir() {
		return syscall.EISDIR
	}
	now := time.Now()
	c.unref(now)
	n.mtime, n.ctime = now, now
	return 0
}

// Rmdir implements fs.NodeRmdirer.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	ci := n.GetChild(name)
	if ci == nil {
		return syscall.ENOENT
	}
	if !ci.IsDir() {
		return syscall.ENOTDIR
	}
	if len(ci.Children()) > 0 {
		return syscall.ENOTEMPTY
	}
	n.fsys.nodes.Add(-1)
	n.subdirs--
	n.mtime, n.ctime = time.Now(), time.Now()
	return 0
}

// Rename flags (linux/fs.h), as go-fuse passes them through.
const (
	renameNoReplace = 1 << 0
	renameExchange  = 1 << 1
)

// Rename implements fs.NodeRenamer. go-fuse moves the tree entries when it
// returns 0; Rename checks what POSIX requires and updates link counts.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok || np.fsys != n.fsys {
		return syscall.EXDEV
	}
	if flags&^(renameNoReplace|renameExchange) != 0 || flags == renameNoReplace|renameExchange {
		return syscall.EINVAL
	}
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	src := n.GetChild(name)
	if src == nil {
		return syscall.ENOENT
	}
	dst := np.GetChild(newName)
	// A directory may not move below itself.
	if src.IsDir() {
		for p := np.EmbeddedInode(); p != nil; {
			if p == src {
				return syscall.EINVAL
			}
			_, p = p.Parent()
		}
	}
	now := time.Now()
	switch {
	case flags&renameExchange != 0:
		if dst == nil {
			return syscall.ENOENT
		}
		if dst.IsDir() {
			for p := n.EmbeddedInode(); p != nil; {
				if p == dst {
					return syscall.EINVAL
				}
				_, p = p.Parent()
			}
		}
		dst.Operations().(*node).ctime = now
	case dst != nil:
		if flags&renameNoReplace != 0 {
			return syscall.EEXIST
		}
		if dst == src {
			return 0
		}
		d := dst.Operations().(*node)
		switch {
		case src.IsDir() && !dst.IsDir():
			return syscall.ENOTDIR
		case !src.IsDir() && dst.IsDir():
			return syscall.EISDIR
		case dst.IsDir() && len(dst.Children()) > 0:
			return syscall.ENOTEMPTY
		case dst.IsDir():
			n.fsys.nodes.Add(-1)
		default:
			d.unref(now)
		}
	}
	// Subdirectory counts: src moves to np, and dst either moves to n
	// (exchange) or goes away.
	if src.IsDir() {
		n.subdirs--
		np.subdirs++
	}
	if dst != nil && dst.IsDir() {
		np.subdirs--
		if flags&renameExchange != 0 {
			n.subdirs++
		}
	}
	src.Operations().(*node).ctime = now
	n.mtime, n.ctime, np.mtime, np.ctime = now, now, now, now
	return 0
}

// Extended attribute flags of setxattr(2).
const (
	xattrCreate  = 1
	xattrReplace = 2
)

// Getxattr implements fs.NodeGetxattrer.
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	v, ok := n.xattrs[attr]
	if !ok {
		return 0, syscall.ENODATA
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

// Setxattr implements fs.NodeSetxattrer.
func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if attr == SleepXattr {
		return sleep(string(data)) // without the FS lock
	}
	if attr == MalformedXattr {
		return n.fsys.sendMalformed()
	}
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if attr == NotifyXattr {
		return n.notify(string(data))
	}
	_, exists := n.xattrs[attr]
	switch {
	case flags&xattrCreate != 0 && exists:
		return syscall.EEXIST
	case flags&xattrReplace != 0 && !exists:
		return syscall.ENODATA
	}
	if n.xattrs == nil {
		n.xattrs = map[string][]byte{}
	}
	n.xattrs[attr] = append([]byte(nil), data...)
	n.ctime = time.Now()
	return 0
}

// Listxattr implements fs.NodeListxattrer: names NUL-terminated, sorted.
func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	names := make([]string, 0, len(n.xattrs))
	for k := range n.xattrs {
		names = append(names, k)
	}
	sort.Strings(names)
	var b []byte
	for _, k := range names {
		b = append(append(b, k...), 0)
	}
	if len(dest) < len(b) {
		return uint32(len(b)), syscall.ERANGE
	}
	return uint32(copy(dest, b)), 0
}

// Removexattr implements fs.NodeRemovexattrer.
func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if _, ok := n.xattrs[attr]; !ok {
		return syscall.ENODATA
	}
	delete(n.xattrs, attr)
	n.ctime = time.Now()
	return 0
}

// Statfs implements fs.NodeStatfser with a nominal capacity.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	files := uint64(max(n.fsys.nodes.Load(), 0))
	out.Bsize, out.Frsize, out.NameLen = blockSize, blockSize, 255
	out.Blocks = totalBlocks
	used := (uint64(max(n.fsys.bytes.Load(), 0)) + blockSize - 1) / blockSize
	out.Bfree = totalBlocks - min(used, totalBlocks)
	out.Bavail = out.Bfree
	out.Files = totalFiles
	out.Ffree = totalFiles - min(files, totalFiles)
	return 0
}
