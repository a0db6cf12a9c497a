package decode

import (
	"slices"

	"github.com/fusectl/fusectl/abi"
)

// slot is a request awaiting its reply. Slots live in a ring; their name
// buffers are reused, so tracking a request allocates nothing once the
// ring has warmed up.
type slot struct {
	unique      uint64
	live        bool
	noReply     bool // INTERRUPT: a reply is optional, dropping it is not an eviction
	interrupted bool
	op          abi.Opcode
	nodeid      uint64
	uid, gid    uint32
	pid         uint32
	start       int64 // UnixNano
	aux         uint64
	aux2        uint32
	// aux3 and auxOp are an INTERRUPT's interrupted node and opcode; its
	// name2 holds that request's path.
	aux3        uint64
	auxOp       abi.Opcode
	name, name2 []byte
	// caller is the request's record's caller; a request that ends
	// inside its header (less than abi.InHeaderSize) has no arguments,
	// so its reply cannot update the session.
	caller int
}

// pendingTable maps uniques to slots. Freed slots are reused first, so
// the table grows only to the most requests in flight at once; at max
// slots, all in flight, a clock hand picks the slot to evict, about the
// oldest while the table fills, arbitrary later. Memory is bounded
// whatever the input.
type pendingTable struct {
	idx   map[uint64]int32
	slots []slot
	free  []int32
	hand  int
	max   int
}

func (p *pendingTable) init(max int) {
	p.max = max
	p.idx = make(map[uint64]int32)
}

// get returns the live slot of unique u, or nil.
func (p *pendingTable) get(u uint64) *slot {
	i, ok := p.idx[u]
	if !ok {
		return nil
	}
	return &p.slots[i]
}

// add takes a slot for unique u, evicting one if all are taken.
func (p *pendingTable) add(u uint64, c *Counters) *slot {
	if old := p.get(u); old != nil {
		// The same unique twice without a reply: the first is lost.
		if !old.noReply {
			c.Evicted++
		}
		p.release(old)
	}
	var i int
	switch {
	case len(p.free) > 0:
		i = int(p.free[len(p.free)-1])
		p.free = p.free[:len(p.free)-1]
	case len(p.slots) < p.max:
		p.slots = append(p.slots, slot{})
		i = len(p.slots) - 1
	default:
		// Every slot is in flight: evict the one under the hand.
		i = p.hand
		p.hand = (p.hand + 1) % len(p.slots)
		sl := &p.slots[i]
		if !sl.noReply {
			c.Evicted++
		}
		p.release(sl)
		p.free = p.free[:len(p.free)-1] // release pushed i
	}
	sl := &p.slots[i]
	sl.unique, sl.live, sl.interrupted = u, true, false
	p.idx[u] = int32(i)
	return sl
}

// release frees a slot.
func (p *pendingTable) release(sl *slot) {
	if !sl.live {
		return
	}
	i := p.idx[sl.unique]
	sl.live = false
	delete(p.idx, sl.unique)
	p.free = append(p.free, i)
}

// drop frees the slot of unique u if there is one.
func (p *pendingTable) drop(u uint64) {
	if sl := p.get(u); sl != nil {
		p.release(sl)
	}
}

// node is what the session knows of an inode: its name in its parent
// directory and how many lookups the kernel holds.
type node struct {
	parent  uint64 // 0: no known name
	name    string
	nlookup uint64
	synth   bool // learned from a synthesized record: the count is a guess
}

// nodeTable is the bounded nodeid-to-path map. dents indexes nodes by
// (parent, name) through a hash, for RENAME, UNLINK and DELETE, which name
// the child rather than give its node ID; a hit is checked against the
// node, so a collision only loses a path. A node has one name its path is
// made of, the last the kernel used; alt keeps the other names of a node
// seen under several (hard links), so that unlinking one leaves it the
// next.
type nodeTable struct {
	m     map[uint64]node
	dents map[uint64]uint64
	alt   map[uint64][]dent
	max   int
}

