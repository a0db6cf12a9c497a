package client

import (
	"errors"
	"io/fs"
	"syscall"

	"github.com/fusectl/fusectl/abi"
)

// createMode returns the mode and umask fields for a create-type request,
// applying the umask as the kernel does (unless FUSE_DONT_MASK).
func (f *FS) createMode(perm fs.FileMode) (mode, umask uint32) {
	mode = permBits(perm)
	umask = f.st.opts.Umask
	if !f.st.c.init.Has(abi.FUSE_DONT_MASK) {
		mode &^= umask
	}
	return mode, umask
}

// permBits returns the Linux permission bits of perm.
func permBits(perm fs.FileMode) uint32 {
	mode := uint32(perm.Perm())
	if perm&fs.ModeSetuid != 0 {
		mode |= syscall.S_ISUID
	}
	if perm&fs.ModeSetgid != 0 {
		mode |= syscall.S_ISGID
	}
	if perm&fs.ModeSticky != 0 {
		mode |= syscall.S_ISVTX
	}
	return mode
}

// Create creates (or truncates) the regular file name and opens it for
// reading and writing.
func (f *FS) Create(name string, perm fs.FileMode) (*File, error) {
	return f.create(name, perm, syscall.O_RDWR|syscall.O_CREAT|syscall.O_TRUNC)
}

func (f *FS) create(name string, perm fs.FileMode, flags uint32) (*File, error) {
	parent, base, err := f.parent("create", name)
	if err != nil {
		return nil, err
	}
	mode, umask := f.createMode(perm)
	in := abi.CreateIn{Flags: flags, Mode: syscall.S_IFREG | mode, Umask: umask}
	e, o, err := f.st.c.Create(f.ctx, parent, base, in)
	if err != nil {
		return nil, &fs.PathError{Op: "create", Path: name, Err: err}
	}
	f.st.putEntry(dkey{parent, base}, e)
	f.invalAttr(parent)
	file := &File{fsys: f, name: name, nodeid: e.NodeID, fh: o.Fh, attr: e.Attr, flags: flags &^ (syscall.O_CREAT | syscall.O_EXCL | syscall.O_TRUNC)}
	if flags&syscall.O_TRUNC != 0 && e.Attr.Size != 0 {
		// CREATE of an existing file: O_TRUNC is the kernel's business.
		if err := f.truncate(e.NodeID, &o.Fh, 0); err != nil {
			file.Close()
			return nil, &fs.PathError{Op: "create", Path: name, Err: err}
		}
	}
	return file, nil
}

// WriteFile writes data to name, creating it with perm or truncating it.
func (f *FS) WriteFile(name string, data []byte, perm fs.FileMode) error {
	file, err := f.OpenFile(name, syscall.O_WRONLY)
	switch {
	case err == nil:
		if file.dir {
			file.Close()
			return &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
		}
		if terr := f.truncate(file.nodeid, &file.fh, 0); terr != nil {
			file.Close()
			return &fs.PathError{Op: "truncate", Path: name, Err: terr}
		}
	case errors.Is(err, fs.ErrNotExist):
		file, err = f.create(name, perm, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC)
		if err != nil {
			return err
		}
	default:
		return err
	}
	_, werr := file.WriteAt(data, 0)
	cerr := file.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

// truncate sets the size of nodeid with SETATTR (through fh if given).
func (f *FS) truncate(nodeid uint64, fh *uint64, size uint64) error {
	in := abi.SetattrIn{Valid: abi.FATTR_SIZE, Size: size}
	if fh != nil {
		in.Valid |= abi.FATTR_FH
		in.Fh = *fh
	}
	out, err := f.st.c.Setattr(f.ctx, nodeid, in)
	if err != nil {
		return err
	}
	f.putAttr(nodeid, out)
	return nil
}

// Truncate changes the size of the file name.
func (f *FS) Truncate(name string, size int64) error {
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: name, Err: fs.ErrInvalid}
	}
	id, err := f.resolve("truncate", name, true)
	if err != nil {
		return err
	}
	if err := f.truncate(id, nil, uint64(size)); err != nil {
		return &fs.PathError{Op: "truncate", Path: name, Err: err}
	}
	return nil
}

// Chmod changes the permission bits of name.
func (f *FS) Chmod(name string, mode fs.FileMode) error {
	id, err := f.resolve("chmod", name, true)
	if err != nil {
		return err
	}
	a, err := f.getattr(id)
	if err != nil {
		return &fs.PathError{Op: "chmod", Path: name, Err: err}
	}
	m := permBits(mode) // chmod ignores the umask
	// The kernel sends the file type bits along (chmod_common).
	in := abi.SetattrIn{Valid: abi.FATTR_MODE, Mode: a.Mode&syscall.S_IFMT | m}
	out, err := f.st.c.Setattr(f.ctx, id, in)
	if err != nil {
		return &fs.PathError{Op: "chmod", Path: name, Err: err}
	}
	f.putAttr(id, out)
	return nil
}

