//! Soak: many concurrent connections echoing through a ringio server for a while, then
//! closing, on each driver. Every byte is checked, the process's RSS is sampled every
//! second, and the fd count is compared before and after.
//!
//! The short version (2,000 connections, 10 s per driver) runs in the README test
//! command; `ci/soak.sh` runs the long one (10,000 connections, 60 s) in release, with
//! `RINGIO_SOAK_CONNS` and `RINGIO_SOAK_SECS`. Server and clients are two runtimes in
//! this process (a worker each), talking over loopback; the load is bounded in
//! connections and seconds.
//!
//! Pass criteria: 0 mismatched bytes, 0 failed connections, the fd count back where it
//! started, and RSS growth after warm-up under 1 % (the long run; the short one reports
//! growth and bounds it loosely, as 10 s leaves little room past the warm-up).

mod support;

use ringio::buf::BufPool;
use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
use ringio::net::{BindOptions, TcpListener, TcpStream};
use ringio::runtime::Driver;
use ringio::sync::Semaphore;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{fd_count, raise_fd_limit, Rng};

static SERIAL: Mutex<()> = Mutex::new(());

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

/// Byte `k` of message `seq` on connection `conn`.
fn pattern(conn: u64, seq: u64, k: usize) -> u8 {
    (conn.wrapping_mul(131) ^ seq.wrapping_mul(31) ^ (k as u64).wrapping_mul(7)) as u8
}

struct Tally {
    messages: AtomicU64,
    bytes: AtomicU64,
    mismatches: AtomicU64,
    failed: AtomicU64,
    connected: AtomicU64,
    /// Each connection's phase, for the report of a stall.
    phases: Vec<std::sync::atomic::AtomicU8>,
}

const PHASES: [&str; 6] = [
    "connecting",
    "writing",
    "reading",
    "idling",
    "closing",
    "done",
];

impl Tally {
    fn new(conns: u64) -> Tally {
        Tally {
            messages: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            mismatches: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            phases: (0..conns)
                .map(|_| std::sync::atomic::AtomicU8::new(0))
                .collect(),
        }
    }

    fn phase(&self, conn: u64, phase: u8) {
        self.phases[conn as usize].store(phase, Ordering::Relaxed);
    }

