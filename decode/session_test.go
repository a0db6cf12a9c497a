package decode_test

import (
	"encoding/json"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
	"github.com/fusectl/fusectl/decode/decodetest"
)

// replay decodes b's messages in one session and returns a clone of each
// record.
func replay(t *testing.T, s *decode.Session, b *decodetest.Builder) []*decode.Record {
	t.Helper()
	return decodeCut(t, s, b, 0)
}

func TestSessionPathsFollowRenames(t *testing.T) {
	b := decodetest.New()
	s := decode.NewSession(decode.Options{})
	b.Init(45, 0)
	u := b.Request(abi.FUSE_LOOKUP, 1, decodetest.Name("dir"))
	b.Reply(u, 0, decodetest.Entry(2, 0, true))
	u = b.Request(abi.FUSE_MKDIR, 2, &abi.MkdirIn{Mode: 0o755}, decodetest.Name("sub"))
	b.Reply(u, 0, decodetest.Entry(3, 0, true))
	u = b.Request(abi.FUSE_CREATE, 3, &abi.CreateIn{Mode: 0o100644}, decodetest.Name("f"))
	b.Reply(u, 0, decodetest.Entry(4, 0, false), &abi.OpenOut{Fh: 1})
	replay(t, s, b)
	if p, ok := s.Path(4); !ok || p != "/dir/sub/f" {
		t.Fatalf("path of n4 = %q, %v; want /dir/sub/f", p, ok)
	}

	// Moving the directory moves its subtree.
	u = b.Request(abi.FUSE_RENAME, 2, &abi.RenameIn{NewDir: 1}, decodetest.Name("sub"), decodetest.Name("top"))
	b.Reply(u, 0)
	replay(t, s, b)
	if p, _ := s.Path(4); p != "/top/f" {
		t.Errorf("after RENAME, path of n4 = %q, want /top/f", p)
	}

	// RENAME_EXCHANGE swaps two names.
	u = b.Request(abi.FUSE_LOOKUP, 1, decodetest.Name("other"))
	b.Reply(u, 0, decodetest.Entry(5, 0, false))
	u = b.Request(abi.FUSE_RENAME2, 1, &abi.Rename2In{NewDir: 1, Flags: 2}, decodetest.Name("top"), decodetest.Name("other"))
	b.Reply(u, 0)
	replay(t, s, b)
	if p, _ := s.Path(3); p != "/other" {
		t.Errorf("after RENAME_EXCHANGE, path of n3 = %q, want /other", p)
	}
	if p, _ := s.Path(5); p != "/top" {
		t.Errorf("after RENAME_EXCHANGE, path of n5 = %q, want /top", p)
	}

	// UNLINK removes the name; FORGET the node.
	u = b.Request(abi.FUSE_UNLINK, 1, decodetest.Name("top"))
	b.Reply(u, 0)
	replay(t, s, b)
	if p, ok := s.Path(5); ok {
		t.Errorf("after UNLINK, n5 still has path %q", p)
	}
	n := s.Nodes()
	b.Request(abi.FUSE_FORGET, 5, &abi.ForgetIn{Nlookup: 1})
	recs := replay(t, s, b)
	if s.Nodes() != n-1 {
		t.Errorf("after FORGET, %d nodes, want %d", s.Nodes(), n-1)
	}
	if s.Pending() != 0 {
		t.Errorf("FORGET left %d pending requests; it gets no reply", s.Pending())
	}
	if recs[0].Op != abi.FUSE_FORGET {
		t.Errorf("record op %v", recs[0].Op)
	}

	// NOTIFY_DELETE removes a name too.
	b.Notify(abi.FUSE_NOTIFY_DELETE, &abi.NotifyDeleteOut{Parent: 3, Child: 4, Namelen: 1}, decodetest.Name("f"))
	replay(t, s, b)
	if p, ok := s.Path(4); ok {
		t.Errorf("after NOTIFY_DELETE, n4 still has path %q", p)
	}
}

func TestSessionReaddirplusPaths(t *testing.T) {
	b := decodetest.New()
	s := decode.NewSession(decode.Options{})
	b.Init(45, 0)
	u := b.Request(abi.FUSE_READDIRPLUS, 1, &abi.ReadIn{Size: 4096})
	b.Reply(u, 0, decodetest.Direntplus(b.O, 10, "x", "y"))
	recs := replay(t, s, b)
	if got := recs[len(recs)-1].Count; got != 2 {
		t.Errorf("READDIRPLUS reply count %d, want 2", got)
	}
	if p, _ := s.Path(11); p != "/y" {
		t.Errorf("path of n11 = %q, want /y", p)
	}
}

