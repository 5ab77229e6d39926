#!/usr/bin/env bash
# Builds (unless NO_BUILD is set) and checks the executables the ci/ measurement scripts
# run: ringio's echo_server, the tokio and monoio peers, the no-runtime echo-raw-uring
# baseline, and echo-load. Sourced, with the
# calling script's name for messages: `. ci/echo-bins.sh cost-per-msg`.
# Sets $release, the directory of the release executables (under CARGO_TARGET_DIR when
# that is set, as cargo does), and $echo_bench_dir, echo-bench's output directory
# (ECHO_BENCH_DIR, default $release/../echo-bench), where the scripts also write a CSV
# for echo-bench's chart.
echo_bins_script=${1:-ci}
release=${CARGO_TARGET_DIR:-target}/release
echo_bench_dir=${ECHO_BENCH_DIR:-${CARGO_TARGET_DIR:-target}/echo-bench}
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release -q --example echo_server -p ringio
    cargo build --release -q -p echo-bench --bins
fi
for bin in "$release/examples/echo_server" "$release/echo-tokio" "$release/echo-monoio" "$release/echo-raw-uring" "$release/echo-load"; do
    [ -x "$bin" ] || { echo "$echo_bins_script: $bin is missing (run without NO_BUILD)" >&2; exit 1; }
done
