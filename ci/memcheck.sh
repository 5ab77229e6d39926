#!/usr/bin/env bash
# Runs under valgrind memcheck, failing on any invalid read or write: the
# cancellation-safety tests, the fast-path tests (multishot accept and receive, provided
# buffer rings), the driver hazard regression tests, the blocking-face drop tests and
# the Unix-socket and process tests (all on both drivers), and the driver's own unit tests (the op table). Uninitialised-value reports are off: the kernel writes received
# bytes into buffers behind memcheck's back, so it cannot know they are set. Every wait
# in those tests is bounded, and none needs a second thread to progress (see DESIGN.md
# on valgrind and io_uring_enter).
set -euo pipefail
cd "$(dirname "$0")/.."

# test_binary NAME CARGO-ARGS...: the test executable cargo builds for target NAME.
test_binary() {
    local name=$1
    shift
    cargo test "$@" --no-run --message-format=json 2>/dev/null \
        | python3 -c 'import json,sys
name = sys.argv[1]
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == name and m.get("executable"):
        print(m["executable"])' "$name"
}

# memcheck TEST [ARGS ...]: an integration test of uring-tests, with test-harness args.
memcheck() {
    local test=$1
    shift
    run_memcheck "$test" "$(test_binary "$test" -p uring-tests --test "$test")" "$@"
}

# run_memcheck NAME BINARY [ARGS ...]
run_memcheck() {
    local test=$1 bin=$2
    shift 2
    [ -x "$bin" ] || { echo "memcheck: cannot find the $test test binary" >&2; exit 1; }
    echo "memcheck: valgrind $bin (RINGIO_CANCEL_ITERS=${RINGIO_CANCEL_ITERS:-10000})"
    timeout 900 valgrind --error-exitcode=99 --undef-value-errors=no --leak-check=no \
        "$bin" --test-threads=1 "$@"
}

# fd_count_unchanged_after_runtimes starts worker and blocking-pool threads whose
# wakes must reach a worker blocked in io_uring_enter: under valgrind's big lock that
# can hang (DESIGN.md), so it runs only in the plain test pass.
memcheck cancel_safety --skip fd_count_unchanged_after_runtimes
# The EMFILE test lowers RLIMIT_NOFILE, which valgrind virtualises (it keeps fds of its
# own above the limit), so it runs only in the plain test pass.
memcheck fast_path --skip emfile_on_accept_does_not_kill_the_listener
# The hazard tests send from runtime tasks, and every blocking-face wait has a timer, so
# neither needs a second thread to run while a worker blocks in io_uring_enter.
memcheck driver_hazards
memcheck blocking_face
memcheck stream_reader
memcheck async_fd
memcheck deadlines
# As in fast_path, the EMFILE test lowers RLIMIT_NOFILE, which valgrind virtualises;
# the per-worker server test needs a second worker thread to progress (DESIGN.md), and
# so does the dropped-connects test, whose last connect resolves "localhost" on the
# blocking pool while the worker waits in io_uring_enter (it hung there once).
memcheck streams --skip emfile_on_accept_does_not_stop_the_server \
    --skip per_worker_servers_spread_connections --skip dropped_connects_leak_no_fd
# Unix sockets: fd passing with fds in flight, connect+accept drops; senders are tasks.
memcheck unix
# Files: every file operation dropped in flight (direct and fixed reads and direct
# opens too); every blocking-pool wait has a timer.
memcheck fs
# send_file: splices dropped in flight; readers are runtime tasks, and every wait for
# the blocking pool (epoll's file-to-pipe splice) has a timer.
memcheck send_file
# UDP: every datagram is sent from a runtime task, and every wait has a timer.
memcheck udp
# Signals: raised from the worker itself, so the handler and the eventfd write run on
# the one thread; the foreign-thread and second-worker tests need another thread to run
# while the worker blocks (DESIGN.md), so they run only in the plain pass.
memcheck signal --skip delivery_to_a_foreign_thread_reaches_the_worker \
    --skip subscribers_on_every_worker_see_it
# Processes: pipes, waits and communicate dropped in flight. The children run natively
# (valgrind does not trace them) and every wait for one is bounded and made by the
# worker, never a second thread of ours. Valgrind (3.19) does not know pidfd_open, so
# the children are reaped by the pid fallback (a timer polling waitid). It turns the
# vfork of posix_spawn into a fork, so an exec failure no longer reaches the parent:
# the NotFound test runs only in the plain test pass.
memcheck process --skip missing_program_fails_spawn_with_not_found
# The tokio / futures-io adapters: reads and writes dropped in flight with the adapter.
memcheck compat
# Tasks: the raw task cell's transitions (unit tests, with foreign-thread wakes whose
# threads end on their own bound) and the spawn/join/abort tests; the one waking a
# sleeping worker from another thread needs that thread to run while the worker blocks.
memcheck task_spawn --skip wake_from_another_thread_reaches_sleeping_worker
# The asyncio task API (gather, wait, timeouts, TaskGroup, join!, callbacks, debug
# mode); the watchdog and the two-worker metrics test need a second thread to run.
memcheck task_api --skip watchdog_names_a_stalled_worker --skip metrics_count_work
# The cancellation fuzz, with fewer drops (valgrind is ~50x slower): every kind of
# operation dropped at random polls, user-space memory checked by memcheck and the
# kernel's late writes by the test's canaries.
RINGIO_FUZZ_DROPS=${RINGIO_FUZZ_DROPS_MEMCHECK:-3000} memcheck fuzz_cancel
# A runtime dropped with operations of every kind in flight (fewer than the plain
# pass's 10,000), peers sending into the reads as it goes down.
RINGIO_SHUTDOWN_OPS=${RINGIO_SHUTDOWN_OPS_MEMCHECK:-1000} memcheck shutdown
# Detached sends: buffers freed by their completions (not by a future), streams and a
# runtime dropped with sends in flight; every peer is a task or the worker itself.
memcheck detached_writes
# TLS streams dropped mid-read and mid-write over ringio's owned-buffer I/O.
memcheck tls dropped_tls_streams_leak_no_fd
# The op table's unit tests (and the driver's others) and the task cell's, from the
# library's test binary.
run_memcheck "ringio (lib)" "$(test_binary ringio -p ringio --lib)" driver:: task::
echo "memcheck: no invalid reads or writes"
