#!/usr/bin/env bash
# The loom models (every test named loom_* in the library):
# - src/task/loom_model.rs: the task cell's cross-thread protocol, every interleaving
#   of a foreign wake with the task's completion, its references' release and the
#   inbox's shutdown;
# - src/task/loom_remote.rs: the remote join handle (awaited, joined, aborted, its work
#   dropped unrun) against the task on another worker;
# - src/sync/loom_models.rs: shared::Event's set/wait, shared::Semaphore's
#   acquire/release with a cancelled waiter, shared::Queue's put/get/join and a
#   cancelled getter, and the mpsc channel (async and blocking senders, a cancelled
#   sender, the receiver's drop).
# A separate target directory (LOOM_TARGET_DIR, default target/loom), since --cfg
# loom rebuilds the crate's dependencies. The task cell's models explore every
# interleaving; the others bound the preemptions per execution at 3 (about 13 s in
# all in release), or at LOOM_MAX_PREEMPTIONS when it is set (4: about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-target/loom}" \
    cargo test -p ringio --lib --release loom_ -- --test-threads=1
