package decode

import (
	"errors"
	"fmt"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
)

// Sentinel errors, matched with errors.Is. Decoding errors wrap
// ErrMalformed (and, where it applies, one of the abi sentinels).
var (
	// ErrMalformed marks a message that does not follow the protocol.
	ErrMalformed = errors.New("malformed message")
	// ErrTrailing means bytes follow the last argument of a message.
	ErrTrailing = errors.New("trailing bytes")
	// ErrLength means the header's length field disagrees with the message.
	ErrLength = errors.New("length mismatch")
	// ErrErrno means a reply's error field is outside -511..0.
	ErrErrno = errors.New("error out of range")
	// ErrNoReply means a reply answers a request that takes none (FORGET,
	// BATCH_FORGET); the kernel refuses it.
	ErrNoReply = errors.New("reply to a request that takes none")
)

// Proto is what a connection negotiated in INIT, the input that selects
// struct sizes of older minors.
type Proto struct {
	// Major and Minor are the negotiated version (the server's reply).
	Major, Minor uint32
	// Flags are the INIT flags both sides agreed on (flags | flags2<<32,
	// the reply's masked with the kernel's offer when the offer is known).
	Flags abi.InitFlags
	// MaxReadahead, MaxWrite, MaxPages, TimeGran, MaxBackground and
	// CongestionThreshold are copied from the INIT reply.
	MaxReadahead        uint32
	MaxWrite            uint32
	MaxPages            uint16
	TimeGran            uint32
	MaxBackground       uint16
	CongestionThreshold uint16
	// Known reports that an INIT reply has been seen; before that the
	// fields hold the assumption made by [DefaultProto].
	Known bool
}

// DefaultProto is the assumption made before an INIT reply is seen: the
// newest minor with the flags Linux 6.18 offers.
func DefaultProto() Proto {
	return Proto{Major: abi.FUSE_KERNEL_VERSION, Minor: abi.FUSE_KERNEL_MINOR_VERSION, Flags: abi.DefaultInitFlags}
}

// Call is what decoding a reply needs to know about its request.
type Call struct {
	// Op is the request's opcode; 0 when the request is unknown, which
	// decodes the body as raw bytes.
	Op abi.Opcode
	// XattrSize is the size argument of a GETXATTR or LISTXATTR request: 0
	// asks for the value's length (a fuse_getxattr_out reply), more asks for
	// the value itself.
	XattrSize uint32
	// XattrSizeCut says the snap length cut the request's size argument,
	// so XattrSize is unknown: an 8-byte reply is then taken for a
	// fuse_getxattr_out and any other for the value.
	XattrSizeCut bool
}

