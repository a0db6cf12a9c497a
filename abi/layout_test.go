package abi

import (
	"encoding/binary"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// referenceLayouts lists every struct of the FUSE 7.45 header with its
// size and its fields as "offset:size name", transcribed from the protocol
// reference (§1.1, §1.2, §1.4, §2.1, §2.2, §4), which took them from the
// compiled header. Padding, dummy, unused, spare and reserved fields are
// blank (_) in Go.
var referenceLayouts = []struct {
	kernel string
	v      codec
	size   int
	fields string
}{
	{"fuse_attr", new(Attr), 88, "0:8 ino, 8:8 size, 16:8 blocks, 24:8 atime, 32:8 mtime, 40:8 ctime, 48:4 atimensec, 52:4 mtimensec, 56:4 ctimensec, 60:4 mode, 64:4 nlink, 68:4 uid, 72:4 gid, 76:4 rdev, 80:4 blksize, 84:4 flags"},
	{"fuse_entry_out", new(EntryOut), 128, "0:8 nodeid, 8:8 generation, 16:8 entry_valid, 24:8 attr_valid, 32:4 entry_valid_nsec, 36:4 attr_valid_nsec, 40:88 attr"},
	{"fuse_attr_out", new(AttrOut), 104, "0:8 attr_valid, 8:4 attr_valid_nsec, 12:4 dummy, 16:88 attr"},
	{"fuse_forget_in", new(ForgetIn), 8, "0:8 nlookup"},
	{"fuse_forget_one", new(ForgetOne), 16, "0:8 nodeid, 8:8 nlookup"},
	{"fuse_batch_forget_in", new(BatchForgetIn), 8, "0:4 count, 4:4 dummy"},
	{"fuse_getattr_in", new(GetattrIn), 16, "0:4 getattr_flags, 4:4 dummy, 8:8 fh"},
	{"fuse_setattr_in", new(SetattrIn), 88, "0:4 valid, 4:4 padding, 8:8 fh, 16:8 size, 24:8 lock_owner, 32:8 atime, 40:8 mtime, 48:8 ctime, 56:4 atimensec, 60:4 mtimensec, 64:4 ctimensec, 68:4 mode, 72:4 unused4, 76:4 uid, 80:4 gid, 84:4 unused5"},
	{"fuse_mknod_in", new(MknodIn), 16, "0:4 mode, 4:4 rdev, 8:4 umask, 12:4 padding"},
	{"fuse_mkdir_in", new(MkdirIn), 8, "0:4 mode, 4:4 umask"},
	{"fuse_rename_in", new(RenameIn), 8, "0:8 newdir"},
	{"fuse_rename2_in", new(Rename2In), 16, "0:8 newdir, 8:4 flags, 12:4 padding"},
	{"fuse_link_in", new(LinkIn), 8, "0:8 oldnodeid"},
	{"fuse_open_in", new(OpenIn), 8, "0:4 flags, 4:4 open_flags"},
	{"fuse_create_in", new(CreateIn), 16, "0:4 flags, 4:4 mode, 8:4 umask, 12:4 open_flags"},
	{"fuse_open_out", new(OpenOut), 16, "0:8 fh, 8:4 open_flags, 12:4 backing_id"},
	{"fuse_release_in", new(ReleaseIn), 24, "0:8 fh, 8:4 flags, 12:4 release_flags, 16:8 lock_owner"},
	{"fuse_flush_in", new(FlushIn), 24, "0:8 fh, 8:4 unused, 12:4 padding, 16:8 lock_owner"},
	{"fuse_read_in", new(ReadIn), 40, "0:8 fh, 8:8 offset, 16:4 size, 20:4 read_flags, 24:8 lock_owner, 32:4 flags, 36:4 padding"},
	{"fuse_write_in", new(WriteIn), 40, "0:8 fh, 8:8 offset, 16:4 size, 20:4 write_flags, 24:8 lock_owner, 32:4 flags, 36:4 padding"},
	{"fuse_write_out", new(WriteOut), 8, "0:4 size, 4:4 padding"},
	{"fuse_kstatfs", new(Kstatfs), 80, "0:8 blocks, 8:8 bfree, 16:8 bavail, 24:8 files, 32:8 ffree, 40:4 bsize, 44:4 namelen, 48:4 frsize, 52:4 padding, 56:24 spare"},
	{"fuse_fsync_in", new(FsyncIn), 16, "0:8 fh, 8:4 fsync_flags, 12:4 padding"},
	{"fuse_setxattr_in", new(SetxattrIn), 16, "0:4 size, 4:4 flags, 8:4 setxattr_flags, 12:4 padding"},
	{"fuse_getxattr_in", new(GetxattrIn), 8, "0:4 size, 4:4 padding"},
	{"fuse_getxattr_out", new(GetxattrOut), 8, "0:4 size, 4:4 padding"},
	{"fuse_file_lock", new(FileLock), 24, "0:8 start, 8:8 end, 16:4 type, 20:4 pid"},
	{"fuse_lk_in", new(LkIn), 48, "0:8 fh, 8:8 owner, 16:24 lk, 40:4 lk_flags, 44:4 padding"},
	{"fuse_lk_out", new(LkOut), 24, "0:24 lk"},
	{"fuse_access_in", new(AccessIn), 8, "0:4 mask, 4:4 padding"},
	{"fuse_init_in", new(InitIn), 64, "0:4 major, 4:4 minor, 8:4 max_readahead, 12:4 flags, 16:4 flags2, 20:44 unused"},
	{"fuse_init_out", new(InitOut), 64, "0:4 major, 4:4 minor, 8:4 max_readahead, 12:4 flags, 16:2 max_background, 18:2 congestion_threshold, 20:4 max_write, 24:4 time_gran, 28:2 max_pages, 30:2 map_alignment, 32:4 flags2, 36:4 max_stack_depth, 40:2 request_timeout, 42:22 unused"},
	{"cuse_init_in", new(CuseInitIn), 16, "0:4 major, 4:4 minor, 8:4 unused, 12:4 flags"},
	{"cuse_init_out", new(CuseInitOut), 72, "0:4 major, 4:4 minor, 8:4 unused, 12:4 flags, 16:4 max_read, 20:4 max_write, 24:4 dev_major, 28:4 dev_minor, 32:40 spare"},
	{"fuse_interrupt_in", new(InterruptIn), 8, "0:8 unique"},
	{"fuse_bmap_in", new(BmapIn), 16, "0:8 block, 8:4 blocksize, 12:4 padding"},
	{"fuse_bmap_out", new(BmapOut), 8, "0:8 block"},
	{"fuse_ioctl_in", new(IoctlIn), 32, "0:8 fh, 8:4 flags, 12:4 cmd, 16:8 arg, 24:4 in_size, 28:4 out_size"},
	{"fuse_ioctl_iovec", new(IoctlIovec), 16, "0:8 base, 8:8 len"},
	{"fuse_ioctl_out", new(IoctlOut), 16, "0:4 result, 4:4 flags, 8:4 in_iovs, 12:4 out_iovs"},
	{"fuse_poll_in", new(PollIn), 24, "0:8 fh, 8:8 kh, 16:4 flags, 20:4 events"},
	{"fuse_poll_out", new(PollOut), 8, "0:4 revents, 4:4 padding"},
	{"fuse_fallocate_in", new(FallocateIn), 32, "0:8 fh, 8:8 offset, 16:8 length, 24:4 mode, 28:4 padding"},
	{"fuse_dirent", new(Dirent), 24, "0:8 ino, 8:8 off, 16:4 namelen, 20:4 type"},
	{"fuse_direntplus", new(Direntplus), 152, "0:128 entry_out, 128:24 dirent"},
	{"fuse_lseek_in", new(LseekIn), 24, "0:8 fh, 8:8 offset, 16:4 whence, 20:4 padding"},
	{"fuse_lseek_out", new(LseekOut), 8, "0:8 offset"},
	{"fuse_copy_file_range_in", new(CopyFileRangeIn), 56, "0:8 fh_in, 8:8 off_in, 16:8 nodeid_out, 24:8 fh_out, 32:8 off_out, 40:8 len, 48:8 flags"},
	{"fuse_copy_file_range_out", new(CopyFileRangeOut), 8, "0:8 bytes_copied"},
	{"fuse_setupmapping_in", new(SetupmappingIn), 40, "0:8 fh, 8:8 foffset, 16:8 len, 24:8 flags, 32:8 moffset"},
	{"fuse_removemapping_in", new(RemovemappingIn), 4, "0:4 count"},
	{"fuse_removemapping_one", new(RemovemappingOne), 16, "0:8 moffset, 8:8 len"},
	{"fuse_syncfs_in", new(SyncfsIn), 8, "0:8 padding"},
	{"fuse_statx_in", new(StatxIn), 24, "0:4 getattr_flags, 4:4 reserved, 8:8 fh, 16:4 sx_flags, 20:4 sx_mask"},
	{"fuse_sx_time", new(SxTime), 16, "0:8 tv_sec, 8:4 tv_nsec, 12:4 reserved"},
	{"fuse_statx", new(Statx), 256, "0:4 mask, 4:4 blksize, 8:8 attributes, 16:4 nlink, 20:4 uid, 24:4 gid, 28:2 mode, 30:2 spare0, 32:8 ino, 40:8 size, 48:8 blocks, 56:8 attributes_mask, 64:16 atime, 80:16 btime, 96:16 ctime, 112:16 mtime, 128:4 rdev_major, 132:4 rdev_minor, 136:4 dev_major, 140:4 dev_minor, 144:112 spare2"},
	{"fuse_statx_out", new(StatxOut), 288, "0:8 attr_valid, 8:4 attr_valid_nsec, 12:4 flags, 16:16 spare, 32:256 stat"},
	{"fuse_notify_retrieve_in", new(NotifyRetrieveIn), 40, "0:8 dummy1, 8:8 offset, 16:4 size, 20:4 dummy2, 24:8 dummy3, 32:8 dummy4"},
	{"fuse_notify_poll_wakeup_out", new(NotifyPollWakeupOut), 8, "0:8 kh"},
	{"fuse_notify_inval_inode_out", new(NotifyInvalInodeOut), 24, "0:8 ino, 8:8 off, 16:8 len"},
	{"fuse_notify_inval_entry_out", new(NotifyInvalEntryOut), 16, "0:8 parent, 8:4 namelen, 12:4 flags"},
	{"fuse_notify_store_out", new(NotifyStoreOut), 24, "0:8 nodeid, 8:8 offset, 16:4 size, 20:4 padding"},
	{"fuse_notify_retrieve_out", new(NotifyRetrieveOut), 32, "0:8 notify_unique, 8:8 nodeid, 16:8 offset, 24:4 size, 28:4 padding"},
	{"fuse_notify_delete_out", new(NotifyDeleteOut), 24, "0:8 parent, 8:8 child, 16:4 namelen, 20:4 padding"},
	{"fuse_notify_prune_out", new(NotifyPruneOut), 16, "0:4 count, 4:4 padding, 8:8 spare"},
	{"fuse_uring_ent_in_out", new(UringEntInOut), 32, "0:8 flags, 8:8 commit_id, 16:4 payload_sz, 20:4 padding, 24:8 reserved"},
	{"fuse_uring_cmd_req", new(UringCmdReq), 24, "0:8 flags, 8:8 commit_id, 16:2 qid, 18:6 padding"},
	{"fuse_backing_map", new(BackingMap), 16, "0:4 fd, 4:4 flags, 8:8 padding"},
	{"fuse_in_header", new(InHeader), 40, "0:4 len, 4:4 opcode, 8:8 unique, 16:8 nodeid, 24:4 uid, 28:4 gid, 32:4 pid, 36:2 total_extlen, 38:2 padding"},
	{"fuse_out_header", new(OutHeader), 16, "0:4 len, 4:4 error, 8:8 unique"},
	{"fuse_statfs_out", new(StatfsOut), 80, "0:80 st"},
	{"fuse_ext_header", new(ExtHeader), 8, "0:4 size, 4:4 type"},
	{"fuse_secctx_header", new(SecctxHeader), 8, "0:4 size, 4:4 nr_secctx"},
	{"fuse_secctx", new(Secctx), 8, "0:4 size, 4:4 padding"},
	{"fuse_supp_groups", new(SuppGroups), 4, "0:4 nr_groups"},
	{"fuse_uring_req_header", new(UringReqHeader), 288, "0:128 in_out, 128:128 op_in, 256:32 ring_ent_in_out"},
}

func TestSizes(t *testing.T) {
	seen := map[string]bool{}
	for _, tt := range referenceLayouts {
		name := reflect.TypeOf(tt.v).Elem().Name()
		seen[name] = true
		if got := tt.v.SizeBytes(); got != tt.size {
			t.Errorf("%s (%s): SizeBytes() = %d, want %d", name, tt.kernel, got, tt.size)
		}
		if got := binary.Size(tt.v); got != tt.size {
			t.Errorf("%s (%s): binary.Size = %d, want %d", name, tt.kernel, got, tt.size)
		}
		// The Go layout must match too, so that the structs can be used
		// as they are for a host-layout copy (unsafe casts are not used
		// here, but HostLayout promises it).
		if got := int(reflect.TypeOf(tt.v).Elem().Size()); got != tt.size {
			t.Errorf("%s (%s): Go size = %d, want %d", name, tt.kernel, got, tt.size)
		}
	}
	for _, l := range generatedLayouts {
		if !seen[l.name] {
			t.Errorf("%s has a codec but no reference layout", l.name)
		}
	}
	if len(seen) != len(generatedLayouts) {
		t.Errorf("%d reference layouts for %d generated codecs", len(seen), len(generatedLayouts))
	}
}

// normalize turns a Go or kernel field name into the kernel's spelling without
// underscores, for comparison: "EntryValidNsec" -> "entryvalidnsec".
func normalize(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "_", ""))
}

