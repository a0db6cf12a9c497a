package launch

import (
	"bytes"
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
// calling setsid) are not found; they exit on their own at end of stream.
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
		ms := int(time.Until(deadline).Milliseconds())
		fds := []unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, max(ms, 0))
			if err == unix.EINTR {
				continue
			}
			if n == 0 {
				left = append(left, pid)
			}
			break
		}
		unix.Close(pfd)
	}
	return left
}
