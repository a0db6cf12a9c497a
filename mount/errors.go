package mount

import "errors"

var (
	// ErrServerExited means the FUSE server went away while mounted.
	ErrServerExited = errors.New("server exited")
	// ErrUnmounted means the kernel ended the connection: the file system
	// was unmounted or the connection aborted from outside.
	ErrUnmounted = errors.New("unmounted")
	// ErrNoMount means no fusectl mount matches.
	ErrNoMount = errors.New("no fusectl mount found")
	// ErrAmbiguous means several fusectl mounts match and one must be named.
	ErrAmbiguous = errors.New("several fusectl mounts running")
	// ErrNotFUSE means the path is not a FUSE mount.
	ErrNotFUSE = errors.New("not a FUSE mount")
	// ErrCovered means another mount is on top of a FUSE mount, so that
	// unmounting the path would take that one: the FUSE mount is left
	// mounted (its connection aborted).
	ErrCovered = errors.New("covered by another mount")
	// ErrNotAborted means Abort unmounted the mount lazily but could not
	// abort its connection (the control file system needs root): what
	// waits on it waits for its server.
	ErrNotAborted = errors.New("connection not aborted")
)
