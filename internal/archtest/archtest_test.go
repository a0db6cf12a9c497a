// Package archtest holds the package boundaries of DESIGN.md as a test.
package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/fusectl/fusectl"

type pkg struct {
	ImportPath string
	Imports    []string
}

// listPackages returns every package of the module with its direct imports.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports", module+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// TestSysOnlyInClientAndMount keeps golang.org/x/sys (and raw syscalls) out of
// every package but client/... and mount/..., so the decoders, the format and
// the commands build on any GOOS.
func TestSysOnlyInClientAndMount(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, module)
		allowed := strings.HasPrefix(rel, "/client") || strings.HasPrefix(rel, "/mount") ||
			strings.HasPrefix(rel, "/internal/demofs") || strings.HasPrefix(rel, "/cmd/demofs")
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "golang.org/x/sys") && !allowed {
				t.Errorf("%s imports %s; only client/ and mount/ may", p.ImportPath, imp)
			}
		}
	}
}

// TestLayering checks the direction of dependencies between the packages:
// abi depends on nothing of ours and does no I/O; capture knows nothing of
// FUSE decoding or mounts; decode does not reach the client or the mount.
func TestLayering(t *testing.T) {
	forbidden := map[string][]string{
		"/abi":     {module + "/", "os", "net", "io/fs", "syscall"},
		"/capture": {module + "/decode", module + "/client", module + "/mount"},
		"/decode":  {module + "/client", module + "/mount", "os", "net", "syscall"},
		"/client":  {module + "/mount", module + "/cmd"},
	}
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, module)
		bad, ok := forbidden[rel]
		if !ok {
			continue
		}
		for _, imp := range p.Imports {
			for _, b := range bad {
				if imp == b || (strings.HasSuffix(b, "/") && strings.HasPrefix(imp, b)) {
					t.Errorf("%s must not import %s", p.ImportPath, imp)
				}
			}
		}
	}
}
