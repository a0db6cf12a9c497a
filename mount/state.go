package mount

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fusectl/fusectl/abi"
)

// The interposer reads FUSE messages only as far as this file needs: the
// headers, INIT, and the requests and replies that create, rename or forget
// nodes. Offsets are those of include/uapi/linux/fuse.h; FUSE is host-endian.

// Opcodes the interposer looks at (enum fuse_opcode).
const (
	opLookup      = 1
	opForget      = 2
	opSymlink     = 6
	opMknod       = 8
	opMkdir       = 9
	opUnlink      = 10
	opRmdir       = 11
	opRename      = 12
	opLink        = 13
	opInit        = 26
	opCreate      = 35
	opInterrupt   = 36
	opBatchForget = 42
	opNotifyReply = 41
	opReaddirplus = 44
	opRename2     = 45
)

const (
	inHeaderSize  = 40
	outHeaderSize = 16
	entryOutSize  = 128  // fuse_entry_out since 7.9
	compatEntry   = 120  // fuse_entry_out before 7.9
	direntplusFix = 152  // fuse_direntplus up to the name
	nameMax       = 1024 // FUSE_NAME_MAX of fs/fuse/fuse_i.h
)

var ne = binary.NativeEndian

// noReply reports whether the kernel expects no reply to the opcode.
func noReply(op uint32) bool {
	return op == opForget || op == opBatchForget || op == opNotifyReply || op == opInterrupt
}

// node is what the interposer remembers of a node the kernel knows: enough
// to synthesize the LOOKUP that made it known.
type node struct {
	parent  uint64
	name    string
	nlookup uint64
	entry   []byte // fuse_entry_out as last returned, negotiated size
}

type childKey struct {
	parent uint64
	name   string
}

// pendingOp is a request whose reply changes the node table.
type pendingOp struct {
	op      uint32
	nodeid  uint64 // the request's nodeid (parent directory, link target...)
	name    string
	newDir  uint64 // RENAME: destination directory
	newName string // RENAME: destination name
	flags   uint32 // RENAME2: renameat2(2) flags
}

// renameExchange is RENAME_EXCHANGE of renameat2(2).
const renameExchange = 2

// waiting is a request forwarded to the server and not answered yet.
type waiting struct {
	op     uint32
	nodeid uint64
	pid    uint32 // the requesting thread
	since  time.Time
}

// Pending describes the request that has waited longest for the server:
// on a hung mount, the one to look at.
type Pending struct {
	// Op is the opcode (enum fuse_opcode).
	Op     uint32 `json:"opcode"`
	NodeID uint64 `json:"nodeid"`
	// Path is the node's path from the interposer's node table (with the
	// request's name for LOOKUP, MKDIR and the like), "" if not known.
	Path string `json:"path,omitempty"`
	// Pid is the requesting thread's ID, as the kernel gives it.
	Pid uint32        `json:"pid"`
	Age time.Duration `json:"age"`
}

// session is the minimal per-connection state: the INIT pair, the kernel
// requests still waiting for a reply (to fail them at teardown, and to say
// which waits longest), and the node table for synthesized LOOKUPs.
//
// Lock order: session.mu only; it is never held while doing I/O.
type session struct {
	mu sync.Mutex
	// inflight holds every request forwarded to the server and not
	// answered yet, by unique.
	inflight map[uint64]waiting
	// pending holds the decoded node-changing requests, by unique.
	pending  map[uint64]pendingOp
	initReq  []byte
	initRep  []byte // as the server sent it
	minor    uint32 // negotiated minor (0 before INIT completes)
	nodes    map[uint64]*node
	children map[childKey]uint64
}

func newSession() *session {
	return &session{
		inflight: make(map[uint64]waiting),
		pending:  make(map[uint64]pendingOp),
		nodes:    make(map[uint64]*node),
		children: make(map[childKey]uint64),
	}
}

