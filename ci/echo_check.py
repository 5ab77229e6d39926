#!/usr/bin/env python3
"""Independent load client for a TCP echo server (Python 3.11 stdlib only).

It shares no code with the Rust project, so a bug in the project's runtime
cannot flatter the result.

Usage:
    python3 ci/echo_check.py [--addr HOST:PORT] [--connections N] [--size BYTES]
                             [--duration SECONDS] [--connect-timeout SECONDS]

Defaults: --addr 127.0.0.1:7878 --connections 256 --size 64 --duration 10
--connect-timeout 5.  IPv6 is written as [::1]:7878.

Only loopback targets (127.0.0.0/8, ::1) are accepted; anything else exits 2.
N connections are opened, then each runs ping-pong for the duration: send a
message of --size bytes unique to (connection, sequence number), read back
exactly that many bytes, compare byte for byte.  A single selectors loop with
non-blocking sockets drives all connections (partial reads/writes handled;
reading continues while sending, so large messages cannot deadlock).  After
the duration no new messages start; in-flight ones get up to 10 s to finish.
If no byte moves for 10 s the run is declared stalled.

Output: one line per metric, then `echo_check: N passed, M failed` (N =
messages verified, M = mismatches + errors).  Exit 0 only if there were no
mismatches, no errors, no stall and at least one message was echoed.
"""
import argparse, errno, ipaddress, os, selectors, socket, struct, sys, time

STALL_S = 10.0


def parse_addr(parser, text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        parser.error(f"--addr must be HOST:PORT, got {text!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        parser.error(f"cannot resolve {host!r}: {e}")
    for info in infos:  # every resolved address must be loopback
        if not ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback:
            parser.error(f"refusing non-loopback address {info[4][0]} "
                         f"(policy: test traffic stays on loopback)")
    return infos[0][0], infos[0][4]


class Conn:
    def __init__(self, cid, sock, size):
        self.cid, self.sock, self.size, self.seq = cid, sock, size, 0
        self.body = os.urandom(max(size, 1))  # per-connection pattern
        self.out = self.expect = None
        self.sent, self.got = 0, bytearray()

    def next_message(self):
        r = self.seq % len(self.body)  # rotate the pattern per message too
        msg = struct.pack("<IQ", self.cid, self.seq) + self.body[r:] + self.body[:r]
        self.expect = msg[:self.size]
        self.out, self.sent, self.got = memoryview(self.expect), 0, bytearray()
        self.seq += 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", default="127.0.0.1:7878")
    p.add_argument("--connections", type=int, default=256)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--connect-timeout", type=float, default=5.0)
    p.add_argument("--messages", type=int, default=0,
                   help="stop each connection after this many messages (0: run for --duration)")
    a = p.parse_args()
    if a.connections < 1 or a.size < 1 or a.duration <= 0 or a.connect_timeout <= 0:
        p.error("--connections, --size, --duration, --connect-timeout must be positive")
    family, sockaddr = parse_addr(p, a.addr)

    sel = selectors.DefaultSelector()
    errors = mismatches = messages = 0
    stalled = False
    reported = 0

    def fail(c, why, mismatch=False):
        nonlocal errors, mismatches, reported
        if mismatch:
            mismatches += 1
        else:
            errors += 1
            sel.unregister(c.sock)
            c.sock.close()
        if reported < 5:
            reported += 1
            print(f"conn {c.cid} msg {max(c.seq - 1, 0)}: {why}", file=sys.stderr)

    # Phase 1: open all connections (non-blocking connect).
    pending = {}
    for cid in range(a.connections):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rc = s.connect_ex(sockaddr)
        if rc not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            errors += 1
            print(f"conn {cid}: connect failed: {os.strerror(rc)}", file=sys.stderr)
            s.close()
            continue
        pending[s] = Conn(cid, s, a.size)
        sel.register(s, selectors.EVENT_WRITE)
    deadline = time.monotonic() + a.connect_timeout
    conns = []
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
            c = pending.pop(key.fileobj)
            rc = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if rc:
                fail(c, f"connect failed: {os.strerror(rc)}")
            else:
                conns.append(c)
    for c in pending.values():
        fail(c, "connect timed out")

    # Phase 2: ping-pong until the duration ends, then drain in-flight messages.
    start = last_progress = time.monotonic()
    end = start + a.duration
    for c in conns:
        c.next_message()
        sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    inflight = len(conns)
    while inflight:
        now = time.monotonic()
        if now - last_progress > STALL_S:
            stalled = True
            print(f"stalled: no progress for {STALL_S:.0f} s with {inflight} "
                  f"messages in flight", file=sys.stderr)
            break
        if now > end + STALL_S:
            print(f"drain timeout: {inflight} messages still in flight "
                  f"{STALL_S:.0f} s after the duration", file=sys.stderr)
            break
        for key, ev in sel.select(timeout=0.5):
            c = key.data
            try:
                if ev & selectors.EVENT_WRITE and c.sent < c.size:
                    c.sent += c.sock.send(c.out[c.sent:])
                    last_progress = time.monotonic()
                    if c.sent == c.size:
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                if ev & selectors.EVENT_READ:
                    data = c.sock.recv(c.size - len(c.got))
                    if not data:
                        fail(c, f"EOF after {len(c.got)}/{c.size} bytes")
                        inflight -= 1
                        continue
                    c.got += data
                    last_progress = time.monotonic()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                fail(c, f"socket error: {e}")
                inflight -= 1
                continue
            if len(c.got) == c.size and c.sent == c.size:
                c.count = getattr(c, "count", 0) + 1
                if c.got == c.expect:
                    messages += 1
                else:
                    i = next(i for i in range(c.size) if c.got[i] != c.expect[i])
                    fail(c, f"mismatch at byte {i}: sent {c.expect[i]:#04x}, "
                            f"got {c.got[i]:#04x}", mismatch=True)
                if time.monotonic() < end and (a.messages == 0 or c.count < a.messages):
                    c.next_message()
                    sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
                else:
                    inflight -= 1
    elapsed = time.monotonic() - start
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    errors += inflight  # messages abandoned (stall/drain timeout) are errors

    print(f"connections: {len(conns)} (requested {a.connections})")
    print(f"size: {a.size} bytes")
    print(f"duration: {elapsed:.2f} s")
    print(f"messages echoed: {messages}")
    print(f"msgs/s: {messages / elapsed if elapsed > 0 else 0.0:.0f}")
    print(f"mismatches: {mismatches}")
    print(f"errors: {errors}")
    print(f"echo_check: {messages} passed, {mismatches + errors} failed")
    ok = mismatches == 0 and errors == 0 and messages > 0 and not stalled
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
