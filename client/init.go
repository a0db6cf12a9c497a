package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/client/transport"
)

// InitInfo is what the INIT handshake negotiated, after the kernel's
// clamping (fs/fuse/inode.c, process_init_reply).
type InitInfo struct {
	// Major and Minor are the negotiated protocol version: the server's
	// minor, capped at the one offered.
	Major, Minor uint32
	// ServerMinor is the minor the server replied with.
	ServerMinor uint32
	// Offered are the flags the client offered.
	Offered abi.InitFlags
	// ServerFlags are the flags as the server sent them (flags2 counted only
	// with FUSE_INIT_EXT), including bits never offered.
	ServerFlags abi.InitFlags
	// Flags are the negotiated flags: ServerFlags masked with Offered.
	Flags abi.InitFlags
	// MaxReadahead is the server's value capped at the one offered.
	MaxReadahead uint32
	// MaxWrite is the largest WRITE payload (at least 4096).
	MaxWrite uint32
	// MaxPages is the largest request in pages: the server's (1..256) with
	// FUSE_MAX_PAGES, else 32.
	MaxPages uint16
	// TimeGran is the timestamp granularity in ns (0 if not given).
	TimeGran uint32
	// MaxBackground and CongestionThreshold are the server's (since 7.13),
	// or the kernel's defaults 12 and 9.
	MaxBackground, CongestionThreshold uint16
	// MapAlignment, MaxStackDepth and RequestTimeout are passed through.
	MapAlignment   uint16
	MaxStackDepth  uint32
	RequestTimeout uint16
	// ReplySize is the size of the INIT reply body (8, 24 or 64 in
	// practice).
	ReplySize int
	// Reply is the INIT reply as received (fields past ReplySize zero).
	Reply abi.InitOut
}

// Has reports whether flag f was negotiated.
func (i *InitInfo) Has(f abi.InitFlags) bool { return i.Flags&f == f }

// Init returns what the INIT handshake negotiated.
func (c *Conn) Init() InitInfo { return c.init }

// Dial runs the INIT handshake over t and returns the connection. On error
// t is closed. The connection owns t from then on: Close closes it.
func Dial(ctx context.Context, t transport.Conn, opts Options) (*Conn, error) {
	c := newConn(t, opts)
	if err := c.handshake(ctx); err != nil {
		c.opts.DestroyTimeout = -1
		c.Close()
		return nil, fmt.Errorf("init: %w", err)
	}
	n := opts.MaxInflight
	if n <= 0 {
		n = int(c.init.MaxBackground)
	}
	c.sem = make(chan struct{}, n)
	return c, nil
}

func (c *Conn) offer() (minor uint32, flags abi.InitFlags, readahead uint32) {
	minor = c.opts.Minor
	if minor == 0 {
		minor = abi.FUSE_KERNEL_MINOR_VERSION
	}
	flags = c.opts.Flags
	if flags == 0 {
		flags = abi.DefaultInitFlags
	}
	if c.opts.NoFlags {
		flags = 0
	}
	if minor < 36 {
		// flags2 and FUSE_INIT_EXT exist since 7.36.
		flags &= 1<<31 - 1
		flags &^= abi.FUSE_INIT_EXT
	}
	readahead = c.opts.MaxReadahead
	if readahead == 0 {
		readahead = DefaultMaxReadahead
	}
	return minor, flags, readahead
}

