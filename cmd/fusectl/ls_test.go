package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestNewCmdLs(t *testing.T) {
	tests := []struct {
		name    string
		cli     string
		want    LsOptions
		wantErr string
	}{
		{name: "root", cli: "/ -- demofs {}", want: LsOptions{Path: "/", ServerFlags: ServerFlags{Server: []string{"demofs", "{}"}}}},
		{name: "long json", cli: "-l --json /sub -- demofs {}", want: LsOptions{Path: "/sub", Long: true, JSON: true, ServerFlags: ServerFlags{Server: []string{"demofs", "{}"}}}},
		{name: "record", cli: "--record s.fcap / -- x", want: LsOptions{Path: "/", ServerFlags: ServerFlags{Server: []string{"x"}, RecordPath: "s.fcap"}}},
		{name: "no path is the root", cli: "-l -- x", want: LsOptions{Path: "/", Long: true, ServerFlags: ServerFlags{Server: []string{"x"}}}},
		{name: "two paths", cli: "/a /b -- x", wantErr: "ls takes at most 1 PATH before --, got 2"},
		{name: "no dash", cli: "/a", wantErr: "missing -- before the server command"},
		{name: "no server", cli: "/a --", wantErr: "missing server command after --"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(t, tt.cli, NewCmdLs)
			if wantError(t, err, tt.wantErr) {
				return
			}
			if got.Path != tt.want.Path || got.Long != tt.want.Long || got.JSON != tt.want.JSON ||
				strings.Join(got.Server, " ") != strings.Join(tt.want.Server, " ") || got.RecordPath != tt.want.RecordPath {
				t.Errorf("options %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLsRun(t *testing.T) {
	seed := seedDir(t)
	tests := []struct {
		name    string
		path    string
		long    bool
		tty     bool
		want    string
		wantErr error
	}{
		{name: "root", path: "/", want: "a.txt\nbig.bin\nlink\nsub\n"},
		{name: "sub", path: "/sub", want: "c.txt\n"},
		{name: "file", path: "/a.txt", want: "/a.txt\n"},
		{name: "missing", path: "/nope", wantErr: fs.ErrNotExist},
		{name: "long piped", path: "/sub", long: true, want: "-rw-------\t1\t"},
		{name: "long tty", path: "/", long: true, tty: true, want: "link -> a.txt"},
		// As ls -l writes a symbolic link's mode, not as Go's FileMode.
		{name: "long symlink", path: "/", long: true, want: "lrwxrwxrwx\t1\t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, out, _ := testIO(tt.tty)
			opts := &LsOptions{IO: ios, Path: tt.path, Long: tt.long, Start: demofsStarter(t, seed, 1), ServerFlags: ServerFlags{Server: []string{"demofs", "{}"}}}
			err := runLs(t.Context(), opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "ls "+tt.path+": ") {
					t.Errorf("error %q does not name the path", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.long {
				if !strings.Contains(out.String(), tt.want) {
					t.Errorf("output lacks %q:\n%s", tt.want, out)
				}
				return
			}
			if out.String() != tt.want {
				t.Errorf("output %q, want %q", out, tt.want)
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		ios, out, _ := testIO(false)
		opts := &LsOptions{IO: ios, Path: "/", JSON: true, Start: demofsStarter(t, seed, 1), ServerFlags: ServerFlags{Server: []string{"demofs", "{}"}}}
		if err := runLs(t.Context(), opts); err != nil {
			t.Fatal(err)
		}
		var list []fileJSON
		if err := json.Unmarshal(out.Bytes(), &list); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		byName := map[string]fileJSON{}
		for _, f := range list {
			byName[f.Name] = f
		}
		if f := byName["big.bin"]; f.Size != 300<<10 || f.Type != "regular file" || f.Perm != 0o644 {
			t.Errorf("big.bin: %+v", f)
		}
		if f := byName["link"]; f.Type != "symbolic link" || f.Target != "a.txt" || f.Mode != "lrwxrwxrwx" {
			t.Errorf("link: %+v", f)
		}
		if f := byName["sub"]; f.Type != "directory" {
			t.Errorf("sub: %+v", f)
		}
		if len(list) != 4 {
			t.Errorf("%d entries, want 4", len(list))
		}
	})
}
