package capture

import "encoding/binary"

// pcapng constants used here (draft-ietf-opsawg-pcapng).
const (
	blockSHB = 0x0A0D0D0A // section header; same in both byte orders
	blockIDB = 1          // interface description
	blockEPB = 6          // enhanced packet
	blockISB = 5          // interface statistics

	byteOrderMagic = 0x1A2B3C4D

	optEnd          = 0
	optIfName       = 2
	optIfDesc       = 3
	optIfTsresol    = 9
	optIfTsoffset   = 14
	optShbUserappl  = 4
	optEpbDropcount = 4
	optIsbIfdrop    = 5

	// linkTypeUser0 is LINKTYPE_USER0, the link type of every fcap interface.
	linkTypeUser0 = 147

	shbMinSize = 28 // type, length, magic, major, minor, section length, trailer
	idbMinSize = 20
	epbMinSize = 32
	isbMinSize = 24 // type, length, interface, timestamp, trailer
	// countOptionSize is what appendCountOption appends: an option of 8
	// bytes (4 + 8) and the end of options (4).
	countOptionSize = 16
	// epbLostSize is what an epb_dropcount option adds to a packet block.
	epbLostSize = countOptionSize
	// isbLostSize is the length of the statistics block a Writer writes.
	isbLostSize = isbMinSize + countOptionSize
	// maxMsg is the longest message a packet block within
	// DefaultMaxBlockSize holds, with its pseudo-header, a drop count and
	// padding.
	maxMsg = DefaultMaxBlockSize - epbMinSize - PseudoHeaderSize - epbLostSize - 3
)

// pad4 rounds n up to a multiple of 4.
func pad4(n int) int { return (n + 3) &^ 3 }

// orderOf returns the byte order whose reading of the 4-byte magic m is the
// pcapng byte-order magic, or nil.
func orderOf(m []byte) binary.ByteOrder {
	switch {
	case binary.LittleEndian.Uint32(m) == byteOrderMagic:
		return binary.LittleEndian
	case binary.BigEndian.Uint32(m) == byteOrderMagic:
		return binary.BigEndian
	}
	return nil
}

// DefaultMaxBlockSize is the largest pcapng block the reader accepts unless
// ReaderOptions.MaxBlockSize says otherwise: far more than any FUSE message
// (max_write is at most a few MiB) and small enough that a corrupt length
// cannot make the reader allocate without bound.
const DefaultMaxBlockSize = 64 << 20
