// Package demofs is an in-memory read-write FUSE file system built on
// go-fuse v2's fs package: regular files, directories, symlinks, device
// nodes and FIFOs, hard links, extended attributes, rename (with
// RENAME_NOREPLACE and RENAME_EXCHANGE), truncate, chmod/chown/utimens and
// statfs. It can start as a copy of a directory tree, and sends any
// notification on request (see NotifyXattr).
//
// It is fusectl's demo server (make demo) and its go-fuse test server: the
// cmd/demofs binary mounts it on a directory or, given /dev/fd/N as the
// mountpoint, serves it over an inherited FUSE descriptor or socket.
//
// All node data sits behind one mutex of the FS: the file system is small
// and the lock is held only for memory copies, so one lock keeps renames
// across directories simple and race-free. Lock order: FS.mu, then
// go-fuse's internal tree locks (taken by Inode methods such as
// GetChild and Children).
package demofs
