package demofs

import (
	"encoding/binary"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Setting the extended attribute NotifyXattr on a node makes demofs send
// the kernel a notification about it, so that a capture shows every kind
// the server can send and the kernel's answer to a retrieve:
//
//	inval_inode     NOTIFY_INVAL_INODE: drop the node's cached pages
//	store           NOTIFY_STORE: put the file's contents into the cache
//	retrieve        NOTIFY_RETRIEVE: ask for the cached contents; the
//	                kernel's NOTIFY_REPLY carries them, and their length is
//	                then readable as RetrievedXattr
//	inval_entry:N   NOTIFY_INVAL_ENTRY for the directory's entry N
//	delete:N        NOTIFY_DELETE for the directory's entry N
//
// The notification goes out after the SETXATTR reply (the kernel holds the
// node's lock during setxattr, which an invalidation may need), or a
// duration later given as a suffix: "inval_entry:x@100ms". A last suffix
// "*N" sends it N times in a row, as a busy server's threads might.
//
// Setting SleepXattr to a duration makes that SETXATTR take so long: a
// slow request, holding the node's lock in the kernel meanwhile.
// ReleaseSleepXattr, kept like any attribute, makes every RELEASE of the
// file wait that long before its reply: a request the kernel sends in the
// background, which nobody waits for, still with the server after the
// file is closed.
//
// Setting MalformedXattr makes demofs lie: before the SETXATTR reply it
// writes a 32-byte message whose header claims 1 GiB, which no kernel
// takes (EINVAL). Only on a /dev/fd/N mountpoint, where demofs knows its
// descriptor; elsewhere ENOTSUP.
const (
	NotifyXattr       = "user.demofs.notify"
	RetrievedXattr    = "user.demofs.retrieved"
	SleepXattr        = "user.demofs.sleep"
	ReleaseSleepXattr = "user.demofs.release-sleep"
	MalformedXattr    = "user.demofs.malformed"
)

// sendMalformed writes the message of MalformedXattr.
func (f *FS) sendMalformed() syscall.Errno {
	if f.devFD == 0 {
		return syscall.ENOTSUP
	}
	var msg [32]byte
	binary.NativeEndian.PutUint32(msg[0:], 1<<30)    // len
	binary.NativeEndian.PutUint64(msg[8:], 0xbad<<1) // an even unique nobody uses
	syscall.Write(f.devFD, msg[:])                   // a kernel refuses it: EINVAL
	return 0
}

// notify starts the notification that value asks for, if valid.
func (n *node) notify(value string) syscall.Errno {
	times := 1
	if v, count, ok := strings.Cut(value, "*"); ok {
		c, err := strconv.Atoi(count)
		if err != nil || c < 1 || c > 100000 {
			return syscall.EINVAL
		}
		value, times = v, c
	}
	value, after, delayed := strings.Cut(value, "@")
	var delay time.Duration
	if delayed {
		d, err := time.ParseDuration(after)
		if err != nil || d < 0 {
			return syscall.EINVAL
		}
		delay = d
	}
	cmd, name, _ := strings.Cut(value, ":")
	var send func()
	switch cmd {
	case "inval_inode":
		send = func() { n.NotifyContent(0, 0) }
	case "store":
		data := n.data.bytes()
		send = func() { n.WriteCache(0, data) }
	case "retrieve":
		buf := make([]byte, n.data.len())
		send = func() {
			got, errno := n.ReadCache(0, buf)
			v := strconv.Itoa(got)
			if errno != 0 {
				v = "error " + errno.Error()
			}
			n.fsys.mu.Lock()
			defer n.fsys.mu.Unlock()
			if n.xattrs == nil {
				n.xattrs = map[string][]byte{}
			}
			n.xattrs[RetrievedXattr] = []byte(v)
		}
	case "inval_entry", "delete":
		if !n.isDir() || name == "" {
			return syscall.EINVAL
		}
		if cmd == "inval_entry" {
			send = func() { n.NotifyEntry(name) }
		} else {
			child := n.GetChild(name)
			if child == nil {
				return syscall.ENOENT
			}
			send = func() { n.NotifyDelete(name, child) }
		}
	default:
		return syscall.EINVAL
	}
	go func() {
		time.Sleep(delay)
		for range times {
			send()
		}
	}()
	return 0
}

// sleep parses value as a duration and sleeps that long.
func sleep(value string) syscall.Errno {
	d, err := time.ParseDuration(value)
	if err != nil || d < 0 || d > time.Minute {
		return syscall.EINVAL
	}
	time.Sleep(d)
	return 0
}
