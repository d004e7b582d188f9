#!/usr/bin/env bash
# Installs what the tests need, then runs every test tier:
#   host  - unit and integration tests on this machine;
#   arm   - the same tests built for armv7 and aarch64 and run under qemu-user.
# CAMCERTD_TIERS selects tiers (default "host arm"), for example
# CAMCERTD_TIERS=host bash tests/run.sh. Needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

tiers=${CAMCERTD_TIERS:-host arm}
has_tier() { [[ " $tiers " == *" $1 "* ]]; }

packages=(openssl curl ca-certificates)
if has_tier arm; then
  packages+=(gcc-arm-linux-gnueabihf gcc-aarch64-linux-gnu libc6-dev-armhf-cross
    libc6-dev-arm64-cross qemu-user)
fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if has_tier host; then
  echo "== host tests"
  cargo test --locked
fi

if has_tier arm; then
  rustup target add armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu
  # .cargo/config.toml runs each test binary under qemu-user; the tests start
  # the camcertd binary through the same emulator.
  echo "== aarch64 tests under qemu-user"
  CAMCERTD_TEST_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
    cargo test --locked --target aarch64-unknown-linux-gnu
  echo "== armv7 tests under qemu-user"
  CAMCERTD_TEST_RUNNER="qemu-arm -L /usr/arm-linux-gnueabihf" \
    cargo test --locked --target armv7-unknown-linux-gnueabihf
fi