// Record is one decoded message. Decoding fills only the fields that apply
// to the message's direction and opcode; the others are unspecified (they
// keep values of earlier messages, since a Record is reused without being
// cleared). Slices (Msg, Name, Name2, Data, Entries, Path, ...) alias the
// decoded message or buffers of the [Session]; they stay valid until the
// next decode into this Record or by the same Session. [Record.Clone]
// makes a copy that owns its memory.
type Record struct {
	// Time, Iface, Flags, Offset and Lost come from the capture record.
	// Lost counts the messages of the connection that the recorder lost
	// just before this one (capture.Record.Lost); DecodeMsg sets it to 0.
	Time   time.Time
	Iface  int
	Flags  capture.Flags
	Offset int64
	Lost   uint64
	// Dir is the direction: request, reply or notify.
	Dir capture.Dir
	// Msg is the whole message as captured (possibly cut at the snap
	// length); OrigLen is the length it had on the wire.
	Msg     []byte
	OrigLen int

	// Len is the header's length field.
	Len uint32
	// Unique is the header's unique, bit 63 (resend) included.
	Unique uint64
	// Op is the opcode of a request, or of the request a reply answers
	// (0 when the request is unknown).
	Op abi.Opcode
	// Notify is the notify code of a notification.
	Notify abi.NotifyCode
	// NodeID, UID, GID and PID come from the in-header of a request, or of
	// the request a reply answers.
	NodeID   uint64
	UID, GID uint32
	PID      uint32
	// TotalExtlen is the in-header's extension length, in 8-byte units.
	TotalExtlen uint16
	// Error is the out-header's error field as sent (0 or a negative errno);
	// Errno is its positive value.
	Error int32
	Errno abi.Errno

	// Paired reports that a reply was matched with its request; Latency is
	// then the time between the two.
	Paired  bool
	Latency time.Duration
	// Interrupts is, for an INTERRUPT request and for a reply to one, the
	// unique of the interrupted request, and InterruptsOp, InterruptsPID
	// and InterruptsNodeID the opcode, pid and node of that request when
	// the session saw it (the INTERRUPT's own header has pid 0 and node 0).
	// Interrupted marks a reply whose request was interrupted.
	Interrupts       uint64
	InterruptsOp     abi.Opcode
	InterruptsPID    uint32
	InterruptsNodeID uint64
	Interrupted      bool
	// Path is the path of the node the message is about, when the session
	// knows it: for name operations the parent's path joined with the name,
	// for entry replies the new entry's path, for an INTERRUPT and its
	// reply the interrupted request's path.
	Path []byte

	// Name and Name2 are the NUL-terminated names of a request (LOOKUP's
	// name, RENAME's old and new name, SYMLINK's name and target, the xattr
	// name); for a reply, the request's first name when the session knows
	// it. Notifications INVAL_ENTRY and DELETE put their name in Name.
	Name, Name2 []byte
	// Data is a payload: WRITE and SETXATTR data, NOTIFY_REPLY and STORE
	// data, IOCTL input or output, READ and READLINK replies, xattr values
	// and lists, the CUSE_INIT reply's device info, or the raw body of an
	// unknown opcode or notify code.
	Data []byte
	// Entries holds a validated list of fixed-size or self-describing
	// records and Count their number: BATCH_FORGET's ForgetOne, READDIR's
	// dirents, READDIRPLUS's direntplus, REMOVEMAPPING's entries, the
	// IOCTL reply's iovecs, PRUNE's node IDs. Walk them with Forgets, Dirents,
	// Direntplus, Mappings, Iovecs and PruneIDs.
	Entries []byte
	Count   int
	// Trailing counts the bytes after the last whole entry of a READDIR or
	// READDIRPLUS reply: a record cut short, which the kernel takes for
	// the end of the listing. libfuse 2's high-level API cuts its
	// listing at any byte, so this is not malformed.
	Trailing int
	// Ext holds the raw request extensions; SecctxName, SecctxValue and
	// NrSecctx the security context; Groups the supplementary groups (raw
	// u32s, GroupCount of them).
	Ext         []byte
	NrSecctx    uint32
	SecctxName  []byte
	SecctxValue []byte
	Groups      []byte
	GroupCount  int

	// In holds the fixed part of a request's arguments, Out of a reply's,
	// Note of a notification's.
	In   InArgs
	Out  OutArgs
	Note NotifyArgs

	// Truncated reports that the message was cut at the snap length, so
	// fields past the cut are missing (not an error).
	Truncated bool
	// Malformed says why the message breaks the protocol (a
	// *MalformedError); nil if it does not. The fields decoded before the
	// problem are valid.
	Malformed error

	// cut reports that the snap length fell inside the body's fixed
	// arguments, which were decoded zero-padded; proto and call are what
	// the body was decoded with, for findCut. fill is the padding byte
	// (findCut decodes a twin padded with 0xff).
	cut   bool
	fill  byte
	proto Proto
	call  Call
	// nodeCut: the node ID of a notification, which its body holds, was
	// cut.
	nodeCut bool
	// headCut: the message ends inside its header, cut at the snap
	// length or malformed. Only the header fields wholly before its end
	// are set (headHas), and there is no body.
	headCut bool
	// caller is how many bytes of its in-header the request had, for a
	// request or the reply paired with it: which of NodeID, UID, GID and
	// PID are known (callerHas). 0 for a reply paired with no request.
	caller int

	order    abi.ByteOrder
	pathBuf  []byte
	nameBuf  []byte
	name2Buf []byte
}

