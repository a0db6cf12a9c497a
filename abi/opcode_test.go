package abi

import (
	"slices"
	"testing"
)

// opShapes names, per opcode, the struct of the fixed request part and of
// the reply, with the sizes of the reference's §2 table, independently of
// opTable.
var opShapes = map[Opcode]struct {
	in      []codec // fixed request part (nil if none)
	out     []codec // fixed reply parts, in order (nil if none)
	inSize  int
	outSize int
}{
	FUSE_LOOKUP:             {nil, []codec{new(EntryOut)}, 0, 128},
	FUSE_FORGET:             {[]codec{new(ForgetIn)}, nil, 8, 0},
	FUSE_GETATTR:            {[]codec{new(GetattrIn)}, []codec{new(AttrOut)}, 16, 104},
	FUSE_SETATTR:            {[]codec{new(SetattrIn)}, []codec{new(AttrOut)}, 88, 104},
	FUSE_READLINK:           {nil, nil, 0, 0},
	FUSE_SYMLINK:            {nil, []codec{new(EntryOut)}, 0, 128},
	FUSE_MKNOD:              {[]codec{new(MknodIn)}, []codec{new(EntryOut)}, 16, 128},
	FUSE_MKDIR:              {[]codec{new(MkdirIn)}, []codec{new(EntryOut)}, 8, 128},
	FUSE_UNLINK:             {nil, nil, 0, 0},
	FUSE_RMDIR:              {nil, nil, 0, 0},
	FUSE_RENAME:             {[]codec{new(RenameIn)}, nil, 8, 0},
	FUSE_LINK:               {[]codec{new(LinkIn)}, []codec{new(EntryOut)}, 8, 128},
	FUSE_OPEN:               {[]codec{new(OpenIn)}, []codec{new(OpenOut)}, 8, 16},
	FUSE_READ:               {[]codec{new(ReadIn)}, nil, 40, 0},
	FUSE_WRITE:              {[]codec{new(WriteIn)}, []codec{new(WriteOut)}, 40, 8},
	FUSE_STATFS:             {nil, []codec{new(StatfsOut)}, 0, 80},
	FUSE_RELEASE:            {[]codec{new(ReleaseIn)}, nil, 24, 0},
	FUSE_FSYNC:              {[]codec{new(FsyncIn)}, nil, 16, 0},
	FUSE_SETXATTR:           {[]codec{new(SetxattrIn)}, nil, 16, 0},
	FUSE_GETXATTR:           {[]codec{new(GetxattrIn)}, []codec{new(GetxattrOut)}, 8, 8},
	FUSE_LISTXATTR:          {[]codec{new(GetxattrIn)}, []codec{new(GetxattrOut)}, 8, 8},
	FUSE_REMOVEXATTR:        {nil, nil, 0, 0},
	FUSE_FLUSH:              {[]codec{new(FlushIn)}, nil, 24, 0},
	FUSE_INIT:               {[]codec{new(InitIn)}, []codec{new(InitOut)}, 64, 64},
	FUSE_OPENDIR:            {[]codec{new(OpenIn)}, []codec{new(OpenOut)}, 8, 16},
	FUSE_READDIR:            {[]codec{new(ReadIn)}, nil, 40, 0},
	FUSE_RELEASEDIR:         {[]codec{new(ReleaseIn)}, nil, 24, 0},
	FUSE_FSYNCDIR:           {[]codec{new(FsyncIn)}, nil, 16, 0},
	FUSE_GETLK:              {[]codec{new(LkIn)}, []codec{new(LkOut)}, 48, 24},
	FUSE_SETLK:              {[]codec{new(LkIn)}, nil, 48, 0},
	FUSE_SETLKW:             {[]codec{new(LkIn)}, nil, 48, 0},
	FUSE_ACCESS:             {[]codec{new(AccessIn)}, nil, 8, 0},
	FUSE_CREATE:             {[]codec{new(CreateIn)}, []codec{new(EntryOut), new(OpenOut)}, 16, 144},
	FUSE_INTERRUPT:          {[]codec{new(InterruptIn)}, nil, 8, 0},
	FUSE_BMAP:               {[]codec{new(BmapIn)}, []codec{new(BmapOut)}, 16, 8},
	FUSE_DESTROY:            {nil, nil, 0, 0},
	FUSE_IOCTL:              {[]codec{new(IoctlIn)}, []codec{new(IoctlOut)}, 32, 16},
	FUSE_POLL:               {[]codec{new(PollIn)}, []codec{new(PollOut)}, 24, 8},
	FUSE_NOTIFY_REPLY:       {[]codec{new(NotifyRetrieveIn)}, nil, 40, 0},
	FUSE_BATCH_FORGET:       {[]codec{new(BatchForgetIn)}, nil, 8, 0},
	FUSE_FALLOCATE:          {[]codec{new(FallocateIn)}, nil, 32, 0},
	FUSE_READDIRPLUS:        {[]codec{new(ReadIn)}, nil, 40, 0},
	FUSE_RENAME2:            {[]codec{new(Rename2In)}, nil, 16, 0},
	FUSE_LSEEK:              {[]codec{new(LseekIn)}, []codec{new(LseekOut)}, 24, 8},
	FUSE_COPY_FILE_RANGE:    {[]codec{new(CopyFileRangeIn)}, []codec{new(WriteOut)}, 56, 8},
	FUSE_SETUPMAPPING:       {[]codec{new(SetupmappingIn)}, nil, 40, 0},
	FUSE_REMOVEMAPPING:      {[]codec{new(RemovemappingIn)}, nil, 4, 0},
	FUSE_SYNCFS:             {[]codec{new(SyncfsIn)}, nil, 8, 0},
	FUSE_TMPFILE:            {[]codec{new(CreateIn)}, []codec{new(EntryOut), new(OpenOut)}, 16, 144},
	FUSE_STATX:              {[]codec{new(StatxIn)}, []codec{new(StatxOut)}, 24, 288},
	FUSE_COPY_FILE_RANGE_64: {[]codec{new(CopyFileRangeIn)}, []codec{new(CopyFileRangeOut)}, 56, 8},
	CUSE_INIT:               {[]codec{new(CuseInitIn)}, []codec{new(CuseInitOut)}, 16, 72},
}

