package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// TestCorrupt damages one block of a capture and checks the error: a
// *FormatError naming that block's offset, the right sentinel, and whether
// the reader can go on with the next block.
func TestCorrupt(t *testing.T) {
	const k = 5 // the damaged record
	for _, ord := range orders {
		o := ord.o.(appendOrder)
		var buf bytes.Buffer
		recs := fixtureRecords(o)
		writeRecords(t, &buf, o, 0, recs, false)
		whole := buf.Bytes()
		offs := recordOffsets(t, whole)
		at := int(offs[k])
		blen := int(o.Uint32(whole[at+4:]))
		idb := bytes.Index(whole, o.AppendUint32(nil, blockIDB)) // first IDB follows the SHB
		if idb < 0 || idb%4 != 0 {
			t.Fatalf("no interface block found")
		}
		idb = int(o.Uint32(whole[4:])) // the SHB's length is the IDB's offset

		cases := []struct {
			name   string
			damage func(b []byte)
			off    int   // offset the error must name
			is     error // sentinel the error must wrap, if any
			goesOn bool  // Next continues with record k+1
			inNew  bool  // NewReader already fails
		}{
			{"trailer", func(b []byte) { o.PutUint32(b[at+blen-4:], uint32(blen+4)) }, at, nil, false, false},
			{"length odd", func(b []byte) { o.PutUint32(b[at+4:], uint32(blen+1)) }, at, nil, false, false},
			{"length small", func(b []byte) { o.PutUint32(b[at+4:], 12) }, at, nil, false, false},
			{"length huge", func(b []byte) { o.PutUint32(b[at+4:], 0xfffffff0) }, at, nil, false, false},
			{"caplen past block", func(b []byte) { o.PutUint32(b[at+20:], uint32(blen)) }, at, nil, true, false},
			{"caplen short", func(b []byte) { o.PutUint32(b[at+20:], 5) }, at, ErrShort, true, false},
			{"interface", func(b []byte) { o.PutUint32(b[at+8:], 9) }, at, nil, true, false},
			{"version", func(b []byte) { b[at+28] = 2 }, at, ErrVersion, true, false},
			{"direction", func(b []byte) { b[at+29] = 0 }, at, ErrBadDir, true, false},
			{"section magic", func(b []byte) { copy(b[at:], []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4}) }, at, nil, false, false},
			{"link type", func(b []byte) { o.PutUint16(b[idb+8:], 1) }, idb, ErrNotFcap, false, true},
			{"tsresol", func(b []byte) {
				i := bytes.Index(b[idb:], append(o.AppendUint16(o.AppendUint16(nil, optIfTsresol), 1), 9))
				b[idb+i+4] = 64 // pcapgo divides by zero here
			}, idb, nil, false, true},
			{"option length", func(b []byte) { o.PutUint16(b[idb+18:], 0xfff0) }, idb, nil, false, true},
		}
		for _, c := range cases {
			for _, reuse := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/reuse=%v", ord.name, c.name, reuse), func(t *testing.T) {
					b := bytes.Clone(whole)
					c.damage(b)
					r, err := NewReader(bytes.NewReader(b), ReaderOptions{})
					if c.inNew {
						checkFormatError(t, err, c.off, c.is)
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					got, first := readAll(t, r, reuse)
					err = first
					if len(got) != k {
						t.Errorf("read %d records before the error, want %d", len(got), k)
					}
					checkFormatError(t, err, c.off, c.is)
					var rec Record
					err = r.NextInto(&rec)
					if !c.goesOn {
						if err != first {
							t.Errorf("after a framing error, NextInto: %v, want the error again", err)
						}
						return
					}
					if err != nil {
						t.Fatalf("after a record error, NextInto: %v", err)
					}
					sameRecord(t, k+1, rec, wantRecord(recs[k+1], 0, o))
				})
			}
		}
	}
}

func checkFormatError(t *testing.T, err error, off int, is error) {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T), want *FormatError", err, err)
	}
	if fe.Offset != int64(off) {
		t.Errorf("error %v names offset %d, want %d", err, fe.Offset, off)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error %v does not wrap %v", err, is)
	}
}

// TestMaxBlockSize checks that a block larger than the limit is refused
// before the reader buffers it.
func TestMaxBlockSize(t *testing.T) {
	var buf bytes.Buffer
	recs := sampleRecords(binary.LittleEndian) // one message is 70000 bytes
	writeRecords(t, &buf, binary.LittleEndian, 0, recs, false)
	r, err := NewReader(&buf, ReaderOptions{MaxBlockSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, r, true)
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("after %d records: %v, want *FormatError", len(got), err)
	}
	if len(got) >= len(recs) || len(got[len(got)-1].Msg) > 64<<10 {
		t.Errorf("read %d records", len(got))
	}
	if cap(r.buf) > 128<<10 {
		t.Errorf("buffer grew to %d bytes", cap(r.buf))
	}
}

// TestWriterFitsMaxBlockSize: a message too long for the reader's block
// limit is cut to fit and flagged, so the file stays readable after it.
func TestWriterFitsMaxBlockSize(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, DefaultMaxBlockSize+100)
	binary.NativeEndian.PutUint32(big, uint32(len(big)))
	for _, msg := range [][]byte{big, make([]byte, 40)} {
		if err := w.WriteMsg(time.Now(), 0, DirRequest, 0, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(&buf, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, r, false)
	if err != io.EOF || len(got) != 2 {
		t.Fatalf("read %d records, then %v; want 2, then EOF", len(got), err)
	}
	if g := got[0]; g.Flags&FlagTruncated == 0 || g.OrigLen != len(big) || len(g.Msg) >= len(big) {
		t.Errorf("long record: flags %v, %d of %d bytes; want it cut and flagged", g.Flags, len(g.Msg), g.OrigLen)
	}
}

// TestWriterRefusesOtherOrder: a record of a big-endian section cannot be
// copied into a little-endian capture as it is.
func TestWriterRefusesOtherOrder(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterOptions{ByteOrder: binary.LittleEndian})
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 40)
	if err := w.Write(&Record{Dir: DirRequest, Msg: msg, Order: binary.BigEndian}); !errors.Is(err, ErrByteOrder) {
		t.Errorf("big-endian record into a little-endian writer: %v, want ErrByteOrder", err)
	}
	if err := w.Write(&Record{Dir: DirRequest, Msg: msg, Order: binary.LittleEndian}); err != nil {
		t.Errorf("little-endian record: %v", err)
	}
	if err := w.Write(&Record{Dir: DirRequest, Msg: msg}); err != nil {
		t.Errorf("record of no stated order: %v", err)
	}
}
