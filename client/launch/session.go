package launch

import (
	"context"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/internal/procfs"
)

// sessionProcs lists the live (not zombie) processes of session sid, read
// from /proc.
func sessionProcs(sid int) []int {
	var out []int
	want := strconv.Itoa(sid)
	for _, pid := range procfs.Pids() {
		// State, ppid, pgrp, session.
		f := procfs.StatFields(pid)
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
		withPidfd(pid, func(pfd int) {
			unix.PidfdSendSignal(pfd, unix.SIGKILL, nil, 0)
			// The pidfd polls readable when the process has exited.
			if !pollExit(context.Background(), pfd, time.Until(deadline)) {
				left = append(left, pid)
			}
		})
	}
	return left
}

// signalPids sends sig to each of pids that still runs.
func signalPids(pids []int, sig unix.Signal) {
	for _, pid := range pids {
		withPidfd(pid, func(pfd int) { unix.PidfdSendSignal(pfd, sig, nil, 0) })
	}
}

// withPidfd calls fn with a pidfd of pid, if it still runs. A pidfd pins
// the process seen, so that a signal sent through it cannot hit a reused
// pid.
func withPidfd(pid int, fn func(pfd int)) {
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // gone
	}
	defer unix.Close(pfd)
	fn(pfd)
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
	self := os.Getpid()
	for _, pid := range procfs.Pids() {
		if pid != self && holdsSocket(pid, ino) {
			return pid
		}
	}
	return 0
}

// holdsSocket reports whether process pid has a descriptor on socket
// inode ino.
func holdsSocket(pid int, ino uint64) bool {
	want := "socket:[" + strconv.FormatUint(ino, 10) + "]"
	held := false
	procfs.Descriptors(pid, func(_ int, target string) bool {
		held = target == want
		return !held
	})
	return held
}
