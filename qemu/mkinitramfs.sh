#!/usr/bin/env bash
# Build the initramfs that the QEMU test guest runs from.
#
# Usage: qemu/mkinitramfs.sh ARCH OVERLAY_DIR OUT.cpio.gz
#
# The initramfs contains busybox-static, the kernel modules for virtio
# networking and the virtio RNG, an /init (PID 1) and, copied on top, the files of
# OVERLAY_DIR: a firmware root file system overlay such as /usr/bin/camcertd,
# /etc/camcertd/camcertd.toml and /etc/init.d/S50camcertd.
#
# Needs the cache that qemu/fetch.sh ARCH fills
# (${CAMCERTD_QEMU_CACHE:-$HOME/.cache/camcertd-qemu}/ARCH) and the ARCH cross
# compiler that it installs.
#
# What /init does, in order:
#   1. installs the busybox applet symlinks and mounts proc, sysfs,
#      devtmpfs, devpts and tmpfs on /tmp and /run;
#   2. loads the modules with insmod in dependency order, brings up lo and
#      gets an address for eth0 with udhcpc (10.0.2.15 under QEMU user networking);
#   3. sets the clock when the kernel command line has
#      camcertd.date=YYYY-MM-DDTHH:MM:SS (UTC), because the guest clock
#      otherwise starts at the host's time. The setter is qemu/settime.c,
#      because armhf's busybox "date -s" rejects dates after 2038-01-19.
#      NOTE: on armhf past that date, the stat() of busybox tools fails with
#      EOVERFLOW on every file stamped after it (32-bit time_t), and overlay
#      init scripts that test or list such files fail too.
#   4. runs every executable /etc/init.d/S* with "start", in name order;
#   5. prints "camcertd-qemu: init done" and reads commands from the serial console:
#        poweroff  runs the init scripts of step 4 with "stop" in reverse
#                  order, then powers the machine off (PSCI SYSTEM_OFF, so
#                  QEMU exits with status 0)
#        shell     starts an interactive shell, and the loop resumes after it exits
#        run CMD   runs CMD with sh -c and logs its exit status, for host-driven
#                  scenarios such as an address change
#
# The console is the only channel from the host into this guest, because it
# needs nothing more in the guest. QEMU's system_powerdown on the virt board
# with a device tree boot presses a GPIO power key instead, which needs the
# gpio_keys driver (a module on Debian's arm64 kernel) and an input event
# handler in the guest.
set -euo pipefail

usage() {
    echo "usage: $0 arm64|armhf OVERLAY_DIR OUT.cpio.gz" >&2
    exit 2
}

[ $# -eq 3 ] || usage
arch=$1
overlay=$2
out=$3
case "$arch" in arm64 | armhf) ;; *) usage ;; esac
if [ ! -d "$overlay" ]; then
    echo "mkinitramfs.sh: overlay folder not found: $overlay" >&2
    exit 1
fi

cache=${CAMCERTD_QEMU_CACHE:-$HOME/.cache/camcertd-qemu}/$arch
if [ ! -f "$cache/complete" ]; then
    echo "mkinitramfs.sh: kernel cache missing or incomplete: $cache (run qemu/fetch.sh $arch)" >&2
    exit 1
fi
kver=$(cat "$cache/kver")
moddir=$cache/root/lib/modules/$kver

# Modules that /init loads, and add_module adds their dependencies. On Debian's
# kernels those include failover and net_failover, and on the cloud kernel also
# virtio and virtio_ring, which the generic kernels build in.
wanted_modules=(virtio_mmio virtio_net virtio_rng)

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT

# Module names use "_" where file names may use "-" (virtio-rng.ko is virtio_rng).
normalize() {
    echo "${1//-/_}"
}

# Print the line of LIST (modules.order or modules.builtin, paths relative to
# lib/modules/KVER) whose module is NAME, or nothing.
find_module_line() {
    awk -v name="$(normalize "$1")" '{
        base = $0
        sub(/.*\//, "", base)
        sub(/\.ko$/, "", base)
        gsub(/-/, "_", base)
        if (base == name) { print; exit }
    }' "$2"
}

# Print the path of a module under lib/modules/KVER, empty when the module is
# not built as a module. modules.order lists every module the package ships.
module_path() {
    find_module_line "$1" "$moddir/modules.order"
}

is_builtin() {
    [ -n "$(find_module_line "$1" "$moddir/modules.builtin")" ]
}

# The .debs ship no modules.dep (depmod runs in the package's postinst), so the
# dependencies come from the "depends=" entry of each module's .modinfo section.
module_depends() {
    tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n 1 | tr ',' ' '
}

# Depth-first walk that appends each module after its dependencies.
load_order=()
declare -A visited=()
add_module() {
    local name
    name=$(normalize "$1")
    [ -n "${visited[$name]:-}" ] && return
    visited[$name]=1
    local rel
    rel=$(module_path "$name")
    if [ -z "$rel" ]; then
        if is_builtin "$name"; then
            return
        fi
        echo "mkinitramfs.sh: module $name is neither a module nor built into kernel $kver" >&2
        exit 1
    fi
    case "$rel" in
        *.ko) ;;
        *)
            echo "mkinitramfs.sh: compressed module not supported: $rel" >&2
            exit 1
            ;;
    esac
    local dep
    for dep in $(module_depends "$moddir/$rel"); do
        add_module "$dep"
    done
    load_order+=("$name")
    mkdir -p "$staging/lib/modules/$kver"
    cp "$moddir/$rel" "$staging/lib/modules/$kver/$name.ko"
}
for module in "${wanted_modules[@]}"; do
    add_module "$module"
done
printf '%s\n' "${load_order[@]}" >"$staging/lib/modules/$kver/insmod.order"

