package client

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
)

// genericHandler answers every request with a well-formed success reply
// of the size the negotiated minor calls for.
func genericHandler(minor uint32) func(fakeReq) [][]byte {
	return func(r fakeReq) [][]byte {
		u := r.hdr.Unique
		op := r.hdr.Opcode
		switch op {
		case abi.FUSE_INIT:
			return [][]byte{initReply(r, func(o *abi.InitOut) {
				o.Minor = minor
				f := abi.FUSE_ASYNC_READ | abi.FUSE_MAX_PAGES | abi.FUSE_DO_READDIRPLUS
				if minor >= 33 {
					f |= abi.FUSE_SETXATTR_EXT
				}
				o.SetInitFlags(f)
			})}
		case abi.FUSE_FORGET, abi.FUSE_BATCH_FORGET, abi.FUSE_INTERRUPT, abi.FUSE_NOTIFY_REPLY:
			return nil
		case abi.FUSE_LOOKUP, abi.FUSE_MKNOD, abi.FUSE_MKDIR, abi.FUSE_SYMLINK, abi.FUSE_LINK:
			return [][]byte{reply(u, 0, entryBody(7, testAttr)[:abi.EntryOutSize(minor)])}
		case abi.FUSE_CREATE, abi.FUSE_TMPFILE:
			o := abi.OpenOut{Fh: 9}
			return [][]byte{reply(u, 0, entryBody(7, testAttr)[:abi.EntryOutSize(minor)], o.Append(nil, ne))}
		case abi.FUSE_GETATTR, abi.FUSE_SETATTR:
			return [][]byte{reply(u, 0, attrBody(testAttr)[:abi.AttrOutSize(minor)])}
		case abi.FUSE_STATFS:
			s := abi.StatfsOut{St: abi.Kstatfs{Blocks: 100, Bsize: 4096}}
			return [][]byte{reply(u, 0, s.Append(nil, ne)[:abi.StatfsOutSize(minor)])}
		case abi.FUSE_READ:
			var in abi.ReadIn
			in.Unmarshal(r.body, ne)
			return [][]byte{reply(u, 0, bytes.Repeat([]byte{'r'}, int(in.Size)))}
		case abi.FUSE_WRITE:
			var in abi.WriteIn
			in.UnmarshalPrefix(r.body, abi.WriteInSize(minor), ne)
			o := abi.WriteOut{Size: in.Size}
			return [][]byte{reply(u, 0, o.Append(nil, ne))}
		case abi.FUSE_READLINK:
			return [][]byte{reply(u, 0, []byte("target"))}
		case abi.FUSE_GETXATTR, abi.FUSE_LISTXATTR:
			var in abi.GetxattrIn
			in.Unmarshal(r.body, ne)
			if in.Size == 0 {
				o := abi.GetxattrOut{Size: 14}
				return [][]byte{reply(u, 0, o.Append(nil, ne))}
			}
			return [][]byte{reply(u, 0, []byte("user.a\x00user.b\x00"))}
		case abi.FUSE_READDIR:
			var d []byte
			d = abi.AppendDirent(d, abi.Dirent{Ino: 1, Off: 1, Namelen: 1, Type: 4}, ".", ne)
			d = abi.AppendDirent(d, abi.Dirent{Ino: 7, Off: 2, Namelen: 1, Type: 8}, "f", ne)
			// A last record cut short, as libfuse 2 sends: the kernel
			// ends the listing there, and so must the client.
			d = abi.AppendDirent(d, abi.Dirent{Ino: 8, Off: 3, Type: 8}, "cut", ne)
			d = d[:len(d)-4]
			return [][]byte{reply(u, 0, d)}
		case abi.FUSE_READDIRPLUS:
			var d []byte
			d = abi.AppendDirentplus(d, abi.Direntplus{EntryOut: abi.EntryOut{NodeID: 1, Attr: testAttr}, Dirent: abi.Dirent{Ino: 1, Off: 1, Namelen: 2, Type: 4}}, "..", ne)
			d = abi.AppendDirentplus(d, abi.Direntplus{EntryOut: abi.EntryOut{NodeID: 8, Attr: testAttr}, Dirent: abi.Dirent{Ino: 8, Off: 2, Namelen: 1, Type: 8}}, "g", ne)
			// Cut short: not listed, and its node not counted.
			d = abi.AppendDirentplus(d, abi.Direntplus{EntryOut: abi.EntryOut{NodeID: 9, Attr: testAttr}, Dirent: abi.Dirent{Ino: 9, Off: 3, Type: 8}}, "cut", ne)
			d = d[:len(d)-4]
			return [][]byte{reply(u, 0, d)}
		case abi.FUSE_IOCTL:
			o := abi.IoctlOut{Result: 3}
			return [][]byte{reply(u, 0, o.Append(nil, ne), []byte("out!"))}
		}
		info := op.Info()
		if info == nil {
			return [][]byte{reply(u, -38)}
		}
		return [][]byte{reply(u, 0, make([]byte, info.OutSize))}
	}
}

