package decode

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
)

// TimeMode selects how record times are printed.
type TimeMode uint8

const (
	// TimeLocal prints the local time of day, 15:04:05.000000.
	TimeLocal TimeMode = iota
	// TimeUTC prints the UTC time of day.
	TimeUTC
	// TimeRelative prints seconds since the first record, +1.000123.
	TimeRelative
)

// Formatter renders records as text lines or JSON objects. The zero value
// prints local times without hex dumps. A Formatter keeps the time of the
// first record (for TimeRelative) and a cache of flag names; it is not safe
// for concurrent use.
type Formatter struct {
	// Time selects the time format.
	Time TimeMode
	// Hex adds the raw message: a hex dump under the text line, a "raw"
	// field in JSON.
	Hex bool

	start   time.Time
	started bool
	names   nameCache
	text    textEmitter
	js      jsonEmitter

	// The formatted second and zone of the last JSON time.
	sec               int64
	secLoc            *time.Location
	secValid          bool
	secText, zoneText []byte
}

// AppendText appends the one-line text form of r, a newline, and with Hex
// the hex dump. The output depends only on the record and the options.
// Records of capture interfaces other than the first carry [N] after the
// time.
//
//	12:00:01.000123 #42 LOOKUP n1 "a.txt" pid=1234
//	12:00:01.000170 #42 OK 47µs LOOKUP entry{n2 generation=0 ...}
func (f *Formatter) AppendText(b []byte, r *Record) []byte {
	if !f.started {
		f.start, f.started = r.Time, true
	}
	if r.Lost > 0 {
		// A line of its own, where the gap is: what follows may miss
		// requests and paths.
		b = f.appendTime(b, r.Time)
		b = appendIface(b, r)
		b = append(b, " lost "...)
		b = strconv.AppendUint(b, r.Lost, 10)
		b = append(b, " records here (the recorder fell behind)\n"...)
	}
	b = f.appendTime(b, r.Time)
	b = appendIface(b, r)
	switch r.Dir {
	case capture.DirRequest:
		b = appendUnique(b, r)
		b = append(b, ' ')
		b = append(b, r.OpName()...)
		if r.Op == abi.FUSE_INTERRUPT {
			b = append(b, " of #"...)
			b = strconv.AppendUint(b, r.Interrupts, 10)
			b = appendInterruptsOp(b, r)
			b = f.appendNode(b, r.InterruptsNodeID, r.Path)
		}
		b = f.appendTarget(b, r)
	case capture.DirReply:
		b = appendUnique(b, r)
		b = append(b, ' ')
		switch {
		case !r.headHas(headUnique): // an error, or a notification's code
			b = append(b, '?')
		case r.Errno != 0:
			b = append(b, r.Errno.String()...)
		default:
			b = append(b, "OK"...)
		}
		b = append(b, ' ')
		switch {
		case r.timed():
			b = appendDur(b, int64(r.Latency))
		case r.Paired:
			b = append(b, '-') // synthesized
		default:
			b = append(b, '?')
		}
		b = append(b, ' ')
		b = append(b, r.OpName()...)
		if r.Interrupts != 0 {
			b = append(b, " of #"...)
			b = strconv.AppendUint(b, r.Interrupts, 10)
			b = appendInterruptsOp(b, r)
		}
		if r.Errno != 0 {
			b = f.appendTarget(b, r)
		}
	default:
		b = append(b, " notify "...)
		b = append(b, r.OpName()...)
		if r.NodeID != 0 {
			b = append(b, " n"...)
			b = strconv.AppendUint(b, r.NodeID, 10)
			if r.Path != nil && !nameNotify(r.Notify) {
				b = append(b, ' ')
				b = appendQuoted(b, r.Path)
			}
		}
	}
	t := &f.text
	t.b, t.f, t.depth, t.first = b, f, 0, false
	emitBody(t, r, true)
	b = t.b
	t.b = nil
	if r.Dir == capture.DirRequest {
		if r.Path != nil && (nameOp(r.Op) && r.NodeID != abi.FUSE_ROOT_ID) {
			b = append(b, " path="...)
			b = appendQuoted(b, r.Path)
		}
		if r.PID != 0 {
			b = append(b, " pid="...)
			b = strconv.AppendUint(b, uint64(r.PID), 10)
		}
	}
	if r.Dir == capture.DirReply && r.Errno == 0 && r.Path != nil && entryOp(r.Op) {
		b = append(b, " path="...)
		b = appendQuoted(b, r.Path)
	}
	if r.Interrupted {
		b = append(b, " interrupted"...)
	}
	if r.IsResend() {
		b = append(b, " resend"...)
	}
	if r.Flags&capture.FlagSynthesized != 0 {
		b = append(b, " synthesized"...)
	}
	if r.Flags&capture.FlagInjected != 0 {
		b = append(b, " injected"...)
	}
	if r.Truncated {
		b = append(b, " truncated="...)
		b = strconv.AppendInt(b, int64(len(r.Msg)), 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(r.OrigLen), 10)
	}
	if r.Malformed != nil {
		b = append(b, " !malformed: "...)
		b = append(b, r.Malformed.Error()...)
	}
	b = append(b, '\n')
	if f.Hex {
		b = appendHexDump(b, r.Msg)
	}
	return b
}