# The clock setter, static and with a 64-bit time_t on both ARCHes.
case "$arch" in
    arm64) cross_gcc=aarch64-linux-gnu-gcc ;;
    armhf) cross_gcc=arm-linux-gnueabihf-gcc ;;
esac
mkdir -p "$staging/sbin"
"$cross_gcc" -static -Os -s -Wall -Wextra -D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64 \
    -o "$staging/sbin/camcertd-qemu-settime" "$(dirname "$0")/settime.c"

# Root file system skeleton. /init makes the applet symlinks with
# "busybox --install -s", because the ARM busybox cannot run on the build host
# without qemu-user. Only /bin/sh must exist before that, for /init itself.
mkdir -p "$staging"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,proc,sys,dev,tmp,run,root,var/lib,var/log,var/run}
chmod 1777 "$staging/tmp"
cp "$cache/root/bin/busybox" "$staging/bin/busybox"
ln -s busybox "$staging/bin/sh"
# The kernel opens /dev/console for PID 1 before devtmpfs is mounted. Creating
# the node needs root. Without it, the kernel uses the /dev/console node of its
# built-in initramfs (usr/default_cpio_list in the kernel source).
mknod -m 600 "$staging/dev/console" c 5 1 2>/dev/null || true
echo "root:x:0:0:root:/root:/bin/sh" >"$staging/etc/passwd"
echo "root:x:0:" >"$staging/etc/group"
echo "camcertd-qemu" >"$staging/etc/hostname"

mkdir -p "$staging/etc/camcertd-qemu"
cat >"$staging/etc/camcertd-qemu/udhcpc.script" <<'EOF'
#!/bin/sh
# udhcpc hook: udhcpc passes the event in $1 and the lease in the environment.
case "$1" in
    deconfig)
        ifconfig "$interface" 0.0.0.0 up
        ;;
    bound | renew)
        ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
        for gw in $router; do
            route add default gw "$gw" dev "$interface"
            break
        done
        : >/etc/resolv.conf
        for ns in $dns; do
            echo "nameserver $ns" >>/etc/resolv.conf
        done
        echo "camcertd-qemu: $interface has address $ip"
        ;;
esac
exit 0
EOF
chmod 755 "$staging/etc/camcertd-qemu/udhcpc.script"

cat >"$staging/init" <<EOF
#!/bin/sh
# PID 1 of the QEMU test guest, written by qemu/mkinitramfs.sh.
KVER=$kver
EOF
cat >>"$staging/init" <<'EOF'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root

log() {
    echo "camcertd-qemu: $*"
}

/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
hostname -F /etc/hostname

while read -r module; do
    insmod "/lib/modules/$KVER/$module.ko" || log "ERROR: insmod $module failed"
done <"/lib/modules/$KVER/insmod.order"

ifconfig lo 127.0.0.1 up
# Probing the virtio-mmio devices registers eth0, so wait for it up to 10 s.
tries=0
while [ ! -e /sys/class/net/eth0 ] && [ $tries -lt 100 ]; do
    sleep 0.1
    tries=$((tries + 1))
done
if [ -e /sys/class/net/eth0 ]; then
    udhcpc -i eth0 -s /etc/camcertd-qemu/udhcpc.script -f -q -n -t 5 -T 2 \
        || log "ERROR: udhcpc got no lease for eth0"
else
    log "ERROR: no eth0 after loading the network modules"
fi

# The clock is set after the network is up and before the services start.
# On armhf, busybox has a 32-bit time_t, and its stat() fails with EOVERFLOW
# on every file stamped after 2038-01-19. After a jump past that date, the
# sysfs entries of newly probed devices are such files, and the eth0 check
# above would fail.
# Kernel parameters with a dot are not passed to init, so read /proc/cmdline.
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        camcertd.date=*)
            # settime checks that PID 1 is its parent, so no subshell here.
            /sbin/camcertd-qemu-settime "${arg#camcertd.date=}" \
                || log "ERROR: failed to set the clock to ${arg#camcertd.date=}"
            ;;
    esac
done

# The stop loop walks this list in reverse instead of testing the files again.
# Running a script moves its access time to the guest clock, and past 2038 the
# 32-bit stat() behind busybox's "test -x" and "ls" then fails on armhf.
started=
for script in /etc/init.d/S*; do
    [ -x "$script" ] || continue
    log "running $script start"
    "$script" start || log "ERROR: $script start exited with status $?"
    started="$script $started"
done

log "init done"

# Commands from the host arrive on the serial console, one per line.
while :; do
    if ! read -r command; then
        sleep 1
        continue
    fi
    case "$command" in
        poweroff)
            break
            ;;
        shell)
            setsid cttyhack sh
            ;;
        "run "*)
            sh -c "${command#run }"
            log "run exited with status $?"
            ;;
        "")
            ;;
        *)
            log "unknown command '$command' (expected poweroff, shell or run CMD)"
            ;;
    esac
done

for script in $started; do
    log "running $script stop"
    "$script" stop || log "ERROR: $script stop exited with status $?"
done
sync
log "powering off"
poweroff -f
EOF
chmod 755 "$staging/init"

# The overlay comes last so that its files replace the defaults above.
cp -a "$overlay"/. "$staging"/

mkdir -p "$(dirname "$out")"
# newc is the cpio format the kernel unpacks. Every file is recorded as owned
# by root, whichever user built the archive, and in sorted order so that the
# same input gives the same archive.
(cd "$staging" && find . -print0 | LC_ALL=C sort -z \
    | cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) \
    | gzip -9 -n >"$out"
echo "mkinitramfs.sh: wrote $out (kernel $kver, modules: ${load_order[*]})"
