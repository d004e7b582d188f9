#!/usr/bin/env bash
# Times key generation plus self-signed issuance under qemu-user emulation of
# both camera targets, as `camcertd selfsign --new-key` with a fresh state
# folder per run, and prints a Markdown table of medians.
#   qemu/keygen-bench.sh [RUNS]      (default 5 runs per cell)
# Each run also starts the process and syncs the new generation to disk, so
# the figures are upper bounds for the key generation alone. Emulation is
# slower than the camera's CPU; compare targets and key types, not absolutes.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}

median() {
  sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "| target | key type | median ms ($runs runs) |"
echo "| --- | --- | --- |"
for target in armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu; do
  cargo build --release --locked --target "$target" >&2
  case "$target" in
    armv7-*) emulator=qemu-arm ;;
    aarch64-*) emulator=qemu-aarch64 ;;
  esac
  binary="target/$target/release/camcertd"
  for key_type in ecdsa-p256 rsa-2048; do
    times=()
    for _ in $(seq "$runs"); do
      state=$(mktemp -d)
      start=$(date +%s%N)
      "$emulator" "$binary" selfsign --state-dir "$state" --days 30 --key-type "$key_type" --new-key >/dev/null 2>&1
      end=$(date +%s%N)
      rm -rf "$state"
      times+=($(((end - start) / 1000000)))
    done
    echo "| $target | $key_type | $(printf '%s\n' "${times[@]}" | median) |"
  done
done
