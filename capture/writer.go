package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// DefaultInterface is the interface a Writer describes when
// WriterOptions.Interfaces is empty.
var DefaultInterface = Interface{Name: "client"}

// Interface describes one FUSE connection of a capture (one pcapng
// interface description block).
type Interface struct {
	// Name is the mountpoint, or "replay" or "client" (pcapng if_name).
	Name string
	// Description is the server's command line (pcapng if_description).
	Description string
}

// WriterOptions configures a Writer. The zero value is usable.
type WriterOptions struct {
	// Interfaces are written at once, in order; their indexes are the
	// Iface values of records. Empty means one DefaultInterface.
	Interfaces []Interface
	// SnapLen, if positive, is the most bytes of a FUSE message kept in a
	// record; longer messages are cut, flagged FlagTruncated, and keep
	// their whole length as the record's original length. 0 keeps all.
	SnapLen int
	// ByteOrder is the byte order of the section, which must be that of
	// the FUSE messages written: nil means this host's order, right for
	// messages that cross this host's /dev/fuse. binary.LittleEndian or
	// binary.BigEndian.
	ByteOrder binary.ByteOrder
}

// flushThreshold is how many bytes of whole blocks the Writer gathers
// before it writes them out without being asked.
const flushThreshold = 64 << 10

// directMin is the message size from which a Writer on a regular file
// hands the message to the kernel from where it lies, in one writev(2) with
// the buffered blocks and the record's own framing, rather than copying it
// into its buffer first. A capture of a bulk read is mostly such messages:
// copying them (into the feed, then into this buffer) was a fifth of the
// interposer's CPU time, half of it here.
const directMin = 16 << 10

// maxOptionLen is the longest pcapng option value (a 16-bit length).
const maxOptionLen = math.MaxUint16

// Writer writes an .fcap stream. It is safe for concurrent use.
//
// Records are buffered, and written out without being asked only once 64 KiB
// have gathered: call Flush to push them to the underlying writer (for a
// live reader, or to bound what a crash loses) and Close at the end; records
// still buffered when the process dies are lost. The Writer only ever hands
// whole pcapng blocks to the underlying writer, so a reader at the other end
// of a pipe, or a file cut by SIGKILL, ends on a block boundary unless the
// kill lands inside a write.
type Writer struct {
	mu sync.Mutex // guards all fields below; held across writes to w

	w       io.Writer
	f       *os.File        // set by Create; closed by Close
	rc      syscall.RawConn // w's, when w is a regular file: see directMin
	order   binary.ByteOrder
	snapLen int
	enc     encoder
	out     []byte // whole blocks not yet written to w
	nIfaces int
	lost    map[int]uint64 // SetLost's totals, written by Close
	err     error          // sticky write error
	closed  bool
	pending string // CreatePending's file, until Keep renames it to final
	final   string
}

// encoder appends the section header and interface blocks to *out.
// Packets do not go through it: see appendEPB.
type encoder interface {
	addInterface(intf Interface, snapLen uint32) error
}

// Create creates (or truncates) the file at path with mode 0600, since
// captures hold file names and contents, and returns a Writer on it. An
// existing regular file is set to 0600 too; a device or a FIFO (/dev/null,
// a named pipe to a reader) is written as it is, its mode left alone. Close
// closes the file.
func Create(path string, opts WriterOptions) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	// O_CREATE leaves the mode of an existing file alone.
	if fi.Mode().IsRegular() {
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, err
		}
	}
	w, err := NewWriter(f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	w.f = f
	return w, nil
}

// CreatePending is Create for a capture that should replace the file at
// path only once the session it records has started: it writes a new file
// beside path (".NAME.fusectl-*"), which Keep renames into place and Close
// before Keep removes. A server that cannot be found or fails to mount so
// leaves an earlier capture at path as it was. path itself is written, as
// Create writes it, when it is not a regular file (a device, a FIFO); a
// symbolic link is followed to the file it names.
func CreatePending(path string, opts WriterOptions) (*Writer, error) {
	final := path
	if real, err := filepath.EvalSymlinks(path); err == nil {
		final = real
	}
	switch fi, err := os.Stat(final); {
	case err == nil && !fi.Mode().IsRegular():
		return Create(path, opts)
	case err == nil:
		// Fail now, as Create would, on a file that may not be written.
		f, err := os.OpenFile(final, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		f.Close()
	}
	f, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".fusectl-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	w, err := NewWriter(f, opts)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	w.f, w.pending, w.final = f, f.Name(), final
	return w, nil
}

// Keep puts a capture from CreatePending in place: the session it records
// has started. It does nothing for other Writers, or when called again.
func (w *Writer) Keep() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == "" {
		return nil
	}
	if err := os.Rename(w.pending, w.final); err != nil {
		return fmt.Errorf("the capture stays at %s: %w", w.pending, err)
	}
	w.pending = ""
	return nil
}

