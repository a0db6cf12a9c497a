package abi

import (
	"fmt"
	"structs"
)

// Directory entry layout.
const (
	// FUSE_NAME_OFFSET is the offset of the name in a [Dirent] record.
	FUSE_NAME_OFFSET = 24
	// FUSE_NAME_OFFSET_DIRENTPLUS is the offset of the name in a
	// [Direntplus] record.
	FUSE_NAME_OFFSET_DIRENTPLUS = 152
	// NameMax is the longest name the kernel accepts in a directory entry
	// (FUSE_NAME_MAX in fs/fuse/fuse_i.h, not part of the uapi header).
	NameMax = 1024
)

// RecAlign rounds n up to the 8-byte alignment of variable records
// (FUSE_REC_ALIGN).
func RecAlign(n int) int { return (n + 7) &^ 7 }

// DirentSize returns the record length of a [Dirent] with a name of namelen
// bytes (FUSE_DIRENT_SIZE).
func DirentSize(namelen int) int { return RecAlign(FUSE_NAME_OFFSET + namelen) }

// DirentplusSize returns the record length of a [Direntplus] with a name of
// namelen bytes (FUSE_DIRENTPLUS_SIZE).
func DirentplusSize(namelen int) int { return RecAlign(FUSE_NAME_OFFSET_DIRENTPLUS + namelen) }

// Dirent is the fixed part of struct fuse_dirent, a READDIR record; Namelen
// name bytes (no NUL) and zero padding to 8 follow.
type Dirent struct {
	_ structs.HostLayout
	// Ino is the inode number.
	Ino uint64
	// Off is the cookie for the READDIR that continues after this entry.
	Off uint64
	// Namelen is the length of the name.
	Namelen uint32
	// Type is the file type, DT_* (mode>>12).
	Type uint32
}

// Direntplus is the fixed part of struct fuse_direntplus, a READDIRPLUS
// record; Dirent.Namelen name bytes and zero padding to 8 follow.
// Since 7.21.
type Direntplus struct {
	_ structs.HostLayout
	// EntryOut is the lookup result for the entry; NodeID 0 means the
	// kernel does not instantiate it.
	EntryOut EntryOut
	// Dirent is the directory entry.
	Dirent Dirent
}

// recName checks a record's name length and returns the name and the bytes
// after the padded record.
func recName(src []byte, off int, namelen uint32) (name, rest []byte, err error) {
	if namelen == 0 || namelen > NameMax {
		return nil, src, fmt.Errorf("read dirent: %w: name length %d", ErrBadDirent, namelen)
	}
	end := off + int(namelen)
	rec := RecAlign(end)
	if rec > len(src) {
		return nil, src, fmt.Errorf("read dirent: %w: record of %d bytes, have %d", ErrShort, rec, len(src))
	}
	return src[off:end:end], src[rec:], nil
}

// NextDirent splits the first record off a READDIR reply body. name aliases
// src. The error wraps ErrShort if the record, padding included, runs past
// src and ErrBadDirent if the name length is 0 or above NameMax, as the
// kernel rejects both; then d holds the fixed part if it was complete.
func NextDirent(src []byte, o ByteOrder) (d Dirent, name, rest []byte, err error) {
	if _, err := d.Unmarshal(src, o); err != nil {
		return Dirent{}, nil, src, fmt.Errorf("read dirent: %w", err)
	}
	name, rest, err = recName(src, FUSE_NAME_OFFSET, d.Namelen)
	return d, name, rest, err
}

// NextDirentplus splits the first record off a READDIRPLUS reply body, with
// the checks of [NextDirent].
func NextDirentplus(src []byte, o ByteOrder) (d Direntplus, name, rest []byte, err error) {
	if _, err := d.Unmarshal(src, o); err != nil {
		return Direntplus{}, nil, src, fmt.Errorf("read direntplus: %w", err)
	}
	name, rest, err = recName(src, FUSE_NAME_OFFSET_DIRENTPLUS, d.Dirent.Namelen)
	return d, name, rest, err
}

// AppendDirent appends a READDIR record for d and name to b, with
// d.Namelen set to len(name) and zero padding to 8.
func AppendDirent[S ~string | ~[]byte](b []byte, d Dirent, name S, o ByteOrder) []byte {
	d.Namelen = uint32(len(name))
	b = d.Append(b, o)
	b = append(b, name...)
	return appendZeros(b, DirentSize(len(name))-FUSE_NAME_OFFSET-len(name))
}

// AppendDirentplus appends a READDIRPLUS record for d and name to b, with
// d.Dirent.Namelen set to len(name) and zero padding to 8.
func AppendDirentplus[S ~string | ~[]byte](b []byte, d Direntplus, name S, o ByteOrder) []byte {
	d.Dirent.Namelen = uint32(len(name))
	b = d.Append(b, o)
	b = append(b, name...)
	return appendZeros(b, DirentplusSize(len(name))-FUSE_NAME_OFFSET_DIRENTPLUS-len(name))
}

// appendZeros appends n zero bytes to b.
func appendZeros(b []byte, n int) []byte {
	var z [8]byte
	for n > 0 {
		k := min(n, len(z))
		b = append(b, z[:k]...)
		n -= k
	}
	return b
}
