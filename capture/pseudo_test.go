package capture

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

func TestPseudoHeader(t *testing.T) {
	for _, ord := range orders {
		for _, d := range []Dir{DirRequest, DirReply, DirNotify} {
			for _, f := range []Flags{0, FlagSynthesized, FlagTruncated, FlagInjected, 0xffff} {
				b := AppendPseudoHeader([]byte("x"), d, f, ord.o)
				if len(b) != 1+PseudoHeaderSize || b[1] != FormatVersion || b[2] != byte(d) {
					t.Fatalf("%s %v %v: % x", ord.name, d, f, b)
				}
				if string(b[5:9]) != "\x00\x00\x00\x00" {
					t.Errorf("reserved bytes not zero: % x", b)
				}
				gd, gf, msg, err := ParsePseudoHeader(append(b[1:], "msg"...), ord.o)
				if err != nil || gd != d || gf != f || string(msg) != "msg" {
					t.Errorf("%s: parsed %v %v %q %v, want %v %v", ord.name, gd, gf, msg, err, d, f)
				}
			}
		}
	}
	// The flags are in the section's byte order.
	if b := AppendPseudoHeader(nil, DirReply, FlagTruncated, binary.BigEndian); b[2] != 0 || b[3] != 2 {
		t.Errorf("big-endian flags: % x", b)
	}
	if b := AppendPseudoHeader(nil, DirReply, FlagTruncated, binary.LittleEndian); b[2] != 2 || b[3] != 0 {
		t.Errorf("little-endian flags: % x", b)
	}
	// Reserved bytes are ignored, for later compatible use.
	if _, _, _, err := ParsePseudoHeader([]byte{1, 2, 0, 0, 9, 9, 9, 9}, binary.LittleEndian); err != nil {
		t.Errorf("reserved bytes set: %v", err)
	}
	for _, c := range []struct {
		b    []byte
		want error
	}{
		{[]byte{1, 1, 0, 0, 0, 0, 0}, ErrShort},
		{nil, ErrShort},
		{[]byte{2, 1, 0, 0, 0, 0, 0, 0}, ErrVersion},
		{[]byte{0, 1, 0, 0, 0, 0, 0, 0}, ErrVersion},
		{[]byte{1, 0, 0, 0, 0, 0, 0, 0}, ErrBadDir},
		{[]byte{1, 4, 0, 0, 0, 0, 0, 0}, ErrBadDir},
	} {
		if _, _, _, err := ParsePseudoHeader(c.b, binary.LittleEndian); !errors.Is(err, c.want) {
			t.Errorf("% x: %v, want %v", c.b, err, c.want)
		}
	}
}

func TestStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{DirRequest.String(), "request"},
		{DirReply.String(), "reply"},
		{DirNotify.String(), "notify"},
		{Dir(9).String(), "dir(9)"},
		{Flags(0).String(), "0"},
		{(FlagSynthesized | FlagInjected).String(), "synthesized|injected"},
		{(FlagTruncated | 0x8010).String(), "truncated|0x8010"},
		{Flags(0x20).String(), "0x20"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestTimestampResolutions(t *testing.T) {
	for _, c := range []struct {
		res    byte
		offset int64
		ts     uint64
		want   time.Time
	}{
		{9, 0, 1_700_000_000_123_456_789, time.Unix(1_700_000_000, 123_456_789)},
		{6, 0, 1_700_000_000_123_456, time.Unix(1_700_000_000, 123_456_000)}, // pcapng default
		{0, 0, 1_700_000_000, time.Unix(1_700_000_000, 0)},
		{12, 0, 1_000_000_123_456_789_012, time.Unix(1_000_000, 123_456_789)},
		{19, 0, 1<<64 - 1, time.Unix(1, 844_674_407)},
		{0x80 | 30, 0, 5<<30 | 1<<29, time.Unix(5, 500_000_000)},
		{0x80, 0, 42, time.Unix(42, 0)},
		{0x80 | 63, 0, 1<<63 | 1<<62, time.Unix(1, 500_000_000)},
		{9, 100, 1_000_000_001, time.Unix(101, 1)},
		{9, -1, 1_000_000_000, time.Unix(0, 0)},
	} {
		s, err := newTsScale(c.res)
		if err != nil {
			t.Errorf("resolution %#x: %v", c.res, err)
			continue
		}
		s.offset = c.offset
		if got := s.time(c.ts); !got.Equal(c.want) {
			t.Errorf("resolution %#x offset %d: %d is %v, want %v", c.res, c.offset, c.ts, got, c.want)
		}
	}
	for _, res := range []byte{20, 127, 0x80 | 64, 0xff} {
		if _, err := newTsScale(res); err == nil {
			t.Errorf("resolution %#x accepted", res)
		}
	}
}
