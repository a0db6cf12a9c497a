package decode_test

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
)

// TestRealCaptures decodes the sessions of real servers in
// testdata/captures: every record must decode, every reply must pair with its
// request, and the session must have learnt paths and the server's protocol
// minor, as a person reading `fusectl decode` of them would expect.
func TestRealCaptures(t *testing.T) {
	files, err := filepath.Glob("../testdata/captures/*.fcap")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d captures in testdata/captures, want at least 4", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			cr, err := capture.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer cr.Close()
			d := decode.NewDecoder(decode.Options{})
			var (
				rec          capture.Record
				r            decode.Record
				n, withPath  int
				sawInitReply bool
			)
			var f decode.Formatter
			var line []byte
			for {
				err := cr.NextInto(&rec)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("record %d: %v", n, err)
				}
				if err := d.Decode(&rec, &r); err != nil {
					t.Fatalf("record %d at offset %d: %v", n, rec.Offset, err)
				}
				if r.Malformed != nil {
					t.Errorf("record %d (%v %v) malformed: %v", n, r.Dir, r.Op, r.Malformed)
				}
				if len(r.Path) > 0 {
					withPath++
				}
				if r.Dir == capture.DirReply && r.Op.String() == "INIT" && r.Errno == 0 {
					sawInitReply = true
				}
				line = f.AppendText(line[:0], &r)
				if len(line) == 0 {
					t.Errorf("record %d printed as nothing", n)
				}
				n++
			}
			if cr.Truncated() {
				t.Errorf("capture is truncated")
			}
			c := d.Counters()
			if c.Unpaired != 0 || c.Malformed != 0 || c.Evicted != 0 {
				t.Errorf("counters %+v: want no unpaired, malformed or evicted records", c)
			}
			if n < 50 || c.Requests == 0 || c.Replies == 0 {
				t.Errorf("only %d records (%d requests, %d replies)", n, c.Requests, c.Replies)
			}
			if !sawInitReply {
				t.Errorf("no successful INIT reply")
			}
			if s := d.Session(0); s == nil || s.Proto().Minor < 19 {
				t.Errorf("negotiated minor not learnt")
			}
			if withPath < n/4 {
				t.Errorf("only %d of %d records have a path", withPath, n)
			}
		})
	}
}