// appendUnique appends " #" and the record's unique, "?" where the snap
// length cut it.
func appendUnique(b []byte, r *Record) []byte {
	b = append(b, " #"...)
	if !r.headHas(headUnique) {
		return append(b, '?')
	}
	return strconv.AppendUint(b, r.ID(), 10)
}

// nameNotify reports whether a notification names a child of its node.
func nameNotify(c abi.NotifyCode) bool {
	return c == abi.FUSE_NOTIFY_INVAL_ENTRY || c == abi.FUSE_NOTIFY_DELETE
}

// appendTarget appends the node a request is about: nN, and its path for
// operations that do not name a child (those show the name instead).
func (f *Formatter) appendTarget(b []byte, r *Record) []byte {
	if r.NodeID == 0 {
		return b
	}
	if nameOp(r.Op) && r.Name != nil {
		b = f.appendNode(b, r.NodeID, nil)
		if r.Dir == capture.DirReply {
			b = append(b, ' ')
			b = appendQuoted(b, r.Name)
		}
		return b
	}
	return f.appendNode(b, r.NodeID, r.Path)
}

// appendNode appends " n<id>" and the node's path, unless it is the
// root's or unknown.
func (f *Formatter) appendNode(b []byte, id uint64, path []byte) []byte {
	if id == 0 {
		return b
	}
	b = append(b, " n"...)
	b = strconv.AppendUint(b, id, 10)
	if path != nil && id != abi.FUSE_ROOT_ID {
		b = append(b, ' ')
		b = appendQuoted(b, path)
	}
	return b
}

func (f *Formatter) appendTime(b []byte, t time.Time) []byte {
	switch f.Time {
	case TimeRelative:
		d := t.Sub(f.start)
		if d < 0 {
			b = append(b, '-')
			d = -d
		} else {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, int64(d/time.Second), 10)
		b = append(b, '.')
		return appendPad(b, uint64(d%time.Second/time.Microsecond), 6)
	case TimeUTC:
		t = t.UTC()
	default:
		t = t.Local()
	}
	h, m, s := t.Clock()
	b = appendPad(b, uint64(h), 2)
	b = append(b, ':')
	b = appendPad(b, uint64(m), 2)
	b = append(b, ':')
	b = appendPad(b, uint64(s), 2)
	b = append(b, '.')
	return appendPad(b, uint64(t.Nanosecond()/1000), 6)
}

// appendPad appends v in decimal, zero-padded to width digits.
func appendPad(b []byte, v uint64, width int) []byte {
	var d [20]byte
	i := len(d)
	for v > 0 || i > len(d)-width {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[i:]...)
}

