package decode

import (
	"fmt"
	"strings"

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

// cutFields returns the paths (key, or object.key for nested structs) of
// the fields of r that the snap length cut.
func (r *Record) cutFields() map[string]bool {
	twin := &Record{fill: 0xff, Truncated: true, OrigLen: r.OrigLen}
	if r.Dir == capture.DirRequest {
		DecodeRequestInto(twin, r.Msg, r.order, &r.proto)
	} else {
		DecodeReplyInto(twin, r.Msg, r.call, r.order, &r.proto)
	}
	zero, ones := fieldValues(r), fieldValues(twin)
	cut := make(map[string]bool)
	for k := range zero.variable {
		cut[k] = true
	}
	for k, v := range ones.vals {
		if z, ok := zero.vals[k]; !ok || z != v {
			cut[k] = true
		}
	}
	for k := range zero.vals {
		if _, ok := ones.vals[k]; !ok {
			cut[k] = true
		}
	}
	return cut
}

// fieldValues returns every field r emits.
func fieldValues(r *Record) *fieldRecorder {
	v := &fieldRecorder{vals: make(map[string]string), variable: make(map[string]bool)}
	emitFields(v, r, false)
	return v
}

// fieldPath tracks the objects and lists an emitter is inside.
type fieldPath []string

func (p fieldPath) at(key string) string {
	if len(p) == 0 {
		return key
	}
	return strings.Join(p, ".") + "." + key
}

func (p *fieldPath) push(key string) { *p = append(*p, key) }
func (p *fieldPath) pop()            { *p = (*p)[:max(len(*p)-1, 0)] }

// fieldRecorder is an emitter that keeps each field's value by path, and
// which of them are names and payloads.
type fieldRecorder struct {
	path     fieldPath
	vals     map[string]string
	variable map[string]bool
}

func (f *fieldRecorder) set(key string, v ...any) { f.vals[f.path.at(key)] = fmt.Sprint(v...) }

func (f *fieldRecorder) uint(key string, v uint64)               { f.set(key, v) }
func (f *fieldRecorder) int(key string, v int64)                 { f.set(key, v) }
func (f *fieldRecorder) hex(key string, v uint64)                { f.set(key, v) }
func (f *fieldRecorder) flags(key string, k flagKind, v uint64)  { f.set(key, k, v) }
func (f *fieldRecorder) name(key string, _ []byte, _ bool)       { f.variable[f.path.at(key)] = true }
func (f *fieldRecorder) node(key string, id uint64, _ bool)      { f.set(key, id) }
func (f *fieldRecorder) mode(key string, v uint32)               { f.set(key, v) }
func (f *fieldRecorder) ttl(key string, sec uint64, nsec uint32) { f.set(key, sec, nsec) }
func (f *fieldRecorder) time(key string, sec int64, nsec uint32) { f.set(key, sec, nsec) }
func (f *fieldRecorder) data(key string, _ []byte)               { f.variable[f.path.at(key)] = true }
func (f *fieldRecorder) open(key string)                         { f.path.push(key) }
func (f *fieldRecorder) close()                                  { f.path.pop() }
func (f *fieldRecorder) list(key string)                         { f.path.push(key) }
func (f *fieldRecorder) item()                                   {}
func (f *fieldRecorder) endItem()                                {}
func (f *fieldRecorder) endList(int)                             { f.path.pop() }

// cutEmitter passes the fields of a record cut at the snap length on to
// e, leaving out those in cut and the names the cut came before. (Names
// it cut in the middle carry cutMark from decoding.)
type cutEmitter struct {
	e    emitter
	path fieldPath
	cut  map[string]bool
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
