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
		clamp             bool
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
			clamp:     true,
			wantFlags: flagInitExt | flagMaxPages, wantWrite: SplicePages * page, wantPages: SplicePages,
			wantNote: "max_write 1048576 -> 57344, max_pages 256 -> 14",
		},
		{
			name:      "no MAX_PAGES flag: set it, since the kernel would use 32",
			msg:       initReply(31, 0, 0, 4096, 0),
			clamp:     true,
			wantFlags: flagMaxPages, wantWrite: 4096, wantPages: SplicePages,
			wantNote: "max_pages 0 -> 14",
		},
		{
			name:      "small enough already",
			msg:       initReply(45, flagMaxPages, 0, 8192, 2),
			clamp:     true,
			wantFlags: flagMaxPages, wantWrite: 8192, wantPages: 2,
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
			note := adjustInit(tt.msg, tt.clamp, page)
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
	// A 24-byte reply (libfuse2) and an error reply are left alone.
	short := rep(2, 0, make([]byte, 24))
	if note := adjustInit(short, true, page); strings.Contains(note, "max_pages") {
		t.Errorf("24-byte reply: %q", note)
	}
	if note := adjustInit(rep(2, -38, nil), true, page); note != "" {
		t.Errorf("error reply adjusted: %q", note)
	}
}

func FuzzAdjustInit(f *testing.F) {
	f.Add(initReply(45, flagInitExt|flagMaxPages, flagPassthru, 1<<20, 256), true)
	f.Add(rep(2, 0, make([]byte, 24)), true)
	f.Fuzz(func(t *testing.T, msg []byte, clamp bool) {
		if len(msg) < outHeaderSize {
			return
		}
		n := len(msg)
		adjustInit(msg, clamp, 4096)
		if len(msg) != n {
			t.Fatalf("length changed")
		}
	})
}
