//! `echo-bench`: ringio's main benchmark. TCP echo ping-pong against ringio (io_uring and
//! epoll drivers), tokio (current_thread per core, and multi_thread) and monoio, over a
//! matrix of connection counts and message sizes.
//!
//! ```text
//! cargo run --release -p echo-bench                      # every server, 3 cells, ~2 minutes
//! cargo run --release -p echo-bench -- --full            # 6 cells, longer runs, ~7.5 minutes
//! cargo run --release -p echo-bench -- --servers ringio-uring,tokio-ct \
//!     --connections 16 --sizes 64 --duration 1 --rounds 1  # a quick look
//! ```
//!
//! The default matrix runs every server on the cells that tell runtimes apart (16 and 256
//! connections x 64 B, and 16 x 4 KiB) with shorter windows; `--full` is the whole
//! {1, 16, 256} x {64, 4096} matrix with 3 s windows. While it runs, a progress line on
//! stderr (when stderr is a terminal) shows the cell, server, round, elapsed time and
//! the time left; without a terminal each run's line carries the elapsed and remaining
//! time instead.
//!
//! How it measures, and why:
//!
//! - **Every server is its own process** ([`server`]), started fresh for every run and
//!   killed after it: its CPU time can then be read from `/proc/PID/stat` without the
//!   client's, and no run inherits another's state.
//! - **Server and client are pinned to disjoint CPUs** (`--server-cpus`, default CPU 0;
//!   `--client-cpus`, default the rest): otherwise the scheduler sometimes stacks them on
//!   one CPU and the figures measure that.
//! - **The client is not ringio** ([`client`]): plain threads with epoll, so a ringio bug
//!   cannot flatter ringio. It checks every echoed byte and stops the whole benchmark
//!   with a non-zero exit on any mismatch.
//! - **Rounds are interleaved**: round 1 runs every cell on every server, then round 2,
//!   and so on, and within a cell the server order rotates each round. Noise from other
//!   work on the machine (builds, other benchmarks) then lands on all servers alike
//!   rather than on whichever ran during it, and the reported figure is the median over
//!   rounds ([`report`]).
//! - **Server CPU per message** is the server's user + system time over the measured
//!   window divided by the messages echoed in it. On a machine where loopback TCP caps
//!   every good server at about the same msgs/s, this is what separates runtimes.
//! - **A no-runtime baseline**: `raw-uring` (bin `echo-raw-uring`) is a hand-written
//!   io_uring echo loop, one RECV and one SEND per message; every server's msgs/s and CPU
//!   per message are also given as a fraction of its ("x of raw").

#![forbid(unsafe_code)]

mod progress;
mod report;
mod server;

use echo_bench::client;
use report::RunRecord;
use server::ServerKind;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Longest accepted `--duration` or `--warmup`, in seconds.
const MAX_SECS: f64 = 600.0;
/// Most connections accepted (each is a file descriptor on both sides).
const MAX_CONNECTIONS: usize = 10_000;
/// Largest accepted message.
const MAX_SIZE: usize = 1 << 20;

/// A preset matrix: what runs when the flags do not say otherwise.
struct Preset {
    /// The cells (connections, message size), in order.
    cells: &'static [(usize, usize)],
    /// The connection counts and sizes whose cross product replaces `cells` when only
    /// one of `--connections` and `--sizes` is given.
    connections: &'static [usize],
    sizes: &'static [usize],
    duration: Duration,
    warmup: Duration,
    rounds: usize,
}

/// The default: every server on three cells, shorter windows; about two minutes on a
/// 2-CPU machine. 16 x 64 B is the common small-message case, 256 x 64 B the many-
/// connections one where per-message overhead shows, and 16 x 4 KiB the copy-bound one.
const QUICK: Preset = Preset {
    cells: &[(16, 64), (256, 64), (16, 4096)],
    connections: &[16, 256],
    sizes: &[64, 4096],
    duration: Duration::from_millis(1500),
    warmup: Duration::from_millis(250),
    rounds: 3,
};

/// `--full`: the whole matrix, as the benchmark ran before the quick default existed.
const FULL: Preset = Preset {
    cells: &[
        (1, 64),
        (1, 4096),
        (16, 64),
        (16, 4096),
        (256, 64),
        (256, 4096),
    ],
    connections: &[1, 16, 256],
    sizes: &[64, 4096],
    duration: Duration::from_secs(3),
    warmup: Duration::from_millis(500),
    rounds: 3,
};

