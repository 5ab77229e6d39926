//! A load client for an echo server: N connections in ping-pong, every byte checked.
//!
//! ```text
//! cargo run --release --example echo_client -- --addr 127.0.0.1:7878 \
//!     --connections 256 --size 64 --duration 10
//! ```
//!
//! Each connection sends a message whose bytes encode the connection and sequence
//! number, reads the echo back, and compares every byte. At the end it prints msgs/s,
//! latency percentiles, and the mismatch and error counts, and exits 1 unless both are
//! zero. Only loopback addresses are accepted: load tests stay on this machine.

use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
use ringio::net::TcpStream;
use ringio::time::Instant;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

struct Args {
    addr: SocketAddr,
    connections: usize,
    size: usize,
    duration: Duration,
}

fn parse_args() -> Args {
    let mut a = Args {
        addr: "127.0.0.1:7878".parse().unwrap(),
        connections: 256,
        size: 64,
        duration: Duration::from_secs(10),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--addr" => {
                a.addr = value()
                    .parse()
                    .unwrap_or_else(|e| usage(&format!("--addr: {e}")))
            }
            "--connections" | "-c" => {
                a.connections = value().parse().unwrap_or_else(|e| usage(&format!("{e}")))
            }
            "--size" | "-s" => a.size = value().parse().unwrap_or_else(|e| usage(&format!("{e}"))),
            "--duration" | "-d" => {
                let secs: f64 = value().parse().unwrap_or_else(|e| usage(&format!("{e}")));
                a.duration = Duration::from_secs_f64(secs);
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if !a.addr.ip().is_loopback() {
        usage("only loopback addresses (127.0.0.0/8, ::1) may carry test traffic");
    }
    if a.connections == 0 || a.size < 8 {
        usage("need at least 1 connection and a size of at least 8 bytes");
    }
    a
}

fn usage(msg: &str) -> ! {
    if !msg.is_empty() {
        eprintln!("echo_client: {msg}");
    }
    eprintln!("usage: echo_client [--addr 127.0.0.1:PORT] [--connections N] [--size BYTES] [--duration SECS]");
    std::process::exit(2)
}

/// Latency histogram: exact below 128 ns, then 64 buckets per power of two (<1.6% error).
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: vec![0; 64 * 60],
            total: 0,
            max: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < 128 {
            return v as usize;
        }
        let shift = 63 - v.leading_zeros() - 6;
        (shift as usize + 1) * 64 + ((v >> shift) as usize - 64)
    }

    fn value(idx: usize) -> u64 {
        if idx < 128 {
            return idx as u64;
        }
        let shift = idx / 64 - 1;
        (((idx % 64) + 64) as u64) << shift
    }

    fn record(&mut self, nanos: u64) {
        self.counts[Self::index(nanos)] += 1;
        self.total += 1;
        self.max = self.max.max(nanos);
    }

    fn percentile(&self, p: f64) -> Duration {
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (idx, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_nanos(Self::value(idx));
            }
        }
        Duration::from_nanos(self.max)
    }
}

#[derive(Default)]
struct Totals {
    messages: u64,
    mismatches: u64,
    errors: u64,
}

/// The message for connection `conn`, sequence `seq`: a header and a pattern that
/// changes with both, so a byte from another connection or message shows.
fn fill_message(buf: &mut Vec<u8>, size: usize, conn: u32, seq: u32) {
    buf.clear();
    buf.extend_from_slice(&conn.to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    let mut x = (conn as u64) << 32 | seq as u64 | 1;
    while buf.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf.push(x as u8);
    }
}

async fn connection(
    id: u32,
    args: Rc<Args>,
    deadline: Instant,
    hist: Rc<RefCell<Histogram>>,
    totals: Rc<RefCell<Totals>>,
) {
    let conn = match TcpStream::connect(args.addr).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("echo_client: connection {id}: connect failed: {e}");
            totals.borrow_mut().errors += 1;
            return;
        }
    };
    let _ = conn.set_nodelay(true);
    let mut expected = Vec::with_capacity(args.size);
    let mut send = Vec::with_capacity(args.size);
    let mut recv = vec![0u8; args.size];
    let mut seq = 0u32;
    while Instant::now() < deadline {
        fill_message(&mut expected, args.size, id, seq);
        send.clear();
        send.extend_from_slice(&expected);
        let start = std::time::Instant::now();
        let (res, s) = conn.write_all(send).await;
        send = s;
        if let Err(e) = res {
            eprintln!("echo_client: connection {id}: write failed: {e}");
            totals.borrow_mut().errors += 1;
            return;
        }
        let (res, r) = conn.read_exact(recv).await;
        recv = r;
        if let Err(e) = res {
            eprintln!("echo_client: connection {id}: read failed: {e}");
            totals.borrow_mut().errors += 1;
            return;
        }
        hist.borrow_mut().record(start.elapsed().as_nanos() as u64);
        let mut t = totals.borrow_mut();
        if recv != expected {
            if t.mismatches < 5 {
                let at = recv
                    .iter()
                    .zip(&expected)
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                eprintln!("echo_client: connection {id} message {seq}: mismatch at byte {at}");
            }
            t.mismatches += 1;
        }
        t.messages += 1;
        seq = seq.wrapping_add(1);
    }
}

fn main() {
    let args = Rc::new(parse_args());
    let rt = ringio::Runtime::new().unwrap_or_else(|e| {
        eprintln!("echo_client: cannot start the runtime: {e}");
        std::process::exit(1);
    });
    println!(
        "echo_client: {} connections x {} B for {:.1}s against {} ({})",
        args.connections,
        args.size,
        args.duration.as_secs_f64(),
        args.addr,
        rt.driver_info()
    );
    let hist = Rc::new(RefCell::new(Histogram::new()));
    let totals = Rc::new(RefCell::new(Totals::default()));
    let started = std::time::Instant::now();
    rt.block_on(async {
        let deadline = Instant::now() + args.duration;
        let handles: Vec<_> = (0..args.connections as u32)
            .map(|id| {
                ringio::spawn(connection(
                    id,
                    args.clone(),
                    deadline,
                    hist.clone(),
                    totals.clone(),
                ))
            })
            .collect();
        for h in handles {
            if let Err(e) = h.await {
                eprintln!("echo_client: {e}");
                totals.borrow_mut().errors += 1;
            }
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let t = totals.borrow();
    let h = hist.borrow();
    println!("messages:   {}", t.messages);
    println!("msgs/s:     {:.0}", t.messages as f64 / secs);
    println!(
        "latency:    p50 {:?}  p90 {:?}  p99 {:?}  p99.9 {:?}  max {:?}",
        h.percentile(50.0),
        h.percentile(90.0),
        h.percentile(99.0),
        h.percentile(99.9),
        Duration::from_nanos(h.max)
    );
    println!("mismatches: {}", t.mismatches);
    println!("errors:     {}", t.errors);
    println!(
        "echo_client: {} passed, {} failed",
        t.messages,
        t.mismatches + t.errors
    );
    if t.mismatches > 0 || t.errors > 0 || t.messages == 0 {
        std::process::exit(1);
    }
}
