package mount

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fusectl/fusectl/client/launch"
)

func TestParseMountinfo(t *testing.T) {
	const text = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:39 / /mnt/with\040space rw,nosuid,nodev,relatime shared:20 - fuse.bindfs /srv/data rw,user_id=0,group_id=0,default_permissions,allow_other
41 22 0:40 / /mnt/plain rw,nosuid,nodev - fuse fusectl rw,user_id=0,group_id=0
42 22 8:17 / /mnt/blk rw - fuseblk /dev/sdb1 rw,user_id=0
bad line without separator
43 22 x:y / /mnt/bad rw - fuse a rw
`
	got, err := ParseMountinfo(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []FUSEMount{
		{Mountpoint: "/mnt/with space", FSType: "fuse.bindfs", Source: "/srv/data", Minor: 39, Options: "rw,nosuid,nodev,relatime,rw,user_id=0,group_id=0,default_permissions,allow_other"},
		{Mountpoint: "/mnt/plain", FSType: "fuse", Source: "fusectl", Minor: 40, Options: "rw,nosuid,nodev,rw,user_id=0,group_id=0"},
		{Mountpoint: "/mnt/blk", FSType: "fuseblk", Source: "/dev/sdb1", Major: 8, Minor: 17, Options: "rw,rw,user_id=0"},
	}
	// The control file system names a fuseblk connection by its block
	// device: 8:17 as the kernel encodes it.
	wantConn := []uint32{39, 40, 8<<20 | 17}
	if len(got) != len(want) {
		t.Fatalf("got %d mounts %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mount %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
		if c := got[i].Conn(); c != wantConn[i] {
			t.Errorf("mount %d: Conn() = %d, want %d", i, c, wantConn[i])
		}
	}
}

func TestMayAbort(t *testing.T) {
	user := FUSEMount{Mountpoint: "/home/u/m", Options: "rw,nosuid,rw,user_id=1000,group_id=1000"}
	for _, tt := range []struct {
		fm   FUSEMount
		euid int
		ok   bool
	}{
		{user, 0, true},
		{user, 1000, true},
		{user, 1001, false},
		{FUSEMount{Mountpoint: "/m", Options: "rw,user_id=0"}, 1000, false},
		// No user_id to go by: let the kernel decide.
		{FUSEMount{Mountpoint: "/m", Options: "rw"}, 1000, true},
	} {
		err := mayAbort(tt.fm, tt.euid)
		if (err == nil) != tt.ok {
			t.Errorf("mayAbort(%q, euid %d) = %v, want ok %v", tt.fm.Options, tt.euid, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), tt.fm.Mountpoint+" is a mount of uid ") {
			t.Errorf("error %q does not say whose mount it is", err)
		}
	}
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add("40 22 0:39 / /mnt/a\\040b rw - fuse.x src rw\n")
	f.Add("1 2 3:4 / /x\\ - fuse s o\n")
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseMountinfo(strings.NewReader(s))
		if err != nil && ms != nil && len(ms) > strings.Count(s, "\n")+1 {
			t.Fatalf("more mounts than lines")
		}
		for _, m := range ms {
			if !launch.IsFUSEType(m.FSType) {
				t.Fatalf("non-FUSE type %q returned", m.FSType)
			}
			if uid, ok := m.Owner(); ok && !strings.Contains(m.Options, "user_id=") {
				t.Fatalf("owner %d without a user_id option in %q", uid, m.Options)
			}
			// Each FUSE mount is in its mountpoint's stack.
			ours, _, err := stackAt(strings.NewReader(s), m.Mountpoint, m.Conn())
			if err == nil && !ours {
				t.Fatalf("%+v not found at its mountpoint", m)
			}
		}
	})
}

// TestStackAt: which mount is on top of a mountpoint, from mountinfo.
func TestStackAt(t *testing.T) {
	const (
		tmpfs = "30 20 0:40 / /mnt/x rw - tmpfs x rw\n"
		ours  = "31 30 0:41 / /mnt/x rw - fuse.demofs fusectl rw\n"
		other = "32 31 0:42 / /mnt/x rw - tmpfs y rw\n"
		else_ = "33 20 0:43 / /mnt/y rw - fuse.demofs fusectl rw\n"
	)
	for _, c := range []struct {
		info    string
		ours    bool
		top     string
		covered string
	}{
		{tmpfs + ours, true, "", ""},
		{tmpfs + ours + other, true, "tmpfs", "tmpfs"},
		// Unmounted: the tmpfs that was under it is no cover.
		{tmpfs + else_, false, "tmpfs", ""},
	} {
		ours, top, err := stackAt(strings.NewReader(c.info), "/mnt/x", 41)
		if err != nil || ours != c.ours || top != c.top {
			t.Errorf("stackAt of\n%s= %v, %q, %v; want %v, %q", c.info, ours, top, err, c.ours, c.top)
		}
		covered := ""
		if ours {
			covered = top
		}
		if covered != c.covered {
			t.Errorf("covered %q, want %q", covered, c.covered)
		}
	}
}

// TestMatchPathSparesFUSE: a name is resolved through symbolic links to
// find its mount, except on or under a FUSE mount, which a stat of a hung
// one would wait on: there the name is taken as it is.
func TestMatchPathSparesFUSE(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.Symlink(target, filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	isTarget := func(p string) bool { return p == target }
	if !matchPath(filepath.Join(dir, "l"), nil, isTarget) {
		t.Errorf("a link to the mountpoint was not followed")
	}
	if matchPath(filepath.Join(dir, "l"), []FUSEMount{{Mountpoint: dir}}, isTarget) {
		t.Errorf("a link under a FUSE mount was followed")
	}
}
