package demofs

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"
)

// FuzzContent runs a sequence of writes, truncates and reads on content and
// on a flat slice, and requires the same bytes from both. Each 5-byte step
// is an operation and two 16-bit numbers, scaled so that offsets cross
// chunk boundaries.
func FuzzContent(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 2, 1, 0, 0, 0, 1, 2, 0, 0, 0, 16})
	f.Add([]byte{0, 0xff, 0xff, 0x01, 0, 1, 0, 2, 0, 0, 0, 0x80, 0, 0x10, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var c content
		var flat []byte
		for i := 0; i+5 <= len(ops); i += 5 {
			a := int64(binary.LittleEndian.Uint16(ops[i+1:])) * 7
			b := int(binary.LittleEndian.Uint16(ops[i+3:]))
			switch ops[i] % 3 {
			case 0: // write b bytes at a
				p := bytes.Repeat([]byte{byte(i) | 1}, b)
				c.writeAt(p, a)
				if end := int(a) + b; end > len(flat) {
					flat = append(flat, make([]byte, end-len(flat))...)
				}
				copy(flat[a:], p)
			case 1: // truncate to a
				c.truncate(a)
				if int(a) <= len(flat) {
					flat = flat[:a]
				} else {
					flat = append(flat, make([]byte, int(a)-len(flat))...)
				}
			case 2: // read b bytes at a
				p := bytes.Repeat([]byte{0xee}, b)
				n := c.readAt(p, a)
				want := 0
				if int(a) < len(flat) {
					want = copy(make([]byte, b), flat[a:])
				}
				if n != want || !bytes.Equal(p[:n], flat[min(int(a), len(flat)):][:n]) {
					t.Fatalf("step %d: read %d at %d: got %d bytes, want %d", i/5, b, a, n, want)
				}
			}
			if c.len() != int64(len(flat)) {
				t.Fatalf("step %d: size %d, want %d", i/5, c.len(), len(flat))
			}
		}
		if !bytes.Equal(c.bytes(), flat) {
			t.Fatal("contents differ at the end")
		}
	})
}

// TestContentMemory writes 64 MiB in 4 KiB pieces, as a page-cache
// writeback does, and requires the allocations to stay near the file size.
// A slice grown by append allocates several times the file size.
func TestContentMemory(t *testing.T) {
	const size = 64 << 20
	piece := bytes.Repeat([]byte{'x'}, 4096)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var c content
	for off := int64(0); off < size; off += int64(len(piece)) {
		c.writeAt(piece, off)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > size*11/10 {
		t.Errorf("writing %d bytes allocated %d", size, got)
	}
	if c.len() != size {
		t.Errorf("size %d, want %d", c.len(), size)
	}
}
