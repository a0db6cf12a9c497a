package decode

import (
	"encoding/binary"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
)

// Default bounds of a Session's memory.
const (
	// DefaultMaxPending is how many requests may await their reply. A
	// request still unanswered after this many later requests is dropped
	// and counted in Counters.Evicted.
	DefaultMaxPending = 1 << 14
	// DefaultMaxNodes is how many node paths a session remembers; past it,
	// arbitrary nodes are forgotten and counted in Counters.NodesEvicted.
	DefaultMaxNodes = 1 << 16
	// DefaultMaxSessions is how many capture interfaces a Decoder tracks
	// separately; further interfaces share one session.
	DefaultMaxSessions = 256
	// maxDepth bounds path resolution, which also breaks rename cycles
	// that hostile input can create.
	maxDepth = 256
	// maxPathLen bounds a resolved path; longer ones are not shown.
	maxPathLen = 4096
)

// Options configure a Session or a Decoder. The zero value is usable.
type Options struct {
	// MaxPending bounds the requests awaiting a reply (DefaultMaxPending).
	MaxPending int
	// MaxNodes bounds the nodeid-to-path map (DefaultMaxNodes).
	MaxNodes int
	// MaxSessions bounds the sessions of a Decoder (DefaultMaxSessions).
	MaxSessions int
	// Proto is assumed until an INIT reply is seen; zero means
	// DefaultProto.
	Proto Proto
}

