package mount

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusectl/fusectl/capture"
)

// Event is one FUSE message as the interposer saw it.
type Event struct {
	// Time is when the interposer received the message.
	Time time.Time
	// Dir is the direction: request, reply or notification.
	Dir capture.Dir
	// Flags mark synthesized, truncated or injected messages.
	Flags capture.Flags
	// OrigLen is the length of the whole message; Msg may be shorter when
	// the subscriber asked for a snap length.
	OrigLen int
	// Msg is the message, a private copy owned by the subscriber until it
	// calls Release.
	Msg []byte
	// Process is, for a request, the process (thread group) of the thread
	// that made it, looked up while the thread waited for its reply, when
	// a subscriber asked (SubscribeOptions.Processes); else 0. The
	// kernel's header carries the thread's own ID.
	Process uint32
	// Lost is how many events this subscriber lost (its queue was full)
	// since the event before this one: a recorder writes it into the
	// capture where the gap is.
	Lost uint64

	buf    []byte // Msg's backing array, kept across reuse
	pooled bool   // from newEvent and not yet released
}

// Default queue bounds of a subscriber.
const (
	DefaultQueueLen   = 8192
	DefaultQueueBytes = 64 << 20
)

// SubscribeOptions configure a feed subscriber.
type SubscribeOptions struct {
	// QueueLen bounds the number of queued events (DefaultQueueLen if 0).
	QueueLen int
	// QueueBytes bounds the bytes of queued messages (DefaultQueueBytes if
	// 0). An event that would exceed either bound is dropped and counted.
	QueueBytes int
	// SnapLen cuts every message copied to this subscriber at SnapLen bytes
	// and sets capture.FlagTruncated (0: whole messages).
	SnapLen int
	// Synthesize queues, before any live event, the INIT pair and one
	// LOOKUP pair per known node, flagged capture.FlagSynthesized, so that a
	// feed attached mid-session decodes paths and the protocol version.
	Synthesize bool
	// Processes fills Event.Process of requests (for a filter by process:
	// a multi-threaded process's requests carry its threads' IDs).
	Processes bool
}

// Subscriber receives events from the feed through a bounded queue.
type Subscriber struct {
	feed       *feed
	ch         chan *Event
	prelude    []*Event
	snapLen    int
	processes  bool
	maxBytes   int64
	queued     atomic.Int64 // bytes in ch
	dropped    atomic.Uint64
	gap        atomic.Uint64 // dropped since the last queued event
	closeOnce  sync.Once
	done       chan struct{} // closed by Close
	closedFeed atomic.Bool   // ch closed by feed.close

	// A reader that finds the queue empty sleeps on a timer instead of on
	// the channel, so that publishing does not wake it for every message:
	// on a ping-pong workload that wake-up (another thread, often another
	// processor) cost the forwarding path a fifth of its speed. A backlog
	// of kickAt events or kickBytes bytes, or the feed's end, wakes it
	// early.
	sleeping atomic.Bool
	kick     chan struct{}
	kickAt   int
	// kickBytes is an eighth of the byte bound, at most maxKickBytes, so
	// that what is in flight between wake-ups fits the large-event free
	// lists and is reused rather than allocated.
	kickBytes int64
	wait      time.Duration
	timer     *time.Timer
}

// Bounds of a subscriber's sleep on an empty queue: it starts short, so a
// live trace stays live, and doubles while the feed is quiet.
const (
	minFeedWait = 5 * time.Millisecond
	maxFeedWait = 80 * time.Millisecond
)

// Next returns the next event, blocking until there is one. ok is false once
// the feed has ended (the mount is gone) or the subscriber was closed and
// its queue drained. The caller must Release the event when done.
func (s *Subscriber) Next() (ev *Event, ok bool) {
	if len(s.prelude) > 0 {
		select {
		case <-s.done:
			// A reader that stops inside a long prelude (Ctrl-C of
			// a capture) is not kept waiting for the rest of it.
			s.prelude = nil
			return nil, false
		default:
		}
		ev, s.prelude = s.prelude[0], s.prelude[1:]
		return ev, true
	}
	for {
		// The queue first: a closed subscriber still gets what was
		// queued before it closed (a select would pick at random).
		select {
		case ev, ok = <-s.ch:
			if ok {
				s.queued.Add(-int64(len(ev.Msg)))
				s.wait = minFeedWait
			}
			return ev, ok
		default:
		}
		select {
		case <-s.done:
			if len(s.ch) > 0 {
				continue // queued by a publish that raced with Close
			}
			return nil, false
		default:
		}
		s.sleep()
	}
}

