package abi

import "strconv"

// Opcode is enum fuse_opcode, the operation of a request.
type Opcode uint32

// Opcodes; 7 and 19 are unassigned.
const (
	FUSE_LOOKUP             Opcode = 1  // since 7.0
	FUSE_FORGET             Opcode = 2  // since 7.0; no reply
	FUSE_GETATTR            Opcode = 3  // since 7.0
	FUSE_SETATTR            Opcode = 4  // since 7.1
	FUSE_READLINK           Opcode = 5  // since 7.0
	FUSE_SYMLINK            Opcode = 6  // since 7.1
	FUSE_MKNOD              Opcode = 8  // since 7.1
	FUSE_MKDIR              Opcode = 9  // since 7.1
	FUSE_UNLINK             Opcode = 10 // since 7.1
	FUSE_RMDIR              Opcode = 11 // since 7.1
	FUSE_RENAME             Opcode = 12 // since 7.1
	FUSE_LINK               Opcode = 13 // since 7.1
	FUSE_OPEN               Opcode = 14 // since 7.1
	FUSE_READ               Opcode = 15 // since 7.1
	FUSE_WRITE              Opcode = 16 // since 7.1
	FUSE_STATFS             Opcode = 17 // since 7.0
	FUSE_RELEASE            Opcode = 18 // since 7.1
	FUSE_FSYNC              Opcode = 20 // since 7.1
	FUSE_SETXATTR           Opcode = 21 // since 7.1
	FUSE_GETXATTR           Opcode = 22 // since 7.1
	FUSE_LISTXATTR          Opcode = 23 // since 7.1
	FUSE_REMOVEXATTR        Opcode = 24 // since 7.1
	FUSE_FLUSH              Opcode = 25 // since 7.1
	FUSE_INIT               Opcode = 26 // since 7.0
	FUSE_OPENDIR            Opcode = 27 // since 7.1
	FUSE_READDIR            Opcode = 28 // since 7.1
	FUSE_RELEASEDIR         Opcode = 29 // since 7.1
	FUSE_FSYNCDIR           Opcode = 30 // since 7.2
	FUSE_GETLK              Opcode = 31 // since 7.7
	FUSE_SETLK              Opcode = 32 // since 7.7
	FUSE_SETLKW             Opcode = 33 // since 7.7
	FUSE_ACCESS             Opcode = 34 // since 7.3
	FUSE_CREATE             Opcode = 35 // since 7.3
	FUSE_INTERRUPT          Opcode = 36 // since 7.7
	FUSE_BMAP               Opcode = 37 // since 7.8
	FUSE_DESTROY            Opcode = 38 // since 7.8
	FUSE_IOCTL              Opcode = 39 // since 7.11
	FUSE_POLL               Opcode = 40 // since 7.11
	FUSE_NOTIFY_REPLY       Opcode = 41 // since 7.15; no reply
	FUSE_BATCH_FORGET       Opcode = 42 // since 7.16; no reply
	FUSE_FALLOCATE          Opcode = 43 // since 7.19
	FUSE_READDIRPLUS        Opcode = 44 // since 7.21
	FUSE_RENAME2            Opcode = 45 // since 7.23
	FUSE_LSEEK              Opcode = 46 // since 7.24
	FUSE_COPY_FILE_RANGE    Opcode = 47 // since 7.28
	FUSE_SETUPMAPPING       Opcode = 48 // since 7.31
	FUSE_REMOVEMAPPING      Opcode = 49 // since 7.31
	FUSE_SYNCFS             Opcode = 50 // since 7.34
	FUSE_TMPFILE            Opcode = 51 // since 7.37
	FUSE_STATX              Opcode = 52 // since 7.39
	FUSE_COPY_FILE_RANGE_64 Opcode = 53 // since 7.45

	// CUSE_INIT is the first request of a CUSE device.
	CUSE_INIT Opcode = 4096

	// FUSE_INIT_BSWAP_RESERVED is FUSE_INIT byte-swapped: a server reading
	// it knows the peer has the other byte order. Never sent.
	FUSE_INIT_BSWAP_RESERVED Opcode = 436207616
	// CUSE_INIT_BSWAP_RESERVED is CUSE_INIT byte-swapped. Never sent.
	CUSE_INIT_BSWAP_RESERVED Opcode = 1048576
)

// OpInfo describes the wire shape of an opcode at 7.45.
type OpInfo struct {
	// Op is the opcode.
	Op Opcode
	// Name is the kernel name without the FUSE_ prefix ("LOOKUP").
	Name string
	// Minor is the protocol minor that introduced the opcode.
	Minor uint32
	// InSize is the size of the fixed request struct at 7.45, 0 if none.
	InSize int
	// InNames is the number of NUL-terminated names after the fixed part.
	InNames int
	// InData says variable bytes follow the fixed part and names: WRITE
	// data, SETXATTR value, NOTIFY_REPLY data, IOCTL input, and the entry
	// arrays of BATCH_FORGET and REMOVEMAPPING.
	InData bool
	// InExt says the request may carry extensions (FUSE_SECURITY_CTX,
	// FUSE_CREATE_SUPP_GROUP).
	InExt bool
	// OutSize is the size of the fixed reply at 7.45 (EntryOut plus OpenOut
	// for CREATE and TMPFILE; GetxattrOut for GETXATTR and LISTXATTR, whose
	// reply is the value instead when the request's size is not 0).
	OutSize int
	// OutVar says the reply may be shorter than OutSize or variable (the
	// kernel's out_argvar). One exception: the kernel sends the
	// file-attribute ioctls (FS_IOC_GETFLAGS and the like, for lsattr and
	// chattr) as IOCTL without out_argvar, and rejects a reply other than
	// exactly 16 + out_size bytes.
	OutVar bool
	// NoReply says the server never replies. INTERRUPT is not NoReply: it
	// normally gets no reply, but may get a header-only EAGAIN or ENOSYS.
	NoReply bool
}

