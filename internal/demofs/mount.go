package demofs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// MountConfig configures Mount.
type MountConfig struct {
	// TTL is how long the kernel may cache entries, attributes and
	// negative lookups. 0 disables caching, so that every operation
	// reaches the server (benchmarks of the protocol path).
	TTL time.Duration
	// Debug makes go-fuse log every request and reply to stderr.
	Debug bool
	// MaxWrite is the largest WRITE the server accepts; 0 keeps go-fuse's
	// default.
	MaxWrite int
}

// Mount serves f at mountpoint, which may be a directory (mounted with
// mount(2) or fusermount) or /dev/fd/N, an inherited FUSE descriptor or
// socket. The caller waits with Server.Wait and ends with Server.Unmount
// (which fails for /dev/fd/N: the peer ends the session by closing it).
func (f *FS) Mount(mountpoint string, c MountConfig) (*fuse.Server, error) {
	if n, ok := strings.CutPrefix(mountpoint, "/dev/fd/"); ok {
		if fd, err := strconv.Atoi(n); err == nil {
			f.devFD = fd
		}
	}
	ttl := c.TTL
	f.attrTTL = ttl
	srv, err := fs.Mount(mountpoint, f.Root(), &fs.Options{
		EntryTimeout:    &ttl,
		AttrTimeout:     &ttl,
		NegativeTimeout: &ttl,
		MountOptions: fuse.MountOptions{
			Debug:    c.Debug,
			FsName:   "demofs",
			Name:     "demofs",
			MaxWrite: c.MaxWrite,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("mount demofs: %w", err)
	}
	return srv, nil
}
