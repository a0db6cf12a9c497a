package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
)

func TestDialOffer(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		minor    uint32
		flags    abi.InitFlags
		bodySize int
	}{
		{"default", Options{}, 45, abi.DefaultInitFlags, 64},
		{"minor 31", Options{Minor: 31, Flags: abi.FUSE_ASYNC_READ | abi.FUSE_DONT_MASK}, 31, abi.FUSE_ASYNC_READ | abi.FUSE_DONT_MASK, 16},
		{"no flags", Options{NoFlags: true}, 45, 0, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s, _ := dialFake(t, simpleHandler, tt.opts)
			init := s.sent(abi.FUSE_INIT)
			if len(init) != 1 {
				t.Fatalf("%d INIT requests, want 1", len(init))
			}
			r := init[0]
			if len(r.body) != tt.bodySize {
				t.Errorf("INIT body %d bytes, want %d", len(r.body), tt.bodySize)
			}
			var in abi.InitIn
			if _, err := in.UnmarshalPrefix(r.body, len(r.body), ne); err != nil {
				t.Fatal(err)
			}
			if in.Major != 7 || in.Minor != tt.minor {
				t.Errorf("offered %d.%d, want 7.%d", in.Major, in.Minor, tt.minor)
			}
			if got := in.InitFlags(); got != tt.flags {
				t.Errorf("offered flags %v, want %v", got, tt.flags)
			}
			if in.MaxReadahead != DefaultMaxReadahead {
				t.Errorf("max_readahead %d", in.MaxReadahead)
			}
			if r.hdr.Unique%2 != 0 || r.hdr.Unique == 0 {
				t.Errorf("INIT unique %d, want even and non-zero", r.hdr.Unique)
			}
		})
	}
	if abi.DefaultInitFlags&abi.FUSE_DONT_MASK == 0 {
		t.Error("DefaultInitFlags lacks FUSE_DONT_MASK: fuse-overlayfs refuses INIT without it")
	}
}

func TestDialReplySizes(t *testing.T) {
	for _, size := range []int{8, 24, 64} {
		t.Run("", func(t *testing.T) {
			h := func(r fakeReq) [][]byte {
				if r.hdr.Opcode != abi.FUSE_INIT {
					return simpleHandler(r)
				}
				out := abi.InitOut{Major: 7, Minor: 31, MaxReadahead: 1 << 20, MaxWrite: 1 << 20,
					MaxPages: 64, MaxBackground: 20, CongestionThreshold: 15, TimeGran: 1000}
				switch size {
				case 8:
					out.Minor = 4
				case 24:
					out.Minor = 19
				}
				// go-fuse sets INIT_EXT unasked; a never-offered bit too.
				out.SetInitFlags(abi.FUSE_ASYNC_READ | abi.FUSE_MAX_PAGES | abi.FUSE_INIT_EXT | 1<<31)
				return [][]byte{reply(r.hdr.Unique, 0, out.Append(nil, ne)[:size])}
			}
			c, _, _ := dialFake(t, h, Options{Minor: 35, Flags: abi.FUSE_ASYNC_READ | abi.FUSE_MAX_PAGES | abi.FUSE_DONT_MASK})
			in := c.Init()
			if in.ReplySize != size {
				t.Errorf("ReplySize %d", in.ReplySize)
			}
			switch size {
			case 8:
				if in.Minor != 4 || in.Flags != 0 || in.MaxWrite != 4096 || in.MaxPages != 32 || in.MaxBackground != DefaultMaxBackground {
					t.Errorf("8-byte reply: %+v", in)
				}
			case 24:
				if in.Minor != 19 || in.Flags != abi.FUSE_ASYNC_READ|abi.FUSE_MAX_PAGES || in.MaxWrite != 1<<20 ||
					in.MaxReadahead != DefaultMaxReadahead || in.MaxBackground != 20 || in.TimeGran != 0 || in.MaxPages != 32 {
					t.Errorf("24-byte reply: %+v", in)
				}
			case 64:
				if in.Minor != 31 || in.Flags != abi.FUSE_ASYNC_READ|abi.FUSE_MAX_PAGES || in.MaxPages != 64 ||
					in.TimeGran != 1000 || in.CongestionThreshold != 15 || in.MaxReadahead != DefaultMaxReadahead {
					t.Errorf("64-byte reply: %+v", in)
				}
				if in.ServerFlags&abi.FUSE_INIT_EXT == 0 {
					t.Errorf("ServerFlags %v lost INIT_EXT", in.ServerFlags)
				}
			}
			// The connection works after any of them.
			if err := c.Access(context.Background(), 1, 0); !errors.Is(err, syscall.ENOSYS) {
				t.Errorf("Access: %v, want ENOSYS", err)
			}
		})
	}
}

