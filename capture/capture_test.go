package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var orders = []struct {
	name string
	o    binary.ByteOrder
}{{"le", binary.LittleEndian}, {"be", binary.BigEndian}}

// sampleIfaces are the interfaces of sample captures.
var sampleIfaces = []Interface{
	{Name: "/mnt/a", Description: "squashfuse -f img.sqfs /mnt/a"},
	{Name: "replay"},
	{Name: "client", Description: "x"},
}

// sampleRecords returns records covering every direction, every flag and
// several interfaces, with messages in byte order o; one is longer than
// snapLen when snapLen > 0.
func sampleRecords(o binary.ByteOrder) []Record {
	t0 := time.Date(2026, 11, 21, 19, 0, 0, 123456789, time.UTC)
	msg := func(n int, op uint32, unique uint64) []byte {
		b := make([]byte, n)
		o.PutUint32(b, uint32(n))
		o.PutUint32(b[4:], op)
		o.PutUint64(b[8:], unique)
		for i := 16; i < n; i++ {
			b[i] = byte(i)
		}
		return b
	}
	var recs []Record
	dirs := []Dir{DirRequest, DirReply, DirNotify}
	flagSets := []Flags{0, FlagSynthesized, FlagInjected, FlagSynthesized | FlagInjected, 0x8000}
	i := 0
	for _, d := range dirs {
		for _, f := range flagSets {
			n := 40 + 3*i // odd sizes exercise block padding
			recs = append(recs, Record{
				Time:  t0.Add(time.Duration(i) * 1001 * time.Microsecond),
				Iface: i % len(sampleIfaces),
				Dir:   d,
				Flags: f,
				Msg:   msg(n, uint32(i+1), uint64(2*i)),
			})
			i++
		}
	}
	// A big WRITE-like request and an empty message.
	recs = append(recs, Record{Time: t0.Add(time.Second), Iface: 2, Dir: DirRequest, Msg: msg(70000, 16, 99)})
	recs = append(recs, Record{Time: t0.Add(2 * time.Second), Iface: 0, Dir: DirReply, Msg: []byte{}})
	return recs
}

// wantRecord is what reading back r written with snapLen must give.
func wantRecord(r Record, snapLen int, o binary.ByteOrder) Record {
	w := r
	w.OrigLen = len(r.Msg)
	w.Order = o
	if snapLen > 0 && len(r.Msg) > snapLen {
		w.Msg = r.Msg[:snapLen]
		w.Flags |= FlagTruncated
	}
	return w
}

func writeSample(t testing.TB, w io.Writer, o binary.ByteOrder, snapLen int) []Record {
	t.Helper()
	recs := sampleRecords(o)
	writeRecords(t, w, o, snapLen, recs, false)
	return recs
}