func TestSessionPairing(t *testing.T) {
	b := decodetest.New()
	s := decode.NewSession(decode.Options{})
	b.Init(45, 0)
	// An interrupted request: the interrupt's reply and the request's
	// reply both pair.
	b.PID = 42
	u := b.Request(abi.FUSE_READ, 1, &abi.ReadIn{Size: 10})
	iu := b.RequestHdr(abi.InHeader{Opcode: abi.FUSE_INTERRUPT, Unique: u | 1}, 0, &abi.InterruptIn{Unique: u})
	b.Reply(iu, abi.Errno(11))
	b.Reply(u, abi.Errno(4))
	// A second interrupt that gets no reply does not stay pending once
	// its request is answered.
	b.PID = 7
	u2 := b.Request(abi.FUSE_READ, 1, &abi.ReadIn{Size: 10})
	b.RequestHdr(abi.InHeader{Opcode: abi.FUSE_INTERRUPT, Unique: u2 | 1}, 0, &abi.InterruptIn{Unique: u2})
	b.Reply(u2, 0, decodetest.Raw("x"))
	// go-fuse answers the request, then the INTERRUPT that found nothing
	// left to interrupt with EAGAIN: that reply pairs too.
	b.PID = 43
	u4 := b.Request(abi.FUSE_LOOKUP, 1, decodetest.Name("d"))
	b.RequestHdr(abi.InHeader{Opcode: abi.FUSE_INTERRUPT, Unique: u4 | 1}, 0, &abi.InterruptIn{Unique: u4})
	b.Reply(u4, 0, decodetest.Entry(2, 0, true))
	b.Reply(u4|1, abi.Errno(11))
	// A resent request pairs with the reply that echoes bit 63.
	u3 := b.Request(abi.FUSE_GETATTR, 1, &abi.GetattrIn{})
	b.Notify(abi.FUSE_NOTIFY_RESEND)
	b.RequestHdr(abi.InHeader{Opcode: abi.FUSE_GETATTR, Unique: u3 | abi.FUSE_UNIQUE_RESEND, NodeID: 1}, 0, &abi.GetattrIn{})
	b.Reply(u3|abi.FUSE_UNIQUE_RESEND, 0, &abi.AttrOut{})
	// A reply nobody asked for.
	b.Reply(999998, 0)
	recs := replay(t, s, b)[2:]

	want := []struct {
		dir         capture.Dir
		op          abi.Opcode
		paired      bool
		errno       abi.Errno
		interrupts  uint64
		interrupted bool
	}{
		{capture.DirRequest, abi.FUSE_READ, false, 0, 0, false},
		{capture.DirRequest, abi.FUSE_INTERRUPT, false, 0, u, false},
		{capture.DirReply, abi.FUSE_INTERRUPT, true, 11, u, false},
		{capture.DirReply, abi.FUSE_READ, true, 4, 0, true},
		{capture.DirRequest, abi.FUSE_READ, false, 0, 0, false},
		{capture.DirRequest, abi.FUSE_INTERRUPT, false, 0, u2, false},
		{capture.DirReply, abi.FUSE_READ, true, 0, 0, true},
		{capture.DirRequest, abi.FUSE_LOOKUP, false, 0, 0, false},
		{capture.DirRequest, abi.FUSE_INTERRUPT, false, 0, u4, false},
		{capture.DirReply, abi.FUSE_LOOKUP, true, 0, 0, true},
		{capture.DirReply, abi.FUSE_INTERRUPT, true, 11, u4, false},
		{capture.DirRequest, abi.FUSE_GETATTR, false, 0, 0, false},
		{capture.DirNotify, 0, false, 0, 0, false},
		{capture.DirRequest, abi.FUSE_GETATTR, false, 0, 0, false},
		{capture.DirReply, abi.FUSE_GETATTR, true, 0, 0, false},
		{capture.DirReply, 0, false, 0, 0, false},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, w := range want {
		r := recs[i]
		if r.Dir != w.dir || r.Op != w.op || r.Paired != w.paired || r.Errno != w.errno || r.Interrupts != w.interrupts || r.Interrupted != w.interrupted {
			t.Errorf("record %d: dir=%v op=%v paired=%v errno=%v interrupts=%d interrupted=%v; want %+v",
				i, r.Dir, r.Op, r.Paired, r.Errno, r.Interrupts, r.Interrupted, w)
		}
		if r.Malformed != nil {
			t.Errorf("record %d malformed: %v", i, r.Malformed)
		}
	}
	// An INTERRUPT's own pid and node are 0. It and its reply (paired in
	// time or late) carry the opcode, pid, node and path of the request
	// they interrupt, and the op, pid, node and path filters select them
	// by those.
	reads, _ := decode.ParseOps("READ")
	lookups, _ := decode.ParseOps("LOOKUP")
	for _, c := range []struct {
		i    int
		pid  uint32
		path string
		op   abi.Opcode
	}{{1, 42, "/", abi.FUSE_READ}, {2, 42, "/", abi.FUSE_READ}, {5, 7, "/", abi.FUSE_READ}, {8, 43, "/d", abi.FUSE_LOOKUP}, {10, 43, "/d", abi.FUSE_LOOKUP}} {
		r := recs[c.i]
		ops, other := reads, lookups
		if c.op == abi.FUSE_LOOKUP {
			ops, other = lookups, reads
		}
		if r.InterruptsOp != c.op || !(&decode.Filter{Ops: ops}).Match(r) || (&decode.Filter{Ops: other}).Match(r) {
			t.Errorf("record %d: interrupts op %v; want %v, selected by its filter alone", c.i, r.InterruptsOp, c.op)
		}
		if r.PID != 0 || r.InterruptsPID != c.pid {
			t.Errorf("record %d: pid %d, interrupts pid %d; want 0, %d", c.i, r.PID, r.InterruptsPID, c.pid)
		}
		if r.NodeID != 0 || r.InterruptsNodeID != 1 || string(r.Path) != c.path {
			t.Errorf("record %d: node %d, interrupts node %d, path %q; want 0, 1, %q", c.i, r.NodeID, r.InterruptsNodeID, r.Path, c.path)
		}
		for _, f := range []decode.Filter{{PID: c.pid, HasPID: true}, {NodeID: 1, HasNodeID: true}, {Path: c.path}} {
			if !f.Match(r) {
				t.Errorf("record %d: not selected by %+v", c.i, f)
			}
		}
		for _, f := range []decode.Filter{{PID: 99, HasPID: true}, {NodeID: 2, HasNodeID: true}, {Path: "/e"}} {
			if f.Match(r) {
				t.Errorf("record %d: selected by %+v", c.i, f)
			}
		}
		if c.path == "/" && (&decode.Filter{Path: "/d"}).Match(r) {
			t.Errorf("record %d: an INTERRUPT of a request on / selected by path /d", c.i)
		}
	}
	if !recs[13].IsResend() || recs[13].ID() != u3 {
		t.Errorf("resent request: resend=%v id=%d, want true %d", recs[13].IsResend(), recs[13].ID(), u3)
	}
	if s.Pending() != 0 {
		t.Errorf("%d requests still pending", s.Pending())
	}
	c := s.Counters()
	if c.Unpaired != 1 || c.Interrupts != 3 || c.Resends != 1 || c.Evicted != 0 {
		t.Errorf("counters %+v", c)
	}
}

func TestSessionNegotiatesOldMinor(t *testing.T) {
	b := decodetest.New()
	s := decode.NewSession(decode.Options{})
	neg := b.Init(8, 0)
	// At 7.8 an entry reply is 120 bytes and WRITE's argument 24.
	u := b.Request(abi.FUSE_LOOKUP, 1, decodetest.Name("a"))
	b.Reply(u, 0, decodetest.Prefix{V: decodetest.Entry(2, 1, false), N: 120})
	u = b.Request(abi.FUSE_WRITE, 2, decodetest.Prefix{V: &abi.WriteIn{Size: 3}, N: 24}, decodetest.Raw("abc"))
	b.Reply(u, 0, &abi.WriteOut{Size: 3})
	recs := replay(t, s, b)
	p := s.Proto()
	if !p.Known || p.Minor != 8 || p.Flags != neg {
		t.Errorf("proto %+v, want minor 8 flags %v", p, neg)
	}
	for i, r := range recs {
		if r.Malformed != nil {
			t.Errorf("record %d (%v %v) malformed: %v", i, r.Dir, r.Op, r.Malformed)
		}
	}
	if got := string(recs[4].Data); got != "abc" {
		t.Errorf("WRITE data %q, want abc", got)
	}
	if got := recs[3].Out.Entry.NodeID; got != 2 {
		t.Errorf("entry node %d, want 2", got)
	}
}

// TestSessionBounded feeds requests that never get a reply and lookups of
// ever new nodes: the tables stay within their bounds and count what they
// dropped.
func TestSessionBounded(t *testing.T) {
	const maxPending, maxNodes = 64, 32
	b := decodetest.New()
	s := decode.NewSession(decode.Options{MaxPending: maxPending, MaxNodes: maxNodes})
	var r decode.Record
	b.Emit = func(m decodetest.Msg) {
		s.DecodeMsg(m.Time, m.Dir, m.Flags, m.Data, len(m.Data), b.O, &r)
	}
	for i := 0; i < 1000; i++ {
		b.Request(abi.FUSE_GETATTR, 1, &abi.GetattrIn{})
	}
	if s.Pending() > maxPending {
		t.Errorf("%d pending, bound %d", s.Pending(), maxPending)
	}
	if c := s.Counters(); c.Evicted != 1000-maxPending {
		t.Errorf("evicted %d, want %d", c.Evicted, 1000-maxPending)
	}
	for i := 0; i < 1000; i++ {
		u := b.Request(abi.FUSE_LOOKUP, 1, decodetest.Name("f"+string(rune('a'+i%26))+string(rune('a'+i/26))))
		b.Reply(u, 0, decodetest.Entry(uint64(100+i), 0, false))
	}
	if s.Nodes() > maxNodes {
		t.Errorf("%d nodes, bound %d", s.Nodes(), maxNodes)
	}
	if c := s.Counters(); c.NodesEvicted != 1000-maxNodes {
		t.Errorf("nodes evicted %d, want %d", c.NodesEvicted, 1000-maxNodes)
	}
}

// TestSessionRenameCycle makes a directory its own ancestor, which only
// hostile input can do: path resolution must stop.
func TestSessionRenameCycle(t *testing.T) {
	b := decodetest.New()
	s := decode.NewSession(decode.Options{})
	b.Init(45, 0)
	u := b.Request(abi.FUSE_LOOKUP, 1, decodetest.Name("a"))
	b.Reply(u, 0, decodetest.Entry(2, 0, true))
	u = b.Request(abi.FUSE_LOOKUP, 2, decodetest.Name("b"))
	b.Reply(u, 0, decodetest.Entry(3, 0, true))
	u = b.Request(abi.FUSE_RENAME, 1, &abi.RenameIn{NewDir: 3}, decodetest.Name("a"), decodetest.Name("a"))
	b.Reply(u, 0)
	b.Request(abi.FUSE_GETATTR, 3, &abi.GetattrIn{})
	recs := replay(t, s, b)
	if p, ok := s.Path(3); ok {
		t.Errorf("cycle resolved to %q", p)
	}
	if recs[len(recs)-1].Path != nil {
		t.Errorf("record path %q in a cycle", recs[len(recs)-1].Path)
	}
}

func TestMalformedIsErrMalformed(t *testing.T) {
	b := decodetest.New()
	decodetest.Malformed(b)
	s := decode.NewSession(decode.Options{})
	recs := replay(t, s, b)
	n := 0
	for _, r := range recs {
		if r.Malformed != nil {
			n++
			if !errors.Is(r.Malformed, decode.ErrMalformed) {
				t.Errorf("%v is not ErrMalformed", r.Malformed)
			}
		}
	}
	if n != 9 {
		t.Errorf("%d malformed records, want 9", n)
	}
	if c := s.Counters(); c.Malformed != uint64(n) {
		t.Errorf("counter says %d malformed, records %d", c.Malformed, n)
	}
}

// TestTruncatedRecord decodes a message cut at the snap length: the
// header and fixed part decode, the missing data is no error.
func TestTruncatedRecord(t *testing.T) {
	b := decodetest.New()
	b.Request(abi.FUSE_WRITE, 1, &abi.WriteIn{Size: 100}, decodetest.Data(100))
	msg := b.Msgs[0].Data
	s := decode.NewSession(decode.Options{})
	var r decode.Record
	if err := s.DecodeMsg(b.Msgs[0].Time, capture.DirRequest, capture.FlagTruncated, msg[:100], len(msg), b.O, &r); err != nil {
		t.Fatalf("truncated WRITE: %v", err)
	}
	if !r.Truncated || r.In.Write.Size != 100 || len(r.Data) != 100-40-40 {
		t.Errorf("truncated=%v size=%d data=%d", r.Truncated, r.In.Write.Size, len(r.Data))
	}
}

// TestCutFieldsLeftOut: a snap length inside a message's fixed arguments
// leaves the fields it cut out of the text and the JSON, rather than
// showing them as zeros (a zero flags field reads as O_RDONLY).
func TestCutFieldsLeftOut(t *testing.T) {
	b := decodetest.New()
	b.Request(abi.FUSE_WRITE, 2, &abi.WriteIn{Fh: 7, Offset: 4096, Size: 3, WriteFlags: abi.FUSE_WRITE_LOCKOWNER, LockOwner: 0x55, Flags: 1}, decodetest.Data(3))
	u := b.Request(abi.FUSE_LOOKUP, 1, decodetest.Name("f"))
	b.Reply(u, 0, decodetest.Entry(5, 1234, false))
	s := decode.NewSession(decode.Options{})
	f := &decode.Formatter{Time: decode.TimeUTC}
	var r decode.Record
	// 64 bytes: the WRITE's fh, offset, size and write_flags (24 of
	// write_in's 40); the LOOKUP reply's out-header, entry_out's first 40
	// bytes (up to attr_valid_nsec) and attr's ino.
	for i, c := range []struct {
		dir        capture.Dir
		keep, drop []string
	}{
		{capture.DirRequest, []string{"fh=7 ", "offset=4096 ", "size=3 ", "write_flags=LOCKOWNER"}, []string{"lock_owner", " flags=", "data="}},
		{capture.DirRequest, []string{`"f"`}, nil},
		{capture.DirReply, []string{"n5 ", "entry_valid=1s", "attr_valid=1s", "attr{ino=5}"}, []string{"size=", "mode="}},
	} {
		m := b.Msgs[i]
		msg := m.Data
		flags := capture.Flags(0)
		if len(msg) > 64 {
			msg, flags = msg[:64], capture.FlagTruncated
		}
		if err := s.DecodeMsg(m.Time, c.dir, flags, msg, len(m.Data), b.O, &r); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		text := string(f.AppendText(nil, &r))
		for _, k := range c.keep {
			if !strings.Contains(text, k) {
				t.Errorf("record %d lacks %q: %s", i, k, text)
			}
		}
		for _, d := range c.drop {
			if strings.Contains(text, d) {
				t.Errorf("record %d shows %q, which the snap length cut: %s", i, d, text)
			}
		}
		var obj map[string]any
		js := f.AppendJSON(nil, &r)
		if err := json.Unmarshal(js, &obj); err != nil {
			t.Fatalf("record %d: %v: %s", i, err, js)
		}
		if i == 0 {
			if _, ok := obj["flags"]; ok {
				t.Errorf("JSON shows flags, which the snap length cut: %s", js)
			}
			if _, ok := obj["lock_owner"]; ok {
				t.Errorf("JSON shows lock_owner, which the snap length cut: %s", js)
			}
			if obj["fh"] != 7.0 || obj["size"] != 3.0 {
				t.Errorf("JSON lost the fields before the cut: %s", js)
			}
		}
	}
}

// TestCutHeader: another writer's snap length can fall inside a
// message's header. The fields it kept show, the rest are left out, and a
// request that kept its unique still pairs with its reply.
func TestCutHeader(t *testing.T) {
	f := &decode.Formatter{Time: decode.TimeUTC}
	for _, c := range []struct {
		cut             int
		reqText         string
		reqKeys, noKeys []string
		replyText       string
	}{
		{6, " #? ? truncated=6/", nil, []string{"unique", "nodeid", "uid", "pid"}, " #77 ? ? ? "},
		{12, " #? RENAME truncated=12/", nil, []string{"unique", "nodeid", "uid"}, " #77 ? ? ? "},
		{20, " #77 RENAME truncated=20/", []string{"unique"}, []string{"nodeid", "uid", "gid", "pid"}, " #77 OK 1ms RENAME\n"},
		{30, " #77 RENAME n5 truncated=30/", []string{"unique", "nodeid", "uid"}, []string{"gid", "pid"}, " #77 OK 1ms RENAME\n"},
	} {
		b := decodetest.New()
		b.Step = time.Millisecond
		u := b.RequestHdr(abi.InHeader{Opcode: abi.FUSE_RENAME, Unique: 77, NodeID: 5, UID: 1, GID: 2, PID: 3}, 0,
			&abi.RenameIn{NewDir: 6}, decodetest.Name("a"), decodetest.Name("b"))
		b.Reply(u, 0)
		s := decode.NewSession(decode.Options{})
		var r decode.Record
		m := b.Msgs[0]
		if err := s.DecodeMsg(m.Time, m.Dir, capture.FlagTruncated, m.Data[:c.cut], len(m.Data), b.O, &r); err != nil {
			t.Fatalf("cut at %d: %v", c.cut, err)
		}
		if text := string(f.AppendText(nil, &r)); !strings.Contains(text, c.reqText) || strings.Contains(text, "path=") {
			t.Errorf("cut at %d: %q, want %q and no path", c.cut, text, c.reqText)
		}
		js := f.AppendJSON(nil, &r)
		var obj map[string]any
		if err := json.Unmarshal(js, &obj); err != nil {
			t.Fatalf("cut at %d: %v: %s", c.cut, err, js)
		}
		for _, k := range c.reqKeys {
			if _, ok := obj[k]; !ok {
				t.Errorf("cut at %d: JSON lacks %q: %s", c.cut, k, js)
			}
		}
		for _, k := range c.noKeys {
			if _, ok := obj[k]; ok {
				t.Errorf("cut at %d: JSON shows %q, which the cut took: %s", c.cut, k, js)
			}
		}
		// The reply: whole, or itself cut before its unique.
		m = b.Msgs[1]
		msg, flags := m.Data, capture.Flags(0)
		if c.cut < abi.OutHeaderSize {
			msg, flags = msg[:c.cut], capture.FlagTruncated
		}
		if err := s.DecodeMsg(m.Time, m.Dir, flags, msg, len(m.Data), b.O, &r); err != nil {
			t.Fatalf("cut at %d, reply: %v", c.cut, err)
		}
		want := c.replyText
		if c.cut < abi.OutHeaderSize {
			want = " #? ? ? ? truncated="
		}
		if text := string(f.AppendText(nil, &r)); !strings.Contains(text, want) {
			t.Errorf("cut at %d, reply: %q, want %q", c.cut, text, want)
		}
		js = f.AppendJSON(nil, &r)
		if err := json.Unmarshal(js, &obj); err != nil {
			t.Fatalf("cut at %d, reply: %v: %s", c.cut, err, js)
		}
		if _, ok := obj["gid"]; ok {
			t.Errorf("cut at %d, reply: JSON shows the gid its request's cut took: %s", c.cut, js)
		}
	}
	// A notification, known by the capture's direction, has its code
	// after the first 8 bytes.
	b := decodetest.New()
	b.Notify(abi.FUSE_NOTIFY_INVAL_INODE, &abi.NotifyInvalInodeOut{Ino: 5})
	s := decode.NewSession(decode.Options{})
	var r decode.Record
	for cut, want := range map[int]string{6: " notify ? truncated=6/", 12: " notify INVAL_INODE truncated=12/"} {
		m := b.Msgs[0]
		if err := s.DecodeMsg(m.Time, m.Dir, capture.FlagTruncated, m.Data[:cut], len(m.Data), b.O, &r); err != nil {
			t.Fatal(err)
		}
		if text := string(f.AppendText(nil, &r)); !strings.Contains(text, want) {
			t.Errorf("notification cut at %d: %q, want %q", cut, text, want)
		}
	}
}

// TestCutNamePath: a name the snap length cut is marked as cut, in its
// record and in the paths the session learns from it.
func TestCutNamePath(t *testing.T) {
	b := decodetest.New()
	long := "a-name-longer-than-a-64-byte-snap-length-keeps"
	u := b.Request(abi.FUSE_LOOKUP, 1, decodetest.Name(long))
	b.Reply(u, 0, decodetest.Entry(9, 1, false))
	b.Request(abi.FUSE_GETATTR, 9, &abi.GetattrIn{})
	s := decode.NewSession(decode.Options{})
	var r decode.Record
	want := "/" + long[:64-40] + "…"
	for i, m := range b.Msgs {
		msg, flags := m.Data, capture.Flags(0)
		if len(msg) > 64 {
			msg, flags = msg[:64], capture.FlagTruncated
		}
		if err := s.DecodeMsg(m.Time, m.Dir, flags, msg, len(m.Data), b.O, &r); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if string(r.Path) != want {
			t.Errorf("record %d (%s): path %q, want %q", i, r.OpName(), r.Path, want)
		}
	}
	// A cut that takes the NUL alone leaves the name whole.
	b = decodetest.New()
	b.Request(abi.FUSE_LOOKUP, 1, decodetest.Name(long[:64-40]))
	m := b.Msgs[0]
	if err := s.DecodeMsg(m.Time, m.Dir, capture.FlagTruncated, m.Data[:64], len(m.Data), b.O, &r); err != nil {
		t.Fatal(err)
	}
	if string(r.Name) != long[:64-40] {
		t.Errorf("name %q, want %q", r.Name, long[:64-40])
	}
}

// TestReplyToForget: a server that answers BATCH_FORGET (ntfs-3g answers
// it ENOSYS) gets its reply paired with the request and reported as the
// protocol error it is, not counted as a reply to nothing.
func TestReplyToForget(t *testing.T) {
	b := decodetest.New()
	u := b.Request(abi.FUSE_BATCH_FORGET, 0, &abi.BatchForgetIn{Count: 1}, &abi.ForgetOne{NodeID: 5, Nlookup: 1})
	b.Reply(u, abi.Errno(syscall.ENOSYS))
	b.Reply(u+100, abi.Errno(syscall.ENOSYS)) // a reply to nothing
	s := decode.NewSession(decode.Options{})
	var r decode.Record
	for i, m := range b.Msgs {
		err := s.DecodeMsg(m.Time, m.Dir, 0, m.Data, len(m.Data), b.O, &r)
		switch i {
		case 1:
			if !errors.Is(err, decode.ErrNoReply) || r.Op != abi.FUSE_BATCH_FORGET || !r.Paired {
				t.Errorf("reply to BATCH_FORGET: op %v paired %v, error %v; want ErrNoReply", r.Op, r.Paired, err)
			}
		case 2:
			if err != nil || r.Paired {
				t.Errorf("reply to nothing: paired %v, error %v", r.Paired, err)
			}
		}
	}
	if c := s.Counters(); c.Unpaired != 1 || c.Malformed != 1 {
		t.Errorf("unpaired %d, malformed %d; want 1 and 1", c.Unpaired, c.Malformed)
	}
}

// TestDecodeSteadyStateAllocs checks that decoding and printing the mixed
// workload allocates nothing per record once warmed up.
func TestDecodeSteadyStateAllocs(t *testing.T) {
	b := decodetest.New()
	decodetest.Mixed(b, 2000)
	msgs := b.Msgs
	d := decode.NewDecoder(decode.Options{})
	f := &decode.Formatter{Time: decode.TimeUTC}
	var r decode.Record
	var cr capture.Record
	buf := make([]byte, 0, 1<<16)
	run := func() {
		for _, m := range msgs[2:] {
			cr = capture.Record{Time: m.Time, Dir: m.Dir, Msg: m.Data, OrigLen: len(m.Data), Order: b.O}
			d.Decode(&cr, &r)
			buf = f.AppendText(buf[:0], &r)
			buf = f.AppendJSON(buf[:0], &r)
		}
	}
	run()
	// Nodes come and go (LOOKUP after FORGET makes a new name string),
	// so allow a little; per record it must be far below one.
	allocs := testing.AllocsPerRun(5, run)
	if per := allocs / float64(len(msgs)-2); per > 0.05 {
		t.Errorf("%.3f allocations per record (%v per run of %d)", per, allocs, len(msgs)-2)
	}
}

// TestAncientSizes decodes the smallest historical sizes: an 8-byte INIT
// reply (minor < 5), whose STATFS reply has no frsize (48 bytes, minor <
// 4), and a 16-byte INIT request.
func TestAncientSizes(t *testing.T) {
	b := decodetest.New()
	s := decode.NewSession(decode.Options{})
	in := abi.InitIn{Major: 7, Minor: 3}
	u := b.Request(abi.FUSE_INIT, 0, decodetest.Prefix{V: &in, N: 16})
	b.Reply(u, 0, decodetest.Prefix{V: &abi.InitOut{Major: 7, Minor: 3, MaxWrite: 999}, N: 8})
	u = b.Request(abi.FUSE_STATFS, 1)
	b.Reply(u, 0, decodetest.Prefix{V: &abi.StatfsOut{St: abi.Kstatfs{Blocks: 10, Bsize: 512, Namelen: 255}}, N: 48})
	recs := replay(t, s, b)
	for i, r := range recs {
		if r.Malformed != nil {
			t.Errorf("record %d (%v %v) malformed: %v", i, r.Dir, r.Op, r.Malformed)
		}
	}
	p := s.Proto()
	if p.Minor != 3 || p.MaxWrite != 4096 || p.Flags != 0 {
		t.Errorf("proto %+v: want minor 3, max_write 4096 (the kernel's floor before 7.5), no flags", p)
	}
	if st := recs[3].Out.Statfs.St; st.Blocks != 10 || st.Namelen != 255 || st.Frsize != 0 {
		t.Errorf("statfs %+v", st)
	}
	// The same STATFS reply at 7.4 is too short.
	var r decode.Record
	if err := decode.DecodeReplyInto(&r, recs[3].Msg, decode.Call{Op: abi.FUSE_STATFS}, b.O, &decode.Proto{Minor: 4}); err == nil {
		t.Errorf("a 48-byte STATFS reply decoded at 7.4 without error")
	}
}

// TestSetxattrWithoutInit decodes SETXATTR of both sizes in a capture that
// has no INIT: the size is taken from the message.
func TestSetxattrWithoutInit(t *testing.T) {
	for _, n := range []int{8, 16} {
		b := decodetest.New()
		b.Request(abi.FUSE_SETXATTR, 2, decodetest.Prefix{V: &abi.SetxattrIn{Size: 3, Flags: 2}, N: n}, decodetest.Name("user.x"), decodetest.Raw("abc"))
		recs := replay(t, decode.NewSession(decode.Options{}), b)
		r := recs[0]
		if r.Malformed != nil || string(r.Name) != "user.x" || string(r.Data) != "abc" || r.In.Setxattr.Flags != 2 {
			t.Errorf("%d-byte setxattr_in: name %q data %q flags %d malformed %v", n, r.Name, r.Data, r.In.Setxattr.Flags, r.Malformed)
		}
	}
}

// TestDecoderInterfaces keeps one session per capture interface: the same
// unique on two connections pairs within each, and the text form names the
// interface from the second on.
func TestDecoderInterfaces(t *testing.T) {
	b := decodetest.New()
	u := b.Request(abi.FUSE_GETATTR, 1, &abi.GetattrIn{})
	b.Reply(u, 0, &abi.AttrOut{})
	d := decode.NewDecoder(decode.Options{})
	f := &decode.Formatter{Time: decode.TimeUTC}
	var r decode.Record
	var out []byte
	for i, iface := range []int{0, 1, 1, 0} {
		m := b.Msgs[[]int{0, 0, 1, 1}[i]]
		cr := capture.Record{Time: m.Time, Iface: iface, Dir: m.Dir, Msg: m.Data, OrigLen: len(m.Data), Order: b.O}
		d.Decode(&cr, &r)
		if m.Dir == capture.DirReply && !r.Paired {
			t.Errorf("reply on interface %d not paired", iface)
		}
		out = f.AppendText(out, &r)
	}
	want := "12:00:01.000000 #2 GETATTR n1 pid=4242\n" +
		"12:00:01.000000 [1] #2 GETATTR n1 pid=4242\n" +
		"12:00:01.000010 [1] #2 OK 10µs GETATTR attr_valid=0ns attr{mode=00 size=0 ino=0 nlink=0 uid=0 gid=0 blocks=0 blksize=0 rdev=0x0 atime=0 mtime=0 ctime=0}\n" +
		"12:00:01.000010 #2 OK 10µs GETATTR attr_valid=0ns attr{mode=00 size=0 ino=0 nlink=0 uid=0 gid=0 blocks=0 blksize=0 rdev=0x0 atime=0 mtime=0 ctime=0}\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if n := len(d.Sessions()); n != 2 {
		t.Errorf("%d sessions, want 2", n)
	}
}

// A record after lost ones carries their count from the capture record,
// and text and JSON show it where the gap is.
func TestLostRecord(t *testing.T) {
	b := decodetest.New()
	s := decode.NewSession(decode.Options{})
	b.Init(45, 0)
	b.Reply(b.NextUnique(), 0, &abi.AttrOut{}) // its request was lost
	var r decode.Record
	for i, m := range b.Msgs {
		cr := capture.Record{Time: m.Time.UTC(), Dir: m.Dir, Msg: m.Data, Order: b.O, Iface: 1}
		if i == 2 {
			cr.Lost = 3
		}
		s.Decode(&cr, &r)
	}
	if r.Lost != 3 {
		t.Fatalf("Lost = %d, want 3", r.Lost)
	}
	f := &decode.Formatter{Time: decode.TimeUTC}
	text := string(f.AppendText(nil, &r))
	lines := strings.Split(text, "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], " [1] lost 3 records here (the recorder fell behind)") || !strings.Contains(lines[1], " [1] #") {
		t.Errorf("text:\n%s", text)
	}
	if js := string(f.AppendJSON(nil, &r)); !strings.Contains(js, `"iface":1,"lost_before":3,"unique"`) {
		t.Errorf("json: %s", js)
	}
	// DecodeMsg (a live feed, no capture record) knows of no loss.
	m := b.Msgs[2]
	s.DecodeMsg(m.Time, m.Dir, 0, m.Data, 0, b.O, &r)
	if r.Lost != 0 {
		t.Errorf("DecodeMsg left Lost = %d", r.Lost)
	}
}