/// The command line.
#[derive(Clone, Debug)]
struct Config {
    servers: Vec<ServerKind>,
    /// (connections, message size) pairs, in the order they run within a round.
    cells: Vec<(usize, usize)>,
    duration: Duration,
    warmup: Duration,
    rounds: usize,
    threads: usize,
    server_cpus: Vec<usize>,
    client_cpus: Vec<usize>,
    client_threads: Option<usize>,
    out_dir: PathBuf,
    build: bool,
}

const USAGE: &str = "\
usage: echo-bench [options]

  --servers LIST        servers to run, comma-separated
                        (default: raw-uring,ringio-uring,ringio-epoll,ringio-uring-busy,
                        tokio-ct,tokio-mt,monoio)
  --full                the full matrix: connections 1,16,256 x sizes 64,4096,
                        --duration 3, --warmup 0.5, --rounds 3 (about 7.5 minutes)
                        (default: cells 16x64, 256x64, 16x4096, --duration 1.5,
                        --warmup 0.25, --rounds 3: about 2 minutes)
  --connections LIST    connection counts; with --sizes, or alone (then crossed with
                        64,4096), they replace the default cells by a cross product
                        (default cells as above; --full: 1,16,256)
  --sizes LIST          message sizes in bytes, likewise (--full: 64,4096)
  --duration SECS       measured window per run (default: 1.5; --full: 3)
  --warmup SECS         unmeasured time before it (default: 0.25; --full: 0.5)
  --rounds N            interleaved rounds; medians are reported (default: 3)
  --threads N           server threads / runtimes (default: 1)
  --server-cpus LIST    CPUs for the server, e.g. 0 or 0-3 (default: the first N of ours)
  --client-cpus LIST    CPUs for the load client (default: the remaining ones)
  --client-threads N    load client threads (default: one per client CPU)
  --out-dir DIR         where CSV, SVG and markdown go (default: target/echo-bench)
  --no-build            use the server executables already built instead of running
                        cargo build --release for them first
  -h, --help            this text

Every run pings and pongs on loopback, checks every echoed byte, and fails with a
non-zero exit on any mismatch.";

/// Exits with a usage error.
fn bad(msg: impl std::fmt::Display) -> ! {
    eprintln!("echo-bench: {msg}\n\n{USAGE}");
    std::process::exit(2)
}

/// Parses `1,16,256`.
fn parse_list(s: &str, what: &str) -> Vec<usize> {
    let v: Vec<usize> = s
        .split(',')
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.trim()
                .parse()
                .unwrap_or_else(|_| bad(format!("{what}: {x:?} is not a number")))
        })
        .collect();
    if v.is_empty() {
        bad(format!("{what}: empty list"));
    }
    v
}

/// Parses a CPU list such as `0`, `1-3` or `0,2-3`.
fn parse_cpus(s: &str, what: &str) -> Vec<usize> {
    let mut v = Vec::new();
    for part in s.split(',').filter(|x| !x.is_empty()) {
        let num = |x: &str| -> usize {
            x.trim()
                .parse()
                .unwrap_or_else(|_| bad(format!("{what}: {part:?} is not a CPU list")))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a), num(b));
                if a > b {
                    bad(format!("{what}: {part:?} is backwards"));
                }
                v.extend(a..=b);
            }
            None => v.push(num(part)),
        }
    }
    v.sort_unstable();
    v.dedup();
    if v.is_empty() {
        bad(format!("{what}: no CPUs"));
    }
    v
}

