// Command demofs serves an in-memory read-write file system over FUSE: the
// demo server of `make demo` and fusectl's go-fuse test server.
//
// Usage:
//
//	demofs [-seed DIR] [-debug] [-ttl DURATION] [-max-write N] MOUNTPOINT
//
// MOUNTPOINT is a directory, or /dev/fd/N to serve an inherited FUSE
// descriptor or socket (as fusectl's launcher passes it). -seed starts the
// file system as a copy of DIR. -ttl 0 disables kernel caching, so every
// operation reaches the server (for benchmarks).
package main
