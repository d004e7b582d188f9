#!/usr/bin/env bash
# Runs the power-cut test with many rounds: each round starts a change
# (self-signed issuance, upload, CSR install), kills the service with SIGKILL
# at a random moment, starts it again and checks the served pair and the
# store. Prints the test's summary lines.
#   tests/crash-bench.sh [ROUNDS]      (default 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-1000}

CAMCERTD_CRASH_ROUNDS=$rounds cargo test --release --locked --test power_cut \
  killed_changes_leave_a_working_pair -- --nocapture 2>&1 |
  grep -E 'power-cut rounds|uninterrupted durations|test result|panicked'
