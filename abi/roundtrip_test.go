package abi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

// fill sets every exported integer of v (a pointer to a struct), nested
// structs and arrays included, to distinct non-zero values derived from
// seed, so that a swapped, shifted or dropped field shows.
func fill(v any, seed uint64) {
	n := seed*0x9E3779B97F4A7C15 + 1
	var walk func(r reflect.Value)
	walk = func(r reflect.Value) {
		switch r.Kind() {
		case reflect.Struct:
			for i := range r.NumField() {
				if r.Type().Field(i).IsExported() {
					walk(r.Field(i))
				}
			}
		case reflect.Array:
			for i := range r.Len() {
				walk(r.Index(i))
			}
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			n = n*6364136223846793005 + 1442695040888963407
			// Every byte non-zero, and the top bit set in some, so that
			// sign and width mistakes show.
			r.SetUint((n | 0x0101010101010101) >> (64 - 8*r.Type().Size()))
		case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			n = n*6364136223846793005 + 1442695040888963407
			r.SetInt(int64((n | 0x0101010101010101) >> (64 - 8*r.Type().Size())))
		}
	}
	walk(reflect.ValueOf(v).Elem())
}

// paddingMask returns, for the layout, a mask with 0xff over the bytes of
// non-blank fields and 0 over padding, nested structs' padding included.
func paddingMask(l typeLayout) []byte {
	byName := map[string]typeLayout{}
	for _, g := range generatedLayouts {
		byName[g.name] = g
	}
	var mark func(l typeLayout, m []byte)
	mark = func(l typeLayout, m []byte) {
		v := reflect.TypeOf(l.new()).Elem()
		for _, f := range l.fields {
			if f.name == "_" {
				continue
			}
			sf, _ := v.FieldByName(f.name)
			if nested, ok := byName[sf.Type.Name()]; ok && sf.Type.Kind() == reflect.Struct {
				mark(nested, m[f.off:f.off+f.size])
				continue
			}
			for i := f.off; i < f.off+f.size; i++ {
				m[i] = 0xff
			}
		}
	}
	m := make([]byte, l.size)
	mark(l, m)
	return m
}

func TestRoundTrip(t *testing.T) {
	for _, l := range generatedLayouts {
		for _, ord := range orders {
			t.Run(l.name+"/"+ord.name, func(t *testing.T) {
				v := l.new()
				fill(v, 1)
				enc := v.Append(nil, ord.o)
				if len(enc) != l.size {
					t.Fatalf("Append wrote %d bytes, want %d", len(enc), l.size)
				}
				// encoding/binary is the independent, reflective
				// reference: same bytes, blank fields written as zeros.
				var ref bytes.Buffer
				if err := binary.Write(&ref, ord.o, v); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(enc, ref.Bytes()) {
					t.Fatalf("Append = %x\nbinary.Write = %x", enc, ref.Bytes())
				}
				for i, m := range paddingMask(l) {
					if m == 0 && enc[i] != 0 {
						t.Errorf("padding byte %d = %#x, want 0", i, enc[i])
					}
				}

				got := l.new()
				src := append(enc, 0xAA, 0xBB)
				rest, err := got.Unmarshal(src, ord.o)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(rest, []byte{0xAA, 0xBB}) {
					t.Errorf("rest = %x, want aabb", rest)
				}
				if !reflect.DeepEqual(got, v) {
					t.Errorf("Unmarshal = %+v\nwant %+v", got, v)
				}
				viaBinary := l.new()
				if err := binary.Read(bytes.NewReader(enc), ord.o, viaBinary); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, viaBinary) {
					t.Errorf("Unmarshal = %+v\nbinary.Read = %+v", got, viaBinary)
				}
			})
		}
	}
}

