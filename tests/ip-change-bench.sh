#!/usr/bin/env bash
# Measures, natively, the time from a settled address change to the new
# certificate being installed and served, per key type and with the key kept
# or rotated. Runs the release binary in a network namespace it creates (needs
# root and iproute2) and reads both moments from the service log, so the quiet
# period is not part of the figure. Prints a Markdown table of medians.
#   tests/ip-change-bench.sh [MOVES]      (default 5 address moves per row)
set -euo pipefail
cd "$(dirname "$0")/.."
moves=${1:-5}

cargo build --release --locked >&2
binary=$PWD/target/release/camcertd
namespace=camcertd-bench-$$
workdir=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  ip netns del "$namespace" 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup EXIT

in_ns() { ip netns exec "$namespace" "$@"; }
ip netns add "$namespace"
in_ns ip link set lo up
in_ns ip link add veth0 type veth peer name veth1
in_ns ip link set veth1 up
in_ns ip link set veth0 up

# Seconds between two RFC 3339 log timestamps.
seconds_between() {
  awk -v a="$(date -d "$1" +%s.%N)" -v b="$(date -d "$2" +%s.%N)" 'BEGIN { printf "%.4f", b - a }'
}
median() {
  sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "| key type | key on change | median ms, settled to served ($moves moves) |"
echo "| --- | --- | --- |"
for key_type in ecdsa-p256 rsa-2048; do
  for rotate in false true; do
    state=$workdir/state-$key_type-$rotate
    config=$workdir/config-$key_type-$rotate.toml
    log=$workdir/log-$key_type-$rotate
    cat >"$config" <<CONFIG
[certificate]
interfaces = ["veth0"]
include_loopback = false
default_key_type = "$key_type"
[network]
quiet_period_ms = 200
rotate_key_on_ip_change = $rotate
CONFIG
    in_ns ip addr flush dev veth0
    in_ns ip addr add 192.0.2.1/24 dev veth0
    NO_COLOR=1 in_ns "$binary" serve --config "$config" --state-dir "$state" --https-listen 127.0.0.1:0 2>"$log" &
    server_pid=$!
    for _ in $(seq 100); do grep -q "listening for HTTPS" "$log" && break; sleep 0.1; done
    times=()
    for move in $(seq "$moves"); do
      before=$(grep -c "installed self-signed certificate" "$log" || true)
      in_ns ip addr flush dev veth0
      in_ns ip addr add "192.0.2.$((move + 1))/24" dev veth0
      for _ in $(seq 300); do
        [ "$(grep -c "installed self-signed certificate" "$log" || true)" -gt "$before" ] && break
        sleep 0.05
      done
      settled=$(grep "usable addresses changed" "$log" | tail -n 1 | grep -Eo '^[0-9T:.-]+Z')
      installed=$(grep "installed self-signed certificate" "$log" | tail -n 1 | grep -Eo '^[0-9T:.-]+Z')
      times+=("$(awk -v s="$(seconds_between "$settled" "$installed")" 'BEGIN { printf "%.1f", s * 1000 }')")
    done
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    kept=$([ "$rotate" = true ] && echo "new key" || echo "kept")
    echo "| $key_type | $kept | $(printf '%s\n' "${times[@]}" | median) |"
  done
done
