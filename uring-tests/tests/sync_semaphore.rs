//! Semaphore and BoundedSemaphore (ASYNCIO.md §3.4): waiting for a dropped permit,
//! FIFO service, `try_acquire` failing while waiters are queued, over-release of the
//! bounded form, and grants passed on by dropped waiters. Paused clock; every run is
//! bounded by a timeout, so a lost wake-up fails instead of hanging.

mod support;

use ringio::runtime::Driver;
use ringio::sync::{BoundedSemaphore, Semaphore};
use ringio::time::timeout;
use ringio::yield_now;
use std::cell::RefCell;
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

type Log = Rc<RefCell<Vec<u32>>>;

/// A task that takes `n` permits, logs `id`, holds them across an await, and drops them.
fn taker(sem: &Rc<Semaphore>, log: &Log, id: u32, n: usize) -> ringio::JoinHandle<()> {
    let (sem, log) = (sem.clone(), log.clone());
    ringio::spawn(async move {
        let p = sem.acquire_many(n).await;
        assert_eq!(p.permits(), n);
        log.borrow_mut().push(id);
        yield_now().await;
    })
}

/// §3.4 check 1: with a count of two, the third acquirer waits until a permit is
/// dropped.
fn third_acquirer_waits_for_a_drop(d: Driver) {
    run(d, async {
        let sem = Rc::new(Semaphore::new(2));
        let a = sem.acquire().await;
        let _b = sem.acquire().await;
        assert_eq!(sem.available_permits(), 0);
        assert!(sem.is_locked());
        let log = Log::default();
        let c = taker(&sem, &log, 3, 1);
        settle().await;
        assert!(log.borrow().is_empty(), "the third waits");
        drop(a);
        c.await.unwrap();
        assert_eq!(*log.borrow(), [3]);
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(Semaphore::default().available_permits(), 1);
    });
}

/// §3.4 check 2: waiters are served FIFO, and `try_acquire` (or a new `acquire`) does
/// not take permits ahead of them, even when some are free.
fn fifo_and_try_acquire_fails_while_queued(d: Driver) {
    run(d, async {
        let sem = Rc::new(Semaphore::new(0));
        let log = Log::default();
        let tasks: Vec<_> = (1..=3).map(|i| taker(&sem, &log, i, 1)).collect();
        settle().await;
        for _ in 0..3 {
            sem.add_permits(1);
            settle().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*log.borrow(), [1, 2, 3]);

        // The front waiter wants 3 of the 2 free permits: it holds back everyone.
        let sem = Rc::new(Semaphore::new(2));
        let log = Log::default();
        let big = taker(&sem, &log, 10, 3);
        settle().await;
        assert_eq!(sem.available_permits(), 2);
        assert!(sem.is_locked(), "locked while a waiter is queued");
        assert!(sem.try_acquire().is_none(), "no barging past the queue");
        let small = taker(&sem, &log, 11, 1);
        settle().await;
        assert!(log.borrow().is_empty(), "the newcomer queues behind");
        sem.add_permits(1);
        big.await.unwrap();
        small.await.unwrap();
        assert_eq!(*log.borrow(), [10, 11]);
        assert!(sem.try_acquire().is_some());
        assert_eq!(sem.available_permits(), 3);
    });
}

/// §3.4 check 3: a bounded over-release returns `Err(Overflow)`.
fn bounded_over_release_is_an_error(d: Driver) {
    run(d, async {
        let sem = BoundedSemaphore::new(2);
        assert_eq!(sem.bound(), 2);
        let err = sem.add_permits(1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a bounded semaphore was released past its initial count"
        );
        let held = sem.acquire().await;
        assert!(
            sem.add_permits(1).is_err(),
            "the held permit will come back"
        );
        drop(held);
        assert_eq!(sem.available_permits(), 2);
        sem.acquire().await.forget();
        assert_eq!(sem.available_permits(), 1);
        assert!(
            sem.add_permits(1).is_ok(),
            "a forgotten permit may be restored"
        );
        assert!(sem.add_permits(1).is_err());
        assert_eq!(sem.available_permits(), 2);
        let two = sem.acquire_many(2).await;
        assert!(sem.try_acquire().is_none());
        drop(two);
        assert!(sem.try_acquire_many(2).is_some());
    });
}

/// A waiter granted its permit and dropped before it ran hands the permit on; a
/// queued front waiter that is dropped lets the next one through.
fn dropped_waiters_pass_permits_on(d: Driver) {
    run(d, async {
        let sem = Rc::new(Semaphore::new(1));
        let log = Log::default();
        let held = sem.acquire().await;
        let b = taker(&sem, &log, 2, 1);
        settle().await;
        let c = taker(&sem, &log, 3, 1);
        settle().await;
        drop(held); // granted to b, which has not run
        assert_eq!(sem.available_permits(), 0);
        assert!(b.abort());
        c.await.unwrap();
        assert!(b.await.unwrap_err().is_cancelled());
        assert_eq!(*log.borrow(), [3]);
        assert_eq!(sem.available_permits(), 1);

        // Head of line: wants 2 of 1; the one behind wants 1.
        let log = Log::default();
        let big = taker(&sem, &log, 20, 2);
        settle().await;
        let small = taker(&sem, &log, 21, 1);
        settle().await;
        assert!(log.borrow().is_empty());
        big.abort();
        small.await.unwrap();
        assert_eq!(*log.borrow(), [21]);
        assert_eq!(sem.available_permits(), 1);

        // A timed-out acquire leaves the line.
        let held = sem.acquire().await;
        assert!(timeout(Duration::from_secs(1), sem.acquire())
            .await
            .is_err());
        drop(held);
        assert!(!sem.is_locked());
    });
}

both_drivers!(
    third_acquirer_waits_for_a_drop,
    fifo_and_try_acquire_fails_while_queued,
    bounded_over_release_is_an_error,
    dropped_waiters_pass_permits_on,
);