/// Parses seconds (fractions allowed) within (0, MAX_SECS].
fn parse_secs(s: &str, what: &str, allow_zero: bool) -> Duration {
    let v: f64 = s
        .parse()
        .unwrap_or_else(|_| bad(format!("{what}: {s:?} is not a number of seconds")));
    if !(v > 0.0 || allow_zero && v == 0.0) || v > MAX_SECS {
        bad(format!("{what}: must be within (0, {MAX_SECS}] seconds"));
    }
    Duration::from_secs_f64(v)
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

/// Parses the command line and checks it against the machine.
fn parse_args() -> Config {
    let mut servers = ServerKind::ALL.to_vec();
    let mut full = false;
    let mut connections: Option<Vec<usize>> = None;
    let mut sizes: Option<Vec<usize>> = None;
    let mut duration = None;
    let mut warmup = None;
    let mut rounds = None;
    let mut threads = 1;
    let mut server_cpus = None;
    let mut client_cpus = None;
    let mut client_threads = None;
    let mut out_dir = None;
    let mut build = true;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut val = || {
            inline
                .clone()
                .or_else(|| it.next())
                .unwrap_or_else(|| bad(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--servers" => {
                servers = val()
                    .split(',')
                    .filter(|x| !x.is_empty())
                    .map(|x| {
                        ServerKind::parse(x.trim())
                            .unwrap_or_else(|| bad(format!("unknown server {x:?}")))
                    })
                    .collect();
                servers.sort();
                servers.dedup();
                if servers.is_empty() {
                    bad("--servers: empty list");
                }
            }
            "--full" if inline.is_none() => full = true,
            "--connections" => connections = Some(parse_list(&val(), "--connections")),
            "--sizes" => sizes = Some(parse_list(&val(), "--sizes")),
            "--duration" => duration = Some(parse_secs(&val(), "--duration", false)),
            "--warmup" => warmup = Some(parse_secs(&val(), "--warmup", true)),
            "--rounds" => {
                rounds = Some(
                    val()
                        .parse()
                        .ok()
                        .filter(|n| (1..=100).contains(n))
                        .unwrap_or_else(|| bad("--rounds: 1 to 100")),
                )
            }
            "--threads" => {
                threads = val()
                    .parse()
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .unwrap_or_else(|| bad("--threads: 1 to 1024"))
            }
            "--server-cpus" => server_cpus = Some(parse_cpus(&val(), "--server-cpus")),
            "--client-cpus" => client_cpus = Some(parse_cpus(&val(), "--client-cpus")),
            "--client-threads" => {
                client_threads = Some(
                    val()
                        .parse()
                        .ok()
                        .filter(|n| (1..=1024).contains(n))
                        .unwrap_or_else(|| bad("--client-threads: 1 to 1024")),
                )
            }
            "--out-dir" => out_dir = Some(PathBuf::from(val())),
            "--no-build" => build = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            other => bad(format!("unknown argument {other:?}")),
        }
    }
    if let Some(&c) = connections
        .iter()
        .flatten()
        .find(|&&c| c == 0 || c > MAX_CONNECTIONS)
    {
        bad(format!(
            "--connections: {c} is not within 1..={MAX_CONNECTIONS}"
        ));
    }
    if let Some(&s) = sizes.iter().flatten().find(|&&s| s == 0 || s > MAX_SIZE) {
        bad(format!("--sizes: {s} is not within 1..={MAX_SIZE}"));
    }
    let preset = if full { &FULL } else { &QUICK };
    let cells = if connections.is_none() && sizes.is_none() {
        preset.cells.to_vec()
    } else {
        let connections = connections.unwrap_or_else(|| preset.connections.to_vec());
        let sizes = sizes.unwrap_or_else(|| preset.sizes.to_vec());
        connections
            .iter()
            .flat_map(|&c| sizes.iter().map(move |&s| (c, s)))
            .collect()
    };
    let duration = duration.unwrap_or(preset.duration);
    let warmup = warmup.unwrap_or(preset.warmup);
    let rounds = rounds.unwrap_or(preset.rounds);
    let allowed = allowed_cpus();
    let server_cpus = server_cpus.unwrap_or_else(|| {
        let from: Vec<usize> = match &client_cpus {
            Some(cc) => allowed
                .iter()
                .copied()
                .filter(|c| !cc.contains(c))
                .collect(),
            None => allowed.clone(),
        };
        from.into_iter().take(threads).collect()
    });
    let client_cpus = client_cpus.unwrap_or_else(|| {
        allowed
            .iter()
            .copied()
            .filter(|c| !server_cpus.contains(c))
            .collect()
    });
    for (what, cpus) in [
        ("--server-cpus", &server_cpus),
        ("--client-cpus", &client_cpus),
    ] {
        if cpus.is_empty() {
            bad(format!(
                "{what}: no CPU left (this process may use {allowed:?}); server and client need disjoint CPUs"
            ));
        }
        if let Some(c) = cpus.iter().find(|c| !allowed.contains(c)) {
            bad(format!(
                "{what}: CPU {c} is not one this process may use ({allowed:?})"
            ));
        }
    }
    if let Some(c) = server_cpus.iter().find(|c| client_cpus.contains(c)) {
        bad(format!(
            "CPU {c} is in both --server-cpus and --client-cpus; they must be disjoint"
        ));
    }
    let out_dir = out_dir.unwrap_or_else(|| {
        // target/echo-bench next to target/release/echo-bench.
        std::env::current_exe()
            .ok()
            .and_then(|e| Some(e.parent()?.parent()?.join("echo-bench")))
            .unwrap_or_else(|| PathBuf::from("target/echo-bench"))
    });
    Config {
        servers,
        cells,
        duration,
        warmup,
        rounds,
        threads,
        server_cpus,
        client_cpus,
        client_threads,
        out_dir,
        build,
    }
}

/// One line describing the machine: CPU model, CPU count, kernel.
fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: f64 = l.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / (1024.0 * 1024.0))
        })
        .unwrap_or(0.0);
    // Online CPUs of the machine, not this (pinned) process's share of them.
    let cpus = std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    format!("{cpus} x {model}, {mem_gib:.0} GiB RAM, Linux {kernel}")
}

