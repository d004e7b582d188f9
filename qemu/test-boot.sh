#!/usr/bin/env bash
# Boot camcertd in a whole-system ARM guest under QEMU and test it from the host.
#
# Usage: qemu/test-boot.sh ARCH [OVERLAY_DIR | --smoke]
#
#   ARCH         arm64 or armhf
#   OVERLAY_DIR  firmware root file system overlay with /usr/bin/camcertd,
#                /etc/camcertd/camcertd.toml and an /etc/init.d/S* script that
#                starts "camcertd serve" on port 443. Its admin password must be
#                $CAMCERTD_TEST_PASSWORD. Without OVERLAY_DIR, the overlay of
#                board qemu-arm64 or qemu-armv7 is staged with board/stage.sh
#                (which builds the release binary) and given that password.
#   --smoke      tests only the boot, networking and power-off path, with
#                busybox httpd serving plain HTTP on port 443 in place of camcertd
#
# Environment:
#   CAMCERTD_TEST_PASSWORD     admin password (default camcertd-test)
#   CAMCERTD_QEMU_BOOT_TIMEOUT seconds to wait for the first response (default 120)
#   CAMCERTD_QEMU_KERNEL_ARGS  extra kernel arguments, for example
#                              camcertd.date=2040-06-01T00:00:00 (the guest
#                              clock's start; curl then runs under faketime
#                              so that it checks certificate validity against
#                              the guest's time, not the host's)
#   CAMCERTD_QEMU_CACHE        kernel and busybox cache (see qemu/fetch.sh)
#   CAMCERTD_QEMU_LOG          file that receives a copy of the guest console log
#   CAMCERTD_QEMU_KEY_TYPE     key type for the board config, such as rsa-2048
#
# Checks, in order:
#   - the guest boots and its init finishes;
#   - the service responds on the forwarded port;
#   - the served certificate parses;
#   - its subjectAltName contains IP Address 10.0.2.15;
#   - curl verifies that certificate for https://10.0.2.15/ (--connect-to sends
#     the connection to the forwarded loopback port), and GET
#     /api/v1/certificate with the admin password returns 200;
#   - the returned JSON has an "origin" field;
#   - a wrong password gets 401;
#   - the guest powers off and QEMU exits with status 0;
#   - /init ran every init script it started with "stop" before powering off;
#   - the guest's /init logged no errors (failed insmod, no DHCP lease, an init
#     script's start or stop failing).
# The last line is "N passed, M failed", and the exit status is 0 only when
# nothing failed. On a failure the script prints the guest console log.
#
# Runs as root, because qemu/fetch.sh installs packages when they are missing.
# All traffic goes to 127.0.0.1: the guest is on QEMU user networking with
# restrict=on, reachable only through the forwarded port.
set -euo pipefail

usage() {
    echo "usage: $0 arm64|armhf [OVERLAY_DIR | --smoke]" >&2
    exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
arch=$1
overlay_arg=${2:-}
case "$arch" in
    arm64) triple=aarch64-unknown-linux-gnu qemu_user=qemu-aarch64 board=qemu-arm64 ;;
    armhf) triple=armv7-unknown-linux-gnueabihf qemu_user=qemu-arm board=qemu-armv7 ;;
    *) usage ;;
esac
case "$overlay_arg" in
    --smoke | "") ;;
    -*) usage ;;
    *)
        if [ ! -d "$overlay_arg" ]; then
            echo "test-boot.sh: overlay folder not found: $overlay_arg" >&2
            exit 2
        fi
        ;;
esac

