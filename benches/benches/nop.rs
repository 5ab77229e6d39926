//! The driver: one trip through the runtime's loop and its I/O backend.
//!
//! `driver_roundtrip`: per iteration, ringio awaits `runtime::nop()`, one NOP submitted
//! to io_uring and its completion reaped, and tokio awaits `task::yield_now()`.
//!
//! # Why the comparison is fair, and where it is not
//!
//! tokio has no NOP operation for its driver, so this does not compare like with like
//! operation for operation. What it compares is one trip through each runtime's
//! scheduler and driver loop: tokio's `yield_now` hands its waker to the scheduler, which
//! wakes it only after it has polled the I/O driver (a zero-timeout `epoll_wait`), while
//! ringio's `nop` suspends the task until the driver reports the NOP complete. In both,
//! the awaiting task pends once, the loop goes through its driver, and the task is
//! woken and polled again. Read the numbers as a cost per loop turn, not per syscall.
//!
//! On epoll (`RINGIO_DRIVER=epoll`) ringio's NOP completes in its first poll without
//! pending, so the ringio figure is then the cost of building and polling an operation,
//! with no loop turn in it: not comparable with tokio's.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Instant;

mod support;

fn driver_roundtrip(c: &mut Criterion) {
    let mut group = c.benchmark_group("driver_roundtrip");
    group.throughput(Throughput::Elements(1));
    {
        let rt = support::ringio();
        group.bench_function("ringio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        ringio::runtime::nop().await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }
    {
        let rt = support::tokio();
        group.bench_function("tokio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        tokio::task::yield_now().await;
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, driver_roundtrip);
criterion_main!(benches);