func (o Options) withDefaults() Options {
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.MaxNodes <= 0 {
		o.MaxNodes = DefaultMaxNodes
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.Proto.Major == 0 {
		o.Proto = DefaultProto()
	}
	return o
}

// Counters count what a Session saw and what it had to give up.
type Counters struct {
	Requests, Replies, Notifies uint64
	// Unpaired counts replies whose request was not seen (or evicted).
	Unpaired uint64
	// Evicted counts requests dropped unanswered to bound memory.
	Evicted uint64
	// NodesEvicted counts paths forgotten to bound memory.
	NodesEvicted uint64
	// Malformed and Truncated count such records.
	Malformed, Truncated uint64
	// Interrupts counts INTERRUPT requests, Resends requests re-queued by
	// NOTIFY_RESEND.
	Interrupts, Resends uint64
}

// Session follows one FUSE connection. It is not safe for concurrent use.
type Session struct {
	opts     Options
	proto    Proto
	offered  abi.InitFlags
	offerSet bool
	pend     pendingTable
	nodes    nodeTable
	counters Counters
	stack    []uint64
	// late holds the last INTERRUPTs whose request was answered before
	// them: the server may still reply to such an INTERRUPT (EAGAIN, "no
	// such request"), and that reply pairs with it here.
	late recent[lateInterrupt]
	// forgets holds the last FORGET and BATCH_FORGET requests. They take
	// no reply, but a server that does not know BATCH_FORGET (ntfs-3g's
	// fuse-lite) answers it ENOSYS; the reply pairs here, as the protocol
	// error it is, rather than as a reply to nothing.
	forgets recent[forgetSeen]
}

// recent keeps the last requests of a kind that the pending table does
// not, for a reply that may still come; the oldest makes way.
type recent[T any] struct {
	items [16]T
	next  int
}

// add returns the entry to fill: the oldest, whose buffers may be reused.
func (q *recent[T]) add() *T {
	e := &q.items[q.next]
	q.next = (q.next + 1) % len(q.items)
	return e
}

// take removes and returns the entry with unique u (never 0, which marks
// an empty entry), if any; empty(e) is what stays in its place.
func (q *recent[T]) take(u uint64, unique func(*T) uint64, empty func(T) T) (T, bool) {
	var none T
	if u == 0 {
		return none, false
	}
	for i := range q.items {
		if e := q.items[i]; unique(&e) == u {
			q.items[i] = empty(e)
			return e, true
		}
	}
	return none, false
}

// forgetSeen is a FORGET or BATCH_FORGET request.
type forgetSeen struct {
	unique uint64 // 0: empty
	op     abi.Opcode
	start  int64
	nodeid uint64
	caller int // the request's, at most up to the node ID
}

// lateInterrupt is an INTERRUPT request outliving the request it
// interrupts.
type lateInterrupt struct {
	unique uint64 // 0: empty
	start  int64
	of     uint64
	ofOp   abi.Opcode
	ofPID  uint32
	ofNode uint64
	ofPath []byte
}

// forgot remembers a FORGET or BATCH_FORGET request.
func (s *Session) forgot(r *Record) {
	*s.forgets.add() = forgetSeen{unique: r.Unique, op: r.Op, start: r.Time.UnixNano(), nodeid: r.NodeID, caller: min(r.caller, headNodeID)}
}

// takeForget removes and returns the FORGET or BATCH_FORGET with unique u,
// if any.
func (s *Session) takeForget(u uint64) (forgetSeen, bool) {
	return s.forgets.take(u, func(f *forgetSeen) uint64 { return f.unique }, func(forgetSeen) forgetSeen { return forgetSeen{} })
}

// takeLate removes and returns the late INTERRUPT with unique u, if any.
func (s *Session) takeLate(u uint64) (lateInterrupt, bool) {
	// The entry keeps its path buffer for reuse; the copy returned is
	// read before the next INTERRUPT overwrites it.
	return s.late.take(u, func(li *lateInterrupt) uint64 { return li.unique },
		func(li lateInterrupt) lateInterrupt { return lateInterrupt{ofPath: li.ofPath[:0]} })
}

// NewSession returns a Session with the given bounds.
func NewSession(opts Options) *Session {
	opts = opts.withDefaults()
	s := &Session{opts: opts, proto: opts.Proto}
	s.pend.init(opts.MaxPending)
	s.nodes.init(opts.MaxNodes)
	return s
}

// Proto returns what the session knows of the negotiated protocol.
func (s *Session) Proto() Proto { return s.proto }

// Counters returns the session's counters.
func (s *Session) Counters() Counters { return s.counters }

// Pending returns the number of requests awaiting a reply.
func (s *Session) Pending() int { return len(s.pend.idx) }

// Nodes returns the number of nodes whose path the session knows.
func (s *Session) Nodes() int { return len(s.nodes.m) }

// InFlight describes a request awaiting its reply.
type InFlight struct {
	Unique uint64
	Op     abi.Opcode
	NodeID uint64
	PID    uint32
	UID    uint32
	// Start is the request's capture time.
	Start time.Time
	// Name is the request's first name, if any; it aliases session memory
	// valid during the callback.
	Name []byte
	// Interrupted reports that an INTERRUPT was sent for it.
	Interrupted bool
}

// InFlight calls fn for every request awaiting its reply, in no particular
// order, until fn returns false. Path resolves the node IDs.
func (s *Session) InFlight(fn func(InFlight) bool) {
	for _, i := range s.pend.idx {
		sl := &s.pend.slots[i]
		if sl.noReply {
			continue
		}
		if !fn(InFlight{Unique: sl.unique, Op: sl.op, NodeID: sl.nodeid, PID: sl.pid, UID: sl.uid,
			Start: time.Unix(0, sl.start), Name: sl.name, Interrupted: sl.interrupted}) {
			return
		}
	}
}

// Path returns the path of a node, if the session knows it.
func (s *Session) Path(nodeid uint64) (string, bool) {
	b, ok := s.AppendPath(nil, nodeid)
	return string(b), ok
}

// AppendPath appends the path of a node to b, if the session knows it.
func (s *Session) AppendPath(b []byte, nodeid uint64) ([]byte, bool) {
	if nodeid == abi.FUSE_ROOT_ID {
		return append(b, '/'), true
	}
	s.stack = s.stack[:0]
	n := 0
	for id := nodeid; id != abi.FUSE_ROOT_ID; {
		nd, ok := s.nodes.m[id]
		if !ok || nd.parent == 0 || len(s.stack) >= maxDepth {
			return b, false
		}
		n += len(nd.name) + 1
		if n > maxPathLen {
			return b, false
		}
		s.stack = append(s.stack, id)
		id = nd.parent
	}
	for i := len(s.stack) - 1; i >= 0; i-- {
		b = append(b, '/')
		b = append(b, s.nodes.m[s.stack[i]].name...)
	}
	return b, true
}

// appendChildPath appends the path of name in directory parent.
func (s *Session) appendChildPath(b []byte, parent uint64, name []byte) ([]byte, bool) {
	start := len(b)
	b, ok := s.AppendPath(b, parent)
	if !ok {
		return b[:start], false
	}
	if len(b) > start+1 {
		b = append(b, '/')
	}
	return append(b, name...), true
}

// byteOrder turns a capture record's order into the abi's.
func byteOrder(o binary.ByteOrder) abi.ByteOrder {
	switch o {
	case nil:
		return abi.NativeEndian
	case binary.LittleEndian:
		return binary.LittleEndian
	case binary.BigEndian:
		return binary.BigEndian
	}
	if ao, ok := o.(abi.ByteOrder); ok {
		return ao
	}
	return abi.NativeEndian
}

// Decode decodes one capture record into r and updates the session. r is
// reused and aliases cr.Msg and session memory until the next call (see
// [Record]). The error is r.Malformed: the record is still usable and the
// session goes on.
func (s *Session) Decode(cr *capture.Record, r *Record) error {
	r.Iface, r.Offset = cr.Iface, cr.Offset
	err := s.DecodeMsg(cr.Time, cr.Dir, cr.Flags, cr.Msg, cr.OrigLen, byteOrder(cr.Order), r)
	r.Lost = cr.Lost
	return err
}

// DecodeMsg is Decode for a message given by its parts; origLen is the
// message's length on the wire (0: len(msg)).
func (s *Session) DecodeMsg(t time.Time, dir capture.Dir, flags capture.Flags, msg []byte, origLen int, o abi.ByteOrder, r *Record) error {
	r.Time, r.Flags, r.OrigLen, r.Lost = t, flags, origLen, 0
	r.Truncated = flags&capture.FlagTruncated != 0 || origLen > len(msg)
	if r.Truncated {
		s.counters.Truncated++
	}
	var err error
	switch dir {
	case capture.DirRequest:
		s.counters.Requests++
		err = DecodeRequestInto(r, msg, o, &s.proto)
		s.request(r)
	case capture.DirReply:
		s.counters.Replies++
		err = s.reply(r, msg, o)
	default:
		s.counters.Notifies++
		err = DecodeNotifyInto(r, msg, o)
		s.notify(r)
	}
	if err != nil {
		s.counters.Malformed++
	}
	return err
}

// nameOp reports whether an opcode's first name is a child of the request's
// node, so that the record's path is the child's.
func nameOp(op abi.Opcode) bool {
	switch op {
	case abi.FUSE_LOOKUP, abi.FUSE_MKNOD, abi.FUSE_MKDIR, abi.FUSE_SYMLINK, abi.FUSE_UNLINK,
		abi.FUSE_RMDIR, abi.FUSE_RENAME, abi.FUSE_RENAME2, abi.FUSE_LINK, abi.FUSE_CREATE:
		return true
	}
	return false
}

// appendTargetPath appends the path a request is about: that of name in
// directory nodeid when named, else nodeid's own (none for node 0).
func (s *Session) appendTargetPath(b []byte, nodeid uint64, name []byte, named bool) []byte {
	switch {
	case named:
		b, _ = s.appendChildPath(b, nodeid, name)
	case nodeid != 0:
		b, _ = s.AppendPath(b, nodeid)
	}
	return b
}

// request updates the session with a decoded request.
func (s *Session) request(r *Record) {
	r.pathBuf = s.appendTargetPath(r.pathBuf[:0], r.NodeID, r.Name, nameOp(r.Op) && r.Name != nil)
	if len(r.pathBuf) > 0 {
		r.Path = r.pathBuf
	}
	if r.Len == 0 || !r.headHas(headUnique) {
		return // not even a header, or no unique to pair a reply with
	}
	u := r.Unique
	if u&abi.FUSE_UNIQUE_RESEND != 0 {
		// A request re-queued by NOTIFY_RESEND replaces the one the server
		// read but did not answer.
		s.counters.Resends++
		s.pend.drop(u &^ abi.FUSE_UNIQUE_RESEND)
	}
	// A request that ends inside its header (cut, or malformed) has no
	// arguments: r.In holds an earlier record's.
	args := !r.headCut
	switch r.Op {
	case abi.FUSE_INIT:
		if !args {
			break
		}
		s.offered = abi.InitFlags(uint64(r.In.Init.Flags))
		if uint64(r.In.Init.Flags)&uint64(abi.FUSE_INIT_EXT) != 0 {
			s.offered |= abi.InitFlags(uint64(r.In.Init.Flags2) << 32)
		}
		s.offerSet = true
	case abi.FUSE_FORGET:
		if args {
			s.nodes.forget(r.NodeID, r.In.Forget.Nlookup)
		}
		s.forgot(r)
		return
	case abi.FUSE_BATCH_FORGET:
		o := r.order
		for e := r.Entries; len(e) >= 16; e = e[16:] {
			s.nodes.forget(o.Uint64(e), o.Uint64(e[8:]))
		}
		s.forgot(r)
		return
	case abi.FUSE_NOTIFY_REPLY:
		return
	case abi.FUSE_INTERRUPT:
		s.counters.Interrupts++
		if !args {
			break
		}
		if sl := s.pend.get(r.In.Interrupt.Unique); sl != nil {
			sl.interrupted = true
			r.InterruptsOp, r.InterruptsPID, r.InterruptsNodeID = sl.op, sl.pid, sl.nodeid
			// The interrupted request's path, so that a path filter
			// keeps its INTERRUPT too.
			r.pathBuf = s.appendTargetPath(r.pathBuf, sl.nodeid, sl.name, nameOp(sl.op) && len(sl.name) > 0)
			if len(r.pathBuf) > 0 {
				r.Path = r.pathBuf
			}
		}
	}
	sl := s.pend.add(u, &s.counters)
	sl.op, sl.nodeid, sl.uid, sl.gid, sl.pid = r.Op, r.NodeID, r.UID, r.GID, r.PID
	sl.start = r.Time.UnixNano()
	sl.noReply = r.Op == abi.FUSE_INTERRUPT
	sl.name = append(sl.name[:0], r.Name...)
	sl.name2 = append(sl.name2[:0], r.Name2...)
	sl.aux, sl.aux2, sl.aux3, sl.auxOp = 0, 0, 0, 0
	sl.caller = r.caller
	if !args {
		return
	}
	switch r.Op {
	case abi.FUSE_RENAME:
		sl.aux = r.In.Rename.NewDir
	case abi.FUSE_RENAME2:
		sl.aux, sl.aux2 = r.In.Rename2.NewDir, r.In.Rename2.Flags
	case abi.FUSE_LINK:
		sl.aux = r.In.Link.OldNodeID
	case abi.FUSE_GETXATTR, abi.FUSE_LISTXATTR:
		sl.aux2 = r.In.Getxattr.Size
		if r.Truncated && len(r.Msg) < abi.InHeaderSize+4 {
			sl.aux3 = 1 // the size was cut
		}
	case abi.FUSE_INTERRUPT:
		sl.aux, sl.aux2, sl.aux3, sl.auxOp = r.In.Interrupt.Unique, r.InterruptsPID, r.InterruptsNodeID, r.InterruptsOp
		sl.name2 = append(sl.name2[:0], r.Path...)
	}
}

// reply decodes a reply with what the session knows of its request and
// updates the session.
func (s *Session) reply(r *Record, msg []byte, o abi.ByteOrder) error {
	var sl *slot
	var late lateInterrupt
	var forget forgetSeen
	lateOK, forgetOK := false, false
	if len(msg) >= abi.OutHeaderSize {
		u := o.Uint64(msg[8:])
		if sl = s.pend.get(u); sl == nil && u&1 != 0 {
			late, lateOK = s.takeLate(u)
		}
		if sl == nil && !lateOK {
			forget, forgetOK = s.takeForget(u)
		}
	}
	c := Call{}
	switch {
	case sl != nil:
		c.Op, c.XattrSize = sl.op, sl.aux2
		c.XattrSizeCut = (sl.op == abi.FUSE_GETXATTR || sl.op == abi.FUSE_LISTXATTR) && sl.aux3 != 0
	case lateOK:
		c.Op = abi.FUSE_INTERRUPT
	case forgetOK:
		c.Op = forget.op
	}
	err := DecodeReplyInto(r, msg, c, o, &s.proto)
	if r.Dir == capture.DirNotify {
		s.notify(r)
		return err
	}
	r.pathBuf = r.pathBuf[:0]
	if sl == nil {
		if lateOK {
			r.Paired, r.Interrupts = true, late.of
			r.InterruptsOp, r.InterruptsPID, r.InterruptsNodeID = late.ofOp, late.ofPID, late.ofNode
			r.Latency = time.Duration(r.Time.UnixNano() - late.start)
			if len(late.ofPath) > 0 {
				r.pathBuf = append(r.pathBuf, late.ofPath...)
				r.Path = r.pathBuf
			}
			return err
		}
		if forgetOK {
			r.Paired, r.NodeID, r.caller = true, forget.nodeid, forget.caller
			r.Latency = time.Duration(r.Time.UnixNano() - forget.start)
			return r.failWith(ErrNoReply, "reply to %v, which takes none; the kernel refuses it", forget.op)
		}
		s.counters.Unpaired++
		return err
	}
	r.Paired = true
	r.Latency = time.Duration(r.Time.UnixNano() - sl.start)
	r.NodeID, r.UID, r.GID, r.PID = sl.nodeid, sl.uid, sl.gid, sl.pid
	r.caller = sl.caller
	r.Interrupted = sl.interrupted
	if sl.op == abi.FUSE_INTERRUPT {
		r.Interrupts, r.InterruptsOp, r.InterruptsPID, r.InterruptsNodeID = sl.aux, sl.auxOp, sl.aux2, sl.aux3
	}
	if len(sl.name) > 0 {
		r.Name = sl.name
	}
	if r.Error == 0 && r.Malformed == nil && (sl.caller == abi.InHeaderSize || sl.op == abi.FUSE_INIT) {
		s.track(r, sl) // INIT's tracking needs only the reply
	}
	switch {
	case r.Error == 0 && r.Malformed == nil && entryOp(sl.op) && r.Out.Entry.NodeID != 0:
		r.pathBuf, _ = s.AppendPath(r.pathBuf, r.Out.Entry.NodeID)
	case sl.op == abi.FUSE_INTERRUPT && sl.nodeid == 0: // name2 holds its target's path
		r.pathBuf = append(r.pathBuf, sl.name2...)
	default:
		r.pathBuf = s.appendTargetPath(r.pathBuf, sl.nodeid, sl.name,
			nameOp(sl.op) && len(sl.name) > 0 && sl.op != abi.FUSE_RENAME && sl.op != abi.FUSE_RENAME2)
	}
	if len(r.pathBuf) > 0 {
		r.Path = r.pathBuf
	}
	u := sl.unique
	s.pend.release(sl)
	if u&1 == 0 {
		// Only an INTERRUPT of this request: kernels before 4.20
		// numbered requests 1, 2, 3..., odd uniques included.
		if isl := s.pend.get(u | 1); isl != nil && isl.op == abi.FUSE_INTERRUPT && isl.aux == u {
			// The interrupt of an answered request usually gets no
			// reply; it leaves the pending table, and an EAGAIN may
			// still pair with it.
			li := s.late.add()
			*li = lateInterrupt{unique: isl.unique, start: isl.start, of: isl.aux, ofOp: isl.auxOp, ofPID: isl.aux2, ofNode: isl.aux3, ofPath: append(li.ofPath[:0], isl.name2...)}
			s.pend.release(isl)
		}
	}
	return err
}

// entryOp reports whether an opcode's reply starts with fuse_entry_out.
func entryOp(op abi.Opcode) bool {
	switch op {
	case abi.FUSE_LOOKUP, abi.FUSE_MKNOD, abi.FUSE_MKDIR, abi.FUSE_SYMLINK, abi.FUSE_LINK,
		abi.FUSE_CREATE, abi.FUSE_TMPFILE:
		return true
	}
	return false
}

// track applies a successful reply to the session's state: the negotiated
// INIT and the nodeid-to-path map.
func (s *Session) track(r *Record, sl *slot) {
	synth := r.Flags&capture.FlagSynthesized != 0
	if r.Truncated && entryOp(sl.op) && len(r.Msg) < abi.OutHeaderSize+8 {
		return // the snap length cut the node ID
	}
	switch sl.op {
	case abi.FUSE_INIT:
		s.negotiate(&r.Out.Init)
	case abi.FUSE_LOOKUP:
		// The kernel looks up "." and ".." of an exported file system
		// (open_by_handle_at, NFS): the node itself and its parent, not
		// a child.
		if !dotName(sl.name) {
			s.nodes.add(r.Out.Entry.NodeID, sl.nodeid, sl.name, synth, &s.counters)
		} else {
			s.nodes.ref(r.Out.Entry.NodeID) // the kernel counts it
		}
	case abi.FUSE_MKNOD, abi.FUSE_MKDIR, abi.FUSE_SYMLINK, abi.FUSE_CREATE:
		s.nodes.add(r.Out.Entry.NodeID, sl.nodeid, sl.name, synth, &s.counters)
	case abi.FUSE_LINK:
		s.nodes.add(r.Out.Entry.NodeID, sl.nodeid, sl.name, synth, &s.counters)
	case abi.FUSE_TMPFILE:
		// An unnamed file: counted, but it has no path.
		s.nodes.add(r.Out.Entry.NodeID, 0, nil, synth, &s.counters)
	case abi.FUSE_READDIRPLUS:
		o := r.order
		for e := r.Entries; len(e) > 0; {
			d, name, rest, err := abi.NextDirentplus(e, o)
			if err != nil {
				break
			}
			if d.EntryOut.NodeID != 0 && !dotName(name) {
				s.nodes.add(d.EntryOut.NodeID, sl.nodeid, name, synth, &s.counters)
			}
			e = rest
		}
	case abi.FUSE_UNLINK, abi.FUSE_RMDIR:
		s.nodes.unlink(sl.nodeid, sl.name)
	case abi.FUSE_RENAME:
		s.nodes.rename(sl.nodeid, sl.name, sl.aux, sl.name2, 0)
	case abi.FUSE_RENAME2:
		s.nodes.rename(sl.nodeid, sl.name, sl.aux, sl.name2, sl.aux2)
	}
}

func dotName(name []byte) bool {
	return string(name) == "." || string(name) == ".."
}

// negotiate remembers an INIT reply: the server's minor becomes the
// session's, flags are read only from 7.6 and flags2 only with INIT_EXT.
func (s *Session) negotiate(in *abi.InitOut) {
	p := Proto{Major: in.Major, Minor: in.Minor, Known: true}
	if in.Minor >= 6 {
		f := abi.InitFlags(uint64(in.Flags))
		if uint64(in.Flags)&uint64(abi.FUSE_INIT_EXT) != 0 {
			f |= abi.InitFlags(uint64(in.Flags2) << 32)
		}
		if s.offerSet {
			f &= s.offered
		}
		p.Flags = f
		p.MaxReadahead = in.MaxReadahead
	}
	p.MaxWrite = in.MaxWrite
	if in.Minor < 5 {
		p.MaxWrite = 4096
	}
	p.MaxBackground, p.CongestionThreshold = in.MaxBackground, in.CongestionThreshold
	p.TimeGran, p.MaxPages = in.TimeGran, in.MaxPages
	s.proto = p
}

// notify applies a notification to the session's state.
func (s *Session) notify(r *Record) {
	r.pathBuf = r.pathBuf[:0]
	switch r.Notify {
	case abi.FUSE_NOTIFY_INVAL_ENTRY, abi.FUSE_NOTIFY_DELETE:
		r.pathBuf, _ = s.appendChildPath(r.pathBuf, r.NodeID, r.Name)
	default:
		if r.NodeID != 0 {
			r.pathBuf, _ = s.AppendPath(r.pathBuf, r.NodeID)
		}
	}
	if len(r.pathBuf) > 0 {
		r.Path = r.pathBuf
	}
	if r.Malformed != nil {
		return
	}
	switch r.Notify {
	case abi.FUSE_NOTIFY_DELETE:
		s.nodes.unlink(r.Note.Delete.Parent, r.Name)
	case abi.FUSE_NOTIFY_INVAL_ENTRY:
		if r.Note.InvalEntry.Flags&abi.FUSE_EXPIRE_ONLY == 0 {
			s.nodes.unlink(r.Note.InvalEntry.Parent, r.Name)
		}
	}
}

// Decoder decodes a capture with one Session per interface.
type Decoder struct {
	opts     Options
	sessions []*Session
}

// NewDecoder returns a Decoder whose sessions use opts.
func NewDecoder(opts Options) *Decoder {
	return &Decoder{opts: opts.withDefaults()}
}

// Session returns the session of interface iface, creating it. Interfaces
// past MaxSessions share the last session.
func (d *Decoder) Session(iface int) *Session {
	if iface < 0 || iface >= d.opts.MaxSessions {
		iface = d.opts.MaxSessions - 1
	}
	for len(d.sessions) <= iface {
		d.sessions = append(d.sessions, nil)
	}
	if d.sessions[iface] == nil {
		d.sessions[iface] = NewSession(d.opts)
	}
	return d.sessions[iface]
}

// Sessions returns the sessions created so far, indexed by interface (nil
// for interfaces without records).
func (d *Decoder) Sessions() []*Session { return d.sessions }

// Decode decodes cr with the session of its interface; see
// [Session.Decode].
func (d *Decoder) Decode(cr *capture.Record, r *Record) error {
	r.Iface, r.Offset = cr.Iface, cr.Offset
	return d.Session(cr.Iface).Decode(cr, r)
}

// Counters sums the counters of every session.
func (d *Decoder) Counters() Counters {
	var c Counters
	for _, s := range d.sessions {
		if s == nil {
			continue
		}
		x := s.counters
		c.Requests += x.Requests
		c.Replies += x.Replies
		c.Notifies += x.Notifies
		c.Unpaired += x.Unpaired
		c.Evicted += x.Evicted
		c.NodesEvicted += x.NodesEvicted
		c.Malformed += x.Malformed
		c.Truncated += x.Truncated
		c.Interrupts += x.Interrupts
		c.Resends += x.Resends
	}
	return c
}