// sleep waits until the timer fires, a backlog builds, the feed ends or
// the subscriber is closed.
func (s *Subscriber) sleep() {
	if s.timer == nil {
		s.timer = time.NewTimer(s.wait)
	} else {
		s.timer.Reset(s.wait)
	}
	s.sleeping.Store(true)
	// A publish between the empty check and the flag finds no sleeper and
	// does not kick: that costs at most one timer period.
	select {
	case <-s.timer.C:
		s.wait = min(2*s.wait, maxFeedWait)
	case <-s.kick:
		s.timer.Stop()
	case <-s.done:
		s.timer.Stop()
	}
	s.sleeping.Store(false)
}

// wake ends a sleep early.
func (s *Subscriber) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// drop counts an event the subscriber lost, and the gap before it that it
// carried (Event.Lost) back into the next.
func (s *Subscriber) drop(carried uint64) {
	s.dropped.Add(1)
	s.gap.Add(carried + 1)
}

// Release returns ev's buffer for reuse. ev must not be used afterwards.
func (s *Subscriber) Release(ev *Event) { releaseEvent(ev) }

// Dropped returns how many events this subscriber lost because its queue
// was full.
func (s *Subscriber) Dropped() uint64 { return s.dropped.Load() }

// Close detaches the subscriber from the feed; a blocked Next returns.
func (s *Subscriber) Close() {
	s.closeOnce.Do(func() {
		s.feed.remove(s)
		close(s.done)
	})
}

// feed fans events out to subscribers without ever blocking the publisher.
type feed struct {
	mu     sync.Mutex
	subs   atomic.Pointer[[]*Subscriber] // copy-on-write: publishers read without the lock
	closed bool
	// dropped accumulates drops of subscribers that have gone, so the
	// total is never lost.
	dropped atomic.Uint64
}

func (f *feed) subscribers() []*Subscriber {
	if p := f.subs.Load(); p != nil {
		return *p
	}
	return nil
}

// active reports whether anyone listens; publishers skip work otherwise.
func (f *feed) active() bool { return len(f.subscribers()) > 0 }

// wantsProcesses reports whether a subscriber asked for Event.Process.
func (f *feed) wantsProcesses() bool {
	for _, s := range f.subscribers() {
		if s.processes {
			return true
		}
	}
	return false
}

func (f *feed) add(opts SubscribeOptions, prelude []*Event) *Subscriber {
	if opts.QueueLen <= 0 {
		opts.QueueLen = DefaultQueueLen
	}
	if opts.QueueBytes <= 0 {
		opts.QueueBytes = DefaultQueueBytes
	}
	s := &Subscriber{
		feed:      f,
		ch:        make(chan *Event, opts.QueueLen),
		prelude:   prelude,
		snapLen:   opts.SnapLen,
		processes: opts.Processes,
		maxBytes:  int64(opts.QueueBytes),
		done:      make(chan struct{}),
		kick:      make(chan struct{}, 1),
		kickAt:    max(1, opts.QueueLen/8),
		kickBytes: min(int64(opts.QueueBytes)/8, maxKickBytes),
		wait:      minFeedWait,
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		s.closedFeed.Store(true)
		close(s.ch)
		return s
	}
	old := f.subscribers()
	subs := make([]*Subscriber, 0, len(old)+1)
	subs = append(append(subs, old...), s)
	f.subs.Store(&subs)
	return s
}

func (f *feed) remove(s *Subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.subscribers()
	subs := make([]*Subscriber, 0, len(old))
	found := false
	for _, o := range old {
		if o == s {
			found = true
			continue
		}
		subs = append(subs, o)
	}
	if !found {
		return
	}
	f.subs.Store(&subs)
	f.dropped.Add(s.dropped.Load())
}

// close ends the feed: every subscriber's channel is closed after what is
// queued. It must only be called once no publish can run any more.
func (f *feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	for _, s := range f.subscribers() {
		if !s.closedFeed.Swap(true) {
			close(s.ch)
			s.wake()
		}
	}
	f.subs.Store(nil)
}

// totalDropped returns the drops of all subscribers, past and present.
func (f *feed) totalDropped() uint64 {
	n := f.dropped.Load()
	for _, s := range f.subscribers() {
		n += s.dropped.Load()
	}
	return n
}

// publish copies msg to every subscriber that has room. The caller must
// hold no lock that a subscriber could need: publish never blocks, but it
// runs on the forwarding path. Publishing and closing are serialized by the
// caller (the interposer closes the feed only after its forwarders ended).
func (f *feed) publish(t time.Time, dir capture.Dir, flags capture.Flags, msg []byte, proc uint32) {
	f.publishLen(t, dir, flags, msg, len(msg), proc)
}