// decodeCut decodes b's messages in one session, each cut to at most cut
// bytes (0: whole) and marked truncated if it was, and returns clones.
func decodeCut(t *testing.T, s *decode.Session, b *decodetest.Builder, cut int) []*decode.Record {
	t.Helper()
	var out []*decode.Record
	var r decode.Record
	for _, m := range b.Msgs {
		msg, flags := m.Data, m.Flags
		if cut > 0 && len(msg) > cut {
			msg, flags = msg[:cut], flags|capture.FlagTruncated
		}
		s.DecodeMsg(m.Time, m.Dir, flags, msg, len(m.Data), b.O, &r)
		out = append(out, r.Clone())
	}
	b.Msgs = nil
	return out
}

// TestCutInsideListsAndExtensions: a snap length that ends inside a list
// entry (BATCH_FORGET) or inside the request extensions of a creating
// request leaves a record that is cut, not malformed.
func TestCutInsideListsAndExtensions(t *testing.T) {
	b := decodetest.New()
	s := decode.NewSession(decode.Options{})
	b.Init(45, 0)
	decodeCut(t, s, b, 0)

	b.Request(abi.FUSE_BATCH_FORGET, 0, &abi.BatchForgetIn{Count: 2},
		&abi.ForgetOne{NodeID: 5, Nlookup: 1}, &abi.ForgetOne{NodeID: 6, Nlookup: 1})
	forget := b.Msgs[0]
	for _, cut := range []int{50, 60, 70, 79} {
		b.Msgs = []decodetest.Msg{forget}
		r := decodeCut(t, s, b, cut)[0]
		if r.Malformed != nil || r.Count != (cut-48)/16 {
			t.Errorf("BATCH_FORGET cut at %d: %d entries, malformed %v; want %d, not malformed", cut, r.Count, r.Malformed, (cut-48)/16)
		}
	}
	// Whole, a short list is still malformed.
	b.Request(abi.FUSE_BATCH_FORGET, 0, &abi.BatchForgetIn{Count: 3}, &abi.ForgetOne{NodeID: 5, Nlookup: 1})
	if r := decodeCut(t, s, b, 0)[0]; r.Malformed == nil {
		t.Errorf("BATCH_FORGET of 3 entries with 1 decoded without error")
	}

	// A CREATE with a security context and a supplementary group, as a
	// SELinux host sends it, cut anywhere after its name.
	o := b.O
	val, name := []byte("system_u:object_r:fusefs_t:s0\x00"), "security.selinux\x00"
	sc := (&abi.Secctx{Size: uint32(len(val))}).Append(nil, o)
	sc = append(append(sc, name...), val...)
	for len(sc)%8 != 0 {
		sc = append(sc, 0)
	}
	ext := (&abi.SecctxHeader{Size: uint32(8 + len(sc)), NrSecctx: 1}).Append(nil, o)
	ext = append(ext, sc...)
	g := o.AppendUint32((&abi.SuppGroups{NrGroups: 1}).Append(nil, o), 100)
	ext = abi.AppendExt(ext, abi.FUSE_EXT_GROUPS, g, o)
	b.RequestExt(abi.FUSE_CREATE, 1, ext, &abi.CreateIn{Flags: 0o101, Mode: 0o100644}, decodetest.Name("f"))
	create := b.Msgs[0]
	args := abi.InHeaderSize + 16 + 2
	if r := decodeCut(t, s, b, 0)[0]; r.Malformed != nil || r.GroupCount != 1 || string(r.SecctxName) != "security.selinux" {
		t.Fatalf("whole CREATE: malformed %v, %d groups, secctx %q", r.Malformed, r.GroupCount, r.SecctxName)
	}
	for cut := args; cut < len(create.Data); cut++ {
		b.Msgs = []decodetest.Msg{create}
		r := decodeCut(t, s, b, cut)[0]
		if r.Malformed != nil || string(r.Name) != "f" {
			t.Errorf("CREATE cut at %d of %d: name %q, malformed %v; want \"f\", not malformed", cut, len(create.Data), r.Name, r.Malformed)
		}
	}
}