// TestEncoding runs every typed call against a fake server and checks the
// request on the wire, at 7.45 and at old minors with compat sizes.
func TestEncoding(t *testing.T) {
	type enc interface {
		Append([]byte, abi.ByteOrder) []byte
	}
	cat := func(parts ...any) []byte {
		var b []byte
		for _, p := range parts {
			switch v := p.(type) {
			case enc:
				b = v.Append(b, ne)
			case string:
				b = append(b, v...)
			case []byte:
				b = append(b, v...)
			default:
				panic(fmt.Sprintf("cat: %T", p))
			}
		}
		return b
	}
	prefix := func(e enc, n int) []byte { return e.Append(nil, ne)[:n] }
	type step struct {
		name string
		call func(ctx context.Context, c *Conn) error
		op   abi.Opcode
		node uint64
		body func(minor uint32) []byte
	}
	setattr := abi.SetattrIn{Valid: abi.FATTR_SIZE, Size: 5}
	lk := abi.LkIn{Fh: 3, Owner: 4, Lk: abi.FileLock{Start: 1, End: 2, Type: 1, PID: 5}}
	cfr := abi.CopyFileRangeIn{FhIn: 1, OffIn: 2, NodeIDOut: 3, FhOut: 4, OffOut: 5, Len: 6}
	steps := []step{
		{"lookup", func(ctx context.Context, c *Conn) error { _, err := c.Lookup(ctx, 1, "a"); return err },
			abi.FUSE_LOOKUP, 1, func(uint32) []byte { return []byte("a\x00") }},
		{"getattr", func(ctx context.Context, c *Conn) error {
			_, err := c.Getattr(ctx, 7, abi.GetattrIn{GetattrFlags: abi.FUSE_GETATTR_FH, Fh: 9})
			return err
		}, abi.FUSE_GETATTR, 7, func(uint32) []byte { return cat(&abi.GetattrIn{GetattrFlags: abi.FUSE_GETATTR_FH, Fh: 9}) }},
		{"setattr", func(ctx context.Context, c *Conn) error { _, err := c.Setattr(ctx, 7, setattr); return err },
			abi.FUSE_SETATTR, 7, func(uint32) []byte { return cat(&setattr) }},
		{"readlink", func(ctx context.Context, c *Conn) error {
			s, err := c.Readlink(ctx, 7)
			if s != "target" && err == nil {
				err = fmt.Errorf("target %q", s)
			}
			return err
		}, abi.FUSE_READLINK, 7, func(uint32) []byte { return nil }},
		{"symlink", func(ctx context.Context, c *Conn) error { _, err := c.Symlink(ctx, 1, "l", "t"); return err },
			abi.FUSE_SYMLINK, 1, func(uint32) []byte { return []byte("l\x00t\x00") }},
		{"mknod", func(ctx context.Context, c *Conn) error {
			_, err := c.Mknod(ctx, 1, "n", abi.MknodIn{Mode: 0o10644, Rdev: 0, Umask: 0o22})
			return err
		}, abi.FUSE_MKNOD, 1, func(m uint32) []byte {
			return cat(prefix(&abi.MknodIn{Mode: 0o10644, Umask: 0o22}, abi.MknodInSize(m)), "n\x00")
		}},
		{"mkdir", func(ctx context.Context, c *Conn) error {
			_, err := c.Mkdir(ctx, 1, "d", abi.MkdirIn{Mode: 0o755, Umask: 0o22})
			return err
		}, abi.FUSE_MKDIR, 1, func(uint32) []byte { return cat(&abi.MkdirIn{Mode: 0o755, Umask: 0o22}, "d\x00") }},
		{"unlink", func(ctx context.Context, c *Conn) error { return c.Unlink(ctx, 1, "f") },
			abi.FUSE_UNLINK, 1, func(uint32) []byte { return []byte("f\x00") }},
		{"rmdir", func(ctx context.Context, c *Conn) error { return c.Rmdir(ctx, 1, "d") },
			abi.FUSE_RMDIR, 1, func(uint32) []byte { return []byte("d\x00") }},
		{"rename", func(ctx context.Context, c *Conn) error { return c.Rename(ctx, 1, "a", 2, "b") },
			abi.FUSE_RENAME, 1, func(uint32) []byte { return cat(&abi.RenameIn{NewDir: 2}, "a\x00b\x00") }},
		{"rename2", func(ctx context.Context, c *Conn) error { return c.Rename2(ctx, 1, "a", 2, "b", 1) },
			abi.FUSE_RENAME2, 1, func(uint32) []byte { return cat(&abi.Rename2In{NewDir: 2, Flags: 1}, "a\x00b\x00") }},
		{"link", func(ctx context.Context, c *Conn) error { _, err := c.Link(ctx, 7, 1, "h"); return err },
			abi.FUSE_LINK, 1, func(uint32) []byte { return cat(&abi.LinkIn{OldNodeID: 7}, "h\x00") }},
		{"open", func(ctx context.Context, c *Conn) error { _, err := c.Open(ctx, 7, abi.OpenIn{Flags: 2}); return err },
			abi.FUSE_OPEN, 7, func(uint32) []byte { return cat(&abi.OpenIn{Flags: 2}) }},
		{"read", func(ctx context.Context, c *Conn) error {
			b, err := c.ReadOnce(ctx, 7, abi.ReadIn{Fh: 9, Offset: 10, Size: 100})
			if len(b) != 100 && err == nil {
				err = fmt.Errorf("read %d bytes", len(b))
			}
			return err
		}, abi.FUSE_READ, 7, func(uint32) []byte { return cat(&abi.ReadIn{Fh: 9, Offset: 10, Size: 100}) }},
		{"write", func(ctx context.Context, c *Conn) error {
			_, err := c.WriteOnce(ctx, 7, abi.WriteIn{Fh: 9, Offset: 10}, []byte("data"))
			return err
		}, abi.FUSE_WRITE, 7, func(m uint32) []byte {
			return cat(prefix(&abi.WriteIn{Fh: 9, Offset: 10, Size: 4}, abi.WriteInSize(m)), "data")
		}},
		{"statfs", func(ctx context.Context, c *Conn) error { _, err := c.Statfs(ctx, 1); return err },
			abi.FUSE_STATFS, 1, func(uint32) []byte { return nil }},
		{"release", func(ctx context.Context, c *Conn) error { return c.Release(ctx, 7, abi.ReleaseIn{Fh: 9, Flags: 2}) },
			abi.FUSE_RELEASE, 7, func(uint32) []byte { return cat(&abi.ReleaseIn{Fh: 9, Flags: 2}) }},
		{"fsync", func(ctx context.Context, c *Conn) error { return c.Fsync(ctx, 7, abi.FsyncIn{Fh: 9, FsyncFlags: 1}) },
			abi.FUSE_FSYNC, 7, func(uint32) []byte { return cat(&abi.FsyncIn{Fh: 9, FsyncFlags: 1}) }},
		{"setxattr", func(ctx context.Context, c *Conn) error {
			return c.Setxattr(ctx, 7, "user.a", []byte("val"), abi.SetxattrIn{Flags: 1})
		}, abi.FUSE_SETXATTR, 7, func(m uint32) []byte {
			n := abi.FUSE_COMPAT_SETXATTR_IN_SIZE
			if m >= 33 {
				n = (&abi.SetxattrIn{}).SizeBytes() // SETXATTR_EXT negotiated
			}
			return cat(prefix(&abi.SetxattrIn{Size: 3, Flags: 1}, n), "user.a\x00val")
		}},
		{"getxattr size", func(ctx context.Context, c *Conn) error { _, err := c.GetxattrSize(ctx, 7, "user.a"); return err },
			abi.FUSE_GETXATTR, 7, func(uint32) []byte { return cat(&abi.GetxattrIn{}, "user.a\x00") }},
		{"getxattr", func(ctx context.Context, c *Conn) error { _, err := c.Getxattr(ctx, 7, "user.a", 64); return err },
			abi.FUSE_GETXATTR, 7, func(uint32) []byte { return cat(&abi.GetxattrIn{Size: 64}, "user.a\x00") }},
		{"listxattr", func(ctx context.Context, c *Conn) error {
			l, err := c.Listxattr(ctx, 7, 64)
			if len(l) != 2 && err == nil {
				err = fmt.Errorf("names %q", l)
			}
			return err
		}, abi.FUSE_LISTXATTR, 7, func(uint32) []byte { return cat(&abi.GetxattrIn{Size: 64}) }},
		{"removexattr", func(ctx context.Context, c *Conn) error { return c.Removexattr(ctx, 7, "user.a") },
			abi.FUSE_REMOVEXATTR, 7, func(uint32) []byte { return []byte("user.a\x00") }},
		{"flush", func(ctx context.Context, c *Conn) error { return c.Flush(ctx, 7, abi.FlushIn{Fh: 9, LockOwner: 3}) },
			abi.FUSE_FLUSH, 7, func(uint32) []byte { return cat(&abi.FlushIn{Fh: 9, LockOwner: 3}) }},
		{"opendir", func(ctx context.Context, c *Conn) error { _, err := c.Opendir(ctx, 1, abi.OpenIn{}); return err },
			abi.FUSE_OPENDIR, 1, func(uint32) []byte { return cat(&abi.OpenIn{}) }},
		{"readdir", func(ctx context.Context, c *Conn) error {
			d, err := c.Readdir(ctx, 1, abi.ReadIn{Fh: 9, Size: 4096})
			if len(d) != 2 && err == nil {
				err = fmt.Errorf("%d entries", len(d))
			}
			return err
		}, abi.FUSE_READDIR, 1, func(uint32) []byte { return cat(&abi.ReadIn{Fh: 9, Size: 4096}) }},
		{"readdirplus", func(ctx context.Context, c *Conn) error {
			d, err := c.Readdirplus(ctx, 1, abi.ReadIn{Fh: 9, Size: 4096})
			if err == nil && (len(d) != 2 || c.Lookups(8) != 1 || c.Lookups(1) != 0 || c.Lookups(9) != 0) {
				err = fmt.Errorf("%d entries, lookups %d %d %d", len(d), c.Lookups(8), c.Lookups(1), c.Lookups(9))
			}
			return err
		}, abi.FUSE_READDIRPLUS, 1, func(uint32) []byte { return cat(&abi.ReadIn{Fh: 9, Size: 4096}) }},
		{"releasedir", func(ctx context.Context, c *Conn) error { return c.Releasedir(ctx, 1, abi.ReleaseIn{Fh: 9}) },
			abi.FUSE_RELEASEDIR, 1, func(uint32) []byte { return cat(&abi.ReleaseIn{Fh: 9}) }},
		{"fsyncdir", func(ctx context.Context, c *Conn) error { return c.Fsyncdir(ctx, 1, abi.FsyncIn{Fh: 9}) },
			abi.FUSE_FSYNCDIR, 1, func(uint32) []byte { return cat(&abi.FsyncIn{Fh: 9}) }},
		{"getlk", func(ctx context.Context, c *Conn) error { _, err := c.Getlk(ctx, 7, lk); return err },
			abi.FUSE_GETLK, 7, func(uint32) []byte { return cat(&lk) }},
		{"setlk", func(ctx context.Context, c *Conn) error { return c.Setlk(ctx, 7, lk) },
			abi.FUSE_SETLK, 7, func(uint32) []byte { return cat(&lk) }},
		{"setlkw", func(ctx context.Context, c *Conn) error { return c.Setlkw(ctx, 7, lk) },
			abi.FUSE_SETLKW, 7, func(uint32) []byte { return cat(&lk) }},
		{"access", func(ctx context.Context, c *Conn) error { return c.Access(ctx, 7, 4) },
			abi.FUSE_ACCESS, 7, func(uint32) []byte { return cat(&abi.AccessIn{Mask: 4}) }},
		{"create", func(ctx context.Context, c *Conn) error {
			_, o, err := c.Create(ctx, 1, "c", abi.CreateIn{Flags: 2, Mode: 0o100644, Umask: 0o22})
			if err == nil && o.Fh != 9 {
				err = fmt.Errorf("fh %d", o.Fh)
			}
			return err
		}, abi.FUSE_CREATE, 1, func(m uint32) []byte {
			return cat(prefix(&abi.CreateIn{Flags: 2, Mode: 0o100644, Umask: 0o22}, abi.CreateInSize(m)), "c\x00")
		}},
		{"bmap", func(ctx context.Context, c *Conn) error {
			_, err := c.Bmap(ctx, 7, abi.BmapIn{Block: 3, Blocksize: 512})
			return err
		},
			abi.FUSE_BMAP, 7, func(uint32) []byte { return cat(&abi.BmapIn{Block: 3, Blocksize: 512}) }},
		{"ioctl", func(ctx context.Context, c *Conn) error {
			o, data, err := c.Ioctl(ctx, 7, abi.IoctlIn{Fh: 9, Cmd: 5, OutSize: 16}, []byte("in"))
			if err == nil && (o.Result != 3 || string(data) != "out!") {
				err = fmt.Errorf("ioctl %+v %q", o, data)
			}
			return err
		}, abi.FUSE_IOCTL, 7, func(uint32) []byte { return cat(&abi.IoctlIn{Fh: 9, Cmd: 5, InSize: 2, OutSize: 16}, "in") }},
		{"poll", func(ctx context.Context, c *Conn) error {
			_, err := c.Poll(ctx, 7, abi.PollIn{Fh: 9, Kh: 2})
			return err
		},
			abi.FUSE_POLL, 7, func(uint32) []byte { return cat(&abi.PollIn{Fh: 9, Kh: 2}) }},
		{"fallocate", func(ctx context.Context, c *Conn) error {
			return c.Fallocate(ctx, 7, abi.FallocateIn{Fh: 9, Length: 10})
		}, abi.FUSE_FALLOCATE, 7, func(uint32) []byte { return cat(&abi.FallocateIn{Fh: 9, Length: 10}) }},
		{"lseek", func(ctx context.Context, c *Conn) error {
			_, err := c.Lseek(ctx, 7, abi.LseekIn{Fh: 9, Whence: 3})
			return err
		},
			abi.FUSE_LSEEK, 7, func(uint32) []byte { return cat(&abi.LseekIn{Fh: 9, Whence: 3}) }},
		{"copy_file_range", func(ctx context.Context, c *Conn) error { _, err := c.CopyFileRange(ctx, 7, cfr); return err },
			abi.FUSE_COPY_FILE_RANGE, 7, func(uint32) []byte { return cat(&cfr) }},
		{"copy_file_range_64", func(ctx context.Context, c *Conn) error { _, err := c.CopyFileRange64(ctx, 7, cfr); return err },
			abi.FUSE_COPY_FILE_RANGE_64, 7, func(uint32) []byte { return cat(&cfr) }},
		{"setupmapping", func(ctx context.Context, c *Conn) error {
			return c.Setupmapping(ctx, 7, abi.SetupmappingIn{Fh: 9, Len: 4096})
		}, abi.FUSE_SETUPMAPPING, 7, func(uint32) []byte { return cat(&abi.SetupmappingIn{Fh: 9, Len: 4096}) }},
		{"removemapping", func(ctx context.Context, c *Conn) error {
			return c.Removemapping(ctx, 7, []abi.RemovemappingOne{{Moffset: 1, Len: 2}})
		}, abi.FUSE_REMOVEMAPPING, 7, func(uint32) []byte {
			return cat(&abi.RemovemappingIn{Count: 1}, &abi.RemovemappingOne{Moffset: 1, Len: 2})
		}},
		{"syncfs", func(ctx context.Context, c *Conn) error { return c.Syncfs(ctx, 1) },
			abi.FUSE_SYNCFS, 1, func(uint32) []byte { return cat(&abi.SyncfsIn{}) }},
		{"tmpfile", func(ctx context.Context, c *Conn) error {
			_, _, err := c.Tmpfile(ctx, 1, "/", abi.CreateIn{Flags: 2, Mode: 0o100600})
			return err
		}, abi.FUSE_TMPFILE, 1, func(m uint32) []byte {
			return cat(prefix(&abi.CreateIn{Flags: 2, Mode: 0o100600}, abi.CreateInSize(m)), "/\x00")
		}},
		{"statx", func(ctx context.Context, c *Conn) error {
			_, err := c.Statx(ctx, 7, abi.StatxIn{SxMask: 0x7ff})
			return err
		},
			abi.FUSE_STATX, 7, func(uint32) []byte { return cat(&abi.StatxIn{SxMask: 0x7ff}) }},
		{"destroy", func(ctx context.Context, c *Conn) error { return c.Destroy(ctx) },
			abi.FUSE_DESTROY, 0, func(uint32) []byte { return nil }},
	}
	for _, minor := range []uint32{45, 31, 11, 8} {
		t.Run(fmt.Sprintf("7.%d", minor), func(t *testing.T) {
			c, s, _ := dialFake(t, genericHandler(minor), Options{})
			if c.Init().Minor != minor {
				t.Fatalf("negotiated 7.%d", c.Init().Minor)
			}
			for _, st := range steps {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := st.call(ctx, c)
				cancel()
				if err != nil {
					t.Errorf("%s: %v", st.name, err)
					continue
				}
				sent := s.sent(st.op)
				if len(sent) == 0 {
					t.Errorf("%s: no %s sent", st.name, st.op)
					continue
				}
				r := sent[len(sent)-1]
				if r.hdr.NodeID != st.node {
					t.Errorf("%s: node %d, want %d", st.name, r.hdr.NodeID, st.node)
				}
				if want := st.body(minor); !bytes.Equal(r.body, want) {
					t.Errorf("%s: body\n%x\nwant\n%x", st.name, r.body, want)
				}
				if int(r.hdr.Len) != abi.InHeaderSize+len(r.body) {
					t.Errorf("%s: header len %d for %d bytes", st.name, r.hdr.Len, abi.InHeaderSize+len(r.body))
				}
			}
		})
	}
}