// cstrings splits b into up to n NUL-terminated strings.
func cstrings(b []byte, n int) ([]string, bool) {
	out := make([]string, 0, n)
	for range n {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return nil, false
		}
		out = append(out, string(b[:i]))
		b = b[i+1:]
	}
	return out, true
}

// request records a kernel request being forwarded, which arrived at now.
// msg is a whole request (at least an in-header, checked by the caller).
func (s *session) request(msg []byte, now time.Time) {
	op := ne.Uint32(msg[4:])
	unique := ne.Uint64(msg[8:])
	nodeid := ne.Uint64(msg[16:])
	body := msg[inHeaderSize:]
	s.mu.Lock()
	defer s.mu.Unlock()
	if unique&abi.FUSE_UNIQUE_RESEND != 0 {
		// NOTIFY_RESEND made the kernel queue the request again, under
		// this unique: the first no longer waits, nor will be answered.
		old := unique &^ abi.FUSE_UNIQUE_RESEND
		delete(s.inflight, old)
		delete(s.pending, old)
	}
	if !noReply(op) {
		s.inflight[unique] = waiting{op: op, nodeid: nodeid, pid: ne.Uint32(msg[32:]), since: now}
	}
	p := pendingOp{op: op, nodeid: nodeid}
	var names []string
	ok := true
	switch op {
	case opLookup:
		names, ok = cstrings(body, 1)
	case opSymlink:
		names, ok = cstrings(body, 1) // new entry name, then the target
	case opMknod:
		skip := 16 // fuse_mknod_in
		if s.minor != 0 && s.minor < 12 {
			skip = 8
		}
		ok = len(body) >= skip
		if ok {
			names, ok = cstrings(body[skip:], 1)
		}
	case opMkdir:
		ok = len(body) >= 8
		if ok {
			names, ok = cstrings(body[8:], 1)
		}
	case opCreate:
		skip := 16 // fuse_create_in
		if s.minor != 0 && s.minor < 12 {
			skip = 8
		}
		ok = len(body) >= skip
		if ok {
			names, ok = cstrings(body[skip:], 1)
		}
	case opLink:
		ok = len(body) >= 8
		if ok {
			p.nodeid = ne.Uint64(body) // the existing node
			p.newDir = nodeid
			names, ok = cstrings(body[8:], 1)
		}
	case opUnlink, opRmdir:
		names, ok = cstrings(body, 1)
	case opRename, opRename2:
		skip := 8
		if op == opRename2 {
			skip = 16
		}
		ok = len(body) >= skip
		if ok {
			p.newDir = ne.Uint64(body)
			if op == opRename2 {
				p.flags = ne.Uint32(body[8:])
			}
			names, ok = cstrings(body[skip:], 2)
			if ok {
				p.newName = names[1]
			}
		}
	case opReaddirplus:
	case opInit:
		s.initReq = bytes.Clone(msg)
		return
	case opForget:
		if len(body) >= 8 {
			s.forget(nodeid, ne.Uint64(body))
		}
		return
	case opBatchForget:
		if len(body) < 8 {
			return
		}
		count := int(ne.Uint32(body))
		rest := body[8:]
		for i := 0; i < count && len(rest) >= 16; i++ {
			s.forget(ne.Uint64(rest), ne.Uint64(rest[8:]))
			rest = rest[16:]
		}
		return
	default:
		return
	}
	if !ok {
		return
	}
	if len(names) > 0 {
		p.name = names[0]
	}
	s.pending[unique] = p
}

// forget drops n lookups of a node, and the node at zero.
func (s *session) forget(nodeid, n uint64) {
	nd := s.nodes[nodeid]
	if nd == nil {
		return
	}
	if nd.nlookup > n {
		nd.nlookup -= n
		return
	}
	delete(s.nodes, nodeid)
	k := childKey{nd.parent, nd.name}
	if s.children[k] == nodeid {
		delete(s.children, k)
	}
}

