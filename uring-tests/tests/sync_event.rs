//! Event and Barrier (ASYNCIO.md §3.2, §3.5): `set` releasing every waiter even when
//! `clear` follows, waits after `clear` blocking, barrier indices, abort and reset,
//! rounds in a row, and waiters leaving while the barrier fills. Paused clock; every
//! run is bounded by a timeout, so a lost wake-up fails instead of hanging.

mod support;

use ringio::runtime::Driver;
use ringio::sync::{Barrier, Event};
use ringio::time::timeout;
use ringio::yield_now;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;
use support::paused;

fn run<F: Future>(d: Driver, f: F) -> F::Output {
    paused(d).block_on(async {
        timeout(Duration::from_secs(3600), f)
            .await
            .expect("stalled: a wake-up was lost")
    })
}

async fn settle() {
    for _ in 0..16 {
        yield_now().await;
    }
}

fn event_waiters(ev: &Rc<Event>, n: usize) -> Vec<ringio::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let ev = ev.clone();
            ringio::spawn(async move { ev.wait().await })
        })
        .collect()
}

/// §3.2 check 1: `set()` releases all waiters; later waits return at once.
fn event_set_releases_all(d: Driver) {
    run(d, async {
        let ev = Rc::new(Event::new());
        assert!(!ev.is_set());
        let waiters = event_waiters(&ev, 5);
        settle().await;
        assert!(waiters.iter().all(|w| !w.is_finished()));
        ev.set();
        assert!(ev.is_set());
        for w in waiters {
            w.await.unwrap();
        }
        ev.wait().await;
        ev.set(); // setting a set event changes nothing
        ev.wait().await;
    });
}

/// §3.2 check 2: `set(); clear();` in one turn still releases the waiters that were
/// already registered.
fn event_set_then_clear_still_releases(d: Driver) {
    run(d, async {
        let ev = Rc::new(Event::new());
        let waiters = event_waiters(&ev, 3);
        settle().await;
        ev.set();
        ev.clear();
        assert!(!ev.is_set());
        for w in waiters {
            w.await.unwrap();
        }
    });
}

/// §3.2 check 3: `wait()` after `clear()` blocks, until the next `set()`.
fn event_wait_after_clear_blocks(d: Driver) {
    run(d, async {
        let ev = Rc::new(Event::new());
        ev.set();
        ev.wait().await;
        ev.clear();
        assert!(timeout(Duration::from_secs(5), ev.wait()).await.is_err());
        let waiters = event_waiters(&ev, 2);
        settle().await;
        assert!(waiters.iter().all(|w| !w.is_finished()));
        // A waiter dropped while waiting changes nothing for the others.
        waiters[0].abort();
        ev.set();
        let mut it = waiters.into_iter();
        assert!(it.next().unwrap().await.unwrap_err().is_cancelled());
        it.next().unwrap().await.unwrap();
    });
}

fn barrier_waiters(
    b: &Rc<Barrier>,
    n: usize,
) -> Vec<ringio::JoinHandle<Result<usize, ringio::sync::BrokenBarrier>>> {
    (0..n)
        .map(|_| {
            let b = b.clone();
            ringio::spawn(async move { b.wait().await })
        })
        .collect()
}

async fn indices(
    tasks: Vec<ringio::JoinHandle<Result<usize, ringio::sync::BrokenBarrier>>>,
) -> Vec<usize> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap().unwrap());
    }
    out.sort_unstable();
    out
}

/// §3.5 check 1: with three parties the indices are a permutation of {0, 1, 2}, and
/// nobody passes before the third arrives.
fn barrier_indices_are_a_permutation(d: Driver) {
    run(d, async {
        let b = Rc::new(Barrier::new(3));
        assert_eq!(b.parties(), 3);
        let first = barrier_waiters(&b, 2);
        settle().await;
        assert_eq!(b.n_waiting(), 2);
        assert!(first.iter().all(|t| !t.is_finished()));
        let mut all = first;
        all.extend(barrier_waiters(&b, 1));
        assert_eq!(indices(all).await, [0, 1, 2]);
        assert_eq!(b.n_waiting(), 0);
        // One party passes alone, with index 0.
        assert_eq!(Barrier::new(1).wait().await, Ok(0));
    });
}

/// §3.5 check 2: after `abort()`, current and later waits fail until `reset()`.
fn barrier_abort_until_reset(d: Driver) {
    run(d, async {
        let b = Rc::new(Barrier::new(3));
        let waiting = barrier_waiters(&b, 2);
        settle().await;
        b.abort();
        assert!(b.is_broken());
        for t in waiting {
            assert!(t.await.unwrap().is_err());
        }
        assert!(b.wait().await.is_err(), "a later wait fails at once");
        assert_eq!(b.n_waiting(), 0);
        b.reset();
        assert!(!b.is_broken());
        assert_eq!(indices(barrier_waiters(&b, 3)).await, [0, 1, 2]);
        // reset() with waiters: they fail, the barrier is empty and not broken.
        let waiting = barrier_waiters(&b, 2);
        settle().await;
        b.reset();
        for t in waiting {
            let err = t.await.unwrap().unwrap_err();
            assert_eq!(err.to_string(), "the barrier is broken or was reset");
        }
        assert!(!b.is_broken());
        assert_eq!(indices(barrier_waiters(&b, 3)).await, [0, 1, 2]);
    });
}

/// §3.5 check 3: two rounds in a row pass, the same tasks waiting twice.
fn barrier_two_rounds_in_a_row(d: Driver) {
    run(d, async {
        let b = Rc::new(Barrier::new(3));
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                ringio::spawn(async move {
                    let first = b.wait().await.unwrap();
                    let second = b.wait().await.unwrap();
                    (first, second)
                })
            })
            .collect();
        let mut firsts = Vec::new();
        let mut seconds = Vec::new();
        for t in tasks {
            let (f, s) = t.await.unwrap();
            firsts.push(f);
            seconds.push(s);
        }
        firsts.sort_unstable();
        seconds.sort_unstable();
        assert_eq!((firsts, seconds), (vec![0, 1, 2], vec![0, 1, 2]));
    });
}

/// A waiter dropped while the barrier fills leaves it: it no longer counts, and the
/// round's indices are still a permutation.
fn barrier_waiter_dropped_while_filling_leaves(d: Driver) {
    run(d, async {
        let b = Rc::new(Barrier::new(3));
        let waiting = barrier_waiters(&b, 2);
        settle().await;
        assert_eq!(b.n_waiting(), 2);
        waiting[0].abort();
        settle().await;
        assert_eq!(b.n_waiting(), 1);
        let mut rest: Vec<_> = waiting.into_iter().skip(1).collect();
        rest.extend(barrier_waiters(&b, 1));
        settle().await;
        assert!(rest.iter().all(|t| !t.is_finished()), "only two of three");
        rest.extend(barrier_waiters(&b, 1));
        assert_eq!(indices(rest).await, [0, 1, 2]);
        // A timed-out wait leaves too.
        assert!(timeout(Duration::from_secs(1), b.wait()).await.is_err());
        assert_eq!(b.n_waiting(), 0);
    });
}

both_drivers!(
    event_set_releases_all,
    event_set_then_clear_still_releases,
    event_wait_after_clear_blocks,
    barrier_indices_are_a_permutation,
    barrier_abort_until_reset,
    barrier_two_rounds_in_a_row,
    barrier_waiter_dropped_while_filling_leaves,
);