// Mkdir creates the directory name.
func (f *FS) Mkdir(name string, perm fs.FileMode) error {
	parent, base, err := f.parent("mkdir", name)
	if err != nil {
		return err
	}
	mode, umask := f.createMode(perm)
	e, err := f.st.c.Mkdir(f.ctx, parent, base, abi.MkdirIn{Mode: mode, Umask: umask})
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: name, Err: err}
	}
	f.st.putEntry(dkey{parent, base}, e)
	f.invalAttr(parent)
	return nil
}

// Remove removes the file or empty directory name.
func (f *FS) Remove(name string) error {
	parent, base, err := f.parent("remove", name)
	if err != nil {
		return err
	}
	id, err := f.lookup(parent, base)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	a, err := f.getattr(id)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	if a.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		err = f.st.c.Rmdir(f.ctx, parent, base)
	} else {
		err = f.st.c.Unlink(f.ctx, parent, base)
	}
	f.forgetEntry(parent, base)
	f.invalAttr(parent, id)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	return nil
}

// Rename renames oldname to newname, replacing newname if it exists.
func (f *FS) Rename(oldname, newname string) error {
	op, ob, err := f.parent("rename", oldname)
	if err != nil {
		return err
	}
	np, nb, err := f.parent("rename", newname)
	if err != nil {
		return err
	}
	err = f.st.c.Rename(f.ctx, op, ob, np, nb)
	f.forgetEntry(op, ob)
	f.forgetEntry(np, nb)
	f.invalAttr(op, np)
	if err != nil {
		return &fs.PathError{Op: "rename", Path: oldname, Err: err}
	}
	return nil
}

// Symlink creates newname as a symbolic link to target.
func (f *FS) Symlink(target, newname string) error {
	parent, base, err := f.parent("symlink", newname)
	if err != nil {
		return err
	}
	e, err := f.st.c.Symlink(f.ctx, parent, base, target)
	if err != nil {
		return &fs.PathError{Op: "symlink", Path: newname, Err: err}
	}
	f.st.putEntry(dkey{parent, base}, e)
	f.invalAttr(parent)
	return nil
}

// Link creates newname as a hard link to oldname.
func (f *FS) Link(oldname, newname string) error {
	id, err := f.resolve("link", oldname, false)
	if err != nil {
		return err
	}
	parent, base, err := f.parent("link", newname)
	if err != nil {
		return err
	}
	e, err := f.st.c.Link(f.ctx, id, parent, base)
	if err != nil {
		return &fs.PathError{Op: "link", Path: newname, Err: err}
	}
	f.st.putEntry(dkey{parent, base}, e)
	f.invalAttr(parent, id)
	return nil
}

// Setxattr sets extended attribute attr of name (flags: XATTR_CREATE 1,
// XATTR_REPLACE 2).
func (f *FS) Setxattr(name, attr string, value []byte, flags uint32) error {
	id, err := f.resolve("setxattr", name, true)
	if err != nil {
		return err
	}
	if err := f.st.c.Setxattr(f.ctx, id, attr, value, abi.SetxattrIn{Flags: flags}); err != nil {
		return &fs.PathError{Op: "setxattr", Path: name, Err: err}
	}
	f.invalAttr(id)
	return nil
}

// Getxattr returns the value of extended attribute attr of name.
func (f *FS) Getxattr(name, attr string) ([]byte, error) {
	id, err := f.resolve("getxattr", name, true)
	if err != nil {
		return nil, err
	}
	c := f.st.c
	for range 3 {
		size, err := c.GetxattrSize(f.ctx, id, attr)
		if err != nil {
			return nil, &fs.PathError{Op: "getxattr", Path: name, Err: err}
		}
		if size == 0 {
			return []byte{}, nil
		}
		v, err := c.Getxattr(f.ctx, id, attr, size)
		if errors.Is(err, syscall.ERANGE) {
			continue // it grew in between
		}
		if err != nil {
			return nil, &fs.PathError{Op: "getxattr", Path: name, Err: err}
		}
		return v, nil
	}
	return nil, &fs.PathError{Op: "getxattr", Path: name, Err: syscall.ERANGE}
}

// Listxattr returns the extended attribute names of name.
func (f *FS) Listxattr(name string) ([]string, error) {
	id, err := f.resolve("listxattr", name, true)
	if err != nil {
		return nil, err
	}
	c := f.st.c
	for range 3 {
		size, err := c.ListxattrSize(f.ctx, id)
		if err != nil {
			return nil, &fs.PathError{Op: "listxattr", Path: name, Err: err}
		}
		if size == 0 {
			return nil, nil
		}
		v, err := c.Listxattr(f.ctx, id, size)
		if errors.Is(err, syscall.ERANGE) {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "listxattr", Path: name, Err: err}
		}
		return v, nil
	}
	return nil, &fs.PathError{Op: "listxattr", Path: name, Err: syscall.ERANGE}
}

// Removexattr removes extended attribute attr of name.
func (f *FS) Removexattr(name, attr string) error {
	id, err := f.resolve("removexattr", name, true)
	if err != nil {
		return err
	}
	if err := f.st.c.Removexattr(f.ctx, id, attr); err != nil {
		return &fs.PathError{Op: "removexattr", Path: name, Err: err}
	}
	f.invalAttr(id)
	return nil
}