// reply records a server reply being forwarded and returns the opcode of
// the request it answers (0 if unknown).
func (s *session) reply(msg []byte) uint32 {
	unique := ne.Uint64(msg[8:])
	errno := int32(ne.Uint32(msg[4:]))
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.inflight[unique]
	if !ok {
		return 0
	}
	op := w.op
	delete(s.inflight, unique)
	if op == opInit {
		if errno == 0 {
			s.initRep = bytes.Clone(msg)
			if len(msg) >= outHeaderSize+8 {
				s.minor = ne.Uint32(msg[outHeaderSize+4:])
			}
		}
		return op
	}
	p, ok := s.pending[unique]
	if !ok {
		return op
	}
	delete(s.pending, unique)
	if errno != 0 {
		return op
	}
	body := msg[outHeaderSize:]
	switch p.op {
	case opLookup, opMknod, opMkdir, opSymlink, opCreate:
		s.learn(p.nodeid, p.name, body)
	case opLink:
		s.learn(p.newDir, p.name, body)
	case opUnlink, opRmdir:
		s.unname(childKey{p.nodeid, p.name})
	case opRename, opRename2:
		from, to := childKey{p.nodeid, p.name}, childKey{p.newDir, p.newName}
		id, ok := s.children[from]
		if p.flags&renameExchange != 0 {
			id2, ok2 := s.children[to]
			delete(s.children, from)
			delete(s.children, to)
			if ok {
				s.name(id, to)
			}
			if ok2 {
				s.name(id2, from)
			}
			break
		}
		s.unname(to) // replaced, if it existed
		if ok {
			delete(s.children, from)
			s.name(id, to)
		}
	case opReaddirplus:
		s.learnDirentplus(p.nodeid, body)
	}
	return op
}

// name gives node id the name k.
func (s *session) name(id uint64, k childKey) {
	s.children[k] = id
	if nd := s.nodes[id]; nd != nil {
		nd.parent, nd.name = k.parent, k.name
	}
}

// unname removes the name k: its node, if still known (an open file),
// has no name left, so no path, and is not synthesized.
func (s *session) unname(k childKey) {
	id, ok := s.children[k]
	if !ok {
		return
	}
	delete(s.children, k)
	if nd := s.nodes[id]; nd != nil && nd.parent == k.parent && nd.name == k.name {
		nd.parent, nd.name = 0, ""
	}
}

// learn records an entry reply (fuse_entry_out first in body) for name in
// parent.
func (s *session) learn(parent uint64, name string, body []byte) {
	if len(body) < 8 {
		return
	}
	id := ne.Uint64(body)
	if id == 0 {
		return // negative entry
	}
	n := min(len(body), entryOutSize)
	nd := s.nodes[id]
	if nd == nil {
		nd = &node{}
		s.nodes[id] = nd
	} else if k := (childKey{nd.parent, nd.name}); s.children[k] == id {
		delete(s.children, k)
	}
	nd.parent, nd.name = parent, name
	nd.nlookup++
	nd.entry = append(nd.entry[:0], body[:n]...)
	s.children[childKey{parent, name}] = id
}

// learnDirentplus walks a READDIRPLUS reply: fuse_direntplus records, each
// a fuse_entry_out, then ino, off, namelen, type and the name, padded to 8.
//
// It stops where the kernel's parse_dirplusfile stops instantiating nodes:
// at a record cut short (padding included), a name length of 0 or above
// FUSE_NAME_MAX, or a name with a slash.
func (s *session) learnDirentplus(dir uint64, b []byte) {
	for len(b) >= direntplusFix {
		namelen := int(ne.Uint32(b[entryOutSize+16:]))
		reclen := (direntplusFix + namelen + 7) &^ 7
		if namelen == 0 || namelen > nameMax || reclen > len(b) {
			return
		}
		name := b[direntplusFix : direntplusFix+namelen]
		if bytes.IndexByte(name, '/') >= 0 {
			return
		}
		if !(string(name) == "." || string(name) == "..") {
			s.learn(dir, string(name), b[:entryOutSize])
		}
		b = b[reclen:]
	}
}

