// Package procfs reads what /proc says about the machine's processes: which
// processes there are, and what their descriptors refer to. Processes this
// one may not inspect, and those that exit while being read, are skipped.
package procfs

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Pids returns the pids in /proc in ascending order.
func Pids() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	// ReadDir sorts by name, which puts 100 before 99.
	slices.Sort(pids)
	return pids
}

// Descriptors calls fn for each open descriptor of process pid with what
// its /proc link names ("/dev/fuse", "socket:[1234]"), until fn returns
// false.
func Descriptors(pid int, fn func(fd int, target string) bool) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(dir + e.Name()); err == nil && !fn(fd, l) {
			return
		}
	}
}

// FDInfo returns the fields of /proc/PID/fdinfo/FD ("pos", "flags", and
// what the file's kind adds, such as "fuse_connection" for /dev/fuse on
// kernels that show it), or nil if it cannot be read.
func FDInfo(pid, fd int) map[string]string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return nil
	}
	return ParseFDInfo(b)
}

// ParseFDInfo parses fdinfo text: one "name:<tabs or spaces>value" per
// line. Lines without a colon (an epoll descriptor's "tfd: ..." lists
// have one, and repeat) are skipped; a repeated name keeps its first value.
func ParseFDInfo(b []byte) map[string]string {
	m := map[string]string{}
	for line := range bytes.Lines(b) {
		name, value, ok := strings.Cut(strings.TrimRight(string(line), "\n"), ":")
		if !ok || name == "" {
			continue
		}
		if _, seen := m[name]; !seen {
			m[name] = strings.TrimSpace(value)
		}
	}
	return m
}

// Cmdline returns process pid's command line, or nil if it cannot be read
// or is empty (a kernel thread, a zombie).
func Cmdline(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// StatFields returns the fields of /proc/PID/stat after the command name,
// which may itself hold spaces and parentheses: element 0 is the state
// (field 3 in proc(5)), element 3 the session, 11 and 12 utime and stime.
// It returns nil if the file cannot be read or parsed.
func StatFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// State returns process pid's state letter (R, S, D, T, Z...), or "" if
// the process is gone.
func State(pid int) string {
	if f := StatFields(pid); len(f) > 0 {
		return f[0]
	}
	return ""
}
