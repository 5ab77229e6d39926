#!/usr/bin/env bash
# Memory per idle connection of an echo server (issue 5's target: with 10,000 idle
# connections that have each done one round trip, the server's RSS grows by at most
# 0.5 KiB per connection).
#
#   ci/idle-rss.sh                          # ringio-uring ringio-epoll tokio-ct monoio
#   ci/idle-rss.sh ringio-uring tokio-ct    # some of them
#   CONNECTIONS=1000 ci/idle-rss.sh
#
# For each server (one thread, a fresh process on its own loopback port):
#   1. start it and wait until it accepts connections;
#   2. warm up: WARMUP (default 64) connections x 10 checked round trips of 64 B, closed;
#   3. read VmRSS from /proc/PID/status ("before");
#   4. open CONNECTIONS (default 10000) connections one after another with echo-bench's
#      `echo-load --idle` (not ringio); each does one checked round trip of SIZE (default
#      64) bytes and then stays open, idle;
#   5. SETTLE seconds (default 1) after the last one, read VmRSS again ("after") and count
#      the server's open fds (it must hold every connection);
#   6. close the connections, stop the server (SIGINT, then SIGKILL).
# Reported: (after - before) / CONNECTIONS in KiB. RSS is user-space memory only; the
# kernel's socket memory is not in it.
#
# Needs an open-file limit above CONNECTIONS for the server and for the client; the script
# raises its soft limit (to 65536 if the hard limit allows) and fails with a clear message
# if the hard limit is too low. With 2 or more CPUs and taskset, the server is pinned to
# CPU 0 and the client to CPU 1 (PIN=0 turns that off). NO_BUILD=1 uses the executables
# already in target/release (CARGO_TARGET_DIR is honoured). Set CARGO_BUILD_JOBS=1 on small
# machines. Besides the markdown table on stdout, the figures go to idle-rss.csv in
# echo-bench's output directory (target/echo-bench, or ECHO_BENCH_DIR), where `cargo run
# --release -p echo-bench` picks them up for its chart.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-10000}
WARMUP=${WARMUP:-64}
SIZE=${SIZE:-64}
SETTLE=${SETTLE:-1}
PORT=${PORT:-7970}
SERVERS=("$@")
[ ${#SERVERS[@]} -gt 0 ] || SERVERS=(ringio-uring ringio-epoll tokio-ct monoio)

# Open-file limit: CONNECTIONS sockets plus some headroom, per process.
need=$((CONNECTIONS + 256))
hard=$(ulimit -Hn)
want=65536
[ "$hard" != unlimited ] && [ "$hard" -lt "$want" ] && want=$hard
[ "$want" -lt "$need" ] && want=$need
if ! ulimit -n "$want" 2>/dev/null; then
    echo "idle-rss: cannot raise the open-file limit to $want (soft $(ulimit -Sn), hard $hard);" >&2
    echo "idle-rss: $CONNECTIONS connections need about $need fds per process: raise the hard" >&2
    echo "idle-rss: limit (ulimit -Hn as root, or LimitNOFILE=) or run with fewer CONNECTIONS" >&2
    exit 1
fi

. ci/echo-bins.sh idle-rss

SERVER_PIN=() CLIENT_PIN=()
if [ "${PIN:-1}" != 0 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    SERVER_PIN=(taskset -c 0) CLIENT_PIN=(taskset -c 1)
fi

work=$(mktemp -d)
server_pid= client_pid= server_addr=
cleanup() {
    exec 3>&- 2>/dev/null || true
    [ -n "$client_pid" ] && kill -KILL "$client_pid" 2>/dev/null
    [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
    # Whatever still serves this run's address (a server that outlived its pid's
    # bookkeeping would otherwise keep the port, and share it through SO_REUSEPORT with
    # the next run's server, which then loses connections to it).
    [ -n "$server_addr" ] && pkill -KILL -f -- "--addr $server_addr( |\$)" 2>/dev/null
    if [ -n "${KEEP:-}" ]; then echo "outputs in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

server_cmd() {
    local addr=$2
    case $1 in
        ringio-uring | ringio-epoll) echo "$release/examples/echo_server --addr $addr --threads 1" ;;
        tokio-ct) echo "$release/echo-tokio --mode ct --threads 1 --addr $addr" ;;
        monoio) echo "$release/echo-monoio --threads 1 --addr $addr" ;;
        *) echo "idle-rss: unknown server $1 (ringio-uring, ringio-epoll, tokio-ct, monoio)" >&2; exit 2 ;;
    esac
}
for server in "${SERVERS[@]}"; do server_cmd "$server" x >/dev/null; done

driver_of() {
    case $1 in
        ringio-epoll) echo epoll ;;
        *) echo uring ;;
    esac
}