qemu_dir=$(cd "$(dirname "$0")" && pwd)
repo_dir=$(dirname "$qemu_dir")
password=${CAMCERTD_TEST_PASSWORD:-camcertd-test}
boot_timeout=${CAMCERTD_QEMU_BOOT_TIMEOUT:-120}
read -r -a kernel_args <<<"${CAMCERTD_QEMU_KERNEL_ARGS:-}"
guest_ip=10.0.2.15
# The address the address-change check moves the guest to.
moved_ip=10.0.2.16
guest_date=
for kernel_arg in "${kernel_args[@]}"; do
    case "$kernel_arg" in
        camcertd.date=*)
            guest_date=${kernel_arg#camcertd.date=}
            guest_date=${guest_date%Z}
            ;;
    esac
done

passed=0
failed=0
qemu_pid=
workdir=$(mktemp -d /tmp/camcertd-qemu-test.XXXXXX)
console=$workdir/console


# Sets guest_curl to the curl command to run now: with the wall clock moved
# to the guest's time when the guest clock was set (guest_date), so curl
# checks certificate dates as the guest sees them. The guest clock started at
# guest_date when /init ran, after boot_start, so guest_date plus the whole
# seconds since boot_start, plus one, is at or after the guest's current time.
# Only the wall clock is faked, because curl's timeouts use the monotonic clock.
# libfaketime is preloaded directly: the faketime wrapper shares state through
# /dev/shm files named by PID, and a stale file from an earlier killed run
# makes it fail with "sem_open: File exists" when a PID is reused.
set_guest_curl() {
    guest_curl=(curl)
    if [ -n "$guest_date" ]; then
        local start_epoch now_epoch fake_time library
        start_epoch=$(date -u -d "${guest_date/T/ } UTC" +%s)
        now_epoch=$((start_epoch + SECONDS - boot_seconds + 1))
        fake_time=$(date -u -d "@$now_epoch" '+%Y-%m-%d %H:%M:%S')
        library=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
        if [ -z "$library" ]; then
            echo "    libfaketime.so.1 is missing; install libfaketime" >&2
        fi
        guest_curl=(env TZ=UTC FAKETIME_DONT_FAKE_MONOTONIC=1 LD_PRELOAD="$library"
            FAKETIME="@$fake_time" curl)
        echo "    curl runs with the wall clock at $fake_time UTC (guest time)" >&2
    fi
}

pass() {
    passed=$((passed + 1))
    echo "PASS: $*"
}

fail() {
    failed=$((failed + 1))
    echo "FAIL: $*"
}

# kill -0 also succeeds for a child that has exited but that bash has not
# reaped yet, so the process state is checked too.
qemu_running() {
    [ -n "$qemu_pid" ] || return 1
    kill -0 "$qemu_pid" 2>/dev/null || return 1
    local state
    state=$(awk '{ print $3 }' "/proc/$qemu_pid/stat" 2>/dev/null || true)
    [ -n "$state" ] && [ "$state" != Z ]
}

print_console() {
    echo "----- guest console log -----"
    cat "$console.out" 2>/dev/null || echo "(no console log)"
    echo "----- QEMU messages -----"
    cat "$workdir/qemu.stderr" 2>/dev/null || true
    echo "-----"
}

cleanup() {
    local status=$?
    if qemu_running; then
        kill "$qemu_pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            qemu_running || break
            sleep 0.5
        done
        if qemu_running; then
            kill -KILL "$qemu_pid" 2>/dev/null || true
        fi
        wait "$qemu_pid" 2>/dev/null || true
    fi
    if [ -n "${CAMCERTD_QEMU_LOG:-}" ] && [ -f "$console.out" ]; then
        cp "$console.out" "$CAMCERTD_QEMU_LOG" || true
    fi
    rm -rf "$workdir"
    exit "$status"
}
trap cleanup EXIT
# Exiting on these signals runs the EXIT trap, which stops QEMU.
trap 'exit 130' INT
trap 'exit 143' TERM

# Print the counts, the console log on any failure, and exit.
finish() {
    if [ "$failed" -gt 0 ]; then
        print_console
    fi
    echo "$passed passed, $failed failed"
    if [ "$failed" -gt 0 ]; then
        exit 1
    fi
    exit 0
}

elapsed_since() {
    awk -v start="$1" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - start }'
}

# Pick a free port on 127.0.0.1, where a refused connection means that no
# process listens. Another program may take it before QEMU does, and then
# boot_guest retries.
pick_port() {
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "test-boot.sh: no free port found on 127.0.0.1" >&2
    return 1
}

# The board's own firmware overlay, staged by board/stage.sh (which builds the
# release binary), with the test password's hash added to its config and the
# service log sent to the console. hash-password runs under qemu-user because
# the binary is ARM code.
make_overlay() {
    local dir=$1
    # The caller tests the return status, which turns off set -e in here,
    # so each step that can fail returns on its own.
    "$repo_dir/board/stage.sh" "$board" "$workdir/stage" >&2 || return 1
    cp -a "$workdir/stage/rootfs" "$dir" || return 1
    local binary=$dir/usr/bin/camcertd

    local hash
    hash=$(printf '%s\n' "$password" | "$qemu_user" "$binary" hash-password) || return 1
    printf '\n[admin]\npassword_hash = "%s"\n' "$hash" >>"$dir/etc/camcertd/camcertd.toml" || return 1
    if [ -n "${CAMCERTD_QEMU_KEY_TYPE:-}" ]; then
        sed -i "s/^default_key_type = .*/default_key_type = \"$CAMCERTD_QEMU_KEY_TYPE\"/" \
            "$dir/etc/camcertd/camcertd.toml" || return 1
    fi
    mkdir -p "$dir/etc/default" || return 1
    printf 'CAMCERTD_LOG=/dev/console\nexport NO_COLOR=1\n' >"$dir/etc/default/camcertd" || return 1
}

