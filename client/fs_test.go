package client

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
)

// cacheServer serves a root with one file whose node ID the test can
// change, and a negative entry for "ghost"; entries and attributes are
// valid for 1 s.
type cacheServer struct {
	mu     sync.Mutex
	nodeid uint64
}

func (cs *cacheServer) handle(r fakeReq) [][]byte {
	cs.mu.Lock()
	id := cs.nodeid
	cs.mu.Unlock()
	u := r.hdr.Unique
	switch r.hdr.Opcode {
	case abi.FUSE_INIT:
		return [][]byte{initReply(r, func(o *abi.InitOut) { o.SetInitFlags(abi.FUSE_ASYNC_READ | abi.FUSE_MAX_PAGES) })}
	case abi.FUSE_LOOKUP:
		switch string(r.body) {
		case "f\x00":
			return [][]byte{reply(u, 0, entryBody(id, testAttr))}
		case "ghost\x00":
			return [][]byte{reply(u, 0, entryBody(0, abi.Attr{}))} // negative, valid 1 s
		}
		return [][]byte{reply(u, -2)}
	case abi.FUSE_GETATTR:
		a := testAttr
		if r.hdr.NodeID == 1 {
			a.Mode = 0o40755
		}
		return [][]byte{reply(u, 0, attrBody(a))}
	case abi.FUSE_OPENDIR:
		o := abi.OpenOut{Fh: 1}
		return [][]byte{reply(u, 0, o.Append(nil, ne))}
	case abi.FUSE_READDIR:
		var in abi.ReadIn
		in.Unmarshal(r.body, ne)
		if in.Offset > 0 {
			return [][]byte{reply(u, 0)}
		}
		var d []byte
		d = abi.AppendDirent(d, abi.Dirent{Ino: 1, Off: 1, Namelen: 1, Type: 4}, ".", ne)
		d = abi.AppendDirent(d, abi.Dirent{Ino: 1, Off: 2, Namelen: 2, Type: 4}, "..", ne)
		d = abi.AppendDirent(d, abi.Dirent{Ino: 5, Off: 3, Namelen: 1, Type: 8}, "f", ne)
		return [][]byte{reply(u, 0, d)}
	case abi.FUSE_RELEASEDIR, abi.FUSE_DESTROY:
		return [][]byte{reply(u, 0)}
	case abi.FUSE_FORGET, abi.FUSE_BATCH_FORGET, abi.FUSE_INTERRUPT:
		return nil
	}
	return [][]byte{reply(u, -38)}
}

// fakeClock is a settable time source for cache expiry.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestFSCache(t *testing.T) {
	cs := &cacheServer{nodeid: 2}
	notified := make(chan abi.NotifyCode, 8)
	c, s, p := dialFake(t, cs.handle, Options{OnNotify: func(n Notification) { notified <- n.Code }})
	clock := &fakeClock{now: time.Unix(1000, 0)}
	fsys := NewFS(c, FSOptions{Now: clock.Now})
	count := func(op abi.Opcode) int { return len(s.sent(op)) }

	for range 3 {
		if _, err := fsys.Stat("f"); err != nil {
			t.Fatal(err)
		}
	}
	if n, g := count(abi.FUSE_LOOKUP), count(abi.FUSE_GETATTR); n != 1 || g != 0 {
		t.Errorf("within entry_valid: %d LOOKUPs and %d GETATTRs, want 1 and 0", n, g)
	}
	// Negative entries are cached for their entry_valid.
	for range 2 {
		if _, err := fsys.Stat("ghost"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("ghost: %v", err)
		}
	}
	if n := count(abi.FUSE_LOOKUP); n != 2 {
		t.Errorf("negative entry: %d LOOKUPs in all, want 2", n)
	}

	// After expiry the entry is looked up again; the node changed, so the
	// old one is forgotten at the next operation.
	clock.advance(2 * time.Second)
	cs.mu.Lock()
	cs.nodeid = 3
	cs.mu.Unlock()
	if _, err := fsys.Stat("f"); err != nil {
		t.Fatal(err)
	}
	if n := count(abi.FUSE_LOOKUP); n != 3 {
		t.Errorf("after expiry: %d LOOKUPs, want 3", n)
	}
	if _, err := fsys.Stat("f"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, abi.FUSE_BATCH_FORGET)
	if c.Lookups(2) != 0 || c.Lookups(3) != 1 {
		t.Errorf("lookups: node 2 %d, node 3 %d; want 0 and 1", c.Lookups(2), c.Lookups(3))
	}

	// INVAL_ENTRY drops the cached entry at once (the FS's handler runs
	// before OnNotify).
	ent := abi.NotifyInvalEntryOut{Parent: 1, Namelen: 1}
	p.toClient <- notifyMsg(abi.FUSE_NOTIFY_INVAL_ENTRY, ent.Append(nil, ne), []byte("f\x00"))
	select {
	case code := <-notified:
		if code != abi.FUSE_NOTIFY_INVAL_ENTRY {
			t.Fatalf("notified %v", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("INVAL_ENTRY not delivered")
	}
	if _, err := fsys.Stat("f"); err != nil {
		t.Fatal(err)
	}
	if n := count(abi.FUSE_LOOKUP); n != 4 {
		t.Errorf("after INVAL_ENTRY: %d LOOKUPs, want 4", n)
	}

	// READDIR's "." and ".." never reach the caller.
	ents, err := fsys.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"f"}) {
		t.Errorf("ReadDir: %q", names)
	}
	if _, err := fsys.Open("../x"); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Errorf("Open of an invalid path: %v", err)
	}
}