// TestGetxattrSizeCut: when the snap length cut a GETXATTR's size, its
// reply is a value unless it is exactly the 8 bytes of a getxattr_out,
// and neither is malformed.
func TestGetxattrSizeCut(t *testing.T) {
	b := decodetest.New()
	s := decode.NewSession(decode.Options{})
	b.Init(45, 0)
	decodeCut(t, s, b, 0)
	for _, c := range []struct {
		reply   any
		value   string
		xattrSz uint32
	}{
		{decodetest.Raw("v1"), "v1", 0},
		{decodetest.Raw("a longer value"), "a longer value", 0},
		{&abi.GetxattrOut{Size: 77}, "", 77},
	} {
		u := b.Request(abi.FUSE_GETXATTR, 1, &abi.GetxattrIn{Size: 64}, decodetest.Name("user.k"))
		b.Reply(u, 0, c.reply)
		req := b.Msgs[0]
		recs := decodeCut(t, s, b, abi.InHeaderSize+2) // inside getxattr_in.size
		if !recs[0].Truncated {
			t.Fatalf("request of %d bytes not cut", len(req.Data))
		}
		r := recs[1]
		if r.Malformed != nil || string(r.Data) != c.value || r.Out.Getxattr.Size != c.xattrSz {
			t.Errorf("reply %v: value %q, size %d, malformed %v; want %q, %d", c.reply, r.Data, r.Out.Getxattr.Size, r.Malformed, c.value, c.xattrSz)
		}
	}
}