make_smoke_overlay() {
    local dir=$1
    mkdir -p "$dir/etc/init.d" "$dir/www"
    echo "camcertd-qemu smoke test" >"$dir/www/index.html"
    cat >"$dir/etc/init.d/S50httpd" <<'EOF'
#!/bin/sh
case "$1" in
    start) httpd -p 443 -h /www ;;
    stop) killall httpd ;;
esac
EOF
    chmod 755 "$dir/etc/init.d/S50httpd"
}

# Start QEMU in the background. When the forward cannot be set up because
# another program took the port in the meantime, retry with another port.
boot_guest() {
    local attempt
    for attempt in 1 2 3; do
        port=$(pick_port) || return 1
        second_port=$(pick_port) || return 1
        CAMCERTD_QEMU_CONSOLE=$console \
            CAMCERTD_QEMU_SECOND_FORWARD=$second_port:$moved_ip \
            "$qemu_dir/boot.sh" "$arch" "$workdir/initramfs.cpio.gz" "$port" "${kernel_args[@]}" \
            </dev/null >/dev/null 2>"$workdir/qemu.stderr" &
        qemu_pid=$!
        boot_start=$(date +%s.%N)
        boot_seconds=$SECONDS
        sleep 1
        if qemu_running || ! grep -q 'host forwarding rule' "$workdir/qemu.stderr"; then
            return 0
        fi
        wait "$qemu_pid" 2>/dev/null || true
        qemu_pid=
        echo "test-boot.sh: port $port was taken, retrying ($attempt of 3)"
    done
    return 1
}

# Wait until the guest responds on the forwarded port. Polling starts after
# the init's done marker: before the guest network is up, QEMU accepts a
# connection and keeps it open until curl times out, while afterwards a closed
# guest port resets the connection at once. Only an HTTP status counts as a
# response.
wait_for_response() {
    local url=$1
    local deadline=$((SECONDS + boot_timeout))
    while ! grep -q 'camcertd-qemu: init done' "$console.out"; do
        if ! qemu_running; then
            echo "test-boot.sh: QEMU exited before the guest init finished"
            return 1
        fi
        if [ $SECONDS -ge $deadline ]; then
            echo "test-boot.sh: guest init did not finish within $boot_timeout s"
            return 1
        fi
        sleep 0.2
    done
    pass "guest init finished $(elapsed_since "$boot_start") s after QEMU started"

    local curl_opts=(-s --noproxy '*' --max-time 10 -o /dev/null -w '%{http_code}')
    [ "$smoke" = yes ] || curl_opts+=(-k)
    while [ $SECONDS -lt $deadline ]; do
        if ! qemu_running; then
            echo "test-boot.sh: QEMU exited before the guest responded"
            return 1
        fi
        local code
        code=$(curl "${curl_opts[@]}" "$url" 2>/dev/null || true)
        if [ -n "$code" ] && [ "$code" != 000 ]; then
            return 0
        fi
        sleep 0.5
    done
    echo "test-boot.sh: no response from $url within $boot_timeout s"
    return 1
}

# Ask the guest's /init to stop the services and power off, then wait for
# QEMU to exit. Writing to the FIFO is bounded because an open of a FIFO
# whose reader (QEMU) is gone would block.
power_off() {
    if ! qemu_running; then
        local status=0
        wait "$qemu_pid" || status=$?
        qemu_pid=
        fail "QEMU exited with status $status before the power-off command"
        return
    fi
    if ! timeout 10 bash -c 'echo poweroff >"$1"' _ "$console.in"; then
        fail "power-off command could not be written to $console.in"
        return
    fi
    local deadline=$((SECONDS + 60))
    while qemu_running && [ $SECONDS -lt $deadline ]; do
        sleep 0.5
    done
    if qemu_running; then
        fail "QEMU still running 60 s after the power-off command"
        return
    fi
    local status=0
    wait "$qemu_pid" || status=$?
    qemu_pid=
    if [ "$status" -eq 0 ] && grep -q 'camcertd-qemu: powering off' "$console.out"; then
        pass "guest powered off, QEMU exited with status 0"
    else
        fail "QEMU exited with status $status after the power-off command"
    fi

    # The guest's tty ends console lines with CR LF.
    local starts stops
    starts=$(tr -d '\r' <"$console.out" | grep -c '^camcertd-qemu: running .* start$' || true)
    stops=$(tr -d '\r' <"$console.out" | grep -c '^camcertd-qemu: running .* stop$' || true)
    if [ "$starts" -gt 0 ] && [ "$starts" = "$stops" ]; then
        pass "init ran stop for each of the $starts started init scripts"
    else
        fail "init ran $starts init scripts with start but $stops with stop"
    fi
}