// InArgs are the fixed request structs; the one matching the opcode is
// valid. RENAME fills Rename, RENAME2 Rename2; READ, READDIR and
// READDIRPLUS fill Read; OPEN and OPENDIR fill Open; CREATE and TMPFILE
// fill Create; GETXATTR and LISTXATTR fill Getxattr; the lock ops fill Lk;
// COPY_FILE_RANGE and COPY_FILE_RANGE_64 fill CopyFileRange; NOTIFY_REPLY
// fills NotifyReply.
type InArgs struct {
	Forget        abi.ForgetIn
	Getattr       abi.GetattrIn
	Setattr       abi.SetattrIn
	Mknod         abi.MknodIn
	Mkdir         abi.MkdirIn
	Rename        abi.RenameIn
	Rename2       abi.Rename2In
	Link          abi.LinkIn
	Open          abi.OpenIn
	Create        abi.CreateIn
	Release       abi.ReleaseIn
	Flush         abi.FlushIn
	Read          abi.ReadIn
	Write         abi.WriteIn
	Fsync         abi.FsyncIn
	Setxattr      abi.SetxattrIn
	Getxattr      abi.GetxattrIn
	Lk            abi.LkIn
	Access        abi.AccessIn
	Init          abi.InitIn
	CuseInit      abi.CuseInitIn
	Interrupt     abi.InterruptIn
	Bmap          abi.BmapIn
	Ioctl         abi.IoctlIn
	Poll          abi.PollIn
	NotifyReply   abi.NotifyRetrieveIn
	BatchForget   abi.BatchForgetIn
	Fallocate     abi.FallocateIn
	Lseek         abi.LseekIn
	CopyFileRange abi.CopyFileRangeIn
	Setupmapping  abi.SetupmappingIn
	Removemapping abi.RemovemappingIn
	Syncfs        abi.SyncfsIn
	Statx         abi.StatxIn
}

// OutArgs are the fixed reply structs; the one matching the request's
// opcode is valid. LOOKUP, MKNOD, MKDIR, SYMLINK and LINK fill Entry;
// CREATE and TMPFILE fill Entry and Open; WRITE and COPY_FILE_RANGE fill
// Write; GETXATTR and LISTXATTR with a zero size fill Getxattr.
type OutArgs struct {
	Entry         abi.EntryOut
	Attr          abi.AttrOut
	Open          abi.OpenOut
	Write         abi.WriteOut
	Statfs        abi.StatfsOut
	Getxattr      abi.GetxattrOut
	Lk            abi.LkOut
	Init          abi.InitOut
	CuseInit      abi.CuseInitOut
	Bmap          abi.BmapOut
	Ioctl         abi.IoctlOut
	Poll          abi.PollOut
	Lseek         abi.LseekOut
	CopyFileRange abi.CopyFileRangeOut
	Statx         abi.StatxOut
}

// NotifyArgs are the fixed notification structs; the one matching the
// notify code is valid.
type NotifyArgs struct {
	Poll       abi.NotifyPollWakeupOut
	InvalInode abi.NotifyInvalInodeOut
	InvalEntry abi.NotifyInvalEntryOut
	Store      abi.NotifyStoreOut
	Retrieve   abi.NotifyRetrieveOut
	Delete     abi.NotifyDeleteOut
	Prune      abi.NotifyPruneOut
}

// Order returns the byte order the record was decoded with.
func (r *Record) Order() abi.ByteOrder { return r.order }

// IsResend reports whether the unique carries FUSE_UNIQUE_RESEND.
func (r *Record) IsResend() bool { return r.Unique&abi.FUSE_UNIQUE_RESEND != 0 }

// ID returns the unique without the resend bit.
func (r *Record) ID() uint64 { return r.Unique &^ abi.FUSE_UNIQUE_RESEND }

// OpName returns the name printed for the record: the opcode's name, the
// notify code's name for a notification, "?" for a reply to an unknown
// request or a code the snap length cut.
func (r *Record) OpName() string {
	switch {
	case !r.headHas(headOp):
		return "?"
	case r.Dir == capture.DirNotify:
		return r.Notify.String()
	case r.Dir == capture.DirReply && r.Op == 0:
		return "?"
	}
	return r.Op.String()
}

// reset prepares r for a new message, clearing the fields every decode
// sets and leaving the argument structs (each decode overwrites the one it
// uses).
func (r *Record) reset(msg []byte, o abi.ByteOrder) {
	r.Msg = msg
	if r.OrigLen < len(msg) {
		r.OrigLen = len(msg)
	}
	r.order = o
	r.Len, r.Unique, r.Op, r.Notify = 0, 0, 0, 0
	r.NodeID, r.UID, r.GID, r.PID, r.TotalExtlen = 0, 0, 0, 0, 0
	r.Error, r.Errno = 0, 0
	r.Paired, r.Latency, r.Interrupted = false, 0, false
	r.Interrupts, r.InterruptsOp, r.InterruptsPID, r.InterruptsNodeID = 0, 0, 0, 0
	r.Path = nil
	r.Name, r.Name2, r.Data, r.Entries, r.Count, r.Trailing = nil, nil, nil, nil, 0, 0
	r.Ext, r.NrSecctx, r.SecctxName, r.SecctxValue, r.Groups, r.GroupCount = nil, 0, nil, nil, nil, 0
	r.Malformed = nil
	r.cut, r.nodeCut, r.headCut, r.caller = false, false, false, 0
}

