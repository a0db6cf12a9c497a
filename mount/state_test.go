package mount

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
)

// req builds a kernel request: in-header and body.
func req(op uint32, unique, nodeid uint64, body []byte) []byte {
	b := make([]byte, inHeaderSize, inHeaderSize+len(body))
	b = append(b, body...)
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint32(b[4:], op)
	ne.PutUint64(b[8:], unique)
	ne.PutUint64(b[16:], nodeid)
	return b
}

// rep builds a server reply.
func rep(unique uint64, errno int32, body []byte) []byte {
	b := make([]byte, outHeaderSize, outHeaderSize+len(body))
	b = append(b, body...)
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint32(b[4:], uint32(errno))
	ne.PutUint64(b[8:], unique)
	return b
}

func entry(nodeid uint64) []byte {
	e := make([]byte, entryOutSize)
	ne.PutUint64(e, nodeid)
	ne.PutUint64(e[8:], 7) // generation
	return e
}

func cstr(names ...string) []byte {
	var b []byte
	for _, n := range names {
		b = append(append(b, n...), 0)
	}
	return b
}

func initPair(minor uint32) ([]byte, []byte) {
	in := make([]byte, 64)
	ne.PutUint32(in[0:], 7)
	ne.PutUint32(in[4:], 45)
	out := make([]byte, 64)
	ne.PutUint32(out[0:], 7)
	ne.PutUint32(out[4:], minor)
	return req(opInit, 2, 0, in), rep(2, 0, out)
}

