#!/usr/bin/env bash
# HTTP/1.1 keep-alive benchmark: hyper on ringio (examples/http_hello, io_uring and
# epoll) against hyper on tokio current_thread (echo-bench's `http-tokio`), driven by
# wrk (ci/install-deps.sh installs it).
#
#   ci/http-bench.sh                       # 3 rounds x 5 s at 16 and 256 connections
#   DURATION=2 ROUNDS=1 ci/http-bench.sh   # the short CI check: 0 errors on both drivers
#   ROUNDS=5 CONNS="16 64 256" ci/http-bench.sh
#
# Each server is one process on its own loopback port, started once and kept up;
# THREADS workers (ringio) or current_thread runtimes (tokio), each with its own
# SO_REUSEPORT listener (default: half the CPUs, at least 1). With taskset and PIN != 0
# the servers are confined to the first THREADS CPUs and wrk (WRK_THREADS threads,
# default 1) to the others, so load generator and server do not share a core.
# Rounds are interleaved: each round runs every (connections, server) cell once, in
# turn, for DURATION seconds after a WARMUP-second (default 1) unmeasured run.
# Reported per cell, as medians over the rounds: requests/s, the ratio to tokio, and
# the server's CPU time per request (utime + stime from /proc/PID/stat, before and
# after the measured run, divided by wrk's request count). wrk's errors (connect,
# read, write, timeout, non-2xx) are summed over all rounds and must be 0: the script
# exits 1 otherwise. NO_BUILD=1 uses the executables already built (in
# $CARGO_TARGET_DIR, else target/). Set CARGO_BUILD_JOBS=1 on small machines.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-"16 256"}
PORT=${PORT:-7990}
WRK_THREADS=${WRK_THREADS:-1}
ncpu=$(nproc)
THREADS=${THREADS:-$((ncpu / 2 > 0 ? ncpu / 2 : 1))}
SERVERS=(ringio-uring ringio-epoll tokio-ct)
target=${CARGO_TARGET_DIR:-target}

command -v wrk >/dev/null || { echo "http-bench: wrk is missing (run ci/install-deps.sh)" >&2; exit 1; }
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release -q -p ringio --features hyper --example http_hello
    cargo build --release -q -p echo-bench --bin http-tokio
fi
ringio_bin=$target/release/examples/http_hello
tokio_bin=$target/release/http-tokio
for bin in "$ringio_bin" "$tokio_bin"; do
    [ -x "$bin" ] || { echo "http-bench: $bin is missing (run without NO_BUILD)" >&2; exit 1; }
done

SERVER_PIN=() CLIENT_PIN=()
if [ "${PIN:-1}" != 0 ] && command -v taskset >/dev/null && [ "$ncpu" -gt "$THREADS" ]; then
    SERVER_PIN=(taskset -c "0-$((THREADS - 1))") CLIENT_PIN=(taskset -c "$THREADS-$((ncpu - 1))")
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

declare -A pid_of port_of
i=0
for s in "${SERVERS[@]}"; do
    port=$((PORT + i)); i=$((i + 1))
    case $s in
        ringio-uring) cmd=(env RINGIO_DRIVER=uring "$ringio_bin") ;;
        ringio-epoll) cmd=(env RINGIO_DRIVER=epoll "$ringio_bin") ;;
        tokio-ct) cmd=("$tokio_bin") ;;
    esac
    "${SERVER_PIN[@]}" "${cmd[@]}" --addr "127.0.0.1:$port" --threads "$THREADS" >"$work/$s.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    pid_of[$s]=$pid port_of[$s]=$port
done
for s in "${SERVERS[@]}"; do
    for _ in $(seq 100); do
        [ "$(grep -c 'listening on' "$work/$s.log" || true)" -ge "$THREADS" ] && break
        kill -0 "${pid_of[$s]}" 2>/dev/null || { echo "http-bench: $s exited:" >&2; cat "$work/$s.log" >&2; exit 1; }
        sleep 0.1
    done
    curl -sf "http://127.0.0.1:${port_of[$s]}/" >/dev/null 2>&1 || wrk -t1 -c1 -d1 "http://127.0.0.1:${port_of[$s]}/" >/dev/null
