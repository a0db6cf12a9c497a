package decodetest

import (
	"encoding/binary"

	"github.com/fusectl/fusectl/capture"
)

// WriteFile writes the session that build encodes to a new .fcap file at
// path, little-endian, with one interface named "/mnt/test".
func WriteFile(path string, build func(b *Builder)) error {
	w, err := capture.Create(path, capture.WriterOptions{
		Interfaces: []capture.Interface{{Name: "/mnt/test", Description: "testfs /mnt/test"}},
		ByteOrder:  binary.LittleEndian,
	})
	if err != nil {
		return err
	}
	var werr error
	b := New()
	b.Emit = func(m Msg) {
		if werr == nil {
			werr = w.WriteMsg(m.Time, 0, m.Dir, m.Flags, m.Data)
		}
	}
	build(b)
	if err := w.Close(); werr == nil {
		werr = err
	}
	return werr
}

// WriteMixed writes a capture of n messages of the Mixed workload to path,
// streaming: memory stays small whatever n.
func WriteMixed(path string, n int) error {
	return WriteFile(path, func(b *Builder) { Mixed(b, n) })
}
