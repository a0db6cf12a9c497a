package launch

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
)

func TestQuietEnd(t *testing.T) {
	var out bytes.Buffer
	var ended atomic.Bool
	q := &quietEnd{w: &out, ended: &ended}
	// Before the end everything passes as it comes, a prompt without
	// its newline too, and so do the lines that are noise only after it.
	for _, p := range []string{"Password: ", "ok\n", "x Short read for input header: []\n"} {
		q.Write([]byte(p))
		if !bytes.HasSuffix(out.Bytes(), []byte(p)) {
			t.Fatalf("before the end, %q not passed at once: %q", p, out.String())
		}
	}
	out.Reset()
	ended.Store(true)
	for _, p := range []string{
		"2026/11/22 16:34:43 Short read for input header: []\n",
		"16:34:40.443599 Failed to read from fuse conn: 22=invalid argument\nserver: bye",
		"\n2026/11/22 16:34:43 Failed to read from fuse conn: 22=invalid argument\n",
		"Failed to read from fuse conn: 5=input/output error\n",
		"last words",
	} {
		q.Write([]byte(p))
	}
	if want := "server: bye\nFailed to read from fuse conn: 5=input/output error\n"; out.String() != want {
		t.Errorf("after the end: %q, want %q (the partial line held)", out.String(), want)
	}
	q.flush()
	if !bytes.HasSuffix(out.Bytes(), []byte("\nlast words")) {
		t.Errorf("flush did not write the last partial line: %q", out.String())
	}
	out.Reset()
	q.Write([]byte("Short read for input header: []"))
	q.flush()
	if out.Len() != 0 {
		t.Errorf("a noise line without newline was shown: %q", out.String())
	}
	// Output without newlines is not held without bound.
	for range 100 {
		q.Write(bytes.Repeat([]byte("x"), 1000))
	}
	if out.Len() < 100*1000-maxHeldLine || len(q.partial) > maxHeldLine {
		t.Errorf("of 100,000 bytes without a newline, %d shown and %d held", out.Len(), len(q.partial))
	}
}

// FuzzQuietEnd: however the output is cut into writes, what is shown after
// the end is its lines without the noise.
func FuzzQuietEnd(f *testing.F) {
	f.Add([]byte("a\nShort read for input header: []\nb"), uint8(3))
	f.Add([]byte("x Failed to read from fuse conn: 22=invalid argument\n\n"), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		var out bytes.Buffer
		var ended atomic.Bool
		ended.Store(true)
		q := &quietEnd{w: &out, ended: &ended}
		n := int(step)%16 + 1
		for p := b; len(p) > 0; {
			k := min(n, len(p))
			q.Write(p[:k])
			p = p[k:]
		}
		q.flush()
		var want bytes.Buffer
		for line := range bytes.Lines(b) {
			if !isEndOfStreamNoise(line) {
				want.Write(line)
			}
		}
		if out.String() != want.String() {
			t.Errorf("shown %q, want %q", out.String(), want.String())
		}
	})
}

// failingWriter fails every write, as a closed terminal does.
type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	f.n++
	return 0, errors.New("broken pipe")
}

// TestQuietEndDrains: a writer that fails must not stop the copying of the
// server's output (the server would block on a full pipe), and is not
// tried again.
func TestQuietEndDrains(t *testing.T) {
	var ended atomic.Bool
	f := &failingWriter{}
	q := &quietEnd{w: f, ended: &ended}
	for range 3 {
		if n, err := q.Write([]byte("line\n")); n != 5 || err != nil {
			t.Fatalf("Write = %d, %v; want 5, nil", n, err)
		}
	}
	ended.Store(true)
	q.Write([]byte("after\n"))
	q.flush()
	if f.n != 1 {
		t.Errorf("the failed writer was written %d times, want once", f.n)
	}
}
