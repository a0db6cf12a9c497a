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

// pairs yields the 16-byte entries of a record of op in direction dir,
// each two uint64s made into a T by mk.
func pairs[T any](r *Record, op abi.Opcode, dir capture.Dir, mk func(a, b uint64) T) iter.Seq[T] {
	return func(yield func(T) bool) {
		if r.Op != op || r.Dir != dir {
			return
		}
		for b := r.Entries; len(b) >= 16; b = b[16:] {
			if !yield(mk(r.order.Uint64(b), r.order.Uint64(b[8:]))) {
				return
			}
		}
	}
}

// Forgets yields the entries of a BATCH_FORGET request.
func (r *Record) Forgets() iter.Seq[abi.ForgetOne] {
	return pairs(r, abi.FUSE_BATCH_FORGET, dirRequest, func(id, n uint64) abi.ForgetOne {
		return abi.ForgetOne{NodeID: id, Nlookup: n}
	})
}

// Mappings yields the entries of a REMOVEMAPPING request.
func (r *Record) Mappings() iter.Seq[abi.RemovemappingOne] {
	return pairs(r, abi.FUSE_REMOVEMAPPING, dirRequest, func(off, n uint64) abi.RemovemappingOne {
		return abi.RemovemappingOne{Moffset: off, Len: n}
	})
}

// Iovecs yields the iovecs of an IOCTL reply with FUSE_IOCTL_RETRY: the
// first Out.Ioctl.InIovs are the input ones.
func (r *Record) Iovecs() iter.Seq[abi.IoctlIovec] {
	return pairs(r, abi.FUSE_IOCTL, dirReply, func(base, n uint64) abi.IoctlIovec {
		return abi.IoctlIovec{Base: base, Len: n}
	})
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
