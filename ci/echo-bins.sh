#!/usr/bin/env bash
# Builds (unless NO_BUILD is set) and checks the executables the ci/ measurement scripts
# run: ringio's echo_server, the tokio and monoio peers, the no-runtime echo-raw-uring
# baseline, and echo-load. Sourced, with the
# calling script's name for messages: `. ci/echo-bins.sh cost-per-msg`.
echo_bins_script=${1:-ci}
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release -q --example echo_server -p ringio
    cargo build --release -q -p echo-bench --bins
fi
for bin in target/release/examples/echo_server target/release/echo-tokio target/release/echo-monoio target/release/echo-raw-uring target/release/echo-load; do
    [ -x "$bin" ] || { echo "$echo_bins_script: $bin is missing (run without NO_BUILD)" >&2; exit 1; }
done