// takeInflight removes and returns every request still waiting for the
// server, for the teardown to fail them.
func (s *session) takeInflight() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]uint64, 0, len(s.inflight))
	for u := range s.inflight {
		out = append(out, u)
		delete(s.inflight, u)
		delete(s.pending, u)
	}
	return out
}

// inflightCount returns the number of requests waiting for the server.
func (s *session) inflightCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inflight)
}

// oldest returns the request that has waited longest for the server, nil
// if none waits.
func (s *session) oldest(now time.Time) *Pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	var unique uint64
	var first waiting
	found := false
	for u, w := range s.inflight {
		if !found || w.since.Before(first.since) {
			unique, first, found = u, w, true
		}
	}
	if !found {
		return nil
	}
	path, ok := s.pathLocked(first.nodeid)
	if p, named := s.pending[unique]; ok && named && p.name != "" {
		path = strings.TrimSuffix(path, "/") + "/" + p.name
	}
	return &Pending{Op: first.op, NodeID: first.nodeid, Path: path, Pid: first.pid, Age: now.Sub(first.since)}
}

// pathLocked returns a node's path from the node table, and false if a
// node on the way is not known. s.mu must be held.
func (s *session) pathLocked(nodeid uint64) (string, bool) {
	var names []string
	// A table that loops (a server that lies) ends the walk.
	for range 4096 {
		if nodeid == abi.FUSE_ROOT_ID {
			slices.Reverse(names)
			return "/" + strings.Join(names, "/"), true
		}
		nd := s.nodes[nodeid]
		if nd == nil {
			return "", false
		}
		names = append(names, nd.name)
		nodeid = nd.parent
	}
	return "", false
}

// synthUniqueBase is where the uniques of synthesized requests start: far
// above anything a kernel connection reaches, and even, like the kernel's.
const synthUniqueBase = 1 << 62

// synthesize returns the INIT pair and one LOOKUP request/reply pair per
// known node, parents before children, as messages to be flagged
// synthesized. It returns nothing before INIT has completed.
func (s *session) synthesize() [][2][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.initReq == nil || s.initRep == nil {
		return nil
	}
	out := [][2][]byte{{bytes.Clone(s.initReq), bytes.Clone(s.initRep)}}
	esize := entryOutSize
	if s.minor != 0 && s.minor < 9 {
		esize = compatEntry
	}
	byParent := make(map[uint64][]uint64)
	for id, nd := range s.nodes {
		if nd.parent == 0 {
			continue // unlinked: no name to look up
		}
		byParent[nd.parent] = append(byParent[nd.parent], id)
	}
	unique := uint64(synthUniqueBase)
	emitted := make(map[uint64]bool, len(s.nodes))
	emit := func(id uint64) {
		nd := s.nodes[id]
		emitted[id] = true
		unique += 2
		req := make([]byte, inHeaderSize, inHeaderSize+len(nd.name)+1)
		req = append(append(req, nd.name...), 0)
		ne.PutUint32(req[0:], uint32(len(req)))
		ne.PutUint32(req[4:], opLookup)
		ne.PutUint64(req[8:], unique)
		ne.PutUint64(req[16:], nd.parent)
		rep := make([]byte, outHeaderSize+esize)
		ne.PutUint32(rep[0:], uint32(len(rep)))
		ne.PutUint64(rep[8:], unique)
		copy(rep[outHeaderSize:], nd.entry)
		ne.PutUint64(rep[outHeaderSize:], id)
		out = append(out, [2][]byte{req, rep})
	}
	// Breadth first from the root, so every parent is known before its
	// children; then whatever hangs off forgotten parents.
	queue := []uint64{1}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, id := range byParent[p] {
			if !emitted[id] && id != 1 {
				emit(id)
				queue = append(queue, id)
			}
		}
	}
	for id, nd := range s.nodes {
		if !emitted[id] && id != 1 && nd.parent != 0 {
			emit(id)
		}
	}
	return out
}
