#!/usr/bin/env bash
# Installs what the tests need, then runs every test tier:
#   host  - unit and integration tests on this machine;
#   arm   - the same tests built for armv7 and aarch64 and run under qemu-user;
#   qemu  - the qemu-arm64 and qemu-armv7 board overlays booted as whole ARM
#           systems under QEMU, the armv7 one also with the clock in 2040.
# CAMCERTD_TIERS selects tiers (default "host arm qemu"), for example
# CAMCERTD_TIERS=host bash tests/run.sh. Needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

tiers=${CAMCERTD_TIERS:-host arm qemu}
has_tier() { [[ " $tiers " == *" $1 "* ]]; }

packages=(openssl curl ca-certificates iproute2 libfaketime libnss3-tools chromium)
# The admin page test drives headless Chromium through chromedriver.
packages+=(chromium-driver fonts-dejavu-core)
if has_tier arm || has_tier qemu; then
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

# sslyze scans the TLS configuration in tests/tls_scan.rs.
if has_tier host && ! python3 -c 'import sslyze' 2>/dev/null; then
  python3 -m pip install --quiet --root-user-action=ignore sslyze==6.3.1
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

if has_tier qemu; then
  # fetch.sh installs qemu-system and caches a Debian ARM kernel and busybox.
  bash qemu/fetch.sh arm64
  bash qemu/fetch.sh armhf
  echo "== qemu-arm64 board booted under qemu-system-aarch64"
  bash qemu/test-boot.sh arm64
  # armv7 glibc has a 32-bit time_t by default; this run proves the build
  # still works with the clock past 2038.
  echo "== qemu-armv7 board booted under qemu-system-arm, clock in 2040"
  CAMCERTD_QEMU_KERNEL_ARGS=camcertd.date=2040-06-01T00:00:00 bash qemu/test-boot.sh armhf
  echo "== qemu-armv7 board booted under qemu-system-arm"
  bash qemu/test-boot.sh armhf
fi
