//! A bounded load client for one echo server, for the ci/ scripts. It is not ringio:
//! the ping-pong mode is echo-bench's own epoll client ([`echo_bench::client`]), the
//! idle mode plain blocking sockets.
//!
//! ```text
//! echo-load --addr 127.0.0.1:7990 --connections 256 --messages 20 --size 64
//! echo-load --addr 127.0.0.1:7990 --connections 10000 --idle --hold 60 < FIFO
//! ```
//!
//! **Ping-pong** (default): opens `--connections` connections, and each does exactly
//! `--messages` round trips of `--size` bytes, one message in flight at a time, every
//! echoed byte checked; then each shuts down its write side and must see a clean EOF.
//! Exits 0 only if exactly connections x messages round trips were echoed intact within
//! `--timeout` seconds; any mismatch, early EOF, extra byte or stall exits 1.
//!
//! **Idle** (`--idle`): opens the connections one after another, and each does one
//! round trip of `--size` bytes (checked) and then stays open doing nothing. When all are
//! open it prints `echo-load: ready: N idle connections` and holds them until its
//! standard input reaches EOF (or `--hold` seconds pass), then closes them and exits 0.
//! The caller measures the server while the connections are held.

#![forbid(unsafe_code)]

use echo_bench::client::{self, LoadSpec, MAX_MESSAGES_PER_CONN};
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Per-connection connect and I/O timeout in idle mode.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Most connections one run may open.
const MAX_CONNECTIONS: usize = 100_000;

/// Parsed command line.
struct Args {
    addr: SocketAddr,
    connections: usize,
    messages: u64,
    size: usize,
    threads: usize,
    cpus: Vec<usize>,
    timeout: Duration,
    idle: bool,
    hold: Duration,
}

fn usage() -> ! {
    eprintln!(
        "usage: echo-load [--addr 127.0.0.1:PORT] [--connections N] [--messages M] [--size BYTES]\n\
         \x20                [--threads T] [--cpus LIST] [--timeout SECS]\n\
         \x20      echo-load --idle [--addr 127.0.0.1:PORT] [--connections N] [--size BYTES] [--hold SECS]"
    );
    std::process::exit(2)
}

/// Parses a positive number, or exits with the usage.
fn positive<T: std::str::FromStr + PartialOrd + Default>(s: &str) -> T {
    s.parse()
        .ok()
        .filter(|v| *v > T::default())
        .unwrap_or_else(|| usage())
}

/// Parses a CPU list such as `1` or `0,2-3`.
fn parse_cpus(s: &str) -> Vec<usize> {
    let num = |x: &str| x.trim().parse::<usize>().unwrap_or_else(|_| usage());
    let mut v = Vec::new();
    for part in s.split(',').filter(|x| !x.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => v.extend(num(a)..=num(b)),
            None => v.push(num(part)),
        }
    }
    v
}

