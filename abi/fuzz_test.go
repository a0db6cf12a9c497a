package abi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// fuzzOrder picks a byte order from a fuzzed bool.
func fuzzOrder(big bool) ByteOrder {
	if big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// FuzzUnmarshal decodes every struct type from arbitrary bytes: it must not
// panic, must fail iff the input is shorter than the struct, and must
// re-encode the consumed prefix to the same bytes, padding aside.
func FuzzUnmarshal(f *testing.F) {
	masks := make([][]byte, len(generatedLayouts))
	for i, l := range generatedLayouts {
		masks[i] = paddingMask(l)
		v := l.new()
		fill(v, uint64(i))
		f.Add(v.Append(nil, binary.LittleEndian), uint8(i), false)
		f.Add(v.Append(nil, binary.BigEndian)[:l.size/2], uint8(i), true)
	}
	// Real messages: a LOOKUP header, an INIT request and reply as Linux
	// 6.18 and libfuse 3.14 exchange them on x86-64.
	lookup := (&InHeader{Len: 46, Opcode: FUSE_LOOKUP, Unique: 2, NodeID: 1, UID: 1000, GID: 1000, PID: 4242}).
		Append(nil, binary.LittleEndian)
	f.Add(append(lookup, "hello\x00"...), uint8(0), false)
	initIn := InitIn{Major: 7, Minor: 45, MaxReadahead: 131072}
	initIn.SetInitFlags(DefaultInitFlags)
	f.Add(initIn.Append(nil, binary.LittleEndian), uint8(0), false)
	initOut := InitOut{Major: 7, Minor: 38, MaxReadahead: 131072, MaxBackground: 12,
		CongestionThreshold: 9, MaxWrite: 131072, TimeGran: 1, MaxPages: 32}
	initOut.SetInitFlags(FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_INIT_EXT | FUSE_MAX_PAGES)
	f.Add(initOut.Append(nil, binary.LittleEndian), uint8(0), false)

	f.Fuzz(func(t *testing.T, data []byte, sel uint8, big bool) {
		idx := int(sel) % len(generatedLayouts)
		l, mask := generatedLayouts[idx], masks[idx]
		o := fuzzOrder(big)
		v := l.new()
		rest, err := v.Unmarshal(data, o)
		if (err != nil) != (len(data) < l.size) {
			t.Fatalf("%s: %d bytes: err = %v", l.name, len(data), err)
		}
		if err != nil {
			if !errors.Is(err, ErrShort) || len(rest) != len(data) {
				t.Fatalf("%s: err = %v, rest %d bytes", l.name, err, len(rest))
			}
			return
		}
		if !bytes.Equal(rest, data[l.size:]) {
			t.Fatalf("%s: rest is not the bytes after the struct", l.name)
		}
		enc := v.Append(nil, o)
		for i := range enc {
			if enc[i] != data[i]&mask[i] {
				t.Fatalf("%s: byte %d re-encodes as %#x, input %#x", l.name, i, enc[i], data[i])
			}
		}
		// A prefix decodes to the same fields up to n and zero after.
		n := int(sel) % (l.size + 1)
		p := l.new()
		if _, err := p.UnmarshalPrefix(data, n, o); err != nil {
			t.Fatalf("%s: UnmarshalPrefix(%d): %v", l.name, n, err)
		}
		penc := p.Append(nil, o)
		for i := range penc {
			want := byte(0)
			if i < n {
				want = data[i] & mask[i]
			}
			if penc[i] != want {
				t.Fatalf("%s: prefix %d: byte %d = %#x, want %#x", l.name, n, i, penc[i], want)
			}
		}
	})
}

// FuzzDirents walks arbitrary READDIR and READDIRPLUS bodies: no panic,
// progress on every record, names inside the input, and every accepted
// record re-encodes to the bytes it was read from, padding aside.
func FuzzDirents(f *testing.F) {
	for _, big := range []bool{false, true} {
		o := fuzzOrder(big)
		var rd []byte
		for i, n := range []string{".", "..", "file", "a-much-longer-name.txt"} {
			rd = AppendDirent(rd, Dirent{Ino: uint64(i + 1), Off: uint64(i + 1), Type: 8}, n, o)
		}
		f.Add(rd, false, big)
		f.Add(rd[:len(rd)-3], false, big)
		var rdp []byte
		var d Direntplus
		fill(&d, 1)
		rdp = AppendDirentplus(rdp, d, "x", o)
		rdp = AppendDirentplus(rdp, Direntplus{}, "..", o)
		f.Add(rdp, true, big)
	}
	f.Add(direntBytes(0xFFFFFFFF, 16), false, false)

	f.Fuzz(func(t *testing.T, data []byte, plus, big bool) {
		o := fuzzOrder(big)
		src := data
		for len(src) > 0 {
			var (
				name, rest, rec []byte
				err             error
				off             int
			)
			if plus {
				var d Direntplus
				d, name, rest, err = NextDirentplus(src, o)
				if err == nil {
					rec = AppendDirentplus(nil, d, name, o)
					off = FUSE_NAME_OFFSET_DIRENTPLUS
				}
			} else {
				var d Dirent
				d, name, rest, err = NextDirent(src, o)
				if err == nil {
					rec = AppendDirent(nil, d, name, o)
					off = FUSE_NAME_OFFSET
				}
			}
			if err != nil {
				if !errors.Is(err, ErrShort) && !errors.Is(err, ErrBadDirent) {
					t.Fatalf("unexpected error %v", err)
				}
				if len(rest) != len(src) {
					t.Fatalf("rest changed on error")
				}
				return
			}
			used := len(src) - len(rest)
			if used <= 0 || used%8 != 0 || len(name) == 0 || len(name) > NameMax {
				t.Fatalf("record of %d bytes with a %d-byte name", used, len(name))
			}
			if len(rec) != used || !bytes.Equal(rec[:off+len(name)], src[:off+len(name)]) {
				t.Fatalf("record re-encodes as %x, read from %x", rec, src[:used])
			}
			for _, c := range rec[off+len(name):] {
				if c != 0 {
					t.Fatalf("non-zero padding written")
				}
			}
			src = rest
		}
	})
}

// FuzzExt walks arbitrary request-extension areas: no panic, progress, and
// every accepted extension re-encodes to the same bytes.
func FuzzExt(f *testing.F) {
	f.Add(kernelExtensions(binary.LittleEndian), false)
	f.Add(kernelExtensions(binary.BigEndian), true)
	f.Add(kernelExtensions(binary.LittleEndian)[:20], false)
	f.Add([]byte{4, 0, 0, 0, 32, 0, 0, 0}, false)

	f.Fuzz(func(t *testing.T, data []byte, big bool) {
		o := fuzzOrder(big)
		src := data
		for len(src) > 0 {
			h, body, rest, err := NextExt(src, o)
			if err != nil {
				if !errors.Is(err, ErrShort) && !errors.Is(err, ErrBadExt) {
					t.Fatalf("unexpected error %v", err)
				}
				if len(rest) != len(src) || body != nil {
					t.Fatalf("rest or body set on error")
				}
				return
			}
			used := len(src) - len(rest)
			if used < 8 || used%8 != 0 || used != int(h.Size) || len(body) != used-8 {
				t.Fatalf("extension %+v used %d bytes, body %d", h, used, len(body))
			}
			if rec := AppendExt(nil, h.Type, body, o); !bytes.Equal(rec, src[:used]) {
				t.Fatalf("extension re-encodes as %x, read from %x", rec, src[:used])
			}
			src = rest
		}
	})
}