// NewWriter writes the section header and the interfaces of opts to w at
// once, so that a reader at the other end of a pipe can start, and returns a
// Writer for the records. Close does not close w.
func NewWriter(w io.Writer, opts WriterOptions) (*Writer, error) {
	return newWriter(w, opts, false)
}

// newWriter is NewWriter; raw makes it use rawEncoder in either byte order,
// for the test that compares it with pcapgo.
func newWriter(w io.Writer, opts WriterOptions, raw bool) (*Writer, error) {
	if opts.SnapLen < 0 || uint64(opts.SnapLen) > math.MaxUint32-PseudoHeaderSize {
		return nil, fmt.Errorf("snap length %d out of range", opts.SnapLen)
	}
	ifaces := opts.Interfaces
	if len(ifaces) == 0 {
		ifaces = []Interface{DefaultInterface}
	}
	for _, intf := range ifaces {
		if err := checkInterface(intf); err != nil {
			return nil, err
		}
	}
	order := opts.ByteOrder
	if order == nil {
		order = hostOrder()
	} else {
		order = canonicalOrder(order)
	}
	wr := &Writer{w: w, order: order, snapLen: opts.SnapLen}
	// Only regular files: a pipe keeps os.File's writes, which turn a
	// closed reader of standard output into SIGPIPE as everywhere else.
	if f, ok := w.(*os.File); ok && haveWritev {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			if rc, err := f.SyscallConn(); err == nil {
				wr.rc = rc
			}
		}
	}
	if order == binary.LittleEndian && !raw {
		enc, err := newPcapgoEncoder(&wr.out, ifaces[0], wr.idbSnapLen())
		if err != nil {
			return nil, err
		}
		wr.enc = enc
		ifaces = ifaces[1:]
		wr.nIfaces = 1
	} else {
		enc := &rawEncoder{out: &wr.out, o: order.(appendOrder)}
		enc.sectionHeader()
		wr.enc = enc
	}
	for _, intf := range ifaces {
		if err := wr.enc.addInterface(intf, wr.idbSnapLen()); err != nil {
			return nil, err
		}
		wr.nIfaces++
	}
	if err := wr.flushLocked(); err != nil {
		return nil, err
	}
	return wr, nil
}

// idbSnapLen is the IDB snaplen: pcapng counts the pseudo-header.
func (w *Writer) idbSnapLen() uint32 {
	if w.snapLen == 0 {
		return 0
	}
	return uint32(w.snapLen + PseudoHeaderSize)
}

func checkInterface(intf Interface) error {
	if len(intf.Name) > maxOptionLen || len(intf.Description) > maxOptionLen {
		return fmt.Errorf("interface %.40q: name or description longer than %d bytes", intf.Name, maxOptionLen)
	}
	return nil
}

// ByteOrder returns the byte order of the section being written.
func (w *Writer) ByteOrder() binary.ByteOrder { return w.order }

// AddInterface adds an interface (a FUSE connection) and returns its index
// for Record.Iface.
func (w *Writer) AddInterface(intf Interface) (int, error) {
	if err := checkInterface(intf); err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return 0, err
	}
	if err := w.enc.addInterface(intf, w.idbSnapLen()); err != nil {
		w.err = err
		return 0, err
	}
	w.nIfaces++
	return w.nIfaces - 1, w.maybeFlushLocked()
}

