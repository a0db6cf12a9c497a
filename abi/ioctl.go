package abi

import "structs"

// Ioctl limits and /dev/fuse ioctl numbers. The numbers use the generic Linux
// _IOC encoding (x86, arm, arm64, riscv); powerpc, mips, sparc and alpha
// encode direction and size differently.
const (
	// FUSE_IOCTL_MAX_IOV is the limit on InIovs + OutIovs in a retry reply.
	FUSE_IOCTL_MAX_IOV = 256

	// FUSE_DEV_IOC_MAGIC is the ioctl type of /dev/fuse.
	FUSE_DEV_IOC_MAGIC = 229
	// FUSE_DEV_IOC_CLONE, _IOR(229, 0, uint32_t), attaches the fd to the
	// connection of the fd passed.
	FUSE_DEV_IOC_CLONE = 0x8004E500
	// FUSE_DEV_IOC_BACKING_OPEN, _IOW(229, 1, struct fuse_backing_map),
	// registers a backing file for passthrough. Since 7.40.
	FUSE_DEV_IOC_BACKING_OPEN = 0x4010E501
	// FUSE_DEV_IOC_BACKING_CLOSE, _IOW(229, 2, uint32_t), releases a
	// backing ID. Since 7.40.
	FUSE_DEV_IOC_BACKING_CLOSE = 0x4004E502
	// FUSE_DEV_IOC_SYNC_INIT, _IO(229, 3), lets reads block before the
	// mount and INIT run synchronously. Linux 6.18, no minor bump.
	FUSE_DEV_IOC_SYNC_INIT = 0x0000E503
)

// IoctlIn is struct fuse_ioctl_in, the fixed part of IOCTL; InSize bytes of
// input follow. Since 7.11.
type IoctlIn struct {
	_ structs.HostLayout
	// Fh is the file handle.
	Fh uint64
	// Flags holds FUSE_IOCTL_* bits.
	Flags IoctlFlags
	// Cmd is the ioctl command.
	Cmd uint32
	// Arg is the ioctl argument (a user address for most commands).
	Arg uint64
	// InSize is the number of input bytes that follow.
	InSize uint32
	// OutSize is the size of the output buffer.
	OutSize uint32
}

// IoctlIovec is struct fuse_ioctl_iovec, one entry of an unrestricted ioctl
// retry reply. Since 7.16 (the 7.11 format differed on 32-bit hosts).
type IoctlIovec struct {
	_ structs.HostLayout
	// Base is the user address.
	Base uint64
	// Len is the length.
	Len uint64
}

// IoctlOut is struct fuse_ioctl_out, the fixed part of the IOCTL reply;
// output data or, with FUSE_IOCTL_RETRY, InIovs then OutIovs [IoctlIovec]s
// follow. Since 7.11.
type IoctlOut struct {
	_ structs.HostLayout
	// Result is the ioctl return value.
	Result int32
	// Flags holds FUSE_IOCTL_* bits.
	Flags IoctlFlags
	// InIovs is the number of input iovecs in a retry.
	InIovs uint32
	// OutIovs is the number of output iovecs in a retry.
	OutIovs uint32
}

// BackingMap is struct fuse_backing_map, the argument of
// FUSE_DEV_IOC_BACKING_OPEN. Since 7.40.
type BackingMap struct {
	_ structs.HostLayout
	// Fd is the file descriptor of the backing file.
	Fd int32
	// Flags must be 0.
	Flags uint32
	_     uint64
}
