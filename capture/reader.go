package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"time"
)

// Record is one FUSE message of a capture.
type Record struct {
	// Time is when the message crossed the device.
	Time time.Time
	// Iface is the index of the record's interface (FUSE connection) in
	// Reader.Interfaces; for a file of one section, the pcapng interface
	// id.
	Iface int
	// Dir is the direction of the message.
	Dir Dir
	// Flags are the pseudo-header flags.
	Flags Flags
	// Msg is the FUSE message, possibly cut at the snap length
	// (FlagTruncated is then set).
	Msg []byte
	// OrigLen is the length of the whole message as it crossed the device.
	OrigLen int
	// Order is the byte order of the section the record comes from: decode
	// Msg with it. It is binary.LittleEndian or binary.BigEndian.
	Order binary.ByteOrder
	// Offset is the byte offset of the record's block in the file (in the
	// stream given to NewReader, counted from where it was).
	Offset int64
	// Lost is how many messages of this record's interface crossed the
	// device but are not in the capture, just before this one: a recorder
	// that fell behind lost them (pcapng's epb_dropcount). Replies without
	// their request, or paths not known, may follow from it.
	Lost uint64
}

// ReaderOptions configures a Reader. The zero value is usable.
type ReaderOptions struct {
	// MaxBlockSize is the largest pcapng block accepted; a larger one is a
	// *FormatError. 0 means DefaultMaxBlockSize.
	MaxBlockSize int
	// Logf, if set, is told about things worth a warning that are not
	// errors, such as a truncated tail.
	Logf func(format string, args ...any)
}

const (
	// readBufSize is the reader's initial buffer; it grows only for a block
	// larger than this.
	readBufSize = 128 << 10
	// maxInterfaces bounds the interfaces a reader keeps, so that a stream
	// of interface blocks cannot grow its memory without bound.
	maxInterfaces = 1 << 12
	// maxEmptyReads is how many (0, nil) reads in a row count as a broken
	// io.Reader, as in bufio.
	maxEmptyReads = 100
)

// Reader reads records from an .fcap stream, one block at a time: its memory
// is bounded by its buffer and the largest block, whatever the stream's
// length. A Reader is not safe for concurrent use.
//
// A stream that ends inside a block (a capture killed mid-write) is not an
// error: Next returns every whole record, then io.EOF, and Truncated reports
// true. Malformed data gives a *FormatError naming the block's offset. After
// an error in one record (bad pseudo-header, unknown interface) Next can be
// called again and continues with the next block; after an error in the
// framing itself it returns that error again.
type Reader struct {
	src  io.Reader
	f    *os.File // set by Open; closed by Close
	logf func(format string, args ...any)
	max  int

	buf        []byte
	start, end int   // buffered bytes are buf[start:end]
	off        int64 // stream offset of buf[start]
	eof        bool  // src said io.EOF
	emptyReads int

	err       error // sticky
	truncated bool
	closed    bool

	order  binary.ByteOrder
	be     bool // order is big-endian; see u32
	ifaces []Interface
	lost   []uint64    // per interface, from statistics blocks
	sect   []ifaceInfo // interfaces of the current section
}

// ifaceInfo is what the reader needs of an interface of the current section.
type ifaceInfo struct {
	global int // index in Reader.ifaces
	ts     tsScale
}

// tsScale converts pcapng timestamps of one interface to time.Time.
type tsScale struct {
	perSec uint64 // units per second (decimal resolutions)
	mul    uint64 // nanoseconds per unit, decimal resolutions up to 9
	div    uint64 // units per nanosecond, decimal resolutions from 10
	shift  int    // binary resolution 2^-shift; -1 for decimal ones
	offset int64  // if_tsoffset, seconds
}

func newTsScale(res byte) (tsScale, error) {
	exp := int(res & 0x7f)
	if res&0x80 != 0 {
		if exp > 63 {
			return tsScale{}, fmt.Errorf("if_tsresol 2^-%d unsupported", exp)
		}
		return tsScale{shift: exp}, nil
	}
	if exp > 19 {
		return tsScale{}, fmt.Errorf("if_tsresol 10^-%d unsupported", exp)
	}
	s := tsScale{perSec: 1, mul: 1, div: 1, shift: -1}
	for range exp {
		s.perSec *= 10
	}
	for range 9 - min(exp, 9) {
		s.mul *= 10
	}
	for range max(exp-9, 0) {
		s.div *= 10
	}
	return s, nil
}

