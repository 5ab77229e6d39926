//! Randomised cancellation fuzz: one seeded loop drives a random mix of every kind of
//! operation (TCP and Unix stream writes and pooled receives, accepts and connects, UDP
//! sends and receives with and without a linked timeout, fd passing, file reads and
//! writes, child process waits, readiness polls, sleeps, timeouts) and drops each
//! future after a random number of polls, at least `RINGIO_FUZZ_DROPS` times (100,000 by
//! default) per driver. It prints its seed; `RINGIO_FUZZ_SEED=n` replays a run.
//!
//! Afterwards:
//! - every stream's bytes arrived once and in order: what the reader got is, chunk by
//!   chunk, a prefix of each chunk the writer offered (the whole chunk when its write
//!   completed), none twice, none out of order; pooled receives are cancel-safe, so
//!   nothing the kernel accepted is lost, even though receives were dropped too;
//! - every datagram arrived at most once, in order and intact;
//! - the fd count and the number of child processes are what they were;
//! - canary buffers of the sizes of the dropped operations' buffers, allocated right
//!   after each drop (where the allocator puts freed memory), were never written to:
//!   the kernel wrote into no freed buffer.
//!
//! The file runs under valgrind memcheck too, with fewer drops (`ci/memcheck.sh`).

mod support;

use ringio::buf::BufPool;
use ringio::fs::File;
use ringio::io::{AsyncFd, AsyncWriteOwned};
use ringio::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use ringio::process::{Command, Stdio};
use ringio::runtime::{metrics, Driver};
use std::io::Read;
use std::os::fd::AsFd;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use support::{fd_count, poll_then_drop, rt, Rng};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn target_drops() -> u64 {
    std::env::var("RINGIO_FUZZ_DROPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn seed() -> u64 {
    std::env::var("RINGIO_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            now.as_nanos() as u64
        })
}

/// Child processes of this process (of all its threads: a child belongs to the thread
/// that forked it).
fn child_count() -> usize {
    let mut n = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        n += children.split_whitespace().count();
    }
    n
}

/// Chunk `index` of a stream, `len` (at least 16) bytes: a 0 marker (never found inside a
/// chunk), the index in four base-255 digits (1..=255), then a body that depends on index
/// and offset. Any prefix of a chunk names its chunk, so a reader's bytes split
/// unambiguously at the markers.
fn chunk(index: usize, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    out.push(0);
    let mut rest = index;
    for _ in 0..4 {
        out.push((rest % 255) as u8 + 1);
        rest /= 255;
    }
    for k in out.len()..len {
        out.push(((index * 31 + k * 7) % 255) as u8 + 1);
    }
    out
}

/// What a writer offered: each chunk's length and whether its write completed.
#[derive(Default)]
struct StreamLog {
    chunks: Vec<(usize, bool)>,
    received: Vec<u8>,
}

impl StreamLog {
    /// Offers the next chunk (`len` bytes) to `writer`, dropping the write after
    /// `polls` polls; true if it finished.
    async fn write<W: AsyncWriteOwned>(&mut self, writer: &W, len: usize, polls: u64) -> bool {
        let index = self.chunks.len();
        let res = poll_then_drop(writer.write_all(chunk(index, len)), polls).await;
        self.chunks.push((len, matches!(res, Some((Ok(()), _)))));
        res.is_some()
    }

    /// One pooled receive from `reader`, dropped after `polls` polls; true if it
    /// finished.
    async fn receive(&mut self, reader: &dyn PooledSource, pool: &BufPool, polls: u64) -> bool {
        let res = poll_then_drop(reader.recv(pool), polls).await;
        let done = res.is_some();
        if let Some(Ok(Some(buf))) = res {
            self.received.extend_from_slice(&buf);
        }
        done
    }

    /// Checks `received` is, segment by segment, a prefix of the offered chunks in order,
    /// each at most once, the whole chunk where its write completed, and that no chunk
    /// whose write completed is missing.
    fn check(&self, name: &str) {
        let got = &self.received;
        let mut next = 0; // the first chunk that may still come
        let mut at = 0;
        let mut segments = 0;
        while at < got.len() {
            assert_eq!(got[at], 0, "{name}: no chunk starts at byte {at}");
            let end = got[at + 1..]
                .iter()
                .position(|&b| b == 0)
                .map_or(got.len(), |p| at + 1 + p);
            let seg = &got[at..end];
            let found = (next..self.chunks.len()).find(|&j| {
                let (len, _) = self.chunks[j];
                seg.len() <= len && chunk(j, len)[..seg.len()] == *seg
            });
            let Some(j) = found else {
                panic!(
                    "{name}: bytes {at}..{end} are no chunk offered after chunk {next} \
                     (duplicated, reordered or corrupted)"
                );
            };
            for (skipped, &(len, whole)) in self.chunks[next..j].iter().enumerate() {
                assert!(
                    !whole,
                    "{name}: chunk {} ({len} B, written whole) is missing",
                    next + skipped
                );
            }
            let (len, whole) = self.chunks[j];
            assert!(
                !whole || seg.len() == len,
                "{name}: chunk {j} written whole ({len} B) arrived cut to {} B",
                seg.len()
            );
            next = j + 1;
            at = end;
            segments += 1;
        }
        for (k, &(len, whole)) in self.chunks[next..].iter().enumerate() {
            assert!(
                !whole,
                "{name}: chunk {} ({len} B, written whole) never arrived",
                next + k
            );
        }
        assert!(segments > 0, "{name}: nothing arrived");
    }
}

