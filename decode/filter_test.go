package decode_test

import (
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
)

func TestParseOps(t *testing.T) {
	s, err := decode.ParseOps("lookup, FUSE_READ,INVAL_INODE,NOTIFY_DELETE,COPY_FILE_RANGE_64,99,OPCODE_77")
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []abi.Opcode{abi.FUSE_LOOKUP, abi.FUSE_READ, abi.FUSE_COPY_FILE_RANGE_64, 99, 77} {
		if !s.HasOp(op) {
			t.Errorf("%v not in the set", op)
		}
	}
	if s.HasOp(abi.FUSE_WRITE) || !s.HasNotify(abi.FUSE_NOTIFY_INVAL_INODE) || !s.HasNotify(abi.FUSE_NOTIFY_DELETE) {
		t.Errorf("wrong set")
	}
	for _, bad := range []string{"", ",", "LOOKUPX", "NOTIFY_BOGUS"} {
		if _, err := decode.ParseOps(bad); err == nil {
			t.Errorf("ParseOps(%q) succeeded", bad)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	req := &decode.Record{Dir: capture.DirRequest, Op: abi.FUSE_LOOKUP, NodeID: 5, PID: 10, Path: []byte("/home/u/a.txt")}
	rep := &decode.Record{Dir: capture.DirReply, Op: abi.FUSE_LOOKUP, NodeID: 5, PID: 10, Errno: 2, Paired: true, Latency: 3 * time.Millisecond, Path: []byte("/home/u/a.txt")}
	note := &decode.Record{Dir: capture.DirNotify, Notify: abi.FUSE_NOTIFY_INVAL_INODE, NodeID: 5, Path: []byte("/home/u/a.txt")}
	ops, _ := decode.ParseOps("LOOKUP")
	tests := []struct {
		name             string
		f                decode.Filter
		req, rep, notify bool
	}{
		{"none", decode.Filter{}, true, true, true},
		{"op", decode.Filter{Ops: ops}, true, true, false},
		{"errors", decode.Filter{ErrorsOnly: true}, false, true, false},
		{"malformed", decode.Filter{MalformedOnly: true}, false, false, false},
		{"slow", decode.Filter{MinLatency: 2 * time.Millisecond}, false, true, false},
		{"too slow", decode.Filter{MinLatency: 4 * time.Millisecond}, false, false, false},
		{"node", decode.Filter{NodeID: 5, HasNodeID: true}, true, true, true},
		{"other node", decode.Filter{NodeID: 6, HasNodeID: true}, false, false, false},
		{"pid", decode.Filter{PID: 10, HasPID: true}, true, true, false},
		{"prefix", decode.Filter{Path: "/home/u"}, true, true, true},
		{"prefix slash", decode.Filter{Path: "/home/u/"}, true, true, true},
		{"not a prefix", decode.Filter{Path: "/home/us"}, false, false, false},
		{"root", decode.Filter{Path: "/"}, true, true, true},
		{"glob", decode.Filter{Path: "/home/*/*.txt"}, true, true, true},
		{"glob of a parent", decode.Filter{Path: "/home/*"}, true, true, true},
		{"glob miss", decode.Filter{Path: "/var/*"}, false, false, false},
	}
	bad := &decode.Record{Dir: capture.DirReply, Malformed: &decode.MalformedError{Reason: "x", Err: decode.ErrNoReply}}
	// A pair fusectl made up for a mid-session capture has no latency to
	// compare, whatever its timestamps say.
	synth := *rep
	synth.Flags = capture.FlagSynthesized
	if (&decode.Filter{MinLatency: time.Millisecond}).Match(&synth) {
		t.Error("the latency filter selects a synthesized reply")
	}
	if !(&decode.Filter{MalformedOnly: true}).Match(bad) {
		t.Error("the malformed filter drops a malformed record")
	}
	// An INTERRUPT has pid 0; its interrupted request's pid selects it.
	intr := &decode.Record{Dir: capture.DirRequest, Op: abi.FUSE_INTERRUPT, InterruptsOp: abi.FUSE_READ, InterruptsPID: 10}
	if !(&decode.Filter{PID: 10, HasPID: true}).Match(intr) || (&decode.Filter{PID: 11, HasPID: true}).Match(intr) {
		t.Error("pid filter on an INTERRUPT does not follow the interrupted request's pid")
	}
	// Likewise its interrupted request's opcode.
	for list, want := range map[string]bool{"READ": true, "WRITE": false, "INTERRUPT": true, "READ,WRITE": true} {
		ops, err := decode.ParseOps(list)
		if err != nil {
			t.Fatal(err)
		}
		if got := (&decode.Filter{Ops: ops}).Match(intr); got != want {
			t.Errorf("op filter %s on an INTERRUPT of a READ: %v, want %v", list, got, want)
		}
	}
	for _, tt := range tests {
		if got := tt.f.Match(req); got != tt.req {
			t.Errorf("%s: request %v, want %v", tt.name, got, tt.req)
		}
		if got := tt.f.Match(rep); got != tt.rep {
			t.Errorf("%s: reply %v, want %v", tt.name, got, tt.rep)
		}
		if got := tt.f.Match(note); got != tt.notify {
			t.Errorf("%s: notify %v, want %v", tt.name, got, tt.notify)
		}
	}
}

func TestCheckPath(t *testing.T) {
	for _, tt := range []struct {
		pattern string
		ok      bool
	}{
		{"/", true},
		{"/dir/b.txt", true},
		{"/home/*", true},
		{"*/b.txt", true}, // "*" may match nothing: selects /b.txt
		{"dir/b.txt", false},
		{"/dir[", false},
	} {
		if err := decode.CheckPath(tt.pattern); (err == nil) != tt.ok {
			t.Errorf("CheckPath(%q) = %v, want ok %v", tt.pattern, err, tt.ok)
		}
	}
	// What CheckPath lets through can select something.
	r := &decode.Record{Dir: capture.DirRequest, Op: abi.FUSE_LOOKUP, Path: []byte("/b.txt")}
	if !(&decode.Filter{Path: "*/b.txt"}).Match(r) {
		t.Error(`"*/b.txt" does not select /b.txt`)
	}
}