fail() {
    echo "idle-rss: $*" >&2
    exit 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# measure SERVER PORT: prints one table row.
measure() {
    local server=$1 port=$2 addr=127.0.0.1:$2 out=$work/$1 cmd before after fds ok
    cmd=$(server_cmd "$server" "$addr")
    server_addr=$addr
    RINGIO_DRIVER=$(driver_of "$server") "${SERVER_PIN[@]}" $cmd >"$out.server" 2>&1 &
    server_pid=$!
    ok=
    for _ in $(seq 100); do
        kill -0 "$server_pid" 2>/dev/null || fail "$server exited while starting: $(cat "$out.server")"
        if (exec 4<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ok=1; break; fi
        sleep 0.1
    done
    [ -n "$ok" ] || fail "$server did not start listening on $addr in 10 s"
    if [ "$server" != monoio ] && [ "$server" != tokio-ct ]; then
        # ringio must really run on the driver it is named for.
        grep -q "with $(driver_of "$server" | sed 's/uring/io_uring/')" "$out.server" ||
            fail "$server is not on the driver it is named for: $(head -1 "$out.server")"
    fi

    timeout 60 "${CLIENT_PIN[@]}" "$release/echo-load" --addr "$addr" --connections "$WARMUP" \
        --messages 10 --size "$SIZE" --timeout 30 >"$out.warmup" 2>&1 ||
        fail "$server: warm-up failed: $(cat "$out.warmup")"
    sleep 0.2
    before=$(rss_kib "$server_pid")

    rm -f "$work/hold"
    mkfifo "$work/hold"
    # The client holds its connections until its stdin (the fifo) reaches EOF, at most
    # 300 s; timeout bounds it in any case.
    timeout 400 "${CLIENT_PIN[@]}" "$release/echo-load" --idle --addr "$addr" \
        --connections "$CONNECTIONS" --size "$SIZE" --hold 300 <"$work/hold" >"$out.client" 2>&1 &
    client_pid=$!
    exec 3>"$work/hold"
    ok=
    for _ in $(seq 1200); do
        grep -q '^echo-load: ready' "$out.client" && { ok=1; break; }
        kill -0 "$client_pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$ok" ] || fail "$server: the client did not get $CONNECTIONS connections idle: $(cat "$out.client")"
    sleep "$SETTLE"
    kill -0 "$server_pid" 2>/dev/null || fail "$server died with the connections open: $(tail -5 "$out.server")"
    after=$(rss_kib "$server_pid")
    fds=$(ls "/proc/$server_pid/fd" | wc -l)
    exec 3>&-
    local rc=0
    wait "$client_pid" || rc=$?
    client_pid=
    [ "$rc" = 0 ] || fail "$server: the client failed (exit $rc): $(cat "$out.client")"
    [ "$fds" -ge "$CONNECTIONS" ] || fail "$server held only $fds fds with $CONNECTIONS connections open"

    kill -INT "$server_pid" 2>/dev/null || true
    for _ in $(seq 20); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid= server_addr=

    python3 -c "print(f'| $server | {$before:,} | {$after:,} | {$fds:,} | {($after - $before) / $CONNECTIONS:.2f} |')"
    python3 -c "print(f'$server,$before,$after,$fds,{($after - $before) / $CONNECTIONS:.4f},$CONNECTIONS,$SIZE,$head,$date')" >>"$work/csv"
}

head=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- 2>/dev/null || head="$head + uncommitted changes"
pin_desc="not pinned"
[ ${#SERVER_PIN[@]} -gt 0 ] && pin_desc="server pinned to CPU 0, client to CPU 1"
echo "Server RSS per idle connection: VmRSS after a warm-up of $WARMUP connections, then with"
echo "$CONNECTIONS idle connections open (each did one checked $SIZE B round trip; read ${SETTLE} s after"
echo "the last); growth = (after - before) / $CONNECTIONS. Client: echo-bench's echo-load --idle"
echo "(not ringio); $pin_desc; one server thread; open-file limit $(ulimit -n); tree at $head."
echo
printf '| server | RSS before (KiB) | RSS with %s idle (KiB) | server fds | growth (KiB/conn) |\n' "$CONNECTIONS"
printf '|---|---:|---:|---:|---:|\n'
date=$(date -u +%Y-%m-%dT%H:%MZ)
echo "server,rss_before_kib,rss_after_kib,server_fds,kib_per_conn,connections,size,tree,date" >"$work/csv"
i=0
for server in "${SERVERS[@]}"; do
    measure "$server" $((PORT + i))
    i=$((i + 1))
done
echo
echo "Target (issue 5): at most 0.5 KiB per idle connection."
mkdir -p "$echo_bench_dir"
cp "$work/csv" "$echo_bench_dir/idle-rss.csv"
echo "CSV: $echo_bench_dir/idle-rss.csv (echo-bench's chart shows it)"
