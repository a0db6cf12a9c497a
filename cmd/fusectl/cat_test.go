package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/fusectl/fusectl/capture"
)

func TestNewCmdCat(t *testing.T) {
	tests := []struct {
		name    string
		cli     string
		want    CatOptions
		wantErr string
	}{
		{name: "one", cli: "/big.bin -- squashfuse -f img.sqfs {}", want: CatOptions{Paths: []string{"/big.bin"}, ServerFlags: ServerFlags{Server: []string{"squashfuse", "-f", "img.sqfs", "{}"}}}},
		{name: "two", cli: "/a /b -- x", want: CatOptions{Paths: []string{"/a", "/b"}, ServerFlags: ServerFlags{Server: []string{"x"}}}},
		{name: "no path", cli: "-- x", wantErr: "cat needs a PATH before --"},
		{name: "json is not a flag", cli: "--json /a -- x", wantErr: "unknown flag: --json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(t, tt.cli, NewCmdCat)
			if wantError(t, err, tt.wantErr) {
				return
			}
			if strings.Join(got.Paths, " ") != strings.Join(tt.want.Paths, " ") || strings.Join(got.Server, " ") != strings.Join(tt.want.Server, " ") {
				t.Errorf("options %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCatRun(t *testing.T) {
	seed := seedDir(t)
	tests := []struct {
		name    string
		paths   []string
		want    []byte
		wantErr error
	}{
		{name: "small", paths: []string{"/a.txt"}, want: []byte("hello from a\n")},
		{name: "two", paths: []string{"/a.txt", "sub/c.txt"}, want: []byte("hello from a\nsea\n")},
		{name: "big", paths: []string{"/big.bin"}, want: bytes.Repeat([]byte{0xa5}, 300<<10)},
		{name: "through a link", paths: []string{"/link"}, want: []byte("hello from a\n")},
		{name: "directory", paths: []string{"/sub"}, wantErr: syscall.EISDIR},
		{name: "missing", paths: []string{"/a.txt", "/nope"}, want: []byte("hello from a\n"), wantErr: syscall.ENOENT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, tty := range []bool{false, true} {
				ios, out, _ := testIO(tty)
				opts := &CatOptions{IO: ios, Paths: tt.paths, Start: demofsStarter(t, seed, 1), ServerFlags: ServerFlags{Server: []string{"demofs", "{}"}}}
				err := runCat(t.Context(), opts)
				if !errors.Is(err, tt.wantErr) && (err != nil || tt.wantErr != nil) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				if !bytes.Equal(out.Bytes(), tt.want) {
					t.Errorf("output %d bytes, want %d", out.Len(), len(tt.want))
				}
			}
		})
	}
	t.Run("record", func(t *testing.T) {
		ios, out, _ := testIO(false)
		rec := t.TempDir() + "/s.fcap"
		opts := &CatOptions{IO: ios, Paths: []string{"/a.txt"}, Start: demofsStarter(t, seed, 1),
			ServerFlags: ServerFlags{Server: []string{"demofs", "{}"}, RecordPath: rec}}
		if err := runCat(t.Context(), opts); err != nil {
			t.Fatal(err)
		}
		if out.String() != "hello from a\n" {
			t.Errorf("output %q", out)
		}
		r, err := capture.Open(rec)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		counts := map[capture.Dir]int{}
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			counts[rec.Dir]++
		}
		// INIT, LOOKUP, GETATTR?, OPEN, READ, FLUSH, RELEASE, DESTROY...
		if counts[capture.DirRequest] < 6 || counts[capture.DirReply] < 6 {
			t.Errorf("recorded %v", counts)
		}
		if ifs := r.Interfaces(); len(ifs) != 1 || ifs[0].Description != "demofs {}" {
			t.Errorf("interfaces %+v", ifs)
		}
	})
}