// TestUnmarshalIgnoresPadding checks that non-zero padding on the wire is
// skipped and not copied into fields.
func TestUnmarshalIgnoresPadding(t *testing.T) {
	for _, l := range generatedLayouts {
		for _, ord := range orders {
			want := l.new()
			fill(want, 2)
			enc := want.Append(nil, ord.o)
			for i, m := range paddingMask(l) {
				if m == 0 {
					enc[i] = 0xEE
				}
			}
			got := l.new()
			if _, err := got.Unmarshal(enc, ord.o); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s/%s: padding leaked: %+v, want %+v", l.name, ord.name, got, want)
			}
		}
	}
}

func TestAppendReusesBuffer(t *testing.T) {
	for _, l := range generatedLayouts {
		v := l.new()
		fill(v, 3)
		want := v.Append([]byte("hdr"), binary.LittleEndian)
		// A buffer with spare capacity full of garbage: padding must
		// still come out zero.
		buf := bytes.Repeat([]byte{0xFF}, 3+l.size+16)[:3]
		copy(buf, "hdr")
		got := v.Append(buf, binary.LittleEndian)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Append on a dirty buffer = %x, want %x", l.name, got, want)
		}
	}
}

func TestUnmarshalShort(t *testing.T) {
	for _, l := range generatedLayouts {
		full := make([]byte, l.size)
		for n := range l.size {
			v := l.new()
			fill(v, 4)
			before := reflect.ValueOf(v).Elem().Interface()
			rest, err := v.Unmarshal(full[:n], binary.LittleEndian)
			if !errors.Is(err, ErrShort) {
				t.Fatalf("%s: Unmarshal of %d bytes: err = %v, want ErrShort", l.name, n, err)
			}
			if len(rest) != n {
				t.Errorf("%s: rest after error has %d bytes, want the %d of src", l.name, len(rest), n)
			}
			if after := reflect.ValueOf(v).Elem().Interface(); !reflect.DeepEqual(before, after) {
				t.Errorf("%s: receiver changed by a failed Unmarshal", l.name)
			}
		}
		if _, err := l.new().Unmarshal(nil, binary.LittleEndian); !errors.Is(err, ErrShort) {
			t.Errorf("%s: Unmarshal(nil): err = %v", l.name, err)
		}
	}
}

func TestPrefix(t *testing.T) {
	for _, l := range generatedLayouts {
		for _, ord := range orders {
			v := l.new()
			fill(v, 5)
			full := v.Append(nil, ord.o)
			for n := -1; n <= l.size+1; n++ {
				k := max(0, min(n, l.size))
				if got := v.AppendPrefix([]byte{1}, n, ord.o); !bytes.Equal(got[1:], full[:k]) || got[0] != 1 {
					t.Fatalf("%s: AppendPrefix(%d) = %x, want %x", l.name, n, got[1:], full[:k])
				}
				p := l.new()
				fill(p, 6) // UnmarshalPrefix must clear what it does not set
				rest, err := p.UnmarshalPrefix(append(full[:k:k], 0xCC), n, ord.o)
				if err != nil {
					t.Fatalf("%s: UnmarshalPrefix(%d): %v", l.name, n, err)
				}
				if !bytes.Equal(rest, []byte{0xCC}) {
					t.Errorf("%s: UnmarshalPrefix(%d) rest = %x", l.name, n, rest)
				}
				// The fields in the prefix come back, the rest is zero.
				want := append(full[:k:k], make([]byte, l.size-k)...)
				if got := p.Append(nil, ord.o); !bytes.Equal(got, want) {
					t.Errorf("%s: UnmarshalPrefix(%d) re-encodes as %x, want %x", l.name, n, got, want)
				}
			}
			if _, err := l.new().UnmarshalPrefix(full[:l.size/2], l.size/2+1, ord.o); l.size > 1 && !errors.Is(err, ErrShort) {
				t.Errorf("%s: UnmarshalPrefix past src: err = %v, want ErrShort", l.name, err)
			}
		}
	}
}