/// Recently freed buffers' sizes, refilled as canaries right after each drop.
struct Canaries(Vec<Vec<u8>>);

const CANARY: u8 = 0xA5;

impl Canaries {
    fn after_drop(&mut self, size: usize) {
        if self.0.len() >= 64 {
            self.check();
        }
        self.0.push(vec![CANARY; size]);
    }

    fn check(&mut self) {
        for c in self.0.drain(..) {
            assert!(
                c.iter().all(|&b| b == CANARY),
                "the kernel wrote into a freed buffer of {} B",
                c.len()
            );
        }
    }
}

#[derive(Default, Debug)]
struct Counts {
    drops: u64,
    completed: u64,
    kinds_dropped: [u64; 16],
    kinds_completed: [u64; 16],
}

const KIND_NAMES: [&str; 16] = [
    "tcp write",
    "tcp pooled recv",
    "tcp recv + timeout",
    "accept",
    "connect",
    "unix write",
    "unix pooled recv",
    "udp send",
    "udp recv",
    "udp recv linked timeout",
    "fd passing send",
    "fd passing recv",
    "file write",
    "file read",
    "child wait",
    "poll / sleep",
];

fn fuzz(d: Driver) {
    let _g = serial();
    let seed = seed();
    let target = target_drops();
    println!("cancellation fuzz on {d:?}: seed {seed} (RINGIO_FUZZ_SEED={seed} replays it), {target} drops");
    let fds_before = fd_count();
    let children_before = child_count();
    let dir = std::env::temp_dir().join(format!("ringio-fuzz-{}-{d:?}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let started = Instant::now();
    let counts = rt(d).block_on(run(seed, target, dir.clone()));
    let _ = std::fs::remove_dir_all(&dir);
    // Detached children are reaped in the background: wait (bounded) for the last ones.
    let deadline = Instant::now() + Duration::from_secs(10);
    while child_count() > children_before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        child_count(),
        children_before,
        "child processes left behind"
    );
    assert_eq!(fd_count(), fds_before, "fds leaked");
    let per_kind: Vec<String> = KIND_NAMES
        .iter()
        .zip(counts.kinds_dropped)
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    println!(
        "RELIABILITY|cancellation fuzz ({d:?})|{} drops, {} ops completed, seed {seed}, {:.1} s|0 bytes lost or duplicated, 0 fds leaked, 0 children left, canaries intact",
        counts.drops,
        counts.completed,
        started.elapsed().as_secs_f64()
    );
    println!("drops by kind: {}", per_kind.join(", "));
    assert!(counts.drops >= target, "only {} drops", counts.drops);
    // Some kinds never wait on one driver (an epoll UDP send, a receive whose data is
    // already there), so each kind must have run, and most were dropped mid-flight.
    for (k, name) in KIND_NAMES.iter().enumerate() {
        assert!(
            counts.kinds_dropped[k] + counts.kinds_completed[k] > 0,
            "no {name} ran"
        );
    }
    let kinds_dropped = counts.kinds_dropped.iter().filter(|&&n| n > 0).count();
    assert!(
        kinds_dropped >= 10,
        "only {kinds_dropped} kinds dropped mid-flight"
    );
}

async fn run(seed: u64, target: u64, dir: std::path::PathBuf) -> Counts {
    let mut rng = Rng::new(seed);
    let mut counts = Counts::default();
    let mut canaries = Canaries(Vec::new());
    // A small pool, so receives also meet an empty pool.
    let pool = BufPool::new(16, 2048).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let tcp_w = TcpStream::connect(addr).await.unwrap();
    let (tcp_r, _) = listener.accept().await.unwrap();
    let (unix_w, unix_r) = UnixStream::pair().unwrap();
    let (fd_tx, fd_rx) = UnixStream::pair().unwrap();
    let udp_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp_tx.connect(udp_rx.local_addr().unwrap()).unwrap();
    let file = File::create(dir.join("data")).await.unwrap();
    let passed = std::fs::File::open("/dev/null").unwrap();
    let (poll_peer, poll_end) = std::os::unix::net::UnixStream::pair().unwrap();
    poll_end.set_nonblocking(true).unwrap();
    let poll_fd = AsyncFd::new(poll_end).unwrap();

    let mut tcp = StreamLog::default();
    let mut unix = StreamLog::default();
    let mut udp_sent = 0u64;
    let mut udp_last: Option<u64> = None;
    let mut conns = Vec::new();
    let mut iterations = 0u64;
    while counts.drops < target {
        iterations += 1;
        // Up to 3 polls: 0 drops a future never polled, which is no mid-flight drop.
        let polls = 1 + rng.below(3);
        let kind = rng.below(100) as usize;
        let (slot, finished, size) = match kind {
            0..=14 => {
                let len = 16 + rng.below(6000) as usize;
                (0, tcp.write(&tcp_w, len, polls).await, len)
            }
            15..=29 => (1, tcp.receive(&tcp_r, &pool, polls).await, 0),
            30..=32 => {
                let dur = Duration::from_micros(rng.below(300));
                let res =
                    poll_then_drop(ringio::time::timeout(dur, tcp_r.recv_pooled(&pool)), polls)
                        .await;
                let done = res.is_some();
                if let Some(Ok(Ok(Some(buf)))) = res {
                    tcp.received.extend_from_slice(&buf);
                }
                (2, done, 0)
            }
            33..=35 => {
                let res = poll_then_drop(listener.accept(), polls).await;
                let done = res.is_some();
                if let Some(Ok((conn, _))) = res {
                    conns.push(conn);
                }
                (3, done, 0)
            }
            36..=38 => {
                let res = poll_then_drop(TcpStream::connect(addr), polls).await;
                let done = res.is_some();
                if let Some(Ok(conn)) = res {
                    conns.push(conn);
                }
                if conns.len() > 32 {
                    conns.clear();
                }
                (4, done, 0)
            }
            39..=46 => {
                let len = 16 + rng.below(6000) as usize;
                (5, unix.write(&unix_w, len, polls).await, len)
            }
            47..=54 => (6, unix.receive(&unix_r, &pool, polls).await, 0),
            55..=60 => {
                let mut dgram = vec![0x3Cu8; 8 + rng.below(1000) as usize];
                dgram[..8].copy_from_slice(&udp_sent.to_le_bytes());
                udp_sent += 1;
                let len = dgram.len();
                let res = poll_then_drop(udp_tx.send(dgram), polls).await;
                (7, res.is_some(), len)
            }
            61..=68 => {
                let linked = kind >= 66;
                let buf = vec![0u8; 1024];
                let res = if linked {
                    let dur = Duration::from_micros(rng.below(300));
                    poll_then_drop(udp_rx.recv_timeout(buf, dur), polls).await
                } else {
                    poll_then_drop(udp_rx.recv(buf), polls).await
                };
                let done = res.is_some();
                if let Some((Ok(n), buf)) = res {
                    assert!(n >= 8, "a datagram of {n} B");
                    let seq = u64::from_le_bytes(buf[..8].try_into().unwrap());
                    assert!(
                        buf[8..n].iter().all(|&b| b == 0x3C),
                        "datagram {seq} corrupted"
                    );
                    assert!(
                        udp_last.is_none_or(|last| seq > last),
                        "datagram {seq} after {udp_last:?}: duplicated or reordered"
                    );
                    udp_last = Some(seq);
                }
                (if linked { 9 } else { 8 }, done, 1024)
            }
            69..=72 => {
                let res =
                    poll_then_drop(fd_tx.send_with_fds(b"f".to_vec(), &[passed.as_fd()]), polls)
                        .await;
                (10, res.is_some(), 0)
            }
            73..=76 => {
                let res = poll_then_drop(fd_rx.recv_with_fds(vec![0u8; 64], 4), polls).await;
                // Received fds are dropped here (closed); a dropped receive's fds are
                // closed by the runtime.
                (11, res.is_some(), 64)
            }
            77..=81 => {
                let len = 1 + rng.below(16384) as usize;
                let offset = rng.below(1 << 20);
                let res = poll_then_drop(file.write_at(vec![0x42u8; len], offset), polls).await;
                (12, res.is_some(), len)
            }
            82..=86 => {
                let len = 1 + rng.below(16384) as usize;
                let offset = rng.below(1 << 20);
                let res = poll_then_drop(file.read_at(vec![0u8; len], offset), polls).await;
                (13, res.is_some(), len)
            }
            87 => {
                let mut child = Command::new("true")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap();
                let res = poll_then_drop(child.wait(), polls).await;
                let done = res.is_some();
                if let Some(status) = res {
                    assert!(status.unwrap().success());
                }
                (14, done, 0)
            }
            88..=91 => {
                if rng.below(4) == 0 {
                    use std::io::Write;
                    (&poll_peer).write_all(b"r").unwrap();
                }
                let res = poll_then_drop(poll_fd.readable(), polls).await;
                let done = res.is_some();
                if let Some(Ok(mut guard)) = res {
                    let mut sink = [0u8; 64];
                    let _ = guard.try_io(|fd| fd.get_ref().read(&mut sink));
                }
                (15, done, 0)
            }
            _ => {
                let dur = Duration::from_micros(rng.below(500));
                let res = poll_then_drop(ringio::time::sleep(dur), polls).await;
                (15, res.is_some(), 0)
            }
        };
        if finished {
            counts.completed += 1;
            counts.kinds_completed[slot] += 1;
        } else {
            counts.drops += 1;
            counts.kinds_dropped[slot] += 1;
            if size > 0 {
                canaries.after_drop(size);
            }
        }
        if iterations.is_multiple_of(4096) {
            canaries.check();
        }
    }
    drop(conns);
    canaries.check();

    // Let every orphaned operation finish, then read both streams to their end.
    settle().await;
    tcp_w.shutdown(std::net::Shutdown::Write).await.unwrap();
    unix_w.shutdown(std::net::Shutdown::Write).await.unwrap();
    for (reader, log) in [
        (&tcp_r as &dyn PooledSource, &mut tcp),
        (&unix_r, &mut unix),
    ] {
        loop {
            let got = ringio::time::timeout(Duration::from_secs(10), reader.recv(&pool))
                .await
                .expect("a stream stalled before its end")
                .unwrap();
            match got {
                Some(buf) => log.received.extend_from_slice(&buf),
                None => break,
            }
        }
    }
    tcp.check("tcp");
    unix.check("unix");
    assert!(udp_last.is_some(), "no datagram arrived");
    canaries.check();
    assert_eq!(metrics().timers, 0, "dropped timers left behind");
    counts
}

/// Waits (bounded) until only multishot operations (armed while their socket lives)
/// hold a slot.
async fn settle() {
    for _ in 0..1000 {
        let m = metrics();
        if m.ops_in_flight <= m.multishot_armed {
            return;
        }
        ringio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("operations still in flight: {:?}", metrics());
}

/// The two stream types' pooled receive, for the final drain.
trait PooledSource {
    fn recv<'a>(
        &'a self,
        pool: &'a BufPool,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = std::io::Result<Option<ringio::buf::PooledBuf>>> + 'a>,
    >;
}

impl PooledSource for TcpStream {
    fn recv<'a>(
        &'a self,
        pool: &'a BufPool,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = std::io::Result<Option<ringio::buf::PooledBuf>>> + 'a>,
    > {
        Box::pin(self.recv_pooled(pool))
    }
}

impl PooledSource for UnixStream {
    fn recv<'a>(
        &'a self,
        pool: &'a BufPool,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = std::io::Result<Option<ringio::buf::PooledBuf>>> + 'a>,
    > {
        Box::pin(self.recv_pooled(pool))
    }
}

#[test]
fn chunk_check_rejects_loss_duplication_and_reordering() {
    // It panics on purpose: with RUST_BACKTRACE set, printing those panics opens files
    // while the fuzz counts fds, so it takes the same lock.
    let _g = serial();
    let mut log = StreamLog {
        chunks: vec![(20, true), (30, false), (40, true)],
        ..StreamLog::default()
    };
    let c0 = chunk(0, 20);
    let c1 = chunk(1, 30);
    let c2 = chunk(2, 40);
    log.received = [&c0[..], &c1[..7], &c2[..]].concat();
    log.check("prefix of a dropped write");
    log.received = [&c0[..], &c2[..]].concat();
    log.check("dropped write never sent");
    for bad in [
        [&c0[..], &c2[..], &c2[..]].concat(),    // duplicated
        [&c2[..], &c0[..]].concat(),             // reordered
        c0.clone(),                              // a whole chunk lost
        [&c0[..], &c1[..7], &c2[..39]].concat(), // cut short
    ] {
        log.received = bad;
        assert!(std::panic::catch_unwind(|| log.check("bad")).is_err());
    }
}

fn cancellation_fuzz(d: Driver) {
    fuzz(d);
}

both_drivers!(cancellation_fuzz);
