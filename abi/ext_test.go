package abi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// kernelExtensions builds the extension area the kernel sends on a
// CREATE with FUSE_SECURITY_CTX and FUSE_CREATE_SUPP_GROUP negotiated: a
// security block with one SELinux context, then the groups block.
func kernelExtensions(o ByteOrder) []byte {
	var body []byte
	ctx := []byte("system_u:object_r:fusefs_t:s0\x00")
	body = (&Secctx{Size: uint32(len(ctx))}).Append(body, o)
	body = AppendCString(body, "security.selinux")
	body = append(body, ctx...)
	ext := AppendExt(nil, 1, body, o) // type = nr_secctx
	var groups []byte
	groups = (&SuppGroups{NrGroups: 1}).Append(groups, o)
	groups = o.AppendUint32(groups, 1000)
	return AppendExt(ext, FUSE_EXT_GROUPS, groups, o)
}

func TestExtensions(t *testing.T) {
	for _, ord := range orders {
		src := kernelExtensions(ord.o)
		if len(src)%8 != 0 {
			t.Fatalf("extension area of %d bytes", len(src))
		}
		h, body, rest, err := NextExt(src, ord.o)
		if err != nil {
			t.Fatal(err)
		}
		if h.Type != 1 || h.Type > FUSE_MAX_NR_SECCTX || int(h.Size) != 8+len(body) || h.Size%8 != 0 {
			t.Errorf("security block header %+v, body %d bytes", h, len(body))
		}
		var sc Secctx
		after, err := sc.Unmarshal(body, ord.o)
		if err != nil {
			t.Fatal(err)
		}
		name, value, err := CString(after)
		if err != nil || string(name) != "security.selinux" {
			t.Fatalf("context name %q, %v", name, err)
		}
		if !bytes.HasPrefix(value, []byte("system_u:")) || int(sc.Size) > len(value) {
			t.Errorf("context value %q, size %d", value, sc.Size)
		}

		h, body, rest, err = NextExt(rest, ord.o)
		if err != nil {
			t.Fatal(err)
		}
		if h != (ExtHeader{Size: 16, Type: FUSE_EXT_GROUPS}) {
			t.Errorf("groups header %+v, want size 16 type 32", h)
		}
		var g SuppGroups
		gids, err := g.Unmarshal(body, ord.o)
		if err != nil || g.NrGroups != 1 || ord.o.Uint32(gids) != 1000 {
			t.Errorf("groups %+v %x %v", g, gids, err)
		}
		if len(rest) != 0 {
			t.Errorf("%d bytes after the extensions", len(rest))
		}
	}
}

func TestExtHostile(t *testing.T) {
	o := binary.LittleEndian
	hdr := func(size, typ uint32, tail int) []byte {
		return append((&ExtHeader{Size: size, Type: typ}).Append(nil, o), make([]byte, tail)...)
	}
	tests := []struct {
		name string
		src  []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"short header", hdr(8, 32, 0)[:7], ErrShort},
		{"size 0", hdr(0, 32, 8), ErrBadExt},
		{"size 4", hdr(4, 32, 8), ErrBadExt},
		{"size unaligned", hdr(12, 32, 8), ErrBadExt},
		{"size past end", hdr(24, 32, 8), ErrShort},
		{"size huge", hdr(0xFFFFFFF8, 32, 8), ErrShort},
	}
	for _, tt := range tests {
		_, body, rest, err := NextExt(tt.src, o)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
		if body != nil || len(rest) != len(tt.src) {
			t.Errorf("%s: body %x, rest %d bytes after an error", tt.name, body, len(rest))
		}
	}
	// An empty extension (header only) is valid.
	h, body, rest, err := NextExt(hdr(8, 0, 0), o)
	if err != nil || len(body) != 0 || len(rest) != 0 || h.Size != 8 {
		t.Errorf("header-only extension: %+v %x %v", h, body, err)
	}
}

func TestAppendExtPads(t *testing.T) {
	b := AppendExt([]byte{0xAA}, 32, []byte{1, 2, 3}, binary.LittleEndian)
	want := []byte{0xAA, 16, 0, 0, 0, 32, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 0}
	if !bytes.Equal(b, want) {
		t.Errorf("AppendExt = %x, want %x", b, want)
	}
}

func TestCString(t *testing.T) {
	s, rest, err := CString([]byte("old\x00new\x00"))
	if err != nil || string(s) != "old" || string(rest) != "new\x00" {
		t.Errorf("CString = %q %q %v", s, rest, err)
	}
	if cap(s) != len(s) {
		t.Errorf("name capacity %d, want %d", cap(s), len(s))
	}
	s, rest, err = CString(rest)
	if err != nil || string(s) != "new" || len(rest) != 0 {
		t.Errorf("second CString = %q %q %v", s, rest, err)
	}
	s, rest, err = CString([]byte("\x00"))
	if err != nil || len(s) != 0 || len(rest) != 0 {
		t.Errorf("empty name = %q %q %v", s, rest, err)
	}
	for _, src := range [][]byte{nil, []byte("no terminator")} {
		if _, rest, err := CString(src); !errors.Is(err, ErrNoNUL) || len(rest) != len(src) {
			t.Errorf("CString(%q): err = %v, rest %q", src, err, rest)
		}
	}
	if got := AppendCString([]byte("a"), "bc"); string(got) != "abc\x00" {
		t.Errorf("AppendCString(string) = %q", got)
	}
	if got := AppendCString(nil, []byte("x")); string(got) != "x\x00" {
		t.Errorf("AppendCString([]byte) = %q", got)
	}
}

func TestSplitExt(t *testing.T) {
	o := binary.LittleEndian
	ext := kernelExtensions(o)
	body := (&CreateIn{Flags: 1, Mode: 0o100644}).Append(nil, o)
	body = AppendCString(body, "new-file")
	body = append(body, ext...)
	h := InHeader{Len: uint32(InHeaderSize + len(body)), Opcode: FUSE_CREATE, TotalExtlen: uint16(len(ext) / 8)}
	args, gotExt, err := SplitExt(body, h.TotalExtlen)
	if err != nil || !bytes.Equal(gotExt, ext) || len(args) != 16+9 || h.ExtLen() != len(ext) {
		t.Fatalf("SplitExt: args %d bytes, ext %x, %v", len(args), gotExt, err)
	}
	if cap(args) != len(args) {
		t.Error("args can be extended into the extensions")
	}
	if args, ext, err := SplitExt(body, 0); err != nil || len(args) != len(body) || len(ext) != 0 {
		t.Errorf("SplitExt without extensions: %d, %d, %v", len(args), len(ext), err)
	}
	if _, _, err := SplitExt(body[:8], 2); !errors.Is(err, ErrBadExt) {
		t.Errorf("SplitExt past the body: %v", err)
	}
}
