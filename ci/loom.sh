#!/usr/bin/env bash
# The loom model of the task cell's cross-thread protocol (src/task/loom_model.rs):
# every interleaving of a foreign wake with the task's completion, its references'
# release and the inbox's shutdown. A separate target directory, since --cfg loom
# rebuilds the crate's dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p ringio --lib --release loom_ -- --test-threads=1
