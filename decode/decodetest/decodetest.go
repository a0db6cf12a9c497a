// Package decodetest builds FUSE sessions for tests and benchmarks: encoded
// messages of every opcode and notify code, a realistic small session, and
// an endless mixed workload, written as .fcap records with capture's
// writer.
package decodetest

import (
	"encoding/binary"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
)

// Msg is one message of a built session.
type Msg struct {
	Time  time.Time
	Dir   capture.Dir
	Flags capture.Flags
	Data  []byte
}

// Appender is an abi struct (every fixed-size abi type has Append).
type Appender interface {
	Append(b []byte, o abi.ByteOrder) []byte
}

// Name is a NUL-terminated name argument.
type Name string

// Prefix is an argument of which only the first N bytes are encoded: the
// compat size of an older minor.
type Prefix struct {
	V interface {
		AppendPrefix(b []byte, n int, o abi.ByteOrder) []byte
	}
	N int
}

// Raw is an argument appended as is (payloads, dirents, extensions).
type Raw []byte

// Builder encodes messages with increasing times and uniques. Msgs
// collects them unless Emit is set.
type Builder struct {
	// O is the byte order (default little-endian).
	O abi.ByteOrder
	// Now is the time of the next message; Step is added after each.
	Now  time.Time
	Step time.Duration
	// PID, UID and GID go into request headers.
	PID, UID, GID uint32
	// Emit, if set, receives each message; the Data slice is reused after
	// the call returns.
	Emit func(m Msg)
	// Msgs collects the messages when Emit is nil.
	Msgs []Msg

	unique uint64
	buf    []byte
}

// New returns a Builder starting at 2026-01-02 12:00:01 UTC, with a 10µs
// step, little-endian, pid 4242 uid 1000 gid 1000.
func New() *Builder {
	return &Builder{
		O:    binary.LittleEndian,
		Now:  time.Date(2026, 1, 2, 12, 0, 1, 0, time.UTC),
		Step: 10 * time.Microsecond,
		PID:  4242, UID: 1000, GID: 1000,
	}
}

func (b *Builder) order() abi.ByteOrder {
	if b.O == nil {
		return binary.LittleEndian
	}
	return b.O
}

// NextUnique returns the unique the next Request will use.
func (b *Builder) NextUnique() uint64 { return b.unique + 2 }

func (b *Builder) appendArgs(buf []byte, args []any) []byte {
	o := b.order()
	for _, a := range args {
		switch v := a.(type) {
		case Appender:
			buf = v.Append(buf, o)
		case Prefix:
			buf = v.V.AppendPrefix(buf, v.N, o)
		case Name:
			buf = append(buf, v...)
			buf = append(buf, 0)
		case Raw:
			buf = append(buf, v...)
		case []byte:
			buf = append(buf, v...)
		case string:
			buf = append(buf, v...)
			buf = append(buf, 0)
		default:
			panic("decodetest: unknown argument type")
		}
	}
	return buf
}

func (b *Builder) emit(dir capture.Dir, flags capture.Flags, data []byte) {
	m := Msg{Time: b.Now, Dir: dir, Flags: flags, Data: data}
	b.Now = b.Now.Add(b.Step)
	if b.Emit != nil {
		b.Emit(m)
		return
	}
	m.Data = append([]byte(nil), data...)
	b.Msgs = append(b.Msgs, m)
}

// RequestHdr encodes a request with an explicit header and returns its
// unique; args follow the in-header (extensions last, see Ext).
func (b *Builder) RequestHdr(h abi.InHeader, flags capture.Flags, args ...any) uint64 {
	buf := h.Append(b.buf[:0], b.order())
	buf = b.appendArgs(buf, args)
	b.order().PutUint32(buf, uint32(len(buf)))
	b.buf = buf
	b.emit(capture.DirRequest, flags, buf)
	return h.Unique
}

// Request encodes a request with the next unique and returns the unique.
func (b *Builder) Request(op abi.Opcode, nodeid uint64, args ...any) uint64 {
	b.unique += 2
	return b.RequestHdr(abi.InHeader{Opcode: op, Unique: b.unique, NodeID: nodeid, UID: b.UID, GID: b.GID, PID: b.PID}, 0, args...)
}

