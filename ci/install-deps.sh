#!/usr/bin/env bash
# Installs what the tests and CI need on a fresh Debian machine, if missing:
# valgrind (memcheck of the cancellation tests, callgrind costs), strace (syscall
# costs), python3 (the non-ringio echo checker), wrk (the HTTP load of
# ci/http-bench.sh), and the rustfmt and clippy components.
set -euo pipefail

need=()
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v strace >/dev/null 2>&1 || need+=(strace)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
    echo "ci/install-deps: installing ${need[*]}"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if command -v rustup >/dev/null 2>&1; then
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi
