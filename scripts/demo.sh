#!/bin/sh
# demo.sh: mount the in-repo demo server through `fusectl mount` with a
# capture, run a small workload, unmount, and show what was recorded.
# Run by `make demo`; needs /dev/fuse (and fusermount3 when not root).
set -eu

GO=${GO:-go}
BIN=${BIN:-bin}

$GO build -o "$BIN/fusectl" ./cmd/fusectl
$GO build -o "$BIN/demofs" ./cmd/demofs
fusectl=$(cd "$BIN" && pwd)/fusectl
demofs=$(cd "$BIN" && pwd)/demofs

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fusectl-demo.XXXXXX")
mnt=$tmp/mnt
fcap=$tmp/demo.fcap
mkdir "$mnt"
pid=

cleanup() {
	status=$?
	cd /
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -INT "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if grep -q " $mnt " /proc/self/mountinfo 2>/dev/null; then
		if [ "$(id -u)" = 0 ]; then umount -l "$mnt"; else fusermount3 -u -z "$mnt"; fi
	fi
	rm -rf "$tmp"
	exit $status
}
trap cleanup EXIT INT TERM

echo "== fusectl mount --capture $fcap $mnt -- demofs {}"
"$fusectl" mount --capture "$fcap" "$mnt" -- "$demofs" '{}' >"$tmp/mount.log" 2>&1 &
pid=$!
i=0
until grep -q '^mounted ' "$tmp/mount.log"; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "demo: the mount did not come up:" >&2
		cat "$tmp/mount.log" >&2
		exit 1
	fi
	sleep 0.1
done
sed -n 's/^/  /p' "$tmp/mount.log"

echo "== workload: mkdir, write, cat, ls, rename, rm"
(
	set -x
	cd "$mnt"
	mkdir notes
	echo "hello from fusectl" >notes/hello.txt
	cat notes/hello.txt
	ls -l notes
	mv notes/hello.txt notes/greeting.txt
	rm -r notes
) 2>&1 | sed 's/^/  /'

echo "== unmount (Ctrl-C to fusectl mount)"
kill -INT "$pid"
wait "$pid" || { echo "demo: fusectl mount failed:" >&2; cat "$tmp/mount.log" >&2; exit 1; }
pid=
sed -n 's/^unmounted/  unmounted/p' "$tmp/mount.log"

echo "== fusectl decode --stats"
"$fusectl" decode --stats "$fcap"
echo "== fusectl decode (the write and the rename)"
"$fusectl" decode "$fcap" | grep -E ' (CREATE|WRITE|RENAME2?) ' | head -n 8
