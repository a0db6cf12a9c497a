package decode_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
	"github.com/fusectl/fusectl/decode/decodetest"
)

// sessionCases are the built sessions the golden tests decode.
var sessionCases = []struct {
	name  string
	build func(b *decodetest.Builder)
}{
	{"minor45", func(b *decodetest.Builder) { decodetest.AllOps(b, 45) }},
	{"minor31", func(b *decodetest.Builder) { decodetest.AllOps(b, 31) }},
	{"minor19", func(b *decodetest.Builder) { decodetest.AllOps(b, 19) }},
	{"minor12", func(b *decodetest.Builder) { decodetest.AllOps(b, 12) }},
	{"minor8", func(b *decodetest.Builder) { decodetest.AllOps(b, 8) }},
	{"bigendian", func(b *decodetest.Builder) { b.O = binary.BigEndian; decodetest.AllOps(b, 45) }},
	{"midsession", decodetest.MidSession},
	{"cuse", decodetest.Cuse},
	{"malformed", decodetest.Malformed},
	{"realistic", decodetest.Realistic},
}

// decodeAll decodes built messages through a Decoder and renders each.
func decodeAll(t *testing.T, b *decodetest.Builder, render func(f *decode.Formatter, out []byte, r *decode.Record) []byte) []byte {
	t.Helper()
	d := decode.NewDecoder(decode.Options{})
	f := &decode.Formatter{Time: decode.TimeUTC}
	var r decode.Record
	var out []byte
	for _, m := range b.Msgs {
		cr := capture.Record{Time: m.Time, Dir: m.Dir, Flags: m.Flags, Msg: m.Data, OrigLen: len(m.Data), Order: b.O}
		d.Decode(&cr, &r)
		out = render(f, out, &r)
	}
	return out
}

func TestGoldenText(t *testing.T) {
	for _, c := range sessionCases {
		t.Run(c.name, func(t *testing.T) {
			b := decodetest.New()
			c.build(b)
			out := decodeAll(t, b, (*decode.Formatter).AppendText)
			golden.RequireEqual(t, out)
		})
	}
}

func TestGoldenJSON(t *testing.T) {
	for _, c := range sessionCases {
		t.Run(c.name, func(t *testing.T) {
			b := decodetest.New()
			c.build(b)
			out := decodeAll(t, b, (*decode.Formatter).AppendJSON)
			for i, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
				var v map[string]any
				if err := json.Unmarshal(line, &v); err != nil {
					t.Fatalf("line %d is not valid JSON: %v\n%s", i+1, err, line)
				}
				// What a record cannot know it leaves out: the header
				// fields a malformed message lacks, the node and caller
				// of a reply paired with no request.
				want := []string{"time", "dir", "op"}
				_, malformed := v["malformed"]
				_, synthesized := v["synthesized"]
				if !malformed {
					want = append(want, "unique", "error")
					if v["dir"] != "reply" || v["latency_ns"] != nil || synthesized {
						want = append(want, "nodeid")
					}
				}
				for _, k := range want {
					if _, ok := v[k]; !ok {
						t.Errorf("line %d lacks %q: %s", i+1, k, line)
					}
				}
			}
			golden.RequireEqual(t, out)
		})
	}
}

// TestGoldenHex pins the hex dump under each record: the readable
// annotation of the hex fixtures.
func TestGoldenHex(t *testing.T) {
	t.Run("realistic", testGoldenHex)
}

func testGoldenHex(t *testing.T) {
	b := decodetest.New()
	decodetest.Realistic(b)
	d := decode.NewDecoder(decode.Options{})
	f := &decode.Formatter{Time: decode.TimeUTC, Hex: true}
	var r decode.Record
	var out []byte
	for _, m := range b.Msgs {
		cr := capture.Record{Time: m.Time, Dir: m.Dir, Flags: m.Flags, Msg: m.Data, OrigLen: len(m.Data), Order: b.O}
		d.Decode(&cr, &r)
		out = f.AppendText(out, &r)
	}
	golden.RequireEqual(t, out)
}
