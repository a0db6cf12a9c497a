package mount

import (
	"fmt"
	"strings"
)

// INIT flags the interposer cannot carry (bit numbers of the 64-bit set).
const (
	flagInitExt    = 1 << 30
	flagMaxPages   = 1 << 22
	flagPassthru   = 1 << (37 - 32) // in flags2
	flagOverIOUrin = 1 << (41 - 32) // in flags2
)

// Offsets in the fuse_init_out body.
const (
	initFlags    = 12
	initMaxWrite = 20
	initMaxPages = 28
	initFlags2   = 32
)

// adjustInit rewrites, in place, the parts of an INIT reply (out-header
// included) the interposer cannot carry:
//   - FUSE_PASSTHROUGH: backing files are registered on the server's
//     /dev/fuse, which the server does not have;
//   - FUSE_OVER_IO_URING: the rings are set up on /dev/fuse too;
//   - max_pages and max_write above pages pages (0: no limit): SplicePages
//     when clamped, because a spliced READ reply of more than 16 pipe
//     buffers arrives as several datagrams that could interleave with
//     another reply's, and no more than a datagram on the socket holds
//     (socketPages).
//
// Nothing else changes. It returns a description of what it changed, ""
// if nothing.
func adjustInit(msg []byte, pages int, pageSize int) string {
	body := msg[outHeaderSize:]
	if len(body) < 16 || ne.Uint32(msg[4:]) != 0 {
		return ""
	}
	var notes []string
	flags := ne.Uint32(body[initFlags:])
	if flags&flagInitExt != 0 && len(body) >= initFlags2+4 {
		f2 := ne.Uint32(body[initFlags2:])
		if f2&flagPassthru != 0 {
			notes = append(notes, "PASSTHROUGH cleared")
		}
		if f2&flagOverIOUrin != 0 {
			notes = append(notes, "OVER_IO_URING cleared")
		}
		ne.PutUint32(body[initFlags2:], f2&^(flagPassthru|flagOverIOUrin))
	}
	if pages <= 0 {
		return strings.Join(notes, ", ")
	}
	limit := pages * pageSize
	if len(body) >= initMaxWrite+4 {
		if mw := ne.Uint32(body[initMaxWrite:]); mw > uint32(limit) {
			ne.PutUint32(body[initMaxWrite:], uint32(limit))
			notes = append(notes, fmt.Sprintf("max_write %d -> %d", mw, limit))
		}
	}
	minor := ne.Uint32(body[4:])
	if len(body) >= initMaxPages+2 && minor >= 28 {
		mp := ne.Uint16(body[initMaxPages:])
		// Without FUSE_MAX_PAGES the kernel would use 32 pages.
		if (flags&flagMaxPages == 0 && pages < 32) || (flags&flagMaxPages != 0 && int(mp) > pages) {
			ne.PutUint32(body[initFlags:], flags|flagMaxPages)
			ne.PutUint16(body[initMaxPages:], uint16(min(pages, 0xffff)))
			notes = append(notes, fmt.Sprintf("max_pages %d -> %d", mp, pages))
		}
	}
	return strings.Join(notes, ", ")
}

// unixDgramOverhead is what AF_UNIX keeps of a send buffer for itself: a
// datagram longer than the buffer less this fails with EMSGSIZE
// (unix_dgram_sendmsg).
const unixDgramOverhead = 32

// socketPages returns the most pages of data a message may carry on a
// socket whose send buffer (as SO_SNDBUF reports it) is sndbuf: a WRITE's
// in-header and fuse_write_in come on top (both ends' buffers are raised
// alike, so one figure serves both directions).
func socketPages(sndbuf, pageSize int) int {
	return max(1, (sndbuf-unixDgramOverhead-inHeaderSize-40)/pageSize)
}