func (s *tsScale) time(ts uint64) time.Time {
	var sec, nsec uint64
	switch {
	case s.perSec == 1e9: // what fcap writers use: constant divisions are cheap
		sec, nsec = ts/1e9, ts%1e9
	case s.shift < 0:
		sec = ts / s.perSec
		nsec = ts % s.perSec * s.mul / s.div
	default:
		sec = ts >> s.shift
		frac := ts & (1<<s.shift - 1)
		hi, lo := bits.Mul64(frac, 1e9)
		if s.shift == 0 {
			nsec = 0
		} else {
			nsec = lo>>s.shift | hi<<(64-s.shift)
		}
	}
	return time.Unix(int64(sec)+s.offset, int64(nsec)).UTC()
}

// Open opens the .fcap file at path. Close closes it.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f, ReaderOptions{})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.f = f
	return r, nil
}

// NewReader reads the section header from r, and the interface blocks that
// follow it as far as they are already buffered (it does not wait for more
// on a pipe), and returns a Reader for the records. A stream that is not
// pcapng gives an error wrapping ErrNotFcap; an empty one too.
func NewReader(r io.Reader, opts ReaderOptions) (*Reader, error) {
	rd := &Reader{
		src:  r,
		logf: opts.Logf,
		max:  opts.MaxBlockSize,
		buf:  make([]byte, readBufSize),
	}
	if rd.max <= 0 {
		rd.max = DefaultMaxBlockSize
	}
	if rd.max < shbMinSize {
		rd.max = shbMinSize
	}
	// Look at type and byte-order magic first, to tell "not pcapng" from
	// "pcapng cut short".
	err := rd.ensure(12)
	switch {
	case err == io.EOF && rd.end == rd.start:
		return nil, fmt.Errorf("empty input: %w", ErrNotFcap)
	case err != nil && err != io.EOF:
		return nil, err
	}
	head := rd.buf[rd.start:rd.end]
	shb := []byte{0x0a, 0x0d, 0x0d, 0x0a} // blockSHB, a palindrome
	if !bytes.HasPrefix(shb, head[:min(len(head), 4)]) || len(head) >= 12 && orderOf(head[8:12]) == nil {
		return nil, fmt.Errorf("no pcapng section header: %w", ErrNotFcap)
	}
	rec := Record{}
	if err := rd.step(&rec, false, true); err == io.EOF {
		return rd, nil // cut inside the section header
	} else if err != nil {
		return nil, err
	}
	// Interfaces already at hand, so that Interfaces is useful at once.
	for rd.err == nil && rd.end-rd.start >= 8 && rd.u32(rd.buf[rd.start:]) == blockIDB {
		l := rd.u32(rd.buf[rd.start+4:])
		if uint64(l) > uint64(rd.end-rd.start) {
			break
		}
		if err := rd.step(&rec, false, false); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
	}
	return rd, nil
}

// Interfaces returns the interfaces seen so far, indexed by Record.Iface.
// The slice is the reader's; do not modify it.
func (r *Reader) Interfaces() []Interface { return r.ifaces }

// Lost returns how many messages of interface iface the recorder lost in
// all, as the statistics block it wrote when it closed says (pcapng's
// isb_ifdrop), or 0 when there is none (yet: the block comes last). It
// counts the losses that Record.Lost marks and any after the interface's
// last record.
func (r *Reader) Lost(iface int) uint64 {
	if iface < 0 || iface >= len(r.lost) {
		return 0
	}
	return r.lost[iface]
}

// Truncated reports whether the stream ended inside a block: the capture
// was cut (killed writer, full disk). Meaningful once Next returned io.EOF.
func (r *Reader) Truncated() bool { return r.truncated }

// Close closes the file of a Reader from Open; for one from NewReader it
// only stops the reader, leaving the io.Reader open.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.err = fmt.Errorf("fcap reader: %w", os.ErrClosed)
	r.buf = nil
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}

// Next returns the next record in a newly allocated Record (with its own
// Msg), or io.EOF at the end of the stream.
func (r *Reader) Next() (*Record, error) {
	rec := new(Record)
	for {
		if err := r.step(rec, true, false); err != nil {
			return nil, err
		}
		if rec.Dir != 0 {
			return rec, nil
		}
	}
}

// NextInto reads the next record into rec, reusing rec.Msg's storage: the
// previous contents of rec, Msg included, are overwritten, so copy what must
// outlive the call. It does not allocate once rec.Msg is large enough. At the
// end of the stream it returns io.EOF; after an error rec is unspecified.
func (r *Reader) NextInto(rec *Record) error {
	for {
		rec.Dir = 0
		if err := r.step(rec, false, false); err != nil {
			return err
		}
		if rec.Dir != 0 {
			return nil
		}
	}
}