func sizeOf(cs []codec) int {
	n := 0
	for _, c := range cs {
		n += c.SizeBytes()
	}
	return n
}

func TestOpTableSizes(t *testing.T) {
	ops := Ops()
	if len(ops) != len(opShapes) {
		t.Errorf("Ops() has %d opcodes, want %d", len(ops), len(opShapes))
	}
	for _, info := range ops {
		shape, ok := opShapes[info.Op]
		if !ok {
			t.Errorf("%v: not in the reference", info.Op)
			continue
		}
		if info.InSize != shape.inSize || sizeOf(shape.in) != shape.inSize {
			t.Errorf("%v: InSize %d, struct size %d, reference %d", info.Op, info.InSize, sizeOf(shape.in), shape.inSize)
		}
		if info.OutSize != shape.outSize || sizeOf(shape.out) != shape.outSize {
			t.Errorf("%v: OutSize %d, struct size %d, reference %d", info.Op, info.OutSize, sizeOf(shape.out), shape.outSize)
		}
		// A request must fit the smallest read buffer the kernel allows.
		if InHeaderSize+info.InSize > FUSE_MIN_READ_BUFFER {
			t.Errorf("%v: fixed request does not fit FUSE_MIN_READ_BUFFER", info.Op)
		}
	}
}

func TestOpTable(t *testing.T) {
	ops := Ops()
	if !slices.IsSortedFunc(ops, func(a, b OpInfo) int { return int(a.Op) - int(b.Op) }) {
		t.Error("Ops() not in opcode order")
	}
	var noReply, outVar, inExt, inData []Opcode
	names := map[Opcode]int{}
	for _, info := range ops {
		if got := info.Op.Info(); got == nil || *got != info {
			t.Errorf("%v.Info() = %v, want %v", info.Op, got, info)
		}
		if info.Op.String() != info.Name {
			t.Errorf("%d: String() = %q, Name %q", info.Op, info.Op.String(), info.Name)
		}
		if info.Minor > FUSE_KERNEL_MINOR_VERSION {
			t.Errorf("%v: minor %d above 45", info.Op, info.Minor)
		}
		if info.NoReply {
			noReply = append(noReply, info.Op)
		}
		if info.OutVar {
			outVar = append(outVar, info.Op)
		}
		if info.InExt {
			inExt = append(inExt, info.Op)
		}
		if info.InData {
			inData = append(inData, info.Op)
		}
		names[info.Op] = info.InNames
	}
	check := func(what string, got, want []Opcode) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("NoReply", noReply, []Opcode{FUSE_FORGET, FUSE_NOTIFY_REPLY, FUSE_BATCH_FORGET})
	check("OutVar", outVar, []Opcode{FUSE_READLINK, FUSE_READ, FUSE_GETXATTR, FUSE_LISTXATTR, FUSE_INIT,
		FUSE_READDIR, FUSE_IOCTL, FUSE_READDIRPLUS, CUSE_INIT})
	check("InExt", inExt, []Opcode{FUSE_SYMLINK, FUSE_MKNOD, FUSE_MKDIR, FUSE_CREATE, FUSE_TMPFILE})
	check("InData", inData, []Opcode{FUSE_WRITE, FUSE_SETXATTR, FUSE_IOCTL, FUSE_NOTIFY_REPLY,
		FUSE_BATCH_FORGET, FUSE_REMOVEMAPPING})
	for op, n := range map[Opcode]int{
		FUSE_LOOKUP: 1, FUSE_SYMLINK: 2, FUSE_MKNOD: 1, FUSE_MKDIR: 1, FUSE_UNLINK: 1, FUSE_RMDIR: 1,
		FUSE_RENAME: 2, FUSE_LINK: 1, FUSE_SETXATTR: 1, FUSE_GETXATTR: 1, FUSE_REMOVEXATTR: 1,
		FUSE_CREATE: 1, FUSE_RENAME2: 2, FUSE_TMPFILE: 1,
	} {
		if names[op] != n {
			t.Errorf("%v: InNames %d, want %d", op, names[op], n)
		}
		delete(names, op)
	}
	for op, n := range names {
		if n != 0 {
			t.Errorf("%v: InNames %d, want 0", op, n)
		}
	}
}