// TestOldServerOnNewKernel: a kernel since 7.9 sends GETATTR's, READ's and
// RELEASE's arguments whole whatever minor the server chose; a session
// that negotiated 7.7 decodes them as sent, and still reads an old
// kernel's shorter ones.
func TestOldServerOnNewKernel(t *testing.T) {
	b := decodetest.New()
	s := decode.NewSession(decode.Options{})
	in := abi.InitIn{Major: 7, Minor: 45, MaxReadahead: 131072}
	in.SetInitFlags(abi.DefaultInitFlags)
	u := b.Request(abi.FUSE_INIT, 0, &in)
	b.Reply(u, 0, decodetest.Prefix{V: &abi.InitOut{Major: 7, Minor: 7, MaxReadahead: 131072, MaxWrite: 4096}, N: 24})
	b.Request(abi.FUSE_GETATTR, 1, &abi.GetattrIn{GetattrFlags: abi.FUSE_GETATTR_FH, Fh: 3})
	b.Request(abi.FUSE_READ, 2, &abi.ReadIn{Fh: 3, Size: 4096, Flags: 0o100002})
	b.Request(abi.FUSE_RELEASE, 2, &abi.ReleaseIn{Fh: 3, Flags: 0o100002, LockOwner: 9})
	// An old kernel's.
	b.Request(abi.FUSE_GETATTR, 1)
	b.Request(abi.FUSE_READ, 2, decodetest.Prefix{V: &abi.ReadIn{Fh: 3, Size: 4096}, N: 24})
	b.Request(abi.FUSE_RELEASE, 2, decodetest.Prefix{V: &abi.ReleaseIn{Fh: 3, Flags: 2}, N: 16})
	recs := decodeCut(t, s, b, 0)
	for i, r := range recs {
		if r.Malformed != nil {
			t.Errorf("record %d (%v %v) malformed: %v", i, r.Dir, r.Op, r.Malformed)
		}
	}
	if g := recs[2].In.Getattr; g.Fh != 3 {
		t.Errorf("GETATTR fh %d, want 3", g.Fh)
	}
	if rd := recs[3].In.Read; rd.Flags != 0o100002 || rd.Size != 4096 {
		t.Errorf("READ flags %#o size %d, want 0100002 and 4096", rd.Flags, rd.Size)
	}
	if rl := recs[4].In.Release; rl.LockOwner != 9 {
		t.Errorf("RELEASE lock_owner %d, want 9", rl.LockOwner)
	}
	if rd := recs[6].In.Read; rd.Size != 4096 || rd.Flags != 0 {
		t.Errorf("old kernel's READ: size %d flags %#o", rd.Size, rd.Flags)
	}
}

