package abi

import "structs"

// InitIn is struct fuse_init_in, the argument of INIT. Kernels before 7.36
// (Linux 5.17) send only the first FUSE_COMPAT_INIT_IN_SIZE bytes.
type InitIn struct {
	_ structs.HostLayout
	// Major is the kernel's protocol major version.
	Major uint32
	// Minor is the kernel's protocol minor version.
	Minor uint32
	// MaxReadahead is the kernel's readahead limit. Since 7.6.
	MaxReadahead uint32
	// Flags holds the low 32 [InitFlags] bits the kernel offers.
	Flags uint32
	// Flags2 holds the high 32 [InitFlags] bits, valid only with
	// FUSE_INIT_EXT in Flags. Since 7.36.
	Flags2 uint32
	_      [11]uint32
}

// InitFlags returns Flags and Flags2 as one 64-bit set. Flags2 is included
// whether or not FUSE_INIT_EXT is set; the kernel ignores it without.
func (in *InitIn) InitFlags() InitFlags {
	return InitFlags(in.Flags) | InitFlags(in.Flags2)<<32
}

// SetInitFlags splits f into Flags and Flags2.
func (in *InitIn) SetInitFlags(f InitFlags) {
	in.Flags, in.Flags2 = uint32(f), uint32(f>>32)
}

// InitOut is struct fuse_init_out, the reply of INIT. The kernel accepts a
// shorter reply (out_argvar); older servers send FUSE_COMPAT_INIT_OUT_SIZE
// (before 7.5) or FUSE_COMPAT_22_INIT_OUT_SIZE (before 7.23) bytes.
type InitOut struct {
	_ structs.HostLayout
	// Major is the server's protocol major version.
	Major uint32
	// Minor is the server's protocol minor version, which becomes the
	// negotiated one.
	Minor uint32
	// MaxReadahead is the server's readahead limit. Since 7.6.
	MaxReadahead uint32
	// Flags holds the low 32 [InitFlags] bits the server accepts. Since 7.5.
	Flags uint32
	// MaxBackground is the limit on background requests. Since 7.13.
	MaxBackground uint16
	// CongestionThreshold is the background count that marks the
	// connection congested. Since 7.13.
	CongestionThreshold uint16
	// MaxWrite is the largest WRITE payload. Since 7.5.
	MaxWrite uint32
	// TimeGran is the timestamp granularity in ns. Since 7.23.
	TimeGran uint32
	// MaxPages is the largest request in pages (FUSE_MAX_PAGES). Since 7.28.
	MaxPages uint16
	// MapAlignment is log2 of the DAX mapping alignment
	// (FUSE_MAP_ALIGNMENT). Since 7.31.
	MapAlignment uint16
	// Flags2 holds the high 32 [InitFlags] bits, valid only with
	// FUSE_INIT_EXT in Flags. Since 7.36.
	Flags2 uint32
	// MaxStackDepth is the file system stack depth for FUSE_PASSTHROUGH.
	// Since 7.40.
	MaxStackDepth uint32
	// RequestTimeout is the request timeout in seconds
	// (FUSE_REQUEST_TIMEOUT). Since 7.43.
	RequestTimeout uint16
	_              [11]uint16
}

// InitFlags returns Flags and Flags2 as one 64-bit set. Flags2 is included
// whether or not FUSE_INIT_EXT is set; the kernel ignores it without.
func (out *InitOut) InitFlags() InitFlags {
	return InitFlags(out.Flags) | InitFlags(out.Flags2)<<32
}

// SetInitFlags splits f into Flags and Flags2.
func (out *InitOut) SetInitFlags(f InitFlags) {
	out.Flags, out.Flags2 = uint32(f), uint32(f>>32)
}

// CUSE constants.
const (
	// CUSE_INIT_INFO_MAX is the largest device-info block after
	// [CuseInitOut].
	CUSE_INIT_INFO_MAX = 4096
)

// CuseInitIn is struct cuse_init_in, the argument of CUSE_INIT.
type CuseInitIn struct {
	_ structs.HostLayout
	// Major is the kernel's protocol major version.
	Major uint32
	// Minor is the kernel's protocol minor version.
	Minor uint32
	_     uint32
	// Flags holds CUSE_* bits.
	Flags CuseFlags
}

// CuseInitOut is struct cuse_init_out, the fixed part of the CUSE_INIT
// reply; NUL-separated KEY=VALUE device-info strings follow.
type CuseInitOut struct {
	_ structs.HostLayout
	// Major is the server's protocol major version.
	Major uint32
	// Minor is the server's protocol minor version.
	Minor uint32
	_     uint32
	// Flags holds CUSE_* bits.
	Flags CuseFlags
	// MaxRead is the largest READ.
	MaxRead uint32
	// MaxWrite is the largest WRITE.
	MaxWrite uint32
	// DevMajor is the character device major.
	DevMajor uint32
	// DevMinor is the character device minor.
	DevMinor uint32
	_        [10]uint32
}
