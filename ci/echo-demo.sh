#!/usr/bin/env bash
# The main job for now: start examples/echo_server and drive it with
# examples/echo_client (ringio) and ci/echo_check.py (not ringio), every byte checked.
#
#   ci/echo-demo.sh                      # 256 connections x 64 B for 10 s, io_uring
#   RINGIO_DRIVER=epoll ci/echo-demo.sh  # the same on the epoll backend
#   CONNECTIONS=16 SIZE=4096 DURATION=5 ci/echo-demo.sh
#   THREADS=2 ci/echo-demo.sh            # 2 pinned workers, one SO_REUSEPORT listener each
set -euo pipefail
cd "$(dirname "$0")/.."
ci/install-deps.sh

CONNECTIONS=${CONNECTIONS:-256}
SIZE=${SIZE:-64}
DURATION=${DURATION:-10}
PORT=${PORT:-7878}
THREADS=${THREADS:-1}
ADDR=127.0.0.1:$PORT

cargo build --release --examples -q
target/release/examples/echo_server --addr "$ADDR" --threads "$THREADS" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1).close()" 2>/dev/null && break
    sleep 0.1
done

echo "== ringio echo_client"
target/release/examples/echo_client --addr "$ADDR" --connections "$CONNECTIONS" --size "$SIZE" --duration "$DURATION"
echo "== ci/echo_check.py (a client that is not ringio)"
python3 ci/echo_check.py --addr "$ADDR" --connections "$CONNECTIONS" --size "$SIZE" --duration "$DURATION"