/// The 1, 5 and 15 minute load averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs one server on one cell once.
fn run_one(
    cfg: &Config,
    bins: &server::Binaries,
    kind: ServerKind,
    conns: usize,
    size: usize,
    round: usize,
    ticks_per_s: f64,
) -> Result<(RunRecord, String), String> {
    let mut srv = server::start(kind, bins, cfg.threads, &cfg.server_cpus, &cfg.client_cpus)?;
    let result = (|| {
        let spec = client::LoadSpec {
            addr: srv.addr,
            connections: conns,
            size,
            warmup: cfg.warmup,
            duration: cfg.duration,
            threads: cfg.client_threads.unwrap_or(cfg.client_cpus.len()),
            cpus: cfg.client_cpus.clone(),
            messages_per_conn: client::MAX_MESSAGES_PER_CONN,
        };
        let client_threads = spec.threads.clamp(1, conns);
        let running = client::start(&spec)?;
        let me = std::process::id();
        let all_cpus: Vec<usize> = cfg
            .server_cpus
            .iter()
            .chain(&cfg.client_cpus)
            .copied()
            .collect();
        std::thread::sleep(
            running
                .window_start
                .saturating_duration_since(Instant::now()),
        );
        let t0 = Instant::now();
        let c0 = srv.cpu_ticks();
        let m0 = server::proc_cpu_ticks(me)?;
        let a0 = server::cpus_busy_ticks(&all_cpus)?;
        std::thread::sleep(running.window_end.saturating_duration_since(Instant::now()));
        let c1 = srv.cpu_ticks();
        let m1 = server::proc_cpu_ticks(me)?;
        let a1 = server::cpus_busy_ticks(&all_cpus)?;
        let t1 = Instant::now();
        let load = running.finish()?;
        srv.check_alive()?;
        let (c0, c1) = (c0?, c1?);
        // Busy time on our CPUs that was neither the server's nor ours.
        let other_ticks = a1.saturating_sub(a0) as f64
            - c1.saturating_sub(c0) as f64
            - m1.saturating_sub(m0) as f64;
        if load.messages == 0 {
            return Err("no message completed in the measured window".to_string());
        }
        debug_assert_eq!(load.hist.count(), load.messages);
        let window_s = cfg.duration.as_secs_f64();
        let cpu_s = c1.saturating_sub(c0) as f64 / ticks_per_s;
        // The CPU sample window (t0..t1) may be a little longer than the planned one if
        // this thread woke late; scale CPU to the planned window it is divided by.
        let scale = window_s / (t1 - t0).as_secs_f64().max(window_s);
        let cpu_s = cpu_s * scale;
        let client_cpu_s = m1.saturating_sub(m0) as f64 / ticks_per_s * scale;
        let server_cores = cfg.threads.min(cfg.server_cpus.len()) as f64;
        let client_cores = client_threads.min(cfg.client_cpus.len()) as f64;
        Ok(RunRecord {
            round,
            server: kind,
            conns,
            size,
            messages: load.messages,
            window_s,
            msgs_per_s: load.messages as f64 / window_s,
            p50_us: load.hist.quantile(0.50) as f64 / 1e3,
            p99_us: load.hist.quantile(0.99) as f64 / 1e3,
            server_cpu_s: cpu_s,
            cpu_us_per_msg: cpu_s * 1e6 / load.messages as f64,
            server_busy_pct: 100.0 * cpu_s / (window_s * server_cores),
            client_busy_pct: 100.0 * client_cpu_s / (window_s * client_cores),
            other_pct: (100.0 * other_ticks.max(0.0) / ticks_per_s * scale
                / (window_s * all_cpus.len() as f64))
                .min(100.0),
        })
    })();
    let banner = srv.banner.clone();
    srv.stop();
    result.map(|r| (r, banner))
}

