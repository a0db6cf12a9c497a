#!/usr/bin/env bash
# Installs the Debian packages fusectl's tests and demo use, if any is
# missing: real FUSE servers to test against (squashfuse, fuse-overlayfs,
# bindfs, ntfs-3g with its mkntfs, mergerfs, fuse2fs, unionfs-fuse,
# gocryptfs, rclone), fusermount3, mksquashfs, tshark/capinfos for format
# interop, setfattr/getfattr, and strace for the benchmarks. Does nothing when all are present.
set -euo pipefail
need=(fuse3 squashfuse squashfs-tools fuse-overlayfs bindfs ntfs-3g mergerfs fuse2fs unionfs-fuse gocryptfs rclone tshark attr strace)
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "deps: missing packages: ${missing[*]} (install them as root; tests that need them will skip)" >&2
	exit 0
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