// Write appends one record, using r.Time, r.Iface, r.Dir, r.Flags, r.Msg,
// r.OrigLen (the original length is the larger of r.OrigLen and len(r.Msg),
// so a record read from a cut capture keeps its length) and r.Lost. A
// message longer than the snap length is cut and flagged FlagTruncated. The
// record is buffered until Flush. A record read from a section of the
// other byte order (r.Order) is refused: its messages cannot be copied
// without decoding every struct in them.
func (w *Writer) Write(r *Record) error {
	if r.Order != nil && r.Order != w.order {
		return fmt.Errorf("write record: %w: a %v message in a %v capture", ErrByteOrder, r.Order, w.order)
	}
	return w.write(r.Time, r.Iface, r.Dir, r.Flags, r.Msg, r.OrigLen, r.Lost)
}

// WriteMsg is Write for a message given by its parts.
func (w *Writer) WriteMsg(t time.Time, iface int, dir Dir, flags Flags, msg []byte) error {
	return w.write(t, iface, dir, flags, msg, 0, 0)
}

func (w *Writer) write(t time.Time, iface int, dir Dir, flags Flags, msg []byte, origLen int, lost uint64) error {
	if !dir.Valid() {
		return fmt.Errorf("write record: %w: %d", ErrBadDir, dir)
	}
	if uint64(len(msg)) > math.MaxUint32-PseudoHeaderSize-epbMinSize-epbLostSize-3 {
		return fmt.Errorf("write record: message of %d bytes too long", len(msg))
	}
	origLen = max(origLen, len(msg))
	if uint64(origLen) > math.MaxUint32-PseudoHeaderSize {
		return fmt.Errorf("write record: original length %d too long", origLen)
	}
	if w.snapLen > 0 && len(msg) > w.snapLen {
		msg = msg[:w.snapLen]
	}
	// A reader refuses blocks over DefaultMaxBlockSize, and with one the
	// rest of the file: cut the message to fit, as a snap length would.
	if len(msg) > maxMsg {
		msg = msg[:maxMsg]
	}
	if origLen > len(msg) {
		flags |= FlagTruncated
	}
	var ts uint64
	if ns := t.UnixNano(); ns > 0 && !t.IsZero() {
		ts = uint64(ns)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if iface < 0 || iface >= w.nIfaces {
		return fmt.Errorf("write record: interface %d of %d", iface, w.nIfaces)
	}
	o := w.order.(appendOrder)
	e := epb{iface: iface, ts: ts, dir: dir, flags: flags, msgLen: len(msg), origLen: origLen + PseudoHeaderSize, lost: lost}
	if w.rc != nil && len(msg) >= directMin {
		return w.writeDirectLocked(o, e, msg)
	}
	w.out = appendEPB(w.out, o, e, msg)
	return w.maybeFlushLocked()
}

// writeDirectLocked writes the buffered blocks and one record whose message
// stays where it is, in one writev(2): the file still only ever receives
// whole blocks.
func (w *Writer) writeDirectLocked(o appendOrder, e epb, msg []byte) error {
	w.out = appendEPBHead(w.out, o, e)
	tail := len(w.out)
	w.out = appendEPBTail(w.out, o, e)
	err := writevAll(w.rc, [][]byte{w.out[:tail], msg, w.out[tail:]})
	w.out = w.out[:0]
	if err != nil {
		// The buffered blocks before this record may be partly written
		// too: the error is sticky, as for a failed flush.
		w.err = fmt.Errorf("write capture: %w", err)
		return w.err
	}
	return nil
}

func (w *Writer) usable() error {
	if w.closed {
		return fmt.Errorf("fcap writer: %w", os.ErrClosed)
	}
	return w.err
}

// Flush writes every buffered record to the underlying writer, as whole
// blocks.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	return w.flushLocked()
}

func (w *Writer) maybeFlushLocked() error {
	if len(w.out) < flushThreshold {
		return nil
	}
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if len(w.out) == 0 {
		return nil
	}
	_, err := w.w.Write(w.out)
	w.out = w.out[:0]
	if err != nil {
		w.err = fmt.Errorf("write capture: %w", err)
		return w.err
	}
	return nil
}

// SetLost records that the recorder lost n messages of interface iface in
// all, those that records' Lost fields mark and any after the last record.
// Close writes the total in an interface statistics block (pcapng's
// isb_ifdrop), which Reader.Lost returns.
func (w *Writer) SetLost(iface int, n uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lost == nil {
		w.lost = map[int]uint64{}
	}
	w.lost[iface] = n
}

