//! The load client: plain OS threads, each running a level-triggered epoll loop (nix's
//! safe API) over its share of the connections. It deliberately does not use ringio, so a
//! ringio bug cannot flatter ringio, and it is the same client for every server.
//!
//! Each connection plays ping-pong: write one message, wait until all of its bytes have
//! come back, check every byte, record the round trip, send the next. A message's bytes
//! depend on the connection and on its sequence number (a per-connection random pattern
//! XORed with a per-message word), so an echo of another connection's data, of a stale
//! buffer, or of bytes out of order is caught. Any mismatch, early EOF, extra byte or
//! missing echo ends the run with an error naming the connection, message and offset.
//!
//! Time is split into a warm-up (connections, caches and the server's allocations settle;
//! nothing is counted) and the measured window, after which no new message is sent, every
//! outstanding echo is awaited (bounded by [`DRAIN_TIMEOUT`]) and each connection is shut
//! down and must see a clean EOF with nothing extra. Every loop is bounded in time
//! (window plus drain timeout) and in count ([`LoadSpec::messages_per_conn`], at most
//! [`MAX_MESSAGES_PER_CONN`]).

use crate::hist::Histogram;
use nix::sched::{sched_setaffinity, CpuSet};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::unistd::Pid;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long after the window every outstanding echo may take to arrive.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// Hard cap on messages per connection in one run, whatever the duration.
pub const MAX_MESSAGES_PER_CONN: u64 = 1 << 32;
/// How long a connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest epoll wait, so that threads notice the end of the window.
const POLL_MS: u16 = 5;

/// What one run of the client does.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// The server's address (loopback).
    pub addr: SocketAddr,
    /// Number of connections, each doing ping-pong.
    pub connections: usize,
    /// Bytes per message.
    pub size: usize,
    /// Time before the measured window.
    pub warmup: Duration,
    /// Length of the measured window.
    pub duration: Duration,
    /// CPUs for the client threads; thread `i` is pinned to `cpus[i % len]`. Empty: the
    /// threads are not pinned.
    pub cpus: Vec<usize>,
    /// Number of client threads (at most `connections`).
    pub threads: usize,
    /// Each connection stops after this many round trips, even inside the window (at
    /// most [`MAX_MESSAGES_PER_CONN`]). With no warm-up and a window long enough, a run
    /// then does exactly `connections * messages_per_conn` round trips.
    pub messages_per_conn: u64,
}

/// What one run measured.
#[derive(Debug)]
pub struct LoadResult {
    /// Round trips completed inside the measured window.
    pub messages: u64,
    /// Round-trip latency of those messages, in nanoseconds.
    pub hist: Histogram,
}

/// A run in progress: the threads are loaded and the schedule is fixed.
pub struct Running {
    /// End of the warm-up, start of the measured window.
    pub window_start: Instant,
    /// End of the measured window.
    pub window_end: Instant,
    threads: Vec<JoinHandle<Result<ThreadResult, String>>>,
}

/// One thread's share of the result.
struct ThreadResult {
    messages: u64,
    hist: Histogram,
}

/// One ping-pong connection.
struct Conn {
    stream: TcpStream,
    /// Global connection number (unique within the run).
    id: u64,
    /// Per-connection pattern, `size` bytes rounded up to whole words.
    pattern: Vec<u64>,
    /// The message in flight, as sent.
    msg: Vec<u8>,
    /// Sequence number of the message in flight.
    seq: u64,
    /// Bytes of `msg` written so far.
    written: usize,
    /// Bytes of the echo received (and checked) so far.
    got: usize,
    /// When the message in flight was started.
    sent_at: Instant,
    /// No message is in flight and none will be sent.
    done: bool,
    /// Registered for EPOLLOUT as well (a write was partial).
    want_out: bool,
}

