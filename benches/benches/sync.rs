//! Synchronisation: ringio's `Lock` and queues against tokio's `Mutex` and `mpsc`.
//!
//! - `lock_uncontended`: one task locks and unlocks, `iters` times. One iteration is
//!   one `lock().await` that does not wait, plus the unlock.
//! - `lock_contended`: four tasks share the lock; each locks, yields to the scheduler
//!   while holding it (so the other three queue behind it), and unlocks. One iteration
//!   is one hand-over: an unlock that grants the lock to the oldest waiter and wakes
//!   it, plus the yield (the same `yield_once` future on both runtimes).
//! - `queue_put_get`: a producer task puts `iters` `u64`s into a queue bounded at 64, a
//!   consumer task gets them. One iteration is one item through the queue, with the
//!   wakes of whichever side waits. tokio: `mpsc::channel(64)`.
//! - `queue_cross_core_pingpong`: one `u64` bounced between two threads through two
//!   queues of capacity 1, as `cross_core.rs` does with channels: the loop on worker 0
//!   puts on `ping` and gets from `pong`; an echo task on worker 1 does the reverse.
//!   One iteration is a round trip with two cross-core wakes. ringio uses
//!   `sync::shared::Queue` on a two-worker runtime, its workers pinned to two CPUs
//!   (default wake path: MSG_RING on io_uring, the eventfd on epoll). `tokio` uses
//!   `mpsc::channel(1)` on its two-worker `multi_thread` runtime, the loop in
//!   `block_on` pinned to the first CPU and the workers to the second, so its hops cross
//!   cores too; `tokio_unpinned` leaves placement to the kernel, which mostly puts both
//!   ends on one core (a same-core figure; see `cross_core.rs`).
//!
//! # Why the comparison is fair
//!
//! The per-core groups run on one thread: ringio's tasks with `ringio::spawn`, tokio's
//! with `spawn_local` on a `LocalSet` of its current_thread runtime, each side with its
//! own wakers and run queue. tokio's `Mutex` and `mpsc` are `Send + Sync` (atomics and a
//! semaphore inside) where ringio's per-core `Lock` and `Queue` are not; that is the
//! point of the per-core forms, and what these groups measure. The cross-core group
//! compares two `Send + Sync` forms. Each sample spawns its tasks once and runs
//! `iters` operations, so spawning is spread over thousands of iterations.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

mod support;
#[path = "support/tokio_pinned.rs"]
mod tokio_pinned;

const CONTENDERS: u64 = 4;

/// Yields once: wakes itself and returns `Pending`, then is ready. The same code on
/// both runtimes (their own `yield_now`s differ: tokio's defers the wake until its
/// driver has been polled), so the contended figures differ only in the lock and the
/// executor.
fn yield_once() -> impl std::future::Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
}
const QUEUE_CAPACITY: usize = 64;

fn lock_uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("lock_uncontended");
    group.throughput(Throughput::Elements(1));
    {
        let rt = support::ringio();
        group.bench_function("ringio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let lock = ringio::sync::Lock::new(0u64);
                    let start = Instant::now();
                    for _ in 0..iters {
                        *lock.lock().await += 1;
                    }
                    let elapsed = start.elapsed();
                    black_box(lock.into_inner());
                    elapsed
                })
            })
        });
    }
    {
        let rt = support::tokio();
        group.bench_function("tokio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let lock = tokio::sync::Mutex::new(0u64);
                    let start = Instant::now();
                    for _ in 0..iters {
                        *lock.lock().await += 1;
                    }
                    let elapsed = start.elapsed();
                    black_box(lock.into_inner());
                    elapsed
                })
            })
        });
    }
    group.finish();
}

