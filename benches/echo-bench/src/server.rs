//! The servers under test, each run as its own process.
//!
//! Why separate processes: the server's CPU time is read from `/proc/PID/stat`, which
//! would mix in the client if both lived in one process; a crash or a stuck runtime in
//! one server cannot take the harness with it; and every run starts from a fresh process,
//! so no server inherits another's warm caches, allocator state or leaked connections.
//!
//! Why pinning: on a small shared machine the scheduler would otherwise move server and
//! client onto the same CPU now and then, and the figures would measure that. The server
//! is started from a thread pinned to the server CPUs (the child inherits the mask at
//! fork, before any of its threads exist), and the client threads are pinned to the
//! other CPUs.

use echo_bench::client::pin_current_thread;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// One of the servers in the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerKind {
    /// `echo-raw-uring`: a hand-written io_uring loop with no runtime (multishot accept,
    /// one RECV then one SEND per message): the baseline, not a peer.
    RawUring,
    /// ringio's `examples/echo_server` with `RINGIO_DRIVER=uring`.
    RingioUring,
    /// ringio's `examples/echo_server` with `RINGIO_DRIVER=epoll`.
    RingioEpoll,
    /// ringio on io_uring with `--busy-poll 50`: each worker spins 50 µs for
    /// completions before it sleeps (`Builder::busy_poll`), for latency.
    RingioUringBusy,
    /// `echo-tokio --mode ct`: one current_thread runtime and one SO_REUSEPORT listener
    /// per thread.
    TokioCt,
    /// `echo-tokio --mode mt`: one multi_thread runtime with `--threads` workers.
    TokioMt,
    /// `echo-monoio`: one monoio io_uring runtime and SO_REUSEPORT listener per thread.
    Monoio,
}

impl ServerKind {
    /// Every server, in the order of the tables.
    pub const ALL: [ServerKind; 7] = [
        ServerKind::RawUring,
        ServerKind::RingioUring,
        ServerKind::RingioEpoll,
        ServerKind::RingioUringBusy,
        ServerKind::TokioCt,
        ServerKind::TokioMt,
        ServerKind::Monoio,
    ];

    /// The name used on the command line and in the reports.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::RawUring => "raw-uring",
            ServerKind::RingioUring => "ringio-uring",
            ServerKind::RingioEpoll => "ringio-epoll",
            ServerKind::RingioUringBusy => "ringio-uring-busy",
            ServerKind::TokioCt => "tokio-ct",
            ServerKind::TokioMt => "tokio-mt",
            ServerKind::Monoio => "monoio",
        }
    }

    /// Parses a name from [`ServerKind::name`].
    pub fn parse(s: &str) -> Option<ServerKind> {
        ServerKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// True for ringio's own servers, false for the peers it is compared with.
    pub fn is_ringio(self) -> bool {
        matches!(
            self,
            ServerKind::RingioUring | ServerKind::RingioEpoll | ServerKind::RingioUringBusy
        )
    }

    /// True for the no-runtime baseline: neither ringio nor a peer, the limit every
    /// server's figures are also divided by.
    pub fn is_baseline(self) -> bool {
        self == ServerKind::RawUring
    }
}

/// Paths of the four server executables.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// ringio's `target/release/examples/echo_server`.
    pub ringio: PathBuf,
    /// This package's `echo-tokio`.
    pub tokio: PathBuf,
    /// This package's `echo-monoio`.
    pub monoio: PathBuf,
    /// This package's `echo-raw-uring`.
    pub raw: PathBuf,
}

/// The workspace root (two levels above this package).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds (unless `build` is false) and locates the server executables. They are always
/// release builds, next to this executable's target directory.
pub fn prepare(build: bool) -> Result<Binaries, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe.parent().ok_or("executable has no directory")?;
    let target = profile_dir
        .parent()
        .ok_or("executable is not in a target dir")?;
    let release = target.join("release");
    let bins = Binaries {
        ringio: release.join("examples/echo_server"),
        tokio: release.join("echo-tokio"),
        monoio: release.join("echo-monoio"),
        raw: release.join("echo-raw-uring"),
    };
    if build {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = workspace_root().join("Cargo.toml");
        for args in [
            &["-p", "ringio", "--example", "echo_server"][..],
            &["-p", "echo-bench", "--bins"][..],
        ] {
            eprintln!("echo-bench: cargo build --release {}", args.join(" "));
            let status = Command::new(&cargo)
                .arg("build")
                .arg("--release")
                .arg("--manifest-path")
                .arg(&manifest)
                .args(args)
                .env("CARGO_TARGET_DIR", target)
                .status()
                .map_err(|e| format!("running cargo: {e}"))?;
            if !status.success() {
                return Err(format!(
                    "cargo build --release {} failed ({status}); fix the build or pass --no-build \
                     to use the executables already in {}",
                    args.join(" "),
                    release.display()
                ));
            }
        }
    }
    for p in [&bins.ringio, &bins.tokio, &bins.monoio, &bins.raw] {
        if !p.is_file() {
            return Err(format!(
                "{} is missing: run without --no-build, or `cargo build --release -p ringio \
                 --example echo_server && cargo build --release -p echo-bench --bins`",
                p.display()
            ));
        }
    }
    Ok(bins)
}