func TestDialRefused(t *testing.T) {
	tests := []struct {
		name string
		h    func(fakeReq) []byte
	}{
		{"EPROTO", func(r fakeReq) []byte { return reply(r.hdr.Unique, -int32(syscall.EPROTO)) }},
		{"major 8", func(r fakeReq) []byte {
			out := abi.InitOut{Major: 8, Minor: 1}
			return reply(r.hdr.Unique, 0, out.Append(nil, ne))
		}},
		{"4 bytes", func(r fakeReq) []byte { return reply(r.hdr.Unique, 0, []byte{7, 0, 0, 0}) }},
		{"too long", func(r fakeReq) []byte { return reply(r.hdr.Unique, 0, make([]byte, 72)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, p := startFake(t, func(r fakeReq) [][]byte { return [][]byte{tt.h(r)} })
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, p, Options{Logf: t.Logf})
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			t.Log(err)
		})
	}
}

func TestTypedCalls(t *testing.T) {
	c, s, _ := dialFake(t, simpleHandler, Options{})
	ctx := context.Background()
	e, err := c.Lookup(ctx, 1, "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if e.NodeID != 2 || e.Attr.Size != 13 {
		t.Errorf("entry %+v", e)
	}
	if _, err := c.Lookup(ctx, 1, "a.txt"); err != nil {
		t.Fatal(err)
	}
	if n := c.Lookups(2); n != 2 {
		t.Errorf("lookup count %d, want 2", n)
	}
	_, err = c.Lookup(ctx, 1, "missing")
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("missing: %v, want ENOENT matching fs.ErrNotExist", err)
	}
	var fe *Error
	if !errors.As(err, &fe) || fe.Op != abi.FUSE_LOOKUP {
		t.Errorf("error %T %v is not a LOOKUP *Error", err, err)
	}
	a, err := c.Getattr(ctx, 2, abi.GetattrIn{})
	if err != nil || a.Attr.Mode != 0o100644 {
		t.Errorf("Getattr: %+v, %v", a, err)
	}
	if err := c.Unlink(ctx, 1, "x"); !errors.Is(err, syscall.ENOSYS) {
		t.Errorf("Unlink: %v, want ENOSYS", err)
	}
	if err := c.Forget(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if n := c.Lookups(2); n != 0 {
		t.Errorf("lookup count after Forget %d", n)
	}
	// FORGET is one-way: wait for the server to see it.
	deadline := time.After(5 * time.Second)
	for len(s.sent(abi.FUSE_FORGET)) == 0 {
		select {
		case <-s.reqs:
		case <-deadline:
			t.Fatal("no FORGET seen")
		}
	}
	f := s.sent(abi.FUSE_FORGET)[0]
	var in abi.ForgetIn
	if _, err := in.Unmarshal(f.body, ne); err != nil || in.Nlookup != 2 || f.hdr.NodeID != 2 {
		t.Errorf("FORGET node %d nlookup %d (%v), want node 2 nlookup 2", f.hdr.NodeID, in.Nlookup, err)
	}
	for _, r := range s.seen {
		if r.hdr.Opcode != abi.FUSE_INTERRUPT && r.hdr.Unique%2 != 0 {
			t.Errorf("%s has odd unique %d", r.hdr.Opcode, r.hdr.Unique)
		}
	}
}