// Close flushes and, for a Writer from Create, closes the file (and
// removes one from CreatePending that Keep did not put in place). It must be
// called: records still buffered are lost otherwise. Calling it again does
// nothing; other calls after it fail with an error wrapping os.ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	err := w.err
	if err == nil {
		w.appendStatsLocked(time.Now())
		err = w.flushLocked()
	}
	w.closed = true
	if w.f != nil {
		if cerr := w.f.Close(); err == nil {
			err = cerr
		}
	}
	if w.pending != "" {
		// Never kept: the session did not start.
		os.Remove(w.pending)
		w.pending = ""
	}
	return err
}

// appendStatsLocked appends a statistics block for each interface that
// SetLost gave a total, in interface order.
func (w *Writer) appendStatsLocked(t time.Time) {
	o := w.order.(appendOrder)
	ts := uint64(t.UnixNano())
	for iface := range w.nIfaces {
		n, ok := w.lost[iface]
		if !ok {
			continue
		}
		w.out = o.AppendUint32(w.out, blockISB)
		w.out = o.AppendUint32(w.out, isbLostSize)
		w.out = o.AppendUint32(w.out, uint32(iface))
		w.out = o.AppendUint32(w.out, uint32(ts>>32))
		w.out = o.AppendUint32(w.out, uint32(ts))
		w.out = appendCountOption(w.out, o, optIsbIfdrop, n)
		w.out = o.AppendUint32(w.out, isbLostSize)
	}
}

// appendCountOption appends an option holding a 64-bit count and the end
// of options: the only options of the packet and statistics blocks a
// Writer writes.
func appendCountOption(out []byte, o appendOrder, code uint16, n uint64) []byte {
	out = o.AppendUint16(out, code)
	out = o.AppendUint16(out, 8)
	out = o.AppendUint64(out, n)
	return o.AppendUint32(out, optEnd) // and a zero length
}

// hostOrder returns binary.LittleEndian or binary.BigEndian, whichever this
// host uses.
func hostOrder() binary.ByteOrder { return canonicalOrder(binary.NativeEndian) }

// canonicalOrder maps any byte order (binary.NativeEndian, abi.ByteOrder
// values) to binary.LittleEndian or binary.BigEndian, by what it does.
func canonicalOrder(o binary.ByteOrder) binary.ByteOrder {
	if o.Uint16([]byte{1, 0}) == 1 {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

// appendOrder is a byte order that can also append; binary.LittleEndian
// and binary.BigEndian are.
type appendOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// appendSink is the io.Writer pcapgo writes into: it appends to the
// Writer's buffer, so that only whole blocks reach the underlying writer.
type appendSink struct{ out *[]byte }

func (s appendSink) Write(p []byte) (int, error) {
	*s.out = append(*s.out, p...)
	return len(p), nil
}

// pcapgoEncoder writes little-endian sections through pcapgo.NgWriter.
// NgWriter buffers in a bufio.Writer of its own that spills whenever it is
// full, mid-block; it writes into an appendSink and is flushed after every
// block, so the Writer's buffer only ever holds whole blocks.
type pcapgoEncoder struct {
	ng *pcapgo.NgWriter
}

func newPcapgoEncoder(out *[]byte, first Interface, snapLen uint32) (*pcapgoEncoder, error) {
	ng, err := pcapgo.NewNgWriterInterface(appendSink{out}, ngInterface(first, snapLen),
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: application}})
	if err != nil {
		return nil, err
	}
	if err := ng.Flush(); err != nil {
		return nil, err
	}
	return &pcapgoEncoder{ng: ng}, nil
}

// application is the shb_userappl option of sections written here.
const application = "fusectl"

func ngInterface(intf Interface, snapLen uint32) pcapgo.NgInterface {
	return pcapgo.NgInterface{
		Name:                intf.Name,
		Description:         intf.Description,
		LinkType:            layers.LinkType(linkTypeUser0),
		SnapLength:          snapLen,
		TimestampResolution: 9,
	}
}

func (e *pcapgoEncoder) addInterface(intf Interface, snapLen uint32) error {
	if _, err := e.ng.AddInterface(ngInterface(intf, snapLen)); err != nil {
		return err
	}
	return e.ng.Flush()
}

// rawEncoder writes sections in any byte order. pcapgo.NgWriter only
// writes little-endian ones, and a big-endian host's FUSE messages need a
// big-endian section. Its little-endian output is byte for byte pcapgo's
// (checked by a test).
type rawEncoder struct {
	out *[]byte
	o   appendOrder
}