// appendDur appends a duration with three significant digits: 850ns,
// 47µs, 1.23ms, 2.5s.
func appendDur(b []byte, ns int64) []byte {
	if ns < 0 {
		b = append(b, '-')
		ns = -ns
	}
	unit, div := "ns", int64(1)
	switch {
	case ns >= int64(time.Second):
		unit, div = "s", int64(time.Second)
	case ns >= int64(time.Millisecond):
		unit, div = "ms", int64(time.Millisecond)
	case ns >= int64(time.Microsecond):
		unit, div = "µs", int64(time.Microsecond)
	}
	whole := ns / div
	b = strconv.AppendInt(b, whole, 10)
	if div > 1 {
		// Decimals to make three significant digits, trailing zeros cut.
		digits := 2
		if whole >= 100 {
			digits = 0
		} else if whole >= 10 {
			digits = 1
		}
		frac := ns % div
		scale := div
		var d [2]byte
		n := 0
		for i := 0; i < digits; i++ {
			scale /= 10
			d[i] = byte('0' + frac/scale)
			frac %= scale
			n = i + 1
		}
		for n > 0 && d[n-1] == '0' {
			n--
		}
		if n > 0 {
			b = append(b, '.')
			b = append(b, d[:n]...)
		}
	}
	return append(b, unit...)
}

// appendQuoted appends s in double quotes, escaping quotes, backslashes,
// control bytes and invalid UTF-8 as Go does, without allocating.
func appendQuoted(b []byte, s []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRune(s[i:])
			if r != utf8.RuneError && strconv.IsPrint(r) {
				b = append(b, s[i:i+n]...)
				i += n
				continue
			}
		}
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
		}
		i++
	}
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// summaryBytes is how many leading bytes of a payload are shown.
const summaryBytes = 16

// appendSummary appends a payload as its length and first bytes in hex:
// 6B:68656c6c6f0a, or 4096B:0001...0f… when longer.
func appendSummary(b []byte, v []byte) []byte {
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, 'B')
	if len(v) == 0 {
		return b
	}
	b = append(b, ':')
	n := min(len(v), summaryBytes)
	for _, c := range v[:n] {
		b = append(b, hexDigits[c>>4], hexDigits[c&15])
	}
	if n < len(v) {
		b = append(b, "…"...)
	}
	return b
}

// ModeString formats a Linux file mode as ls -l does (-rw-r--r--,
// lrwxrwxrwx, drwxrwxrwt, crw-rw-rw-), or in octal (0755) when it has
// only permission bits. Go's fs.FileMode prints other letters (Lrwxrwxrwx,
// dtrwxrwxrwx).
func ModeString(m uint32) string { return string(appendMode(nil, m)) }

// appendMode appends a file mode as ModeString formats it.
func appendMode(b []byte, m uint32) []byte {
	typ := m & 0o170000
	if typ == 0 {
		b = append(b, '0')
		return strconv.AppendUint(b, uint64(m&0o7777), 8)
	}
	c := byte('?')
	switch typ {
	case 0o140000:
		c = 's'
	case 0o120000:
		c = 'l'
	case 0o100000:
		c = '-'
	case 0o060000:
		c = 'b'
	case 0o040000:
		c = 'd'
	case 0o020000:
		c = 'c'
	case 0o010000:
		c = 'p'
	}
	b = append(b, c)
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		ch := byte('-')
		if m&(1<<(8-i)) != 0 {
			ch = rwx[i]
		}
		switch {
		case i == 2 && m&0o4000 != 0:
			ch = "Ss"[boolInt(ch == 'x')]
		case i == 5 && m&0o2000 != 0:
			ch = "Ss"[boolInt(ch == 'x')]
		case i == 8 && m&0o1000 != 0:
			ch = "Tt"[boolInt(ch == 'x')]
		}
		b = append(b, ch)
	}
	return b
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

// appendHexDump appends msg as hexdump -C style lines, indented.
func appendHexDump(b []byte, msg []byte) []byte {
	for off := 0; off < len(msg); off += 16 {
		line := msg[off:min(off+16, len(msg))]
		b = append(b, "    "...)
		b = appendPadHex(b, uint64(off), 4)
		b = append(b, ' ')
		for i := 0; i < 16; i++ {
			if i == 8 {
				b = append(b, ' ')
			}
			if i < len(line) {
				b = append(b, ' ', hexDigits[line[i]>>4], hexDigits[line[i]&15])
			} else {
				b = append(b, "   "...)
			}
		}
		b = append(b, "  |"...)
		for _, c := range line {
			if c < 0x20 || c >= 0x7f {
				c = '.'
			}
			b = append(b, c)
		}
		b = append(b, "|\n"...)
	}
	return b
}

func appendPadHex(b []byte, v uint64, width int) []byte {
	var d [16]byte
	i := len(d)
	for v > 0 || i > len(d)-width {
		i--
		d[i] = hexDigits[v&15]
		v >>= 4
	}
	return append(b, d[i:]...)
}

