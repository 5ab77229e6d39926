//! Child processes: spawn `/bin/true` and wait for it, one after another.
//!
//! `process_spawn_wait`: per iteration, spawn `/bin/true` with inherited stdio and
//! await its exit status. ringio runs on both of its backends in the same run
//! (`ringio_uring`: reaped by IORING_OP_WAITID where the kernel has it, a pidfd poll
//! entry before; `ringio_epoll`: a pidfd registration), against `tokio::process` on its
//! current-thread runtime. `RINGIO_DRIVER` is not consulted here: each variant names its
//! backend.
//!
//! `std_blocking` is the floor: std's `Command::status`, which blocks in `waitpid`
//! with no runtime at all.
//!
//! Nearly all of an iteration is the kernel's: `posix_spawn` (clone3 with CLONE_VFORK,
//! the parent suspended until the child's exec), the exec and run of `/bin/true`, its
//! exit, and the reap. Both runtimes spawn through std and learn of the exit from a
//! pidfd (tokio's pidfd reaper on Linux), so expect the four figures to be close; the
//! runtime's own share is a handful of syscalls per spawn (on io_uring: pidfd_open,
//! one io_uring_enter that submits the WAITID and waits for it, close).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringio::runtime::Driver;
use std::time::{Duration, Instant};

// `support::ringio` goes unused: each variant here names its backend.
#[allow(dead_code)]
mod support;

const PROGRAM: &str = "/bin/true";

fn ringio_variant(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    driver: Driver,
) {
    let rt = support::ringio_from(ringio::Builder::new().driver(driver));
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let status = ringio::process::Command::new(PROGRAM)
                        .status()
                        .await
                        .expect("spawn /bin/true");
                    assert!(status.success());
                }
                start.elapsed()
            })
        })
    });
}

fn spawn_wait(c: &mut Criterion) {
    let mut group = c.benchmark_group("process_spawn_wait");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));
    ringio_variant(&mut group, "ringio_uring", Driver::Uring);
    ringio_variant(&mut group, "ringio_epoll", Driver::Epoll);
    {
        let rt = support::tokio();
        group.bench_function("tokio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let status = tokio::process::Command::new(PROGRAM)
                            .status()
                            .await
                            .expect("spawn /bin/true");
                        assert!(status.success());
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.bench_function("std_blocking", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let status = std::process::Command::new(PROGRAM)
                    .status()
                    .expect("spawn /bin/true");
                assert!(status.success());
            }
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, spawn_wait);
criterion_main!(benches);
