package decode

import (
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
// node, so a collision only loses a path.
type nodeTable struct {
	m     map[uint64]node
	dents map[uint64]uint64
	max   int
}

func (t *nodeTable) init(max int) {
	t.max = max
	t.m = make(map[uint64]node)
	t.dents = make(map[uint64]uint64)
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
	if ok {
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
			if o, ok := t.m[old]; ok && o.parent == parent && o.name == nd.name {
				o.parent = 0
				t.m[old] = o
			}
		}
		t.dents[h] = child
	}
	t.m[child] = nd
}

// undent removes the dentry index entry of nd if it points at child.
func (t *nodeTable) undent(child uint64, nd node) {
	if nd.parent == 0 {
		return
	}
	h := dentHash(nd.parent, []byte(nd.name))
	if t.dents[h] == child {
		delete(t.dents, h)
	}
}

// remove forgets a node.
func (t *nodeTable) remove(id uint64) {
	if nd, ok := t.m[id]; ok {
		t.undent(id, nd)
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

// lookupDent returns the node named name in parent, if known.
func (t *nodeTable) lookupDent(parent uint64, name []byte) (uint64, node, bool) {
	id, ok := t.dents[dentHash(parent, name)]
	if !ok {
		return 0, node{}, false
	}
	nd, ok := t.m[id]
	if !ok || nd.parent != parent || nd.name != string(name) {
		return 0, node{}, false
	}
	return id, nd, true
}

// unlink removes the name of a node: it keeps its ID (open files, lookup
// count) but has no path any more.
func (t *nodeTable) unlink(parent uint64, name []byte) {
	id, nd, ok := t.lookupDent(parent, name)
	if !ok {
		return
	}
	t.undent(id, nd)
	nd.parent = 0
	t.m[id] = nd
}

// RENAME_EXCHANGE from renameat2(2).
const renameExchange = 2

// rename moves a name; the subtree below follows, since children refer to
// their parent by node ID.
func (t *nodeTable) rename(olddir uint64, oldname []byte, newdir uint64, newname []byte, flags uint32) {
	id, nd, ok := t.lookupDent(olddir, oldname)
	if flags&renameExchange != 0 {
		id2, nd2, ok2 := t.lookupDent(newdir, newname)
		if ok {
			t.undent(id, nd)
		}
		if ok2 {
			t.undent(id2, nd2)
		}
		if ok {
			t.setName(id, nd, newdir, newname)
		}
		if ok2 {
			t.setName(id2, nd2, olddir, oldname)
		}
		return
	}
	// The target name, if it existed, is replaced.
	t.unlink(newdir, newname)
	if !ok {
		return
	}
	t.undent(id, nd)
	t.setName(id, nd, newdir, newname)
}

func (t *nodeTable) setName(id uint64, nd node, parent uint64, name []byte) {
	nd.parent, nd.name = parent, string(name)
	t.dents[dentHash(parent, name)] = id
	t.m[id] = nd
}
