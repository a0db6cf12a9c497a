package decode_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/pcapgo"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
	"github.com/fusectl/fusectl/decode/decodetest"
)

// fcapBytes writes a built session as an .fcap stream.
func fcapBytes(t *testing.T, o binary.ByteOrder, build func(b *decodetest.Builder)) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := capture.NewWriter(&buf, capture.WriterOptions{ByteOrder: o, SnapLen: 256})
	if err != nil {
		t.Fatal(err)
	}
	b := decodetest.New()
	b.O = o.(abi.ByteOrder)
	build(b)
	if err := decodetest.Write(w, 0, b.Msgs); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestLayerDecodingLayerParser reads .fcap packets with pcapgo and
// decodes them through gopacket's DecodingLayerParser, in both byte
// orders, with the order detected from the messages.
func TestLayerDecodingLayerParser(t *testing.T) {
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		t.Run(o.String(), func(t *testing.T) {
			data := fcapBytes(t, o, func(b *decodetest.Builder) {
				decodetest.AllOps(b, 45)
				// A WRITE longer than the snap length.
				b.Request(abi.FUSE_WRITE, 3, &abi.WriteIn{Fh: 1, Size: 1000}, decodetest.Data(1000))
			})
			ng, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
			if err != nil {
				t.Fatal(err)
			}
			var fuse decode.FUSE
			parser := gopacket.NewDecodingLayerParser(decode.LayerTypeFUSE, &fuse)
			decoded := make([]gopacket.LayerType, 0, 1)
			var requests, replies, notifies, truncated int
			for {
				pkt, _, err := ng.ZeroCopyReadPacketData()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				fuse.ByteOrder = nil
				if err := parser.DecodeLayers(pkt, &decoded); err != nil && fuse.Record.Op != 99 {
					t.Fatalf("decode %v %v: %v", fuse.Dir, fuse.Record.OpName(), err)
				}
				if len(decoded) != 1 || decoded[0] != decode.LayerTypeFUSE {
					t.Fatalf("decoded layers %v", decoded)
				}
				if fuse.ByteOrder != o {
					t.Fatalf("detected %v, want %v", fuse.ByteOrder, o)
				}
				if parser.Truncated {
					// Cut at the snap length: the WRITE and the two replies
					// longer than 256 bytes (READDIRPLUS and STATX).
					truncated++
					if !fuse.Record.Truncated || fuse.Record.Malformed != nil {
						t.Errorf("truncated %v %v: %v", fuse.Dir, fuse.Record.OpName(), fuse.Record.Malformed)
					}
				}
				switch fuse.Dir {
				case capture.DirRequest:
					requests++
					if fuse.Record.Op == 0 {
						t.Errorf("request without opcode")
					}
				case capture.DirReply:
					replies++
				case capture.DirNotify:
					notifies++
				}
			}
			if requests < 60 || replies < 55 || notifies != 10 || truncated != 3 {
				t.Errorf("requests %d replies %d notifies %d truncated %d", requests, replies, notifies, truncated)
			}
		})
	}
}

func TestLayerNewPacket(t *testing.T) {
	b := decodetest.New()
	u := b.Request(abi.FUSE_LOOKUP, 1, decodetest.Name("a.txt"))
	_ = u
	pkt := capture.AppendPseudoHeader(nil, capture.DirRequest, 0, binary.LittleEndian)
	pkt = append(pkt, b.Msgs[0].Data...)
	p := gopacket.NewPacket(pkt, decode.LayerTypeFUSE, gopacket.Default)
	l, ok := p.Layer(decode.LayerTypeFUSE).(*decode.FUSE)
	if !ok {
		t.Fatalf("no FUSE layer: %v", p.ErrorLayer())
	}
	if l.Record.Op != abi.FUSE_LOOKUP || string(l.Record.Name) != "a.txt" {
		t.Errorf("decoded %v %q", l.Record.Op, l.Record.Name)
	}
}

// TestLayerNoAllocs checks the DecodingLayer contract: no allocation in
// the steady state.
func TestLayerNoAllocs(t *testing.T) {
	b := decodetest.New()
	decodetest.Realistic(b)
	var pkts [][]byte
	for _, m := range b.Msgs {
		pkt := capture.AppendPseudoHeader(nil, m.Dir, m.Flags, binary.LittleEndian)
		pkts = append(pkts, append(pkt, m.Data...))
	}
	var f decode.FUSE
	f.ByteOrder = binary.LittleEndian
	allocs := testing.AllocsPerRun(10, func() {
		for _, p := range pkts {
			f.DecodeFromBytes(p, gopacket.NilDecodeFeedback)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run", allocs)
	}
}