func TestOpcodeString(t *testing.T) {
	for op, want := range map[Opcode]string{
		FUSE_LOOKUP:              "LOOKUP",
		FUSE_COPY_FILE_RANGE_64:  "COPY_FILE_RANGE_64",
		FUSE_NOTIFY_REPLY:        "NOTIFY_REPLY",
		CUSE_INIT:                "CUSE_INIT",
		0:                        "OPCODE_0",
		7:                        "OPCODE_7",
		19:                       "OPCODE_19",
		54:                       "OPCODE_54",
		99:                       "OPCODE_99",
		4095:                     "OPCODE_4095",
		FUSE_INIT_BSWAP_RESERVED: "OPCODE_436207616",
		0xFFFFFFFF:               "OPCODE_4294967295",
	} {
		if got := op.String(); got != want {
			t.Errorf("Opcode(%d).String() = %q, want %q", uint32(op), got, want)
		}
		if (op.Info() == nil) != (want[:3] == "OPC") {
			t.Errorf("Opcode(%d).Info() = %v", uint32(op), op.Info())
		}
	}
	// The byte-swapped INIT opcodes are what a server of the other byte
	// order would read.
	if FUSE_INIT_BSWAP_RESERVED != FUSE_INIT<<24 || CUSE_INIT_BSWAP_RESERVED != CUSE_INIT<<8 {
		t.Error("BSWAP_RESERVED opcodes are not the byte-swapped INIT opcodes")
	}
}

func TestNotifyTable(t *testing.T) {
	want := []NotifyInfo{
		{FUSE_NOTIFY_POLL, "POLL", 11, new(NotifyPollWakeupOut).SizeBytes()},
		{FUSE_NOTIFY_INVAL_INODE, "INVAL_INODE", 12, new(NotifyInvalInodeOut).SizeBytes()},
		{FUSE_NOTIFY_INVAL_ENTRY, "INVAL_ENTRY", 12, new(NotifyInvalEntryOut).SizeBytes()},
		{FUSE_NOTIFY_STORE, "STORE", 15, new(NotifyStoreOut).SizeBytes()},
		{FUSE_NOTIFY_RETRIEVE, "RETRIEVE", 15, new(NotifyRetrieveOut).SizeBytes()},
		{FUSE_NOTIFY_DELETE, "DELETE", 18, new(NotifyDeleteOut).SizeBytes()},
		{FUSE_NOTIFY_RESEND, "RESEND", 40, 0},
		{FUSE_NOTIFY_INC_EPOCH, "INC_EPOCH", 44, 0},
		{FUSE_NOTIFY_PRUNE, "PRUNE", 45, new(NotifyPruneOut).SizeBytes()},
	}
	// Sizes from the reference's §2.2.
	refSizes := []int{8, 24, 16, 24, 32, 24, 0, 0, 16}
	if got := NotifyInfos(); !slices.Equal(got, want) {
		t.Errorf("NotifyInfos() = %v\nwant %v", got, want)
	}
	for i, w := range want {
		if w.Size != refSizes[i] {
			t.Errorf("%v: size %d, reference %d", w.Code, w.Size, refSizes[i])
		}
		if got := w.Code.Info(); got == nil || *got != w {
			t.Errorf("%v.Info() = %v", w.Code, got)
		}
		if w.Code.String() != w.Name {
			t.Errorf("%d.String() = %q", w.Code, w.Code.String())
		}
	}
	for c, s := range map[NotifyCode]string{0: "NOTIFY_0", 10: "NOTIFY_10", 12: "NOTIFY_12", -2: "NOTIFY_-2"} {
		if c.String() != s || c.Info() != nil {
			t.Errorf("NotifyCode(%d): %q, %v", c, c.String(), c.Info())
		}
	}
}

func TestUringCmdString(t *testing.T) {
	for c, s := range map[UringCmd]string{
		FUSE_IO_URING_CMD_INVALID: "INVALID", FUSE_IO_URING_CMD_REGISTER: "REGISTER",
		FUSE_IO_URING_CMD_COMMIT_AND_FETCH: "COMMIT_AND_FETCH", 3: "URING_CMD_3",
	} {
		if c.String() != s {
			t.Errorf("UringCmd(%d) = %q, want %q", c, c.String(), s)
		}
	}
}