func TestFieldLayouts(t *testing.T) {
	gen := map[string]typeLayout{}
	for _, l := range generatedLayouts {
		gen[l.name] = l
	}
	for _, tt := range referenceLayouts {
		name := reflect.TypeOf(tt.v).Elem().Name()
		l, ok := gen[name]
		if !ok {
			t.Errorf("%s: no generated layout", name)
			continue
		}
		var want []fieldLayout
		for _, f := range strings.Split(tt.fields, ", ") {
			offSize, fname, _ := strings.Cut(f, " ")
			o, s, _ := strings.Cut(offSize, ":")
			off, err1 := strconv.Atoi(o)
			size, err2 := strconv.Atoi(s)
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: bad reference field %q", tt.kernel, f)
			}
			want = append(want, fieldLayout{fname, off, size})
		}
		if len(l.fields) != len(want) {
			t.Errorf("%s: %d fields, reference has %d: %v", name, len(l.fields), len(want), l.fields)
			continue
		}
		for i, w := range want {
			g := l.fields[i]
			if g.off != w.off || g.size != w.size {
				t.Errorf("%s.%s: at %d:%d, reference %s at %d:%d", name, g.name, g.off, g.size, w.name, w.off, w.size)
			}
			if g.name == "_" {
				continue
			}
			if normalize(g.name) != normalize(w.name) {
				t.Errorf("%s.%s: reference calls it %s", name, g.name, w.name)
			}
		}
	}
}

// TestSignedFields pins the signedness of every named field: the header
// declares only these as signed (int32_t, int64_t); every other field is
// unsigned. The layout tables above compare sizes only, which a uint32 in
// place of an int32 would pass.
func TestSignedFields(t *testing.T) {
	want := map[string]bool{
		"SxTime.TvSec": true, "OpenOut.BackingID": true, "IoctlOut.Result": true,
		"OutHeader.Error": true, "NotifyInvalInodeOut.Off": true, "NotifyInvalInodeOut.Len": true,
		"BackingMap.Fd": true,
	}
	for _, tt := range referenceLayouts {
		typ := reflect.TypeOf(tt.v).Elem()
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Name == "_" {
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Array {
				ft = ft.Elem()
			}
			var signed bool
			switch ft.Kind() {
			case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				signed = true
			case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Struct:
			default:
				t.Errorf("%s.%s: unexpected kind %v", typ.Name(), f.Name, ft.Kind())
			}
			name := typ.Name() + "." + f.Name
			if signed != want[name] {
				t.Errorf("%s (%s): signed %v, header says %v", name, ft, signed, want[name])
			}
			delete(want, name)
		}
	}
	for name := range want {
		t.Errorf("%s: no such field", name)
	}
}
