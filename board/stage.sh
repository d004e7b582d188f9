#!/usr/bin/env bash
# Builds camcertd for a board and stages what a firmware image needs: the
# static binary, config, init script, systemd unit and folder layout, as a
# rootfs overlay folder and a tarball of it.
#
#   board/stage.sh BOARD [OUT_DIR]     (default OUT_DIR: target/board/BOARD)
#
# Builds with `cross` when a Docker engine answers, with the Debian cross
# toolchains from .cargo/config.toml otherwise. Prints the overlay, the
# tarball and the binary size.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
board=${1:?usage: board/stage.sh BOARD [OUT_DIR]; boards: $(cd "$top/board" && ls -d */ | tr -d / | tr '\n' ' ')}
profile_dir="$top/board/$board"
[[ -f "$profile_dir/profile.toml" ]] || {
  echo "stage.sh: no board profile $profile_dir/profile.toml; choose one of: $(cd "$top/board" && ls -d */ | tr -d / | tr '\n' ' ')" >&2
  exit 2
}
out=${2:-$top/target/board/$board}

# Reads a top-level string key of the flat profile file.
profile_value() {
  sed -n "s/^$1 = \"\\(.*\\)\"\$/\\1/p" "$profile_dir/profile.toml"
}
target=$(profile_value target)
state_dir=$(profile_value state_dir)
factory_dir=$(profile_value factory_dir)
[[ -n "$target" && -n "$state_dir" && -n "$factory_dir" ]] || {
  echo "stage.sh: $profile_dir/profile.toml lacks target, state_dir or factory_dir" >&2
  exit 2
}

cd "$top"
if command -v cross >/dev/null && docker info >/dev/null 2>&1; then
  echo "building $target with cross"
  cross build --release --locked --target "$target"
else
  echo "building $target with the Debian cross toolchain"
  rustup target add "$target" >/dev/null
  cargo build --release --locked --target "$target"
fi
binary="$top/target/$target/release/camcertd"

rootfs="$out/rootfs"
rm -rf "$rootfs"
install -D -m 0755 "$binary" "$rootfs/usr/bin/camcertd"
install -D -m 0644 "$profile_dir/camcertd.toml" "$rootfs/etc/camcertd/camcertd.toml"
install -D -m 0644 "$profile_dir/profile.toml" "$rootfs/etc/camcertd/board.toml"
install -D -m 0755 "$profile_dir/S50camcertd" "$rootfs/etc/init.d/S50camcertd"
install -D -m 0644 "$profile_dir/camcertd.service" "$rootfs/lib/systemd/system/camcertd.service"
install -d -m 0700 "$rootfs$state_dir"
install -d -m 0755 "$rootfs$factory_dir"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$top/Cargo.toml" | head -n 1)
tarball="$out/camcertd-$version-$board.tar.gz"
tar --owner=0 --group=0 --numeric-owner -C "$rootfs" -czf "$tarball" .

size=$(stat -c %s "$binary")
echo "overlay: $rootfs"
echo "tarball: $tarball"
echo "binary:  $size bytes ($target, static, stripped)"
