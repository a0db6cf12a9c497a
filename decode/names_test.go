package decode

import (
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
)

// TestFlagTables checks the name tables of this package: each name is a
// single bit, no two overlap, and bits come in increasing order, so that
// printing is stable.
func TestFlagTables(t *testing.T) {
	for name, table := range map[string][]abi.FlagName{
		"open": openFlagNames, "rename": renameFlagNames, "xattr": xattrFlagNames,
	} {
		var seen uint64
		for i, f := range table {
			if f.Bit == 0 || f.Bit&(f.Bit-1) != 0 {
				t.Errorf("%s: %s is not one bit: %#x", name, f.Name, f.Bit)
			}
			if seen&f.Bit != 0 {
				t.Errorf("%s: %s overlaps", name, f.Name)
			}
			if i > 0 && f.Bit <= table[i-1].Bit {
				t.Errorf("%s: %s out of order", name, f.Name)
			}
			seen |= f.Bit
		}
	}
}

func TestFlagString(t *testing.T) {
	tests := []struct {
		kind flagKind
		v    uint64
		want string
	}{
		{kOpen, 0, "RDONLY"},
		{kOpen, 0o100101, "WRONLY|CREAT|LARGEFILE"},
		{kOpen, 2 | 1<<40, "RDWR|0x10000000000"},
		{kAccess, 0, "F_OK"},
		{kAccess, 6, "R_OK|W_OK"},
		{kWhence, 4, "SEEK_HOLE"},
		{kWhence, 9, "9"},
		{kLockType, 1, "F_WRLCK"},
		{kDtype, 4, "DIR"},
		{kDtype, 3, "3"},
		{kRename, 3, "NOREPLACE|EXCHANGE"},
		{kInit, uint64(abi.FUSE_ASYNC_READ | abi.FUSE_INIT_EXT), "ASYNC_READ|INIT_EXT"},
	}
	var c nameCache
	for _, tt := range tests {
		if got := flagString(tt.kind, tt.v); got != tt.want {
			t.Errorf("flagString(%d, %#x) = %q, want %q", tt.kind, tt.v, got, tt.want)
		}
		if got := c.get(tt.kind, tt.v); got != tt.want {
			t.Errorf("cached %q, want %q", got, tt.want)
		}
	}
}

func TestAppendDur(t *testing.T) {
	for ns, want := range map[int64]string{
		0: "0ns", 850: "850ns", 1000: "1µs", 1500: "1.5µs", 47000: "47µs", 123456: "123µs",
		1230000: "1.23ms", 2010111: "2.01ms", 1e9: "1s", 2500000000: "2.5s", 61e9: "61s", -5000: "-5µs",
	} {
		if got := string(appendDur(nil, ns)); got != want {
			t.Errorf("appendDur(%d) = %q, want %q", ns, got, want)
		}
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[uint32]string{
		0o100644: "-rw-r--r--", 0o40755: "drwxr-xr-x", 0o120777: "lrwxrwxrwx", 0o104755: "-rwsr-xr-x",
		0o102644: "-rw-r-Sr--", 0o41777: "drwxrwxrwt", 0o20620: "crw--w----", 0o755: "0755", 0: "00",
	} {
		if got := ModeString(m); got != want {
			t.Errorf("ModeString(%o) = %q, want %q", m, got, want)
		}
	}
}

func TestAppendQuoted(t *testing.T) {
	for in, want := range map[string]string{
		"a.txt": `"a.txt"`, `a"b\c`: `"a\"b\\c"`, "tab\there": `"tab\there"`, "\x00\xff": `"\x00\xff"`, "héllo": `"héllo"`,
	} {
		if got := string(appendQuoted(nil, []byte(in))); got != want {
			t.Errorf("appendQuoted(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestAppendRFC3339(t *testing.T) {
	f := &Formatter{}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		berlin = time.FixedZone("CET", 3600)
	}
	base := time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC) // a DST change in Berlin
	for i := 0; i < 5000; i++ {
		tt := base.Add(time.Duration(i) * 777777 * time.Microsecond)
		for _, loc := range []*time.Location{time.UTC, berlin, time.FixedZone("X", -5*3600-1800)} {
			tl := tt.In(loc)
			if got, want := string(f.appendRFC3339(nil, tl)), tl.Format(time.RFC3339Nano); got != want {
				t.Fatalf("appendRFC3339 = %s, want %s", got, want)
			}
		}
	}
}
