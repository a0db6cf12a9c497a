package abi

import (
	"strconv"
	"structs"
)

// fuse-over-io-uring sizes. Since 7.42.
const (
	// FUSE_URING_IN_OUT_HEADER_SZ is the size of the in/out-header area of
	// [UringReqHeader].
	FUSE_URING_IN_OUT_HEADER_SZ = 128
	// FUSE_URING_OP_IN_OUT_SZ is the size of the op argument area of
	// [UringReqHeader].
	FUSE_URING_OP_IN_OUT_SZ = 128
)

// UringCmd is enum fuse_uring_cmd, the cmd_op of an IORING_OP_URING_CMD on
// /dev/fuse. Since 7.42.
type UringCmd uint32

// io-uring commands.
const (
	// FUSE_IO_URING_CMD_INVALID is not a valid command.
	FUSE_IO_URING_CMD_INVALID UringCmd = 0
	// FUSE_IO_URING_CMD_REGISTER registers a ring entry and fetches a
	// request.
	FUSE_IO_URING_CMD_REGISTER UringCmd = 1
	// FUSE_IO_URING_CMD_COMMIT_AND_FETCH commits a reply and fetches the
	// next request.
	FUSE_IO_URING_CMD_COMMIT_AND_FETCH UringCmd = 2
)

// String returns the name without prefix ("REGISTER"), or "URING_CMD_<n>".
func (c UringCmd) String() string {
	switch c {
	case FUSE_IO_URING_CMD_INVALID:
		return "INVALID"
	case FUSE_IO_URING_CMD_REGISTER:
		return "REGISTER"
	case FUSE_IO_URING_CMD_COMMIT_AND_FETCH:
		return "COMMIT_AND_FETCH"
	}
	return "URING_CMD_" + strconv.FormatUint(uint64(c), 10)
}

// UringEntInOut is struct fuse_uring_ent_in_out, the per-entry part of
// [UringReqHeader]. Since 7.42.
type UringEntInOut struct {
	_ structs.HostLayout
	// Flags is reserved (0).
	Flags uint64
	// CommitID is the unique of the request; the server commits with it.
	CommitID uint64
	// PayloadSz is the number of argument bytes in the payload buffer.
	PayloadSz uint32
	_         uint32
	_         uint64
}

// UringReqHeader is struct fuse_uring_req_header, the header buffer of a
// ring entry. Since 7.42.
type UringReqHeader struct {
	_ structs.HostLayout
	// InOut holds the [InHeader] of a request or the [OutHeader] of a reply.
	InOut [FUSE_URING_IN_OUT_HEADER_SZ]byte
	// OpIn holds the opcode's first, fixed argument struct.
	OpIn [FUSE_URING_OP_IN_OUT_SZ]byte
	// RingEntInOut holds the entry data.
	RingEntInOut UringEntInOut
}

// UringCmdReq is struct fuse_uring_cmd_req, in the SQE command area.
// Since 7.42.
type UringCmdReq struct {
	_ structs.HostLayout
	// Flags is reserved (0).
	Flags uint64
	// CommitID is the unique of the request being answered.
	CommitID uint64
	// Qid is the queue index (a CPU number).
	Qid uint16
	_   [6]uint8
}