/// splitmix64: a fast, well-mixed 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Conn {
    fn new(stream: TcpStream, id: u64, size: usize) -> Conn {
        let words = size.div_ceil(8);
        let pattern = (0..words as u64)
            .map(|w| mix(mix(id ^ 0xEC40_0000_0000_0000) ^ w))
            .collect();
        Conn {
            stream,
            id,
            pattern,
            msg: vec![0; size],
            seq: 0,
            written: 0,
            got: 0,
            sent_at: Instant::now(),
            done: false,
            want_out: false,
        }
    }

    /// Fills `msg` with message `seq`: the pattern XORed with a word unique to
    /// (connection, seq), so every word differs between messages and connections.
    fn fill(&mut self) {
        let key = mix((self.id << 40) ^ self.seq ^ 0x5EED);
        let mut chunks = self.msg.chunks_mut(8);
        for (chunk, p) in (&mut chunks).zip(&self.pattern) {
            let w = (p ^ key).to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
    }

    /// Starts message `seq` at `now`.
    fn start(&mut self, now: Instant) {
        self.fill();
        self.written = 0;
        self.got = 0;
        self.sent_at = now;
    }

    /// Writes as much of the message as the socket takes. True when all is written.
    fn write_some(&mut self) -> Result<bool, String> {
        while self.written < self.msg.len() {
            match (&self.stream).write(&self.msg[self.written..]) {
                Ok(0) => return Err(format!("connection {}: write returned 0", self.id)),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(format!(
                        "connection {} message {}: write failed: {e}",
                        self.id, self.seq
                    ))
                }
            }
        }
        Ok(true)
    }

    /// Reads what has arrived of the echo and checks it. True when the echo is whole.
    fn read_some(&mut self, scratch: &mut [u8]) -> Result<bool, String> {
        let size = self.msg.len();
        while self.got < size {
            let want = (size - self.got).min(scratch.len());
            match (&self.stream).read(&mut scratch[..want]) {
                Ok(0) => {
                    return Err(format!(
                        "connection {} message {}: server closed the connection after {} of {} echoed bytes",
                        self.id, self.seq, self.got, size
                    ))
                }
                Ok(n) => {
                    let expect = &self.msg[self.got..self.got + n];
                    if &scratch[..n] != expect {
                        let off = (0..n).find(|&i| scratch[i] != expect[i]).unwrap_or(0);
                        return Err(format!(
                            "MISMATCH: connection {} message {} byte {}: expected {:#04x}, got {:#04x} \
                             (echoed {} bytes so far, message is {} bytes)",
                            self.id,
                            self.seq,
                            self.got + off,
                            expect[off],
                            scratch[off],
                            self.got + off,
                            size
                        ));
                    }
                    self.got += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(format!(
                        "connection {} message {}: read failed: {e}",
                        self.id, self.seq
                    ))
                }
            }
        }
        Ok(true)
    }
}

/// Pins the calling thread to `cpus`.
pub fn pin_current_thread(cpus: &[usize]) -> Result<(), String> {
    let mut set = CpuSet::new();
    for &c in cpus {
        set.set(c).map_err(|e| format!("CPU {c}: {e}"))?;
    }
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| format!("pinning to CPUs {cpus:?}: {e}"))
}

