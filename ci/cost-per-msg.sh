#!/usr/bin/env bash
# Per-message cost of an echo server, measured deterministically (issue 5's targets):
#   - user-space instructions per message, with valgrind --tool=callgrind;
#   - syscalls per message, with strace -f -c.
# Each figure comes from two runs of the server, one serving N round trips and one 2N,
# differenced to cancel start-up, connection set-up and shutdown:
#   cost = (X(2N) - X(N)) / N
# The load comes from ci/echo_check.py (not ringio), every byte checked.
#
#   ci/cost-per-msg.sh                          # ringio-uring ringio-epoll
#
# The peer servers (tokio-ct, monoio) are listed but do not yet exit by themselves:
# under valgrind a server blocked in epoll_wait or io_uring_enter may never take the
# SIGINT that stops it, so those runs can hang until they get an --exit-after flag too.
#   ci/cost-per-msg.sh ringio-uring             # one server
#   CONNECTIONS=16 MESSAGES=200 ci/cost-per-msg.sh
#
# CONNECTIONS (default 256) connections each send MESSAGES (default 20) messages of SIZE
# (default 64) bytes in the N run, twice as many in the 2N run.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/install-deps.sh
command -v strace >/dev/null || { echo "cost-per-msg: needs strace (apt-get install strace)" >&2; exit 1; }

CONNECTIONS=${CONNECTIONS:-256}
MESSAGES=${MESSAGES:-20}
SIZE=${SIZE:-64}
PORT=${PORT:-7990}
ADDR=127.0.0.1:$PORT
SERVERS=("$@")
[ ${#SERVERS[@]} -gt 0 ] || SERVERS=(ringio-uring ringio-epoll)

cargo build --release -q --example echo_server -p ringio
cargo build --release -q -p echo-bench --bins
work=$(mktemp -d)
# KEEP=1 keeps the tools' raw outputs.
if [ -n "${KEEP:-}" ]; then echo "outputs in $work"; else trap 'rm -rf "$work"' EXIT; fi

# The server binary and arguments; RINGIO_DRIVER is set in the environment, not with
# `env`: valgrind does not follow an exec into the real server.
server_cmd() {
    case $1 in
        # Exits by itself once the client's connections have closed: under valgrind a
        # thread blocked in io_uring_enter may never take a signal (DESIGN.md).
        ringio-uring | ringio-epoll) echo "target/release/examples/echo_server --addr $ADDR --exit-after $((CONNECTIONS + 1))" ;; # + the port probe
        tokio-ct) echo "target/release/echo-tokio --mode ct --threads 1 --addr $ADDR" ;;
        monoio) echo "target/release/echo-monoio --threads 1 --addr $ADDR" ;;
        *) echo "cost-per-msg: unknown server $1" >&2; exit 2 ;;
    esac
}

driver_of() {
    case $1 in
        ringio-epoll) echo epoll ;;
        *) echo uring ;;
    esac
}

wait_port() {
    for _ in $(seq 300); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1).close()" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "cost-per-msg: server did not start" >&2
    return 1
}

# run TOOL SERVER MESSAGES_PER_CONN OUTFILE: one server run under the tool.
run() {
    local tool=$1 server=$2 per_conn=$3 out=$4 cmd pid target
    cmd=$(server_cmd "$server")
    case $tool in
        callgrind) RINGIO_DRIVER=$(driver_of "$server") valgrind --tool=callgrind --callgrind-out-file="$out" $cmd >/dev/null 2>"$out.log" & ;;
        strace) RINGIO_DRIVER=$(driver_of "$server") strace -f -c -o "$out" $cmd >/dev/null 2>"$out.log" & ;;
    esac
    pid=$!
    wait_port
    # valgrind runs the server in its own process; strace runs it as a child.
    target=$pid
    [ "$tool" = strace ] && target=$(pgrep -P "$pid" | head -1)
    python3 ci/echo_check.py --addr "$ADDR" --connections "$CONNECTIONS" --size "$SIZE" \
        --messages "$per_conn" --duration 600 >"$out.client" || { cat "$out.client" >&2; exit 1; }
    # ringio's server exits on its own (--exit-after); the peers are sent SIGINT.
    # valgrind and strace write their totals as the server exits.
    case $server in
        ringio-*) ;;
        *) kill -INT "$target" 2>/dev/null || true ;;
    esac
    wait "$pid" 2>/dev/null || true
}

instructions() { grep -m1 '^summary:' "$1" | awk '{print $2}'; }
syscalls() { awk '$NF == "total" {print $4}' "$1"; }

n=$((CONNECTIONS * MESSAGES))
printf '| server | instructions/msg | syscalls/msg |\n|---|---:|---:|\n'
for server in "${SERVERS[@]}"; do
    run callgrind "$server" "$MESSAGES" "$work/cg1"
    run callgrind "$server" $((MESSAGES * 2)) "$work/cg2"
    i1=$(instructions "$work/cg1"); i2=$(instructions "$work/cg2")
    run strace "$server" "$MESSAGES" "$work/st1"
    run strace "$server" $((MESSAGES * 2)) "$work/st2"
    s1=$(syscalls "$work/st1"); s2=$(syscalls "$work/st2")
    python3 -c "print(f'| $server | {($i2 - $i1) / $n:.0f} | {($s2 - $s1) / $n:.3f} |')"
done
echo
echo "N = $n round trips ($CONNECTIONS connections x $MESSAGES messages x $SIZE B); cost = (X(2N) - X(N)) / N"
