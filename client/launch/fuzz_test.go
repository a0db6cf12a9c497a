package launch

import (
	"strings"
	"testing"
)

// FuzzShimMessage feeds arbitrary rendezvous messages through the parsing
// Start does on what a shim sends: no panic, every option non-empty, and
// argv round-trips through the wire form.
func FuzzShimMessage(f *testing.F) {
	f.Add([]byte(shimHello + "fusermount\x00-o\x00rw,nosuid,allow_other,fsname=a\\,b\x00--\x00/mnt"))
	f.Add([]byte(shimHello + "fusermount3\x00/mnt\x00-o\x00default_permissions"))
	f.Add([]byte(shimHello + "fusermount3\x00-oro\x00-o"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		argv, err := parseShimArgv(msg)
		if err != nil {
			if argv != nil {
				t.Fatal("argv with an error")
			}
			return
		}
		if got := shimHello + strings.Join(argv, "\x00"); got != string(msg) {
			t.Fatalf("argv does not round-trip: %q", got)
		}
		for _, o := range mountOptions(argv) {
			if o == "" {
				t.Fatalf("empty option from %q", argv)
			}
		}
	})
}
