#!/usr/bin/env bash
# Fetch a Debian ARM kernel and busybox-static for whole-system boots under QEMU.
#
# Usage: qemu/fetch.sh ARCH          (ARCH: arm64 or armhf)
#
# The packages are downloaded with apt-get from Debian's archive (dpkg's
# multiarch support gives apt the ARM package lists) and unpacked with
# dpkg-deb into the cache folder:
#   ${CAMCERTD_QEMU_CACHE:-$HOME/.cache/camcertd-qemu}/ARCH/
#     debs/     the downloaded .deb files
#     root/     their unpacked contents (boot/vmlinuz-*, lib/modules/*, bin/busybox)
#     vmlinuz   the kernel image to boot
#     kver      the kernel release, for example 6.1.0-57-arm64
#     complete  stamp written last; when it exists and names the same kernel
#               package, the script does nothing
#
# CAMCERTD_QEMU_KERNEL_PKG overrides the kernel metapackage (default
# linux-image-arm64 or linux-image-armmp), for example linux-image-cloud-arm64.
#
# Runs as root because it installs host packages and changes dpkg's list of
# architectures.
set -euo pipefail

usage() {
    echo "usage: $0 arm64|armhf" >&2
    exit 2
}

[ $# -eq 1 ] || usage
arch=$1
case "$arch" in
    arm64) default_kernel_pkg=linux-image-arm64 ;;
    # armmp is Debian's multiplatform ARMv7 kernel and drives QEMU's virt board.
    armhf) default_kernel_pkg=linux-image-armmp ;;
    *) usage ;;
esac
kernel_meta_pkg=${CAMCERTD_QEMU_KERNEL_PKG:-$default_kernel_pkg}

cache_root=${CAMCERTD_QEMU_CACHE:-$HOME/.cache/camcertd-qemu}
cache=$cache_root/$arch

if [ "$(id -u)" -ne 0 ]; then
    echo "$0: must run as root (apt-get install, dpkg --add-architecture)" >&2
    exit 1
fi

# Host tools for the other scripts in this folder. qemu-system-arm provides
# both qemu-system-aarch64 and qemu-system-arm. The cross compiler builds the
# guest's settime helper (qemu/settime.c) as a static binary.
case "$arch" in
    arm64) cross_gcc=aarch64-linux-gnu-gcc cross_pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross) ;;
    armhf) cross_gcc=arm-linux-gnueabihf-gcc cross_pkgs=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross) ;;
esac
missing=()
command -v qemu-system-aarch64 >/dev/null || missing+=(qemu-system-arm)
command -v "$cross_gcc" >/dev/null || missing+=("${cross_pkgs[@]}")
command -v cpio >/dev/null || missing+=(cpio)
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
# test-boot.sh runs curl under faketime when the guest clock is moved, and
# the ARM camcertd under qemu-user to hash the test password.
command -v faketime >/dev/null || missing+=(faketime)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
apt_updated=no
if [ ${#missing[@]} -gt 0 ]; then
    echo "fetch.sh: installing host packages: ${missing[*]}"
    apt-get update -q
    apt_updated=yes
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

stamp=$cache/complete
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$kernel_meta_pkg" ] \
    && [ -f "$cache/vmlinuz" ] && [ -f "$cache/kver" ] && [ -x "$cache/root/bin/busybox" ]; then
    echo "fetch.sh: $cache is complete ($kernel_meta_pkg, kernel $(cat "$cache/kver"))"
    exit 0
fi

# The ARM package lists appear only after the architecture is added and the
# lists are updated.
if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    dpkg --add-architecture "$arch"
    apt_updated=no
fi
if [ "$apt_updated" = no ]; then
    apt-get update -q
fi

# The metapackage is empty. The kernel and its modules are in the versioned
# package it depends on, for example linux-image-6.1.0-57-arm64.
kernel_pkg=$(apt-cache depends --important "$kernel_meta_pkg:$arch" \
    | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { sub(/:.*/, "", $2); print $2; exit }')
if [ -z "$kernel_pkg" ]; then
    echo "fetch.sh: no linux-image-* dependency found for $kernel_meta_pkg:$arch" >&2
    exit 1
fi

# Start from an empty cache so a partial earlier run leaves nothing behind.
rm -rf "$cache"
mkdir -p "$cache/debs" "$cache/root"
echo "fetch.sh: downloading $kernel_pkg:$arch and busybox-static:$arch"
# apt-get download runs as the _apt user, which cannot enter a folder under
# /root, so it downloads into a folder of its own and the files move after.
download_dir=$(mktemp -d)
trap 'rm -rf "$download_dir"' EXIT
chown _apt "$download_dir" 2>/dev/null || true
(cd "$download_dir" && apt-get download -q "$kernel_pkg:$arch" "busybox-static:$arch")
mv "$download_dir"/*.deb "$cache/debs/"

for deb in "$cache"/debs/*.deb; do
    dpkg-deb -x "$deb" "$cache/root"
done

# The kernel package contains exactly one kernel release.
kver=$(ls "$cache/root/lib/modules")
if [ "$(echo "$kver" | wc -l)" -ne 1 ] || [ ! -f "$cache/root/boot/vmlinuz-$kver" ]; then
    echo "fetch.sh: unexpected layout in $kernel_pkg: lib/modules has '$kver'" >&2
    exit 1
fi
echo "$kver" >"$cache/kver"
cp "$cache/root/boot/vmlinuz-$kver" "$cache/vmlinuz"
if [ ! -x "$cache/root/bin/busybox" ]; then
    echo "fetch.sh: busybox-static did not unpack bin/busybox" >&2
    exit 1
fi

echo "$kernel_meta_pkg" >"$stamp"
echo "fetch.sh: $cache is complete ($kernel_meta_pkg, kernel $kver)"
