package mount

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcessOf returns the process (thread group) ID of the thread tid, from
// /proc/TID/status, or 0 if the thread is gone. The pid in a FUSE request
// header is the calling thread's ID, which is its process's only for the
// main thread.
func ProcessOf(tid uint32) uint32 {
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(tid), 10) + "/status")
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(b), "\nTgid:")
	if !ok {
		return 0
	}
	line, _, _ := strings.Cut(rest, "\n")
	n, err := strconv.ParseUint(strings.TrimSpace(line), 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}

// processCacheTTL bounds how long a thread's process is remembered: a
// thread ID is reused once its thread has exited, but not within a second.
const processCacheTTL = time.Second

// newProcessCache returns lookup behind a cache that one goroutine uses: a
// busy mount asks about the same few threads for every message.
func newProcessCache(lookup func(tid uint32) uint32) func(tid uint32) uint32 {
	cache := map[uint32]uint32{}
	var since time.Time
	return func(tid uint32) uint32 {
		if now := time.Now(); now.Sub(since) > processCacheTTL || len(cache) >= 4096 {
			clear(cache)
			since = now
		}
		if p, ok := cache[tid]; ok {
			return p
		}
		p := lookup(tid)
		cache[tid] = p
		return p
	}
}
