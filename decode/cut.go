package decode

import (
	"strings"
	"sync"

	"github.com/fusectl/fusectl/capture"
)

// A snap length can fall inside a message's fixed arguments (a WRITE cut at
// 64 bytes keeps fh, offset and size, not lock_owner and flags). The fields
// past the cut are decoded as zeros, which the formatters must not show as
// values: a zero flags field reads as O_RDONLY. Which fields are whole is
// found without a table of offsets: the body is decoded a second time
// padded with 0xff, and a field whose value differs between the two
// decodings has bytes past the cut. Names and payloads follow the fixed
// arguments in every message, so a record cut inside those has none.

// fieldKey names a field: the path of the objects it is in ("" at the top,
// "entry.attr") and its key.
type fieldKey struct{ in, key string }

// fieldValue is a field's value as an emitter receives it; names and
// payloads are not kept, only that they are there.
type fieldValue struct {
	a, b     uint64
	variable bool
}

// cutScratch is what finding a record's cut fields uses, pooled: a cut
// capture has many such records.
type cutScratch struct {
	twin       Record
	zero, ones fieldRecorder
	cut        map[fieldKey]bool
	emit       cutEmitter
}

var cutPool = sync.Pool{New: func() any {
	return &cutScratch{
		zero: fieldRecorder{vals: make(map[fieldKey]fieldValue)},
		ones: fieldRecorder{vals: make(map[fieldKey]fieldValue)},
		cut:  make(map[fieldKey]bool),
	}
}}

// emitCut emits r, which the snap length cut, through e: without the
// fields the cut took (when it fell inside the fixed arguments, r.cut) or
// came before.
func emitCut(e emitter, r *Record, text bool) {
	sc := cutPool.Get().(*cutScratch)
	defer cutPool.Put(sc)
	clear(sc.cut)
	if r.cut {
		sc.findCut(r)
	}
	c := &sc.emit
	c.e, c.cut = e, sc.cut
	c.path.buf, c.path.in = c.path.buf[:0], ""
	emitFields(c, r, text)
	c.e = nil
}

// findCut fills sc.cut with the fields of r that the snap length cut.
func (sc *cutScratch) findCut(r *Record) {
	twin := &sc.twin
	twin.fill, twin.Truncated, twin.OrigLen = 0xff, true, r.OrigLen
	if r.Dir == capture.DirRequest {
		DecodeRequestInto(twin, r.Msg, r.order, &r.proto)
	} else {
		DecodeReplyInto(twin, r.Msg, r.call, r.order, &r.proto)
	}
	sc.zero.record(r)
	sc.ones.record(twin)
	for k, z := range sc.zero.vals {
		if o, ok := sc.ones.vals[k]; z.variable || !ok || o != z {
			sc.cut[k] = true
		}
	}
	for k := range sc.ones.vals {
		if _, ok := sc.zero.vals[k]; !ok {
			sc.cut[k] = true
		}
	}
	// The twin aliases r's message; it must not keep it in the pool.
	twin.Msg, twin.Name, twin.Name2, twin.Data, twin.Entries, twin.Ext = nil, nil, nil, nil, nil, nil
	twin.SecctxName, twin.SecctxValue, twin.Groups, twin.Path = nil, nil, nil, nil
}

// fieldPath tracks the objects and lists an emitter is inside, and their
// path as a fieldKey's in.
type fieldPath struct {
	buf []string
	in  string
}

func (p *fieldPath) at(key string) fieldKey { return fieldKey{p.in, key} }

func (p *fieldPath) push(key string) {
	p.buf = append(p.buf, key)
	p.in = strings.Join(p.buf, ".")
}

func (p *fieldPath) pop() {
	p.buf = p.buf[:max(len(p.buf)-1, 0)]
	p.in = strings.Join(p.buf, ".")
}

// fieldRecorder is an emitter that keeps each field's value by key.
type fieldRecorder struct {
	path fieldPath
	vals map[fieldKey]fieldValue
}

// record keeps every field r emits, in the JSON form's set.
func (f *fieldRecorder) record(r *Record) {
	clear(f.vals)
	f.path.buf, f.path.in = f.path.buf[:0], ""
	emitFields(f, r, false)
}

