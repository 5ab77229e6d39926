#!/usr/bin/env bash
# The README's Reliability table, regenerated: runs the reliability suite (soak, faults,
# cancellation fuzz, shutdown, cancellation loops, property tests, loom models) and
# prints one markdown row per test with its load and outcome. With --write it also
# replaces the table between the RELIABILITY markers in README.md.
#
# The soak runs at SOAK_CONNS x SOAK_SECS (2,000 x 10 s; ci/soak.sh runs 10,000 x 60 s
# in release and prints rows of the same shape), the fuzz at RINGIO_FUZZ_DROPS (100,000).
set -euo pipefail
cd "$(dirname "$0")/.."
WRITE=${1:-}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# row TEST LOAD: a row for a test binary whose bodies report pass/fail only.
row() {
    local test=$1 load=$2 log
    log=$(cargo test -q -p uring-tests --test "$test" 2>&1 || true)
    local passed failed
    passed=$(grep -oE '[0-9]+ passed' <<<"$log" | tail -1 | cut -d' ' -f1)
    failed=$(grep -oE '[0-9]+ failed' <<<"$log" | tail -1 | cut -d' ' -f1)
    echo "| $test | $load | ${passed:-0} passed, ${failed:-?} failed |" >>"$out"
}

# Tests that report their own figures print RELIABILITY|name|load|outcome lines.
figures() {
    RINGIO_SOAK_CONNS=${SOAK_CONNS:-2000} RINGIO_SOAK_SECS=${SOAK_SECS:-10} \
        cargo test -q -p uring-tests --test "$1" -- --nocapture --test-threads=1 2>&1 |
        grep -o 'RELIABILITY|.*' | sed 's/^RELIABILITY//; s/$/ |/' >>"$out" || true
}

cargo build -q -p uring-tests --tests
figures soak
# The long soak's rows, from the last ci/soak.sh run, if there was one.
long=${CARGO_TARGET_DIR:-target}/reliability/soak-long.txt
if [ -s "$long" ]; then
    sed 's/^RELIABILITY//; s/$/ |/' "$long" >>"$out"
fi
figures fuzz_cancel
figures shutdown
figures faults
row faults "resets mid-write and mid-readline, half-close both ways, EMFILE on connect, 4-entry SQ + 4-buffer pool flood, panics in task/callback/handler, saturated blocking pool; both drivers"
row cancel_safety "reads, writes, accepts, connects, sleeps dropped in loops of 10,000; canaries; runtime dropped with ops in flight"
row prop_stream_reader "StreamReader vs a model: random chunking, separators, limits, EOF, cancelled calls (PROPTEST_CASES, 128)"
row prop_sync "Queue/PriorityQueue/LifoQueue and semaphores vs models under random interleavings and cancels"
loom=$(ci/loom.sh 2>&1 | grep -E 'test result' | tail -1 || true)
loom_passed=$(grep -oE '[0-9]+ passed' <<<"$loom" | cut -d' ' -f1)
loom_failed=$(grep -oE '[0-9]+ failed' <<<"$loom" | cut -d' ' -f1)
echo "| loom models (ci/loom.sh) | task cell foreign wake, remote join handle, shared Event/Semaphore/Queue, mpsc | ${loom_passed:-0} passed, ${loom_failed:-?} failed |" >>"$out"

{
    echo "| test | load | outcome |"
    echo "| --- | --- | --- |"
    cat "$out"
} >"$out.table"
cat "$out.table"
if [ "$WRITE" = "--write" ]; then
    python3 - "$out.table" <<'PY'
import sys, re
table = open(sys.argv[1]).read()
readme = open("README.md").read()
start, end = "<!-- RELIABILITY:START -->", "<!-- RELIABILITY:END -->"
if start not in readme:
    sys.exit("README.md has no RELIABILITY markers")
head, rest = readme.split(start, 1)
_, tail = rest.split(end, 1)
open("README.md", "w").write(head + start + "\n" + table + end + tail)
PY
    echo "README.md: Reliability table rewritten"
fi
rm -f "$out.table"
