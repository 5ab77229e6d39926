//! Files: random 4 KiB reads at queue depth 64 (from the page cache, and with
//! `O_DIRECT`), and a 256 MiB copy.
//!
//! One 256 MiB file of random bytes is made per run, in the temp directory (it must be
//! a real file system: `TMPDIR` picks another), synced, and removed at the end; the
//! buffered group reads it from the page cache, where writing it left it.
//!
//! - `fs_random_read_4k_qd64`: per iteration one 4 KiB read at a random 4 KiB-aligned
//!   offset, 64 in flight. ringio: 64 tasks on one worker, each awaiting
//!   `File::read_at` in turn: `ringio` with a `Vec`, `ringio_fixed` with a registered
//!   `AlignedBuf` (READ_FIXED). tokio: 64 tasks, each awaiting
//!   `spawn_blocking(pread)` in turn. That is the fair tokio idiom: `tokio::fs::File`
//!   has no positional read and one cursor per handle (64 concurrent random reads
//!   would need 64 handles and a seek before each read, two blocking-pool trips), and
//!   its `read` is itself a `spawn_blocking` around `read(2)`; one `spawn_blocking`
//!   of `pread` per read is the least tokio can do, and what tokio's docs suggest for
//!   blocking calls.
//! - `fs_direct_read_4k_qd64`: the same on a file opened with `O_DIRECT`, from the
//!   device; skipped (with a message) where the file system refuses `O_DIRECT`.
//! - `fs_copy_256m`: per iteration the whole file copied to a new file:
//!   `ringio_copy` is `ringio::fs::copy` (`std::fs::copy` on the blocking pool:
//!   `copy_file_range(2)`), `ringio_window` is `examples/file_copy.rs` (1 MiB reads and
//!   writes, 8 in flight), `tokio` is `tokio::fs::copy` (`std::fs::copy` in
//!   `spawn_blocking`).
//!
//! After each ringio read bench the log says how many io-wq worker threads
//! (`iou-wrk-*`) the process had: buffered reads of cached pages complete inline in the
//! submitting `io_uring_enter`, so there should be none however `Builder::io_workers`
//! caps them; direct reads may use a few.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringio::buf::AlignedBuf;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;

#[path = "../../examples/file_copy.rs"]
#[allow(dead_code)]
mod file_copy;

const FILE_SIZE: usize = 256 << 20;
const BLOCK: usize = 4096;
const DEPTH: usize = 64;

/// The bench file: made once, removed when dropped.
struct BenchFile {
    path: PathBuf,
    /// Random block-aligned offsets, read in turn by every variant.
    offsets: Arc<Vec<u64>>,
}

impl BenchFile {
    fn new() -> BenchFile {
        let path = std::env::temp_dir().join(format!("ringio-bench-fs-{}", std::process::id()));
        let mut file = std::fs::File::create(&path).expect("create the bench file");
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut chunk = vec![0u8; 1 << 20];
        for _ in 0..FILE_SIZE / chunk.len() {
            for b in chunk.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.copy_from_slice(&x.to_le_bytes());
            }
            std::io::Write::write_all(&mut file, &chunk).expect("write the bench file");
        }
        file.sync_all().expect("sync the bench file");
        let blocks = (FILE_SIZE / BLOCK) as u64;
        let offsets = (0..1 << 16)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % blocks) * BLOCK as u64
            })
            .collect();
        BenchFile {
            path,
            offsets: Arc::new(offsets),
        }
    }

    /// Whether the file system takes `O_DIRECT`.
    fn direct_ok(&self) -> bool {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(&self.path)
            .is_ok()
    }
}

impl Drop for BenchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// io-wq worker threads the process has now.
fn io_wq_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .filter(|name| name.starts_with("iou-wrk"))
                .count()
        })
        .unwrap_or(0)
}

/// `iters` reads split over `DEPTH` lanes: lane `l` does these many.
fn lane_reads(iters: u64, lane: usize) -> u64 {
    iters / DEPTH as u64 + u64::from((lane as u64) < iters % DEPTH as u64)
}

/// ringio: `DEPTH` tasks reading `iters` random blocks in all, each into its own
/// buffer from `make_buf`.
fn ringio_reads<B: ringio::buf::IoBufMut>(
    rt: &ringio::Runtime,
    path: &Path,
    direct: bool,
    offsets: &Arc<Vec<u64>>,
    iters: u64,
    make_buf: fn() -> B,
) -> Duration {
    rt.block_on(async {
        let file = ringio::fs::OpenOptions::new()
            .read(true)
            .direct(direct)
            .open(path)
            .await
            .expect("open");
        let file = Rc::new(file);
        let bufs: Vec<B> = (0..DEPTH).map(|_| make_buf()).collect();
        let start = Instant::now();
        let lanes: Vec<_> = bufs
            .into_iter()
            .enumerate()
            .map(|(lane, mut buf)| {
                let (file, offsets) = (file.clone(), offsets.clone());
                ringio::spawn(async move {
                    for i in 0..lane_reads(iters, lane) {
                        let at = offsets[(i as usize * DEPTH + lane) % offsets.len()];
                        let (n, b) = file.read_at(buf, at).await;
                        assert_eq!(n.expect("read"), BLOCK);
                        buf = b;
                    }
                })
            })
            .collect();
        for lane in lanes {
            lane.await.expect("lane");
        }
        start.elapsed()
    })
}