// TestBadReplies feeds replies that break the protocol: each must fail
// its call with EIO and ErrBadReply, and the connection must stay usable.
func TestBadReplies(t *testing.T) {
	tests := []struct {
		name string
		bad  func(r fakeReq) [][]byte
	}{
		{"header len too large", func(r fakeReq) [][]byte {
			m := reply(r.hdr.Unique, 0, attrBody(testAttr))
			ne.PutUint32(m, uint32(len(m)+8))
			return [][]byte{m}
		}},
		{"header len too small", func(r fakeReq) [][]byte {
			m := reply(r.hdr.Unique, 0, attrBody(testAttr))
			ne.PutUint32(m, 16)
			return [][]byte{m}
		}},
		{"errno positive", func(r fakeReq) [][]byte { return [][]byte{reply(r.hdr.Unique, 5)} }},
		{"errno -512", func(r fakeReq) [][]byte { return [][]byte{reply(r.hdr.Unique, -512)} }},
		{"errno with body", func(r fakeReq) [][]byte { return [][]byte{reply(r.hdr.Unique, -2, []byte("12345678"))} }},
		{"body truncated", func(r fakeReq) [][]byte { return [][]byte{reply(r.hdr.Unique, 0, attrBody(testAttr)[:50])} }},
		{"body too long", func(r fakeReq) [][]byte {
			return [][]byte{reply(r.hdr.Unique, 0, attrBody(testAttr), make([]byte, 8))}
		}},
		{"no body", func(r fakeReq) [][]byte { return [][]byte{reply(r.hdr.Unique, 0)} }},
		{"bad file type", func(r fakeReq) [][]byte {
			a := testAttr
			a.Mode = 0o644
			return [][]byte{reply(r.hdr.Unique, 0, attrBody(a))}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			bad := true
			h := func(r fakeReq) [][]byte {
				mu.Lock()
				defer mu.Unlock()
				if r.hdr.Opcode == abi.FUSE_GETATTR && bad {
					bad = false
					return tt.bad(r)
				}
				return simpleHandler(r)
			}
			c, _, _ := dialFake(t, h, Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := c.Getattr(ctx, 1, abi.GetattrIn{})
			if !errors.Is(err, ErrBadReply) || !errors.Is(err, syscall.EIO) {
				t.Fatalf("Getattr: %v, want EIO and ErrBadReply", err)
			}
			if _, err := c.Getattr(ctx, 1, abi.GetattrIn{}); err != nil {
				t.Fatalf("Getattr after a bad reply: %v", err)
			}
			if c.Stats().BadMessages == 0 {
				t.Error("bad message not counted")
			}
		})
	}
}

func TestUnknownUniqueAndJunk(t *testing.T) {
	h := func(r fakeReq) [][]byte {
		if r.hdr.Opcode == abi.FUSE_GETATTR {
			return [][]byte{
				reply(r.hdr.Unique+1000, 0, attrBody(testAttr)), // never sent
				{1, 2, 3},     // shorter than a header
				notifyMsg(99), // unknown notification
				reply(r.hdr.Unique, 0, attrBody(testAttr)),
			}
		}
		return simpleHandler(r)
	}
	c, _, _ := dialFake(t, h, Options{})
	if _, err := c.Getattr(context.Background(), 1, abi.GetattrIn{}); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.UnknownUniques != 1 || st.BadMessages != 2 {
		t.Errorf("stats %+v, want 1 unknown unique and 2 bad messages", st)
	}
}

func TestCancelSendsInterrupt(t *testing.T) {
	held := make(chan fakeReq, 1)
	h := func(r fakeReq) [][]byte {
		if r.hdr.Opcode == abi.FUSE_GETATTR {
			held <- r
			return nil
		}
		if r.hdr.Opcode == abi.FUSE_INTERRUPT {
			// Answer the interrupted request late.
			var in abi.InterruptIn
			in.Unmarshal(r.body, ne)
			return [][]byte{reply(in.Unique, -int32(syscall.EINTR))}
		}
		return simpleHandler(r)
	}
	c, s, _ := dialFake(t, h, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Getattr(ctx, 1, abi.GetattrIn{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Getattr: %v, want context.DeadlineExceeded", err)
	}
	orig := <-held
	var intr fakeReq
	for intr.hdr.Opcode != abi.FUSE_INTERRUPT {
		select {
		case intr = <-s.reqs:
		case <-time.After(5 * time.Second):
			t.Fatal("no INTERRUPT sent")
		}
	}
	var in abi.InterruptIn
	if _, err := in.Unmarshal(intr.body, ne); err != nil {
		t.Fatal(err)
	}
	if in.Unique != orig.hdr.Unique || intr.hdr.Unique != orig.hdr.Unique|1 || intr.hdr.NodeID != 0 {
		t.Errorf("INTERRUPT unique %d for %d, header %d", in.Unique, orig.hdr.Unique, intr.hdr.Unique)
	}
	// The late reply is dropped, and the connection goes on.
	if _, err := c.Lookup(context.Background(), 1, "a.txt"); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.LateReplies != 1 || st.UnknownUniques != 0 {
		t.Errorf("stats %+v, want one late reply", st)
	}
}

func TestServerGone(t *testing.T) {
	held := make(chan struct{})
	h := func(r fakeReq) [][]byte {
		if r.hdr.Opcode == abi.FUSE_GETATTR {
			close(held)
			return nil
		}
		return simpleHandler(r)
	}
	c, _, p := dialFake(t, h, Options{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Getattr(context.Background(), 1, abi.GetattrIn{})
		errc <- err
	}()
	<-held
	p.kill()
	if err := <-errc; !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("pending call: %v, want ENOTCONN", err)
	}
	<-c.Done()
	if _, err := c.Lookup(context.Background(), 1, "a.txt"); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("later call: %v, want ENOTCONN", err)
	}
}

func TestClose(t *testing.T) {
	held := make(chan struct{})
	h := func(r fakeReq) [][]byte {
		if r.hdr.Opcode == abi.FUSE_GETATTR {
			close(held)
			return nil
		}
		return simpleHandler(r)
	}
	c, s, _ := dialFake(t, h, Options{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Getattr(context.Background(), 1, abi.GetattrIn{})
		errc <- err
	}()
	<-held
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, syscall.ECONNABORTED) {
		t.Errorf("pending call: %v, want ECONNABORTED", err)
	}
	if _, err := c.Lookup(context.Background(), 1, "a.txt"); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("later call: %v, want ENOTCONN", err)
	}
	if len(s.sent(abi.FUSE_DESTROY)) != 1 {
		t.Error("no DESTROY sent")
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBackpressure(t *testing.T) {
	var mu sync.Mutex
	var held []fakeReq
	release := make(chan struct{})
	h := func(r fakeReq) [][]byte {
		if r.hdr.Opcode != abi.FUSE_GETATTR {
			return simpleHandler(r)
		}
		mu.Lock()
		held = append(held, r)
		n := len(held)
		mu.Unlock()
		if n == 2 {
			close(release)
		}
		if n <= 2 {
			return nil
		}
		return [][]byte{reply(r.hdr.Unique, 0, attrBody(testAttr))}
	}
	c, s, p := dialFake(t, h, Options{MaxInflight: 2})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Getattr(context.Background(), 1, abi.GetattrIn{})
		}()
	}
	<-release
	// Two are in flight and unanswered: the third must not be sent.
	select {
	case r := <-s.reqs:
		for r.hdr.Opcode != abi.FUSE_GETATTR {
			r = <-s.reqs
		}
	case <-time.After(100 * time.Millisecond):
	}
	mu.Lock()
	n := len(held)
	first := held[0]
	mu.Unlock()
	if n != 2 {
		t.Fatalf("%d GETATTRs reached the server with MaxInflight 2", n)
	}
	p.toClient <- reply(first.hdr.Unique, 0, attrBody(testAttr))
	mu.Lock()
	second := held[1]
	mu.Unlock()
	p.toClient <- reply(second.hdr.Unique, 0, attrBody(testAttr))
	wg.Wait()
}

func TestReadWriteSplit(t *testing.T) {
	var mu sync.Mutex
	var sizes []uint32
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	h := func(r fakeReq) [][]byte {
		switch r.hdr.Opcode {
		case abi.FUSE_INIT:
			return [][]byte{initReply(r, func(o *abi.InitOut) { o.MaxWrite = 64 << 10; o.MaxPages = 64 })}
		case abi.FUSE_READ:
			var in abi.ReadIn
			in.Unmarshal(r.body, ne)
			mu.Lock()
			sizes = append(sizes, in.Size)
			mu.Unlock()
			end := min(int(in.Offset)+int(in.Size), len(data))
			return [][]byte{reply(r.hdr.Unique, 0, data[in.Offset:end])}
		case abi.FUSE_WRITE:
			var in abi.WriteIn
			rest, _ := in.Unmarshal(r.body, ne)
			mu.Lock()
			sizes = append(sizes, in.Size)
			mu.Unlock()
			if len(rest) != int(in.Size) {
				return [][]byte{reply(r.hdr.Unique, -22)}
			}
			out := abi.WriteOut{Size: in.Size}
			return [][]byte{reply(r.hdr.Unique, 0, out.Append(nil, ne))}
		}
		return simpleHandler(r)
	}
	for _, noSplice := range []bool{false, true} {
		c, _, _ := dialFake(t, h, Options{NoSplice: noSplice})
		mu.Lock()
		sizes = nil
		mu.Unlock()
		buf := make([]byte, 300<<10)
		n, err := c.Read(context.Background(), 2, abi.ReadIn{Offset: 1 << 19}, buf)
		if err != nil || n != len(buf) || !bytes.Equal(buf, data[1<<19:1<<19+len(buf)]) {
			t.Fatalf("Read: %d, %v", n, err)
		}
		want := uint32(14 * 4096)
		if noSplice {
			want = 64 * 4096
		}
		mu.Lock()
		for _, s := range sizes {
			if s > want {
				t.Errorf("NoSplice %v: READ of %d bytes, limit %d", noSplice, s, want)
			}
		}
		sizes = nil
		mu.Unlock()
		// Reading past the end is short.
		n, err = c.Read(context.Background(), 2, abi.ReadIn{Offset: uint64(len(data) - 100)}, buf)
		if err != nil || n != 100 {
			t.Errorf("Read at the end: %d, %v", n, err)
		}
		mu.Lock()
		sizes = nil
		mu.Unlock()
		n, err = c.Write(context.Background(), 2, abi.WriteIn{}, data[:200<<10])
		if err != nil || n != 200<<10 {
			t.Fatalf("Write: %d, %v", n, err)
		}
		mu.Lock()
		for _, s := range sizes {
			if s > 64<<10 {
				t.Errorf("WRITE of %d bytes, max_write 64 KiB", s)
			}
		}
		mu.Unlock()
	}
}

func TestNotifications(t *testing.T) {
	var mu sync.Mutex
	var got []Notification
	gotOne := make(chan struct{}, 16)
	onNotify := func(n Notification) {
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
		gotOne <- struct{}{}
	}
	held := make(chan fakeReq, 1)
	h := func(r fakeReq) [][]byte {
		if r.hdr.Opcode == abi.FUSE_GETATTR {
			if r.hdr.Unique&abi.FUSE_UNIQUE_RESEND == 0 {
				held <- r
			}
			return nil // the test answers
		}
		return simpleHandler(r)
	}
	c, s, p := dialFake(t, h, Options{OnNotify: onNotify})
	ino := abi.NotifyInvalInodeOut{Ino: 2, Off: -1}
	ent := abi.NotifyInvalEntryOut{Parent: 1, Namelen: 5}
	del := abi.NotifyDeleteOut{Parent: 1, Child: 2, Namelen: 5}
	store := abi.NotifyStoreOut{NodeID: 2, Offset: 0, Size: 3}
	retr := abi.NotifyRetrieveOut{NotifyUnique: 77, NodeID: 2, Size: 4096}
	prune := abi.NotifyPruneOut{Count: 2}
	poll := abi.NotifyPollWakeupOut{Kh: 9}
	msgs := [][]byte{
		notifyMsg(abi.FUSE_NOTIFY_POLL, poll.Append(nil, ne)),
		notifyMsg(abi.FUSE_NOTIFY_INVAL_INODE, ino.Append(nil, ne)),
		notifyMsg(abi.FUSE_NOTIFY_INVAL_ENTRY, ent.Append(nil, ne), []byte("a.txt\x00")),
		notifyMsg(abi.FUSE_NOTIFY_DELETE, del.Append(nil, ne), []byte("a.txt\x00")),
		notifyMsg(abi.FUSE_NOTIFY_STORE, store.Append(nil, ne), []byte("abc")),
		notifyMsg(abi.FUSE_NOTIFY_RETRIEVE, retr.Append(nil, ne)),
		notifyMsg(abi.FUSE_NOTIFY_INC_EPOCH),
		notifyMsg(abi.FUSE_NOTIFY_PRUNE, prune.Append(nil, ne), ne.AppendUint64(ne.AppendUint64(nil, 2), 3)),
		// Broken ones: dropped and counted.
		notifyMsg(abi.FUSE_NOTIFY_INVAL_ENTRY, ent.Append(nil, ne), []byte("a.txt")),
		notifyMsg(abi.FUSE_NOTIFY_INVAL_INODE, ino.Append(nil, ne)[:20]),
		notifyMsg(abi.FUSE_NOTIFY_STORE, store.Append(nil, ne), []byte("ab")),
		notifyMsg(abi.FUSE_NOTIFY_PRUNE, prune.Append(nil, ne)),
		// A last good one, to know all the others were handled.
		notifyMsg(abi.FUSE_NOTIFY_POLL, poll.Append(nil, ne)),
	}
	for _, m := range msgs {
		p.toClient <- m
	}
	for range 9 {
		select {
		case <-gotOne:
		case <-time.After(5 * time.Second):
			t.Fatal("notifications not delivered")
		}
	}
	mu.Lock()
	if len(got) != 9 {
		t.Errorf("%d notifications delivered, want 9", len(got))
	}
	for _, n := range got {
		switch n.Code {
		case abi.FUSE_NOTIFY_INVAL_ENTRY, abi.FUSE_NOTIFY_DELETE:
			if string(n.Name) != "a.txt" {
				t.Errorf("%s name %q", n.Code, n.Name)
			}
		case abi.FUSE_NOTIFY_STORE:
			if string(n.Data) != "abc" {
				t.Errorf("STORE data %q", n.Data)
			}
		case abi.FUSE_NOTIFY_PRUNE:
			if len(n.NodeIDs) != 2 || n.NodeIDs[1] != 3 {
				t.Errorf("PRUNE nodes %v", n.NodeIDs)
			}
		}
	}
	mu.Unlock()
	// RETRIEVE is answered with NOTIFY_REPLY carrying notify_unique.
	var nr fakeReq
	for nr.hdr.Opcode != abi.FUSE_NOTIFY_REPLY {
		select {
		case nr = <-s.reqs:
		case <-time.After(5 * time.Second):
			t.Fatal("no NOTIFY_REPLY")
		}
	}
	if nr.hdr.Unique != 77 || nr.hdr.NodeID != 2 {
		t.Errorf("NOTIFY_REPLY unique %d node %d", nr.hdr.Unique, nr.hdr.NodeID)
	}
	if st := c.Stats(); st.BadMessages != 4 || st.Epoch != 1 {
		t.Errorf("stats %+v, want 4 bad messages and epoch 1", st)
	}

	// RESEND: the pending GETATTR comes again with bit 63 set and its
	// reply (echoing it) completes the call.
	errc := make(chan error, 1)
	go func() {
		_, err := c.Getattr(context.Background(), 1, abi.GetattrIn{})
		errc <- err
	}()
	orig := <-held
	p.toClient <- notifyMsg(abi.FUSE_NOTIFY_RESEND)
	var re fakeReq
	for re.hdr.Unique != orig.hdr.Unique|abi.FUSE_UNIQUE_RESEND {
		select {
		case re = <-s.reqs:
		case <-time.After(5 * time.Second):
			t.Fatal("no resent request")
		}
	}
	if re.hdr.Opcode != abi.FUSE_GETATTR || !bytes.Equal(re.body, orig.body) {
		t.Errorf("resent %s %x, want GETATTR %x", re.hdr.Opcode, re.body, orig.body)
	}
	p.toClient <- reply(re.hdr.Unique, 0, attrBody(testAttr))
	if err := <-errc; err != nil {
		t.Errorf("resent call: %v", err)
	}
}

func TestRecorder(t *testing.T) {
	var buf bytes.Buffer
	w, err := capture.NewWriter(&buf, capture.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := func(r fakeReq) [][]byte {
		if r.hdr.Opcode == abi.FUSE_GETATTR {
			ino := abi.NotifyInvalInodeOut{Ino: 1}
			return [][]byte{notifyMsg(abi.FUSE_NOTIFY_INVAL_INODE, ino.Append(nil, ne)), reply(r.hdr.Unique, 0, attrBody(testAttr))}
		}
		return simpleHandler(r)
	}
	c, _, _ := dialFake(t, h, Options{Recorder: w})
	if _, err := c.Getattr(context.Background(), 1, abi.GetattrIn{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := capture.NewReader(&buf, capture.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var dirs []capture.Dir
	var ops []abi.Opcode
	var last time.Time
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Time.Before(last) {
			t.Errorf("record times go backwards")
		}
		last = rec.Time
		dirs = append(dirs, rec.Dir)
		if rec.Dir == capture.DirRequest {
			var h abi.InHeader
			h.Unmarshal(rec.Msg, rec.Order.(abi.ByteOrder))
			ops = append(ops, h.Opcode)
		}
	}
	want := []capture.Dir{capture.DirRequest, capture.DirReply, capture.DirRequest, capture.DirNotify, capture.DirReply, capture.DirRequest, capture.DirReply}
	if len(dirs) != len(want) {
		t.Fatalf("recorded %v, want %v", dirs, want)
	}
	for i := range want {
		if dirs[i] != want[i] {
			t.Errorf("record %d is %v, want %v", i, dirs[i], want[i])
		}
	}
	wantOps := []abi.Opcode{abi.FUSE_INIT, abi.FUSE_GETATTR, abi.FUSE_DESTROY}
	for i := range wantOps {
		if i >= len(ops) || ops[i] != wantOps[i] {
			t.Errorf("recorded requests %v, want %v", ops, wantOps)
			break
		}
	}
}

// TestStoppedServerWrites: a server that stops reading fills the
// transport; callers with a deadline must still return on time, whether
// they wait for the write lock or sit in the write itself.
func TestStoppedServerWrites(t *testing.T) {
	release := make(chan struct{})
	h := func(r fakeReq) [][]byte {
		if r.hdr.Opcode == abi.FUSE_GETATTR {
			<-release // the server stops reading
			return nil
		}
		return simpleHandler(r)
	}
	c, _, _ := dialFake(t, h, Options{MaxInflight: 500, DestroyTimeout: -1})
	t.Cleanup(func() { close(release) })
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := c.Getattr(ctx, 1, abi.GetattrIn{})
			errs <- err
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("calls to a server that stopped reading did not return")
	}
	close(errs)
	for err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("call: %v, want context.DeadlineExceeded", err)
		}
	}
}

// TestDoRaw sends raw requests: a reply comes back whole, an errno reply
// with its message, one-way requests keep a given unique, and INTERRUPT
// goes out as unique|1.
func TestDoRaw(t *testing.T) {
	c, s, _ := dialFake(t, simpleHandler, Options{})
	ctx := context.Background()
	msg, err := c.Do(ctx, abi.FUSE_LOOKUP, 1, []byte("a.txt\x00"))
	if err != nil || len(msg) != abi.OutHeaderSize+abi.EntryOutSize(31) {
		t.Fatalf("Do LOOKUP: %d bytes, %v", len(msg), err)
	}
	msg, err = c.Do(ctx, abi.FUSE_LOOKUP, 1, []byte("nope\x00"))
	if !errors.Is(err, syscall.ENOENT) || len(msg) != abi.OutHeaderSize {
		t.Errorf("Do LOOKUP nope: %d bytes, %v", len(msg), err)
	}
	nr := abi.NotifyRetrieveIn{Offset: 0}
	if _, err := c.DoRequest(ctx, &Request{Op: abi.FUSE_NOTIFY_REPLY, NodeID: 2, Unique: 4242, Body: [][]byte{nr.Append(nil, ne)}}); err != nil {
		t.Fatal(err)
	}
	in := abi.InterruptIn{Unique: 1000}
	if _, err := c.Do(ctx, abi.FUSE_INTERRUPT, 0, in.Append(nil, ne)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, abi.FUSE_INTERRUPT)
	waitFor(t, s, abi.FUSE_NOTIFY_REPLY)
	if r := s.sent(abi.FUSE_NOTIFY_REPLY)[0]; r.hdr.Unique != 4242 {
		t.Errorf("NOTIFY_REPLY unique %d", r.hdr.Unique)
	}
	if r := s.sent(abi.FUSE_INTERRUPT)[0]; r.hdr.Unique != 1001 {
		t.Errorf("INTERRUPT unique %d", r.hdr.Unique)
	}
}
