package decode

import (
	"strconv"

	"github.com/fusectl/fusectl/abi"
)

// flagKind names a flag set or an enumeration printed by name.
type flagKind uint8

const (
	kOpen flagKind = iota
	kOpenIn
	kRename
	kXattr
	kAccess
	kWhence
	kLockType
	kDtype
	kGetattr
	kRead
	kWrite
	kRelease
	kFsync
	kSetxattr
	kInit
	kCuse
	kLk
	kIoctl
	kPoll
	kSetupmapping
	kInvalEntry
	kFopen
	kAttr
	kFattr
)

// Linux open(2) flags, asm-generic values (x86, riscv, and most others;
// arm and arm64 differ in O_DIRECT, O_LARGEFILE, O_DIRECTORY and
// O_NOFOLLOW). The access mode (low two bits) is printed first.
var openFlagNames = []abi.FlagName{
	{Bit: 0o100, Name: "CREAT"},
	{Bit: 0o200, Name: "EXCL"},
	{Bit: 0o400, Name: "NOCTTY"},
	{Bit: 0o1000, Name: "TRUNC"},
	{Bit: 0o2000, Name: "APPEND"},
	{Bit: 0o4000, Name: "NONBLOCK"},
	{Bit: 0o10000, Name: "DSYNC"},
	{Bit: 0o20000, Name: "FASYNC"},
	{Bit: 0o40000, Name: "DIRECT"},
	{Bit: 0o100000, Name: "LARGEFILE"},
	{Bit: 0o200000, Name: "DIRECTORY"},
	{Bit: 0o400000, Name: "NOFOLLOW"},
	{Bit: 0o1000000, Name: "NOATIME"},
	{Bit: 0o2000000, Name: "CLOEXEC"},
	{Bit: 0o4000000, Name: "SYNC"},
	{Bit: 0o10000000, Name: "PATH"},
	{Bit: 0o20000000, Name: "TMPFILE"},
}

var renameFlagNames = []abi.FlagName{
	{Bit: 1, Name: "NOREPLACE"},
	{Bit: 2, Name: "EXCHANGE"},
	{Bit: 4, Name: "WHITEOUT"},
}

var xattrFlagNames = []abi.FlagName{
	{Bit: 1, Name: "CREATE"},
	{Bit: 2, Name: "REPLACE"},
}

var accessNames = []abi.FlagName{
	{Bit: 4, Name: "R_OK"},
	{Bit: 2, Name: "W_OK"},
	{Bit: 1, Name: "X_OK"},
}

var whenceNames = []string{"SEEK_SET", "SEEK_CUR", "SEEK_END", "SEEK_DATA", "SEEK_HOLE"}

var lockTypeNames = []string{"F_RDLCK", "F_WRLCK", "F_UNLCK"}

var dtypeNames = map[uint64]string{0: "UNKNOWN", 1: "FIFO", 2: "CHR", 4: "DIR", 6: "BLK", 8: "REG", 10: "LNK", 12: "SOCK", 14: "WHT"}

// flagString names v in the flag set or enumeration kind.
func flagString(kind flagKind, v uint64) string {
	switch kind {
	case kOpen:
		acc := [...]string{"RDONLY", "WRONLY", "RDWR", "ACCMODE3"}[v&3]
		if rest := v &^ 3; rest != 0 {
			return acc + "|" + abi.FormatFlags(rest, openFlagNames)
		}
		return acc
	case kOpenIn:
		return abi.OpenInFlags(v).String()
	case kRename:
		return abi.FormatFlags(v, renameFlagNames)
	case kXattr:
		return abi.FormatFlags(v, xattrFlagNames)
	case kAccess:
		if v == 0 {
			return "F_OK"
		}
		return abi.FormatFlags(v, accessNames)
	case kWhence:
		if v < uint64(len(whenceNames)) {
			return whenceNames[v]
		}
		return strconv.FormatUint(v, 10)
	case kLockType:
		if v < uint64(len(lockTypeNames)) {
			return lockTypeNames[v]
		}
		return strconv.FormatUint(v, 10)
	case kDtype:
		if n, ok := dtypeNames[v]; ok {
			return n
		}
		return strconv.FormatUint(v, 10)
	case kGetattr:
		return abi.GetattrFlags(v).String()
	case kRead:
		return abi.ReadFlags(v).String()
	case kWrite:
		return abi.WriteFlags(v).String()
	case kRelease:
		return abi.ReleaseFlags(v).String()
	case kFsync:
		return abi.FsyncFlags(v).String()
	case kSetxattr:
		return abi.SetxattrFlags(v).String()
	case kInit:
		return abi.InitFlags(v).String()
	case kCuse:
		return abi.CuseFlags(v).String()
	case kLk:
		return abi.LkFlags(v).String()
	case kIoctl:
		return abi.IoctlFlags(v).String()
	case kPoll:
		return abi.PollFlags(v).String()
	case kSetupmapping:
		return abi.SetupmappingFlags(v).String()
	case kInvalEntry:
		return abi.InvalEntryFlags(v).String()
	case kFopen:
		return abi.FopenFlags(v).String()
	case kAttr:
		return abi.AttrFlags(v).String()
	case kFattr:
		return abi.FattrFlags(v).String()
	}
	return "0x" + strconv.FormatUint(v, 16)
}

// nameCache remembers flag strings, since a capture repeats the same few
// values: printing them then allocates nothing.
type nameCache struct {
	m map[nameKey]string
}

type nameKey struct {
	kind flagKind
	v    uint64
}

// maxCachedNames bounds the cache against hostile input.
const maxCachedNames = 4096

func (c *nameCache) get(kind flagKind, v uint64) string {
	k := nameKey{kind, v}
	if s, ok := c.m[k]; ok {
		return s
	}
	s := flagString(kind, v)
	if c.m == nil {
		c.m = make(map[nameKey]string)
	}
	if len(c.m) < maxCachedNames {
		c.m[k] = s
	}
	return s
}
