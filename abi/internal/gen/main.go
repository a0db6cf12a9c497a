// Command gen writes the codecs of package abi.
//
// It reads the struct definitions of the package in the current directory
// with go/ast (no type checking: every field is a fixed-size integer, a
// named integer type, an array of those, or another struct of the package),
// checks that each struct that starts with structs.HostLayout is explicitly
// padded (every field naturally aligned, no implicit holes), and writes for
// each one Size, Append, AppendPrefix, Unmarshal and UnmarshalPrefix, built
// on straight-line little- and big-endian encoders. With -test it also
// writes a test file listing every type with its field offsets, which the
// package tests check against the reference layouts.
//
// Usage (from go:generate in the package directory):
//
//	go run ./internal/gen -o zz_generated_codec.go -test zz_generated_layout_test.go
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("gen: ")
	out := flag.String("o", "zz_generated_codec.go", "output file for the codecs")
	testOut := flag.String("test", "", "output file for the layout table (a _test.go file)")
	dir := flag.String("dir", ".", "package directory")
	flag.Parse()

	p, err := load(*dir)
	if err != nil {
		log.Fatal(err)
	}
	if err := write(filepath.Join(*dir, *out), p.codecs()); err != nil {
		log.Fatal(err)
	}
	if *testOut != "" {
		if err := write(filepath.Join(*dir, *testOut), p.layouts()); err != nil {
			log.Fatal(err)
		}
	}
}

// write formats src and writes it to path.
func write(path string, src []byte) error {
	fmtd, err := format.Source(src)
	if err != nil {
		return fmt.Errorf("format %s: %w\n%s", path, err, src)
	}
	return os.WriteFile(path, fmtd, 0o644)
}

// basic describes a fixed-size integer type.
type basic struct {
	name string // Go predeclared name: uint32, int64, ...
	size int
}

var basics = map[string]basic{
	"uint8": {"uint8", 1}, "byte": {"uint8", 1}, "int8": {"int8", 1},
	"uint16": {"uint16", 2}, "int16": {"int16", 2},
	"uint32": {"uint32", 4}, "int32": {"int32", 4},
	"uint64": {"uint64", 8}, "int64": {"int64", 8},
}

// field is one laid-out struct field.
type field struct {
	name   string // "_" for padding
	typ    string // Go type name of the field or of the array element
	basic  basic  // element kind if not a struct
	nested string // struct type name if a nested struct
	count  int    // array length, 0 if not an array
	off    int
	size   int
}

// strct is one laid-out struct.
type strct struct {
	name   string
	fields []field
	size   int
	align  int
}

type pkg struct {
	named   map[string]basic // named integer types
	consts  map[string]int   // integer constants with literal values
	specs   map[string]*ast.StructType
	order   []string // struct names in source order
	structs map[string]*strct
}