// publishCut publishes the first bytes of a message of origLen bytes, the
// rest of which is gone.
func (f *feed) publishCut(t time.Time, dir capture.Dir, msg []byte, origLen int) {
	var fl capture.Flags
	if origLen > len(msg) {
		fl = capture.FlagTruncated
	}
	f.publishLen(t, dir, fl, msg, origLen, 0)
}

func (f *feed) publishLen(t time.Time, dir capture.Dir, flags capture.Flags, msg []byte, origLen int, proc uint32) {
	for _, s := range f.subscribers() {
		n := len(msg)
		fl := flags
		if s.snapLen > 0 && n > s.snapLen {
			n = s.snapLen
			fl |= capture.FlagTruncated
		}
		if len(s.ch) == cap(s.ch) || s.queued.Load()+int64(n) > s.maxBytes {
			s.drop(0)
			continue
		}
		ev := newEvent(n)
		copy(ev.Msg, msg)
		ev.Time, ev.Dir, ev.Flags, ev.OrigLen = t, dir, fl, origLen
		if s.processes {
			ev.Process = proc
		}
		// Concurrent publishers (the two directions) may attach a gap to
		// a neighbour of where it was: the count stays exact.
		ev.Lost = s.gap.Swap(0)
		s.queued.Add(int64(n))
		select {
		case s.ch <- ev:
			if s.sleeping.Load() && (len(s.ch) >= s.kickAt || s.queued.Load() >= s.kickBytes) {
				s.wake()
			}
		default:
			s.queued.Add(-int64(n))
			s.drop(ev.Lost)
			releaseEvent(ev)
		}
	}
}

// Events come from pools, each event with its buffer: small messages
// (headers, metadata) from a sync.Pool, large ones (READ and WRITE data)
// from free lists by power-of-two size class, so a stream of small events
// does not pin megabyte buffers. The large free lists are bounded channels,
// not sync.Pools: a capture of a fast sequential read keeps megabytes of
// events queued between the reader's wake-ups, and a sync.Pool, emptied at
// every collection, made most of them fresh zeroed allocations whose rate
// in turn set off the collections.
const (
	smallEvent = 4096
	// minLargeClass is the smallest large class (8 KiB buffers).
	minLargeClass = 13
	// largeClasses reach 1<<(minLargeClass+largeClasses-1) = 4 MiB, above
	// any FUSE message (max_write is at most 1 MiB plus headers).
	largeClasses = 10
	// freeListBytes bounds what one class's free list keeps.
	freeListBytes = 16 << 20
	// maxKickBytes is the most a sleeping reader leaves queued: half a
	// free list, so that a burst of one class is reused whole.
	maxKickBytes = freeListBytes / 2
)

var (
	smallPool = sync.Pool{New: func() any { return &Event{buf: make([]byte, smallEvent)} }}
	largeFree [largeClasses]chan *Event
)

func init() {
	for i := range largeFree {
		largeFree[i] = make(chan *Event, max(2, freeListBytes>>(minLargeClass+i)))
	}
}

// largeClass returns the index of the smallest class holding n bytes, or -1
// if none does.
func largeClass(n int) int {
	c := max(bits.Len(uint(n-1)), minLargeClass) - minLargeClass
	if c >= largeClasses {
		return -1
	}
	return c
}

func newEvent(n int) *Event {
	var ev *Event
	if n <= smallEvent {
		ev = smallPool.Get().(*Event)
	} else if c := largeClass(n); c < 0 {
		ev = &Event{buf: make([]byte, n)}
	} else {
		select {
		case ev = <-largeFree[c]:
		default:
			ev = &Event{buf: make([]byte, 1<<(minLargeClass+c))}
		}
	}
	ev.pooled = true
	ev.Msg = ev.buf[:n]
	return ev
}

func releaseEvent(ev *Event) {
	if ev == nil || !ev.pooled {
		return
	}
	*ev = Event{buf: ev.buf}
	n := cap(ev.buf)
	if n <= smallEvent {
		smallPool.Put(ev)
		return
	}
	// An outsize buffer (no class) is left to the collector.
	if c := largeClass(n); c >= 0 {
		select {
		case largeFree[c] <- ev:
		default:
		}
	}
}

// queueEmpty reports whether nothing is queued right now.
func (s *Subscriber) queueEmpty() bool { return len(s.prelude) == 0 && len(s.ch) == 0 }
