#!/bin/sh
# captures.sh: regenerate testdata/captures/ — real sessions of real servers,
# recorded with `fusectl mount --capture` while a small workload runs through
# the kernel. Needs root, /dev/fuse, and the servers (scripts/deps.sh).
# Usage: scripts/captures.sh [OUTDIR]   (default testdata/captures)
set -eu

GO=${GO:-go}
out=${1:-testdata/captures}
mkdir -p bin "$out"
$GO build -o bin/fusectl ./cmd/fusectl
$GO build -o bin/demofs ./cmd/demofs
fusectl=$(pwd)/bin/fusectl
demofs=$(pwd)/bin/demofs
out=$(cd "$out" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fusectl-captures.XXXXXX")
pid=
cleanup() {
	status=$?
	cd /
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -INT "$pid"; wait "$pid" || true; fi
	grep -q " $tmp/" /proc/self/mountinfo && umount -l "$tmp"/mnt 2>/dev/null || true
	rm -rf "$tmp"
	exit $status
}
trap cleanup EXIT INT TERM

# session NAME WORKLOAD SERVER ARGS...: mount SERVER through fusectl with a
# capture to OUTDIR/NAME.fcap, run the shell function WORKLOAD in the mount,
# unmount.
session() {
	name=$1 work=$2
	shift 2
	mkdir -p "$tmp/mnt"
	"$fusectl" mount --capture "$out/$name.fcap" "$tmp/mnt" -- "$@" >"$tmp/$name.log" 2>&1 &
	pid=$!
	i=0
	until grep -q '^mounted ' "$tmp/$name.log"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "captures: $name did not mount:" >&2
			cat "$tmp/$name.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	(cd "$tmp/mnt" && $work) >/dev/null 2>&1 || { echo "captures: $name workload failed" >&2; exit 1; }
	kill -INT "$pid"
	wait "$pid"
	pid=
	echo "$name: $("$fusectl" decode --stats --json "$out/$name.fcap" | head -c 0)$(wc -c <"$out/$name.fcap") bytes"
}

rw_workload() {
	mkdir -p dir/sub
	printf 'hello, world\n' >dir/hello.txt
	head -c 131072 /dev/urandom >dir/data.bin
	cat dir/hello.txt dir/data.bin >/dev/null
	ln -s hello.txt dir/link
	readlink dir/link
	ln dir/hello.txt dir/hard
	setfattr -n user.note -v demo dir/hello.txt
	getfattr -d dir/hello.txt
	truncate -s 4 dir/hello.txt
	mv dir/hello.txt dir/sub/renamed.txt
	ls -la dir dir/sub
	stat dir/sub/renamed.txt
	cat dir/nonexistent 2>/dev/null || true
	rm -r dir
}

ro_workload() {
	find . -ls
	cat hello.txt
	cat dir/data.bin >/dev/null
	readlink link
	stat dir
	cat missing 2>/dev/null || true
}

# demofs: the in-repo go-fuse server.
session demofs rw_workload "$demofs" '{}'

# squashfuse (libfuse3): a read-only image.
mkdir -p "$tmp/tree/dir"
printf 'hello, world\n' >"$tmp/tree/hello.txt"
head -c 131072 /dev/urandom >"$tmp/tree/dir/data.bin"
ln -s hello.txt "$tmp/tree/link"
mksquashfs "$tmp/tree" "$tmp/img.sqfs" -quiet -noappend >/dev/null
session squashfuse ro_workload squashfuse -f "$tmp/img.sqfs" '{}'

# fuse-overlayfs (libfuse3, splices READ replies, sends INVAL_INODE).
mkdir -p "$tmp/lower" "$tmp/upper" "$tmp/work"
cp -a "$tmp/tree/." "$tmp/lower/"
session fuse-overlayfs rw_workload fuse-overlayfs -f -o "lowerdir=$tmp/lower,upperdir=$tmp/upper,workdir=$tmp/work" '{}'

# bindfs (libfuse2, through the namespace shim).
mkdir -p "$tmp/bindsrc"
session bindfs rw_workload bindfs -f "$tmp/bindsrc" '{}'
