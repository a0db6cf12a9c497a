package decode_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
	"github.com/fusectl/fusectl/decode/decodetest"
)

var le = binary.LittleEndian

// seedSessions returns the messages of the golden sessions, the fuzz
// targets' seeds.
func seedSessions() []decodetest.Msg {
	var msgs []decodetest.Msg
	for _, minor := range []uint32{8, 12, 19, 31, 45} {
		b := decodetest.New()
		decodetest.AllOps(b, minor)
		msgs = append(msgs, b.Msgs...)
	}
	for _, build := range []func(*decodetest.Builder){decodetest.Malformed, decodetest.Cuse, decodetest.MidSession} {
		b := decodetest.New()
		build(b)
		msgs = append(msgs, b.Msgs...)
	}
	return msgs
}

// checkPrint renders r both ways: printing must not panic and the JSON
// must be valid.
func checkPrint(t *testing.T, r *decode.Record) {
	t.Helper()
	f := &decode.Formatter{Time: decode.TimeUTC, Hex: true}
	_ = f.AppendText(nil, r)
	if js := f.AppendJSON(nil, r); !json.Valid(js) {
		t.Fatalf("invalid JSON: %s", js)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, m := range seedSessions() {
		if m.Dir == capture.DirRequest {
			f.Add(m.Data, uint32(45), uint64(abi.DefaultInitFlags))
			f.Add(m.Data, uint32(8), uint64(0))
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte, minor uint32, flags uint64) {
		p := decode.Proto{Major: 7, Minor: minor, Flags: abi.InitFlags(flags)}
		r, err := decode.DecodeRequest(msg, le, &p)
		if (r == nil) != (err != nil) {
			t.Fatalf("record %v, error %v: want exactly one", r != nil, err)
		}
		var into decode.Record
		err2 := decode.DecodeRequestInto(&into, msg, le, &p)
		if (err == nil) != (err2 == nil) || into.Malformed != err2 {
			t.Fatalf("DecodeRequest: %v, DecodeRequestInto: %v (Malformed %v)", err, err2, into.Malformed)
		}
		checkPrint(t, &into)
		// The session decodes it too, and tracks it without trouble.
		s := decode.NewSession(decode.Options{MaxPending: 4, MaxNodes: 4, Proto: p})
		s.DecodeMsg(into.Time, capture.DirRequest, 0, msg, len(msg), le, &into)
		checkPrint(t, &into)
	})
}

func FuzzDecodeReply(f *testing.F) {
	// Seed each reply with its request's opcode.
	ops := map[uint64]abi.Opcode{}
	for _, m := range seedSessions() {
		if len(m.Data) < 16 {
			continue
		}
		switch m.Dir {
		case capture.DirRequest:
			if len(m.Data) >= 40 {
				ops[le.Uint64(m.Data[8:])] = abi.Opcode(le.Uint32(m.Data[4:]))
			}
		default:
			f.Add(m.Data, uint32(ops[le.Uint64(m.Data[8:])]), uint32(64), uint32(45))
			f.Add(m.Data, uint32(ops[le.Uint64(m.Data[8:])]), uint32(0), uint32(8))
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte, op, xattrSize, minor uint32) {
		p := decode.Proto{Major: 7, Minor: minor, Flags: abi.DefaultInitFlags}
		c := decode.Call{Op: abi.Opcode(op), XattrSize: xattrSize}
		r, err := decode.DecodeReply(msg, c, le, &p)
		if (r == nil) != (err != nil) {
			t.Fatalf("record %v, error %v: want exactly one", r != nil, err)
		}
		var into decode.Record
		if err2 := decode.DecodeReplyInto(&into, msg, c, le, &p); (err == nil) != (err2 == nil) {
			t.Fatalf("DecodeReply: %v, DecodeReplyInto: %v", err, err2)
		}
		checkPrint(t, &into)
		n, err := decode.DecodeNotify(msg, le)
		if (n == nil) != (err != nil) {
			t.Fatalf("notify record %v, error %v: want exactly one", n != nil, err)
		}
		if n != nil {
			checkPrint(t, n)
		}
	})
}

// FuzzTruncated cuts a message as a snap length would and checks that
// every field the cut record shows has the value the whole message gives
// it: what was cut is left out, never shown as a zero.
func FuzzTruncated(f *testing.F) {
	ops := map[uint64]abi.Opcode{}
	for _, m := range seedSessions() {
		if len(m.Data) < 16 {
			continue
		}
		op := uint32(0)
		if m.Dir == capture.DirRequest {
			if len(m.Data) < 40 {
				continue
			}
			ops[le.Uint64(m.Data[8:])] = abi.Opcode(le.Uint32(m.Data[4:]))
		} else {
			op = uint32(ops[le.Uint64(m.Data[8:])])
		}
		for _, cut := range []uint16{6, 16, 30, 41, 48, 64, 100} {
			if int(cut) < len(m.Data) {
				f.Add(m.Data, m.Dir == capture.DirRequest, op, uint32(45), cut)
			}
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte, request bool, op, minor uint32, cut uint16) {
		// fusectl's snap lengths keep the header (at least 64 bytes);
		// other writers' may cut it.
		if int(cut) >= len(msg) {
			return
		}
		p := decode.Proto{Major: 7, Minor: minor, Flags: abi.DefaultInitFlags}
		c := decode.Call{Op: abi.Opcode(op)}
		decodeAs := func(r *decode.Record, b []byte) {
			if request {
				decode.DecodeRequestInto(r, b, le, &p)
			} else {
				decode.DecodeReplyInto(r, b, c, le, &p)
			}
		}
		var whole, part decode.Record
		decodeAs(&whole, msg)
		if whole.Malformed != nil {
			return // no whole truth to hold the cut record to
		}
		part.Truncated, part.OrigLen = true, len(msg)
		decodeAs(&part, msg[:cut])
		fm := &decode.Formatter{Time: decode.TimeUTC}
		fields := func(r *decode.Record) map[string]any {
			js := fm.AppendJSON(nil, r)
			var m map[string]any
			if err := json.Unmarshal(js, &m); err != nil {
				t.Fatalf("invalid JSON: %v: %s", err, js)
			}
			return m
		}
		w, got := fields(&whole), fields(&part)
		for k, v := range got {
			switch k {
			case "truncated", "orig_len", "malformed":
				continue
			}
			// Payloads show what was captured of them.
			if strings.HasSuffix(k, "_len") || strings.HasSuffix(k, "_head") {
				continue
			}
			if k == "op" && v == "?" {
				continue // the cut took it
			}
			if _, ok := got["unique"]; k == "dir" && !ok {
				continue // a reply cut before its unique may be a notification
			}
			if wv, ok := w[k]; ok && !within(v, wv) {
				t.Fatalf("cut at %d of %d, %q is %v; whole, %v", cut, len(msg), k, v, wv)
			}
		}
	})
}

// within reports whether part, a value of a record cut at the snap
// length, holds what the whole record's value does: objects may leave out
// keys, lists may leave out their last items, and a string may be a
// prefix of the whole one marked with "…".
func within(part, whole any) bool {
	switch p := part.(type) {
	case map[string]any:
		w, ok := whole.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range p {
			if wv, ok := w[k]; !ok || !within(v, wv) {
				return false
			}
		}
		return true
	case []any:
		w, ok := whole.([]any)
		if !ok || len(p) > len(w) {
			return false
		}
		for i := range p {
			if !within(p[i], w[i]) {
				return false
			}
		}
		return true
	case string:
		w, ok := whole.(string)
		if prefix, cut := strings.CutSuffix(p, "…"); cut && ok {
			// A cut inside a character leaves its first bytes, which
			// JSON shows as U+FFFD.
			return strings.HasPrefix(w, strings.TrimRight(prefix, "\ufffd"))
		}
		return ok && p == w
	}
	return reflect.DeepEqual(part, whole)
}

func FuzzDirents(f *testing.F) {
	o := abi.ByteOrder(le)
	f.Add([]byte(decodetest.Dirents(o, 1, ".", "..", "a.txt")), false)
	f.Add([]byte(decodetest.Direntplus(o, 1, "a", "bb", "ccc")), true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, body []byte, plus bool) {
		op := abi.FUSE_READDIR
		if plus {
			op = abi.FUSE_READDIRPLUS
		}
		h := abi.OutHeader{Len: uint32(16 + len(body)), Unique: 2}
		msg := append(h.Append(nil, o), body...)
		var r decode.Record
		err := decode.DecodeReplyInto(&r, msg, decode.Call{Op: op}, o, nil)
		checkPrint(t, &r)
		// Entries holds exactly Count valid records, and encoding them
		// again decodes to the same entries.
		var again []byte
		rest, n := r.Entries, 0
		for len(rest) > 0 {
			var name, next []byte
			var e error
			if plus {
				var d abi.Direntplus
				d, name, next, e = abi.NextDirentplus(rest, o)
				again = abi.AppendDirentplus(again, d, name, o)
			} else {
				var d abi.Dirent
				d, name, next, e = abi.NextDirent(rest, o)
				again = abi.AppendDirent(again, d, name, o)
			}
			if e != nil {
				t.Fatalf("entry %d of Entries invalid: %v", n, e)
			}
			rest = next
			n++
		}
		if n != r.Count {
			t.Fatalf("Count %d, %d entries in Entries", r.Count, n)
		}
		var r2 decode.Record
		h.Len = uint32(16 + len(again))
		if err := decode.DecodeReplyInto(&r2, append(h.Append(nil, o), again...), decode.Call{Op: op}, o, nil); err != nil || r2.Count != n {
			t.Fatalf("re-encoded entries: %v, count %d want %d", err, r2.Count, n)
		}
		if err == nil && len(r.Entries)+r.Trailing != len(body) {
			t.Fatalf("no error but Entries %d and trailing %d of %d bytes", len(r.Entries), r.Trailing, len(body))
		}
		// What is left over is a record cut short, as the kernel reads it.
		if tail := body[len(r.Entries):]; r.Trailing > 0 {
			var e error
			if plus {
				_, _, _, e = abi.NextDirentplus(tail, o)
			} else {
				_, _, _, e = abi.NextDirent(tail, o)
			}
			if !errors.Is(e, abi.ErrShort) {
				t.Fatalf("%d trailing bytes that are not a record cut short: %v", r.Trailing, e)
			}
		}
	})
}

