package decode_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
	"github.com/fusectl/fusectl/decode/decodetest"
)

// dupKeys returns the keys that an object of js (at any depth) has twice.
func dupKeys(js []byte) ([]string, error) {
	d := json.NewDecoder(bytes.NewReader(js))
	var dups []string
	var walk func() error
	walk = func() error {
		t, err := d.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'):
			seen := map[string]bool{}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return err
				}
				if seen[k.(string)] {
					dups = append(dups, k.(string))
				}
				seen[k.(string)] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = d.Token()
			return err
		case json.Delim('['):
			for d.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = d.Token()
			return err
		}
		return nil
	}
	return dups, walk()
}

func TestJSONKeysOnce(t *testing.T) {
	s := decode.NewSession(decode.Options{})
	f := &decode.Formatter{Time: decode.TimeUTC, Hex: true}
	var r decode.Record
	seen := map[string]bool{}
	// And a SETATTR that sets everything.
	b := decodetest.New()
	b.Request(abi.FUSE_SETATTR, 3, &abi.SetattrIn{Valid: ^abi.FattrFlags(0), UID: 7, GID: 8, Mode: 0o100600})
	for _, m := range append(seedSessions(), b.Msgs...) {
		s.DecodeMsg(m.Time, m.Dir, 0, m.Data, len(m.Data), le, &r)
		js := f.AppendJSON(nil, &r)
		dups, err := dupKeys(js)
		if err != nil {
			t.Fatalf("%v: %s", err, js)
		}
		for _, k := range dups {
			id := fmt.Sprintf("%v %s: %s", capture.Dir(m.Dir), r.OpName(), k)
			if !seen[id] {
				seen[id] = true
				t.Errorf("%s twice: %s", id, js)
			}
		}
	}
}
