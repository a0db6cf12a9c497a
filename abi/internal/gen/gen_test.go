package main

import (
	"bytes"
	"go/format"
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratedUpToDate fails when the committed generated files differ
// from what the generator writes for the current struct definitions, i.e.
// when go generate was not run after a change.
func TestGeneratedUpToDate(t *testing.T) {
	dir := filepath.Join("..", "..")
	p, err := load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for file, src := range map[string][]byte{
		"zz_generated_codec.go":       p.codecs(),
		"zz_generated_layout_test.go": p.layouts(),
	} {
		want, err := format.Source(src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./abi", file)
		}
	}
}

func TestLayoutRejectsImplicitPadding(t *testing.T) {
	dir := t.TempDir()
	src := "package x\n\nimport \"structs\"\n\ntype Bad struct {\n\t_ structs.HostLayout\n\tA uint32\n\tB uint64\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := load(dir); err == nil {
		t.Error("load accepted a struct with an implicit hole")
	}
}