// RequestExt is Request with request extensions (ext, whose length must
// be a multiple of 8) after the arguments.
func (b *Builder) RequestExt(op abi.Opcode, nodeid uint64, ext []byte, args ...any) uint64 {
	b.unique += 2
	h := abi.InHeader{Opcode: op, Unique: b.unique, NodeID: nodeid, UID: b.UID, GID: b.GID, PID: b.PID, TotalExtlen: uint16(len(ext) / 8)}
	return b.RequestHdr(h, 0, append(args, Raw(ext))...)
}

// ReplyFlags encodes a reply with pseudo-header flags.
func (b *Builder) ReplyFlags(unique uint64, errno abi.Errno, flags capture.Flags, args ...any) {
	h := abi.OutHeader{Error: -int32(errno), Unique: unique}
	buf := h.Append(b.buf[:0], b.order())
	buf = b.appendArgs(buf, args)
	b.order().PutUint32(buf, uint32(len(buf)))
	b.buf = buf
	b.emit(capture.DirReply, flags, buf)
}

// Reply encodes a reply to unique; errno 0 is success.
func (b *Builder) Reply(unique uint64, errno abi.Errno, args ...any) {
	b.ReplyFlags(unique, errno, 0, args...)
}

// Notify encodes a notification.
func (b *Builder) Notify(code abi.NotifyCode, args ...any) {
	h := abi.OutHeader{Error: int32(code)}
	buf := h.Append(b.buf[:0], b.order())
	buf = b.appendArgs(buf, args)
	b.order().PutUint32(buf, uint32(len(buf)))
	b.buf = buf
	b.emit(capture.DirNotify, 0, buf)
}

// Write writes msgs to w on interface iface.
func Write(w *capture.Writer, iface int, msgs []Msg) error {
	for _, m := range msgs {
		if err := w.WriteMsg(m.Time, iface, m.Dir, m.Flags, m.Data); err != nil {
			return err
		}
	}
	return nil
}

// Attr returns the attributes of a regular file of size bytes (mode
// -rw-r--r--), or of a directory when dir is set.
func Attr(ino, size uint64, dir bool) abi.Attr {
	mode := uint32(0o100644)
	nlink := uint32(1)
	if dir {
		mode, nlink = 0o40755, 2
	}
	return abi.Attr{Ino: ino, Size: size, Blocks: (size + 511) / 512, Atime: 1767355200, Mtime: 1767355200,
		Ctime: 1767355200, Mode: mode, Nlink: nlink, UID: 1000, GID: 1000, Blksize: 4096}
}

// Entry returns an entry reply for node id with a one-second validity.
func Entry(id, size uint64, dir bool) *abi.EntryOut {
	return &abi.EntryOut{NodeID: id, EntryValid: 1, AttrValid: 1, Attr: Attr(id, size, dir)}
}

// Dirents encodes READDIR entries for names (node IDs from first).
func Dirents(o abi.ByteOrder, first uint64, names ...string) Raw {
	var b []byte
	for i, n := range names {
		typ := uint32(8)
		if n == "." || n == ".." {
			typ = 4
		}
		b = abi.AppendDirent(b, abi.Dirent{Ino: first + uint64(i), Off: uint64(i + 1), Namelen: uint32(len(n)), Type: typ}, n, o)
	}
	return b
}

// Direntplus encodes READDIRPLUS entries for names (node IDs from first).
func Direntplus(o abi.ByteOrder, first uint64, names ...string) Raw {
	var b []byte
	for i, n := range names {
		id := first + uint64(i)
		d := abi.Direntplus{EntryOut: *Entry(id, uint64(len(n)), false), Dirent: abi.Dirent{Ino: id, Off: uint64(i + 1), Namelen: uint32(len(n)), Type: 8}}
		b = abi.AppendDirentplus(b, d, n, o)
	}
	return b
}

// Data returns n bytes of readable payload.
func Data(n int) Raw {
	b := make([]byte, n)
	for i := range b {
		b[i] = "hello, fuse world\n"[i%18]
	}
	return b
}