fn lock_contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("lock_contended");
    group.throughput(Throughput::Elements(1));
    {
        let rt = support::ringio();
        group.bench_function("ringio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let lock = Rc::new(ringio::sync::Lock::new(0u64));
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..CONTENDERS)
                        .map(|i| {
                            let lock = lock.clone();
                            let n = iters / CONTENDERS + u64::from(i < iters % CONTENDERS);
                            ringio::spawn(async move {
                                for _ in 0..n {
                                    let mut g = lock.lock().await;
                                    yield_once().await;
                                    *g += 1;
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    let elapsed = start.elapsed();
                    assert_eq!(*lock.lock().await, iters);
                    elapsed
                })
            })
        });
    }
    {
        let rt = support::tokio();
        let local = tokio::task::LocalSet::new();
        group.bench_function("tokio", |b| {
            b.iter_custom(|iters| {
                local.block_on(&rt, async {
                    let lock = Rc::new(tokio::sync::Mutex::new(0u64));
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..CONTENDERS)
                        .map(|i| {
                            let lock = lock.clone();
                            let n = iters / CONTENDERS + u64::from(i < iters % CONTENDERS);
                            tokio::task::spawn_local(async move {
                                for _ in 0..n {
                                    let mut g = lock.lock().await;
                                    yield_once().await;
                                    *g += 1;
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    let elapsed = start.elapsed();
                    assert_eq!(*lock.lock().await, iters);
                    elapsed
                })
            })
        });
    }
    group.finish();
}

fn queue_put_get(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue_put_get");
    group.throughput(Throughput::Elements(1));
    {
        let rt = support::ringio();
        group.bench_function("ringio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let q = Rc::new(ringio::sync::Queue::bounded(QUEUE_CAPACITY));
                    let start = Instant::now();
                    let producer = {
                        let q = q.clone();
                        ringio::spawn(async move {
                            for i in 0..iters {
                                q.put(i).await.unwrap();
                            }
                        })
                    };
                    let consumer = {
                        let q = q.clone();
                        ringio::spawn(async move {
                            for _ in 0..iters {
                                black_box(q.get().await.unwrap());
                            }
                        })
                    };
                    producer.await.unwrap();
                    consumer.await.unwrap();
                    start.elapsed()
                })
            })
        });
    }
    {
        let rt = support::tokio();
        let local = tokio::task::LocalSet::new();
        group.bench_function("tokio", |b| {
            b.iter_custom(|iters| {
                local.block_on(&rt, async {
                    let (tx, mut rx) = tokio::sync::mpsc::channel(QUEUE_CAPACITY);
                    let start = Instant::now();
                    let producer = tokio::task::spawn_local(async move {
                        for i in 0..iters {
                            tx.send(i).await.unwrap();
                        }
                    });
                    let consumer = tokio::task::spawn_local(async move {
                        for _ in 0..iters {
                            black_box(rx.recv().await.unwrap());
                        }
                    });
                    producer.await.unwrap();
                    consumer.await.unwrap();
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

/// The echo task: sends back every ping until the `ping` queue is shut down.
async fn ringio_echo(
    ping: Arc<ringio::sync::shared::Queue<u64>>,
    pong: Arc<ringio::sync::shared::Queue<u64>>,
) {
    while let Ok(v) = ping.get().await {
        if pong.put(v).await.is_err() {
            break;
        }
    }
}

/// `queue_cross_core_pingpong/<name>` on tokio: the loop in `block_on`, the echo task
/// on a worker of a two-worker multi_thread runtime; with `pinned`, the `block_on`
/// thread on the first CPU and the workers on the second, as ringio's workers are.
fn bench_tokio_pingpong(c: &mut BenchmarkGroup<'_, WallTime>, name: &str, pinned: bool) {
    // The guard restores this thread's affinity after the runtime is dropped.
    let (rt, _affinity) = tokio_pinned::tokio_two_workers(pinned);
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let echo = tokio::spawn(async move {
                    while let Some(v) = ping_rx.recv().await {
                        if pong_tx.send(v).await.is_err() {
                            break;
                        }
                    }
                });
                ping_tx.send(0).await.unwrap();
                pong_rx.recv().await.unwrap();
                let start = Instant::now();
                for i in 0..iters {
                    ping_tx.send(i).await.unwrap();
                    black_box(pong_rx.recv().await.unwrap());
                }
                let elapsed = start.elapsed();
                drop(ping_tx);
                echo.await.unwrap();
                elapsed
            })
        })
    });
    drop(rt);
}

fn queue_cross_core_pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue_cross_core_pingpong");
    group.throughput(Throughput::Elements(1));
    {
        let rt = support::ringio_from(ringio::Builder::new().workers(2));
        group.bench_function("ringio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let ping = Arc::new(ringio::sync::shared::Queue::bounded(1));
                    let pong = Arc::new(ringio::sync::shared::Queue::bounded(1));
                    let echo = ringio::spawn_on(1, ringio_echo(ping.clone(), pong.clone()));
                    // One untimed round trip: the echo task is started and running.
                    ping.put(0).await.unwrap();
                    pong.get().await.unwrap();
                    let start = Instant::now();
                    for i in 0..iters {
                        ping.put(i).await.unwrap();
                        black_box(pong.get().await.unwrap());
                    }
                    let elapsed = start.elapsed();
                    ping.shutdown(false);
                    echo.await.unwrap();
                    elapsed
                })
            })
        });
    }
    bench_tokio_pingpong(&mut group, "tokio", true);
    bench_tokio_pingpong(&mut group, "tokio_unpinned", false);
    group.finish();
}

criterion_group!(
    benches,
    lock_uncontended,
    lock_contended,
    queue_put_get,
    queue_cross_core_pingpong
);
criterion_main!(benches);
