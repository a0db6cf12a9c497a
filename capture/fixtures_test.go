package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/pcapgo"
)

var update = flag.Bool("update", false, "rewrite the capture files under testdata/{le,be}")

// fixtureSnapLen is the snap length of the testdata captures.
const fixtureSnapLen = 64

// fixtureRecords are the records of testdata/{le,be}/sample.fcap: the
// sample records without the large one, to keep fuzz seeds small.
func fixtureRecords(o binary.ByteOrder) []Record {
	var recs []Record
	for _, r := range sampleRecords(o) {
		if len(r.Msg) < 1000 {
			recs = append(recs, r)
		}
	}
	return recs
}

// fixture is one file under testdata/{le,be}: the first keep records of
// the sample are whole in it.
type fixture struct {
	name      string
	keep      int
	truncated bool
}

// fixtures returns the files of one byte order and their contents: the
// whole sample, and the sample cut inside a block header and inside a
// block's data, as a killed writer leaves it.
func fixtures(t testing.TB, o binary.ByteOrder) ([]fixture, [][]byte) {
	var buf bytes.Buffer
	recs := fixtureRecords(o)
	writeRecords(t, &buf, o, fixtureSnapLen, recs, false)
	whole := buf.Bytes()
	offs := recordOffsets(t, whole)
	n := len(recs)
	return []fixture{
			{"sample.fcap", n, false},
			{"cut-header.fcap", n - 1, true},
			{"cut-data.fcap", n - 2, true},
		}, [][]byte{
			whole,
			whole[:offs[n-1]+5],
			whole[:offs[n-2]+30],
		}
}

// recordOffsets reads b and returns the offset of each record's block.
func recordOffsets(t testing.TB, b []byte) []int64 {
	t.Helper()
	r, err := NewReader(bytes.NewReader(b), ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	var rec Record
	for {
		if err := r.NextInto(&rec); err == io.EOF {
			return offs
		} else if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, rec.Offset)
	}
}

// TestFixtures checks that the testdata captures are what the writer
// writes today (so a format change shows up as a diff) and reads each of
// them in both modes. go test ./capture -update rewrites them.
func TestFixtures(t *testing.T) {
	for _, ord := range orders {
		fxs, data := fixtures(t, ord.o)
		for i, fx := range fxs {
			path := filepath.Join("testdata", ord.name, fx.name)
			if *update {
				if err := os.WriteFile(path, data[i], 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data[i]) {
				t.Errorf("%s differs from what the writer writes now (go test ./capture -update to rewrite)", path)
			}
			for _, reuse := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/reuse=%v", ord.name, fx.name, reuse), func(t *testing.T) {
					r, err := Open(path)
					if err != nil {
						t.Fatal(err)
					}
					defer r.Close()
					recs, err := readAll(t, r, reuse)
					if err != io.EOF {
						t.Fatalf("read: %v", err)
					}
					if len(recs) != fx.keep {
						t.Fatalf("read %d records, want %d", len(recs), fx.keep)
					}
					want := fixtureRecords(ord.o)
					for j := range recs {
						sameRecord(t, j, recs[j], wantRecord(want[j], fixtureSnapLen, ord.o))
					}
					if r.Truncated() != fx.truncated {
						t.Errorf("Truncated() = %v, want %v", r.Truncated(), fx.truncated)
					}
				})
			}
		}
	}
}

