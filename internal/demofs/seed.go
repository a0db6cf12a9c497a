package demofs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// seedChild is one entry of the seeded tree, built by New and turned into
// inodes by the root's OnAdd (inodes can only be made once mounted).
type seedChild struct {
	name string
	n    *node
	kids []seedChild
}

// maxSeedFile bounds what one seeded file may hold in memory.
const maxSeedFile = 1 << 30

// loadSeed copies the tree at dir into memory.
func (f *FS) loadSeed(dir string) error {
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		return fmt.Errorf("seed %s: %w", dir, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return fmt.Errorf("seed %s: not a directory", dir)
	}
	f.root.mode = syscall.S_IFDIR | st.Mode&0o7777
	f.root.uid, f.root.gid = st.Uid, st.Gid
	f.root.atime, f.root.mtime, f.root.ctime = statTimes(&st)
	f.root.xattrs = readXattrs(dir)
	links := map[[2]uint64]*node{}
	kids, err := f.loadDir(dir, links)
	if err != nil {
		return err
	}
	f.root.subdirs = countDirs(kids)
	f.seed = kids
	return nil
}

func (f *FS) loadDir(dir string, links map[[2]uint64]*node) ([]seedChild, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	var out []seedChild
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
		key := [2]uint64{st.Dev, st.Ino}
		if n, ok := links[key]; ok && st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			n.nlink++
			out = append(out, seedChild{name: e.Name(), n: n})
			continue
		}
		n := f.newNode(st.Mode, st.Uid, st.Gid, time.Now())
		n.atime, n.mtime, n.ctime = statTimes(&st)
		if st.Mode&syscall.S_IFMT != syscall.S_IFLNK {
			// syscall has no llistxattr; a symlink's would be its target's.
			n.xattrs = readXattrs(p)
		}
		c := seedChild{name: e.Name(), n: n}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFDIR:
			if c.kids, err = f.loadDir(p, links); err != nil {
				return nil, err
			}
			n.subdirs = countDirs(c.kids)
		case syscall.S_IFREG:
			if st.Size > maxSeedFile {
				return nil, fmt.Errorf("seed: %s: larger than %d bytes", p, maxSeedFile)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("seed: %w", err)
			}
			n.data = newContent(data)
			f.bytes.Add(int64(len(data)))
			links[key] = n
		case syscall.S_IFLNK:
			t, err := os.Readlink(p)
			if err != nil {
				return nil, fmt.Errorf("seed: %w", err)
			}
			n.data = newContent([]byte(t))
			links[key] = n
		default:
			n.rdev = uint32(st.Rdev)
			links[key] = n
		}
		out = append(out, c)
	}
	return out, nil
}

// countDirs returns how many of kids are directories.
func countDirs(kids []seedChild) uint32 {
	var n uint32
	for _, k := range kids {
		if k.n.isDir() {
			n++
		}
	}
	return n
}

func statTimes(st *syscall.Stat_t) (atime, mtime, ctime time.Time) {
	return time.Unix(st.Atim.Unix()), time.Unix(st.Mtim.Unix()), time.Unix(st.Ctim.Unix())
}

// readXattrs returns the extended attributes of path that can be read;
// the others (security.*, trusted.* without privilege) are skipped.
func readXattrs(path string) map[string][]byte {
	sz, err := syscall.Listxattr(path, nil)
	if err != nil || sz <= 0 {
		return nil
	}
	list := make([]byte, sz)
	if sz, err = syscall.Listxattr(path, list); err != nil {
		return nil
	}
	var out map[string][]byte
	for _, name := range bytes.Split(list[:sz], []byte{0}) {
		if len(name) == 0 {
			continue
		}
		vs, err := syscall.Getxattr(path, string(name), nil)
		if err != nil {
			continue
		}
		v := make([]byte, vs)
		if vs, err = syscall.Getxattr(path, string(name), v); err != nil {
			continue
		}
		if out == nil {
			out = map[string][]byte{}
		}
		out[string(name)] = v[:vs]
	}
	return out
}