// textEmitter writes fields as " key=value", nested objects as
// " key{a=1 b=2}", positional values without their key.
type textEmitter struct {
	b     []byte
	f     *Formatter
	depth int
	first bool // next field is the first inside braces: no space
}

func (t *textEmitter) sep() {
	if t.first {
		t.first = false
		return
	}
	t.b = append(t.b, ' ')
}

func (t *textEmitter) key(k string) {
	t.sep()
	t.b = append(t.b, k...)
	t.b = append(t.b, '=')
}

func (t *textEmitter) uint(k string, v uint64) {
	t.key(k)
	t.b = strconv.AppendUint(t.b, v, 10)
}

func (t *textEmitter) int(k string, v int64) {
	t.key(k)
	t.b = strconv.AppendInt(t.b, v, 10)
}

func (t *textEmitter) hex(k string, v uint64) {
	t.key(k)
	t.b = append(t.b, "0x"...)
	t.b = strconv.AppendUint(t.b, v, 16)
}

func (t *textEmitter) flags(k string, kind flagKind, v uint64) {
	t.key(k)
	t.b = append(t.b, t.f.names.get(kind, v)...)
}

func (t *textEmitter) name(k string, v []byte, positional bool) {
	if positional {
		t.sep()
	} else {
		t.key(k)
	}
	t.b = appendQuoted(t.b, v)
}

func (t *textEmitter) node(k string, id uint64, positional bool) {
	if positional {
		t.sep()
	} else {
		t.key(k)
	}
	t.b = append(t.b, 'n')
	t.b = strconv.AppendUint(t.b, id, 10)
}

func (t *textEmitter) mode(k string, v uint32) {
	t.key(k)
	t.b = appendMode(t.b, v)
}

func (t *textEmitter) ttl(k string, sec uint64, nsec uint32) {
	t.key(k)
	if sec >= 1<<33 {
		t.b = strconv.AppendUint(t.b, sec, 10)
		t.b = append(t.b, 's')
		return
	}
	t.b = appendDur(t.b, int64(sec)*int64(time.Second)+int64(nsec))
}

func (t *textEmitter) time(k string, sec int64, nsec uint32) {
	t.key(k)
	t.b = strconv.AppendInt(t.b, sec, 10)
	if nsec != 0 {
		t.b = append(t.b, '.')
		t.b = appendPad(t.b, uint64(nsec), 9)
	}
}

func (t *textEmitter) data(k string, v []byte) {
	t.key(k)
	t.b = appendSummary(t.b, v)
}

func (t *textEmitter) open(k string) {
	t.sep()
	t.b = append(t.b, k...)
	t.b = append(t.b, '{')
	t.first = true
	t.depth++
}

func (t *textEmitter) close() {
	t.b = append(t.b, '}')
	t.first = false
	t.depth--
}

func (t *textEmitter) list(k string) {
	t.sep()
	t.b = append(t.b, k...)
	t.b = append(t.b, '[')
	t.first = true
}

func (t *textEmitter) item() {
	if !t.first {
		t.b = append(t.b, ' ')
	}
	t.first = true
	t.b = append(t.b, '{')
}

func (t *textEmitter) endItem() {
	t.b = append(t.b, '}')
	t.first = false
}

func (t *textEmitter) endList(more int) {
	if more > 0 {
		if !t.first {
			t.b = append(t.b, ' ')
		}
		t.b = append(t.b, "+"...)
		t.b = strconv.AppendInt(t.b, int64(more), 10)
	}
	t.b = append(t.b, ']')
	t.first = false
}

// appendInterruptsOp appends the opcode an INTERRUPT interrupts, when the
// session saw that request.
func appendInterruptsOp(b []byte, r *Record) []byte {
	if r.InterruptsOp == 0 {
		return b
	}
	b = append(b, ' ')
	return append(b, r.InterruptsOp.String()...)
}

// appendIface marks a record of a capture of several connections with
// its connection, from the second on, so that one-connection output stays
// unmarked.
func appendIface(b []byte, r *Record) []byte {
	if r.Iface == 0 {
		return b
	}
	b = append(b, " ["...)
	b = strconv.AppendInt(b, int64(r.Iface), 10)
	return append(b, ']')
}
