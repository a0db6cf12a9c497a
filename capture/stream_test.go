package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"
)

// endless is an io.Reader of an fcap stream that never ends: a header, then
// the same run of packet blocks over and over. It allocates nothing per
// read, so benchmarks measure the reader alone.
type endless struct {
	head, body []byte
	pos        int // in head, then in body (pos-len(head), cyclic)
}

// newEndless returns an endless stream of typical records: requests and
// replies of a metadata workload, with a READ reply now and then.
func newEndless(tb testing.TB, o binary.ByteOrder) *endless {
	var head, body bytes.Buffer
	w, err := NewWriter(&head, WriterOptions{Interfaces: []Interface{{Name: "/mnt", Description: "srv"}}, ByteOrder: o})
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	w.w = &body // records go to the body, to be repeated
	t0 := time.Unix(1_800_000_000, 0)
	sizes := []struct {
		dir Dir
		n   int
	}{{DirRequest, 40 + 6}, {DirReply, 16 + 128}, {DirRequest, 40 + 16}, {DirReply, 16 + 104}, {DirRequest, 40 + 24}, {DirReply, 16 + 4096}}
	for i := range 512 {
		s := sizes[i%len(sizes)]
		msg := make([]byte, s.n)
		o.PutUint32(msg, uint32(s.n))
		if err := w.WriteMsg(t0.Add(time.Duration(i)*time.Microsecond), 0, s.dir, 0, msg); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return &endless{head: head.Bytes(), body: body.Bytes()}
}

func (e *endless) Read(p []byte) (int, error) {
	if e.pos < len(e.head) {
		n := copy(p, e.head[e.pos:])
		e.pos += n
		return n, nil
	}
	n := 0
	for n < len(p) {
		i := (e.pos - len(e.head)) % len(e.body)
		c := copy(p[n:], e.body[i:])
		n += c
		e.pos += c
	}
	return n, nil
}

// BenchmarkReaderEndless reads records from a stream that never ends, with
// NextInto (the decode path) and with Next.
func BenchmarkReaderEndless(b *testing.B) {
	for _, ord := range orders {
		for _, mode := range []string{"NextInto", "Next"} {
			b.Run(ord.name+"/"+mode, func(b *testing.B) {
				src := newEndless(b, ord.o)
				r, err := NewReader(src, ReaderOptions{})
				if err != nil {
					b.Fatal(err)
				}
				var rec Record
				var bytes int64
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if mode == "Next" {
						p, err := r.Next()
						if err != nil {
							b.Fatal(err)
						}
						bytes += int64(len(p.Msg))
					} else {
						if err := r.NextInto(&rec); err != nil {
							b.Fatal(err)
						}
						bytes += int64(len(rec.Msg))
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
				b.SetBytes(bytes / int64(b.N))
			})
		}
	}
}

// BenchmarkPcapgoEndless reads the same stream with pcapgo's NgReader
// (ZeroCopyReadPacketData, its fastest mode) as a yardstick for
// BenchmarkReaderEndless.
func BenchmarkPcapgoEndless(b *testing.B) {
	for _, ord := range orders {
		b.Run(ord.name, func(b *testing.B) {
			ng, err := pcapgo.NewNgReader(newEndless(b, ord.o), pcapgo.NgReaderOptions{})
			if err != nil {
				b.Fatal(err)
			}
			var bytes int64
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				data, _, err := ng.ZeroCopyReadPacketData()
				if err != nil {
					b.Fatal(err)
				}
				bytes += int64(len(data) - PseudoHeaderSize)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.SetBytes(bytes / int64(b.N))
		})
	}
}

// BenchmarkWriter writes typical records to io.Discard: metadata-sized
// ones and READ replies of the interposer's clamped size (14 pages).
func BenchmarkWriter(b *testing.B) {
	for _, ord := range orders {
		for _, size := range []int{120, 14*4096 + 16} {
			b.Run(fmt.Sprintf("%s/%d", ord.name, size), func(b *testing.B) {
				w, err := NewWriter(io.Discard, WriterOptions{ByteOrder: ord.o})
				if err != nil {
					b.Fatal(err)
				}
				msg := make([]byte, size)
				t0 := time.Now()
				b.ReportAllocs()
				b.SetBytes(int64(len(msg)))
				for i := range b.N {
					if err := w.WriteMsg(t0, 0, Dir(i%2+1), 0, msg); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// TestNextIntoNoAlloc checks that NextInto allocates nothing in the steady
// state, and that reading hundreds of MiB keeps the reader's buffer as it
// was: memory does not depend on the stream's length.
func TestNextIntoNoAlloc(t *testing.T) {
	for _, ord := range orders {
		t.Run(ord.name, func(t *testing.T) {
			r, err := NewReader(newEndless(t, ord.o), ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var rec Record
			for range 1000 { // rec.Msg grows to the largest message
				if err := r.NextInto(&rec); err != nil {
					t.Fatal(err)
				}
			}
			if a := testing.AllocsPerRun(10000, func() {
				if err := r.NextInto(&rec); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("NextInto: %v allocations per record", a)
			}
			n := 200_000
			if testing.Short() {
				n = 20_000
			}
			bufLen := len(r.buf)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range n {
				if err := r.NextInto(&rec); err != nil {
					t.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			if len(r.buf) != bufLen {
				t.Errorf("buffer grew from %d to %d bytes", bufLen, len(r.buf))
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
				t.Errorf("%d records allocated %d bytes", n, d)
			}
		})
	}
}

// recordingWriter keeps the size of each Write call.
type recordingWriter struct {
	bytes.Buffer
	writes []int
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return w.Buffer.Write(p)
}

// TestWriterWholeBlocks checks that every write to the underlying writer
// ends on a block boundary, whether it comes from Flush or from the buffer
// filling up, so that a killed writer leaves only whole blocks behind.
func TestWriterWholeBlocks(t *testing.T) {
	for _, ord := range orders {
		t.Run(ord.name, func(t *testing.T) {
			var rw recordingWriter
			w, err := NewWriter(&rw, WriterOptions{ByteOrder: ord.o})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3000 {
				msg := make([]byte, 16+(i*7919)%9000)
				if err := w.WriteMsg(time.Unix(int64(i), 0), 0, DirReply, 0, msg); err != nil {
					t.Fatal(err)
				}
				if i%1000 == 999 {
					if err := w.Flush(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if len(rw.writes) < 10 {
				t.Fatalf("only %d writes: the buffer never filled", len(rw.writes))
			}
			b := rw.Bytes()
			bounds := map[int]bool{}
			for o := 0; o < len(b); o += int(ord.o.Uint32(b[o+4:])) {
				bounds[o] = true
			}
			at := 0
			for i, n := range rw.writes {
				at += n
				if at != len(b) && !bounds[at] {
					t.Fatalf("write %d ends at %d, inside a block", i, at)
				}
			}
		})
	}
}

// TestLive reads a capture through a pipe while it is written: each record
// must reach the reader after Flush, with the writer still open.
func TestLive(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	const n = 50
	ack := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			w, err := NewWriter(pw, WriterOptions{Interfaces: []Interface{{Name: "/mnt/live"}}})
			if err != nil {
				return err
			}
			for i := range n {
				if err := w.WriteMsg(time.Unix(int64(i), 0), 0, DirRequest, 0, []byte(fmt.Sprint(i))); err != nil {
					return err
				}
				if err := w.Flush(); err != nil {
					return err
				}
				select {
				case <-ack:
				case <-time.After(10 * time.Second):
					return fmt.Errorf("record %d flushed but not read after 10s", i)
				}
			}
			if err := w.Close(); err != nil {
				return err
			}
			return pw.Close()
		}()
		pw.Close()
	}()
	r, err := NewReader(pr, ReaderOptions{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if ifs := r.Interfaces(); len(ifs) != 1 || ifs[0].Name != "/mnt/live" {
		t.Errorf("Interfaces() right after NewReader = %q", ifs)
	}
	var rec Record
	for i := range n {
		if err := r.NextInto(&rec); err != nil {
			t.Fatalf("record %d: %v (writer: %v)", i, err, <-done)
		}
		if string(rec.Msg) != fmt.Sprint(i) {
			t.Errorf("record %d: %q", i, rec.Msg)
		}
		ack <- struct{}{}
	}
	if err := r.NextInto(&rec); err != io.EOF || r.Truncated() {
		t.Errorf("at the end: %v, truncated %v", err, r.Truncated())
	}
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestWriterConcurrent writes from several goroutines at once, as the
// interposer's two directions do: every record must come out whole.
func TestWriterConcurrent(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterOptions{Interfaces: []Interface{{Name: "a"}, {Name: "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 4, 2000
	errs := make(chan error, goroutines)
	for g := range goroutines {
		go func() {
			for i := range each {
				msg := []byte(fmt.Sprintf("g%d-%d", g, i))
				if err := w.WriteMsg(time.Unix(int64(i), 0), g%2, DirRequest, 0, msg); err != nil {
					errs <- err
					return
				}
				if i%100 == 0 {
					if err := w.Flush(); err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range goroutines {
		if err := <-errs; err != nil {
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
	next := make([]int, goroutines) // per goroutine, records come in order
	var rec Record
	for {
		err := r.NextInto(&rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var g, i int
		if _, err := fmt.Sscanf(string(rec.Msg), "g%d-%d", &g, &i); err != nil || g < 0 || g >= goroutines || i != next[g] || rec.Iface != g%2 {
			t.Fatalf("record %q on interface %d (want %d next from g%d)", rec.Msg, rec.Iface, next[g%goroutines], g)
		}
		next[g]++
	}
	for g, n := range next {
		if n != each {
			t.Errorf("goroutine %d: read %d records, wrote %d", g, n, each)
		}
	}
}

// TestWriterDirect checks that a Writer on a regular file, which hands
// large messages to writev(2) where they lie, writes the same bytes as one
// on a bytes.Buffer or a pipe, which copy everything into their buffer, and
// that writevAll finishes a writev that a pipe takes in pieces.
func TestWriterDirect(t *testing.T) {
	sizes := []int{16, directMin - 1, directMin, 3, 1 << 20, 14*4096 + 16, 5, 300 << 10}
	write := func(t *testing.T, w *Writer) {
		t.Helper()
		for i, n := range sizes {
			msg := make([]byte, n)
			for j := range msg {
				msg[j] = byte(i + j)
			}
			if err := w.WriteMsg(time.Unix(int64(i), 7), 0, Dir(i%2+1), 0, msg); err != nil {
				t.Fatal(err)
			}
			if n >= 4*directMin && w.rc != nil && cap(w.out) >= min(n, 100<<10) {
				t.Fatalf("record %d (%d bytes) went through the buffer", i, n)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, ord := range orders {
		for _, snap := range []int{0, 100 << 10} {
			t.Run(fmt.Sprintf("%s/snap%d", ord.name, snap), func(t *testing.T) {
				opts := WriterOptions{ByteOrder: ord.o, SnapLen: snap}
				var want bytes.Buffer
				w, err := NewWriter(&want, opts)
				if err != nil {
					t.Fatal(err)
				}
				write(t, w)

				path := filepath.Join(t.TempDir(), "c.fcap")
				if w, err = Create(path, opts); err != nil {
					t.Fatal(err)
				}
				if w.rc == nil {
					t.Fatal("a Writer on a file has no raw descriptor")
				}
				write(t, w)
				if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want.Bytes()) {
					t.Errorf("file: %d bytes (%v), want the buffered writer's %d", len(got), err, want.Len())
				}

				pr, pw, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				read := make(chan []byte)
				go func() {
					b, _ := io.ReadAll(pr)
					pr.Close()
					read <- b
				}()
				if w, err = NewWriter(pw, opts); err != nil {
					t.Fatal(err)
				}
				write(t, w)
				pw.Close()
				if w.rc != nil {
					t.Error("a Writer on a pipe writes past its buffer")
				}
				if got := <-read; !bytes.Equal(got, want.Bytes()) {
					t.Errorf("pipe: %d bytes, want the buffered writer's %d", len(got), want.Len())
				}

				// writevAll on a pipe whose reader is slower than it.
				if pr, pw, err = os.Pipe(); err != nil {
					t.Fatal(err)
				}
				go func() {
					var b []byte
					buf := make([]byte, 1000)
					for {
						n, err := pr.Read(buf)
						b = append(b, buf[:n]...)
						if err != nil {
							pr.Close()
							read <- b
							return
						}
					}
				}()
				rc, err := pw.SyscallConn()
				if err != nil {
					t.Fatal(err)
				}
				all, mid := want.Bytes(), want.Len()/2
				parts := [][]byte{all[:10], nil, all[10:mid], all[mid:]}
				if err := writevAll(rc, parts); err != nil {
					t.Fatal(err)
				}
				pw.Close()
				if got := <-read; !bytes.Equal(got, want.Bytes()) {
					t.Errorf("writevAll to a pipe: %d bytes, want %d", len(got), want.Len())
				}
			})
		}
	}
}
