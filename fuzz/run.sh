#!/usr/bin/env bash
# Seeds and runs every fuzz target for SECONDS each (default 60), one after
# the other on one core, then prints executions, coverage and crashes.
#
# Usage: bash fuzz/run.sh [-s SANITIZER] [SECONDS] [TARGET...]
#
# SANITIZER goes to `cargo fuzz -s`: address (the default), leak or none.
# A run with none is faster but misses out-of-bounds accesses and
# use-after-free in the unsafe code of dependencies.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). cargo-fuzz uses
# nightly compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept
# them. Crashing inputs land in fuzz/artifacts/<target>/; copy each one to
# fuzz/regressions/<target>/ once it is fixed.
set -euo pipefail

sanitizer=address
while getopts "s:" option; do
    case "$option" in
        s) sanitizer="$OPTARG" ;;
        *)
            echo "usage: bash fuzz/run.sh [-s SANITIZER] [SECONDS] [TARGET...]" >&2
            exit 2
            ;;
    esac
done
shift $((OPTIND - 1))

seconds="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(upload multipart config netlink)
fi

repository="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repository"
export RUSTC_BOOTSTRAP=1

python3 fuzz/seed.py "$repository" "$repository/../shared/corpus"
for target in "${targets[@]}"; do
    # Earlier findings are seeds too, so a regression is rechecked first.
    if [ -d "fuzz/regressions/$target" ]; then
        cp fuzz/regressions/"$target"/* "fuzz/corpus/$target/" 2>/dev/null || true
    fi
done

# NOTE: AddressSanitizer checks camcertd and its Rust dependencies. It does
# not check the prebuilt standard library, because -Zbuild-std would need
# the library's source. It does not check aws-lc's C code either, because
# aws-lc-sys 0.47 compiles it without -fsanitize=address unless
# AWS_LC_SYS_SANITIZER=asan is set (which needs clang and CMake). ASan's
# malloc and free still serve all code, so double frees and leaks
# (LeakSanitizer is on by default) are reported from C code too.
# cargo-fuzz builds for an explicit --target (the host), so the ASan build
# needs no other option on the stable toolchain.
# Debug assertions (-a) turn integer overflow into a panic.
cargo fuzz build -s "$sanitizer" -a

host=$(rustc -vV | sed -n 's/^host: //p')
mkdir -p fuzz/logs
status=0
for target in "${targets[@]}"; do
    log="fuzz/logs/$target.log"
    echo "== $target: ${seconds} s, sanitizer $sanitizer"
    mkdir -p "fuzz/artifacts/$target"
    # Starts the binary that `cargo fuzz run` would start, and prefixes each
    # output line with the seconds since the start, which coverage.py reads.
    start=$SECONDS
    set +e
    "fuzz/target/$host/release/$target" "fuzz/corpus/$target" \
        -max_total_time="$seconds" -rss_limit_mb=512 -timeout=5 \
        -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$target/" 2>&1 |
        while IFS= read -r line; do
            printf '%s %s\n' "$((SECONDS - start))" "$line"
        done >"$log"
    result=${PIPESTATUS[0]}
    set -e
    python3 fuzz/coverage.py "$log"
    grep -E 'stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" | sort -u || true
    if [ "$result" -ne 0 ]; then
        status=1
        echo "$target: finding, see $log"
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" || true
    fi
done
exit "$status"