// FuzzSession feeds a stream of messages (each prefixed by a direction
// byte and a 16-bit length) through a session with tiny bounds. Seeds are
// short runs of the golden sessions: a large input makes the fuzzer's
// minimization crawl.
func FuzzSession(f *testing.F) {
	msgs := seedSessions()
	for i := 0; i+12 <= len(msgs); i += 12 {
		var seed []byte
		for _, m := range msgs[i : i+12] {
			seed = append(seed, byte(m.Dir))
			seed = le.AppendUint16(seed, uint16(len(m.Data)))
			seed = append(seed, m.Data...)
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		s := decode.NewSession(decode.Options{MaxPending: 8, MaxNodes: 8})
		st := decode.NewStats()
		var r decode.Record
		fm := &decode.Formatter{Time: decode.TimeRelative}
		for len(stream) >= 3 {
			// The direction byte also says whether the record is
			// synthesized, as a mid-session capture's first ones are,
			// and whether it was cut at a snap length (by how much).
			dir := capture.Dir(stream[0]%3 + 1)
			var flags capture.Flags
			if stream[0]/3%2 == 1 {
				flags = capture.FlagSynthesized
			}
			n := min(int(le.Uint16(stream[1:])), len(stream)-3)
			msg := stream[3 : 3+n]
			origLen := len(msg)
			if cut := int(stream[0] / 6); cut > 0 {
				flags |= capture.FlagTruncated
				origLen += cut
			}
			stream = stream[3+n:]
			s.DecodeMsg(r.Time, dir, flags, msg, origLen, le, &r)
			st.Add(&r)
			fm.AppendText(nil, &r)
			if js := fm.AppendJSON(nil, &r); !json.Valid(js) {
				t.Fatalf("invalid JSON: %s", js)
			}
			if s.Pending() > 8 || s.Nodes() > 8 {
				t.Fatalf("bounds exceeded: %d pending, %d nodes", s.Pending(), s.Nodes())
			}
		}
		st.AppendTable(nil, true)
		if js := st.AppendJSON(nil); !json.Valid(js) {
			t.Fatalf("invalid stats JSON: %s", js)
		}
	})
}
