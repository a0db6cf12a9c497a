// Package capture reads and writes .fcap files, the capture format of
// fusectl.
//
// A .fcap file is a pcapng file (so tshark, capinfos and other pcapng tools
// open it) with one interface description block per FUSE connection, link
// type LINKTYPE_USER0 (147), nanosecond timestamps, and one enhanced packet
// block per FUSE message. Each packet is an 8-byte pseudo-header (format
// version, direction, flags) followed by the FUSE message exactly as it
// crossed the device, possibly cut at the snap length. All multi-byte fields,
// in the pseudo-header and in the message, are in the byte order of the
// pcapng section. docs/fcap.md in the repository is the full specification.
//
// Section headers and interfaces are written through gopacket's
// pcapgo.NgWriter in little-endian sections; pcapgo cannot write big-endian
// sections, so this package encodes those itself. Packets are framed by this
// package in both byte orders, with one copy of each message where
// pcapgo.NgWriter makes three; a test pins them to pcapgo's bytes.
//
// Reading does not use pcapgo.NgReader: it cannot report the byte offset of
// a block, cannot tell a file cut mid-block from a clean end, allocates
// whatever capture length a block claims, and divides by zero on some
// if_tsresol values. The reader here frames blocks itself, checks every
// length against the block and a cap (DefaultMaxBlockSize), keeps memory
// bounded by the largest block whatever the file size, and reads both byte
// orders. Tests check it against pcapgo.NgReader on the same files.
//
// Writer output must be flushed: see [Writer.Flush] and [Writer.Close].
// [Reader.Next] returns a fresh record; [Reader.NextInto] reuses one and does
// not allocate in the steady state.
package capture