// TestCompat checks the compat sizes cut the structs where the older
// layouts ended.
func TestCompat(t *testing.T) {
	o := binary.LittleEndian

	var e EntryOut
	fill(&e, 7)
	var e8 EntryOut
	if _, err := e8.UnmarshalPrefix(e.AppendPrefix(nil, EntryOutSize(8), o), EntryOutSize(8), o); err != nil {
		t.Fatal(err)
	}
	want := e
	want.Attr.Blksize, want.Attr.Flags = 0, 0
	if e8 != want {
		t.Errorf("EntryOut at 7.8 = %+v, want %+v", e8, want)
	}

	var a AttrOut
	fill(&a, 8)
	var a8 AttrOut
	if _, err := a8.UnmarshalPrefix(a.Append(nil, o), AttrOutSize(8), o); err != nil {
		t.Fatal(err)
	}
	wantA := a
	wantA.Attr.Blksize, wantA.Attr.Flags = 0, 0
	if a8 != wantA {
		t.Errorf("AttrOut at 7.8 = %+v, want %+v", a8, wantA)
	}

	var w WriteIn
	fill(&w, 9)
	var w8 WriteIn
	if _, err := w8.UnmarshalPrefix(w.Append(nil, o), WriteInSize(8), o); err != nil {
		t.Fatal(err)
	}
	if want := (WriteIn{Fh: w.Fh, Offset: w.Offset, Size: w.Size, WriteFlags: w.WriteFlags}); w8 != want {
		t.Errorf("WriteIn at 7.8 = %+v, want %+v", w8, want)
	}

	var io InitOut
	fill(&io, 10)
	var io22 InitOut
	if _, err := io22.UnmarshalPrefix(io.Append(nil, o), InitOutSize(22), o); err != nil {
		t.Fatal(err)
	}
	if want := (InitOut{Major: io.Major, Minor: io.Minor, MaxReadahead: io.MaxReadahead, Flags: io.Flags,
		MaxBackground: io.MaxBackground, CongestionThreshold: io.CongestionThreshold, MaxWrite: io.MaxWrite}); io22 != want {
		t.Errorf("InitOut at 7.22 = %+v, want %+v", io22, want)
	}
	var io4 InitOut
	if _, err := io4.UnmarshalPrefix(io.Append(nil, o), InitOutSize(4), o); err != nil {
		t.Fatal(err)
	}
	if want := (InitOut{Major: io.Major, Minor: io.Minor}); io4 != want {
		t.Errorf("InitOut at 7.4 = %+v, want %+v", io4, want)
	}

	var ii InitIn
	fill(&ii, 11)
	var ii35 InitIn
	if _, err := ii35.UnmarshalPrefix(ii.Append(nil, o), InitInSize(35), o); err != nil {
		t.Fatal(err)
	}
	if want := (InitIn{Major: ii.Major, Minor: ii.Minor, MaxReadahead: ii.MaxReadahead, Flags: ii.Flags}); ii35 != want {
		t.Errorf("InitIn at 7.35 = %+v, want %+v", ii35, want)
	}

	var st StatfsOut
	fill(&st, 12)
	var st3 StatfsOut
	if _, err := st3.UnmarshalPrefix(st.Append(nil, o), StatfsOutSize(3), o); err != nil {
		t.Fatal(err)
	}
	wantSt := st
	wantSt.St.Frsize = 0
	if st3 != wantSt {
		t.Errorf("StatfsOut at 7.3 = %+v, want %+v", st3, wantSt)
	}

	var mk MknodIn
	fill(&mk, 13)
	var mk11 MknodIn
	if _, err := mk11.UnmarshalPrefix(mk.Append(nil, o), MknodInSize(11), o); err != nil {
		t.Fatal(err)
	}
	if want := (MknodIn{Mode: mk.Mode, Rdev: mk.Rdev}); mk11 != want {
		t.Errorf("MknodIn at 7.11 = %+v, want %+v", mk11, want)
	}

	var sx SetxattrIn
	fill(&sx, 14)
	var sxc SetxattrIn
	if _, err := sxc.UnmarshalPrefix(sx.Append(nil, o), SetxattrInSize(0), o); err != nil {
		t.Fatal(err)
	}
	if want := (SetxattrIn{Size: sx.Size, Flags: sx.Flags}); sxc != want {
		t.Errorf("SetxattrIn without SETXATTR_EXT = %+v, want %+v", sxc, want)
	}
}