func direntplus(nodeid uint64, name string) []byte {
	b := make([]byte, direntplusFix)
	copy(b, entry(nodeid))
	ne.PutUint64(b[entryOutSize:], nodeid)
	ne.PutUint32(b[entryOutSize+16:], uint32(len(name)))
	b = append(b, name...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

// paths resolves the synthesized LOOKUPs into nodeid -> path, checking that
// every parent was synthesized before its child.
func paths(t *testing.T, pairs [][2][]byte) map[uint64]string {
	t.Helper()
	known := map[uint64]string{1: ""}
	for _, p := range pairs[1:] {
		r, a := p[0], p[1]
		if op := ne.Uint32(r[4:]); op != opLookup {
			t.Fatalf("synthesized opcode %d, want LOOKUP", op)
		}
		if ne.Uint64(r[8:]) != ne.Uint64(a[8:]) {
			t.Fatalf("request unique %d, reply unique %d", ne.Uint64(r[8:]), ne.Uint64(a[8:]))
		}
		if int(ne.Uint32(r[0:])) != len(r) || int(ne.Uint32(a[0:])) != len(a) {
			t.Fatalf("length fields do not match message lengths")
		}
		parent := ne.Uint64(r[16:])
		pp, ok := known[parent]
		if !ok {
			t.Fatalf("node with parent %d synthesized before its parent", parent)
		}
		name := string(r[inHeaderSize : len(r)-1])
		known[ne.Uint64(a[outHeaderSize:])] = pp + "/" + name
	}
	delete(known, 1)
	return known
}

func TestSessionSynthesize(t *testing.T) {
	s := newSession()
	if got := s.synthesize(); got != nil {
		t.Fatalf("synthesize before INIT = %d pairs, want none", len(got))
	}
	ireq, irep := initPair(31)
	s.request(ireq, time.Now())
	if op := s.reply(irep); op != opInit {
		t.Fatalf("reply to INIT returned op %d", op)
	}
	mkdir := append(make([]byte, 8), cstr("dir")...)
	steps := []struct{ req, rep []byte }{
		{req(opLookup, 4, 1, cstr("a")), rep(4, 0, entry(10))},
		{req(opMkdir, 6, 1, mkdir), rep(6, 0, entry(11))},
		{req(opCreate, 8, 11, append(make([]byte, 16), cstr("f")...)), rep(8, 0, append(entry(12), make([]byte, 16)...))},
		{req(opLookup, 10, 1, cstr("missing")), rep(10, -2, nil)},
		{req(opSymlink, 12, 11, cstr("ln", "/target")), rep(12, 0, entry(13))},
		// The last record lacks its padding: the kernel ignores it, and
		// so must the node table.
		{req(opReaddirplus, 14, 11, make([]byte, 40)), rep(14, 0, slices.Concat(direntplus(11, "."), direntplus(14, "g"), direntplus(15, "h"), direntplus(16, "cut")[:155]))},
		// RENAME /dir/g -> /a2 (newdir 1)
		{req(opRename, 16, 11, append(binary.NativeEndian.AppendUint64(nil, 1), cstr("g", "a2")...)), rep(16, 0, nil)},
		{req(opLink, 18, 1, append(binary.NativeEndian.AppendUint64(nil, 15), cstr("hlink")...)), rep(18, 0, entry(15))},
	}
	for _, st := range steps {
		s.request(st.req, time.Now())
		s.reply(st.rep)
	}
	// FORGET node 10 (looked up once) and BATCH_FORGET one of node 15's two lookups.
	s.request(req(opForget, 20, 10, binary.NativeEndian.AppendUint64(nil, 1)), time.Now())
	batch := make([]byte, 8, 24)
	ne.PutUint32(batch, 1)
	batch = binary.NativeEndian.AppendUint64(binary.NativeEndian.AppendUint64(batch, 15), 1)
	s.request(req(opBatchForget, 22, 0, batch), time.Now())

	pairs := s.synthesize()
	if len(pairs) == 0 || ne.Uint32(pairs[0][0][4:]) != opInit {
		t.Fatalf("first synthesized pair is not INIT")
	}
	got := paths(t, pairs)
	want := map[uint64]string{11: "/dir", 12: "/dir/f", 13: "/dir/ln", 14: "/a2", 15: "/hlink"}
	if len(got) != len(want) {
		t.Errorf("synthesized nodes %v, want %v", got, want)
	}
	for id, p := range want {
		if got[id] != p {
			t.Errorf("node %d: path %q, want %q", id, got[id], p)
		}
	}
	if n := s.inflightCount(); n != 0 {
		t.Errorf("%d requests still in flight after all replies", n)
	}
}

func TestSessionTakeInflight(t *testing.T) {
	s := newSession()
	s.request(req(opLookup, 4, 1, cstr("x")), time.Now())
	s.request(req(opForget, 6, 9, make([]byte, 8)), time.Now())    // no reply expected
	s.request(req(opInterrupt, 5, 0, make([]byte, 8)), time.Now()) // no reply expected
	s.request(req(15 /* READ */, 8, 3, make([]byte, 40)), time.Now())
	got := s.takeInflight()
	if len(got) != 2 {
		t.Fatalf("takeInflight = %v, want uniques 4 and 8", got)
	}
	if s.inflightCount() != 0 {
		t.Fatalf("in flight after take: %d", s.inflightCount())
	}
}

// TestSessionOldest: the request that has waited longest, with its path
// from the node table (the name too, for a LOOKUP), its thread and its age.
func TestSessionOldest(t *testing.T) {
	s := newSession()
	if o := s.oldest(time.Now()); o != nil {
		t.Fatalf("oldest of none waiting: %+v", o)
	}
	withPid := func(m []byte, pid uint32) []byte {
		ne.PutUint32(m[32:], pid)
		return m
	}
	// /d is node 10, /d/e node 11.
	s.request(req(opLookup, 2, 1, cstr("d")), time.Now())
	s.reply(rep(2, 0, entry(10)))
	s.request(req(opLookup, 4, 10, cstr("e")), time.Now())
	s.reply(rep(4, 0, entry(11)))

	// Arrival times as the forwarder gives them: the oldest goes by
	// them, not by the order in which requests are recorded.
	start := time.Now()
	s.request(withPid(req(15 /* READ */, 8, 11, make([]byte, 40)), 301), start.Add(time.Millisecond))
	s.request(withPid(req(opLookup, 6, 11, cstr("f")), 300), start)
	now := start.Add(2500 * time.Millisecond)
	o := s.oldest(now)
	if o == nil || o.Op != opLookup || o.NodeID != 11 || o.Path != "/d/e/f" || o.Pid != 300 || o.Age != 2500*time.Millisecond {
		t.Errorf("oldest %+v, want the LOOKUP of /d/e/f by 300, 2.5s old", o)
	}
	s.reply(rep(6, 0, entry(12)))
	if o := s.oldest(now); o == nil || o.Op != 15 || o.Path != "/d/e" || o.Pid != 301 {
		t.Errorf("oldest %+v, want the READ of /d/e by 301", o)
	}
	// A node the table does not know has no path.
	s.reply(rep(8, 0, nil))
	s.request(req(3 /* GETATTR */, 10, 99, make([]byte, 16)), time.Now())
	if o := s.oldest(time.Now()); o == nil || o.Path != "" || o.NodeID != 99 {
		t.Errorf("oldest %+v, want node 99 without a path", o)
	}
	s.reply(rep(10, 0, nil))
	s.request(req(3, 12, 1, make([]byte, 16)), time.Now())
	if o := s.oldest(time.Now()); o == nil || o.Path != "/" {
		t.Errorf("oldest %+v, want the root", o)
	}
	// A table that loops (a lying server made 11 a child of 12, and 12
	// is 11's child) gives no path rather than a walk without end.
	s.reply(rep(12, 0, nil))
	s.request(req(opLookup, 14, 12, cstr("loop")), time.Now())
	s.reply(rep(14, 0, entry(11)))
	s.request(req(3, 16, 11, make([]byte, 16)), time.Now())
	if o := s.oldest(time.Now()); o == nil || o.Path != "" {
		t.Errorf("oldest %+v, want no path in a loop", o)
	}
}

// FuzzSession feeds arbitrary requests and replies to the tracker: it must
// not panic (nor loop, naming the oldest request's path), and synthesized
// messages must be well formed.
func FuzzSession(f *testing.F) {
	ireq, irep := initPair(45)
	f.Add(ireq, irep, req(opLookup, 4, 1, cstr("a")), rep(4, 0, entry(10)))
	f.Add(ireq, irep, req(opReaddirplus, 4, 1, make([]byte, 40)), rep(4, 0, direntplus(5, "x")))
	f.Add(ireq, irep, req(opRename2, 4, 1, append(make([]byte, 16), cstr("a", "b")...)), rep(4, 0, nil))
	f.Fuzz(func(t *testing.T, a, b, c, d []byte) {
		s := newSession()
		for i, m := range [][]byte{a, b, c, d} {
			if i%2 == 0 && len(m) >= inHeaderSize {
				s.request(m, time.Now())
			}
			if i%2 == 1 && len(m) >= outHeaderSize {
				s.reply(m)
			}
		}
		s.oldest(time.Now())
		pairs := s.synthesize()
		for _, p := range pairs {
			for _, m := range p {
				if len(m) < outHeaderSize {
					t.Fatalf("synthesized message of %d bytes", len(m))
				}
			}
		}
		// The INIT pair is the session's own; the LOOKUP pairs after it
		// are made here, and a decoder takes them as the wire's.
		uniques := map[uint64]bool{}
		nodes := map[uint64]bool{}
		for i, p := range pairs[min(len(pairs), 1):] {
			req, rep := p[0], p[1]
			if int(ne.Uint32(req)) != len(req) || int(ne.Uint32(rep)) != len(rep) {
				t.Fatalf("LOOKUP pair %d: lengths %d and %d say %d and %d", i, len(req), len(rep), ne.Uint32(req), ne.Uint32(rep))
			}
			u := ne.Uint64(req[8:])
			if ne.Uint32(req[4:]) != opLookup || ne.Uint64(rep[8:]) != u || int32(ne.Uint32(rep[4:])) != 0 {
				t.Fatalf("LOOKUP pair %d: opcode %d, uniques %#x and %#x, error %d", i, ne.Uint32(req[4:]), u, ne.Uint64(rep[8:]), int32(ne.Uint32(rep[4:])))
			}
			if uniques[u] || u < synthUniqueBase {
				t.Fatalf("LOOKUP pair %d: unique %#x repeated or in the live range", i, u)
			}
			uniques[u] = true
			name := req[inHeaderSize:]
			if len(name) < 2 || name[len(name)-1] != 0 {
				t.Fatalf("LOOKUP pair %d: name %q not a NUL-terminated name", i, name)
			}
			id := ne.Uint64(rep[outHeaderSize:])
			if nodes[id] || id == 1 {
				t.Fatalf("LOOKUP pair %d: node %d looked up twice, or the root", i, id)
			}
			nodes[id] = true
		}
	})
}

// TestSubscribePreludeMemory attaches a synthesizing subscriber to a mount
// whose kernel knows 5,000 nodes: the prelude must cost about what its
// messages take, not a pooled 4 KiB buffer per message.
func TestSubscribePreludeMemory(t *testing.T) {
	m := &Mount{sess: newSession()}
	ireq, irep := initPair(31)
	m.sess.request(ireq, time.Now())
	m.sess.reply(irep)
	const nodes = 5000
	for i := range nodes {
		u := uint64(4 + 2*i)
		m.sess.request(req(opLookup, u, 1, cstr(fmt.Sprintf("file-%d", i))), time.Now())
		m.sess.reply(rep(u, 0, entry(uint64(10+i))))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sub := m.Subscribe(SubscribeOptions{Synthesize: true})
	runtime.ReadMemStats(&after)
	defer sub.Close()
	n := 0
	for len(sub.prelude) > 0 {
		ev, _ := sub.Next()
		n++
		sub.Release(ev)
	}
	if n != 2*(nodes+1) {
		t.Fatalf("prelude of %d events, want %d", n, 2*(nodes+1))
	}
	// A LOOKUP pair is under 250 bytes; allow the bookkeeping twice that.
	if perNode := (after.TotalAlloc - before.TotalAlloc) / nodes; perNode > 1000 {
		t.Errorf("prelude allocated %d bytes per node, want under 1000", perNode)
	}
}

// TestSessionRenames: RENAME_EXCHANGE swaps two names, a rename over an
// existing name and an unlink leave the node that had it without a name
// (not synthesized), and a resent request replaces the one it repeats.
func TestSessionRenames(t *testing.T) {
	s := newSession()
	ireq, irep := initPair(45)
	s.request(ireq, time.Now())
	s.reply(irep)
	rename2 := func(flags uint32, old, new string) []byte {
		b := binary.NativeEndian.AppendUint64(nil, 1)
		b = binary.NativeEndian.AppendUint32(b, flags)
		b = binary.NativeEndian.AppendUint32(b, 0)
		return append(b, cstr(old, new)...)
	}
	steps := []struct{ req, rep []byte }{
		{req(opLookup, 4, 1, cstr("a")), rep(4, 0, entry(2))},
		{req(opLookup, 6, 1, cstr("b")), rep(6, 0, entry(3))},
		{req(opLookup, 8, 1, cstr("c")), rep(8, 0, entry(4))},
		{req(opLookup, 10, 1, cstr("d")), rep(10, 0, entry(5))},
		{req(opRename2, 12, 1, rename2(renameExchange, "a", "b")), rep(12, 0, nil)},
		// c replaces d: node 5 has no name left.
		{req(opRename2, 14, 1, rename2(0, "c", "d")), rep(14, 0, nil)},
		{req(opLookup, 16, 1, cstr("e")), rep(16, 0, entry(6))},
		{req(opUnlink, 18, 1, cstr("e")), rep(18, 0, nil)},
	}
	for _, st := range steps {
		s.request(st.req, time.Now())
		s.reply(st.rep)
	}
	got := paths(t, s.synthesize())
	want := map[uint64]string{2: "/b", 3: "/a", 4: "/d"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("synthesized %v, want %v", got, want)
	}

	// NOTIFY_RESEND: the kernel queues unique 20 again as 20|RESEND.
	s.request(req(opLookup, 20, 1, cstr("f")), time.Now())
	s.request(req(opLookup, 20|abi.FUSE_UNIQUE_RESEND, 1, cstr("f")), time.Now())
	s.reply(rep(20|abi.FUSE_UNIQUE_RESEND, 0, entry(7)))
	if n := s.inflightCount(); n != 0 {
		t.Errorf("%d requests in flight after the resent one was answered", n)
	}
	if p, _ := s.pathLocked(7); p != "/f" {
		t.Errorf("path of node 7 = %q, want /f", p)
	}
}
