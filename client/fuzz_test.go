package client

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
)

// fuzzOps are the calls FuzzClientReplies answers with arbitrary bytes.
var fuzzOps = []func(ctx context.Context, c *Conn) error{
	func(ctx context.Context, c *Conn) error { _, err := c.Getattr(ctx, 1, abi.GetattrIn{}); return err },
	func(ctx context.Context, c *Conn) error { _, err := c.Lookup(ctx, 1, "a"); return err },
	func(ctx context.Context, c *Conn) error {
		_, err := c.Read(ctx, 2, abi.ReadIn{}, make([]byte, 8192))
		return err
	},
	func(ctx context.Context, c *Conn) error {
		_, err := c.Readdir(ctx, 1, abi.ReadIn{Size: 4096})
		return err
	},
	func(ctx context.Context, c *Conn) error {
		_, err := c.Readdirplus(ctx, 1, abi.ReadIn{Size: 4096})
		return err
	},
	func(ctx context.Context, c *Conn) error { _, err := c.Listxattr(ctx, 1, 256); return err },
	func(ctx context.Context, c *Conn) error {
		_, _, err := c.Create(ctx, 1, "f", abi.CreateIn{Mode: 0o100644})
		return err
	},
	func(ctx context.Context, c *Conn) error {
		_, _, err := c.Ioctl(ctx, 2, abi.IoctlIn{OutSize: 64}, nil)
		return err
	},
	func(ctx context.Context, c *Conn) error { _, err := c.Statfs(ctx, 1); return err },
	func(ctx context.Context, c *Conn) error { _, err := c.Readlink(ctx, 2); return err },
	func(ctx context.Context, c *Conn) error {
		_, err := c.Write(ctx, 2, abi.WriteIn{}, []byte("data"))
		return err
	},
	func(ctx context.Context, c *Conn) error { _, err := c.Statx(ctx, 2, abi.StatxIn{}); return err },
}

// FuzzClientReplies answers calls with arbitrary messages: the first byte
// picks the call, the second whether the unique is patched to match, the
// rest is sent as the server's message (followed by a valid error reply so
// that every call ends). No input may panic or hang the client, and a
// success must come with a well-formed reply.
func FuzzClientReplies(f *testing.F) {
	seed := func(op byte, patch byte, msg []byte) { f.Add(append([]byte{op, patch}, msg...)) }
	seed(0, 1, reply(0, 0, attrBody(testAttr)))
	seed(1, 1, reply(0, 0, entryBody(2, testAttr)))
	seed(1, 1, reply(0, 0, entryBody(0, abi.Attr{})))
	seed(2, 1, reply(0, 0, []byte("hello")))
	var d []byte
	d = abi.AppendDirent(d, abi.Dirent{Ino: 1, Off: 1, Namelen: 1, Type: 4}, ".", ne)
	d = abi.AppendDirent(d, abi.Dirent{Ino: 2, Off: 2, Namelen: 5, Type: 8}, "a.txt", ne)
	seed(3, 1, reply(0, 0, d))
	var dp []byte
	dp = abi.AppendDirentplus(dp, abi.Direntplus{EntryOut: abi.EntryOut{NodeID: 2, Attr: testAttr}, Dirent: abi.Dirent{Ino: 2, Off: 1, Namelen: 1, Type: 8}}, "b", ne)
	seed(4, 1, reply(0, 0, dp))
	seed(5, 1, reply(0, 0, []byte("user.a\x00user.b\x00")))
	oo := abi.OpenOut{Fh: 3}
	seed(6, 1, reply(0, 0, entryBody(3, testAttr), oo.Append(nil, ne)))
	seed(7, 1, reply(0, 0, make([]byte, 20)))
	seed(8, 1, reply(0, 0, make([]byte, 80)))
	seed(9, 1, reply(0, 0, []byte("target")))
	wo := abi.WriteOut{Size: 4}
	seed(10, 1, reply(0, 0, wo.Append(nil, ne)))
	seed(11, 1, reply(0, 0, make([]byte, 288)))
	ino := abi.NotifyInvalInodeOut{Ino: 1}
	seed(0, 0, notifyMsg(abi.FUSE_NOTIFY_INVAL_INODE, ino.Append(nil, ne)))
	seed(0, 0, notifyMsg(abi.FUSE_NOTIFY_RESEND))
	seed(0, 1, reply(0, 5))
	seed(0, 1, []byte{1, 2, 3})

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		op := fuzzOps[int(data[0])%len(fuzzOps)]
		patch := data[1]&1 == 1
		msg := data[2:]
		var mu sync.Mutex
		asked := map[uint64]bool{} // uniques of the requests answered with msg
		h := func(r fakeReq) [][]byte {
			switch r.hdr.Opcode {
			case abi.FUSE_INIT:
				return [][]byte{initReply(r, nil)}
			case abi.FUSE_DESTROY:
				return [][]byte{reply(r.hdr.Unique, 0)}
			case abi.FUSE_FORGET, abi.FUSE_BATCH_FORGET, abi.FUSE_INTERRUPT, abi.FUSE_NOTIFY_REPLY:
				return nil
			}
			if r.hdr.Unique&abi.FUSE_UNIQUE_RESEND != 0 {
				return [][]byte{reply(r.hdr.Unique, -5)}
			}
			mu.Lock()
			asked[r.hdr.Unique] = true
			mu.Unlock()
			m := append([]byte(nil), msg...)
			if patch && len(m) >= abi.OutHeaderSize {
				ne.PutUint64(m[8:], r.hdr.Unique)
			}
			return [][]byte{m, reply(r.hdr.Unique, -5)}
		}
		_, p := startFake(t, h)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := Dial(ctx, p, Options{DestroyTimeout: -1})
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer c.Close()
		err = op(ctx, c)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call hung: %v", err)
		}
		var fe *Error
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("error %T %v is not an *Error", err, err)
		}
		if err != nil {
			return
		}
		// Each request got msg and then an EIO reply: a success can only
		// have come from msg, which must then be a whole reply without
		// an error, to a request that was made.
		mu.Lock()
		defer mu.Unlock()
		if len(asked) == 0 {
			return // the operation needed no answer from the server
		}
		if len(msg) < abi.OutHeaderSize {
			t.Fatalf("success from a %d-byte message", len(msg))
		}
		if n := ne.Uint32(msg); int(n) != len(msg) {
			t.Fatalf("success from a %d-byte message whose length field says %d", len(msg), n)
		}
		if e := int32(ne.Uint32(msg[4:])); e != 0 {
			t.Fatalf("success from a reply with error %d", e)
		}
		if u := ne.Uint64(msg[8:]); !patch && !asked[u] {
			t.Fatalf("success from a reply to unique %#x, which no request had", u)
		}
	})
}