// TestAgreesWithPcapgo reads the same files with pcapgo's NgReader: packets,
// timestamps and interfaces must agree.
func TestAgreesWithPcapgo(t *testing.T) {
	for _, ord := range orders {
		t.Run(ord.name, func(t *testing.T) {
			var buf bytes.Buffer
			writeSample(t, &buf, ord.o, 0)
			ng, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.NgReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r, err := NewReader(bytes.NewReader(buf.Bytes()), ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var rec Record
			n := 0
			for ; ; n++ {
				data, ci, ngErr := ng.ReadPacketData()
				err := r.NextInto(&rec)
				if ngErr == io.EOF && err == io.EOF {
					break
				}
				if ngErr != nil || err != nil {
					t.Fatalf("packet %d: pcapgo: %v, capture: %v", n, ngErr, err)
				}
				want := AppendPseudoHeader(nil, rec.Dir, rec.Flags, rec.Order)
				want = append(want, rec.Msg...)
				if !bytes.Equal(data, want) || !ci.Timestamp.Equal(rec.Time) ||
					ci.InterfaceIndex != rec.Iface || ci.Length != rec.OrigLen+PseudoHeaderSize {
					t.Errorf("packet %d differs: pcapgo %v, capture iface %d time %v orig %d", n, ci, rec.Iface, rec.Time, rec.OrigLen)
				}
			}
			for i := range ng.NInterfaces() {
				in, _ := ng.Interface(i)
				if got := r.Interfaces()[i]; got.Name != in.Name || got.Description != in.Description {
					t.Errorf("interface %d: pcapgo %q %q, capture %q", i, in.Name, in.Description, got)
				}
				if in.TimestampResolution != 9 || in.LinkType != linkTypeUser0 {
					t.Errorf("interface %d: resolution %d, link type %d", i, in.TimestampResolution, in.LinkType)
				}
			}
			if n != len(sampleRecords(ord.o)) {
				t.Errorf("read %d packets", n)
			}
		})
	}
}

// TestEPBMatchesPcapgo pins the writer to pcapgo: in little endian, the
// Writer (pcapgo for the section and interfaces, appendEPB for packets) and
// the writer's own encoder for everything must both produce exactly the
// bytes of a file written with pcapgo.NgWriter alone.
func TestEPBMatchesPcapgo(t *testing.T) {
	for _, snap := range []int{0, 100} {
		recs := sampleRecords(binary.LittleEndian)
		var ref bytes.Buffer
		writePcapgo(t, &ref, snap, recs)
		for _, raw := range []bool{false, true} {
			var got bytes.Buffer
			writeRecords(t, &got, binary.LittleEndian, snap, recs, raw)
			if !bytes.Equal(got.Bytes(), ref.Bytes()) {
				i := 0
				for i < min(got.Len(), ref.Len()) && got.Bytes()[i] == ref.Bytes()[i] {
					i++
				}
				t.Errorf("snap %d, raw %v: differs from pcapgo at byte %d (lengths %d, %d)", snap, raw, i, got.Len(), ref.Len())
			}
		}
	}
}

// writePcapgo writes what writeRecords writes, with pcapgo.NgWriter only.
func writePcapgo(t *testing.T, w io.Writer, snapLen int, recs []Record) {
	t.Helper()
	idbSnap := uint32(0)
	if snapLen > 0 {
		idbSnap = uint32(snapLen + PseudoHeaderSize)
	}
	ng, err := pcapgo.NewNgWriterInterface(w, ngInterface(sampleIfaces[0], idbSnap),
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: application}})
	if err != nil {
		t.Fatal(err)
	}
	for _, intf := range sampleIfaces[1:] {
		if _, err := ng.AddInterface(ngInterface(intf, idbSnap)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range recs {
		msg, flags := r.Msg, r.Flags
		orig := max(r.OrigLen, len(msg))
		if snapLen > 0 && len(msg) > snapLen {
			msg = msg[:snapLen]
		}
		if orig > len(msg) {
			flags |= FlagTruncated
		}
		data := append(AppendPseudoHeader(nil, r.Dir, flags, binary.LittleEndian), msg...)
		ts := time.Unix(0, 0)
		if ns := r.Time.UnixNano(); ns > 0 && !r.Time.IsZero() {
			ts = time.Unix(0, ns)
		}
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: orig + PseudoHeaderSize, InterfaceIndex: r.Iface}
		if err := ng.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := ng.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestEveryTruncation cuts a capture at every byte: the reader returns the
// records whole before the cut, then io.EOF, and Truncated says whether the
// cut fell inside a block. Sources that return little at a time exercise the
// reader's buffering.
func TestEveryTruncation(t *testing.T) {
	sources := map[string]func(io.Reader) io.Reader{
		"whole":   func(r io.Reader) io.Reader { return r },
		"onebyte": iotest.OneByteReader,
		"dataerr": iotest.DataErrReader,
	}
	for _, ord := range orders {
		var buf bytes.Buffer
		recs := fixtureRecords(ord.o)
		writeRecords(t, &buf, ord.o, 0, recs, false)
		whole := buf.Bytes()
		offs := recordOffsets(t, whole)
		// Block boundaries: the reader never reports truncation there.
		bounds := map[int]bool{}
		for o := 0; o < len(whole); {
			bounds[o] = true
			o += int(ord.o.Uint32(whole[o+4:]))
		}
		for name, src := range sources {
			for _, reuse := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/reuse=%v", ord.name, name, reuse), func(t *testing.T) {
					for cut := 1; cut <= len(whole); cut++ {
						r, err := NewReader(src(bytes.NewReader(whole[:cut])), ReaderOptions{})
						if err != nil {
							t.Fatalf("cut %d: NewReader: %v", cut, err)
						}
						got, err := readAll(t, r, reuse)
						if err != io.EOF {
							t.Fatalf("cut %d: after %d records: %v", cut, len(got), err)
						}
						want := 0
						for i, o := range offs {
							end := int(o) + int(ord.o.Uint32(whole[o+4:]))
							if end <= cut {
								want = i + 1
							}
						}
						if len(got) != want {
							t.Fatalf("cut %d: read %d records, want %d", cut, len(got), want)
						}
						for i := range got {
							sameRecord(t, i, got[i], wantRecord(recs[i], 0, ord.o))
						}
						if r.Truncated() == (bounds[cut] || cut == len(whole)) {
							t.Errorf("cut %d: Truncated() = %v", cut, r.Truncated())
						}
					}
				})
			}
		}
	}
}