fn parse_args() -> Args {
    let mut a = Args {
        addr: "127.0.0.1:7878".parse().expect("default address"),
        connections: 256,
        messages: 20,
        size: 64,
        threads: 1,
        cpus: Vec::new(),
        timeout: Duration::from_secs(600),
        idle: false,
        hold: Duration::from_secs(60),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--addr" => a.addr = val().parse().unwrap_or_else(|_| usage()),
            "--connections" => a.connections = positive(&val()),
            "--messages" => a.messages = positive(&val()),
            "--size" => a.size = positive(&val()),
            "--threads" => a.threads = positive(&val()),
            "--cpus" => a.cpus = parse_cpus(&val()),
            "--timeout" => a.timeout = Duration::from_secs_f64(positive::<f64>(&val()).min(3600.0)),
            "--idle" => a.idle = true,
            "--hold" => a.hold = Duration::from_secs_f64(positive::<f64>(&val()).min(3600.0)),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    if !a.addr.ip().is_loopback() {
        eprintln!(
            "echo-load: refusing non-loopback address {} (test traffic stays on loopback)",
            a.addr
        );
        std::process::exit(2);
    }
    if a.connections > MAX_CONNECTIONS || a.messages > MAX_MESSAGES_PER_CONN || a.size > 1 << 20 {
        eprintln!(
            "echo-load: at most {MAX_CONNECTIONS} connections, {MAX_MESSAGES_PER_CONN} messages, 1 MiB messages"
        );
        std::process::exit(2);
    }
    a
}

/// Ping-pong: exactly `connections * messages` checked round trips.
fn ping_pong(a: &Args) -> Result<(), String> {
    let spec = LoadSpec {
        addr: a.addr,
        connections: a.connections,
        size: a.size,
        warmup: Duration::ZERO,
        duration: a.timeout,
        cpus: a.cpus.clone(),
        threads: a.threads,
        messages_per_conn: a.messages,
    };
    let t0 = Instant::now();
    let result = client::start(&spec)?.finish()?;
    let secs = t0.elapsed().as_secs_f64();
    let want = a.connections as u64 * a.messages;
    if result.messages != want {
        return Err(format!(
            "{} of {want} round trips completed within {:?}",
            result.messages, a.timeout
        ));
    }
    println!(
        "echo-load: {} connections x {} messages x {} B: {want} round trips echoed and checked \
         in {secs:.2} s ({:.0} msgs/s, p50 {:.1} us)",
        a.connections,
        a.messages,
        a.size,
        want as f64 / secs,
        result.hist.quantile(0.5) as f64 / 1e3
    );
    Ok(())
}

/// The message connection `id` sends in idle mode: a byte pattern unique to it.
fn idle_message(id: u64, size: usize) -> Vec<u8> {
    let mut z = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x1D1E;
    (0..size)
        .map(|_| {
            z ^= z << 13;
            z ^= z >> 7;
            z ^= z << 17;
            z as u8
        })
        .collect()
}

/// Connects connection `id` and does its one checked round trip.
fn idle_connect(addr: SocketAddr, id: u64, size: usize) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("connection {id}: connect to {addr} failed: {e}"))?;
    s.set_nodelay(true)
        .and_then(|_| s.set_read_timeout(Some(IO_TIMEOUT)))
        .and_then(|_| s.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("connection {id}: socket options: {e}"))?;
    let msg = idle_message(id, size);
    (&s).write_all(&msg)
        .map_err(|e| format!("connection {id}: write failed: {e}"))?;
    let mut echo = vec![0u8; size];
    (&s).read_exact(&mut echo)
        .map_err(|e| format!("connection {id}: no whole echo: {e}"))?;
    if let Some(i) = (0..size).find(|&i| echo[i] != msg[i]) {
        return Err(format!(
            "MISMATCH: connection {id} byte {i}: expected {:#04x}, got {:#04x}",
            msg[i], echo[i]
        ));
    }
    Ok(s)
}

/// Idle: open every connection, one round trip each, hold them until stdin closes.
fn idle(a: &Args) -> Result<(), String> {
    let t0 = Instant::now();
    let mut conns = Vec::with_capacity(a.connections);
    for id in 0..a.connections {
        conns.push(idle_connect(a.addr, id as u64, a.size)?);
    }
    println!(
        "echo-load: ready: {} idle connections after one checked {} B round trip each ({:.2} s)",
        conns.len(),
        a.size,
        t0.elapsed().as_secs_f64()
    );
    std::io::stdout()
        .flush()
        .map_err(|e| format!("stdout: {e}"))?;
    // Hold until stdin reaches EOF (the caller is done measuring) or --hold passes.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sink = String::new();
        while std::io::stdin()
            .lock()
            .read_line(&mut sink)
            .is_ok_and(|n| n > 0)
        {
            sink.clear();
        }
        let _ = tx.send(());
    });
    let held = rx.recv_timeout(a.hold).is_ok();
    // Nothing may have arrived on an idle connection meanwhile.
    for (id, s) in conns.iter().enumerate() {
        s.set_nonblocking(true)
            .map_err(|e| format!("connection {id}: socket options: {e}"))?;
        let mut byte = [0u8; 1];
        match (&*s).read(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok(0) => return Err(format!("connection {id}: the server closed it while idle")),
            Ok(_) => return Err(format!("connection {id}: unexpected byte while idle")),
            Err(e) => return Err(format!("connection {id}: error while idle: {e}")),
        }
    }
    drop(conns);
    if !held {
        eprintln!("echo-load: --hold of {:?} passed; closing", a.hold);
    }
    Ok(())
}

fn main() {
    let a = parse_args();
    let r = if a.idle { idle(&a) } else { ping_pong(&a) };
    if let Err(e) = r {
        eprintln!("echo-load: {e}");
        std::process::exit(1);
    }
}