// step reads one block. For a packet block it fills rec (rec.Dir != 0);
// section and interface blocks update the reader; other blocks are skipped.
// first is set for the section header at the start of the stream.
func (r *Reader) step(rec *Record, alloc, first bool) error {
	if r.err != nil {
		return r.err
	}
	off, typ, b, err := r.block(first)
	if err != nil {
		if err != io.EOF {
			r.err = err
		}
		return err
	}
	switch typ {
	case blockSHB:
		return r.sectionHeader(off, b)
	case blockIDB:
		return r.interfaceBlock(off, b)
	case blockEPB:
		return r.packet(off, b, rec, alloc)
	case blockISB:
		return r.statistics(off, b)
	}
	return nil
}

// block returns the next whole block, checked for length and trailer, and
// consumes it; b stays valid until the next call. io.EOF means the end of
// the stream, cut mid-block if r.truncated.
func (r *Reader) block(first bool) (off int64, typ uint32, b []byte, err error) {
	off = r.off
	if err := r.ensure(8); err != nil {
		return off, 0, nil, r.atEOF(err)
	}
	head := r.buf[r.start:]
	typ = binary.LittleEndian.Uint32(head) // the SHB type reads the same both ways
	if typ == blockSHB {
		if err := r.ensure(12); err != nil {
			return off, 0, nil, r.atEOF(err)
		}
		head = r.buf[r.start:]
		o := orderOf(head[8:12])
		if o == nil {
			return off, 0, nil, &FormatError{off, errors.New("section header: bad byte-order magic")}
		}
		r.order = o
		r.be = o == binary.BigEndian
	} else if r.order == nil || first {
		return off, 0, nil, &FormatError{off, fmt.Errorf("block type %#x before section header", typ)}
	} else {
		typ = r.u32(head)
	}
	l := r.u32(head[4:])
	minLen := uint32(12)
	switch typ {
	case blockSHB:
		minLen = shbMinSize
	case blockIDB:
		minLen = idbMinSize
	case blockEPB:
		minLen = epbMinSize
	case blockISB:
		minLen = isbMinSize
	}
	if l < minLen || l%4 != 0 || uint64(l) > uint64(r.max) {
		return off, 0, nil, &FormatError{off, fmt.Errorf("block type %#x: bad length %d", typ, l)}
	}
	if err := r.ensure(int(l)); err != nil {
		return off, 0, nil, r.atEOF(err)
	}
	b = r.buf[r.start : r.start+int(l)]
	if t := r.u32(b[l-4:]); t != l {
		return off, 0, nil, &FormatError{off, fmt.Errorf("block type %#x: trailing length %d, want %d", typ, t, l)}
	}
	r.start += int(l)
	r.off += int64(l)
	return off, typ, b, nil
}

