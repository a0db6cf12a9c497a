package mount

import (
	"strings"
	"testing"
)

func initReply(minor uint32, flags, flags2 uint32, maxWrite uint32, maxPages uint16) []byte {
	body := make([]byte, 64)
	ne.PutUint32(body[0:], 7)
	ne.PutUint32(body[4:], minor)
	ne.PutUint32(body[initFlags:], flags)
	ne.PutUint32(body[initMaxWrite:], maxWrite)
	ne.PutUint16(body[initMaxPages:], maxPages)
	ne.PutUint32(body[initFlags2:], flags2)
	return rep(2, 0, body)
}

func TestAdjustInit(t *testing.T) {
	const page = 4096
	tests := []struct {
		name              string
		msg               []byte
		pages             int
		wantFlags, wantF2 uint32
		wantWrite         uint32
		wantPages         uint16
		wantNote          string
	}{
		{
			name:      "passthrough and io_uring cleared, rest kept",
			msg:       initReply(45, flagInitExt|flagMaxPages|1, flagPassthru|flagOverIOUrin|1, 1<<20, 256),
			wantFlags: flagInitExt | flagMaxPages | 1, wantF2: 1, wantWrite: 1 << 20, wantPages: 256,
			wantNote: "PASSTHROUGH cleared, OVER_IO_URING cleared",
		},
		{
			name:      "clamped",
			msg:       initReply(45, flagInitExt|flagMaxPages, 0, 1<<20, 256),
			pages:     SplicePages,
			wantFlags: flagInitExt | flagMaxPages, wantWrite: SplicePages * page, wantPages: SplicePages,
			wantNote: "max_write 1048576 -> 57344, max_pages 256 -> 14",
		},
		{
			name:      "no MAX_PAGES flag: set it, since the kernel would use 32",
			msg:       initReply(31, 0, 0, 4096, 0),
			pages:     SplicePages,
			wantFlags: flagMaxPages, wantWrite: 4096, wantPages: SplicePages,
			wantNote: "max_pages 0 -> 14",
		},
		{
			name:      "small enough already",
			msg:       initReply(45, flagMaxPages, 0, 8192, 2),
			pages:     SplicePages,
			wantFlags: flagMaxPages, wantWrite: 8192, wantPages: 2,
		},
		{
			name:      "a send buffer of 425984 bytes (wmem_max's default, doubled)",
			msg:       initReply(45, flagInitExt|flagMaxPages, 0, 1<<20, 256),
			pages:     socketPages(425984, page),
			wantFlags: flagInitExt | flagMaxPages, wantWrite: 103 * page, wantPages: 103,
			wantNote: "max_write 1048576 -> 421888, max_pages 256 -> 103",
		},
		{
			name:      "without MAX_PAGES the kernel's 32 pages fit such a buffer",
			msg:       initReply(45, flagInitExt, 0, 1<<20, 0),
			pages:     socketPages(425984, page),
			wantFlags: flagInitExt, wantWrite: 103 * page,
			wantNote: "max_write 1048576 -> 421888",
		},
		{
			name:      "flags2 ignored without INIT_EXT",
			msg:       initReply(45, 0, flagPassthru, 8192, 0),
			wantF2:    flagPassthru,
			wantWrite: 8192,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			note := adjustInit(tt.msg, tt.pages, page)
			body := tt.msg[outHeaderSize:]
			if got := ne.Uint32(body[initFlags:]); got != tt.wantFlags {
				t.Errorf("flags %#x, want %#x", got, tt.wantFlags)
			}
			if got := ne.Uint32(body[initFlags2:]); got != tt.wantF2 {
				t.Errorf("flags2 %#x, want %#x", got, tt.wantF2)
			}
			if got := ne.Uint32(body[initMaxWrite:]); got != tt.wantWrite {
				t.Errorf("max_write %d, want %d", got, tt.wantWrite)
			}
			if got := ne.Uint16(body[initMaxPages:]); got != tt.wantPages {
				t.Errorf("max_pages %d, want %d", got, tt.wantPages)
			}
			if note != tt.wantNote {
				t.Errorf("note %q, want %q", note, tt.wantNote)
			}
		})
	}
	// A datagram of socketPages' data and a WRITE's headers fits.
	for _, sndbuf := range []int{4608, 425984, 2 * (DefaultMaxWrite + 4096)} {
		n := socketPages(sndbuf, page)
		if msg := n*page + inHeaderSize + 40; msg > sndbuf-unixDgramOverhead || (n+1)*page+inHeaderSize+40 <= sndbuf-unixDgramOverhead {
			t.Errorf("send buffer %d: %d pages, a WRITE of %d bytes; not the most that fits", sndbuf, n, msg)
		}
	}
	// A 24-byte reply (libfuse2) and an error reply are left alone.
	short := rep(2, 0, make([]byte, 24))
	if note := adjustInit(short, SplicePages, page); strings.Contains(note, "max_pages") {
		t.Errorf("24-byte reply: %q", note)
	}
	if note := adjustInit(rep(2, -38, nil), SplicePages, page); note != "" {
		t.Errorf("error reply adjusted: %q", note)
	}
}

func FuzzAdjustInit(f *testing.F) {
	f.Add(initReply(45, flagInitExt|flagMaxPages, flagPassthru, 1<<20, 256), SplicePages)
	f.Add(rep(2, 0, make([]byte, 24)), 103)
	f.Fuzz(func(t *testing.T, msg []byte, pages int) {
		if len(msg) < outHeaderSize {
			return
		}
		n := len(msg)
		adjustInit(msg, pages, 4096)
		if len(msg) != n {
			t.Fatalf("length changed")
		}
	})
}
