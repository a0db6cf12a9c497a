package decode

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/fusectl/fusectl/capture"
)

// AppendJSON appends r as one JSON object and a newline. The object has
// time (RFC 3339 with nanoseconds), dir, iface, unique (without the
// resend bit; "resend": true marks it), op (opcode name, or notify code
// name for notifications), nodeid, uid, gid, pid, error (errno name or
// null), latency_ns (replies; null when unpaired or synthesized), path
// (when known), then the decoded fields of the body with snake_case keys,
// nested objects for structs (entry, attr, lk, statx; a SETATTR's new uid
// and gid are owner and group, apart from the caller's), and malformed
// (the reason) when the message breaks the protocol. Payloads appear as
// key_len and key_head (hex of the first bytes); with Hex, raw holds the
// whole message in hex.
// The JSON is written by hand, not by reflection, for speed.
func (f *Formatter) AppendJSON(b []byte, r *Record) []byte {
	if !f.started {
		f.start, f.started = r.Time, true
	}
	j := &f.js
	j.b, j.f, j.first = b, f, true
	j.b = append(j.b, '{')
	j.key("time")
	t := r.Time
	if f.Time == TimeUTC {
		t = t.UTC()
	}
	j.b = append(j.b, '"')
	j.b = f.appendRFC3339(j.b, t)
	j.b = append(j.b, '"')
	if f.Time == TimeRelative {
		j.int("rel_ns", int64(r.Time.Sub(f.start)))
	}
	j.key("dir")
	j.b = append(j.b, '"')
	j.b = append(j.b, r.Dir.String()...)
	j.b = append(j.b, '"')
	j.int("iface", int64(r.Iface))
	if r.Lost > 0 {
		j.uint("lost_before", r.Lost)
	}
	if r.headHas(headUnique) {
		j.uint("unique", r.ID())
	}
	if r.IsResend() {
		j.boolean("resend", true)
	}
	j.key("op")
	j.b = append(j.b, '"')
	j.b = append(j.b, r.OpName()...)
	j.b = append(j.b, '"')
	// What is not known is left out: a node ID or caller the snap length
	// cut, and those of a reply paired with no request.
	if r.Dir == capture.DirNotify {
		if !r.nodeCut {
			j.uint("nodeid", r.NodeID)
		}
	} else {
		j.callerUint(r, headNodeID, "nodeid", r.NodeID)
		j.callerUint(r, headUID, "uid", uint64(r.UID))
		j.callerUint(r, headGID, "gid", uint64(r.GID))
		j.callerUint(r, headPID, "pid", uint64(r.PID))
	}
	if r.Dir != capture.DirReply || r.headHas(headUnique) {
		j.key("error")
		if r.Errno != 0 {
			j.b = append(j.b, '"')
			j.b = append(j.b, r.Errno.String()...)
			j.b = append(j.b, '"')
		} else {
			j.b = append(j.b, "null"...)
		}
	}
	if r.Dir == capture.DirReply {
		j.key("latency_ns")
		if r.timed() {
			j.b = strconv.AppendInt(j.b, int64(r.Latency), 10)
		} else {
			j.b = append(j.b, "null"...)
		}
		if r.Interrupts != 0 {
			j.uint("interrupt_unique", r.Interrupts)
		}
		if r.Interrupted {
			j.boolean("interrupted", true)
		}
		if r.Errno != 0 && r.Name != nil {
			j.name("name", r.Name, false)
		}
	}
	if r.InterruptsOp != 0 {
		j.key("interrupt_op")
		j.b = append(j.b, '"')
		j.b = append(j.b, r.InterruptsOp.String()...)
		j.b = append(j.b, '"')
	}
	if r.InterruptsNodeID != 0 {
		j.uint("interrupt_nodeid", r.InterruptsNodeID)
	}
	if r.Path != nil {
		j.name("path", r.Path, false)
	}
	emitBody(j, r, false)
	if r.Flags&capture.FlagSynthesized != 0 {
		j.boolean("synthesized", true)
	}
	if r.Flags&capture.FlagInjected != 0 {
		j.boolean("injected", true)
	}
	if r.Truncated {
		j.boolean("truncated", true)
		j.int("orig_len", int64(r.OrigLen))
	}
	if r.Malformed != nil {
		j.key("malformed")
		j.b = appendJSONString(j.b, []byte(r.Malformed.Error()))
	}
	if f.Hex {
		j.key("raw")
		j.b = append(j.b, '"')
		for _, c := range r.Msg {
			j.b = append(j.b, hexDigits[c>>4], hexDigits[c&15])
		}
		j.b = append(j.b, '"')
	}
	j.b = append(j.b, '}', '\n')
	b = j.b
	j.b = nil
	return b
}