func TestNotFcap(t *testing.T) {
	var classic bytes.Buffer
	pw := pcapgo.NewWriter(&classic)
	if err := pw.WriteFileHeader(65536, 1); err != nil {
		t.Fatal(err)
	}
	var ether bytes.Buffer
	ng, err := pcapgo.NewNgWriter(&ether, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := ng.Flush(); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"empty":        nil,
		"text":         []byte("hello, this is not a capture file\n"),
		"short text":   []byte("he"),
		"pcap":         classic.Bytes(),
		"ethernet":     ether.Bytes(),
		"bad magic":    append([]byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4}, make([]byte, 16)...),
		"pcapng major": pcapngMajor2(t),
	} {
		_, err := NewReader(bytes.NewReader(b), ReaderOptions{})
		if !errors.Is(err, ErrNotFcap) {
			t.Errorf("%s: NewReader: %v, want ErrNotFcap", name, err)
		}
	}
}

// pcapngMajor2 is the sample with section version 2.0.
func pcapngMajor2(t *testing.T) []byte {
	var buf bytes.Buffer
	writeSample(t, &buf, binary.LittleEndian, 0)
	b := buf.Bytes()
	binary.LittleEndian.PutUint16(b[12:], 2)
	return b
}

// TestConcatenatedSections reads two captures of different byte orders
// concatenated with cat: one stream of two sections, interfaces numbered
// across both, each record with its own section's byte order.
func TestConcatenatedSections(t *testing.T) {
	var b []byte
	for _, ord := range orders {
		f, err := os.ReadFile(filepath.Join("testdata", ord.name, "sample.fcap"))
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, f...)
	}
	r, err := NewReader(bytes.NewReader(b), ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, r, true)
	if err != io.EOF {
		t.Fatal(err)
	}
	var want []Record
	for k, ord := range orders {
		for _, rec := range fixtureRecords(ord.o) {
			w := wantRecord(rec, fixtureSnapLen, ord.o)
			w.Iface += k * len(sampleIfaces)
			want = append(want, w)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range got {
		sameRecord(t, i, got[i], want[i])
	}
	if n := len(r.Interfaces()); n != 2*len(sampleIfaces) {
		t.Errorf("%d interfaces, want %d", n, 2*len(sampleIfaces))
	}
}
