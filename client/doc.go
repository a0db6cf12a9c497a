// Package client is a userspace FUSE client: it plays the part the Linux
// kernel plays on /dev/fuse, so that a FUSE server can be driven, tested
// and recorded without a mount and without root.
//
// A [Conn] runs the INIT handshake over a [transport.Conn] (usually a
// SOCK_SEQPACKET socketpair whose other end a server received through
// package launch), multiplexes requests from many goroutines, validates
// every reply the way the kernel's fs/fuse/dev.c does, and offers a typed
// call per opcode on top of a raw [Conn.Do]. [FS] is a path-level view with
// the kernel's entry and attribute caching, implementing io/fs.FS.
//
// Every call takes a context. Cancelling it sends FUSE_INTERRUPT and fails
// the call at once with the context's error; a late reply is dropped. A
// server that goes away fails every pending and later call with ENOTCONN.
//
// The package prints nothing: diagnostics go to Options.Logf.
package client
