// Package transport moves whole FUSE messages between a FUSE client and a
// FUSE server.
//
// Two transports implement [Conn]:
//
//   - [SeqPacket], one end of an AF_UNIX SOCK_SEQPACKET socketpair whose other
//     end a FUSE server uses in place of /dev/fuse. A message normally crosses
//     as one datagram, but a server that splice(2)s its reply produces one
//     datagram per 16 pipe buffers (a 128 KiB READ reply arrives as
//     61456 + 65536 + 4096 bytes), so ReadMsg joins datagrams until the length
//     in the message header is reached.
//   - [DevFuse], an opened /dev/fuse: one read(2) is one request, one writev(2)
//     one reply.
//
// Reassembly relies on the pieces of one message arriving back to back. If
// two server threads splice large replies at the same moment their pieces
// can interleave; the transport cannot tell and does not try. It detects the
// cases that break framing (a piece longer than the rest of the message, a
// length outside the configured bounds) and reports them as [ErrBadFrame],
// but a well-formed interleaving of two replies goes unnoticed. Clients avoid
// the problem by keeping READ requests at 14 pages or less (no splice then
// needs more than 16 pipe buffers) unless the server is known not to splice.
//
// Both transports use the Go runtime poller, so Close unblocks a pending
// ReadMsg. SeqPacket also has read and write deadlines; a DevFuse's are
// those of its File.
package transport