    fn stalled(&self) -> String {
        let mut counts = [0usize; 6];
        for p in &self.phases {
            counts[p.load(Ordering::Relaxed) as usize] += 1;
        }
        PHASES
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{n} {name}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn server(
    driver: Driver,
    ready: std::sync::mpsc::Sender<std::net::SocketAddr>,
    stop: Arc<AtomicBool>,
) {
    let rt = ringio::Builder::new()
        .driver(driver)
        .workers(1)
        .pin_workers(false)
        .build()
        .unwrap();
    rt.block_on(async move {
        let opts = BindOptions::new().backlog(4096);
        let listener = TcpListener::bind_with("127.0.0.1:0", &opts).unwrap();
        ready.send(listener.local_addr().unwrap()).unwrap();
        let pool = Rc::new(BufPool::new(1024, 16 * 1024).unwrap());
        let open = Rc::new(Cell::new(0usize));
        loop {
            let accepted =
                ringio::time::timeout(Duration::from_millis(50), listener.accept()).await;
            if stop.load(Ordering::Acquire) && open.get() == 0 {
                return;
            }
            let Ok(Ok((conn, _))) = accepted else {
                continue;
            };
            let (pool, open) = (pool.clone(), open.clone());
            open.set(open.get() + 1);
            drop(ringio::spawn(async move {
                while let Ok(Some(buf)) = conn.recv_pooled(&pool).await {
                    if conn.write_all(buf).await.0.is_err() {
                        break;
                    }
                }
                open.set(open.get() - 1);
            }));
        }
    });
}

async fn client(
    conn_id: u64,
    addr: std::net::SocketAddr,
    until: Instant,
    tally: Arc<Tally>,
    connecting: Rc<Semaphore>,
) {
    let permit = connecting.acquire().await;
    let stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("connection {conn_id}: connect failed: {e}");
            tally.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    drop(permit);
    tally.connected.fetch_add(1, Ordering::Relaxed);
    let mut rng = Rng::new(conn_id + 1);
    let mut out = Vec::new();
    let mut seq = 0u64;
    while Instant::now() < until {
        let len = 1 + rng.below(2048) as usize;
        tally.phase(conn_id, 1);
        out.clear();
        out.extend((0..len).map(|k| pattern(conn_id, seq, k)));
        let (res, sent) = stream.write_all(std::mem::take(&mut out)).await;
        out = sent;
        if let Err(e) = res {
            eprintln!("connection {conn_id}: write failed: {e}");
            tally.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        tally.phase(conn_id, 2);
        // A read fills a Vec up to its capacity: a fresh one of the message's size.
        let (res, back) = stream.read_exact(Vec::with_capacity(len)).await;
        if let Err(e) = res {
            eprintln!("connection {conn_id}: read failed: {e}");
            tally.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if back != out {
            tally.mismatches.fetch_add(1, Ordering::Relaxed);
        }
        tally.messages.fetch_add(1, Ordering::Relaxed);
        tally.bytes.fetch_add(len as u64, Ordering::Relaxed);
        seq += 1;
        // Idle a little now and then, as real clients do, so that the set of busy
        // connections keeps changing.
        if rng.below(16) == 0 {
            tally.phase(conn_id, 3);
            ringio::time::sleep(Duration::from_millis(rng.below(20))).await;
        }
    }
    tally.phase(conn_id, 4);
    stream.shutdown(std::net::Shutdown::Write).await.ok();
    // The server closes after our end of stream.
    let (res, _) = stream.read(vec![0u8; 16]).await;
    if !matches!(res, Ok(0)) {
        tally.mismatches.fetch_add(1, Ordering::Relaxed);
    }
    tally.phase(conn_id, 5);
}

struct Outcome {
    messages: u64,
    bytes: u64,
    fds_leaked: i64,
    rss_warm_kib: u64,
    rss_max_kib: u64,
    growth_pct: f64,
}

fn soak(driver: Driver, conns: u64, secs: u64) -> Outcome {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    raise_fd_limit(conns + 1024);
    let fds_before = fd_count() as i64;
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server_stop = stop.clone();
    let server = std::thread::spawn(move || server(driver, ready_tx, server_stop));
    let addr = ready_rx.recv().unwrap();

    // RSS every second; warm-up ends once every connection is up and has run a while.
    let sampling = Arc::new(AtomicBool::new(true));
    let samples = Arc::new(Mutex::new(Vec::<(Instant, u64)>::new()));
    let sampler = {
        let (sampling, samples) = (sampling.clone(), samples.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Acquire) {
                samples.lock().unwrap().push((Instant::now(), rss_kib()));
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };

    // The clients run in a child process (this test binary again): each side then
    // holds one fd per connection, within the hard RLIMIT_NOFILE of a container, and
    // the RSS sampled here is the server's alone.
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "soak_clients", "--nocapture", "--test-threads=1"])
        .env(
            "RINGIO_SOAK_CHILD",
            format!("{addr} {conns} {secs} {driver:?}"),
        )
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the soak clients");
    let stdout = String::from_utf8_lossy(&child.stdout);
    let report = stdout
        .find("SOAK_CLIENTS|")
        .map(|at| stdout[at..].lines().next().unwrap().to_string());
    let Some(report) = report.filter(|_| child.status.success()) else {
        panic!(
            "the soak clients failed ({}):\n{stdout}\n{}",
            child.status,
            String::from_utf8_lossy(&child.stderr)
        );
    };
    let fields: Vec<u64> = report
        .trim_start_matches("SOAK_CLIENTS|")
        .split('|')
        .map(|f| f.trim().parse().unwrap())
        .collect();
    let [messages, bytes, mismatches, failed, connected_after_ms] = fields[..] else {
        panic!("bad report {report:?}");
    };
    stop.store(true, Ordering::Release);
    server.join().unwrap();
    sampling.store(false, Ordering::Release);
    sampler.join().unwrap();
    let fds_leaked = fd_count() as i64 - fds_before;

    // Warm-up: until every connection is up, plus a fifth of what is left of the run.
    let connected = (started + Duration::from_millis(connected_after_ms)).min(until);
    let warm = connected + (until.saturating_duration_since(connected)) / 5;
    let samples = samples.lock().unwrap();
    let after: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= warm && *t <= until)
        .map(|&(_, r)| r)
        .collect();
    let rss_warm_kib = after.first().copied().unwrap_or(0);
    let rss_max_kib = after.iter().copied().max().unwrap_or(0);
    let growth_pct = if rss_warm_kib > 0 {
        (rss_max_kib as f64 - rss_warm_kib as f64) * 100.0 / rss_warm_kib as f64
    } else {
        0.0
    };
    let outcome = Outcome {
        messages,
        bytes,
        fds_leaked,
        rss_warm_kib,
        rss_max_kib,
        growth_pct,
    };
    println!(
        "RELIABILITY|soak ({driver:?})|{conns} connections x {secs} s, {} msgs, {:.1} MB echoed|{mismatches} mismatches, {failed} failed connections, {} fds leaked, RSS {} -> max {} KiB after warm-up ({:+.2} %), {} samples",
        outcome.messages,
        outcome.bytes as f64 / 1e6,
        outcome.fds_leaked,
        outcome.rss_warm_kib,
        outcome.rss_max_kib,
        outcome.growth_pct,
        after.len()
    );
    assert_eq!(mismatches, 0, "bytes came back wrong");
    assert_eq!(failed, 0, "connections failed");
    assert_eq!(outcome.fds_leaked, 0, "fds leaked");
    assert!(outcome.messages >= conns, "some connection never echoed");
    outcome
}

/// The clients' side of a soak, in a child process of `soak`; does nothing in a normal
/// run. Prints `SOAK_CLIENTS|messages|bytes|mismatches|failed|ms until all connected`.
#[test]
fn soak_clients() {
    let Ok(spec) = std::env::var("RINGIO_SOAK_CHILD") else {
        return;
    };
    let parts: Vec<&str> = spec.split(' ').collect();
    let addr: std::net::SocketAddr = parts[0].parse().unwrap();
    let conns: u64 = parts[1].parse().unwrap();
    let secs: u64 = parts[2].parse().unwrap();
    let driver = if parts[3] == "Epoll" {
        Driver::Epoll
    } else {
        Driver::Uring
    };
    raise_fd_limit(conns + 1024);
    let fds_before = fd_count();
    let tally = Arc::new(Tally::new(conns));
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let client_rt = ringio::Builder::new()
        .driver(driver)
        .workers(1)
        .pin_workers(false)
        .build()
        .unwrap();
    let connected_at = Arc::new(Mutex::new(None));
    client_rt.block_on({
        let (tally, connected_at) = (tally.clone(), connected_at.clone());
        async move {
            // Connect 256 at a time: a burst of 10,000 SYNs would overflow the backlog
            // and wait out SYN retransmits.
            let connecting = Rc::new(Semaphore::new(256));
            let mut handles = Vec::new();
            for id in 0..conns {
                handles.push(ringio::spawn(client(
                    id,
                    addr,
                    until,
                    tally.clone(),
                    connecting.clone(),
                )));
            }
            while tally.connected.load(Ordering::Relaxed) + tally.failed.load(Ordering::Relaxed)
                < conns
            {
                if Instant::now() >= until {
                    break;
                }
                ringio::time::sleep(Duration::from_millis(20)).await;
            }
            *connected_at.lock().unwrap() = Some(Instant::now());
            let joined = async {
                for h in handles {
                    h.await.unwrap();
                }
            };
            let grace = Duration::from_secs(30 + conns / 500);
            if ringio::time::timeout_at((until + grace).into(), joined)
                .await
                .is_err()
            {
                panic!(
                    "connections stalled {} s after the end: {} ({} messages echoed)",
                    grace.as_secs(),
                    tally.stalled(),
                    tally.messages.load(Ordering::Relaxed)
                );
            }
        }
    });
    drop(client_rt);
    assert_eq!(fd_count(), fds_before, "the clients leaked fds");
    let connected = connected_at.lock().unwrap().unwrap_or(until);
    println!(
        "SOAK_CLIENTS|{}|{}|{}|{}|{}",
        tally.messages.load(Ordering::Relaxed),
        tally.bytes.load(Ordering::Relaxed),
        tally.mismatches.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
        connected.duration_since(started).as_millis()
    );
}

fn short_soak(d: Driver) {
    let conns = env_or("RINGIO_SOAK_CONNS", 2_000);
    let secs = env_or("RINGIO_SOAK_SECS", 10);
    let out = soak(d, conns, secs);
    // The long run's bar is 1 %; ten seconds leave only a few samples past warm-up, so
    // the short run only guards against a leak that grows by the second.
    let bar = if secs >= 60 { 1.0 } else { 10.0 };
    assert!(
        out.growth_pct < bar,
        "RSS grew {:.2} % after warm-up (bar {bar} %)",
        out.growth_pct
    );
}

both_drivers!(short_soak);