// load parses the package sources, skipping tests and generated files.
func load(dir string) (*pkg, error) {
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	p := &pkg{
		named:   map[string]basic{},
		consts:  map[string]int{},
		specs:   map[string]*ast.StructType{},
		structs: map[string]*strct{},
	}
	for _, name := range names {
		base := filepath.Base(name)
		if strings.HasSuffix(base, "_test.go") || strings.HasPrefix(base, "zz_generated") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, s := range gd.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					switch t := s.Type.(type) {
					case *ast.Ident:
						if b, ok := basics[t.Name]; ok {
							p.named[s.Name.Name] = b
						}
					case *ast.StructType:
						if isHostLayout(t) {
							p.specs[s.Name.Name] = t
							p.order = append(p.order, s.Name.Name)
						}
					}
				case *ast.ValueSpec:
					if gd.Tok != token.CONST {
						continue
					}
					for i, n := range s.Names {
						if i < len(s.Values) {
							if lit, ok := s.Values[i].(*ast.BasicLit); ok && lit.Kind == token.INT {
								if v, err := strconv.ParseInt(lit.Value, 0, 64); err == nil {
									p.consts[n.Name] = int(v)
								}
							}
						}
					}
				}
			}
		}
	}
	for _, name := range p.order {
		if _, err := p.layout(name, nil); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// isHostLayout reports whether the struct's first field is structs.HostLayout.
func isHostLayout(t *ast.StructType) bool {
	if len(t.Fields.List) == 0 {
		return false
	}
	sel, ok := t.Fields.List[0].Type.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == "structs" && sel.Sel.Name == "HostLayout"
}

// layout computes the layout of struct name, laying out nested structs first.
func (p *pkg) layout(name string, stack []string) (*strct, error) {
	if s, ok := p.structs[name]; ok {
		return s, nil
	}
	if slices.Contains(stack, name) {
		return nil, fmt.Errorf("recursive struct %s", name)
	}
	st, ok := p.specs[name]
	if !ok {
		return nil, fmt.Errorf("unknown struct %s", name)
	}
	s := &strct{name: name, align: 1}
	for _, fl := range st.Fields.List[1:] {
		f, align, err := p.fieldType(fl.Type, append(stack, name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(fl.Names) == 0 {
			return nil, fmt.Errorf("%s: embedded field not supported", name)
		}
		for _, n := range fl.Names {
			f := f
			f.name = n.Name
			f.off = s.size
			if f.off%align != 0 {
				return nil, fmt.Errorf("%s.%s: offset %d not aligned to %d: add explicit padding", name, f.name, f.off, align)
			}
			s.size += f.size
			s.align = max(s.align, align)
			s.fields = append(s.fields, f)
		}
	}
	if s.size%s.align != 0 {
		return nil, fmt.Errorf("%s: size %d not a multiple of alignment %d: add explicit padding", name, s.size, s.align)
	}
	p.structs[name] = s
	return s, nil
}

// fieldType resolves a field type to its layout (without name and offset)
// and alignment.
func (p *pkg) fieldType(e ast.Expr, stack []string) (field, int, error) {
	switch t := e.(type) {
	case *ast.Ident:
		if b, ok := basics[t.Name]; ok {
			return field{typ: t.Name, basic: b, size: b.size}, b.size, nil
		}
		if b, ok := p.named[t.Name]; ok {
			return field{typ: t.Name, basic: b, size: b.size}, b.size, nil
		}
		if _, ok := p.specs[t.Name]; ok {
			s, err := p.layout(t.Name, stack)
			if err != nil {
				return field{}, 0, err
			}
			return field{typ: t.Name, nested: t.Name, size: s.size}, s.align, nil
		}
		return field{}, 0, fmt.Errorf("unsupported type %s", t.Name)
	case *ast.ArrayType:
		if t.Len == nil {
			return field{}, 0, fmt.Errorf("slices not supported")
		}
		n, err := p.arrayLen(t.Len)
		if err != nil {
			return field{}, 0, err
		}
		elem, align, err := p.fieldType(t.Elt, stack)
		if err != nil {
			return field{}, 0, err
		}
		if elem.nested != "" || elem.count != 0 {
			return field{}, 0, fmt.Errorf("arrays of structs or arrays not supported")
		}
		elem.count = n
		elem.size *= n
		return elem, align, nil
	}
	return field{}, 0, fmt.Errorf("unsupported field type %T", e)
}

func (p *pkg) arrayLen(e ast.Expr) (int, error) {
	switch l := e.(type) {
	case *ast.BasicLit:
		return strconv.Atoi(l.Value)
	case *ast.Ident:
		if v, ok := p.consts[l.Name]; ok {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unsupported array length %T", e)
}

// order names the two byte orders the codecs are written for.
type order struct {
	suffix string // method suffix: LE, BE
	expr   string // binary.LittleEndian, binary.BigEndian
}

var orders = []order{{"LE", "binary.LittleEndian"}, {"BE", "binary.BigEndian"}}

const header = "// Code generated by internal/gen from the struct definitions; DO NOT EDIT.\n\n"

// codecs returns the source of the codec file.
func (p *pkg) codecs() []byte {
	var b bytes.Buffer
	b.WriteString(header)
	b.WriteString("package abi\n\nimport \"encoding/binary\"\n\n")
	for _, name := range p.order {
		s := p.structs[name]
		n := s.size
		fmt.Fprintf(&b, "// SizeBytes returns the wire size of %s, %d bytes.\n", name, n)
		fmt.Fprintf(&b, "func (*%s) SizeBytes() int { return %d }\n\n", name, n)

		fmt.Fprintf(&b, "// Append appends the encoding of s in byte order o to b.\n")
		fmt.Fprintf(&b, "func (s *%s) Append(b []byte, o ByteOrder) []byte {\n", name)
		fmt.Fprintf(&b, "\tb, w := grow(b, %d)\n\tif isBig(o) {\n\t\ts.putBE(w)\n\t} else {\n\t\ts.putLE(w)\n\t}\n\treturn b\n}\n\n", n)

		fmt.Fprintf(&b, "// AppendPrefix appends the first n bytes of the encoding of s to b; n is\n// bounded to [0, %d].\n", n)
		fmt.Fprintf(&b, "func (s *%s) AppendPrefix(b []byte, n int, o ByteOrder) []byte {\n", name)
		fmt.Fprintf(&b, "\tvar buf [%d]byte\n\tif isBig(o) {\n\t\ts.putBE(buf[:])\n\t} else {\n\t\ts.putLE(buf[:])\n\t}\n", n)
		fmt.Fprintf(&b, "\treturn append(b, buf[:clampPrefix(n, %d)]...)\n}\n\n", n)

		fmt.Fprintf(&b, "// Unmarshal decodes s from the front of src in byte order o and returns\n// the bytes after it. The error wraps ErrShort if src has fewer than %d bytes.\n", n)
		fmt.Fprintf(&b, "func (s *%s) Unmarshal(src []byte, o ByteOrder) ([]byte, error) {\n", name)
		fmt.Fprintf(&b, "\tif len(src) < %d {\n\t\treturn src, shortError(%q, %d, len(src))\n\t}\n", n, name, n)
		fmt.Fprintf(&b, "\tif isBig(o) {\n\t\ts.getBE(src[:%d])\n\t} else {\n\t\ts.getLE(src[:%d])\n\t}\n\treturn src[%d:], nil\n}\n\n", n, n, n)

		fmt.Fprintf(&b, "// UnmarshalPrefix decodes s from the first n bytes of src (n bounded to\n// [0, %d]); fields past n are zero. The error wraps ErrShort if src has\n// fewer than n bytes.\n", n)
		fmt.Fprintf(&b, "func (s *%s) UnmarshalPrefix(src []byte, n int, o ByteOrder) ([]byte, error) {\n", name)
		fmt.Fprintf(&b, "\tn = clampPrefix(n, %d)\n\tif len(src) < n {\n\t\treturn src, shortError(%q, n, len(src))\n\t}\n", n, name)
		fmt.Fprintf(&b, "\tvar buf [%d]byte\n\tcopy(buf[:], src[:n])\n", n)
		fmt.Fprintf(&b, "\tif isBig(o) {\n\t\ts.getBE(buf[:])\n\t} else {\n\t\ts.getLE(buf[:])\n\t}\n\treturn src[n:], nil\n}\n\n")

		for _, o := range orders {
			p.writeGet(&b, s, o)
			p.writePut(&b, s, o)
		}
	}
	return b.Bytes()
}

// conv returns the conversion of expression x from basic type from to
// type to, or x if none is needed.
func conv(to, from, x string) string {
	if to == from {
		return x
	}
	return to + "(" + x + ")"
}

func (p *pkg) writeGet(b *bytes.Buffer, s *strct, o order) {
	fmt.Fprintf(b, "func (s *%s) get%s(b []byte) {\n\t_ = b[%d]\n", s.name, o.suffix, s.size-1)
	for _, f := range s.fields {
		if f.name == "_" {
			continue
		}
		end := f.off + f.size
		switch {
		case f.nested != "":
			fmt.Fprintf(b, "\ts.%s.get%s(b[%d:%d])\n", f.name, o.suffix, f.off, end)
		case f.count > 0 && f.basic.size == 1 && f.basic.name == "uint8" && (f.typ == "byte" || f.typ == "uint8"):
			fmt.Fprintf(b, "\tcopy(s.%s[:], b[%d:%d])\n", f.name, f.off, end)
		case f.count > 0 && f.basic.size == 1:
			fmt.Fprintf(b, "\tfor i := range s.%s {\n\t\ts.%s[i] = %s\n\t}\n", f.name, f.name,
				conv(f.typ, "uint8", fmt.Sprintf("b[%d+i]", f.off)))
		case f.count > 0:
			es := f.basic.size
			fmt.Fprintf(b, "\tfor i := range s.%s {\n\t\ts.%s[i] = %s\n\t}\n", f.name, f.name,
				conv(f.typ, unsigned(f.basic), fmt.Sprintf("%s.Uint%d(b[%d+%d*i:])", o.expr, es*8, f.off, es)))
		case f.basic.size == 1:
			fmt.Fprintf(b, "\ts.%s = %s\n", f.name, conv(f.typ, "uint8", fmt.Sprintf("b[%d]", f.off)))
		default:
			fmt.Fprintf(b, "\ts.%s = %s\n", f.name,
				conv(f.typ, unsigned(f.basic), fmt.Sprintf("%s.Uint%d(b[%d:%d])", o.expr, f.size*8, f.off, end)))
		}
	}
	b.WriteString("}\n\n")
}

func (p *pkg) writePut(b *bytes.Buffer, s *strct, o order) {
	fmt.Fprintf(b, "func (s *%s) put%s(b []byte) {\n\t_ = b[%d]\n", s.name, o.suffix, s.size-1)
	for _, f := range s.fields {
		end := f.off + f.size
		switch {
		case f.name == "_":
			if f.size == 1 {
				fmt.Fprintf(b, "\tb[%d] = 0\n", f.off)
			} else {
				fmt.Fprintf(b, "\tclear(b[%d:%d])\n", f.off, end)
			}
		case f.nested != "":
			fmt.Fprintf(b, "\ts.%s.put%s(b[%d:%d])\n", f.name, o.suffix, f.off, end)
		case f.count > 0 && f.basic.size == 1 && f.basic.name == "uint8" && (f.typ == "byte" || f.typ == "uint8"):
			fmt.Fprintf(b, "\tcopy(b[%d:%d], s.%s[:])\n", f.off, end, f.name)
		case f.count > 0 && f.basic.size == 1:
			fmt.Fprintf(b, "\tfor i, v := range s.%s {\n\t\tb[%d+i] = %s\n\t}\n", f.name, f.off, conv("uint8", f.typ, "v"))
		case f.count > 0:
			es := f.basic.size
			fmt.Fprintf(b, "\tfor i, v := range s.%s {\n\t\t%s.PutUint%d(b[%d+%d*i:], %s)\n\t}\n", f.name,
				o.expr, es*8, f.off, es, conv(unsigned(f.basic), f.typ, "v"))
		case f.basic.size == 1:
			fmt.Fprintf(b, "\tb[%d] = %s\n", f.off, conv("uint8", f.typ, "s."+f.name))
		default:
			fmt.Fprintf(b, "\t%s.PutUint%d(b[%d:%d], %s)\n", o.expr, f.size*8, f.off, end,
				conv(unsigned(f.basic), f.typ, "s."+f.name))
		}
	}
	b.WriteString("}\n\n")
}

// unsigned returns the unsigned type of the basic kind's size.
func unsigned(b basic) string { return fmt.Sprintf("uint%d", b.size*8) }

// layouts returns the source of the layout test file.
func (p *pkg) layouts() []byte {
	var b bytes.Buffer
	b.WriteString(header)
	b.WriteString("package abi\n\n")
	b.WriteString("// generatedLayouts lists every struct with a generated codec, with the\n// layout the generator computed.\n")
	b.WriteString("var generatedLayouts = []typeLayout{\n")
	for _, name := range p.order {
		s := p.structs[name]
		fmt.Fprintf(&b, "\t{name: %q, size: %d, new: func() codec { return new(%s) }, fields: []fieldLayout{\n", name, s.size, name)
		for _, f := range s.fields {
			fmt.Fprintf(&b, "\t\t{%q, %d, %d},\n", f.name, f.off, f.size)
		}
		b.WriteString("\t}},\n")
	}
	b.WriteString("}\n")
	return b.Bytes()
}
