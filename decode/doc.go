// Package decode turns raw FUSE messages into typed, printable records.
//
// It decodes requests (in-header and arguments), replies (out-header and
// body, which needs the request's opcode) and notifications for every
// opcode and notify code of protocol 7.45, keyed by the negotiated minor and
// INIT flags, so that captures of older servers (7.8, 7.12, 7.19, ...)
// decode with the sizes those servers used. Unknown opcodes, notify codes
// and flag bits decode generically, as a number and raw bytes. A malformed
// message becomes a [Record] whose Malformed field says why; it never stops
// a stream.
//
// A [Session] follows one FUSE connection: it pairs replies with requests by
// unique (interrupts and resends included), measures latency, remembers the
// negotiated INIT and keeps a bounded nodeid-to-path map. A [Decoder] holds
// one Session per capture interface.
//
// [Formatter] renders a record as one deterministic line of text or as one
// JSON object; [Filter] selects records; [Stats] counts them per opcode with
// latency percentiles. [FUSE] is a gopacket DecodingLayer for .fcap packets.
//
// Decoding is allocation-free in the steady state: records are decoded into
// a caller-owned [Record] that aliases the message bytes, and text is
// appended to a caller-owned []byte. The package does no I/O.
package decode