// headHas reports whether the header field that ends at byte end is in
// the record: always, unless the message ends inside its header.
func (r *Record) headHas(end int) bool { return !r.headCut || len(r.Msg) >= end }

// callerHas reports whether the request header field that ends at byte
// end is known for r, a request or a reply.
func (r *Record) callerHas(end int) bool { return r.caller >= end }

// Ends of the header fields (struct fuse_in_header, fuse_out_header), for
// a header the snap length cut.
const (
	headLen    = 4  // len, both headers
	headOp     = 8  // opcode; error in the out-header
	headUnique = 16 // unique, both headers
	headNodeID = 24
	headUID    = 28
	headGID    = 32
	headPID    = 36
	headExtlen = 38
)

// cutInHeader sets the fields of a request header that ends early (cut
// at the snap length or malformed): those it has whole, the rest stay
// zero.
func (r *Record) cutInHeader(msg []byte, o abi.ByteOrder) {
	r.headCut = true
	n := len(msg)
	r.caller = n
	if n >= headLen {
		r.Len = o.Uint32(msg)
	}
	if n >= headOp {
		r.Op = abi.Opcode(o.Uint32(msg[4:]))
	}
	if n >= headUnique {
		r.Unique = o.Uint64(msg[8:])
	}
	if n >= headNodeID {
		r.NodeID = o.Uint64(msg[16:])
	}
	if n >= headUID {
		r.UID = o.Uint32(msg[24:])
	}
	if n >= headGID {
		r.GID = o.Uint32(msg[28:])
	}
	if n >= headPID {
		r.PID = o.Uint32(msg[32:])
	}
	if n >= headExtlen {
		r.TotalExtlen = o.Uint16(msg[36:])
	}
}

// timed reports whether r is a reply whose Latency was measured: paired,
// and not a pair fusectl made up for a mid-session capture.
func (r *Record) timed() bool {
	return r.Paired && r.Flags&capture.FlagSynthesized == 0
}

// MalformedError says how a message breaks the protocol. It matches
// ErrMalformed with errors.Is, and unwraps to the abi error behind it, if
// any. Its text is the reason alone.
type MalformedError struct {
	Reason string
	Err    error
}

// Error returns the reason.
func (e *MalformedError) Error() string { return e.Reason }

// Is reports whether target is ErrMalformed.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

// Unwrap returns the underlying error.
func (e *MalformedError) Unwrap() error { return e.Err }

// fail records the first protocol problem of the message and returns it.
func (r *Record) fail(format string, args ...any) error {
	if r.Malformed == nil {
		r.Malformed = &MalformedError{Reason: fmt.Sprintf(format, args...)}
	}
	return r.Malformed
}

// failWith records a problem that wraps a sentinel.
func (r *Record) failWith(err error, format string, args ...any) error {
	if r.Malformed == nil {
		r.Malformed = &MalformedError{Reason: fmt.Sprintf(format, args...), Err: err}
	}
	return r.Malformed
}

// failErr records err (from the abi codecs) as the problem, unless the
// message was cut at the snap length, where running short is expected.
func (r *Record) failErr(what string, err error) error {
	if r.Truncated {
		return nil
	}
	if r.Malformed == nil {
		r.Malformed = &MalformedError{Reason: what + ": " + err.Error(), Err: err}
	}
	return r.Malformed
}

// Clone returns a deep copy of r that shares no memory with the message or
// the session, for consumers that keep records (the TUI, tests).
func (r *Record) Clone() *Record {
	c := *r
	c.Msg = clone(r.Msg)
	c.Path = clone(r.Path)
	c.Name = clone(r.Name)
	c.Name2 = clone(r.Name2)
	c.Data = clone(r.Data)
	c.Entries = clone(r.Entries)
	c.Ext = clone(r.Ext)
	c.SecctxName = clone(r.SecctxName)
	c.SecctxValue = clone(r.SecctxValue)
	c.Groups = clone(r.Groups)
	c.pathBuf, c.nameBuf, c.name2Buf = nil, nil, nil
	return &c
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
