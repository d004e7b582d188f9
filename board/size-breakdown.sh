#!/usr/bin/env bash
# Shows where the bytes of the firmware binary go, for one camera target.
# It builds the release profile once more without stripping, with a linker
# map, in target/size-breakdown/, and prints two Markdown tables:
#   - file bytes per link input (camcertd's Rust code after LTO, aws-lc,
#     glibc, libgcc, and what the linker adds), summing to the stripped size;
#   - the largest Rust crates, by the size of their symbols.
#
#   board/size-breakdown.sh [TARGET]     (default aarch64-unknown-linux-gnu)
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:-aarch64-unknown-linux-gnu}"
case "$target" in
  aarch64-unknown-linux-gnu) tools=aarch64-linux-gnu ;;
  armv7-unknown-linux-gnueabihf) tools=arm-linux-gnueabihf ;;
  *) echo "unsupported target '$target'; use aarch64-unknown-linux-gnu or armv7-unknown-linux-gnueabihf" >&2; exit 2 ;;
esac
dir="target/size-breakdown"
mkdir -p "$dir"
map="$(pwd)/$dir/$target.map"

# The target's rustflags from .cargo/config.toml, plus the map. An
# environment variable replaces the config value, so the static flag is
# repeated here.
flags_var="CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
export "$flags_var=-C target-feature=+crt-static -C link-arg=-Wl,-Map=$map"
CARGO_PROFILE_RELEASE_STRIP=false CARGO_TARGET_DIR="$dir" \
  cargo build --release --locked --target "$target" >&2

binary="$dir/$target/release/camcertd"
stripped="$dir/$target/camcertd.stripped"
"$tools-strip" -o "$stripped" "$binary"
"$tools-nm" --size-sort -S --demangle=rust "$binary" >"$dir/$target.symbols"

python3 - "$map" "$dir/$target.symbols" "$(stat -c %s "$stripped")" <<'EOF'
import collections
import re
import sys

map_path, symbols_path, stripped = sys.argv[1], sys.argv[2], int(sys.argv[3])

# Output sections whose bytes are in the file and loaded; debug sections and
# .bss are left out.
LOADED = re.compile(r"^\.(text|rodata|data|eh_frame|gcc_except_table|tdata|init_array|fini_array|got|plt|rela|init|fini|note|__libc|gnu)")


def component(path):
    name = path.rsplit("/", 1)[-1]
    if ".rcgu.o" in name:
        return "camcertd and its Rust crates (one object after LTO)"
    if name.startswith("libaws_lc_sys"):
        return "aws-lc (C and assembly)"
    if name.startswith(("libc.a", "libpthread.a", "libm.a", "libresolv.a", "libdl.a", "librt.a")) or name.startswith(("crt1.o", "crti.o", "crtn.o")):
        return "glibc (static)"
    if name.startswith(("libgcc", "crtbegin", "crtend")):
        return "libgcc"
    return "other: " + name.split("(")[0]


sizes = collections.Counter()
lines = open(map_path, encoding="utf-8", errors="replace").read().split("\n")
try:
    start = lines.index("Linker script and memory map")
except ValueError:
    sys.exit("the linker map has no memory map section")
pending = None
entry = re.compile(r"^\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S.*)$")
for line in lines[start:]:
    if line.startswith("OUTPUT(") or line.startswith(" .debug") or line.startswith(".debug"):
        pending = None
        if line.startswith(".debug"):
            break
        continue
    match = re.match(r"^ (\.\S+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S.*)$", line)
    if match:
        section, size, source = match.groups()
    elif pending and entry.match(line):
        size, source = entry.match(line).groups()
        section = pending
    else:
        named = re.match(r"^ (\.\S+)\s*$", line)
        pending = named.group(1) if named else None
        continue
    pending = None
    if LOADED.match(section):
        sizes[component(source)] += int(size, 16)

counted = sum(sizes.values())
sizes["added by the linker (unwind index, alignment, headers)"] = stripped - counted
print("| link input | bytes | KiB | share |")
print("| --- | --- | --- | --- |")
for name, size in sizes.most_common():
    print(f"| {name} | {size:,} | {size / 1024:,.0f} | {100 * size / stripped:.0f} % |")
print(f"| stripped binary | {stripped:,} | {stripped / 1024:,.0f} | 100 % |")
print()

crates = collections.Counter()
for line in open(symbols_path, encoding="utf-8", errors="replace"):
    parts = line.rstrip("\n").split(" ", 3)
    if len(parts) < 4 or parts[2] in "bBU":
        continue
    name = parts[3]
    if name.startswith("aws_lc_") or ("::" not in name and not name.startswith("<")):
        continue
    found = re.match(r"<?(?:&(?:mut )?|\*(?:const|mut) |dyn )?([A-Za-z_][A-Za-z0-9_]*)", name)
    crates[found.group(1) if found else "?"] += int(parts[1], 16)
print("| Rust crate (symbols in .text, .rodata, .data) | bytes | KiB |")
print("| --- | --- | --- |")
for name, size in crates.most_common(25):
    print(f"| {name} | {size:,} | {size / 1024:,.0f} |")
print(f"| all Rust symbols | {sum(crates.values()):,} | {sum(crates.values()) / 1024:,.0f} |")
EOF