// waitFor waits until the fake server has seen a request with opcode op.
func waitFor(t *testing.T, s *fakeServer, op abi.Opcode) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for len(s.sent(op)) == 0 {
		select {
		case <-s.reqs:
		case <-deadline:
			t.Fatalf("no %s seen", op)
		}
	}
}

// TestFSReaddirplusInvalidEntry: an entry with invalid attributes fails
// the listing, and the references the reply took for it and for the
// entries after it, which are not cached, are returned.
func TestFSReaddirplusInvalidEntry(t *testing.T) {
	entry := func(d []byte, id, off uint64, name string, mode uint32) []byte {
		a := testAttr
		a.Ino, a.Mode = id, mode
		return abi.AppendDirentplus(d, abi.Direntplus{EntryOut: abi.EntryOut{NodeID: id, Attr: a}, Dirent: abi.Dirent{Ino: id, Off: off, Namelen: uint32(len(name)), Type: 8}}, name, ne)
	}
	c, s, _ := dialFake(t, func(r fakeReq) [][]byte {
		u := r.hdr.Unique
		switch r.hdr.Opcode {
		case abi.FUSE_INIT:
			return [][]byte{initReply(r, func(o *abi.InitOut) {
				o.SetInitFlags(abi.FUSE_ASYNC_READ | abi.FUSE_MAX_PAGES | abi.FUSE_DO_READDIRPLUS)
			})}
		case abi.FUSE_GETATTR:
			a := testAttr
			a.Mode = 0o40755
			return [][]byte{reply(u, 0, attrBody(a))}
		case abi.FUSE_OPENDIR:
			o := abi.OpenOut{Fh: 1}
			return [][]byte{reply(u, 0, o.Append(nil, ne))}
		case abi.FUSE_READDIRPLUS:
			d := entry(nil, 5, 1, "f", 0o100644)
			d = entry(d, 6, 2, "bad", 0) // no file type
			d = entry(d, 7, 3, "after", 0o100644)
			return [][]byte{reply(u, 0, d)}
		case abi.FUSE_FORGET, abi.FUSE_BATCH_FORGET:
			return nil
		}
		return [][]byte{reply(u, 0)}
	}, Options{})
	fsys := NewFS(c, FSOptions{})
	_, err := fsys.ReadDir(".")
	if err == nil {
		t.Fatal("a listing with an entry of no file type succeeded")
	}
	if !strings.Contains(err.Error(), `entry "bad" with invalid attributes`) {
		t.Fatalf("ReadDir: %v, want the bad entry named", err)
	}
	waitFor(t, s, abi.FUSE_BATCH_FORGET)
	if c.Lookups(6) != 0 || c.Lookups(7) != 0 {
		t.Errorf("lookups: node 6 %d, node 7 %d; want both returned", c.Lookups(6), c.Lookups(7))
	}
}
