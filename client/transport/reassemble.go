package transport

import (
	"errors"
	"os"
)

// datagramSource yields datagrams one at a time; SeqPacket implements it over
// a socket and the fuzz test over a slice.
type datagramSource interface {
	// recv receives the next datagram into b and returns its full length,
	// which exceeds len(b) when the datagram did not fit (the excess is
	// lost). With peek the datagram stays queued. A length of 0 with a nil
	// error is the end of the stream.
	recv(b []byte, peek bool) (int, error)
}

// readMessage reads one whole message from src: a first datagram that
// starts with a header, then as many further datagrams as the header's len
// field needs. It never allocates more than maxMsg bytes and never more than
// the header's len: when buf is smaller than maxMsg it peeks at the header
// first and sizes the buffer from it; otherwise it reads straight into buf.
// After a framing error on a first datagram the stream stays aligned on
// datagram boundaries, so the next call can succeed.
//
// When part is non-nil, a read deadline that ends the wait for a further
// datagram leaves the message begun in part, and the next call finishes it
// instead of reading a new one: a deadline never loses part of a message.
func readMessage(src datagramSource, buf []byte, maxMsg int, part *partial) ([]byte, error) {
	if part != nil && part.buf != nil {
		buf, got := part.buf, part.got
		part.buf, part.got = nil, 0
		return readRest(src, buf, got, part)
	}
	if cap(buf) < maxMsg {
		var hdr [HeaderMin]byte
		n, err := src.recv(hdr[:], true)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, ErrPeerGone
		}
		if ferr := checkFirst(hdr[:min(n, HeaderMin)], n, maxMsg); ferr != nil {
			if _, err := src.recv(nil, false); err != nil {
				return nil, err
			}
			return nil, ferr
		}
		if l := msgLen(hdr[:]); cap(buf) < l {
			buf = make([]byte, l)
		}
	}
	buf = buf[:cap(buf)]
	n, err := src.recv(buf, false)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, ErrPeerGone
	}
	if n > len(buf) {
		return nil, &FrameError{Reason: "datagram larger than maximum message", Len: headerLen(buf), Got: n, Head: head(buf, n), Skipped: true}
	}
	if ferr := checkFirst(buf[:n], n, maxMsg); ferr != nil {
		return nil, ferr
	}
	return readRest(src, buf[:msgLen(buf)], n, part)
}

// partial is a message of which only the first got bytes have arrived.
type partial struct {
	buf []byte // len(buf) is the message's length
	got int
}

// readRest receives the datagrams that complete buf, of which got bytes
// are there.
func readRest(src datagramSource, buf []byte, got int, part *partial) ([]byte, error) {
	l := len(buf)
	for got < l {
		m, err := src.recv(buf[got:l], false)
		if err != nil {
			if part != nil && errors.Is(err, os.ErrDeadlineExceeded) {
				part.buf, part.got = buf, got
			}
			return nil, err
		}
		if m == 0 {
			return nil, ErrPeerGone
		}
		if m > l-got {
			return nil, &FrameError{Reason: "piece overruns header len", Len: l, Got: got + m, Head: head(buf, l)}
		}
		got += m
	}
	return buf, nil
}

// checkFirst validates the first datagram of a message, of which b holds at
// least the header when n >= HeaderMin.
func checkFirst(b []byte, n, maxMsg int) error {
	if n < HeaderMin {
		return &FrameError{Reason: "datagram shorter than a header", Len: headerLen(b), Got: n, Skipped: true}
	}
	l := msgLen(b)
	switch {
	case l < HeaderMin:
		return &FrameError{Reason: "header len below minimum", Len: l, Got: n, Head: head(b, n), Skipped: true}
	case l > maxMsg:
		return &FrameError{Reason: "header len above maximum", Len: l, Got: n, Head: head(b, n), Skipped: true}
	case n > l:
		return &FrameError{Reason: "datagram longer than header len", Len: l, Got: n, Head: head(b, n), Skipped: true}
	}
	return nil
}

// head copies the header at the start of b, of which n bytes arrived, if
// all of it did.
func head(b []byte, n int) []byte {
	if n < HeaderMin || len(b) < HeaderMin {
		return nil
	}
	return append([]byte(nil), b[:HeaderMin]...)
}

// headerLen returns the len field if b holds one, else 0.
func headerLen(b []byte) int {
	if len(b) < 4 {
		return 0
	}
	return msgLen(b)
}
