package decode

import (
	"iter"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
)

const (
	dirRequest = capture.DirRequest
	dirReply   = capture.DirReply
	dirNotify  = capture.DirNotify
)

// The iterators below walk Entries (and Groups) of a decoded record; each
// yields nothing for a record of another opcode. Decoding validated the
// entries, so they stop only at the end.

// Forgets yields the entries of a BATCH_FORGET request.
func (r *Record) Forgets() iter.Seq[abi.ForgetOne] {
	return func(yield func(abi.ForgetOne) bool) {
		if r.Op != abi.FUSE_BATCH_FORGET || r.Dir != dirRequest {
			return
		}
		for b := r.Entries; len(b) >= 16; b = b[16:] {
			if !yield(abi.ForgetOne{NodeID: r.order.Uint64(b), Nlookup: r.order.Uint64(b[8:])}) {
				return
			}
		}
	}
}

// Mappings yields the entries of a REMOVEMAPPING request.
func (r *Record) Mappings() iter.Seq[abi.RemovemappingOne] {
	return func(yield func(abi.RemovemappingOne) bool) {
		if r.Op != abi.FUSE_REMOVEMAPPING || r.Dir != dirRequest {
			return
		}
		for b := r.Entries; len(b) >= 16; b = b[16:] {
			if !yield(abi.RemovemappingOne{Moffset: r.order.Uint64(b), Len: r.order.Uint64(b[8:])}) {
				return
			}
		}
	}
}

// Iovecs yields the iovecs of an IOCTL reply with FUSE_IOCTL_RETRY: the
// first Out.Ioctl.InIovs are the input ones.
func (r *Record) Iovecs() iter.Seq[abi.IoctlIovec] {
	return func(yield func(abi.IoctlIovec) bool) {
		if r.Op != abi.FUSE_IOCTL || r.Dir != dirReply {
			return
		}
		for b := r.Entries; len(b) >= 16; b = b[16:] {
			if !yield(abi.IoctlIovec{Base: r.order.Uint64(b), Len: r.order.Uint64(b[8:])}) {
				return
			}
		}
	}
}

// Dirents yields the entries of a READDIR reply and their names (which
// alias the message).
func (r *Record) Dirents() iter.Seq2[abi.Dirent, []byte] {
	return func(yield func(abi.Dirent, []byte) bool) {
		if r.Op != abi.FUSE_READDIR || r.Dir != dirReply {
			return
		}
		for b := r.Entries; len(b) > 0; {
			d, name, rest, err := abi.NextDirent(b, r.order)
			if err != nil || !yield(d, name) {
				return
			}
			b = rest
		}
	}
}

// Direntplus yields the entries of a READDIRPLUS reply and their names.
func (r *Record) Direntplus() iter.Seq2[abi.Direntplus, []byte] {
	return func(yield func(abi.Direntplus, []byte) bool) {
		if r.Op != abi.FUSE_READDIRPLUS || r.Dir != dirReply {
			return
		}
		for b := r.Entries; len(b) > 0; {
			d, name, rest, err := abi.NextDirentplus(b, r.order)
			if err != nil || !yield(d, name) {
				return
			}
			b = rest
		}
	}
}

// PruneIDs yields the node IDs of a NOTIFY_PRUNE notification.
func (r *Record) PruneIDs() iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		if r.Notify != abi.FUSE_NOTIFY_PRUNE || r.Dir != dirNotify {
			return
		}
		for b := r.Entries; len(b) >= 8; b = b[8:] {
			if !yield(r.order.Uint64(b)) {
				return
			}
		}
	}
}

// GroupIDs yields the supplementary groups of a request's FUSE_EXT_GROUPS
// extension.
func (r *Record) GroupIDs() iter.Seq[uint32] {
	return func(yield func(uint32) bool) {
		for b := r.Groups; len(b) >= 4; b = b[4:] {
			if !yield(r.order.Uint32(b)) {
				return
			}
		}
	}
}