// opTable is indexed by opcode; entries with Op 0 are unassigned.
var opTable = [...]OpInfo{
	FUSE_LOOKUP:             {Op: FUSE_LOOKUP, Name: "LOOKUP", Minor: 0, InNames: 1, OutSize: 128},
	FUSE_FORGET:             {Op: FUSE_FORGET, Name: "FORGET", Minor: 0, InSize: 8, NoReply: true},
	FUSE_GETATTR:            {Op: FUSE_GETATTR, Name: "GETATTR", Minor: 0, InSize: 16, OutSize: 104},
	FUSE_SETATTR:            {Op: FUSE_SETATTR, Name: "SETATTR", Minor: 1, InSize: 88, OutSize: 104},
	FUSE_READLINK:           {Op: FUSE_READLINK, Name: "READLINK", Minor: 0, OutVar: true},
	FUSE_SYMLINK:            {Op: FUSE_SYMLINK, Name: "SYMLINK", Minor: 1, InNames: 2, InExt: true, OutSize: 128},
	FUSE_MKNOD:              {Op: FUSE_MKNOD, Name: "MKNOD", Minor: 1, InSize: 16, InNames: 1, InExt: true, OutSize: 128},
	FUSE_MKDIR:              {Op: FUSE_MKDIR, Name: "MKDIR", Minor: 1, InSize: 8, InNames: 1, InExt: true, OutSize: 128},
	FUSE_UNLINK:             {Op: FUSE_UNLINK, Name: "UNLINK", Minor: 1, InNames: 1},
	FUSE_RMDIR:              {Op: FUSE_RMDIR, Name: "RMDIR", Minor: 1, InNames: 1},
	FUSE_RENAME:             {Op: FUSE_RENAME, Name: "RENAME", Minor: 1, InSize: 8, InNames: 2},
	FUSE_LINK:               {Op: FUSE_LINK, Name: "LINK", Minor: 1, InSize: 8, InNames: 1, OutSize: 128},
	FUSE_OPEN:               {Op: FUSE_OPEN, Name: "OPEN", Minor: 1, InSize: 8, OutSize: 16},
	FUSE_READ:               {Op: FUSE_READ, Name: "READ", Minor: 1, InSize: 40, OutVar: true},
	FUSE_WRITE:              {Op: FUSE_WRITE, Name: "WRITE", Minor: 1, InSize: 40, InData: true, OutSize: 8},
	FUSE_STATFS:             {Op: FUSE_STATFS, Name: "STATFS", Minor: 0, OutSize: 80},
	FUSE_RELEASE:            {Op: FUSE_RELEASE, Name: "RELEASE", Minor: 1, InSize: 24},
	FUSE_FSYNC:              {Op: FUSE_FSYNC, Name: "FSYNC", Minor: 1, InSize: 16},
	FUSE_SETXATTR:           {Op: FUSE_SETXATTR, Name: "SETXATTR", Minor: 1, InSize: 16, InNames: 1, InData: true},
	FUSE_GETXATTR:           {Op: FUSE_GETXATTR, Name: "GETXATTR", Minor: 1, InSize: 8, InNames: 1, OutSize: 8, OutVar: true},
	FUSE_LISTXATTR:          {Op: FUSE_LISTXATTR, Name: "LISTXATTR", Minor: 1, InSize: 8, OutSize: 8, OutVar: true},
	FUSE_REMOVEXATTR:        {Op: FUSE_REMOVEXATTR, Name: "REMOVEXATTR", Minor: 1, InNames: 1},
	FUSE_FLUSH:              {Op: FUSE_FLUSH, Name: "FLUSH", Minor: 1, InSize: 24},
	FUSE_INIT:               {Op: FUSE_INIT, Name: "INIT", Minor: 0, InSize: 64, OutSize: 64, OutVar: true},
	FUSE_OPENDIR:            {Op: FUSE_OPENDIR, Name: "OPENDIR", Minor: 1, InSize: 8, OutSize: 16},
	FUSE_READDIR:            {Op: FUSE_READDIR, Name: "READDIR", Minor: 1, InSize: 40, OutVar: true},
	FUSE_RELEASEDIR:         {Op: FUSE_RELEASEDIR, Name: "RELEASEDIR", Minor: 1, InSize: 24},
	FUSE_FSYNCDIR:           {Op: FUSE_FSYNCDIR, Name: "FSYNCDIR", Minor: 2, InSize: 16},
	FUSE_GETLK:              {Op: FUSE_GETLK, Name: "GETLK", Minor: 7, InSize: 48, OutSize: 24},
	FUSE_SETLK:              {Op: FUSE_SETLK, Name: "SETLK", Minor: 7, InSize: 48},
	FUSE_SETLKW:             {Op: FUSE_SETLKW, Name: "SETLKW", Minor: 7, InSize: 48},
	FUSE_ACCESS:             {Op: FUSE_ACCESS, Name: "ACCESS", Minor: 3, InSize: 8},
	FUSE_CREATE:             {Op: FUSE_CREATE, Name: "CREATE", Minor: 3, InSize: 16, InNames: 1, InExt: true, OutSize: 144},
	FUSE_INTERRUPT:          {Op: FUSE_INTERRUPT, Name: "INTERRUPT", Minor: 7, InSize: 8},
	FUSE_BMAP:               {Op: FUSE_BMAP, Name: "BMAP", Minor: 8, InSize: 16, OutSize: 8},
	FUSE_DESTROY:            {Op: FUSE_DESTROY, Name: "DESTROY", Minor: 8},
	FUSE_IOCTL:              {Op: FUSE_IOCTL, Name: "IOCTL", Minor: 11, InSize: 32, InData: true, OutSize: 16, OutVar: true},
	FUSE_POLL:               {Op: FUSE_POLL, Name: "POLL", Minor: 11, InSize: 24, OutSize: 8},
	FUSE_NOTIFY_REPLY:       {Op: FUSE_NOTIFY_REPLY, Name: "NOTIFY_REPLY", Minor: 15, InSize: 40, InData: true, NoReply: true},
	FUSE_BATCH_FORGET:       {Op: FUSE_BATCH_FORGET, Name: "BATCH_FORGET", Minor: 16, InSize: 8, InData: true, NoReply: true},
	FUSE_FALLOCATE:          {Op: FUSE_FALLOCATE, Name: "FALLOCATE", Minor: 19, InSize: 32},
	FUSE_READDIRPLUS:        {Op: FUSE_READDIRPLUS, Name: "READDIRPLUS", Minor: 21, InSize: 40, OutVar: true},
	FUSE_RENAME2:            {Op: FUSE_RENAME2, Name: "RENAME2", Minor: 23, InSize: 16, InNames: 2},
	FUSE_LSEEK:              {Op: FUSE_LSEEK, Name: "LSEEK", Minor: 24, InSize: 24, OutSize: 8},
	FUSE_COPY_FILE_RANGE:    {Op: FUSE_COPY_FILE_RANGE, Name: "COPY_FILE_RANGE", Minor: 28, InSize: 56, OutSize: 8},
	FUSE_SETUPMAPPING:       {Op: FUSE_SETUPMAPPING, Name: "SETUPMAPPING", Minor: 31, InSize: 40},
	FUSE_REMOVEMAPPING:      {Op: FUSE_REMOVEMAPPING, Name: "REMOVEMAPPING", Minor: 31, InSize: 4, InData: true},
	FUSE_SYNCFS:             {Op: FUSE_SYNCFS, Name: "SYNCFS", Minor: 34, InSize: 8},
	FUSE_TMPFILE:            {Op: FUSE_TMPFILE, Name: "TMPFILE", Minor: 37, InSize: 16, InNames: 1, InExt: true, OutSize: 144},
	FUSE_STATX:              {Op: FUSE_STATX, Name: "STATX", Minor: 39, InSize: 24, OutSize: 288},
	FUSE_COPY_FILE_RANGE_64: {Op: FUSE_COPY_FILE_RANGE_64, Name: "COPY_FILE_RANGE_64", Minor: 45, InSize: 56, OutSize: 8},
}

