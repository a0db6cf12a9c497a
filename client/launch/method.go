package launch

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Method is a way of handing a FUSE server its end of the socketpair.
type Method int

const (
	// Auto picks a method with DetectMethod.
	Auto Method = iota
	// DevFD passes the socket as inherited descriptor 3 and /dev/fd/3 as
	// the mountpoint (libfuse3, go-fuse, jacobsa/fuse).
	DevFD
	// ShimPath puts a fake fusermount first on PATH (bazil; mergerfs
	// where Intercept cannot run).
	ShimPath
	// ShimNamespace runs the server in a private mount namespace with the
	// shim bind-mounted over the real fusermount and -o auto_unmount added
	// (libfuse2 where Intercept cannot run).
	ShimNamespace
	// Intercept answers the server's own open of /dev/fuse and mount(2)
	// through a seccomp filter (ntfs-3g, libfuse2, mergerfs, and any
	// server that mounts by itself); see intercept.go.
	Intercept
)

var methodNames = [...]string{
	Auto:          "auto",
	DevFD:         "devfd",
	ShimPath:      "shim-path",
	ShimNamespace: "shim-namespace",
	Intercept:     "intercept",
}

// String returns the name ParseMethod accepts.
func (m Method) String() string {
	if m >= 0 && int(m) < len(methodNames) {
		return methodNames[m]
	}
	return fmt.Sprintf("method(%d)", int(m))
}

// ParseMethod parses a --method flag: auto, devfd, shim-path,
// shim-namespace or intercept (also accepted: dev-fd, path, namespace, ns,
// seccomp, and the letters A to D of the methods' usual order, D being the
// open-and-mount interception that intercept does).
func ParseMethod(s string) (Method, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return Auto, nil
	case "devfd", "dev-fd", "fd", "a":
		return DevFD, nil
	case "shim-path", "shimpath", "path", "b":
		return ShimPath, nil
	case "shim-namespace", "shimnamespace", "shim-ns", "namespace", "ns", "c":
		return ShimNamespace, nil
	case "intercept", "seccomp", "d":
		return Intercept, nil
	}
	return Auto, fmt.Errorf("%w: %q (want auto, devfd, shim-path, shim-namespace or intercept)", ErrBadMethod, s)
}

// Go FUSE libraries, found in a binary's build information. go-fuse and
// jacobsa/fuse take /dev/fd/N; bazil.org/fuse always runs fusermount from
// PATH.
var (
	devFDModules = []string{"github.com/hanwen/go-fuse", "github.com/jacobsa/fuse"}
	bazilModule  = "bazil.org/fuse"
)

// DetectMethod inspects the executable at path (looked up on PATH when it
// has no slash) and returns the method to use with a reason for logs. A
// binary it does not recognise gets DevFD, the method needing nothing.
// Servers that open /dev/fuse and call mount(2) themselves get Intercept:
// ntfs-3g always does, and libfuse2 and mergerfs's fork do as root and
// without auto_unmount (elsewhere the mount(2) Intercept fakes is the one
// that fails with EPERM, and they never reach fusermount). So do Go
// binaries built with bazil.org/fuse, or whose build information names no
// modules (Debian's rclone): Intercept also puts the shim on PATH, and
// then serves every Go library, where /dev/fd/N fails bazil's. Where
// Intercept cannot run (no filter for the architecture, or Linux before
// 5.14) they get the namespace or PATH shim instead.
func DetectMethod(path string) (Method, string, error) {
	x, err := inspect(path)
	if err != nil {
		return Auto, "", err
	}
	m, reason := detectMethod(x, interceptAvailable() == nil)
	return m, reason, nil
}