// TestSequentialUniques: kernels before 4.20 numbered requests 1, 2, 3...;
// the reply to an even unique leaves the next odd one alone unless it is
// that request's INTERRUPT.
func TestSequentialUniques(t *testing.T) {
	b := decodetest.New()
	s := decode.NewSession(decode.Options{})
	b.Init(22, 0)
	decodeCut(t, s, b, 0)
	h := abi.InHeader{Opcode: abi.FUSE_GETATTR, NodeID: 1}
	h.Unique = 10
	b.RequestHdr(h, 0, &abi.GetattrIn{})
	h.Unique = 11
	b.RequestHdr(h, 0, &abi.GetattrIn{})
	b.Reply(10, 0, &abi.AttrOut{})
	b.Reply(11, 0, &abi.AttrOut{})
	recs := decodeCut(t, s, b, 0)
	for i, r := range recs[2:] {
		if !r.Paired || r.Op != abi.FUSE_GETATTR || r.Malformed != nil {
			t.Errorf("reply %d: paired %v, op %v, malformed %v; want a GETATTR reply", i, r.Paired, r.Op, r.Malformed)
		}
	}
	if s.Pending() != 0 {
		t.Errorf("%d requests left pending", s.Pending())
	}
}

// TestLookupDots: the kernel looks up "." and ".." in an exported file
// system; neither names a child of the directory.
func TestLookupDots(t *testing.T) {
	b := decodetest.New()
	s := decode.NewSession(decode.Options{})
	b.Init(45, 0)
	u := b.Request(abi.FUSE_LOOKUP, 1, decodetest.Name("dir"))
	b.Reply(u, 0, decodetest.Entry(2, 0, true))
	u = b.Request(abi.FUSE_LOOKUP, 2, decodetest.Name("sub"))
	b.Reply(u, 0, decodetest.Entry(3, 0, true))
	u = b.Request(abi.FUSE_LOOKUP, 3, decodetest.Name("f"))
	b.Reply(u, 0, decodetest.Entry(4, 0, false))
	u = b.Request(abi.FUSE_LOOKUP, 3, decodetest.Name(".."))
	b.Reply(u, 0, decodetest.Entry(2, 0, true))
	u = b.Request(abi.FUSE_LOOKUP, 3, decodetest.Name("."))
	b.Reply(u, 0, decodetest.Entry(3, 0, true))
	decodeCut(t, s, b, 0)
	for id, want := range map[uint64]string{2: "/dir", 3: "/dir/sub", 4: "/dir/sub/f"} {
		if p, ok := s.Path(id); p != want {
			t.Errorf("path of n%d = %q, %v; want %q", id, p, ok, want)
		}
	}
	// Each counted a lookup, as the kernel does: n2's LOOKUP and ".."
	// are two, so one FORGET leaves it.
	b.Request(abi.FUSE_FORGET, 2, &abi.ForgetIn{Nlookup: 1})
	decodeCut(t, s, b, 0)
	if p, ok := s.Path(3); !ok || p != "/dir/sub" {
		t.Errorf("after one FORGET of n2, path of n3 = %q, %v; want /dir/sub", p, ok)
	}
}