/// Writes `text` to `dir/name`, reporting failures without aborting.
fn write_out(dir: &std::path::Path, name: &str, text: &str) -> Option<PathBuf> {
    let p = dir.join(name);
    match std::fs::write(&p, text) {
        Ok(()) => Some(p),
        Err(e) => {
            eprintln!("echo-bench: cannot write {}: {e}", p.display());
            None
        }
    }
}

fn main() {
    let cfg = parse_args();
    if cfg!(debug_assertions) {
        eprintln!("echo-bench: warning: this is a debug build; the load client will be slow (use --release)");
    }
    let bins = server::prepare(cfg.build).unwrap_or_else(|e| {
        eprintln!("echo-bench: {e}");
        std::process::exit(1)
    });
    if let Err(e) = client::pin_current_thread(&cfg.client_cpus) {
        eprintln!("echo-bench: {e}");
        std::process::exit(1);
    }
    let cells = cfg.cells.clone();
    let total = cfg.rounds * cells.len() * cfg.servers.len();
    // Server start-up and shutdown, client connect and drain: measured on a 2-CPU VM.
    let per_run = cfg.warmup + cfg.duration + Duration::from_millis(100);
    let machine = machine();
    let setup = format!(
        "server: {} thread(s) on CPU(s) {:?}; client: {} thread(s) on CPU(s) {:?}; \
         warm-up {:?}, window {:?}, {} round(s), ping-pong, every byte checked",
        cfg.threads,
        cfg.server_cpus,
        cfg.client_threads.unwrap_or(cfg.client_cpus.len()),
        cfg.client_cpus,
        cfg.warmup,
        cfg.duration,
        cfg.rounds
    );
    println!("echo-bench on {machine}");
    println!("{setup}");
    println!(
        "{total} runs ({} server(s) x {} cell(s) x {} round(s)), about {:.0} s",
        cfg.servers.len(),
        cells.len(),
        cfg.rounds,
        total as f64 * per_run.as_secs_f64()
    );
    println!(
        "per run: msgs/s, round-trip p50/p99, server CPU per message, and busy % (server / \
         client CPU time over the window, as a share of the CPUs their threads may use) and \
         other % (time other processes or the hypervisor took on those CPUs)"
    );
    let ticks_per_s = server::clock_ticks_per_sec() as f64;
    let load_start = loadavg();
    let started = Instant::now();
    let mut records = Vec::new();
    let mut n = 0;
    let mut banners_shown = std::collections::HashSet::new();
    let mut progress = progress::Progress::new(total, per_run);
    for round in 1..=cfg.rounds {
        for &(conns, size) in &cells {
            // Rotate the server order each round so no server always runs first.
            let k = cfg.servers.len();
            for i in 0..k {
                let kind = cfg.servers[(i + round - 1) % k];
                n += 1;
                progress.start_run(round, cfg.rounds, conns, size, kind.name());
                let result = run_one(&cfg, &bins, kind, conns, size, round, ticks_per_s);
                progress.finish_run();
                match result {
                    Ok((r, banner)) => {
                        if banners_shown.insert(kind) {
                            progress.plain(&format!("  ({} says: {banner})", kind.name()));
                        }
                        progress.line(&format!(
                            "[{n:>3}/{total}] round {round} {conns:>4} conn x {size:>5} B  {:<17} {:>10} msg/s  p50 {:>8.1} µs  p99 {:>8.1} µs  {:>6.2} µs CPU/msg  busy {:>3.0}% / {:>3.0}%  other {:>3.0}%",
                            kind.name(),
                            report::thousands(r.msgs_per_s),
                            r.p50_us,
                            r.p99_us,
                            r.cpu_us_per_msg,
                            r.server_busy_pct,
                            r.client_busy_pct,
                            r.other_pct
                        ));
                        let _ = std::io::stdout().flush();
                        records.push(r);
                    }
                    Err(e) => {
                        progress.finish();
                        eprintln!(
                            "echo-bench: FAILED: {} with {conns} connection(s) x {size} B, round {round}: {e}",
                            kind.name()
                        );
                        if std::fs::create_dir_all(&cfg.out_dir).is_ok() {
                            if let Some(p) =
                                write_out(&cfg.out_dir, "runs.csv", &report::runs_csv(&records))
                            {
                                eprintln!(
                                    "echo-bench: the runs before the failure are in {}",
                                    p.display()
                                );
                            }
                        }
                        std::process::exit(1);
                    }
                }
            }
        }
    }
    progress.finish();
    let elapsed = started.elapsed();
    let sums = report::summarize(&records, &cells, &cfg.servers);
    let table = report::markdown_table(&sums);
    let verdicts = report::verdicts(&sums, &cells);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let others: Vec<f64> = records.iter().map(|r| r.other_pct).collect();
    let md = format!(
        "## echo-bench results\n\n\
         Machine: {machine}.  \n\
         Setup: {setup}.  \n\
         Command: `cargo run --release -p echo-bench{}{}`; took {:.0} s.  \n\
         Disturbance: other processes and the hypervisor took a median {:.0} % (max {:.0} %) \
         of the benchmark's CPUs during the measured windows; load average {} at the start, \
         {} at the end.\n\n\
         Medians over rounds; ratios are against the best peer (tokio-ct, tokio-mt, \
         monoio) in the same cell (msgs/s: higher is better; CPU/msg: lower is better), and \
         \"x of raw\" against raw-uring, the no-runtime io_uring loop. Busy %: server and \
         client CPU time over the window as a share of the CPUs their threads may use.\n\n\
         {table}\n\
         Verdict per cell (msgs/s of ringio against each other server, medians):\n\n{}\n",
        if args.is_empty() { "" } else { " -- " },
        args.join(" "),
        elapsed.as_secs_f64(),
        report::median(&others),
        others.iter().copied().fold(0.0, f64::max),
        load_start,
        loadavg(),
        verdicts
            .iter()
            .map(|v| format!("- {v}\n"))
            .collect::<String>(),
    );
    println!("\n## echo-bench results\n\n{table}");
    if let Err(e) = std::fs::create_dir_all(&cfg.out_dir) {
        eprintln!("echo-bench: cannot create {}: {e}", cfg.out_dir.display());
        std::process::exit(1);
    }
    let title = format!(
        "echo ping-pong, {} server thread(s), {} round(s) of {} s per run — {machine}",
        cfg.threads,
        cfg.rounds,
        cfg.duration.as_secs_f64()
    );
    let extras = report::load_extras(&cfg.out_dir);
    let chart = report::svg_chart(&sums, &cells, &cfg.servers, &title, &extras);
    let runs = write_out(&cfg.out_dir, "runs.csv", &report::runs_csv(&records));
    let summary = write_out(&cfg.out_dir, "summary.csv", &report::summary_csv(&sums));
    let results = write_out(&cfg.out_dir, "results.md", &md);
    let svg = write_out(&cfg.out_dir, "chart.svg", &chart);
    let shown = |p: &Option<PathBuf>| {
        p.as_ref()
            .map_or("(not written)".to_string(), |p| p.display().to_string())
    };
    println!(
        "took {:.0} s; machine, setup and disturbance in {}",
        elapsed.as_secs_f64(),
        shown(&results)
    );
    println!("CSV:   {} (every run: {})", shown(&summary), shown(&runs));
    println!("chart: {}", shown(&svg));
    for note in [&extras.costs.note, &extras.idle.note] {
        println!("       cost panel: {note}");
    }
    println!("\nverdict per cell (msgs/s of ringio against each other server, medians):");
    for v in &verdicts {
        println!("  {v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets() {
        // --full is the old default matrix: the cross product, in that order.
        let cross: Vec<(usize, usize)> = FULL
            .connections
            .iter()
            .flat_map(|&c| FULL.sizes.iter().map(move |&s| (c, s)))
            .collect();
        assert_eq!(FULL.cells, &cross[..]);
        assert_eq!(
            (FULL.duration, FULL.warmup, FULL.rounds),
            (Duration::from_secs(3), Duration::from_millis(500), 3)
        );
        // The quick cells are a subset of the full ones.
        assert!(QUICK.cells.iter().all(|c| FULL.cells.contains(c)));
    }
}