// writeRecords writes recs on the sample interfaces; raw forces the
// writer's own encoder instead of pcapgo's for little-endian.
func writeRecords(t testing.TB, w io.Writer, o binary.ByteOrder, snapLen int, recs []Record, raw bool) {
	t.Helper()
	wr, err := newWriter(w, WriterOptions{Interfaces: sampleIfaces[:1], SnapLen: snapLen, ByteOrder: o}, raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, intf := range sampleIfaces[1:] {
		if _, err := wr.AddInterface(intf); err != nil {
			t.Fatal(err)
		}
	}
	for i := range recs {
		if err := wr.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
}

func sameRecord(t testing.TB, i int, got, want Record) {
	t.Helper()
	if !got.Time.Equal(want.Time) || got.Iface != want.Iface || got.Dir != want.Dir ||
		got.Flags != want.Flags || got.OrigLen != want.OrigLen || got.Order != want.Order ||
		got.Lost != want.Lost || !bytes.Equal(got.Msg, want.Msg) {
		t.Errorf("record %d:\n got %v %d %v %v len=%d orig=%d %v lost=%d\nwant %v %d %v %v len=%d orig=%d %v lost=%d", i,
			got.Time, got.Iface, got.Dir, got.Flags, len(got.Msg), got.OrigLen, got.Order, got.Lost,
			want.Time, want.Iface, want.Dir, want.Flags, len(want.Msg), want.OrigLen, want.Order, want.Lost)
	}
}

// readAll reads every record with Next (reuse false) or NextInto (reuse
// true); it copies reused messages so the results can be compared.
func readAll(t testing.TB, r *Reader, reuse bool) ([]Record, error) {
	t.Helper()
	var out []Record
	var rec Record
	for {
		var err error
		if reuse {
			err = r.NextInto(&rec)
		} else {
			var p *Record
			p, err = r.Next()
			if err == nil {
				rec = *p
			} else if p != nil {
				t.Fatalf("Next returned a record and %v", err)
			}
		}
		if err != nil {
			return out, err
		}
		c := rec
		c.Msg = bytes.Clone(rec.Msg)
		out = append(out, c)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, ord := range orders {
		for _, snap := range []int{0, 64} {
			for _, reuse := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/snap%d/reuse=%v", ord.name, snap, reuse), func(t *testing.T) {
					var buf bytes.Buffer
					recs := writeSample(t, &buf, ord.o, snap)
					r, err := NewReader(bytes.NewReader(buf.Bytes()), ReaderOptions{})
					if err != nil {
						t.Fatal(err)
					}
					got, err := readAll(t, r, reuse)
					if err != io.EOF {
						t.Fatalf("read: %v", err)
					}
					if r.Truncated() {
						t.Error("Truncated() true on a whole file")
					}
					if len(got) != len(recs) {
						t.Fatalf("read %d records, wrote %d", len(got), len(recs))
					}
					var last int64
					for i := range recs {
						sameRecord(t, i, got[i], wantRecord(recs[i], snap, ord.o))
						if got[i].Offset <= last {
							t.Errorf("record %d: offset %d not after %d", i, got[i].Offset, last)
						}
						last = got[i].Offset
						if l := ord.o.Uint32(buf.Bytes()[got[i].Offset+4:]); ord.o.Uint32(buf.Bytes()[got[i].Offset:]) != blockEPB || l < epbMinSize {
							t.Errorf("record %d: offset %d is not an EPB", i, got[i].Offset)
						}
					}
					if ifs := r.Interfaces(); fmt.Sprint(ifs) != fmt.Sprint(sampleIfaces) {
						t.Errorf("Interfaces() = %q, want %q", ifs, sampleIfaces)
					}
				})
			}
		}
	}
}