// u16, u32 and u64 decode in the section's byte order. They test a bool
// rather than call through r.order, so that they inline: the interface call
// was a visible part of the time per record (pcapgo does the same).
func (r *Reader) u16(b []byte) uint16 {
	if r.be {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *Reader) u32(b []byte) uint32 {
	if r.be {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *Reader) u64(b []byte) uint64 {
	if r.be {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// atEOF turns the end of the stream into io.EOF, noting a partial block.
func (r *Reader) atEOF(err error) error {
	if err != io.EOF {
		return fmt.Errorf("read capture: %w", err)
	}
	if r.end > r.start && !r.truncated {
		r.truncated = true
		if r.logf != nil {
			r.logf("capture truncated: %d bytes of an incomplete block at offset %d", r.end-r.start, r.off)
		}
	}
	return io.EOF
}

// ensure makes at least n bytes available in buf[start:end], reading as
// little as it can so that a live stream is not held up. It returns io.EOF
// if the stream ends first. The buffer grows with the data that arrives, not
// with n, so a lying length cannot make it allocate more than the stream
// holds.
func (r *Reader) ensure(n int) error {
	for r.end-r.start < n {
		if r.eof {
			return io.EOF
		}
		if r.end == len(r.buf) {
			if r.start > 0 {
				r.end = copy(r.buf, r.buf[r.start:r.end])
				r.start = 0
			} else {
				nb := make([]byte, min(max(2*len(r.buf), readBufSize), max(n, len(r.buf))))
				r.end = copy(nb, r.buf[r.start:r.end])
				r.start = 0
				r.buf = nb
			}
		}
		m, err := r.src.Read(r.buf[r.end:])
		r.end += m
		switch {
		case err == io.EOF:
			r.eof = true
		case err != nil:
			return err
		case m == 0:
			r.emptyReads++
			if r.emptyReads >= maxEmptyReads {
				return io.ErrNoProgress
			}
			continue
		}
		r.emptyReads = 0
	}
	return nil
}

func (r *Reader) sectionHeader(off int64, b []byte) error {
	major, minor := r.u16(b[12:]), r.u16(b[14:])
	if major != 1 {
		r.err = &FormatError{off, fmt.Errorf("pcapng version %d.%d: %w", major, minor, ErrNotFcap)}
		return r.err
	}
	r.sect = r.sect[:0]
	return nil
}

func (r *Reader) interfaceBlock(off int64, b []byte) error {
	if lt := r.u16(b[8:]); lt != linkTypeUser0 {
		r.err = &FormatError{off, fmt.Errorf("interface %d: link type %d: %w", len(r.sect), lt, ErrNotFcap)}
		return r.err
	}
	if len(r.ifaces) >= maxInterfaces {
		r.err = &FormatError{off, fmt.Errorf("more than %d interfaces", maxInterfaces)}
		return r.err
	}
	var intf Interface
	res := byte(6) // pcapng default: microseconds
	var tsoff int64
	err := r.options(off, "interface", b[16:len(b)-4], func(code uint16, val []byte) {
		switch {
		case code == optIfName:
			intf.Name = string(val)
		case code == optIfDesc:
			intf.Description = string(val)
		case code == optIfTsresol && len(val) >= 1:
			res = val[0]
		case code == optIfTsoffset && len(val) >= 8:
			tsoff = int64(r.u64(val))
		}
	})
	if err != nil {
		r.err = err
		return r.err
	}
	ts, err := newTsScale(res)
	if err != nil {
		r.err = &FormatError{off, fmt.Errorf("interface %d: %w", len(r.sect), err)}
		return r.err
	}
	ts.offset = tsoff
	r.sect = append(r.sect, ifaceInfo{global: len(r.ifaces), ts: ts})
	r.ifaces = append(r.ifaces, intf)
	r.lost = append(r.lost, 0)
	return nil
}

// statistics reads an interface statistics block: its isb_ifdrop is what
// the recorder lost in all. A later block of the interface replaces it.
func (r *Reader) statistics(off int64, b []byte) error {
	id := r.u32(b[8:])
	if uint64(id) >= uint64(len(r.sect)) {
		return &FormatError{off, fmt.Errorf("statistics: interface %d of %d", id, len(r.sect))}
	}
	return r.options(off, "statistics", b[20:len(b)-4], func(code uint16, val []byte) {
		if code == optIsbIfdrop && len(val) == 8 {
			r.lost[r.sect[id].global] = r.u64(val)
		}
	})
}

// options calls fn with each option of a block up to the end of options;
// an option running past the block is an error naming the block's offset.
func (r *Reader) options(off int64, what string, opts []byte, fn func(code uint16, val []byte)) error {
	for len(opts) >= 4 {
		code, n := r.u16(opts), int(r.u16(opts[2:]))
		if code == optEnd {
			break
		}
		if 4+pad4(n) > len(opts) {
			return &FormatError{off, fmt.Errorf("%s option %d: length %d past block end", what, code, n)}
		}
		fn(code, opts[4:4+n])
		opts = opts[4+pad4(n):]
	}
	return nil
}

func (r *Reader) packet(off int64, b []byte, rec *Record, alloc bool) error {
	o := r.order
	id := r.u32(b[8:])
	capLen := r.u32(b[20:])
	origLen := r.u32(b[24:])
	if uint64(capLen) > uint64(len(b)-epbMinSize) {
		return &FormatError{off, fmt.Errorf("packet: capture length %d past block end", capLen)}
	}
	if uint64(id) >= uint64(len(r.sect)) {
		return &FormatError{off, fmt.Errorf("packet: interface %d of %d", id, len(r.sect))}
	}
	// ParsePseudoHeader, without its call through the byte order interface.
	pkt := b[28 : 28+capLen]
	if len(pkt) < PseudoHeaderSize || pkt[0] != FormatVersion || !Dir(pkt[1]).Valid() {
		_, _, _, err := ParsePseudoHeader(pkt, o)
		return &FormatError{off, err}
	}
	dir, flags, msg := Dir(pkt[1]), Flags(r.u16(pkt[2:])), pkt[PseudoHeaderSize:]
	in := &r.sect[id]
	rec.Time = in.ts.time(uint64(r.u32(b[12:]))<<32 | uint64(r.u32(b[16:])))
	rec.Iface = in.global
	rec.Dir = dir
	rec.Flags = flags
	if alloc {
		rec.Msg = append([]byte(nil), msg...)
	} else {
		rec.Msg = append(rec.Msg[:0], msg...)
	}
	rec.OrigLen = max(int(origLen)-PseudoHeaderSize, len(msg))
	rec.Order = o
	rec.Offset = off
	rec.Lost = 0
	var opts []byte
	if at := 28 + pad4(int(capLen)); at < len(b)-4 {
		opts = b[at : len(b)-4]
	}
	return r.options(off, "packet", opts, func(code uint16, val []byte) {
		if code == optEpbDropcount && len(val) == 8 {
			rec.Lost = r.u64(val)
		}
	})
}
