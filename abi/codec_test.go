package abi

import (
	"encoding/binary"
	"testing"
)

// codec is the method set every generated struct has.
type codec interface {
	SizeBytes() int
	Append(b []byte, o ByteOrder) []byte
	AppendPrefix(b []byte, n int, o ByteOrder) []byte
	Unmarshal(src []byte, o ByteOrder) ([]byte, error)
	UnmarshalPrefix(src []byte, n int, o ByteOrder) ([]byte, error)
}

// typeLayout is a struct as the generator laid it out.
type typeLayout struct {
	name   string
	size   int
	new    func() codec
	fields []fieldLayout
}

// fieldLayout is one field of a typeLayout; name "_" is padding.
type fieldLayout struct {
	name string
	off  int
	size int
}

var orders = []struct {
	name string
	o    ByteOrder
}{{"le", binary.LittleEndian}, {"be", binary.BigEndian}}

func TestGeneratedSizeMatchesBinarySize(t *testing.T) {
	for _, l := range generatedLayouts {
		v := l.new()
		if got := v.SizeBytes(); got != l.size {
			t.Errorf("%s: SizeBytes() = %d, generator %d", l.name, got, l.size)
		}
		if got := binary.Size(v); got != l.size {
			t.Errorf("%s: binary.Size = %d, SizeBytes() %d", l.name, got, l.size)
		}
	}
}