func (c *Conn) handshake(ctx context.Context) error {
	minor, flags, readahead := c.offer()
	in := abi.InitIn{Major: abi.FUSE_KERNEL_VERSION, Minor: minor, MaxReadahead: readahead}
	in.SetInitFlags(flags)
	size := in.SizeBytes()
	if minor < 36 {
		// The 64-byte fuse_init_in exists since 7.36.
		size = abi.FUSE_COMPAT_INIT_IN_SIZE
	}
	body := in.AppendPrefix(nil, size, c.order)
	// Until INIT completes the minor is unknown; fixed-size checks do not
	// apply to INIT (variable reply, at most 64 bytes).
	msg, err := c.roundTrip(ctx, &Request{Op: abi.FUSE_INIT, Body: [][]byte{body}}, 0, (&abi.InitOut{}).SizeBytes(), false)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Err == nil {
			return fmt.Errorf("%w: server replied %s", ErrInitRefused, abi.Errno(e.Errno))
		}
		return err
	}
	reply := msg[abi.OutHeaderSize:]
	if len(reply) < abi.FUSE_COMPAT_INIT_OUT_SIZE {
		return fmt.Errorf("%w: reply of %d bytes", ErrInitRefused, len(reply))
	}
	var out abi.InitOut
	if _, err := out.UnmarshalPrefix(reply, len(reply), c.order); err != nil {
		return fmt.Errorf("decode reply: %w", err)
	}
	if out.Major != abi.FUSE_KERNEL_VERSION {
		return fmt.Errorf("%w: server speaks %d.%d", ErrInitRefused, out.Major, out.Minor)
	}
	c.init = negotiate(minor, flags, readahead, &out, len(reply))
	return nil
}

// negotiate applies the kernel's rules to an INIT reply.
func negotiate(minor uint32, offered abi.InitFlags, readahead uint32, out *abi.InitOut, size int) InitInfo {
	i := InitInfo{
		Major:               out.Major,
		Minor:               min(out.Minor, minor),
		ServerMinor:         out.Minor,
		Offered:             offered,
		MaxPages:            32,
		MaxBackground:       DefaultMaxBackground,
		CongestionThreshold: DefaultMaxBackground * 3 / 4,
		ReplySize:           size,
		Reply:               *out,
	}
	if i.Minor >= 6 {
		i.ServerFlags = abi.InitFlags(out.Flags)
		if i.ServerFlags&abi.FUSE_INIT_EXT != 0 {
			i.ServerFlags |= abi.InitFlags(out.Flags2) << 32
		}
		// go-fuse sets FUSE_INIT_EXT unasked: only what was offered counts.
		i.Flags = i.ServerFlags & offered
		i.MaxReadahead = min(out.MaxReadahead, readahead) // jacobsa replies more
	}
	i.MaxWrite = 4096
	if i.Minor >= 5 {
		i.MaxWrite = max(out.MaxWrite, 4096)
	}
	if i.Minor >= 13 {
		if out.MaxBackground > 0 {
			i.MaxBackground = out.MaxBackground
		}
		if out.CongestionThreshold > 0 {
			i.CongestionThreshold = out.CongestionThreshold
		}
	}
	if i.Minor >= 23 && out.TimeGran >= 1 && out.TimeGran <= 1e9 {
		i.TimeGran = out.TimeGran
	}
	if i.Flags&abi.FUSE_MAX_PAGES != 0 && size >= 30 {
		// The kernel would take a reply too short to hold max_pages
		// as max_pages 1; such a reply comes from a server older
		// than the flag, so the flag is ignored instead.
		i.MaxPages = min(256, max(1, out.MaxPages))
	}
	i.MapAlignment = out.MapAlignment
	i.MaxStackDepth = out.MaxStackDepth
	i.RequestTimeout = out.RequestTimeout
	return i
}

// maxRead is the largest READ (or READDIR) size per request: max_pages,
// and at most 14 pages unless the server is known not to splice.
func (c *Conn) maxRead() int {
	pages := int(c.init.MaxPages)
	if !c.opts.NoSplice {
		pages = min(pages, spliceSafePages)
	}
	return max(pages, 1) * pageSize
}

// maxWrite is the largest WRITE payload per request: max_write, max_pages
// (as the kernel's fuse_max_write) and what the transport carries.
func (c *Conn) maxWrite() int {
	n := min(int(c.init.MaxWrite), int(c.init.MaxPages)*pageSize)
	n = min(n, c.maxMsg-abi.InHeaderSize-(&abi.WriteIn{}).SizeBytes())
	return max(n, 4096)
}
