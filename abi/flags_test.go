package abi

import (
	"fmt"
	"math/bits"
	"testing"
)

var flagTables = map[string][]FlagName{
	"InitFlags":         initFlagNames,
	"FattrFlags":        fattrFlagNames,
	"FopenFlags":        fopenFlagNames,
	"OpenInFlags":       openInFlagNames,
	"GetattrFlags":      getattrFlagNames,
	"WriteFlags":        writeFlagNames,
	"ReadFlags":         readFlagNames,
	"LkFlags":           lkFlagNames,
	"ReleaseFlags":      releaseFlagNames,
	"IoctlFlags":        ioctlFlagNames,
	"PollFlags":         pollFlagNames,
	"FsyncFlags":        fsyncFlagNames,
	"AttrFlags":         attrFlagNames,
	"SetxattrFlags":     setxattrFlagNames,
	"InvalEntryFlags":   invalEntryFlagNames,
	"SetupmappingFlags": setupmappingFlagNames,
	"CuseFlags":         cuseFlagNames,
}

// TestFlagTables checks that every table has one bit per entry, in
// ascending bit order, no bit twice and no name twice, so that String is
// deterministic and no flag hides another.
func TestFlagTables(t *testing.T) {
	for set, names := range flagTables {
		var seen uint64
		byName := map[string]bool{}
		for i, n := range names {
			if bits.OnesCount64(n.Bit) != 1 {
				t.Errorf("%s: %s = %#x is not a single bit", set, n.Name, n.Bit)
			}
			if seen&n.Bit != 0 {
				t.Errorf("%s: %s overlaps an earlier flag", set, n.Name)
			}
			if i > 0 && n.Bit <= names[i-1].Bit {
				t.Errorf("%s: %s not in bit order", set, n.Name)
			}
			if byName[n.Name] || n.Name == "" {
				t.Errorf("%s: name %q empty or repeated", set, n.Name)
			}
			seen |= n.Bit
			byName[n.Name] = true
		}
	}
}

func TestInitFlagsComplete(t *testing.T) {
	// 7.45 assigns bits 0 to 42, all of them.
	var all uint64
	for _, n := range initFlagNames {
		all |= n.Bit
	}
	if all != 1<<43-1 {
		t.Errorf("InitFlags names cover %#x, want bits 0..42", all)
	}
}

func TestDefaultInitFlags(t *testing.T) {
	// §3.1: bits 0-1, 3-25 and 28-30, plus SECURITY_CTX (32),
	// CREATE_SUPP_GROUP (34), HAS_EXPIRE_ONLY (35), DIRECT_IO_ALLOW_MMAP
	// (36), NO_EXPORT_SUPPORT (38), HAS_RESEND (39), ALLOW_IDMAP (40),
	// REQUEST_TIMEOUT (42).
	var want InitFlags
	for b := range 43 {
		switch {
		case b <= 1, b >= 3 && b <= 25, b >= 28 && b <= 30:
			want |= 1 << b
		case b == 32, b == 34, b == 35, b == 36, b == 38, b == 39, b == 40, b == 42:
			want |= 1 << b
		}
	}
	if DefaultInitFlags != want {
		t.Errorf("DefaultInitFlags = %v\nwant %v", DefaultInitFlags, want)
	}
	for _, f := range []InitFlags{FUSE_FILE_OPS, FUSE_MAP_ALIGNMENT, FUSE_SUBMOUNTS, FUSE_INIT_RESERVED,
		FUSE_HAS_INODE_DAX, FUSE_PASSTHROUGH, FUSE_OVER_IO_URING} {
		if DefaultInitFlags&f != 0 {
			t.Errorf("DefaultInitFlags has %v", f)
		}
	}
}

func TestFlagStrings(t *testing.T) {
	tests := []struct {
		v    fmt.Stringer
		want string
	}{
		{FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | 1<<43, "ASYNC_READ|POSIX_LOCKS|0x80000000000"},
		{InitFlags(0), "0"},
		{InitFlags(1 << 63), "0x8000000000000000"},
		{FUSE_REQUEST_TIMEOUT | FUSE_ASYNC_READ, "ASYNC_READ|REQUEST_TIMEOUT"},
		{FUSE_DIRECT_IO_RELAX, "DIRECT_IO_ALLOW_MMAP"},
		{FATTR_MODE | FATTR_KILL_SUIDGID | 1<<12 | 1<<31, "MODE|KILL_SUIDGID|0x80001000"},
		{FOPEN_DIRECT_IO | FOPEN_PASSTHROUGH, "DIRECT_IO|PASSTHROUGH"},
		{FUSE_OPEN_KILL_SUIDGID, "KILL_SUIDGID"},
		{FUSE_GETATTR_FH | 2, "FH|0x2"},
		{FUSE_WRITE_KILL_PRIV | FUSE_WRITE_CACHE, "CACHE|KILL_SUIDGID"},
		{FUSE_READ_LOCKOWNER | 1, "LOCKOWNER|0x1"},
		{FUSE_LK_FLOCK, "FLOCK"},
		{FUSE_RELEASE_FLUSH | FUSE_RELEASE_FLOCK_UNLOCK, "FLUSH|FLOCK_UNLOCK"},
		{FUSE_IOCTL_32BIT | FUSE_IOCTL_DIR, "32BIT|DIR"},
		{FUSE_POLL_SCHEDULE_NOTIFY, "SCHEDULE_NOTIFY"},
		{FUSE_FSYNC_FDATASYNC, "FDATASYNC"},
		{FUSE_ATTR_SUBMOUNT | FUSE_ATTR_DAX, "SUBMOUNT|DAX"},
		{FUSE_SETXATTR_ACL_KILL_SGID, "ACL_KILL_SGID"},
		{FUSE_EXPIRE_ONLY | 4, "EXPIRE_ONLY|0x4"},
		{FUSE_SETUPMAPPING_FLAG_READ | 1<<40, "READ|0x10000000000"},
		{CUSE_UNRESTRICTED_IOCTL, "UNRESTRICTED_IOCTL"},
		{FsyncFlags(0), "0"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%T(%#x).String() = %q, want %q", tt.v, tt.v, got, tt.want)
		}
	}
}

func TestFormatFlags(t *testing.T) {
	names := []FlagName{{1, "A"}, {4, "C"}}
	for v, want := range map[uint64]string{0: "0", 1: "A", 5: "A|C", 2: "0x2", 7: "A|C|0x2"} {
		if got := FormatFlags(v, names); got != want {
			t.Errorf("FormatFlags(%#x) = %q, want %q", v, got, want)
		}
	}
	if got := FormatFlags(3, nil); got != "0x3" {
		t.Errorf("FormatFlags with no names = %q", got)
	}
}
