#!/usr/bin/env bash
# The long soak (issue 16): CONNS concurrent connections (10,000) echoing for SECS
# seconds (60) through a ringio server, on io_uring then on epoll, in a release build.
# Every byte is checked; RSS is sampled every second; the fd count is compared before and
# after. Loopback only; the test raises RLIMIT_NOFILE itself. Prints a RELIABILITY line
# per driver (connections, messages, mismatches, fds leaked, RSS growth after warm-up)
# and fails on any mismatch, failed connection, leaked fd or RSS growth of 1 % or more.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${CONNS:-10000}
SECS=${SECS:-60}
# The RELIABILITY lines are also kept for ci/reliability.sh's table.
out_dir=${CARGO_TARGET_DIR:-target}/reliability
mkdir -p "$out_dir"
set +e
RINGIO_SOAK_CONNS=$CONNS RINGIO_SOAK_SECS=$SECS \
    cargo test --release -p uring-tests --test soak -- --nocapture --test-threads=1 2>&1 |
    grep -oE 'RELIABILITY\|.*|panicked.*|test result.*|stalled.*' | tee "$out_dir/soak.log"
status=${PIPESTATUS[0]}
set -e
grep '^RELIABILITY' "$out_dir/soak.log" | sed 's/|soak (/|soak, ci\/soak.sh (/' >"$out_dir/soak-long.txt" || true
exit "$status"