/// A page-aligned block for tokio's direct reads (`Send`, unlike `AlignedBuf`).
#[repr(C, align(4096))]
struct Block([u8; BLOCK]);

/// tokio: `DEPTH` tasks reading `iters` random blocks with `spawn_blocking(pread)`.
fn tokio_reads(
    rt: &tokio::runtime::Runtime,
    file: &Arc<std::fs::File>,
    offsets: &Arc<Vec<u64>>,
    iters: u64,
) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        let lanes: Vec<_> = (0..DEPTH)
            .map(|lane| {
                let (file, offsets) = (file.clone(), offsets.clone());
                tokio::spawn(async move {
                    let mut buf = Box::new(Block([0; BLOCK]));
                    for i in 0..lane_reads(iters, lane) {
                        let at = offsets[(i as usize * DEPTH + lane) % offsets.len()];
                        let file = file.clone();
                        let (n, b) = tokio::task::spawn_blocking(move || {
                            let n = file.read_at(&mut buf.0, at);
                            (n, buf)
                        })
                        .await
                        .expect("spawn_blocking");
                        assert_eq!(n.expect("pread"), BLOCK);
                        buf = b;
                    }
                })
            })
            .collect();
        for lane in lanes {
            lane.await.expect("lane");
        }
        start.elapsed()
    })
}

fn short(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
}

/// A registered aligned block (READ_FIXED on io_uring with a buffer table).
fn registered_block() -> AlignedBuf {
    let mut buf = AlignedBuf::with_capacity(BLOCK, BLOCK).expect("AlignedBuf");
    buf.register();
    buf
}

fn random_reads(c: &mut Criterion, file: &BenchFile, direct: bool) {
    let name = if direct {
        "fs_direct_read_4k_qd64"
    } else {
        "fs_random_read_4k_qd64"
    };
    if direct && !file.direct_ok() {
        eprintln!(
            "{name}: skipped, the file system of {:?} refuses O_DIRECT",
            file.path
        );
        return;
    }
    let mut group = c.benchmark_group(name);
    short(&mut group);
    group.throughput(Throughput::Elements(1));
    // Enough table slots for every lane's buffer.
    let rt = support::ringio_from(ringio::Builder::new().fixed_buffers(DEPTH as u16));
    group.bench_function("ringio_fixed", |b| {
        b.iter_custom(|iters| {
            ringio_reads(
                &rt,
                &file.path,
                direct,
                &file.offsets,
                iters,
                registered_block,
            )
        })
    });
    eprintln!(
        "{name}/ringio_fixed: io-wq threads now: {}",
        io_wq_threads()
    );
    group.bench_function("ringio", |b| {
        b.iter_custom(|iters| {
            if direct {
                let unregistered = || AlignedBuf::with_capacity(BLOCK, BLOCK).expect("AlignedBuf");
                ringio_reads(&rt, &file.path, direct, &file.offsets, iters, unregistered)
            } else {
                let vec = || Vec::with_capacity(BLOCK);
                ringio_reads(&rt, &file.path, direct, &file.offsets, iters, vec)
            }
        })
    });
    eprintln!("{name}/ringio: io-wq threads now: {}", io_wq_threads());
    drop(rt);
    let rt = support::tokio();
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    if direct {
        opts.custom_flags(libc::O_DIRECT);
    }
    let std_file = Arc::new(opts.open(&file.path).expect("open"));
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| tokio_reads(&rt, &std_file, &file.offsets, iters))
    });
    group.finish();
}

fn copies(c: &mut Criterion, file: &BenchFile) {
    let mut group = c.benchmark_group("fs_copy_256m");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Bytes(FILE_SIZE as u64));
    let to = file.path.with_extension("copy");
    let rt = support::ringio();
    group.bench_function("ringio_copy", |b| {
        b.iter(|| {
            rt.block_on(ringio::fs::copy(&file.path, &to))
                .expect("copy")
        })
    });
    group.bench_function("ringio_window", |b| {
        b.iter(|| {
            rt.block_on(file_copy::copy(&file.path, &to, 1 << 20, 8))
                .expect("copy")
        })
    });
    drop(rt);
    let rt = support::tokio();
    group.bench_function("tokio", |b| {
        b.iter(|| rt.block_on(tokio::fs::copy(&file.path, &to)).expect("copy"))
    });
    group.finish();
    let _ = std::fs::remove_file(&to);
}

fn fs(c: &mut Criterion) {
    let file = BenchFile::new();
    random_reads(c, &file, false);
    random_reads(c, &file, true);
    copies(c, &file);
}

criterion_group!(benches, fs);
criterion_main!(benches);
