#!/usr/bin/env bash
# Per-message cost of an echo server, measured deterministically (issue 5's targets):
#   - user-space instructions per message, with valgrind --tool=callgrind;
#   - syscalls per message, with strace -f -c.
# Each figure comes from two runs of the server, one serving N round trips and one 2N,
# differenced to cancel start-up, connection set-up and shutdown:
#   cost = (X(2N) - X(N)) / N
#
#   ci/cost-per-msg.sh                          # raw-uring ringio-uring ringio-epoll tokio-ct monoio
#   ci/cost-per-msg.sh ringio-uring monoio      # some of them
#   CONNECTIONS=16 MESSAGES=200 ci/cost-per-msg.sh
#   CLIENT=python ci/cost-per-msg.sh            # the slower Python checker as the client
#
# CONNECTIONS (default 256) connections each send MESSAGES (default 20) messages of SIZE
# (default 64) bytes in the N run, twice as many in the 2N run.
#
# raw-uring is echo-bench's `echo-raw-uring`, the no-runtime io_uring loop (one RECV and
# one SEND per message): the floor the runtimes are read against. When it is measured it
# runs first, and the last column gives each server's instructions/msg over its.
#
# Every server runs with one thread and is started with --exit-after CONNECTIONS+1 (the
# client's connections plus the script's port probe): it stops accepting after that many
# and exits normally once they have all closed, so valgrind and strace see a normal exit
# and write their totals (under valgrind a thread blocked in io_uring_enter or epoll_wait
# may never take a signal). A server still running 120 s after its client finished is
# killed and the script fails.
#
# The load comes from echo-bench's `echo-load` (CLIENT=rust, the default): its epoll
# client, not ringio, one thread, every byte checked; each connection does exactly
# MESSAGES round trips with one message in flight, then a clean shutdown. CLIENT=python
# uses ci/echo_check.py instead (about 90k msgs/s at best, so a server sees smaller
# batches). With 2 or more CPUs and taskset available, the server is pinned to CPU 0 and
# the client to CPU 1 (PIN=0 turns that off).
#
# Besides the markdown table on stdout, the figures go to cost-per-msg.csv in echo-bench's
# output directory (target/echo-bench, or ECHO_BENCH_DIR), where `cargo run --release -p
# echo-bench` picks them up for its chart. NO_BUILD=1 uses the executables already in
# target/release (CARGO_TARGET_DIR is honoured); KEEP=1 keeps the tools' raw outputs. Set
# CARGO_BUILD_JOBS=1 on small machines.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/install-deps.sh
command -v strace >/dev/null || { echo "cost-per-msg: needs strace (apt-get install strace)" >&2; exit 1; }

CONNECTIONS=${CONNECTIONS:-256}
MESSAGES=${MESSAGES:-20}
SIZE=${SIZE:-64}
PORT=${PORT:-7990}
CLIENT=${CLIENT:-rust}
ADDR=127.0.0.1:$PORT
SERVERS=("$@")
[ ${#SERVERS[@]} -gt 0 ] || SERVERS=(raw-uring ringio-uring ringio-epoll tokio-ct monoio)
case $CLIENT in rust | python) ;; *) echo "cost-per-msg: CLIENT must be rust or python" >&2; exit 2 ;; esac
# The baseline first, so every later row can be read against it.
ordered=() has_raw=
for s in "${SERVERS[@]}"; do if [ "$s" = raw-uring ]; then has_raw=1; else ordered+=("$s"); fi; done
[ -n "$has_raw" ] && SERVERS=(raw-uring "${ordered[@]}")

. ci/echo-bins.sh cost-per-msg

# Pinning: server on CPU 0, client on CPU 1.
SERVER_PIN=() CLIENT_PIN=() CLIENT_CPUS=()
if [ "${PIN:-1}" != 0 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    SERVER_PIN=(taskset -c 0) CLIENT_PIN=(taskset -c 1) CLIENT_CPUS=(--cpus 1)
fi

work=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        # Under strace the server is strace's child: stop it first, by its pid.
        for child in $(pgrep -P "$server_pid"); do kill -KILL "$child" 2>/dev/null; done
        kill -KILL "$server_pid" 2>/dev/null
    fi
    if [ -n "${KEEP:-}" ]; then echo "outputs in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The server binary and arguments, one thread each; RINGIO_DRIVER is set in the
# environment, not with `env`: valgrind does not follow an exec into the real server.
server_cmd() {
    local stop="--exit-after $((CONNECTIONS + 1))" # + the port probe
    case $1 in
        ringio-uring | ringio-epoll) echo "$release/examples/echo_server --addr $ADDR --threads 1 $stop" ;;
        tokio-ct) echo "$release/echo-tokio --mode ct --threads 1 --addr $ADDR $stop" ;;
        monoio) echo "$release/echo-monoio --threads 1 --addr $ADDR $stop" ;;
        raw-uring) echo "$release/echo-raw-uring --threads 1 --addr $ADDR $stop" ;;
        *) echo "cost-per-msg: unknown server $1 (raw-uring, ringio-uring, ringio-epoll, tokio-ct, monoio)" >&2; exit 2 ;;
    esac
}
for server in "${SERVERS[@]}"; do server_cmd "$server" >/dev/null; done

driver_of() {
    case $1 in
        ringio-epoll) echo epoll ;;
        *) echo uring ;;
    esac
}

