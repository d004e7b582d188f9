#!/usr/bin/env bash
# Profiles where camcertd's CPU goes during full TLS handshakes, as a table
# of shares by kind of work (signing, key exchange, key schedule, kernel, ...)
# and the server CPU time per handshake.
#
#   tests/handshake-profile.sh [KEY_TYPE] [SECONDS]
#     KEY_TYPE  ecdsa-p256 (default) or rsa-2048
#     SECONDS   length of the load, default 8
#
# It builds the release profile with symbols in target/profile/ (set
# AWS_LC_SYS_SMALL=0 in the environment to compare aws-lc's speed-optimized
# build), serves on a free loopback port, loads it with two `openssl s_time
# -new` clients and samples the server with `perf record`. Needs perf and
# openssl; run as root or with perf_event_paranoid at 1 or lower.
set -euo pipefail
cd "$(dirname "$0")/.."

key_type="${1:-ecdsa-p256}"
seconds="${2:-8}"
case "$key_type" in
  ecdsa-p256 | rsa-2048) ;;
  *) echo "unsupported key type '$key_type'; use ecdsa-p256 or rsa-2048" >&2; exit 2 ;;
esac
for tool in perf openssl; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install linux-perf openssl)" >&2; exit 2; }
done

CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  CARGO_TARGET_DIR=target/profile cargo build --release --locked >&2
binary="target/profile/release/camcertd"

work="$(mktemp -d)"
server=""
cleanup() {
  if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
printf '[server]\nmax_connections = 256\n[network]\nip_change = "warn"\n' >"$work/camcertd.toml"
"$binary" selfsign --state-dir "$work/state" --days 30 --key-type "$key_type" >/dev/null
RUST_LOG=warn "$binary" serve --config "$work/camcertd.toml" --state-dir "$work/state" \
  --https-listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  if curl -sk -o /dev/null "https://127.0.0.1:$port/api/v1/certificate"; then break; fi
  sleep 0.1
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server/stat"; }
before="$(cpu_ticks)"
clients=()
for client in 1 2; do
  openssl s_time -connect "127.0.0.1:$port" -new -time "$seconds" >"$work/client-$client.txt" 2>&1 &
  clients+=($!)
done
perf record -F 2000 -p "$server" -o "$work/perf.data" -- sleep "$((seconds - 1))" >/dev/null 2>&1
wait "${clients[@]}"
after="$(cpu_ticks)"
handshakes="$(awk '/connections in .* real seconds/ { sum += $1 } END { print sum + 0 }' "$work"/client-*.txt)"
if [[ "$handshakes" -eq 0 ]]; then
  echo "the clients made no handshake; the first client printed:" >&2
  cat "$work"/client-1.txt >&2
  exit 1
fi

perf report -i "$work/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null >"$work/report.txt"
python3 - "$work/report.txt" "$key_type" "$handshakes" "$((after - before))" "$(getconf CLK_TCK)" <<'EOF'
import collections
import re
import sys

report, key_type, handshakes, ticks, per_second = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
signing = "ECDSA P-256 signing" if key_type == "ecdsa-p256" else "RSA-2048 signing"
# First matching rule wins; symbols are aws-lc's, rustls', tokio's and the kernel's.
RULES = [
    (signing, r"(?i)p256|select_point|ec_nistp|ecdsa|ec_scalar|ec_gfp|rsaz|bn_|mont|rsa_|sqr|mul4x|mulx|mul_add|gather|scatter"),
    ("X25519 key exchange", r"25519|cmovznz"),
    ("SHA-2, HMAC, HKDF (transcript and key schedule)", r"sha512|sha256|HMAC|HKDF|hkdf"),
    ("AES-GCM records", r"aes|gcm"),
    ("allocation, copies, wiping", r"malloc|free|memcpy|memset|memmove|cleanse|zeroize|realloc|Vec<T,A>"),
    ("rustls protocol code", r"rustls"),
    ("tokio, hyper and camcertd", r"tokio|hyper|camcertd|std::|core::"),
]
shares = collections.Counter()
others = []
for line in open(report, encoding="utf-8", errors="replace"):
    match = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
    if not match:
        continue
    share, dso, _, symbol = match.groups()
    if dso == "[kernel.kallsyms]":
        kind = "kernel (TCP, epoll, scheduling)"
    else:
        kind = next((name for name, pattern in RULES if re.search(pattern, symbol)), "other")
    shares[kind] += float(share)
    if kind == "other":
        others.append((float(share), symbol))
cpu_us = ticks / per_second / handshakes * 1e6
print(f"{key_type}: {handshakes:,} full handshakes, {cpu_us:,.0f} µs of server CPU each\n")
print("| kind of work | share of server CPU | µs per handshake |")
print("| --- | --- | --- |")
for kind, share in shares.most_common():
    print(f"| {kind} | {share:.0f} % | {share / 100 * cpu_us:,.0f} |")
print("\nLargest in \"other\": " + ", ".join(f"{symbol} ({share:.1f} %)" for share, symbol in sorted(others, reverse=True)[:6]))
EOF
