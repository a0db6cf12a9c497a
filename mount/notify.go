package mount

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusectl/fusectl/client/transport"
)

// notifier writes the server's notifications to the kernel, in order, on a
// device descriptor of its own, so that one waiting in the kernel does not
// hold up the replies behind it. An INVAL_ENTRY or DELETE waits for its
// directory's lock, which a request on that directory (a SETXATTR, say)
// keeps until its reply arrives: a direct mount's server sends the two
// from different threads, and a single forwarding goroutine would wait
// forever. Replies still follow the notifications the server sent before
// them, unless those wait in the kernel longer than notifyPatience.
type notifier struct {
	dev  *transport.DevFuse
	logf func(string, ...any)

	mu     sync.Mutex
	q      [][]byte // +checklocks:mu
	qBytes int      // bytes in q; +checklocks:mu
	closed bool     // +checklocks:mu

	wake     chan struct{} // cap 1: queued work or closed
	progress chan struct{} // cap 1: a notification was written
	done     atomic.Uint64 // notifications written
	stopped  chan struct{}

	// Used by the forwarding goroutine only.
	sent   uint64 // notifications queued
	waited uint64 // sent when a reply last waited
}

const (
	// notifyPatience is how long a reply waits for the notifications
	// before it to reach the kernel.
	notifyPatience = 10 * time.Millisecond
	// maxQueuedNotifyBytes bounds the notifications waiting to be
	// written; beyond it forwarding waits, as a server's thread would. It
	// is large: while one notification waits in the kernel for a lock
	// that a request keeps until its reply, the server's other threads
	// may send many more, and forwarding must reach that reply.
	maxQueuedNotifyBytes = 16 << 20
)

func newNotifier(dev *transport.DevFuse, logf func(string, ...any)) *notifier {
	n := &notifier{
		dev:      dev,
		logf:     logf,
		wake:     make(chan struct{}, 1),
		progress: make(chan struct{}, 1),
		stopped:  make(chan struct{}),
	}
	go n.run()
	return n
}

// send queues a copy of a notification.
func (n *notifier) send(msg []byte) {
	n.sent++
	c := bytes.Clone(msg)
	n.mu.Lock()
	for len(n.q) > 0 && n.qBytes+len(c) > maxQueuedNotifyBytes && !n.closed {
		n.mu.Unlock()
		<-n.progress
		n.mu.Lock()
	}
	n.q = append(n.q, c)
	n.qBytes += len(c)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// beforeReply waits, at most notifyPatience once per batch of
// notifications, until the notifications sent so far are written.
func (n *notifier) beforeReply() {
	target := n.sent
	if n.waited >= target || n.done.Load() >= target {
		return
	}
	n.waited = target
	t := time.NewTimer(notifyPatience)
	defer t.Stop()
	for n.done.Load() < target {
		select {
		case <-n.progress:
		case <-t.C:
			return
		}
	}
}

func (n *notifier) run() {
	defer close(n.stopped)
	for {
		n.mu.Lock()
		for len(n.q) == 0 && !n.closed {
			n.mu.Unlock()
			<-n.wake
			n.mu.Lock()
		}
		if len(n.q) == 0 {
			n.mu.Unlock()
			return
		}
		msg := n.q[0]
		n.q[0] = nil
		n.q = n.q[1:]
		n.qBytes -= len(msg)
		n.mu.Unlock()
		err := n.dev.WriteMsg(msg)
		switch {
		case err == nil, errors.Is(err, transport.ErrNoRequest):
			// ENOENT: the kernel did not know the node or entry.
		case errors.Is(err, transport.ErrPeerGone), errors.Is(err, os.ErrClosed):
		default:
			n.logf("write notification to kernel: %v", err)
		}
		n.done.Add(1)
		select {
		case n.progress <- struct{}{}:
		default:
		}
	}
}

// close stops the writer once the queue is empty. The mount closes the
// device first (closeDevice), so what is still queued then fails and is
// dropped, and a notification waiting in the kernel for a lock returns.
func (n *notifier) close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
	<-n.stopped
}
