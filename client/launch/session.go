package launch

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// sessionProcs lists the live (not zombie) processes of session sid, read
// from /proc.
func sessionProcs(sid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	want := strconv.Itoa(sid)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// After the parenthesised command: state ppid pgrp session.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 3 && f[3] == want && f[0] != "Z" && f[0] != "X" {
			out = append(out, pid)
		}
	}
	return out
}

// killSession SIGKILLs every live process of session sid and waits, up to
// timeout, until each has died. Processes that left the session (daemons
// calling setsid) are not found; Stop finds a daemonized server by its
// socket.
func killSession(sid int, timeout time.Duration) []int {
	procs := sessionProcs(sid)
	deadline := time.Now().Add(timeout)
	var left []int
	for _, pid := range procs {
		// A pidfd pins the process we saw, so the kill cannot hit a
		// reused pid, and polls readable when it has exited.
		pfd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // already gone
		}
		unix.PidfdSendSignal(pfd, unix.SIGKILL, nil, 0)
		if !pollExit(context.Background(), pfd, time.Until(deadline)) {
			left = append(left, pid)
		}
		unix.Close(pfd)
	}
	return left
}

// pollExit waits up to timeout, or until ctx ends, for the process of
// pidfd pfd to exit.
func pollExit(ctx context.Context, pfd int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	fds := []unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}
	for ctx.Err() == nil {
		// Slices of at most 100 ms, so that ctx is seen.
		ms := min(time.Until(deadline), 100*time.Millisecond).Milliseconds()
		n, err := unix.Poll(fds, int(max(ms, 0)))
		if n > 0 {
			return true
		}
		if err != nil && err != unix.EINTR || time.Now().After(deadline) {
			return false
		}
	}
	return false
}

// socketInode returns the inode of a socket, by which /proc names it in a
// process's descriptors ("socket:[INODE]"); 0 if it cannot.
func socketInode(f *os.File) uint64 {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	var st unix.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil || serr != nil {
		return 0
	}
	return st.Ino
}

// socketHolder returns the lowest pid, other than ours, of a process with
// a descriptor on socket inode ino, or 0.
func socketHolder(ino uint64) int {
	ents, _ := os.ReadDir("/proc")
	self, best := os.Getpid(), 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || best != 0 && pid > best {
			continue
		}
		if holdsSocket(pid, ino) {
			best = pid
		}
	}
	return best
}

// holdsSocket reports whether process pid has a descriptor on socket
// inode ino.
func holdsSocket(pid int, ino uint64) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	want := "socket:[" + strconv.FormatUint(ino, 10) + "]"
	for _, e := range ents {
		if l, err := os.Readlink(dir + "/" + e.Name()); err == nil && l == want {
			return true
		}
	}
	return false
}
