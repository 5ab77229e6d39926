//! Timers: inserting a timer into the runtime's timer structure and cancelling it.
//!
//! `timer_insert_cancel`: per iteration, create a 1 s sleep, poll it once, which
//! registers its deadline and waker, and drop it, which removes them. The timer never
//! fires, so this is the cost a `timeout` pays when its future wins, which is the usual
//! case.
//!
//! # Why the comparison is fair
//!
//! Both sleeps are created and polled the same way from the `block_on` future, and both
//! runtimes keep timers in a hierarchical wheel with 1 ms ticks; each sleep reads the
//! clock once for its deadline. Each poll is asserted pending, so the timer was really
//! registered. A pending poll gives back tokio's cooperative budget, so the loop never
//! runs out of it and every poll reaches tokio's wheel.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

mod support;

/// Far enough away that no timer fires during a sample.
const FAR: Duration = Duration::from_secs(1);

/// Polls `future` once, asserting that it is pending, and returns.
async fn poll_once_pending<F: Future>(future: F) {
    let mut future = pin!(future);
    poll_fn(|cx| {
        assert!(
            future.as_mut().poll(cx).is_pending(),
            "a 1 s sleep finished at once"
        );
        Poll::Ready(())
    })
    .await
}

fn timer_insert_cancel(c: &mut Criterion) {
    let mut group = c.benchmark_group("timer_insert_cancel");
    group.throughput(Throughput::Elements(1));
    {
        let rt = support::ringio();
        group.bench_function("ringio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        poll_once_pending(ringio::time::sleep(FAR)).await;
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
                        poll_once_pending(tokio::time::sleep(FAR)).await;
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, timer_insert_cancel);
criterion_main!(benches);
