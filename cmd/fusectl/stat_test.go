package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestNewCmdStat(t *testing.T) {
	tests := []struct {
		name    string
		cli     string
		want    StatOptions
		wantErr string
	}{
		{name: "path", cli: "/a.txt -- demofs {}", want: StatOptions{Path: "/a.txt", ServerFlags: ServerFlags{Server: []string{"demofs", "{}"}}}},
		{name: "json", cli: "--json / -- demofs {}", want: StatOptions{Path: "/", JSON: true, ServerFlags: ServerFlags{Server: []string{"demofs", "{}"}}}},
		{name: "no path", cli: "-- x", wantErr: "stat needs exactly 1 PATH before --, got 0"},
		{name: "no dash", cli: "/a x", wantErr: "missing -- before the server command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(t, tt.cli, NewCmdStat)
			if wantError(t, err, tt.wantErr) {
				return
			}
			if got.Path != tt.want.Path || got.JSON != tt.want.JSON || strings.Join(got.Server, " ") != strings.Join(tt.want.Server, " ") {
				t.Errorf("options %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStatRun(t *testing.T) {
	seed := seedDir(t)
	tests := []struct {
		name    string
		path    string
		tty     bool
		want    []string
		wantErr error
	}{
		{name: "file piped", path: "/sub/c.txt", want: []string{"path\t/sub/c.txt\n", "type\tregular file\n", "mode\t-rw------- (0600)\n", "size\t4\n", "nlink\t1\n"}},
		{name: "root tty", path: "/", tty: true, want: []string{"path:", "/", "type:", "directory", "mode:", "drwx"}},
		{name: "symlink", path: "/link", want: []string{"path\t/link -> a.txt\n", "type\tsymbolic link\n", "size\t5\n"}},
		{name: "missing", path: "/sub/nope", wantErr: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, out, _ := testIO(tt.tty)
			opts := &StatOptions{IO: ios, Path: tt.path, Start: demofsStarter(t, seed, 1), ServerFlags: ServerFlags{Server: []string{"demofs", "{}"}}}
			err := runStat(t.Context(), opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.HasPrefix(err.Error(), "stat "+tt.path+": ") {
					t.Fatalf("error %v, want %v naming the path", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := out.String()
			for _, w := range tt.want {
				i := strings.Index(s, w)
				if i < 0 {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
				s = s[i+len(w):]
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		ios, out, _ := testIO(false)
		opts := &StatOptions{IO: ios, Path: "/big.bin", JSON: true, Start: demofsStarter(t, seed, 1), ServerFlags: ServerFlags{Server: []string{"demofs", "{}"}}}
		if err := runStat(t.Context(), opts); err != nil {
			t.Fatal(err)
		}
		var f fileJSON
		if err := json.Unmarshal(out.Bytes(), &f); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if f.Name != "/big.bin" || f.Size != 300<<10 || f.Nlink != 1 || f.Mode != "-rw-r--r--" {
			t.Errorf("%+v", f)
		}
	})
}
