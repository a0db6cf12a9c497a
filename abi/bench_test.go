package abi

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func benchUnmarshal(b *testing.B, v codec, o ByteOrder) {
	fill(v, 1)
	src := v.Append(nil, o)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Unmarshal(src, o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalEntryOut(b *testing.B) {
	b.Run("le", func(b *testing.B) { benchUnmarshal(b, new(EntryOut), binary.LittleEndian) })
	b.Run("be", func(b *testing.B) { benchUnmarshal(b, new(EntryOut), binary.BigEndian) })
	b.Run("native", func(b *testing.B) { benchUnmarshal(b, new(EntryOut), NativeEndian) })
}

func BenchmarkUnmarshalInHeader(b *testing.B) {
	b.Run("le", func(b *testing.B) { benchUnmarshal(b, new(InHeader), binary.LittleEndian) })
	b.Run("be", func(b *testing.B) { benchUnmarshal(b, new(InHeader), binary.BigEndian) })
	b.Run("native", func(b *testing.B) { benchUnmarshal(b, new(InHeader), NativeEndian) })
}

func BenchmarkAppendEntryOut(b *testing.B) {
	var v EntryOut
	fill(&v, 1)
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(v.SizeBytes()))
	b.ReportAllocs()
	for b.Loop() {
		buf = v.Append(buf[:0], binary.LittleEndian)
	}
}

// BenchmarkBinaryReadEntryOut is the reflective encoding/binary decoder,
// for the ratio against BenchmarkUnmarshalEntryOut.
func BenchmarkBinaryReadEntryOut(b *testing.B) {
	var v EntryOut
	fill(&v, 1)
	src := v.Append(nil, binary.LittleEndian)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if err := binary.Read(bytes.NewReader(src), binary.LittleEndian, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNextDirent(b *testing.B) {
	var src []byte
	for i := range 64 {
		src = AppendDirent(src, Dirent{Ino: uint64(i), Off: uint64(i + 1), Type: 8}, "some-file-name.txt", binary.LittleEndian)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		for rest := src; len(rest) > 0; {
			var err error
			if _, _, rest, err = NextDirent(rest, binary.LittleEndian); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestUnmarshalDoesNotAllocate pins the no-allocation promise in a test,
// as benchmarks are not run by default.
func TestUnmarshalDoesNotAllocate(t *testing.T) {
	for _, l := range generatedLayouts {
		v := l.new()
		src := v.Append(nil, binary.LittleEndian)
		for _, ord := range orders {
			if n := testing.AllocsPerRun(20, func() {
				if _, err := v.Unmarshal(src, ord.o); err != nil {
					t.Fatal(err)
				}
				if _, err := v.UnmarshalPrefix(src, l.size/2, ord.o); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("%s/%s: %v allocations per Unmarshal", l.name, ord.name, n)
			}
		}
	}
}