// TestHardLinks: a node keeps a path while any of its names is left.
func TestHardLinks(t *testing.T) {
	b := decodetest.New()
	s := decode.NewSession(decode.Options{})
	b.Init(45, 0)
	u := b.Request(abi.FUSE_LOOKUP, 1, decodetest.Name("a"))
	b.Reply(u, 0, decodetest.Entry(5, 0, false))
	u = b.Request(abi.FUSE_LINK, 1, &abi.LinkIn{OldNodeID: 5}, decodetest.Name("b"))
	b.Reply(u, 0, decodetest.Entry(5, 0, false))
	u = b.Request(abi.FUSE_LINK, 1, &abi.LinkIn{OldNodeID: 5}, decodetest.Name("c"))
	b.Reply(u, 0, decodetest.Entry(5, 0, false))
	decodeCut(t, s, b, 0)
	path := func(want string) {
		t.Helper()
		p, ok := s.Path(5)
		if want == "" && ok {
			t.Errorf("n5 has path %q, want none", p)
		} else if want != "" && p != want {
			t.Errorf("path of n5 = %q, %v; want %q", p, ok, want)
		}
	}
	path("/c")
	step := func(op abi.Opcode, args ...any) {
		u := b.Request(op, 1, args...)
		b.Reply(u, 0)
		decodeCut(t, s, b, 0)
	}
	step(abi.FUSE_UNLINK, decodetest.Name("c"))
	path("/b")
	step(abi.FUSE_RENAME, &abi.RenameIn{NewDir: 1}, decodetest.Name("a"), decodetest.Name("a2"))
	path("/b")
	step(abi.FUSE_UNLINK, decodetest.Name("b"))
	path("/a2") // the renamed other name
	// Another file replaces the name a2: n5 has none left.
	u = b.Request(abi.FUSE_CREATE, 1, &abi.CreateIn{Mode: 0o100644}, decodetest.Name("a2"))
	b.Reply(u, 0, decodetest.Entry(6, 0, false), &abi.OpenOut{Fh: 1})
	decodeCut(t, s, b, 0)
	path("")
	if p, _ := s.Path(6); p != "/a2" {
		t.Errorf("path of n6 = %q, want /a2", p)
	}
}

// TestCutNodeIDNotTracked: an entry reply whose node ID the snap length
// cut adds no node.
func TestCutNodeIDNotTracked(t *testing.T) {
	b := decodetest.New()
	s := decode.NewSession(decode.Options{})
	b.Init(45, 0)
	decodeCut(t, s, b, 0)
	n := s.Nodes()
	u := b.Request(abi.FUSE_LOOKUP, 1, decodetest.Name("f"))
	decodeCut(t, s, b, 0)
	b.Reply(u, 0, decodetest.Entry(0x1234567890, 0, false))
	if r := decodeCut(t, s, b, abi.OutHeaderSize+4)[0]; !r.Paired || !r.Truncated {
		t.Fatalf("cut reply: paired %v, truncated %v", r.Paired, r.Truncated)
	}
	if s.Nodes() != n {
		t.Errorf("%d nodes after a LOOKUP reply cut inside its node ID, want %d", s.Nodes(), n)
	}
}

// TestCutLengthChecked: a record cut at the snap length still has its
// wire length, which its header's length field must equal.
func TestCutLengthChecked(t *testing.T) {
	s := decode.NewSession(decode.Options{})
	b := decodetest.New()
	for _, c := range []struct {
		hdrLen, wire int
		bad          bool
	}{{120, 120, false}, {1 << 30, 32, true}} {
		m := make([]byte, 64)
		b.O.PutUint32(m, uint32(c.hdrLen))
		b.O.PutUint64(m[8:], 0xbad<<1)
		var r decode.Record
		err := s.DecodeMsg(time.Now(), capture.DirReply, capture.FlagTruncated, m[:16], c.wire, b.O, &r)
		if bad := errors.Is(err, decode.ErrLength); bad != c.bad {
			t.Errorf("header len %d, %d bytes on the wire, 16 kept: %v; want ErrLength: %v", c.hdrLen, c.wire, err, c.bad)
		}
	}
}