# wait_port LOG: until the server accepts a connection (the probe, counted in
# --exit-after), failing early if it died.
wait_port() {
    for _ in $(seq 600); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "cost-per-msg: the server exited while starting:" >&2
            cat "$1" >&2
            return 1
        fi
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "cost-per-msg: the server did not start listening on $ADDR in 60 s" >&2
    return 1
}

# run TOOL SERVER MESSAGES_PER_CONN OUTFILE: one server run under the tool.
run() {
    local tool=$1 server=$2 per_conn=$3 out=$4 cmd
    cmd=$(server_cmd "$server")
    case $tool in
        callgrind) RINGIO_DRIVER=$(driver_of "$server") "${SERVER_PIN[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" $cmd >"$out.server" 2>"$out.log" & ;;
        # strace itself is not pinned, only the server (through taskset, whose few
        # syscalls are the same in both runs and cancel).
        strace) RINGIO_DRIVER=$(driver_of "$server") strace -f -c -o "$out" "${SERVER_PIN[@]}" $cmd >"$out.server" 2>"$out.log" & ;;
    esac
    server_pid=$!
    wait_port "$out.log"
    local ok=0
    case $CLIENT in
        rust) "${CLIENT_PIN[@]}" "$release/echo-load" --addr "$ADDR" --connections "$CONNECTIONS" \
            --size "$SIZE" --messages "$per_conn" --timeout 300 "${CLIENT_CPUS[@]}" >"$out.client" 2>&1 || ok=$? ;;
        python) "${CLIENT_PIN[@]}" python3 ci/echo_check.py --addr "$ADDR" --connections "$CONNECTIONS" \
            --size "$SIZE" --messages "$per_conn" --duration 300 >"$out.client" 2>&1 || ok=$? ;;
    esac
    if [ "$ok" != 0 ]; then
        echo "cost-per-msg: $server under $tool: the client failed (exit $ok):" >&2
        cat "$out.client" >&2
        exit 1
    fi
    # The server exits by itself (--exit-after) once the client's connections have
    # closed; valgrind and strace write their totals as it exits.
    for _ in $(seq 1200); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
        echo "cost-per-msg: $server under $tool did not exit 120 s after its client finished" >&2
        exit 1
    fi
    local rc=0
    wait "$server_pid" || rc=$?
    server_pid=
    if [ "$rc" != 0 ]; then
        echo "cost-per-msg: $server under $tool exited with status $rc:" >&2
        tail -20 "$out.log" >&2
        exit 1
    fi
}

instructions() { grep -m1 '^summary:' "$1" | awk '{print $2}'; }
syscalls() { awk '$NF == "total" {print $4}' "$1"; }

n=$((CONNECTIONS * MESSAGES))
head=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- 2>/dev/null || head="$head + uncommitted changes"
case $CLIENT in
    rust) client_desc="echo-bench's echo-load (Rust epoll client, 1 thread, not ringio)" ;;
    python) client_desc="ci/echo_check.py (Python selectors, not ringio)" ;;
esac
pin_desc="not pinned"
[ ${#SERVER_PIN[@]} -gt 0 ] && pin_desc="server pinned to CPU 0, client to CPU 1"
echo "Cost per echoed message: user-space instructions (valgrind --tool=callgrind, all threads)"
echo "and syscalls (strace -f -c), cost = (X(2N) - X(N)) / N with N = $n round trips"
echo "($CONNECTIONS connections x $MESSAGES messages x $SIZE B, one message in flight per connection);"
echo "client: $client_desc; $pin_desc; one server thread; tree at $head."
echo
printf '| server | instructions/msg | syscalls/msg | instructions ÷ raw-uring |\n|---|---:|---:|---:|\n'
raw_instr=
date=$(date -u +%Y-%m-%dT%H:%MZ)
echo "server,instructions_per_msg,syscalls_per_msg,instructions_vs_raw,connections,messages,size,client,tree,date" >"$work/csv"
for server in "${SERVERS[@]}"; do
    run callgrind "$server" "$MESSAGES" "$work/cg1"
    run callgrind "$server" $((MESSAGES * 2)) "$work/cg2"
    i1=$(instructions "$work/cg1"); i2=$(instructions "$work/cg2")
    run strace "$server" "$MESSAGES" "$work/st1"
    run strace "$server" $((MESSAGES * 2)) "$work/st2"
    s1=$(syscalls "$work/st1"); s2=$(syscalls "$work/st2")
    [ "$server" = raw-uring ] && raw_instr=$(((i2 - i1)))
    python3 -c "
raw = '$raw_instr'
x = f'{($i2 - $i1) / int(raw):.1f}x' if raw and int(raw) > 0 else '–'
print(f'| $server | {($i2 - $i1) / $n:,.0f} | {($s2 - $s1) / $n:.3f} | {x} |')
with open('$work/csv', 'a') as f:
    r = f'{($i2 - $i1) / int(raw):.3f}' if raw and int(raw) > 0 else ''
    f.write(f'$server,{($i2 - $i1) / $n:.1f},{($s2 - $s1) / $n:.4f},{r},$CONNECTIONS,$MESSAGES,$SIZE,$CLIENT,$head,$date\\n')"
    if [ -n "${KEEP:-}" ]; then
        for f in cg1 cg2 st1 st2; do
            for x in "" .log .server .client; do
                [ -e "$work/$f$x" ] && mv "$work/$f$x" "$work/$server.$f$x"
            done
        done
    fi
done
mkdir -p "$echo_bench_dir"
cp "$work/csv" "$echo_bench_dir/cost-per-msg.csv"
echo
echo "CSV: $echo_bench_dir/cost-per-msg.csv (echo-bench's chart shows it)"