func TestCompatSizes(t *testing.T) {
	tests := []struct {
		name string
		f    func(uint32) int
		old  uint32 // last minor with the compat size
		cold int
		cur  int
	}{
		{"EntryOutSize", EntryOutSize, 8, 120, 128},
		{"AttrOutSize", AttrOutSize, 8, 96, 104},
		{"MknodInSize", MknodInSize, 11, 8, 16},
		{"CreateInSize", CreateInSize, 11, 8, 16},
		{"WriteInSize", WriteInSize, 8, 24, 40},
		{"StatfsOutSize", StatfsOutSize, 3, 48, 80},
		{"InitInSize", InitInSize, 35, 16, 64},
		{"InitOutSize", InitOutSize, 22, 24, 64},
	}
	for _, tt := range tests {
		if got := tt.f(tt.old); got != tt.cold {
			t.Errorf("%s(%d) = %d, want %d", tt.name, tt.old, got, tt.cold)
		}
		if got := tt.f(tt.old + 1); got != tt.cur {
			t.Errorf("%s(%d) = %d, want %d", tt.name, tt.old+1, got, tt.cur)
		}
		if got := tt.f(FUSE_KERNEL_MINOR_VERSION); got != tt.cur {
			t.Errorf("%s(45) = %d, want %d", tt.name, got, tt.cur)
		}
	}
	if got := InitOutSize(4); got != FUSE_COMPAT_INIT_OUT_SIZE {
		t.Errorf("InitOutSize(4) = %d, want 8", got)
	}
	if got := SetxattrInSize(FUSE_SETXATTR_EXT); got != 16 {
		t.Errorf("SetxattrInSize(SETXATTR_EXT) = %d, want 16", got)
	}
	if got := SetxattrInSize(DefaultInitFlags &^ FUSE_SETXATTR_EXT); got != FUSE_COMPAT_SETXATTR_IN_SIZE {
		t.Errorf("SetxattrInSize(no SETXATTR_EXT) = %d, want 8", got)
	}
}

// TestByteOrders checks that every way of naming the two orders decodes
// alike, a custom ByteOrder included.
func TestByteOrders(t *testing.T) {
	var h InHeader
	fill(&h, 15)
	le := h.Append(nil, binary.LittleEndian)
	be := h.Append(nil, binary.BigEndian)
	if bytes.Equal(le, be) {
		t.Fatal("little- and big-endian encodings are equal")
	}
	native := le
	if binary.NativeEndian.Uint16([]byte{0, 1}) == 1 {
		native = be
	}
	for name, tt := range map[string]struct {
		o    ByteOrder
		want []byte
	}{
		"NativeEndian": {NativeEndian, native},
		"nil":          {nil, native},
		"customLE":     {customOrder{binary.LittleEndian}, le},
		"customBE":     {customOrder{binary.BigEndian}, be},
	} {
		if got := h.Append(nil, tt.o); !bytes.Equal(got, tt.want) {
			t.Errorf("%s: Append = %x, want %x", name, got, tt.want)
		}
		var g InHeader
		if _, err := g.Unmarshal(tt.want, tt.o); err != nil || g != h {
			t.Errorf("%s: Unmarshal = %+v, %v; want %+v", name, g, err, h)
		}
	}
}

// customOrder is a ByteOrder the codecs do not know by identity.
type customOrder struct{ ByteOrder }

