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

// FuzzFuseMountOptions feeds arbitrary mount(2) arguments, as a server
// under the intercept method passes them, through fuseMountOptions: no
// panic, no empty option, none of the connection's own options, blkdev
// once for fuseblk and never otherwise, and no fsname or subtype twice.
func FuzzFuseMountOptions(f *testing.F) {
	f.Add("/img.ntfs", "fuse", uint64(0), "allow_other,fd=4,rootmode=40000,user_id=0,group_id=0")
	f.Add("/dev/loop0", "fuseblk", uint64(6), "fd=4,blksize=4096,,fsname=x")
	f.Add("", "fuse.sub", uint64(1), "subtype=y,subtype=z")
	f.Fuzz(func(t *testing.T, source, fstype string, flags uint64, data string) {
		seen := map[string]int{}
		for _, o := range fuseMountOptions(source, fstype, uintptr(flags), data) {
			name, _, _ := strings.Cut(o, "=")
			switch name {
			case "":
				t.Fatalf("empty option name in %q", o)
			case "fd", "rootmode", "user_id", "group_id":
				t.Fatalf("connection option %q passed on", o)
			}
			seen[name]++
		}
		if base, _, _ := strings.Cut(fstype, "."); (seen["blkdev"] == 1) != (base == "fuseblk") {
			t.Fatalf("type %q gave blkdev %d times", fstype, seen["blkdev"])
		}
		for _, name := range []string{"fsname", "subtype"} {
			if seen[name] > 1 && !strings.Contains(data, name+"=") {
				t.Fatalf("%s added beside the data's own: %q", name, data)
			}
		}
	})
}
