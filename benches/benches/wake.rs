//! Waking: two tasks on one runtime handing a turn back and forth.
//!
//! `wake_pingpong`: task A raises signal `a` and waits on `b`; task B waits on `a` and
//! raises `b`. One iteration is one round trip: two wakes, two waker clones, and two
//! tasks polled through the run queue.
//!
//! # Why the comparison is fair
//!
//! The notification is [`Signal`], written here and shared by both variants, so the only
//! code that differs is the executor: its wakers (clone, wake, drop) and its run queue.
//! `Signal` is single-threaded (`Rc` and `Cell`), like the tasks ringio is built for, so
//! tokio runs the two tasks with `spawn_local` on a `LocalSet`, its way to run `!Send`
//! tasks on the current_thread runtime. Each sample spawns the two tasks once and runs
//! `iters` round trips, so spawning is spread over many thousands of iterations.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

mod support;

/// A single-threaded, single-waiter notification: [`raise`](Signal::raise) sets a flag
/// and wakes the waiter if there is one; [`wait`](Signal::wait) clears the flag, or
/// stores the waker and pends. The usual take-and-wake pattern (as `AtomicWaker`), so a
/// waker is cloned on each wait that pends and consumed by each wake.
#[derive(Default)]
struct Signal {
    raised: Cell<bool>,
    waiter: Cell<Option<Waker>>,
}

impl Signal {
    fn raise(&self) {
        self.raised.set(true);
        if let Some(waker) = self.waiter.take() {
            waker.wake();
        }
    }

    fn wait(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(move |cx| {
            if self.raised.replace(false) {
                Poll::Ready(())
            } else {
                self.waiter.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
    }
}

/// Task A: `rounds` times, raise `a` and wait for `b`.
async fn ping(a: Rc<Signal>, b: Rc<Signal>, rounds: u64) {
    for _ in 0..rounds {
        a.raise();
        b.wait().await;
    }
}

/// Task B: `rounds` times, wait for `a` and raise `b`.
async fn pong(a: Rc<Signal>, b: Rc<Signal>, rounds: u64) {
    for _ in 0..rounds {
        a.wait().await;
        b.raise();
    }
}

fn wake_pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("wake_pingpong");
    group.throughput(Throughput::Elements(1));
    {
        let rt = support::ringio();
        group.bench_function("ringio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let (sa, sb) = (Rc::new(Signal::default()), Rc::new(Signal::default()));
                    let start = Instant::now();
                    let a = ringio::spawn(ping(sa.clone(), sb.clone(), iters));
                    let b = ringio::spawn(pong(sa, sb, iters));
                    a.await.unwrap();
                    b.await.unwrap();
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
                    let (sa, sb) = (Rc::new(Signal::default()), Rc::new(Signal::default()));
                    let start = Instant::now();
                    let a = tokio::task::spawn_local(ping(sa.clone(), sb.clone(), iters));
                    let b = tokio::task::spawn_local(pong(sa, sb, iters));
                    a.await.unwrap();
                    b.await.unwrap();
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, wake_pingpong);
criterion_main!(benches);