done
grep -h 'worker(s) with\|current_thread x' "$work"/*.log | sed 's/^/http-bench: /'

# Server CPU time in clock ticks: utime + stime (fields 14 and 15 of /proc/PID/stat,
# counted after the parenthesised command name).
cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}
hz=$(getconf CLK_TCK)

results=$work/results.tsv
: >"$results"
echo "http-bench: $ROUNDS round(s) x $DURATION s, connections: $CONNS; $THREADS server thread(s) ${SERVER_PIN[*]:-unpinned}, wrk -t$WRK_THREADS ${CLIENT_PIN[*]:-unpinned}"
for round in $(seq "$ROUNDS"); do
    for c in $CONNS; do
        for s in "${SERVERS[@]}"; do
            url="http://127.0.0.1:${port_of[$s]}/"
            if [ "$WARMUP" -gt 0 ]; then
                "${CLIENT_PIN[@]}" wrk -t"$WRK_THREADS" -c"$c" -d"$WARMUP" "$url" >/dev/null
            fi
            before=$(cpu_ticks "${pid_of[$s]}")
            out=$("${CLIENT_PIN[@]}" wrk -t"$WRK_THREADS" -c"$c" -d"$DURATION" "$url")
            after=$(cpu_ticks "${pid_of[$s]}")
            kill -0 "${pid_of[$s]}" 2>/dev/null || { echo "http-bench: $s died:" >&2; cat "$work/$s.log" >&2; exit 1; }
            reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
            rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
            errs=$(awk '/Socket errors:/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } /Non-2xx/ { n += $NF } END { print n + 0 }' <<<"$out")
            us=$(awk -v t=$((after - before)) -v hz="$hz" -v r="$reqs" 'BEGIN { printf "%.2f", (r > 0 ? t / hz * 1e6 / r : 0) }')
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$c" "$round" "$rps" "$us" "$errs" >>"$results"
            printf 'http-bench: round %s, %4s conns, %-12s %10.0f req/s %7s us/req %s errors\n' "$round" "$c" "$s" "$rps" "$us" "$errs"
        done
    done
done

python3 - "$results" "$DURATION" "$ROUNDS" <<'EOF'
import statistics, sys
from collections import defaultdict
path, duration, rounds = sys.argv[1], sys.argv[2], sys.argv[3]
cells = defaultdict(lambda: {"rps": [], "us": [], "errs": 0})
order = []
for line in open(path):
    s, c, _round, rps, us, errs = line.split("\t")
    key = (int(c), s)
    if key not in cells:
        order.append(key)
    cells[key]["rps"].append(float(rps))
    cells[key]["us"].append(float(us))
    cells[key]["errs"] += int(errs)
print()
print(f"HTTP/1.1 keep-alive hello, wrk, medians of {rounds} round(s) x {duration} s:")
print()
print("| connections | server | requests/s | vs tokio | server CPU µs/request | wrk errors |")
print("|---:|---|---:|---:|---:|---:|")
failed = False
for c, s in order:
    cell = cells[(c, s)]
    rps = statistics.median(cell["rps"])
    us = statistics.median(cell["us"])
    tokio = cells.get((c, "tokio-ct"))
    ratio = f"{rps / statistics.median(tokio['rps']):.2f}x" if tokio and tokio["rps"] else "-"
    print(f"| {c} | {s} | {rps:,.0f} | {ratio} | {us:.2f} | {cell['errs']} |")
    failed |= cell["errs"] != 0
if failed:
    print("\nhttp-bench: FAIL: wrk reported errors (see the table)", file=sys.stderr)
    sys.exit(1)
EOF