func (f *fieldRecorder) set(key string, a, b uint64) { f.vals[f.path.at(key)] = fieldValue{a: a, b: b} }
func (f *fieldRecorder) variable(key string)         { f.vals[f.path.at(key)] = fieldValue{variable: true} }

func (f *fieldRecorder) uint(key string, v uint64)               { f.set(key, v, 0) }
func (f *fieldRecorder) int(key string, v int64)                 { f.set(key, uint64(v), 0) }
func (f *fieldRecorder) hex(key string, v uint64)                { f.set(key, v, 0) }
func (f *fieldRecorder) flags(key string, k flagKind, v uint64)  { f.set(key, v, uint64(k)) }
func (f *fieldRecorder) name(key string, _ []byte, _ bool)       { f.variable(key) }
func (f *fieldRecorder) node(key string, id uint64, _ bool)      { f.set(key, id, 0) }
func (f *fieldRecorder) mode(key string, v uint32)               { f.set(key, uint64(v), 0) }
func (f *fieldRecorder) ttl(key string, sec uint64, nsec uint32) { f.set(key, sec, uint64(nsec)) }
func (f *fieldRecorder) time(key string, sec int64, nsec uint32) {
	f.set(key, uint64(sec), uint64(nsec))
}
func (f *fieldRecorder) data(key string, _ []byte) { f.variable(key) }
func (f *fieldRecorder) open(key string)           { f.path.push(key) }
func (f *fieldRecorder) close()                    { f.path.pop() }
func (f *fieldRecorder) list(key string)           { f.path.push(key) }
func (f *fieldRecorder) item()                     {}
func (f *fieldRecorder) endItem()                  {}
func (f *fieldRecorder) endList(int)               { f.path.pop() }

// cutEmitter passes the fields of a record cut at the snap length on to
// e, leaving out those in cut and the names the cut came before. (Names
// it cut in the middle carry cutMark from decoding.)
type cutEmitter struct {
	e    emitter
	path fieldPath
	cut  map[fieldKey]bool
}

func (c *cutEmitter) keep(key string) bool { return !c.cut[c.path.at(key)] }

func (c *cutEmitter) uint(key string, v uint64) {
	if c.keep(key) {
		c.e.uint(key, v)
	}
}

func (c *cutEmitter) int(key string, v int64) {
	if c.keep(key) {
		c.e.int(key, v)
	}
}

func (c *cutEmitter) hex(key string, v uint64) {
	if c.keep(key) {
		c.e.hex(key, v)
	}
}

func (c *cutEmitter) flags(key string, k flagKind, v uint64) {
	if c.keep(key) {
		c.e.flags(key, k, v)
	}
}

func (c *cutEmitter) name(key string, v []byte, positional bool) {
	// nil: the cut came before the name.
	if v != nil && c.keep(key) {
		c.e.name(key, v, positional)
	}
}

func (c *cutEmitter) node(key string, id uint64, positional bool) {
	if c.keep(key) {
		c.e.node(key, id, positional)
	}
}

func (c *cutEmitter) mode(key string, v uint32) {
	if c.keep(key) {
		c.e.mode(key, v)
	}
}

func (c *cutEmitter) ttl(key string, sec uint64, nsec uint32) {
	if c.keep(key) {
		c.e.ttl(key, sec, nsec)
	}
}

func (c *cutEmitter) time(key string, sec int64, nsec uint32) {
	if c.keep(key) {
		c.e.time(key, sec, nsec)
	}
}

func (c *cutEmitter) data(key string, v []byte) {
	if c.keep(key) {
		c.e.data(key, v)
	}
}

func (c *cutEmitter) open(key string)  { c.path.push(key); c.e.open(key) }
func (c *cutEmitter) close()           { c.path.pop(); c.e.close() }
func (c *cutEmitter) list(key string)  { c.path.push(key); c.e.list(key) }
func (c *cutEmitter) item()            { c.e.item() }
func (c *cutEmitter) endItem()         { c.e.endItem() }
func (c *cutEmitter) endList(more int) { c.path.pop(); c.e.endList(more) }
