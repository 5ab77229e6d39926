//! Spawning: what one task costs, from `spawn` to its joined output.
//!
//! - `spawn_join`: spawn a trivial task and await its handle, once per iteration: one
//!   task allocation, one trip through the run queue, one poll, the output handed to
//!   the handle and the joiner woken.
//! - `spawn_many_join`: spawn 1000 trivial tasks, then join them all, per iteration:
//!   the same work with a run queue 1000 deep and one switch back to the joiner per
//!   batch rather than per task.
//!
//! # Why the comparison is fair
//!
//! Both runtimes run the same future, spawned with their own `spawn` from the future
//! given to `block_on` and joined there. The task is `Send`, so tokio needs no
//! `LocalSet` and goes through its current_thread scheduler as ringio goes through its
//! worker. tokio's cooperative budget may make the joiner yield once every 128 joins;
//! that is part of tokio's cost and stays in.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Instant;

mod support;

/// Tasks per iteration of `spawn_many_join`.
const MANY: usize = 1000;

fn spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_join");
    group.throughput(Throughput::Elements(1));
    {
        let rt = support::ringio();
        group.bench_function("ringio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for i in 0..iters {
                        let out = ringio::spawn(async move { black_box(i) }).await;
                        black_box(out.unwrap());
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
                    for i in 0..iters {
                        let out = tokio::spawn(async move { black_box(i) }).await;
                        black_box(out.unwrap());
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

fn spawn_many_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_many_join");
    group.throughput(Throughput::Elements(MANY as u64));
    {
        let rt = support::ringio();
        group.bench_function("ringio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut handles = Vec::with_capacity(MANY);
                    let start = Instant::now();
                    for _ in 0..iters {
                        handles
                            .extend((0..MANY).map(|i| ringio::spawn(async move { black_box(i) })));
                        for h in handles.drain(..) {
                            black_box(h.await.unwrap());
                        }
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
                    let mut handles = Vec::with_capacity(MANY);
                    let start = Instant::now();
                    for _ in 0..iters {
                        handles
                            .extend((0..MANY).map(|i| tokio::spawn(async move { black_box(i) })));
                        for h in handles.drain(..) {
                            black_box(h.await.unwrap());
                        }
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, spawn_join, spawn_many_join);
criterion_main!(benches);
