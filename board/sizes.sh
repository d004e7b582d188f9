#!/usr/bin/env bash
# Builds the firmware binary for both camera targets and prints its size
# against the flash budget, as a Markdown table row per target.
#   board/sizes.sh            exit status 0 even over budget (it only reports)
#   board/sizes.sh --check    exit status 1 when a binary is over budget
set -euo pipefail
cd "$(dirname "$0")/.."

# Flash budget for the stripped static binary.
budget_bytes=$((5 * 1024 * 1024 / 2))
over=0
echo "| target | bytes | MiB | budget 2.5 MiB |"
echo "| --- | --- | --- | --- |"
for target in armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu; do
  cargo build --release --locked --target "$target" >&2
  bytes=$(stat -c %s "target/$target/release/camcertd")
  mib=$(awk "BEGIN { printf \"%.2f\", $bytes / 1048576 }")
  verdict=within
  if ((bytes > budget_bytes)); then
    verdict=over
    over=1
  fi
  echo "| $target | $bytes | $mib | $verdict |"
done
if [[ "${1:-}" == --check && $over == 1 ]]; then
  exit 1
fi