/// Connects every connection, starts the threads and returns once the load is running.
pub fn start(spec: &LoadSpec) -> Result<Running, String> {
    let threads = spec.threads.clamp(1, spec.connections.max(1));
    let mut shares: Vec<Vec<Conn>> = (0..threads).map(|_| Vec::new()).collect();
    for id in 0..spec.connections {
        let stream = TcpStream::connect_timeout(&spec.addr, CONNECT_TIMEOUT)
            .map_err(|e| format!("connection {id}: connect to {} failed: {e}", spec.addr))?;
        stream
            .set_nodelay(true)
            .and_then(|_| stream.set_nonblocking(true))
            .map_err(|e| format!("connection {id}: socket options: {e}"))?;
        shares[id % threads].push(Conn::new(stream, id as u64, spec.size));
    }
    let t0 = Instant::now();
    let window_start = t0 + spec.warmup;
    let window_end = window_start + spec.duration;
    let handles = shares
        .into_iter()
        .enumerate()
        .map(|(i, conns)| {
            let cpu = (!spec.cpus.is_empty()).then(|| spec.cpus[i % spec.cpus.len()]);
            let size = spec.size;
            let max_messages = spec.messages_per_conn.clamp(1, MAX_MESSAGES_PER_CONN);
            std::thread::Builder::new()
                .name(format!("load-{i}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        pin_current_thread(&[cpu])?;
                    }
                    run_thread(conns, size, max_messages, window_start, window_end)
                })
                .map_err(|e| format!("spawning a client thread: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Running {
        window_start,
        window_end,
        threads: handles,
    })
}

impl Running {
    /// Waits for every thread and merges their results. Any thread's error fails the run.
    pub fn finish(self) -> Result<LoadResult, String> {
        let mut messages = 0;
        let mut hist = Histogram::new();
        let mut first_err = None;
        for h in self.threads {
            match h.join() {
                Ok(Ok(r)) => {
                    messages += r.messages;
                    hist.merge(&r.hist);
                }
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert_with(|| "a client thread panicked".to_string());
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(LoadResult { messages, hist }),
        }
    }
}

/// One client thread: ping-pong on `conns` until `window_end` (or `max_messages` round
/// trips each), then drain and close.
fn run_thread(
    mut conns: Vec<Conn>,
    size: usize,
    max_messages: u64,
    window_start: Instant,
    window_end: Instant,
) -> Result<ThreadResult, String> {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| format!("epoll: {e}"))?;
    let mut hist = Histogram::new();
    let mut messages = 0u64;
    let now = Instant::now();
    for (i, c) in conns.iter_mut().enumerate() {
        epoll
            .add(&c.stream, EpollEvent::new(EpollFlags::EPOLLIN, i as u64))
            .map_err(|e| format!("epoll add: {e}"))?;
        c.start(now);
        if !c.write_some()? {
            set_out(&epoll, c, i, true)?;
        }
    }
    let mut scratch = vec![0u8; size.clamp(1, 64 * 1024)];
    let mut events = vec![EpollEvent::empty(); 256];
    let mut outstanding = conns.len();
    let deadline = window_end + DRAIN_TIMEOUT;
    while outstanding > 0 {
        let n = match epoll.wait(&mut events, POLL_MS) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(format!("epoll_wait: {e}")),
        };
        for ev in &events[..n] {
            let i = ev.data() as usize;
            let c = &mut conns[i];
            if c.done {
                continue;
            }
            let flags = ev.events();
            let writable = flags.intersects(EpollFlags::EPOLLOUT | EpollFlags::EPOLLERR);
            if c.written < size && writable && c.write_some()? {
                set_out(&epoll, c, i, false)?;
            }
            if !c.read_some(&mut scratch)? {
                continue;
            }
            if c.written < size {
                // The peer echoed bytes we have not sent: read_some would have caught any
                // content difference, but a whole echo ahead of the write is impossible.
                return Err(format!(
                    "connection {} message {}: echo complete before the write",
                    c.id, c.seq
                ));
            }
            let now = Instant::now();
            if now >= window_start && now < window_end {
                hist.record(now.duration_since(c.sent_at).as_nanos() as u64);
                messages += 1;
            }
            if now >= window_end || c.seq + 1 >= max_messages {
                c.done = true;
                outstanding -= 1;
                continue;
            }
            c.seq += 1;
            c.start(now);
            if !c.write_some()? {
                set_out(&epoll, c, i, true)?;
            }
        }
        if Instant::now() >= deadline && outstanding > 0 {
            let c = conns
                .iter()
                .find(|c| !c.done)
                .expect("an outstanding connection");
            return Err(format!(
                "connection {} message {}: no complete echo {:?} after the window \
                 ({} of {} bytes written, {} echoed; {outstanding} connection(s) stuck)",
                c.id, c.seq, DRAIN_TIMEOUT, c.written, size, c.got
            ));
        }
    }
    // Close cleanly: after our FIN the server must send nothing more and close too.
    for c in &conns {
        epoll
            .delete(&c.stream)
            .map_err(|e| format!("epoll delete: {e}"))?;
        c.stream
            .shutdown(Shutdown::Write)
            .map_err(|e| format!("connection {}: shutdown: {e}", c.id))?;
    }
    for c in &conns {
        c.stream
            .set_nonblocking(false)
            .and_then(|_| c.stream.set_read_timeout(Some(DRAIN_TIMEOUT)))
            .map_err(|e| format!("connection {}: socket options: {e}", c.id))?;
        let mut byte = [0u8; 1];
        match (&c.stream).read(&mut byte) {
            Ok(0) => {}
            Ok(_) => {
                return Err(format!(
                    "MISMATCH: connection {}: extra byte {:#04x} after the last echo",
                    c.id, byte[0]
                ))
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                return Err(format!(
                    "connection {}: reset instead of a clean close after EOF",
                    c.id
                ))
            }
            Err(e) => {
                return Err(format!(
                    "connection {}: no clean close within {DRAIN_TIMEOUT:?} after EOF: {e}",
                    c.id
                ))
            }
        }
    }
    Ok(ThreadResult { messages, hist })
}