func (e *rawEncoder) u16(v uint16) { *e.out = e.o.AppendUint16(*e.out, v) }
func (e *rawEncoder) u32(v uint32) { *e.out = e.o.AppendUint32(*e.out, v) }

func (e *rawEncoder) option(code uint16, val []byte) {
	e.u16(code)
	e.u16(uint16(len(val)))
	*e.out = append(*e.out, val...)
	*e.out = append(*e.out, make([]byte, pad4(len(val))-len(val))...)
}

// begin starts a block and returns where its length goes.
func (e *rawEncoder) begin(typ uint32) int {
	e.u32(typ)
	at := len(*e.out)
	e.u32(0)
	return at
}

// end writes the block length at both ends.
func (e *rawEncoder) end(at int) {
	n := uint32(len(*e.out) - at + 4 + 4)
	e.o.PutUint32((*e.out)[at:], n)
	e.u32(n)
}

func (e *rawEncoder) sectionHeader() {
	at := e.begin(blockSHB)
	e.u32(byteOrderMagic)
	e.u16(1)                                          // major
	e.u16(0)                                          // minor
	*e.out = e.o.AppendUint64(*e.out, math.MaxUint64) // section length unknown
	e.option(optShbUserappl, []byte(application))
	e.option(optEnd, nil)
	e.end(at)
}

func (e *rawEncoder) addInterface(intf Interface, snapLen uint32) error {
	at := e.begin(blockIDB)
	e.u16(linkTypeUser0)
	e.u16(0)
	e.u32(snapLen)
	if intf.Name != "" {
		e.option(optIfName, []byte(intf.Name))
	}
	if intf.Description != "" {
		e.option(optIfDesc, []byte(intf.Description))
	}
	e.option(optIfTsresol, []byte{9})
	e.option(optEnd, nil)
	e.end(at)
	return nil
}

// epb is the framing of one enhanced packet block.
type epb struct {
	iface   int
	ts      uint64
	dir     Dir
	flags   Flags
	msgLen  int // bytes of the message kept (already cut at the snap length)
	origLen int // counting the pseudo-header
	lost    uint64
}

// size returns the block's total length.
func (e epb) size() int {
	n := epbMinSize + pad4(PseudoHeaderSize+e.msgLen)
	if e.lost > 0 {
		n += epbLostSize
	}
	return n
}

// appendEPB appends one enhanced packet block: the pseudo-header, msg and,
// after records were lost, an epb_dropcount option. Every packet of either
// byte order is framed here, with one copy of msg, and not by
// pcapgo.NgWriter: its WritePacket wants pseudo-header and message in one
// slice and buffers them again, three copies of every payload in all, which
// was the capture's largest cost in user space on bulk reads. The blocks are
// pcapgo's byte for byte (TestEPBMatchesPcapgo).
func appendEPB(out []byte, o appendOrder, e epb, msg []byte) []byte {
	out = appendEPBHead(out, o, e)
	out = append(out, msg...)
	return appendEPBTail(out, o, e)
}

// appendEPBHead appends what comes before the message in its block.
func appendEPBHead(out []byte, o appendOrder, e epb) []byte {
	capLen := PseudoHeaderSize + e.msgLen
	out = o.AppendUint32(out, blockEPB)
	out = o.AppendUint32(out, uint32(e.size()))
	out = o.AppendUint32(out, uint32(e.iface))
	out = o.AppendUint32(out, uint32(e.ts>>32))
	out = o.AppendUint32(out, uint32(e.ts))
	out = o.AppendUint32(out, uint32(capLen))
	out = o.AppendUint32(out, uint32(e.origLen))
	return AppendPseudoHeader(out, e.dir, e.flags, o)
}

// appendEPBTail appends what comes after the message: padding, the options
// and the block's length again.
func appendEPBTail(out []byte, o appendOrder, e epb) []byte {
	capLen := PseudoHeaderSize + e.msgLen
	out = append(out, make([]byte, pad4(capLen)-capLen)...)
	if e.lost > 0 {
		out = appendCountOption(out, o, optEpbDropcount, e.lost)
	}
	return o.AppendUint32(out, uint32(e.size()))
}
