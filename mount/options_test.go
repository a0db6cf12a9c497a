package mount

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	ko, ignored, err := parseMountOptions([]string{"rw,nosuid,nodev,allow_other,default_permissions,auto_unmount,fsname=DATA", "max_read=65536,subtype=demo", "ro,noexec"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"allow_other", "default_permissions", "max_read=65536"}; !slices.Equal(ko.data, want) {
		t.Errorf("data %q, want %q", ko.data, want)
	}
	if want := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_RDONLY | unix.MS_NOEXEC); ko.flags != want {
		t.Errorf("flags %#x, want %#x", ko.flags, want)
	}
	if ko.fsname != "DATA" || ko.subtype != "demo" || ko.maxRead != 65536 {
		t.Errorf("fsname %q subtype %q max_read %d", ko.fsname, ko.subtype, ko.maxRead)
	}
	if ko.fstype() != "fuse.demo" || ko.source() != "DATA" {
		t.Errorf("fstype %q source %q", ko.fstype(), ko.source())
	}
	if !slices.Equal(ignored, []string{"auto_unmount"}) {
		t.Errorf("ignored %q", ignored)
	}
	for _, bad := range []string{"fd=3", "max_read=x", "allow_other=1", "rootmode=40000"} {
		if _, _, err := parseMountOptions([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSocketName(t *testing.T) {
	a, b := SocketName("/mnt/x"), SocketName("/srv/x")
	if a == b {
		t.Errorf("different mountpoints share socket name %q", a)
	}
	if len(SocketName("/"+string(make([]byte, 300)))) > 100 {
		t.Errorf("socket name too long for sun_path")
	}
}
