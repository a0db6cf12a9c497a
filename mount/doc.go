// Package mount is fusectl's interposing mount: it mounts a FUSE file system
// with fusectl between the kernel and the server.
//
// The kernel talks to the interposer over /dev/fuse; the interposer talks to
// the FUSE server over an AF_UNIX SOCK_SEQPACKET socketpair (started with
// client/launch). Every message is forwarded unchanged in both directions,
// except the INIT reply, which is adjusted only where the interposer cannot
// carry a feature (passthrough backing files, io_uring, READ replies larger
// than a spliced datagram sequence can carry safely).
//
// Each message is timestamped and published on an event feed. Subscribers
// (a capture file, control-socket clients, statistics) each have a bounded
// queue; a subscriber that falls behind loses events, which are counted and
// reported, and never slows forwarding down.
//
// Each mount serves a control socket (0600, under $XDG_RUNTIME_DIR/fusectl,
// else /run/fusectl for root or $TMPDIR/fusectl-UID for a user) with a status query and the live record feed. A feed that
// attaches mid-session first gets synthesized records (the INIT pair and one
// LOOKUP pair per node the kernel knows) so that it decodes as well as a
// capture taken from the start. The interposer keeps only the state needed
// for that: it decodes headers, INIT, and the entry-creating replies.
//
// Teardown (Close, the server exiting, or a fatal error) takes what the
// kernel has queued, unmounts (lazily if busy, then aborting the connection
// so nothing stays stuck), lets a live server answer what it holds, answers
// with ENOTCONN the requests no server can answer any more, stops the
// server, closes the feed and removes the control socket.
package mount
