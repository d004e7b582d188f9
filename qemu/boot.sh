#!/usr/bin/env bash
# Boot the QEMU test guest: a Debian ARM kernel and an initramfs from
# qemu/mkinitramfs.sh on QEMU's virt board.
#
# Usage: qemu/boot.sh ARCH INITRAMFS HOSTPORT [KERNEL_ARG...]
#
#   ARCH       arm64 (Cortex-A53) or armhf (Cortex-A7)
#   INITRAMFS  a .cpio.gz from qemu/mkinitramfs.sh
#   HOSTPORT   TCP port on 127.0.0.1 forwarded to port 443 of the guest
#   KERNEL_ARG appended to the kernel command line, for example
#              camcertd.date=2040-06-01T00:00:00
#
# The serial console is a QEMU "pipe" character device on two files, so the
# host can read and write it while QEMU runs in the background:
#   CONSOLE.out  everything the guest prints (a regular file: the console log)
#   CONSOLE.in   a FIFO, where each line written is a command for the guest's
#                /init: "echo poweroff > CONSOLE.in" stops the init scripts and
#                powers off, and "echo shell > CONSOLE.in" starts a shell that
#                reads the following lines
# CONSOLE is $CAMCERTD_QEMU_CONSOLE, by default "console" in a new temporary
# folder, and the script prints both paths. QEMU's pipe backend opens both
# files read-write, so opening CONSOLE.in for writing does not block while QEMU
# runs. CONSOLE.out is a regular file, so the guest's output cannot fill a pipe
# that nobody reads and stall the guest.
#
# The script replaces itself with QEMU (exec), so the PID of the script is the
# PID of QEMU. QEMU exits with status 0 when the guest powers off, and also when
# the guest kernel panics (panic=-1 reboots at once, and -no-reboot turns
# the reboot into an exit).
set -euo pipefail

usage() {
    echo "usage: $0 arm64|armhf INITRAMFS HOSTPORT [KERNEL_ARG...]" >&2
    exit 2
}

[ $# -ge 3 ] || usage
arch=$1
initramfs=$2
hostport=$3
shift 3

cache=${CAMCERTD_QEMU_CACHE:-$HOME/.cache/camcertd-qemu}/$arch
case "$arch" in
    arm64)
        qemu=(qemu-system-aarch64 -M virt -cpu cortex-a53)
        ;;
    armhf)
        # Debian's armmp kernel has no LPAE, so every device must sit below
        # 4 GiB, and highmem=off keeps the virt board's PCIe windows there.
        qemu=(qemu-system-arm -M virt,highmem=off -cpu cortex-a7)
        ;;
    *) usage ;;
esac

if [ ! -f "$cache/vmlinuz" ]; then
    echo "boot.sh: kernel not found: $cache/vmlinuz (run qemu/fetch.sh $arch)" >&2
    exit 1
fi
if [ ! -f "$initramfs" ]; then
    echo "boot.sh: initramfs not found: $initramfs" >&2
    exit 1
fi
case "$hostport" in
    '' | *[!0-9]*)
        echo "boot.sh: invalid HOSTPORT: $hostport" >&2
        exit 2
        ;;
esac

console=${CAMCERTD_QEMU_CONSOLE:-$(mktemp -d)/console}
rm -f "$console.in" "$console.out"
mkfifo "$console.in"
: >"$console.out"
echo "boot.sh: console log $console.out, console input $console.in" >&2

# panic=-1: a kernel panic (also PID 1 exiting) reboots at once, which
# -no-reboot turns into a QEMU exit instead of a hang.
append="console=ttyAMA0 panic=-1 $*"

# CAMCERTD_QEMU_SECOND_FORWARD=PORT:ADDRESS adds a forward from
# 127.0.0.1:PORT to port 443 of a second guest address, such as one the test
# moves the guest to.
extra_forward=
if [ -n "${CAMCERTD_QEMU_SECOND_FORWARD:-}" ]; then
    extra_forward=",hostfwd=tcp:127.0.0.1:${CAMCERTD_QEMU_SECOND_FORWARD%%:*}-${CAMCERTD_QEMU_SECOND_FORWARD#*:}:443"
fi

# Networking: user mode (slirp) with restrict=on, so the guest reaches nothing
# outside QEMU. The only way in is the forward from 127.0.0.1:HOSTPORT to
# port 443 of the guest address that QEMU's DHCP server hands out first
# (10.0.2.15). The virtio devices use the MMIO transport, which the board
# provides without PCI enumeration.
exec "${qemu[@]}" \
    -m 512 \
    -nographic \
    -monitor none \
    -no-reboot \
    -kernel "$cache/vmlinuz" \
    -initrd "$initramfs" \
    -append "$append" \
    -chardev "pipe,id=console,path=$console" \
    -serial chardev:console \
    -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$hostport-:443$extra_forward" \
    -device virtio-net-device,netdev=n0 \
    -device virtio-rng-device
