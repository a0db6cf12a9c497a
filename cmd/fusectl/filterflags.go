package main

import (
	"github.com/spf13/pflag"

	"github.com/fusectl/fusectl/decode"
)

// filterFlags are the record filters decode and capture share (--op,
// --nodeid, --path, --pid), so that a filter means the same in both.
type filterFlags struct {
	Ops       string
	NodeID    uint64
	HasNodeID bool
	Path      string
	PID       uint32
	HasPID    bool
}

func (ff *filterFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&ff.Ops, "op", "", "only these operations (with their INTERRUPTs) or notify codes, comma-separated (LOOKUP,READ,INVAL_INODE)")
	fl.Uint64Var(&ff.NodeID, "nodeid", 0, "only records about this node ID")
	fl.StringVar(&ff.Path, "path", "", "only records whose path is `PATH` or under it (whole names: /di does not match /dir), or matches it as a glob")
	fl.Uint32Var(&ff.PID, "pid", 0, "only requests (and their replies and INTERRUPTs) of this pid, which the kernel gives per thread (capture also keeps a process's other threads)")
}

// parse notes which of the flags were given and builds their filter.
func (ff *filterFlags) parse(fl *pflag.FlagSet) (decode.Filter, error) {
	ff.HasNodeID = fl.Changed("nodeid")
	ff.HasPID = fl.Changed("pid")
	f := decode.Filter{
		NodeID: ff.NodeID, HasNodeID: ff.HasNodeID,
		Path: ff.Path, PID: ff.PID, HasPID: ff.HasPID,
	}
	if ff.Path != "" {
		if err := decode.CheckPath(ff.Path); err != nil {
			return f, flagErrorf("invalid --path %q: %v", ff.Path, err)
		}
	}
	if fl.Changed("op") {
		set, err := decode.ParseOps(ff.Ops)
		if err != nil {
			return f, flagErrorf("invalid --op: %v", err)
		}
		f.Ops = set
	}
	return f, nil
}
