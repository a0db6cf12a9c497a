package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"
)

// sliceSource is a datagramSource over a list of datagrams; an empty
// datagram or the end of the list reads as end of stream.
type sliceSource struct {
	dgs [][]byte
	pos int
	// stall, if positive, makes the first recv of datagram stall-1 fail
	// once with a deadline error, as a read deadline set by another
	// goroutine would.
	stall int
}

func (s *sliceSource) recv(b []byte, peek bool) (int, error) {
	if s.stall > 0 && s.pos == s.stall-1 {
		s.stall = 0
		return 0, os.ErrDeadlineExceeded
	}
	if s.pos >= len(s.dgs) {
		return 0, nil
	}
	d := s.dgs[s.pos]
	copy(b, d)
	if !peek {
		s.pos++
	}
	return len(d), nil
}

// splitDatagrams decodes the fuzz input: a sequence of 2-byte little-endian
// lengths each followed by that many bytes (cut at the end of data).
func splitDatagrams(data []byte) [][]byte {
	var dgs [][]byte
	for len(data) >= 2 {
		n := int(binary.LittleEndian.Uint16(data))
		data = data[2:]
		n = min(n, len(data))
		dgs = append(dgs, data[:n])
		data = data[n:]
	}
	return dgs
}

func joinDatagrams(dgs ...[]byte) []byte {
	var b []byte
	for _, d := range dgs {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(d)))
		b = append(b, d...)
	}
	return b
}

// modelMessage is the framing rule written as plainly as possible: the
// expected message, or which sentinel the reader must report.
func modelMessage(dgs [][]byte, maxMsg int) ([]byte, error) {
	if len(dgs) == 0 || len(dgs[0]) == 0 {
		return nil, ErrPeerGone
	}
	d := dgs[0]
	if len(d) < HeaderMin {
		return nil, ErrBadFrame
	}
	l := int(binary.NativeEndian.Uint32(d))
	if l < HeaderMin || l > maxMsg || len(d) > l {
		return nil, ErrBadFrame
	}
	got := append([]byte(nil), d...)
	for i := 1; len(got) < l; i++ {
		if i >= len(dgs) || len(dgs[i]) == 0 {
			return nil, ErrPeerGone
		}
		if len(got)+len(dgs[i]) > l {
			return nil, ErrBadFrame
		}
		got = append(got, dgs[i]...)
	}
	return got, nil
}

// FuzzReassemble checks readMessage against modelMessage on arbitrary
// datagram sequences, buffer capacities and limits, and that it never
// allocates more than the message needs. With stall, a read deadline
// interrupts the read before one datagram; reading again must give the
// same message, as if nothing had happened.
func FuzzReassemble(f *testing.F) {
	spliced := message(16+64*3, 1)
	f.Add(joinDatagrams(spliced[:80], spliced[80:144], spliced[144:]), uint16(0), uint16(20000), uint8(0))
	f.Add(joinDatagrams(spliced[:80], spliced[80:144], spliced[144:]), uint16(30000), uint16(20000), uint8(2))
	f.Add(joinDatagrams(spliced[:80], spliced[80:144], spliced[144:]), uint16(0), uint16(20000), uint8(3))
	f.Add(joinDatagrams(message(80, 2)), uint16(100), uint16(100), uint8(1))
	f.Add(joinDatagrams(message(40, 3), message(16, 4)), uint16(16), uint16(40), uint8(0))
	f.Add(joinDatagrams([]byte{1, 2, 3}), uint16(0), uint16(100), uint8(0))
	f.Add(joinDatagrams(spliced[:100], message(120, 5)), uint16(0), uint16(20000), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, bufCap, maxMsg uint16, stall uint8) {
		dgs := splitDatagrams(data)
		mm := max(int(maxMsg), HeaderMin)
		want, wantErr := modelMessage(dgs, mm)
		src := &sliceSource{dgs: dgs, stall: int(stall)}
		var part partial
		got, err := readMessage(src, make([]byte, 0, int(bufCap)), mm, &part)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			got, err = readMessage(src, make([]byte, 0, int(bufCap)), mm, &part)
		}
		if part.buf != nil {
			t.Fatalf("a message of %d bytes is left half read", len(part.buf))
		}
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("err %v, model says %v", err, wantErr)
		}
		if err != nil {
			if got != nil {
				t.Fatal("non-nil message with an error")
			}
			if !errors.Is(err, wantErr) {
				t.Fatalf("err %v, want %v", err, wantErr)
			}
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %x, want %x", got, want)
		}
		if cap(got) > max(int(bufCap), len(want)) {
			t.Fatalf("buffer of cap %d for a %d-byte message (given cap %d)", cap(got), len(want), bufCap)
		}
	})
}
