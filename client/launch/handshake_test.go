package launch

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/client/transport"
)

var ne = abi.NativeEndian

// request encodes a request as the kernel would send it.
func request(op abi.Opcode, unique, node uint64, body []byte) []byte {
	h := abi.InHeader{Len: uint32(abi.InHeaderSize + len(body)), Opcode: op, Unique: unique, NodeID: node, PID: uint32(os.Getpid())}
	return append(h.Append(nil, ne), body...)
}

// roundTrip sends req and returns the reply to unique, skipping
// notifications (unique 0).
func roundTrip(t *testing.T, c *transport.SeqPacket, unique uint64, req []byte) (abi.OutHeader, []byte) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMsg(req); err != nil {
		t.Fatalf("send request %d: %v", unique, err)
	}
	for {
		msg, err := c.ReadMsg(nil)
		if err != nil {
			t.Fatalf("read reply %d: %v", unique, err)
		}
		var oh abi.OutHeader
		body, err := oh.Unmarshal(msg, ne)
		if err != nil {
			t.Fatalf("reply header: %v", err)
		}
		if oh.Unique == 0 {
			continue
		}
		if oh.Unique != unique {
			t.Fatalf("reply to unique %d, want %d", oh.Unique, unique)
		}
		return oh, body
	}
}

// handshake runs INIT as Linux 6.18 offers it (7.45, 64-byte init_in,
// DefaultInitFlags) and GETATTR of the root, and checks that the root is a
// directory. It returns the server's minor.
func handshake(t *testing.T, c *transport.SeqPacket) uint32 {
	t.Helper()
	in := abi.InitIn{Major: 7, Minor: abi.FUSE_KERNEL_MINOR_VERSION, MaxReadahead: 128 << 10}
	in.SetInitFlags(abi.DefaultInitFlags)
	oh, body := roundTrip(t, c, 2, request(abi.FUSE_INIT, 2, 0, in.Append(nil, ne)))
	if oh.Error != 0 {
		t.Fatalf("INIT failed: errno %d", -oh.Error)
	}
	var out abi.InitOut
	if _, err := out.UnmarshalPrefix(body, min(len(body), abi.InitOutSize(abi.FUSE_KERNEL_MINOR_VERSION)), ne); err != nil {
		t.Fatalf("INIT reply: %v", err)
	}
	if out.Major != 7 || out.Minor < 12 {
		t.Fatalf("INIT reply: version %d.%d", out.Major, out.Minor)
	}
	var gin abi.GetattrIn
	oh, body = roundTrip(t, c, 4, request(abi.FUSE_GETATTR, 4, abi.FUSE_ROOT_ID, gin.Append(nil, ne)))
	if oh.Error != 0 {
		t.Fatalf("GETATTR(1) failed: errno %d", -oh.Error)
	}
	var ao abi.AttrOut
	if _, err := ao.UnmarshalPrefix(body, min(len(body), abi.AttrOutSize(abi.FUSE_KERNEL_MINOR_VERSION)), ne); err != nil || len(body) < abi.FUSE_COMPAT_ATTR_OUT_SIZE {
		t.Fatalf("GETATTR reply of %d bytes: %v", len(body), err)
	}
	if ao.Attr.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		t.Fatalf("root mode %o is not a directory", ao.Attr.Mode)
	}
	return out.Minor
}

// fakeServer is what the test binary does as a server that mounts through
// mount, fakeMount (fusermount on PATH, the way bazil.org/fuse does) or
// fakeSelfMount (open /dev/fuse and mount(2), as ntfs-3g does), and
// answers INIT and GETATTR of a root directory until end of stream.
func fakeServer(mount func(string) (int, error), mnt string) int {
	fd, err := mount(mnt)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake server:", err)
		return 1
	}
	f := os.NewFile(uintptr(fd), "fuse")
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		if err != nil || n == 0 {
			fmt.Fprintln(os.Stderr, "fake server: end of stream")
			return 0
		}
		var h abi.InHeader
		body, err := h.Unmarshal(buf[:n], ne)
		if err != nil {
			return 2
		}
		var reply []byte
		switch h.Opcode {
		case abi.FUSE_INIT:
			var in abi.InitIn
			in.UnmarshalPrefix(body, min(len(body), abi.InitInSize(abi.FUSE_KERNEL_MINOR_VERSION)), ne)
			out := abi.InitOut{Major: 7, Minor: 31, MaxWrite: 128 << 10, MaxReadahead: in.MaxReadahead}
			reply = out.Append(nil, ne)
		case abi.FUSE_GETATTR:
			out := abi.AttrOut{AttrValid: 1}
			out.Attr.Ino, out.Attr.Mode, out.Attr.Nlink = 1, syscall.S_IFDIR|0o755, 2
			reply = out.Append(nil, ne)
		}
		oh := abi.OutHeader{Len: uint32(abi.OutHeaderSize + len(reply)), Unique: h.Unique}
		if reply == nil {
			oh.Len, oh.Error = abi.OutHeaderSize, -int32(syscall.ENOSYS)
		}
		if _, err := f.Write(append(oh.Append(nil, ne), reply...)); err != nil {
			return 3
		}
	}
}
