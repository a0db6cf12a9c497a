package launch

import (
	"bytes"
	"io"
	"sync/atomic"
)

// endOfStreamNoise are what go-fuse logs, once per reader goroutine, when
// a read returns end of stream: "Short read for input header: []" and
// then "Failed to read from fuse conn: 22=invalid argument". On a direct
// mount the unmount gives its readers ENODEV, on which go-fuse is silent;
// a socket can only end, so every go-fuse server would end a session
// through fusectl with these lines, which it never prints by itself.
var endOfStreamNoise = [][]byte{
	[]byte("Short read for input header: []"),
	[]byte("Failed to read from fuse conn: 22=invalid argument"),
}

// quietEnd passes a server's output through to w as it comes, until Stop
// has ended the server's stream (ended); from then on it passes whole
// lines, leaving out those of endOfStreamNoise. Only what is shown is
// filtered: Server.Output keeps every line.
//
// It never fails: once w does (a closed terminal, a reader gone), the
// output is no longer shown, but the pipe is still drained into the ring,
// so that the server never blocks writing to it.
type quietEnd struct {
	w       io.Writer
	ended   *atomic.Bool
	partial []byte // the start of a line, held once ended
	broken  bool   // w failed
}

func (q *quietEnd) Write(p []byte) (int, error) {
	if q.broken {
		return len(p), nil
	}
	if !q.ended.Load() && len(q.partial) == 0 {
		q.show(p)
		return len(p), nil
	}
	q.partial = append(q.partial, p...)
	for {
		i := bytes.IndexByte(q.partial, '\n')
		if i < 0 {
			break
		}
		line := q.partial[:i+1]
		q.partial = q.partial[i+1:]
		if !isEndOfStreamNoise(line) {
			q.show(line)
		}
	}
	if len(q.partial) > maxHeldLine {
		// No line of endOfStreamNoise is this long: a server writing
		// without newlines is shown as it comes, not held.
		q.show(q.partial)
		q.partial = q.partial[:0]
	}
	if len(q.partial) == 0 {
		q.partial = nil // let the array go
	}
	return len(p), nil
}

// maxHeldLine bounds the start of a line quietEnd holds.
const maxHeldLine = 4096

func (q *quietEnd) show(p []byte) {
	if !q.broken {
		if _, err := q.w.Write(p); err != nil {
			q.broken = true
		}
	}
}

// flush writes out a last line that ended without a newline.
func (q *quietEnd) flush() {
	if len(q.partial) > 0 && !isEndOfStreamNoise(q.partial) {
		q.show(q.partial)
	}
	q.partial = nil
}

func isEndOfStreamNoise(line []byte) bool {
	for _, n := range endOfStreamNoise {
		if bytes.Contains(line, n) {
			return true
		}
	}
	return false
}