func TestNewWriterDefaults(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if w.ByteOrder() != hostOrder() {
		t.Errorf("ByteOrder() = %v, want host order %v", w.ByteOrder(), hostOrder())
	}
	// The header goes out at once, for a live reader.
	headerLen := buf.Len()
	if headerLen == 0 {
		t.Fatal("NewWriter wrote nothing")
	}
	if err := w.WriteMsg(time.Unix(5, 6), 0, DirRequest, 0, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != headerLen {
		t.Error("Write did not buffer")
	}
	if err := w.WriteMsg(time.Unix(5, 6), 1, DirRequest, 0, nil); err == nil {
		t.Error("Write to interface 1 of 1 succeeded")
	}
	if err := w.WriteMsg(time.Unix(5, 6), 0, 7, 0, nil); !errors.Is(err, ErrBadDir) {
		t.Errorf("Write with direction 7: %v, want ErrBadDir", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMsg(time.Unix(5, 6), 0, DirRequest, 0, nil); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v, want os.ErrClosed", err)
	}
	r, err := NewReader(&buf, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Interfaces(); len(got) != 1 || got[0] != DefaultInterface {
		t.Errorf("Interfaces() = %q, want [%q]", got, DefaultInterface)
	}
	rec, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Msg) != "abc" || !rec.Time.Equal(time.Unix(5, 6)) {
		t.Errorf("got %q at %v", rec.Msg, rec.Time)
	}
}

// createOne writes a capture of one record to path with Create.
func createOne(t *testing.T, path string) {
	t.Helper()
	w, err := Create(path, WriterOptions{Interfaces: []Interface{{Name: "/mnt"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMsg(time.Now(), 0, DirRequest, 0, []byte("0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCreateMode(t *testing.T) {
	dir := t.TempDir()
	for _, pre := range []bool{false, true} {
		path := filepath.Join(dir, fmt.Sprintf("s%v.fcap", pre))
		if pre {
			// An existing world-readable file must not stay so.
			if err := os.WriteFile(path, []byte("old contents, longer than nothing"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		createOne(t, path)
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("existing=%v: mode %v, want 0600", pre, st.Mode().Perm())
		}
		r, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := readAll(t, r, true)
		if err != io.EOF || len(recs) != 1 {
			t.Errorf("existing=%v: read %d records, %v", pre, len(recs), err)
		}
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestLost writes records after which others were lost: each carries its
// count in an epb_dropcount option, which the Reader returns and tshark
// reads, in both byte orders and through both write paths (a message from
// directMin bytes goes to a file by writev from where it lies).
func TestLost(t *testing.T) {
	for _, ord := range orders {
		t.Run(ord.name, func(t *testing.T) {
			recs := sampleRecords(ord.o)
			for i := range recs {
				if i%3 == 1 || len(recs[i].Msg) >= directMin {
					recs[i].Lost = uint64(i)<<32 | 7
				}
			}
			path := filepath.Join(t.TempDir(), "s.fcap")
			f, err := os.Create(path) // a regular file: the writev path
			if err != nil {
				t.Fatal(err)
			}
			writeRecords(t, f, ord.o, 0, recs, false)
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := readAll(t, r, true)
			if err != io.EOF || len(got) != len(recs) {
				t.Fatalf("read %d records of %d: %v", len(got), len(recs), err)
			}
			var drops strings.Builder
			for i := range recs {
				sameRecord(t, i, got[i], wantRecord(recs[i], 0, ord.o))
				if recs[i].Lost != 0 {
					fmt.Fprint(&drops, recs[i].Lost)
				}
				drops.WriteByte('\n')
			}
			tshark, err := exec.LookPath("tshark")
			if err != nil {
				return // the tools test says why it skips
			}
			out, err := exec.Command(tshark, "-r", path, "-T", "fields", "-e", "frame.drop_count").Output()
			if err != nil {
				t.Fatalf("tshark: %v\n%s", err, stderrOf(err))
			}
			if string(out) != drops.String() {
				t.Errorf("tshark's frame.drop_count:\n%s\nwant:\n%s", out, drops.String())
			}
		})
	}
}

// TestLostTotal: SetLost's totals come back from Reader.Lost once the
// statistics blocks Close writes are read, in both byte orders; an
// interface without one reports 0.
func TestLostTotal(t *testing.T) {
	for _, ord := range orders {
		t.Run(ord.name, func(t *testing.T) {
			recs := sampleRecords(ord.o)
			recs[len(recs)-1].Lost = 3
			var buf bytes.Buffer
			wr, err := NewWriter(&buf, WriterOptions{Interfaces: sampleIfaces, ByteOrder: ord.o})
			if err != nil {
				t.Fatal(err)
			}
			for i := range recs {
				if err := wr.Write(&recs[i]); err != nil {
					t.Fatal(err)
				}
			}
			wr.SetLost(2, 1<<40)
			wr.SetLost(0, 5) // 3 marked, 2 after the last record
			if err := wr.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := NewReader(bytes.NewReader(buf.Bytes()), ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, r, false)
			if err != io.EOF || len(got) != len(recs) {
				t.Fatalf("read %d records of %d: %v", len(got), len(recs), err)
			}
			for iface, want := range []uint64{5, 0, 1 << 40} {
				if n := r.Lost(iface); n != want {
					t.Errorf("Lost(%d) = %d, want %d", iface, n, want)
				}
			}
			if got[len(got)-1].Lost != 3 {
				t.Errorf("last record lost %d, want 3", got[len(got)-1].Lost)
			}
		})
	}
}