/// Adds or removes EPOLLOUT interest for connection `i`.
fn set_out(epoll: &Epoll, c: &mut Conn, i: usize, out: bool) -> Result<(), String> {
    if c.want_out == out {
        return Ok(());
    }
    let flags = if out {
        EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT
    } else {
        EpollFlags::EPOLLIN
    };
    epoll
        .modify(&c.stream, &mut EpollEvent::new(flags, i as u64))
        .map_err(|e| format!("epoll modify: {e}"))?;
    c.want_out = out;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blocking echo server, one thread per connection; `corrupt_at` flips the byte at
    /// that offset of each connection's stream, `close_after` closes after that many bytes.
    fn echo_server(corrupt_at: Option<usize>, close_after: Option<usize>) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let mut conn = conn.unwrap();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let mut total = 0;
                    loop {
                        let n = match conn.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if let Some(at) = corrupt_at {
                            if (total..total + n).contains(&at) {
                                buf[at - total] ^= 0x40;
                            }
                        }
                        total += n;
                        if close_after.is_some_and(|c| total >= c) {
                            return;
                        }
                        if conn.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn spec(addr: SocketAddr) -> LoadSpec {
        LoadSpec {
            addr,
            connections: 3,
            size: 100,
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(200),
            cpus: vec![0],
            threads: 2,
            messages_per_conn: MAX_MESSAGES_PER_CONN,
        }
    }

    #[test]
    fn counts_round_trips_against_a_correct_server() {
        let r = start(&spec(echo_server(None, None)))
            .unwrap()
            .finish()
            .unwrap();
        assert!(r.messages > 0);
        assert_eq!(r.hist.count(), r.messages);
    }

    #[test]
    fn fails_loudly_on_a_corrupted_byte() {
        let e = start(&spec(echo_server(Some(1234), None)))
            .unwrap()
            .finish()
            .unwrap_err();
        assert!(e.contains("MISMATCH") && e.contains("byte 34"), "{e}");
    }

    #[test]
    fn fails_when_the_server_closes_early() {
        let e = start(&spec(echo_server(None, Some(550))))
            .unwrap()
            .finish()
            .unwrap_err();
        assert!(e.contains("closed the connection"), "{e}");
    }

    #[test]
    fn messages_differ_between_connections_and_sequence_numbers() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let s1 = TcpStream::connect(addr).unwrap();
        let s2 = TcpStream::connect(addr).unwrap();
        let mut a = Conn::new(s1, 0, 13);
        let mut b = Conn::new(s2, 1, 13);
        a.fill();
        b.fill();
        let a0 = a.msg.clone();
        assert_ne!(a0, b.msg);
        a.seq = 1;
        a.fill();
        assert_ne!(a0, a.msg);
        // Every word changes between messages.
        assert!(a0.chunks(8).zip(a.msg.chunks(8)).all(|(x, y)| x != y));
    }
}