test_https() {
    local s_client=$workdir/s_client.txt
    local chain=$workdir/chain.pem
    timeout 30 openssl s_client -connect "127.0.0.1:$port" -showcerts </dev/null >"$s_client" 2>&1 || true
    sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' "$s_client" >"$chain"
    local text
    if [ -s "$chain" ] && text=$(openssl x509 -in "$chain" -noout -subject -issuer -startdate -enddate -ext subjectAltName 2>&1); then
        pass "served certificate parses"
        echo "$text" | sed 's/^/    /'
    else
        fail "no parsable certificate from openssl s_client; its output:"
        sed 's/^/    /' "$s_client"
        return
    fi

    if echo "$text" | grep -Eq "IP Address:${guest_ip//./\\.}(,|$)"; then
        pass "subjectAltName contains IP Address $guest_ip"
    else
        fail "subjectAltName does not contain IP Address $guest_ip"
    fi

    # The chain from the server is the trust anchor. --connect-to sends the
    # connection for https://10.0.2.15/ to the forwarded loopback port, so curl
    # checks the certificate against the name 10.0.2.15.
    local body=$workdir/certificate.json
    local curl_common=(-sS --noproxy '*' --max-time 30 --cacert "$chain"
        --connect-to "$guest_ip:443:127.0.0.1:$port")
    local url=https://$guest_ip/api/v1/certificate
    local curl
    set_guest_curl
    curl=("${guest_curl[@]}")
    local code
    code=$("${curl[@]}" "${curl_common[@]}" -u "admin:$password" -o "$body" -w '%{http_code}' "$url" 2>"$workdir/curl.stderr" || true)
    if [ "$code" = 200 ]; then
        pass "GET $url with verified TLS and admin password returns 200"
    else
        fail "GET $url returned HTTP status '$code': $(cat "$workdir/curl.stderr")"
    fi

    if grep -Eq '"origin"[[:space:]]*:' "$body" 2>/dev/null; then
        pass "certificate JSON has an origin field: $(grep -Eo '"origin"[[:space:]]*:[[:space:]]*"[^"]*"' "$body" | head -n 1)"
    else
        fail "certificate JSON has no origin field; body: $(head -c 500 "$body" 2>/dev/null | tr '\n' ' ')"
    fi

    code=$("${curl[@]}" "${curl_common[@]}" -u "admin:not-$password" -o /dev/null -w '%{http_code}' "$url" 2>/dev/null || true)
    if [ "$code" = 401 ]; then
        pass "wrong admin password gets 401"
    else
        fail "wrong admin password got HTTP status '$code', expected 401"
    fi

    # Only with the board overlay: its config names a service user.
    if [ -z "$overlay_arg" ]; then
        if grep -q 'switched from root to the service user' "$console.out"; then
            pass "camcertd dropped root for the board's service user"
        else
            fail "camcertd did not log that it switched to the service user"
        fi
    fi
}

test_smoke_http() {
    local body
    body=$(curl -sS --noproxy '*' --max-time 10 "http://127.0.0.1:$port/" 2>&1 || true)
    if [ "$body" = "camcertd-qemu smoke test" ]; then
        pass "busybox httpd in the guest responds through the forwarded port"
    else
        fail "unexpected response from the guest: $body"
    fi
}

if ! "$qemu_dir/fetch.sh" "$arch"; then
    fail "qemu/fetch.sh $arch failed"
    finish
fi

overlay=$workdir/overlay
smoke=no
case "$overlay_arg" in
    --smoke)
        smoke=yes
        make_smoke_overlay "$overlay"
        ;;
    "")
        if ! make_overlay "$overlay"; then
            fail "could not stage board $board (board/stage.sh $board)"
            finish
        fi
        ;;
    *)
        overlay=$overlay_arg
        ;;
esac
if ! "$qemu_dir/mkinitramfs.sh" "$arch" "$overlay" "$workdir/initramfs.cpio.gz"; then
    fail "qemu/mkinitramfs.sh failed"
    finish
fi

port=
second_port=
boot_start=
boot_seconds=
if ! boot_guest; then
    fail "QEMU did not start"
    finish