// TestForgetCounts checks that every entry-making call takes a lookup
// reference and that BatchForget returns them all.
func TestForgetCounts(t *testing.T) {
	c, s, _ := dialFake(t, genericHandler(45), Options{})
	ctx := context.Background()
	c.Lookup(ctx, 1, "a")
	c.Mkdir(ctx, 1, "d", abi.MkdirIn{})
	c.Create(ctx, 1, "c", abi.CreateIn{})
	c.Readdirplus(ctx, 1, abi.ReadIn{})
	if n := c.Lookups(7); n != 3 {
		t.Errorf("lookups of 7: %d, want 3", n)
	}
	if err := c.BatchForget(ctx, []uint64{7, 8, 99}); err != nil {
		t.Fatal(err)
	}
	if got := nextBatchForget(t, s); len(got) != 2 || got[7] != 3 || got[8] != 1 {
		t.Errorf("BATCH_FORGET %v, want 7:3 8:1", got)
	}
	if c.Lookups(7) != 0 || c.Lookups(8) != 0 {
		t.Error("counts not cleared")
	}
}

// TestBadReaddirplusKeepsOtherRefs: a READDIRPLUS reply the client refuses
// returns the references it took, one per entry, and leaves those an
// earlier LOOKUP holds on the same node.
func TestBadReaddirplusKeepsOtherRefs(t *testing.T) {
	c, s, _ := dialFake(t, func(r fakeReq) [][]byte {
		if r.hdr.Opcode == abi.FUSE_READDIRPLUS {
			var d []byte
			d = abi.AppendDirentplus(d, abi.Direntplus{EntryOut: abi.EntryOut{NodeID: 7, Attr: testAttr}, Dirent: abi.Dirent{Ino: 7, Off: 1, Namelen: 4, Type: 8}}, "self", ne)
			d = abi.AppendDirentplus(d, abi.Direntplus{EntryOut: abi.EntryOut{NodeID: 9, Attr: testAttr}, Dirent: abi.Dirent{Ino: 9, Off: 2, Namelen: 5, Type: 8}}, "bad/x", ne)
			return [][]byte{reply(r.hdr.Unique, 0, d)}
		}
		return genericHandler(45)(r)
	}, Options{})
	ctx := context.Background()
	if _, err := c.Lookup(ctx, 1, "a"); err != nil { // node 7
		t.Fatal(err)
	}
	if _, err := c.Readdirplus(ctx, 7, abi.ReadIn{}); err == nil {
		t.Fatal("a READDIRPLUS entry named bad/x was accepted")
	}
	if got := nextBatchForget(t, s); len(got) != 1 || got[7] != 1 {
		t.Errorf("BATCH_FORGET %v, want node 7 once", got)
	}
	if n := c.Lookups(7); n != 1 {
		t.Errorf("lookups of 7: %d, want the LOOKUP's 1", n)
	}
}

// nextBatchForget waits for the next BATCH_FORGET the fake server sees
// and returns its counts by node.
func nextBatchForget(t *testing.T, s *fakeServer) map[uint64]uint64 {
	t.Helper()
	var r fakeReq
	for r.hdr.Opcode != abi.FUSE_BATCH_FORGET {
		select {
		case r = <-s.reqs:
		case <-time.After(5 * time.Second):
			t.Fatal("no BATCH_FORGET")
		}
	}
	var in abi.BatchForgetIn
	rest, _ := in.Unmarshal(r.body, ne)
	got := map[uint64]uint64{}
	for range in.Count {
		var one abi.ForgetOne
		rest, _ = one.Unmarshal(rest, ne)
		got[one.NodeID] += one.Nlookup
	}
	return got
}
