package decode

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
)

// Filter selects records. The zero value selects every record. Conditions
// combine with AND. Errors-only and minimum latency can only be decided on
// a reply, so with either set only replies (which carry the request's
// opcode, node, pid and name) are selected.
type Filter struct {
	// Ops selects opcodes and notify codes (see ParseOps), and the
	// INTERRUPTs of selected requests with their replies; nil selects
	// all.
	Ops *OpSet
	// ErrorsOnly selects replies with a non-zero error.
	ErrorsOnly bool
	// MalformedOnly selects records that break the protocol (a
	// Record's Malformed says how).
	MalformedOnly bool
	// MinLatency selects paired replies at least this slow; a synthesized
	// pair has no measured latency and never passes.
	MinLatency time.Duration
	// NodeID selects records about this node (the request's node, the
	// node an entry reply names, or an INTERRUPT's interrupted node);
	// HasNodeID enables it.
	NodeID    uint64
	HasNodeID bool
	// Path selects records whose path is known and starts with Path (at a
	// component boundary) or, if it has glob metacharacters, whose path or
	// one of its leading parts matches it (path.Match syntax). An
	// INTERRUPT's path is its interrupted request's.
	Path string
	// PID selects requests and replies of this process, and the
	// INTERRUPTs of its requests (whose own pid is 0) with their replies;
	// HasPID enables it.
	PID    uint32
	HasPID bool
}

// OpSet is a set of opcodes and notify codes.
type OpSet struct {
	ops      map[abi.Opcode]bool
	notifies map[abi.NotifyCode]bool
}

// ParseOps parses a comma-separated list of opcode or notify code names
// ("LOOKUP,READ", "FUSE_READ", "inval_inode", "NOTIFY_POLL") or numbers.
// Names are those of abi's String methods, case-insensitive, with or
// without the FUSE_ prefix.
func ParseOps(list string) (*OpSet, error) {
	s := &OpSet{ops: map[abi.Opcode]bool{}, notifies: map[abi.NotifyCode]bool{}}
	for _, name := range strings.Split(list, ",") {
		name = strings.ToUpper(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		name = strings.TrimPrefix(name, "FUSE_")
		if n, err := strconv.ParseUint(name, 0, 32); err == nil {
			s.ops[abi.Opcode(n)] = true
			continue
		}
		if found := s.addName(name); !found {
			return nil, fmt.Errorf("unknown operation %q", name)
		}
	}
	if len(s.ops) == 0 && len(s.notifies) == 0 {
		return nil, fmt.Errorf("empty operation list")
	}
	return s, nil
}

func (s *OpSet) addName(name string) bool {
	for _, info := range abi.Ops() {
		if info.Op.String() == name {
			s.ops[info.Op] = true
			return true
		}
	}
	n := strings.TrimPrefix(name, "NOTIFY_")
	for _, info := range abi.NotifyInfos() {
		if info.Code.String() == n {
			s.notifies[info.Code] = true
			return true
		}
	}
	if strings.HasPrefix(name, "OPCODE_") {
		if v, err := strconv.ParseUint(name[len("OPCODE_"):], 10, 32); err == nil {
			s.ops[abi.Opcode(v)] = true
			return true
		}
	}
	return false
}

// HasOp reports whether op is in the set.
func (s *OpSet) HasOp(op abi.Opcode) bool { return s.ops[op] }

// HasNotify reports whether code is in the set.
func (s *OpSet) HasNotify(c abi.NotifyCode) bool { return s.notifies[c] }

// NeedsReply reports whether the filter can only select replies.
func (f *Filter) NeedsReply() bool { return f.ErrorsOnly || f.MinLatency > 0 }

// Match reports whether r passes the filter.
func (f *Filter) Match(r *Record) bool {
	if f.NeedsReply() && r.Dir != capture.DirReply {
		return false
	}
	if f.ErrorsOnly && r.Errno == 0 {
		return false
	}
	if f.MalformedOnly && r.Malformed == nil {
		return false
	}
	if f.MinLatency > 0 && (!r.timed() || r.Latency < f.MinLatency) {
		return false
	}
	if f.Ops != nil {
		if r.Dir == capture.DirNotify {
			if !f.Ops.notifies[r.Notify] {
				return false
			}
		} else if !f.Ops.ops[r.Op] && !(r.Op == abi.FUSE_INTERRUPT && f.Ops.ops[r.InterruptsOp]) {
			return false
		}
	}
	if f.HasPID && (r.Dir == capture.DirNotify || r.PID != f.PID && !(r.Op == abi.FUSE_INTERRUPT && r.InterruptsPID == f.PID)) {
		return false
	}
	if f.HasNodeID && r.NodeID != f.NodeID && !(r.Dir == capture.DirReply && entryOp(r.Op) && r.Errno == 0 && r.Out.Entry.NodeID == f.NodeID) &&
		!(r.Op == abi.FUSE_INTERRUPT && r.InterruptsNodeID == f.NodeID) {
		return false
	}
	if f.Path != "" && !matchPath(f.Path, r.Path) {
		return false
	}
	return true
}

// isGlob reports whether a path filter is a glob rather than a prefix.
func isGlob(pattern string) bool { return strings.ContainsAny(pattern, "*?[\\") }

// CheckPath reports why a Path filter would select nothing whatever a
// capture holds: a malformed glob, or a plain path that does not start at
// the root as record paths do.
func CheckPath(pattern string) error {
	if _, err := path.Match(pattern, ""); err != nil {
		return err
	}
	if !isGlob(pattern) && !strings.HasPrefix(pattern, "/") {
		return fmt.Errorf("paths start at the root, as in /%s", pattern)
	}
	return nil
}

// matchPath matches a path filter against a record's path.
func matchPath(pattern string, p []byte) bool {
	if p == nil {
		return false
	}
	if !isGlob(pattern) {
		pat := strings.TrimSuffix(pattern, "/")
		if pat == "" { // "/" selects everything with a path
			return true
		}
		return string(p) == pat || len(p) > len(pat) && string(p[:len(pat)]) == pat && p[len(pat)] == '/'
	}
	s := string(p)
	for {
		if ok, _ := path.Match(pattern, s); ok {
			return true
		}
		i := strings.LastIndexByte(s, '/')
		if i <= 0 {
			return false
		}
		s = s[:i]
	}
}
