package launch

import "sync"

// ring keeps the last size bytes written to it.
type ring struct {
	mu   sync.Mutex
	buf  []byte // +checklocks:mu
	size int
	full bool // +checklocks:mu
	pos  int  // +checklocks:mu
}

func newRing(size int) *ring { return &ring{buf: make([]byte, size), size: size} }

// Write implements io.Writer; it never fails.
func (r *ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(p)
	if len(p) > r.size {
		p = p[len(p)-r.size:]
	}
	for len(p) > 0 {
		c := copy(r.buf[r.pos:], p)
		p = p[c:]
		r.pos += c
		if r.pos == r.size {
			r.pos, r.full = 0, true
		}
	}
	return n, nil
}

// Bytes returns a copy of what the ring holds, oldest first.
func (r *ring) Bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]byte(nil), r.buf[:r.pos]...)
	}
	out := make([]byte, 0, r.size)
	out = append(out, r.buf[r.pos:]...)
	return append(out, r.buf[:r.pos]...)
}
