package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzCaptureReader feeds arbitrary bytes to the reader: it must not panic,
// must return a record exactly when it returns no error, keep every record
// inside the input, fail only with io.EOF, a *FormatError or ErrNotFcap, and
// what it reads must survive a write and a second read unchanged.
func FuzzCaptureReader(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*/*.fcap")
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Records after a loss carry an epb_dropcount option.
	for _, ord := range orders {
		recs := sampleRecords(ord.o)
		for i := range recs {
			recs[i].Lost = uint64(i % 2)
		}
		var buf bytes.Buffer
		writeRecords(f, &buf, ord.o, 0, recs, true)
		f.Add(buf.Bytes())
		// And a file that ends with the total (a statistics block).
		buf.Reset()
		w, err := NewWriter(&buf, WriterOptions{ByteOrder: ord.o})
		if err != nil {
			f.Fatal(err)
		}
		w.Write(&Record{Dir: DirRequest, Msg: recs[0].Msg, Lost: 1})
		w.SetLost(0, 3)
		w.Close()
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), ReaderOptions{})
		if err != nil {
			checkReadError(t, err)
			return
		}
		var recs []Record
		var rec Record
		last := int64(-1)
		for i := 0; ; i++ {
			if i > len(data)/12+2 {
				t.Fatalf("%d records from %d bytes: the reader does not advance", i, len(data))
			}
			var err error
			if i%2 == 0 {
				var p *Record
				p, err = r.Next()
				if (p == nil) == (err == nil) {
					t.Fatalf("Next returned record %v and error %v", p, err)
				}
				if p != nil {
					rec = *p
				}
			} else {
				err = r.NextInto(&rec)
			}
			if err == io.EOF {
				if _, again := r.Next(); again != io.EOF {
					t.Fatalf("Next after io.EOF: %v", again)
				}
				break
			}
			if err != nil {
				checkReadError(t, err)
				var fe *FormatError
				if errors.As(err, &fe) && (fe.Offset < 0 || fe.Offset >= int64(len(data))) {
					t.Fatalf("error offset %d outside %d bytes", fe.Offset, len(data))
				}
				if again := r.NextInto(&rec); again == err {
					break // sticky: the framing is broken
				}
				continue
			}
			if rec.Offset <= last || rec.Offset+epbMinSize+int64(len(rec.Msg)) > int64(len(data)) {
				t.Fatalf("record at offset %d (previous %d), %d bytes, in %d bytes of input", rec.Offset, last, len(rec.Msg), len(data))
			}
			last = rec.Offset
			if !rec.Dir.Valid() || rec.OrigLen < len(rec.Msg) || rec.Order == nil ||
				rec.Iface < 0 || rec.Iface >= len(r.Interfaces()) {
				t.Fatalf("bad record %+v", rec)
			}
			c := rec
			c.Msg = bytes.Clone(rec.Msg)
			recs = append(recs, c)
		}
		roundTrip(t, r.Interfaces(), recs)
	})
}

func checkReadError(t *testing.T, err error) {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) && !errors.Is(err, ErrNotFcap) {
		t.Fatalf("error %v (%T) is neither *FormatError nor ErrNotFcap", err, err)
	}
}

// roundTrip writes recs and reads them back; they must not change, except
// that a record whose original length exceeds its message gains
// FlagTruncated, and times the format cannot hold are not compared.
func roundTrip(t *testing.T, ifaces []Interface, recs []Record) {
	if len(recs) == 0 || len(ifaces) == 0 {
		return
	}
	for _, r := range recs[1:] {
		if r.Order != recs[0].Order {
			return // one section per writer
		}
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterOptions{Interfaces: ifaces, ByteOrder: recs[0].Order})
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
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
	lo, hi := time.Unix(0, 0), time.Unix(0, 1<<63-1)
	for i, want := range recs {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("reread record %d: %v", i, err)
		}
		if want.OrigLen > len(want.Msg) {
			want.Flags |= FlagTruncated
		}
		if want.Time.Before(lo) || want.Time.After(hi) {
			got.Time = want.Time
		}
		got.Offset = want.Offset
		sameRecord(t, i, *got, want)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("reread: %v after the last record", err)
	}
	if got := r.Interfaces(); len(got) != len(ifaces) {
		t.Fatalf("reread %d interfaces, wrote %d", len(got), len(ifaces))
	}
}

// TestFuzzSeedsBothOrders makes sure the seed corpus covers both byte
// orders, so the fuzzer starts from each.
func TestFuzzSeedsBothOrders(t *testing.T) {
	for _, ord := range orders {
		b, err := os.ReadFile(filepath.Join("testdata", ord.name, "sample.fcap"))
		if err != nil {
			t.Fatal(err)
		}
		if o := orderOf(b[8:12]); o != ord.o {
			t.Errorf("testdata/%s/sample.fcap is %v", ord.name, o)
		}
	}
}
