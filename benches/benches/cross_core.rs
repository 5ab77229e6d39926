//! Crossing cores: one message bounced between two threads through bounded channels.
//!
//! `cross_core_pingpong`: the measuring loop on one thread sends a `u64` on the `ping`
//! channel and waits for it back on `pong`; an echo task on another thread receives each
//! ping and sends it back. Both channels hold one item. One iteration is one full round
//! trip: two cross-core wakes (the echo task woken by the ping, the loop woken by the
//! pong), each with the target thread coming out of its park if it had gone to sleep,
//! plus four channel operations under their locks.
//!
//! # The variants
//!
//! - `ringio_msg_ring`: a two-worker ringio runtime with `.msg_ring(true)`. The loop runs
//!   in `block_on` on worker 0 (this thread), the echo task on worker 1, each pinned to
//!   its CPU. A worker wakes the other by queuing an `IORING_OP_MSG_RING` on its own
//!   ring, which is submitted with its next `io_uring_enter` (usually the one it parks
//!   in), so the wake costs no syscall of its own. Skipped, with a note, where the
//!   backend has no MSG_RING (epoll, or a kernel before 5.18): it would measure the
//!   eventfd path under the wrong name.
//! - `ringio_eventfd`: the same with `.msg_ring(false)`: a wake writes the target
//!   worker's eventfd, one `write(2)` per wake. This is the only path on epoll.
//! - `tokio`: tokio's `multi_thread` runtime with two workers, `tokio::sync::mpsc`
//!   channels of capacity 1, the echo task started with `tokio::spawn` and the loop in
//!   `rt.block_on`. tokio's `block_on` thread is not one of its workers, so the loop's
//!   side of each hop wakes a plain thread parked on the runtime's parker (a futex),
//!   and the echo task runs on whichever worker picked it up; that is tokio's normal
//!   shape for a thread handing work to the runtime and waiting for the answer.
//!
//! Both ringio paths are measured because they are the two ways one ringio worker wakes
//! another, chosen by `Builder::msg_ring`; the gap between them is what MSG_RING buys
//! for a wake that must leave the core.
//!
//! # Where the comparison is not like for like
//!
//! ringio pins its two workers to two CPUs, so every ringio round trip does cross
//! cores. tokio pins nothing: the kernel may run the `block_on` thread and the worker
//! holding the echo task on the same CPU, where a wake is a context switch instead of
//! a wake-up of another, possibly idle, CPU. On a virtual machine the second is far
//! dearer (an idle vCPU has to be woken by the hypervisor: tens of microseconds, against
//! a few on one CPU), so the `tokio` figure moves from run to run with where the
//! scheduler put its threads, and is a lower bound on what tokio pays for a hop that
//! really leaves the core. Read the two ringio variants against each other first.
//!
//! # Set-up and noise
//!
//! Each sample spawns the echo task once and does one untimed round trip, so the task
//! is running before the clock starts; after the timed loop the loop's `ping` sender is
//! dropped, the echo task sees its channel closed and ends, and the sample awaits it
//! (untimed) so no task outlives the sample and the runtime shuts down at once.
//!
//! Every round trip here crosses cores and may go through a park and unpark on each
//! side, so the figures depend on the machine far more than the single-thread benches:
//! on a two-core machine shared with other work (builds, other benches), the two
//! workers are the whole machine, and any other thread scheduled on either core sits in
//! the middle of the round trip. Expect wide confidence intervals there, and compare
//! runs made on the same machine under the same load only.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use std::hint::black_box;
use std::time::Instant;

// Only `ringio_from` is used here: the single-worker helpers are for the other benches.
#[allow(dead_code)]
mod support;
#[path = "support/tokio_pinned.rs"]
mod tokio_pinned;

/// The echo task: sends back every ping until the `ping` sender is dropped (or the
/// `pong` receiver is gone).
async fn ringio_echo(
    mut ping: ringio::sync::mpsc::Receiver<u64>,
    pong: ringio::sync::mpsc::Sender<u64>,
) {
    while let Some(v) = ping.recv().await {
        if pong.send(v).await.is_err() {
            break;
        }
    }
}

/// tokio's echo task, the same loop on tokio's channels.
async fn tokio_echo(
    mut ping: tokio::sync::mpsc::Receiver<u64>,
    pong: tokio::sync::mpsc::Sender<u64>,
) {
    while let Some(v) = ping.recv().await {
        if pong.send(v).await.is_err() {
            break;
        }
    }
}

/// `cross_core_pingpong/<name>` on a two-worker ringio runtime, waking across workers
/// with MSG_RING (`msg_ring`) or the eventfd.
fn bench_ringio(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, msg_ring: bool) {
    let rt = support::ringio_from(ringio::Builder::new().workers(2).msg_ring(msg_ring));
    if msg_ring && !rt.driver_info().flags().contains(&"MSG_RING") {
        eprintln!(
            "cross_core_pingpong/{name}: skipped, the {} backend has no MSG_RING",
            rt.driver_info()
        );
        return;
    }
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let (ping_tx, ping_rx) = ringio::sync::mpsc::channel::<u64>(1);
                let (pong_tx, mut pong_rx) = ringio::sync::mpsc::channel::<u64>(1);
                let echo = ringio::spawn_on(1, ringio_echo(ping_rx, pong_tx));
                // One untimed round trip: the echo task is started and running.
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
}

/// `cross_core_pingpong/tokio`: the loop in `block_on`, the echo task on a worker of a
/// two-worker multi_thread runtime. With `pinned`, the `block_on` thread runs on CPU 0
/// and tokio's workers on CPU 1, so every hop crosses cores as ringio's pinned workers'
/// do; unpinned, the kernel tends to put both ends on one core (a same-core figure).
fn bench_tokio(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, pinned: bool) {
    // The guard restores this thread's affinity after the runtime is dropped.
    let (rt, _affinity) = tokio_pinned::tokio_two_workers(pinned);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let (ping_tx, ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let echo = tokio::spawn(tokio_echo(ping_rx, pong_tx));
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

fn cross_core_pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("cross_core_pingpong");
    group.throughput(Throughput::Elements(1));
    bench_ringio(&mut group, "ringio_msg_ring", true);
    bench_ringio(&mut group, "ringio_eventfd", false);
    bench_tokio(&mut group, "tokio_pinned", true);
    bench_tokio(&mut group, "tokio", false);
    group.finish();
}

criterion_group!(benches, cross_core_pingpong);
criterion_main!(benches);