// detectMethod is DetectMethod for an inspected executable, told whether
// Intercept can run.
func detectMethod(x executable, interceptOK bool) (Method, string) {
	f, ferr := elf.Open(x.path)
	if ferr == nil {
		defer f.Close()
		// A C library first, for Go binaries too: cgofuse links libfuse.
		libs, _ := f.ImportedLibraries()
		for _, l := range libs {
			switch {
			case strings.HasPrefix(l, "libfuse3.so"):
				return DevFD, "links " + l + " (libfuse3 takes /dev/fd/N)"
			case strings.HasPrefix(l, "libfuse.so"):
				if interceptOK {
					return Intercept, "links " + l + " (libfuse2 mounts by itself as root, else execs /bin/fusermount)"
				}
				return ShimNamespace, "links " + l + " (libfuse2 execs /bin/fusermount)"
			case strings.HasPrefix(l, "libntfs-3g.so"):
				return Intercept, "links " + l + " (its built-in fuse-lite opens /dev/fuse and mounts by itself)"
			}
		}
	}
	if x.isGo {
		find := func(libs ...string) string {
			for _, m := range x.goMods {
				for _, lib := range libs {
					if hasModule(m, lib) {
						return m
					}
				}
			}
			return ""
		}
		// rclone has go-fuse (for mount2) and bazil (for mount), and
		// its command line does not say which one will run. bazil runs
		// fusermount from PATH; the PATH shim serves go-fuse and jacobsa
		// given a directory too.
		if m := find(bazilModule); m != "" {
			if interceptOK {
				return Intercept, "Go binary built with " + m + " (it runs fusermount from PATH; intercept's PATH shim serves it and any other library it holds)"
			}
			return ShimPath, "Go binary built with " + m + " (runs fusermount from PATH; the PATH shim serves any other Go library it holds)"
		}
		if m := find(devFDModules...); m != "" {
			return DevFD, "Go binary built with " + m
		}
		if len(x.goMods) == 1 {
			if interceptOK {
				return Intercept, "Go binary whose build information names no modules (its FUSE library is unknown; intercept with its PATH shim serves them all)"
			}
			return ShimPath, "Go binary whose build information names no modules (its FUSE library is unknown; the PATH shim serves every Go library)"
		}
		return DevFD, "Go binary without a known FUSE library"
	}
	if ferr != nil {
		return DevFD, "not an ELF executable (script?): trying devfd"
	}
	if elfContains(f, "mergerfs-fusermount") {
		if interceptOK {
			return Intercept, "bundles a libfuse2 fork that mounts by itself as root"
		}
		return ShimPath, "bundles a libfuse2 fork that runs mergerfs-fusermount from PATH"
	}
	return DevFD, "no FUSE library recognised: trying devfd"
}

// Go FUSE libraries that write every reply with write(2) or writev(2) and
// never splice: a server built on them alone sends each READ reply as one
// datagram, so its READ replies need no 14-page clamp. go-fuse splices
// ReadResultFd data, and libfuse splices when the file system asks for it.
var neverSplicing = []string{"github.com/jacobsa/fuse", "bazil.org/fuse"}

// NeverSplices reports whether the executable at path is known never to
// splice its replies: a Go binary built with jacobsa/fuse or bazil.org/fuse
// and without go-fuse (rclone has both go-fuse and bazil). reason says why,
// for logs. Anything not recognised may splice.
func NeverSplices(path string) (bool, string) {
	x, err := inspect(path)
	if err != nil {
		return false, ""
	}
	return neverSplices(x)
}

// neverSplices is NeverSplices for an inspected executable.
func neverSplices(x executable) (bool, string) {
	found := ""
	for _, p := range x.goMods {
		if hasModule(p, "github.com/hanwen/go-fuse") {
			return false, ""
		}
		for _, m := range neverSplicing {
			if hasModule(p, m) {
				found = m
			}
		}
	}
	if found == "" {
		return false, ""
	}
	return true, "Go binary built with " + found + ", which writes replies with write(2)"
}

// goModulesOf returns the module paths in the build information of the Go
// binary at path: the main module first (a library's own samples are built
// in it), then the dependencies. ok is false if path is not a Go binary.
func goModulesOf(path string) (mods []string, ok bool) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, false
	}
	mods = []string{bi.Main.Path}
	for _, d := range bi.Deps {
		mods = append(mods, d.Path)
	}
	return mods, true
}

// executable is what the launch methods go by: a server's resolved path
// and, for a Go binary, the modules of its build information. Start reads
// that once: it takes tens of milliseconds for a large binary (rclone).
type executable struct {
	path   string
	isGo   bool
	goMods []string // nil unless isGo
}

// inspect resolves path the way exec does and reads its build information.
func inspect(path string) (executable, error) {
	resolved, err := lookPath(path)
	if err != nil {
		return executable{}, err
	}
	x := executable{path: resolved}
	x.goMods, x.isGo = goModulesOf(resolved)
	return x, nil
}

// hasModule reports whether module path p is m or one of its sub-modules.
func hasModule(p, m string) bool { return p == m || strings.HasPrefix(p, m+"/") }

// lookPath resolves a command name the way exec does.
func lookPath(path string) (string, error) {
	p, err := exec.LookPath(path)
	if err != nil {
		return "", fmt.Errorf("find server executable: %w", err)
	}
	return filepath.Abs(p)
}

// elfContains reports whether a read-only data section holds s.
func elfContains(f *elf.File, s string) bool {
	for _, name := range []string{".rodata", ".data"} {
		sec := f.Section(name)
		if sec == nil || sec.Type == elf.SHT_NOBITS || sec.Size > 256<<20 {
			continue
		}
		data, err := sec.Data()
		if err == nil && bytes.Contains(data, []byte(s)) {
			return true
		}
	}
	return false
}

// isMergerfs reports whether the server needs -o auto_unmount under
// ShimPath: mergerfs mounts directly as root unless told to use fusermount.
func isMergerfs(path string) bool {
	if strings.HasPrefix(filepath.Base(path), "mergerfs") {
		return true
	}
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return elfContains(f, "mergerfs-fusermount")
}