func TestKnownEncoding(t *testing.T) {
	// A LOOKUP request header, as the kernel sends it on x86-64.
	h := InHeader{Len: 46, Opcode: FUSE_LOOKUP, Unique: 2, NodeID: FUSE_ROOT_ID, UID: 1000, GID: 100, PID: 4242, TotalExtlen: 1}
	want := []byte{
		46, 0, 0, 0, 1, 0, 0, 0,
		2, 0, 0, 0, 0, 0, 0, 0,
		1, 0, 0, 0, 0, 0, 0, 0,
		0xe8, 3, 0, 0, 100, 0, 0, 0,
		0x92, 0x10, 0, 0, 1, 0, 0, 0,
	}
	if got := h.Append(nil, binary.LittleEndian); !bytes.Equal(got, want) {
		t.Errorf("InHeader = %x\nwant %x", got, want)
	}
	if h.ExtLen() != 8 {
		t.Errorf("ExtLen = %d, want 8", h.ExtLen())
	}
	o := OutHeader{Len: 16, Error: -int32(ENOENT), Unique: 2}
	wantOut := []byte{16, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 0, 0, 0}
	if got := o.Append(nil, binary.LittleEndian); !bytes.Equal(got, wantOut) {
		t.Errorf("OutHeader = %x\nwant %x", got, wantOut)
	}
	wantOutBE := []byte{0, 0, 0, 16, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 2}
	if got := o.Append(nil, binary.BigEndian); !bytes.Equal(got, wantOutBE) {
		t.Errorf("OutHeader BE = %x\nwant %x", got, wantOutBE)
	}
}

func TestAccessors(t *testing.T) {
	s := SetattrIn{Valid: FATTR_MODE | FATTR_SIZE | FATTR_MTIME, Mode: 0o644, Size: 10, Mtime: 5, Mtimensec: 6, UID: 7}
	if m, ok := s.GetMode(); !ok || m != 0o644 {
		t.Errorf("GetMode = %o, %v", m, ok)
	}
	if sz, ok := s.GetSize(); !ok || sz != 10 {
		t.Errorf("GetSize = %d, %v", sz, ok)
	}
	if sec, ns, ok := s.GetMtime(); !ok || sec != 5 || ns != 6 {
		t.Errorf("GetMtime = %d, %d, %v", sec, ns, ok)
	}
	if _, ok := s.GetUID(); ok {
		t.Error("GetUID ok without FATTR_UID")
	}
	for name, ok := range map[string]bool{
		"GID":       func() bool { _, ok := s.GetGID(); return ok }(),
		"Fh":        func() bool { _, ok := s.GetFh(); return ok }(),
		"LockOwner": func() bool { _, ok := s.GetLockOwner(); return ok }(),
		"Atime":     func() bool { _, _, ok := s.GetAtime(); return ok }(),
		"Ctime":     func() bool { _, _, ok := s.GetCtime(); return ok }(),
	} {
		if ok {
			t.Errorf("Get%s ok without its FATTR bit", name)
		}
	}

	var in InitIn
	in.SetInitFlags(FUSE_ASYNC_READ | FUSE_INIT_EXT | FUSE_REQUEST_TIMEOUT)
	if in.Flags != uint32(FUSE_ASYNC_READ|FUSE_INIT_EXT) || in.Flags2 != 1<<10 {
		t.Errorf("SetInitFlags: Flags %#x Flags2 %#x", in.Flags, in.Flags2)
	}
	if got := in.InitFlags(); got != FUSE_ASYNC_READ|FUSE_INIT_EXT|FUSE_REQUEST_TIMEOUT {
		t.Errorf("InitIn.InitFlags = %v", got)
	}
	var out InitOut
	out.SetInitFlags(DefaultInitFlags)
	if out.InitFlags() != DefaultInitFlags {
		t.Errorf("InitOut flags round trip = %v", out.InitFlags())
	}
}