/// A running server process.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// What it said about itself (driver, listeners), for the progress line.
    pub banner: String,
    lines: Receiver<String>,
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Starts `kind` with `threads` threads pinned to `server_cpus`, waits until every
/// listener is up, and puts the calling thread back on `home_cpus`.
pub fn start(
    kind: ServerKind,
    bins: &Binaries,
    threads: usize,
    server_cpus: &[usize],
    home_cpus: &[usize],
) -> Result<Server, String> {
    let port = free_port()?;
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let mut cmd = match kind {
        ServerKind::RingioUring | ServerKind::RingioEpoll | ServerKind::RingioUringBusy => {
            let mut c = Command::new(&bins.ringio);
            let driver = if kind == ServerKind::RingioEpoll {
                "epoll"
            } else {
                "uring"
            };
            c.env("RINGIO_DRIVER", driver);
            if kind == ServerKind::RingioUringBusy {
                c.arg("--busy-poll").arg("50");
            }
            c
        }
        ServerKind::TokioCt | ServerKind::TokioMt => {
            let mut c = Command::new(&bins.tokio);
            c.arg("--mode").arg(if kind == ServerKind::TokioCt {
                "ct"
            } else {
                "mt"
            });
            c
        }
        ServerKind::Monoio => Command::new(&bins.monoio),
        ServerKind::RawUring => Command::new(&bins.raw),
    };
    cmd.arg("--addr")
        .arg(addr.to_string())
        .arg("--threads")
        .arg(threads.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // The child inherits this thread's CPU mask at fork.
    pin_current_thread(server_cpus)?;
    let spawned = cmd.spawn();
    pin_current_thread(home_cpus)?;
    let mut child = spawned.map_err(|e| format!("starting {}: {e}", kind.name()))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut server = Server {
        child,
        addr,
        banner: String::new(),
        lines,
    };
    // tokio-mt has one listener; the others one per thread.
    let listeners = if kind == ServerKind::TokioMt {
        1
    } else {
        threads
    };
    let deadline = Instant::now() + START_TIMEOUT;
    let mut seen = 0;
    let mut said = Vec::new();
    while seen < listeners {
        let left = deadline.saturating_duration_since(Instant::now());
        match server.lines.recv_timeout(left) {
            Ok(line) => {
                if line.contains("listening on") {
                    seen += 1;
                }
                said.push(line);
            }
            Err(RecvTimeoutError::Timeout) => {
                server.stop();
                return Err(format!(
                    "{} did not start listening within {START_TIMEOUT:?}; it said: {said:?}",
                    kind.name()
                ));
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = server.child.wait().map(|s| s.to_string());
                return Err(format!(
                    "{} exited while starting ({}); it said: {said:?}",
                    kind.name(),
                    status.unwrap_or_else(|e| e.to_string())
                ));
            }
        }
    }
    server.banner = said
        .iter()
        .find(|l| l.contains(" with "))
        .or(said.first())
        .cloned()
        .unwrap_or_default();
    // Honesty check: ringio (and the baseline) must really run on the driver its name says.
    let want = match kind {
        ServerKind::RingioUring | ServerKind::RingioUringBusy => Some("with io_uring"),
        ServerKind::RingioEpoll => Some("with epoll"),
        ServerKind::RawUring => Some("with io_uring"),
        _ => None,
    };
    if let Some(want) = want {
        if !server.banner.contains(want) {
            server.stop();
            return Err(format!(
                "{} is not running on the driver it is named for: {:?}",
                kind.name(),
                server.banner
            ));
        }
    }
    Ok(server)
}

impl Server {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the process has exited.
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("the server exited during the run: {status}")),
            Err(e) => Err(format!("waitpid: {e}")),
        }
    }

    /// User plus system CPU time of the whole process (all threads), in clock ticks.
    pub fn cpu_ticks(&self) -> Result<u64, String> {
        proc_cpu_ticks(self.pid())
    }

    /// Kills the process and reaps it; drains what it printed (shown if it looks like news).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for line in self.lines.try_iter() {
            if line.contains("error") || line.contains("failed") || line.contains("panick") {
                eprintln!("  server said: {line}");
            }
        }
    }
}

/// utime + stime (fields 14 and 15) of `/proc/PID/stat`, summed over all threads.
pub fn proc_cpu_ticks(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // The command name (field 2) is in parentheses and may contain anything: split after
    // the last ')'. Field 3 (state) is then index 0, so utime (14) is index 11.
    let rest = &stat[stat.rfind(')').ok_or_else(|| format!("{path}: no ')'"))? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("{path}: bad field {}", i + 3))
    };
    Ok(get(11)? + get(12)?)
}

/// Busy time (user, nice, system, irq, softirq, steal) of `cpus` from `/proc/stat`, in
/// clock ticks: whatever ran there, ours or not, plus time the hypervisor took away.
pub fn cpus_busy_ticks(cpus: &[usize]) -> Result<u64, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    let mut total = 0;
    for &c in cpus {
        let name = format!("cpu{c}");
        let line = stat
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))
            .ok_or_else(|| format!("/proc/stat: no {name}"))?;
        let f: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        total += [0, 1, 2, 5, 6, 7]
            .iter()
            .map(|&i| f.get(i).copied().unwrap_or(0))
            .sum::<u64>();
    }
    Ok(total)
}

/// Clock ticks per second for `/proc/PID/stat` times.
pub fn clock_ticks_per_sec() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as u64,
        _ => 100,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_time() {
        let t0 = proc_cpu_ticks(std::process::id()).unwrap();
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(100) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(proc_cpu_ticks(std::process::id()).unwrap() >= t0);
        assert!(clock_ticks_per_sec() >= 1);
        assert!(cpus_busy_ticks(&[0]).unwrap() > 0);
    }

    #[test]
    fn names_round_trip() {
        for k in ServerKind::ALL {
            assert_eq!(ServerKind::parse(k.name()), Some(k));
        }
    }
}
