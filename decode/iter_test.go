package decode_test

import (
	"testing"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
	"github.com/fusectl/fusectl/decode/decodetest"
)

func TestIterators(t *testing.T) {
	b := decodetest.New()
	decodetest.AllOps(b, 45)
	s := decode.NewSession(decode.Options{})
	var got struct {
		forgets, mappings, iovecs, dirents, plus, prune, groups int
		names                                                   []string
	}
	var r decode.Record
	for _, m := range b.Msgs {
		s.DecodeMsg(m.Time, m.Dir, m.Flags, m.Data, len(m.Data), b.O, &r)
		for f := range r.Forgets() {
			got.forgets++
			if f.NodeID != 5 && f.NodeID != 4 {
				t.Errorf("forget of n%d", f.NodeID)
			}
		}
		for range r.Mappings() {
			got.mappings++
		}
		for range r.Iovecs() {
			got.iovecs++
		}
		for _, name := range r.Dirents() {
			got.dirents++
			got.names = append(got.names, string(name))
		}
		for d, name := range r.Direntplus() {
			got.plus++
			got.names = append(got.names, string(name))
			if d.EntryOut.NodeID == 0 {
				t.Errorf("direntplus %q without node", name)
			}
		}
		for range r.PruneIDs() {
			got.prune++
		}
		for g := range r.GroupIDs() {
			got.groups++
			if g != 100 {
				t.Errorf("group %d", g)
			}
		}
	}
	if got.forgets != 2 || got.mappings != 2 || got.iovecs != 2 || got.dirents != 4 || got.plus != 2 || got.prune != 2 || got.groups != 5 {
		t.Errorf("counts %+v", got)
	}
	want := []string{".", "..", "a.txt", "link", "a.txt", "b.txt"}
	if len(got.names) != len(want) {
		t.Fatalf("names %q, want %q", got.names, want)
	}
	for i := range want {
		if got.names[i] != want[i] {
			t.Errorf("names %q, want %q", got.names, want)
			break
		}
	}
	// Early stop.
	r2 := decode.Record{}
	for _, m := range b.Msgs {
		if m.Dir == capture.DirRequest && abi.Opcode(b.O.Uint32(m.Data[4:])) == abi.FUSE_BATCH_FORGET {
			decode.DecodeRequestInto(&r2, m.Data, b.O, nil)
		}
	}
	n := 0
	for range r2.Forgets() {
		n++
		break
	}
	if n != 1 {
		t.Errorf("early stop yielded %d", n)
	}
}
