package abi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestDirentRoundTrip(t *testing.T) {
	names := []string{".", "..", "a", "1234567", "12345678", "nine bytes", string(bytes.Repeat([]byte{'x'}, NameMax))}
	for _, ord := range orders {
		var buf []byte
		var want []Dirent
		for i, n := range names {
			d := Dirent{Ino: uint64(100 + i), Off: uint64(i + 1), Type: 4 + uint32(i)}
			buf = AppendDirent(buf, d, n, ord.o)
			d.Namelen = uint32(len(n))
			want = append(want, d)
			if len(buf)%8 != 0 {
				t.Fatalf("record for %q not padded to 8: total %d", n, len(buf))
			}
		}
		src := buf
		for i, n := range names {
			d, name, rest, err := NextDirent(src, ord.o)
			if err != nil {
				t.Fatalf("%s: entry %d: %v", ord.name, i, err)
			}
			if d != want[i] || string(name) != n {
				t.Errorf("%s: entry %d = %+v %q, want %+v %q", ord.name, i, d, name, want[i], n)
			}
			if got := len(src) - len(rest); got != DirentSize(len(n)) {
				t.Errorf("%s: entry %d consumed %d bytes, want %d", ord.name, i, got, DirentSize(len(n)))
			}
			src = rest
		}
		if len(src) != 0 {
			t.Errorf("%d bytes left", len(src))
		}
	}
}

func TestDirentplusRoundTrip(t *testing.T) {
	for _, ord := range orders {
		var d Direntplus
		fill(&d, 20)
		buf := AppendDirentplus(nil, d, []byte("file.txt"), ord.o)
		buf = AppendDirentplus(buf, Direntplus{Dirent: Dirent{Ino: 9, Off: 2}}, "b", ord.o)
		if len(buf) != DirentplusSize(8)+DirentplusSize(1) || DirentplusSize(1) != 160 {
			t.Fatalf("%d bytes for two records", len(buf))
		}
		got, name, rest, err := NextDirentplus(buf, ord.o)
		d.Dirent.Namelen = 8
		if err != nil || got != d || string(name) != "file.txt" {
			t.Fatalf("first = %+v %q %v, want %+v", got, name, err, d)
		}
		got, name, rest, err = NextDirentplus(rest, ord.o)
		if err != nil || got.Dirent.Ino != 9 || string(name) != "b" || len(rest) != 0 {
			t.Fatalf("second = %+v %q %v, %d left", got, name, err, len(rest))
		}
	}
}

func direntBytes(namelen uint32, tail int) []byte {
	b := (&Dirent{Ino: 1, Off: 1, Namelen: namelen, Type: 8}).Append(nil, binary.LittleEndian)
	return append(b, bytes.Repeat([]byte{'n'}, tail)...)
}

func TestDirentHostile(t *testing.T) {
	tests := []struct {
		name string
		src  []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"short header", direntBytes(1, 0)[:23], ErrShort},
		{"namelen 0", direntBytes(0, 8), ErrBadDirent},
		{"namelen over NameMax", direntBytes(NameMax+1, 2000), ErrBadDirent},
		{"namelen huge", direntBytes(0xFFFFFFFF, 64), ErrBadDirent},
		{"namelen 2^31", direntBytes(1<<31, 64), ErrBadDirent},
		{"name past end", direntBytes(9, 8), ErrShort},
		{"padding missing", direntBytes(5, 5), ErrShort},
		{"padding short", direntBytes(5, 7), ErrShort},
	}
	for _, tt := range tests {
		_, name, rest, err := NextDirent(tt.src, binary.LittleEndian)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
		if name != nil || len(rest) != len(tt.src) {
			t.Errorf("%s: name %q, rest %d bytes after an error", tt.name, name, len(rest))
		}
	}
	// The exact padded length is fine, and padding content is ignored.
	src := direntBytes(5, 8)
	_, name, rest, err := NextDirent(src, binary.LittleEndian)
	if err != nil || string(name) != "nnnnn" || len(rest) != 0 {
		t.Errorf("padded record: %q %v, %d left", name, err, len(rest))
	}
	// A name must not be extendable into the next record through its
	// capacity.
	if cap(name) != len(name) {
		t.Errorf("name capacity %d, want %d", cap(name), len(name))
	}

	plus := (&Direntplus{Dirent: Dirent{Namelen: 3}}).Append(nil, binary.LittleEndian)
	if _, _, _, err := NextDirentplus(plus, binary.LittleEndian); !errors.Is(err, ErrShort) {
		t.Errorf("direntplus without name: %v", err)
	}
	if _, _, _, err := NextDirentplus(plus[:100], binary.LittleEndian); !errors.Is(err, ErrShort) {
		t.Errorf("short direntplus: %v", err)
	}
	plus0 := (&Direntplus{}).Append(nil, binary.LittleEndian)
	if _, _, _, err := NextDirentplus(append(plus0, make([]byte, 8)...), binary.LittleEndian); !errors.Is(err, ErrBadDirent) {
		t.Errorf("direntplus namelen 0: %v", err)
	}
}

func TestRecAlign(t *testing.T) {
	for n, want := range map[int]int{0: 0, 1: 8, 7: 8, 8: 8, 9: 16, 24: 24, 25: 32, 152: 152, 153: 160} {
		if got := RecAlign(n); got != want {
			t.Errorf("RecAlign(%d) = %d, want %d", n, got, want)
		}
	}
	if DirentSize(1) != 32 || DirentSize(8) != 32 || DirentSize(9) != 40 {
		t.Errorf("DirentSize: %d %d %d", DirentSize(1), DirentSize(8), DirentSize(9))
	}
}