fi
# Waits, up to 40 s, until the service has installed no new certificate for
# 8 s. Right after boot the guest's addresses still change, because an IPv6
# address from a router advertisement arrives after DHCP. On the emulated
# armv7 board it arrived 6 s after the service started. The service rightly
# regenerates for it, so checks that pin the served certificate start after.
wait_for_settled_certificate() {
    local deadline=$((SECONDS + 40)) count last=-1 changed=$SECONDS
    while [ $SECONDS -lt $deadline ]; do
        count=$(grep -c 'self-signed certificate' "$console.out" || true)
        if [ "$count" != "$last" ]; then
            last=$count
            changed=$SECONDS
        elif [ $((SECONDS - changed)) -ge 8 ]; then
            return 0
        fi
        sleep 1
    done
    echo "    the service still issued new certificates after 40 s"
}

# Prints the seconds between the service's log lines for the settled address
# set and the installed certificate, or "?" when either is missing.
settle_to_served() {
    local settled installed
    settled=$(grep 'usable addresses changed' "$console.out" | tail -n 1 | grep -Eo '^[0-9T:.-]+Z' || true)
    installed=$(grep 'installed self-signed certificate' "$console.out" | tail -n 1 | grep -Eo '^[0-9T:.-]+Z' || true)
    if [ -z "$settled" ] || [ -z "$installed" ]; then
        echo "?"
        return
    fi
    awk -v a="$(date -d "$settled" +%s.%N)" -v b="$(date -d "$installed" +%s.%N)" 'BEGIN { printf "%.2f", b - a }'
}

# Moves the guest from $guest_ip to $moved_ip and checks that the service
# serves a certificate naming the new address on the second forward, within a
# bound. Only for the board overlay, whose init script runs camcertd.
test_address_change() {
    # Without promote_secondaries the kernel deletes 10.0.2.16 along with the
    # primary address of the subnet.
    local move="run echo 1 >/proc/sys/net/ipv4/conf/eth0/promote_secondaries"
    move="$move; ip addr add $moved_ip/24 dev eth0 && ip addr del $guest_ip/24 dev eth0"
    local moved_at
    moved_at=$(date +%s.%N)
    if ! timeout 10 bash -c 'echo "$2" >"$1"' _ "$console.in" "$move"; then
        fail "address change command could not be written to $console.in"
        return
    fi
    local deadline=$((SECONDS + 60)) text=
    while [ $SECONDS -lt $deadline ]; do
        text=$(timeout 10 openssl s_client -connect "127.0.0.1:$second_port" </dev/null 2>/dev/null |
            openssl x509 -noout -ext subjectAltName 2>/dev/null || true)
        if grep -q "IP Address:$moved_ip" <<<"$text" && ! grep -q "IP Address:$guest_ip" <<<"$text"; then
            pass "certificate names $moved_ip only, $(elapsed_since "$moved_at") s after the address change ($(settle_to_served) s from the settled address set to the new certificate, by the service log)"
            local code
            code=$(timeout 30 openssl s_client -connect "127.0.0.1:$second_port" -showcerts </dev/null 2>/dev/null |
                openssl x509 >"$workdir/moved.pem" 2>/dev/null &&
                set_guest_curl &&
                "${guest_curl[@]}" -sS --noproxy '*' --max-time 30 --cacert "$workdir/moved.pem" \
                    --connect-to "$moved_ip:443:127.0.0.1:$second_port" -u "admin:$password" \
                    -o /dev/null -w '%{http_code}' "https://$moved_ip/api/v1/certificate" || true)
            if [ "$code" = 200 ]; then
                pass "curl verifies the new certificate for https://$moved_ip/"
            else
                fail "curl with the new certificate for https://$moved_ip/ got '$code', expected 200"
            fi
            return
        fi
        sleep 0.5
    done
    fail "no certificate naming only $moved_ip within 60 s of the address change; last seen: $text"
}

echo "test-boot.sh: booting $arch, guest port 443 forwarded from 127.0.0.1:$port"

if [ "$smoke" = yes ]; then
    response_url=http://127.0.0.1:$port/
else
    response_url=https://127.0.0.1:$port/api/v1/certificate
fi
if wait_for_response "$response_url"; then
    pass "first response $(elapsed_since "$boot_start") s after QEMU started"
else
    fail "no response from the guest"
    finish
fi

if [ "$smoke" = yes ]; then
    test_smoke_http
else
    wait_for_settled_certificate
    test_https
    if [ -z "$overlay_arg" ]; then
        test_address_change
    fi
fi

power_off

if grep -q 'camcertd-qemu: ERROR' "$console.out"; then
    fail "guest init logged errors: $(grep 'camcertd-qemu: ERROR' "$console.out" | tr '\n' ' ')"
else
    pass "guest init logged no errors"
fi
finish