// dent is a name in a directory.
type dent struct {
	parent uint64
	name   string
}

// maxAlt bounds the other names kept per node: a name renamed behind the
// session's back (records lost) stays among them until it falls off.
const maxAlt = 4

func (t *nodeTable) init(max int) {
	t.max = max
	t.m = make(map[uint64]node)
	t.dents = make(map[uint64]uint64)
	t.alt = make(map[uint64][]dent)
}

// dentHash hashes a directory entry with FNV-1a.
func dentHash(parent uint64, name []byte) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < 8; i++ {
		h ^= parent >> (8 * i) & 0xff
		h *= 1099511628211
	}
	for _, c := range name {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// add records a lookup of child as name in parent.
func (t *nodeTable) add(child, parent uint64, name []byte, synth bool, c *Counters) {
	if child == 0 || child == abi.FUSE_ROOT_ID {
		return
	}
	nd, ok := t.m[child]
	if ok && nd.parent == parent && nd.name == string(name) {
		nd.nlookup++
		nd.synth = nd.synth || synth
		t.m[child] = nd
		return
	}
	if !ok && len(t.m) >= t.max {
		for id := range t.m {
			t.remove(id)
			c.NodesEvicted++
			break
		}
	}
	if ok && nd.parent != 0 && parent != 0 {
		// Another name of the same node: a hard link. The new one makes
		// the path; the old one is kept.
		t.keepAlt(child, dent{nd.parent, nd.name}, parent, name)
	} else if ok {
		t.undent(child, nd)
	}
	nd.parent = parent
	nd.name = string(name)
	nd.nlookup++
	nd.synth = nd.synth || synth
	if parent != 0 {
		h := dentHash(parent, name)
		if old, ok := t.dents[h]; ok && old != child {
			// Another node had this name: it was replaced (or the hash
			// collided); it keeps its node ID but loses the name.
			if id, o, alt, ok := t.lookupDent(parent, name); ok && id == old {
				t.dropName(id, o, alt)
			}
		}
		t.dents[h] = child
	}
	t.m[child] = nd
}

// ref counts a lookup of a known node that does not name it (LOOKUP of
// "." or "..").
func (t *nodeTable) ref(id uint64) {
	if nd, ok := t.m[id]; ok {
		nd.nlookup++
		t.m[id] = nd
	}
}

// keepAlt adds old to the other names of id, unless it is the new name
// (parent, name), which it drops from them.
func (t *nodeTable) keepAlt(id uint64, old dent, parent uint64, name []byte) {
	alts := t.alt[id]
	if i := slices.Index(alts, dent{parent, string(name)}); i >= 0 {
		alts = slices.Delete(alts, i, i+1)
	}
	if len(alts) == maxAlt {
		t.undentName(id, alts[0].parent, alts[0].name)
		alts = slices.Delete(alts, 0, 1)
	}
	t.alt[id] = append(alts, old)
}

// undent removes the dentry index entry of nd if it points at child.
func (t *nodeTable) undent(child uint64, nd node) {
	if nd.parent == 0 {
		return
	}
	t.undentName(child, nd.parent, nd.name)
}

// undentName removes the dentry index entry of name in parent if it points
// at id.
func (t *nodeTable) undentName(id, parent uint64, name string) {
	h := dentHash(parent, []byte(name))
	if t.dents[h] == id {
		delete(t.dents, h)
	}
}

// remove forgets a node.
func (t *nodeTable) remove(id uint64) {
	if nd, ok := t.m[id]; ok {
		t.undent(id, nd)
		for _, a := range t.alt[id] {
			t.undentName(id, a.parent, a.name)
		}
		delete(t.alt, id)
		delete(t.m, id)
	}
}

// forget drops n lookups of a node, and the node with the last one. A
// count learned from synthesized records is a guess, so such a node goes
// with its first FORGET (the kernel forgets an inode's whole count at
// once).
func (t *nodeTable) forget(id, n uint64) {
	nd, ok := t.m[id]
	if !ok {
		return
	}
	if nd.synth || n >= nd.nlookup {
		t.remove(id)
		return
	}
	nd.nlookup -= n
	t.m[id] = nd
}

// lookupDent returns the node named name in parent, if known, and which
// of its names that is: -1 for the one its path is made of, else the
// index in its other names.
func (t *nodeTable) lookupDent(parent uint64, name []byte) (uint64, node, int, bool) {
	id, ok := t.dents[dentHash(parent, name)]
	if !ok {
		return 0, node{}, 0, false
	}
	nd, ok := t.m[id]
	if !ok {
		return 0, node{}, 0, false
	}
	if nd.parent == parent && nd.name == string(name) {
		return id, nd, -1, true
	}
	if i := slices.Index(t.alt[id], dent{parent, string(name)}); i >= 0 {
		return id, nd, i, true
	}
	return 0, node{}, 0, false
}

// unlink removes a name of a node. A node left with none keeps its ID
// (open files, lookup count) but has no path any more.
func (t *nodeTable) unlink(parent uint64, name []byte) {
	if id, nd, alt, ok := t.lookupDent(parent, name); ok {
		t.dropName(id, nd, alt)
	}
}

// dropName removes name alt of node id (-1: its path's name); the node's
// path then takes the last of its other names, if it has any.
func (t *nodeTable) dropName(id uint64, nd node, alt int) {
	alts := t.alt[id]
	if alt >= 0 {
		t.undentName(id, alts[alt].parent, alts[alt].name)
		t.setAlts(id, slices.Delete(alts, alt, alt+1))
		return
	}
	t.undent(id, nd)
	nd.parent, nd.name = 0, ""
	if n := len(alts); n > 0 {
		nd.parent, nd.name = alts[n-1].parent, alts[n-1].name
		t.setAlts(id, alts[:n-1])
	}
	t.m[id] = nd
}

// setAlts stores the other names of id.
func (t *nodeTable) setAlts(id uint64, alts []dent) {
	if len(alts) == 0 {
		delete(t.alt, id)
		return
	}
	t.alt[id] = alts
}

// RENAME_EXCHANGE from renameat2(2).
const renameExchange = 2

// rename moves a name; the subtree below follows, since children refer to
// their parent by node ID.
func (t *nodeTable) rename(olddir uint64, oldname []byte, newdir uint64, newname []byte, flags uint32) {
	id, nd, alt, ok := t.lookupDent(olddir, oldname)
	if flags&renameExchange != 0 {
		id2, nd2, alt2, ok2 := t.lookupDent(newdir, newname)
		if ok {
			t.undentName(id, olddir, string(oldname))
		}
		if ok2 {
			t.undentName(id2, newdir, string(newname))
		}
		if ok {
			t.setName(id, nd, alt, newdir, newname)
		}
		if ok2 {
			if id2 == id {
				nd2 = t.m[id] // both names were the same node's
			}
			t.setName(id2, nd2, alt2, olddir, oldname)
		}
		return
	}
	// The target name, if it existed, is replaced.
	t.unlink(newdir, newname)
	if !ok {
		return
	}
	if alt >= 0 {
		// unlink may have moved the alternates along.
		if alt = slices.Index(t.alt[id], dent{olddir, string(oldname)}); alt < 0 {
			return
		}
	}
	nd = t.m[id]
	t.undentName(id, olddir, string(oldname))
	t.setName(id, nd, alt, newdir, newname)
}

// setName makes (parent, name) name alt of node id (-1: its path's name).
func (t *nodeTable) setName(id uint64, nd node, alt int, parent uint64, name []byte) {
	t.dents[dentHash(parent, name)] = id
	if alt >= 0 {
		t.alt[id][alt] = dent{parent, string(name)}
		return
	}
	nd.parent, nd.name = parent, string(name)
	t.m[id] = nd
}