// cuseInitInfo describes CUSE_INIT, outside opTable's range. CUSE came with
// 7.12 (Linux 2.6.31); the minor is approximate.
var cuseInitInfo = OpInfo{Op: CUSE_INIT, Name: "CUSE_INIT", Minor: 12, InSize: 16, OutSize: 72, OutVar: true}

// Info returns the description of op, or nil if op is unknown. The result
// points into a static table and must not be modified.
func (op Opcode) Info() *OpInfo {
	if op == CUSE_INIT {
		return &cuseInitInfo
	}
	if op == 0 || uint64(op) >= uint64(len(opTable)) || opTable[op].Op == 0 {
		return nil
	}
	return &opTable[op]
}

// String returns the name without prefix ("LOOKUP", "CUSE_INIT"), or
// "OPCODE_<n>" for an unknown opcode.
func (op Opcode) String() string {
	if in := op.Info(); in != nil {
		return in.Name
	}
	return "OPCODE_" + strconv.FormatUint(uint64(op), 10)
}

// Ops returns all known opcodes in opcode order, CUSE_INIT last.
func Ops() []OpInfo {
	ops := make([]OpInfo, 0, len(opTable))
	for _, in := range opTable {
		if in.Op != 0 {
			ops = append(ops, in)
		}
	}
	return append(ops, cuseInitInfo)
}
