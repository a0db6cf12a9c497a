package abi

import "structs"

// Protocol version and other constants of the header.
const (
	// FUSE_KERNEL_VERSION is the protocol major version; Linux speaks only 7.
	FUSE_KERNEL_VERSION = 7
	// FUSE_KERNEL_MINOR_VERSION is the newest minor this package mirrors.
	FUSE_KERNEL_MINOR_VERSION = 45
	// FUSE_ROOT_ID is the node ID of the root inode.
	FUSE_ROOT_ID = 1
	// FUSE_MIN_READ_BUFFER is the smallest buffer a read on /dev/fuse
	// accepts; the kernel also requires room for a whole WRITE request.
	FUSE_MIN_READ_BUFFER = 8192
	// FUSE_UNIQUE_RESEND is set in the unique of every request re-queued by
	// FUSE_NOTIFY_RESEND; the reply must echo it. Since 7.40.
	FUSE_UNIQUE_RESEND = 1 << 63
	// FUSE_INVALID_UIDGID is the uid or gid the kernel sends when the
	// caller's id cannot be mapped on an idmapped mount. Since 7.41.
	FUSE_INVALID_UIDGID = 0xFFFFFFFF
)

// Header sizes.
const (
	// InHeaderSize is the size of [InHeader].
	InHeaderSize = 40
	// OutHeaderSize is the size of [OutHeader].
	OutHeaderSize = 16
)

// InHeader is struct fuse_in_header: it starts every request.
type InHeader struct {
	_ structs.HostLayout
	// Len is the total message length: header, arguments and extensions.
	Len uint32
	// Opcode is the operation.
	Opcode Opcode
	// Unique is the request ID: even for ordinary requests, the original ID
	// with bit 0 set for INTERRUPT, with FUSE_UNIQUE_RESEND set for resends.
	Unique uint64
	// NodeID is the target inode (0 for INIT, DESTROY, INTERRUPT and
	// BATCH_FORGET).
	NodeID uint64
	// UID is the caller's fsuid (FUSE_INVALID_UIDGID if unmappable).
	UID uint32
	// GID is the caller's fsgid (FUSE_INVALID_UIDGID if unmappable).
	GID uint32
	// PID is the caller's thread-group ID (0 if not visible or internal).
	PID uint32
	// TotalExtlen is the length of the request extensions in 8-byte units.
	// Since 7.38; part of the padding (always 0) before.
	TotalExtlen uint16
	_           uint16
}

// ExtLen returns the byte length of the request extensions.
func (h *InHeader) ExtLen() int { return int(h.TotalExtlen) * 8 }

// OutHeader is struct fuse_out_header: it starts every reply and
// notification.
type OutHeader struct {
	_ structs.HostLayout
	// Len is the total length of the reply, header included.
	Len uint32
	// Error is 0 or a negative errno in a reply, the [NotifyCode] in a
	// notification (Unique 0).
	Error int32
	// Unique is the unique of the request answered, 0 for a notification.
	Unique uint64
}