// appendRFC3339 appends t as time.RFC3339Nano does. The part up to the
// second and the zone are formatted once per second of capture time.
func (f *Formatter) appendRFC3339(b []byte, t time.Time) []byte {
	sec := t.Unix()
	if !f.secValid || sec != f.sec || t.Location() != f.secLoc {
		f.sec, f.secLoc, f.secValid = sec, t.Location(), true
		f.secText = t.Truncate(time.Second).AppendFormat(f.secText[:0], "2006-01-02T15:04:05")
		f.zoneText = t.AppendFormat(f.zoneText[:0], "Z07:00")
	}
	b = append(b, f.secText...)
	if ns := t.Nanosecond(); ns != 0 {
		var d [10]byte
		d[0] = '.'
		for i := 9; i >= 1; i-- {
			d[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for d[n-1] == '0' {
			n--
		}
		b = append(b, d[:n]...)
	}
	return append(b, f.zoneText...)
}

// jsonEmitter writes fields as "key":value.
type jsonEmitter struct {
	b     []byte
	f     *Formatter
	first bool
}

func (j *jsonEmitter) key(k string) {
	if !j.first {
		j.b = append(j.b, ',')
	}
	j.first = false
	j.b = append(j.b, '"')
	j.b = append(j.b, k...)
	j.b = append(j.b, '"', ':')
}

// key2 writes the key k+suffix without building the string.
func (j *jsonEmitter) key2(k, suffix string) {
	if !j.first {
		j.b = append(j.b, ',')
	}
	j.first = false
	j.b = append(j.b, '"')
	j.b = append(j.b, k...)
	j.b = append(j.b, suffix...)
	j.b = append(j.b, '"', ':')
}

func (j *jsonEmitter) uint(k string, v uint64) {
	j.key(k)
	j.b = strconv.AppendUint(j.b, v, 10)
}

// callerUint emits a request header field, which ends at byte end, if r
// knows it.
func (j *jsonEmitter) callerUint(r *Record, end int, k string, v uint64) {
	if r.callerHas(end) {
		j.uint(k, v)
	}
}

func (j *jsonEmitter) int(k string, v int64) {
	j.key(k)
	j.b = strconv.AppendInt(j.b, v, 10)
}

func (j *jsonEmitter) hex(k string, v uint64) { j.uint(k, v) }

func (j *jsonEmitter) boolean(k string, v bool) {
	j.key(k)
	j.b = strconv.AppendBool(j.b, v)
}

func (j *jsonEmitter) flags(k string, kind flagKind, v uint64) {
	j.key(k)
	j.b = append(j.b, '"')
	j.b = append(j.b, j.f.names.get(kind, v)...)
	j.b = append(j.b, '"')
}

func (j *jsonEmitter) name(k string, v []byte, _ bool) {
	j.key(k)
	j.b = appendJSONString(j.b, v)
}

func (j *jsonEmitter) node(k string, id uint64, _ bool) { j.uint(k, id) }

func (j *jsonEmitter) mode(k string, v uint32) { j.uint(k, uint64(v)) }

func (j *jsonEmitter) ttl(k string, sec uint64, nsec uint32) {
	j.uint(k, sec)
	j.key2(k, "_nsec")
	j.b = strconv.AppendUint(j.b, uint64(nsec), 10)
}

func (j *jsonEmitter) time(k string, sec int64, nsec uint32) {
	j.int(k, sec)
	j.key2(k, "_nsec")
	j.b = strconv.AppendUint(j.b, uint64(nsec), 10)
}

func (j *jsonEmitter) data(k string, v []byte) {
	j.key2(k, "_len")
	j.b = strconv.AppendInt(j.b, int64(len(v)), 10)
	j.key2(k, "_head")
	j.b = append(j.b, '"')
	for _, c := range v[:min(len(v), summaryBytes)] {
		j.b = append(j.b, hexDigits[c>>4], hexDigits[c&15])
	}
	j.b = append(j.b, '"')
}

func (j *jsonEmitter) open(k string) {
	j.key(k)
	j.b = append(j.b, '{')
	j.first = true
}

func (j *jsonEmitter) close() {
	j.b = append(j.b, '}')
	j.first = false
}

func (j *jsonEmitter) list(k string) {
	j.key(k)
	j.b = append(j.b, '[')
	j.first = true
}

func (j *jsonEmitter) item() {
	if !j.first {
		j.b = append(j.b, ',')
	}
	j.b = append(j.b, '{')
	j.first = true
}

func (j *jsonEmitter) endItem() {
	j.b = append(j.b, '}')
	j.first = false
}

func (j *jsonEmitter) endList(int) {
	j.b = append(j.b, ']')
	j.first = false
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendJSONString(b []byte, s []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&15])
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
