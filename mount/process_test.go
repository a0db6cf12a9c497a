package mount

import (
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/capture"
)

func TestProcessOf(t *testing.T) {
	// A thread other than the main one has an ID of its own.
	tids := make(chan int)
	go func() {
		runtime.LockOSThread()
		tids <- unix.Gettid()
		<-tids // keep the thread until checked
	}()
	tid := <-tids
	defer func() { tids <- 0 }()
	if got := ProcessOf(uint32(tid)); got != uint32(os.Getpid()) {
		t.Errorf("ProcessOf(thread %d) = %d, want %d", tid, got, os.Getpid())
	}
	if got := ProcessOf(1 << 30); got != 0 { // above any pid_max
		t.Errorf("ProcessOf of no thread = %d, want 0", got)
	}
}

func TestProcessCache(t *testing.T) {
	calls := 0
	procs := newProcessCache(func(tid uint32) uint32 { calls++; return tid + 1 })
	for range 3 {
		if got := procs(7); got != 8 {
			t.Fatalf("cached lookup = %d, want 8", got)
		}
	}
	if calls != 1 {
		t.Errorf("%d lookups of one thread, want 1", calls)
	}
	// A thread ID is reused once its thread exits: the cache forgets.
	time.Sleep(processCacheTTL + 10*time.Millisecond)
	procs(7)
	if calls != 2 {
		t.Errorf("%d lookups after the TTL, want 2", calls)
	}
}

// Only a subscriber that asked gets the process of a request.
func TestFeedProcesses(t *testing.T) {
	var f feed
	plain := f.add(SubscribeOptions{}, nil)
	if f.wantsProcesses() {
		t.Fatal("feed wants processes without a subscriber asking")
	}
	asks := f.add(SubscribeOptions{Processes: true}, nil)
	if !f.wantsProcesses() {
		t.Fatal("feed does not want processes")
	}
	f.publish(time.Now(), capture.DirRequest, 0, []byte("req"), 42)
	if ev, _ := asks.Next(); ev.Process != 42 {
		t.Errorf("asking subscriber got process %d, want 42", ev.Process)
	}
	if ev, _ := plain.Next(); ev.Process != 0 {
		t.Errorf("other subscriber got process %d, want 0", ev.Process)
	}
	asks.Close()
	if f.wantsProcesses() {
		t.Error("feed still wants processes after the subscriber left")
	}
}
