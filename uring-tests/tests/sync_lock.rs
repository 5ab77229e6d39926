//! Lock and Condition (ASYNCIO.md §3.1, §3.3): FIFO order, drops while waiting and
//! after a grant, `try_lock` not barging, notify counts, the re-locked guard, and
//! notifications passed on by dropped waiters. Paused clock; every run is bounded by a
//! timeout, so a lost wake-up fails instead of hanging.

mod support;

use ringio::runtime::Driver;
use ringio::sync::{Condition, Lock};
use ringio::time::timeout;
use ringio::yield_now;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;
use support::paused;

/// Runs `f` on a paused runtime; a stall (every task idle) jumps the clock to the
/// timeout and fails.
fn run<F: Future>(d: Driver, f: F) -> F::Output {
    paused(d).block_on(async {
        timeout(Duration::from_secs(3600), f)
            .await
            .expect("stalled: a wake-up was lost")
    })
}

/// Lets every ready task run until all are blocked again.
async fn settle() {
    for _ in 0..16 {
        yield_now().await;
    }
}

type Log = Rc<RefCell<Vec<&'static str>>>;

/// A task that takes `lock`, logs `name`, holds the lock across an await, and unlocks.
fn locker(lock: &Rc<Lock>, log: &Log, name: &'static str) -> ringio::JoinHandle<()> {
    let (lock, log) = (lock.clone(), log.clone());
    ringio::spawn(async move {
        let _guard = lock.lock().await;
        log.borrow_mut().push(name);
        yield_now().await;
    })
}

/// §3.1 check 1: A, B and C acquire in the order they asked.
fn lock_is_fifo(d: Driver) {
    run(d, async {
        let lock = Rc::new(Lock::new(()));
        let log = Log::default();
        let held = lock.lock().await;
        let mut tasks = Vec::new();
        for name in ["A", "B", "C"] {
            tasks.push(locker(&lock, &log, name));
            settle().await; // queued before the next one asks
        }
        assert!(log.borrow().is_empty());
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*log.borrow(), ["A", "B", "C"]);
        // The same with a newcomer arriving after the unlock: it queues behind.
        let held = lock.lock().await;
        let a = locker(&lock, &log, "A2");
        settle().await;
        drop(held);
        let b = locker(&lock, &log, "B2");
        a.await.unwrap();
        b.await.unwrap();
        assert_eq!(log.borrow()[3..], ["A2", "B2"]);
    });
}

/// §3.1 check 2: B dropped while waiting: the order is A then C, and B left nothing
/// behind (its captures are freed, the lock ends free).
fn lock_waiter_dropped_while_waiting(d: Driver) {
    run(d, async {
        let lock = Rc::new(Lock::new(()));
        let log = Log::default();
        let token = Rc::new(());
        let held = lock.lock().await;
        let a = locker(&lock, &log, "A");
        settle().await;
        let b = {
            let (lock, log, token) = (lock.clone(), log.clone(), token.clone());
            ringio::spawn(async move {
                let _guard = lock.lock().await;
                log.borrow_mut().push("B");
                drop(token);
            })
        };
        settle().await;
        let c = locker(&lock, &log, "C");
        settle().await;
        assert_eq!(Rc::strong_count(&token), 2);
        assert!(b.abort());
        settle().await;
        assert_eq!(Rc::strong_count(&token), 1, "B's future was freed");
        drop(held);
        a.await.unwrap();
        c.await.unwrap();
        assert!(b.await.unwrap_err().is_cancelled());
        assert_eq!(*log.borrow(), ["A", "C"]);
        assert!(!lock.is_locked());
        assert!(lock.try_lock().is_some());
        assert_eq!(
            Rc::strong_count(&lock),
            1,
            "no task holds the lock any more"
        );
    });
}

/// §3.1 check 3: a waiter granted the lock and dropped before it ran passes it on.
fn lock_granted_then_dropped_passes_it_on(d: Driver) {
    run(d, async {
        let lock = Rc::new(Lock::new(()));
        let log = Log::default();
        let held = lock.lock().await;
        let b = locker(&lock, &log, "B");
        settle().await;
        let c = locker(&lock, &log, "C");
        settle().await;
        drop(held); // hands the lock to B, which has not run yet
        assert!(lock.is_locked(), "the lock is B's now");
        assert!(lock.try_lock().is_none());
        assert!(b.abort()); // B's future is dropped holding the grant
        c.await.unwrap();
        assert!(b.await.unwrap_err().is_cancelled());
        assert_eq!(*log.borrow(), ["C"]);
        assert!(!lock.is_locked());
    });
}

/// §3.1 check 4: `try_lock` does not jump ahead of waiters, even in the moment between
/// an unlock and the next owner running.
fn try_lock_does_not_barge(d: Driver) {
    run(d, async {
        let lock = Rc::new(Lock::new(0));
        let held = lock.lock().await;
        let waiter = {
            let lock = lock.clone();
            ringio::spawn(async move {
                let mut g = lock.lock().await;
                *g += 1;
                yield_now().await;
            })
        };
        settle().await;
        assert!(lock.try_lock().is_none(), "held");
        drop(held);
        assert!(lock.try_lock().is_none(), "handed to the waiter");
        // A lock() future polled now queues behind the waiter too.
        let mut g = lock.lock().await;
        assert!(waiter.is_finished());
        assert_eq!(*g, 1);
        *g += 1;
        drop(g);
        assert_eq!(*lock.try_lock().unwrap(), 2);
        assert_eq!(lock.into_inner_for_test(), 2);
    });
}

/// Test-only helper: `Rc<Lock<T>>` to its value once unshared.
trait IntoInner<T> {
    fn into_inner_for_test(self) -> T;
}

impl<T> IntoInner<T> for Rc<Lock<T>> {
    fn into_inner_for_test(self) -> T {
        Rc::try_unwrap(self)
            .unwrap_or_else(|_| panic!("lock still shared"))
            .into_inner()
    }
}

/// The guard stays valid across awaits, and a dropped (not granted) `lock()` future
/// polled once leaves the line.
fn guard_across_awaits_and_dropped_future(d: Driver) {
    run(d, async {
        let lock = Rc::new(Lock::new(Vec::new()));
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let lock = lock.clone();
                ringio::spawn(async move {
                    let mut g = lock.lock().await;
                    g.push(i);
                    ringio::time::sleep(Duration::from_millis(10)).await;
                    g.push(i);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*lock.lock().await, [0, 0, 1, 1, 2, 2, 3, 3]);
        // A lock() raced against a timeout that wins: the lock is still usable.
        let held = lock.lock().await;
        assert!(timeout(Duration::from_secs(1), lock.lock()).await.is_err());
        drop(held);
        assert!(lock.try_lock().is_some());
    });
}

type Counted = Rc<Condition<u32>>;

/// A task that waits on `cond` once (after locking) and counts itself in `woken`.
fn cond_waiter(cond: &Counted, woken: &Rc<RefCell<Vec<u32>>>, id: u32) -> ringio::JoinHandle<()> {
    let (cond, woken) = (cond.clone(), woken.clone());
    ringio::spawn(async move {
        let g = cond.lock().await;
        let g = cond.wait(g).await;
        woken.borrow_mut().push(id);
        drop(g);
    })
}

/// §3.3 check 1: `notify(1)` wakes exactly one of three waiters (the oldest).
fn condition_notify_one_of_three(d: Driver) {
    run(d, async {
        let cond = Rc::new(Condition::new(0u32));
        let woken = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (1..=3).map(|i| cond_waiter(&cond, &woken, i)).collect();
        settle().await;
        assert_eq!(cond.waiting(), 3);
        assert!(!cond.is_locked(), "waiting released the lock");
        let g = cond.lock().await;
        assert_eq!(cond.notify(&g, 1), 1);
        drop(g);
        settle().await;
        assert_eq!(*woken.borrow(), [1]);
        assert_eq!(cond.waiting(), 2);
        let g = cond.lock().await;
        assert_eq!(cond.notify_all(&g), 2);
        assert_eq!(cond.notify_all(&g), 0);
        drop(g);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*woken.borrow(), [1, 2, 3]);
    });
}

/// §3.3 check 2: the woken waiter holds the lock: it waits for the notifier to unlock,
/// sees what was written under the lock, and keeps others out while it holds it.
fn condition_woken_waiter_holds_the_lock(d: Driver) {
    run(d, async {
        let cond = Rc::new(Condition::new(0u32));
        let seen = Rc::new(Cell::new(None));
        let release = Rc::new(ringio::sync::Event::new());
        let waiter = {
            let (cond, seen, release) = (cond.clone(), seen.clone(), release.clone());
            ringio::spawn(async move {
                let g = cond.lock().await;
                let mut g = cond.wait(g).await;
                seen.set(Some(*g));
                release.wait().await; // holding the guard
                *g += 1;
            })
        };
        settle().await;
        let mut g = cond.lock().await;
        *g = 42;
        cond.notify(&g, 1);
        settle().await;
        assert_eq!(
            seen.get(),
            None,
            "notified, but the notifier still holds the lock"
        );
        drop(g);
        settle().await;
        assert_eq!(seen.get(), Some(42));
        assert!(cond.is_locked(), "the waiter holds the lock");
        assert!(cond.try_lock().is_none());
        release.set();
        waiter.await.unwrap();
        assert_eq!(*cond.lock().await, 43);
    });
}

/// §3.3 check 3: a notified waiter that is dropped passes its notification on: while
/// still queued (granted, not run), and while locking again.
fn condition_dropped_notified_waiter_passes_it_on(d: Driver) {
    run(d, async {
        // Dropped before it ran.
        let cond = Rc::new(Condition::new(0u32));
        let woken = Rc::new(RefCell::new(Vec::new()));
        let w: Vec<_> = (1..=3).map(|i| cond_waiter(&cond, &woken, i)).collect();
        settle().await;
        let g = cond.lock().await;
        cond.notify(&g, 1);
        assert!(w[0].abort());
        drop(g);
        settle().await;
        assert_eq!(
            *woken.borrow(),
            [2],
            "the notification went to the next waiter"
        );
        assert_eq!(cond.waiting(), 1);

        // Dropped while locking again (the notifier still holds the lock).
        let cond = Rc::new(Condition::new(0u32));
        let woken = Rc::new(RefCell::new(Vec::new()));
        let w: Vec<_> = (1..=3).map(|i| cond_waiter(&cond, &woken, i)).collect();
        settle().await;
        let g = cond.lock().await;
        cond.notify(&g, 1);
        settle().await; // waiter 1 ran: it now waits for the lock
        assert_eq!(cond.waiting(), 2);
        assert!(w[0].abort());
        settle().await;
        assert_eq!(cond.waiting(), 1, "waiter 2 got the notification");
        drop(g);
        settle().await;
        assert_eq!(*woken.borrow(), [2]);
        let g = cond.lock().await;
        cond.notify_all(&g);
        drop(g);
        for t in w {
            let _ = t.await;
        }
        assert_eq!(*woken.borrow(), [2, 3]);
        assert!(!cond.is_locked());
    });
}

/// `wait_while` loops past spurious and unrelated notifications; conditions may share
/// a lock; a guard of another lock is refused.
fn condition_wait_while_and_shared_lock(d: Driver) {
    run(d, async {
        let lock = Rc::new(Lock::new(Vec::<u32>::new()));
        let not_empty = Rc::new(Condition::with_lock(lock.clone()));
        let became_long = Rc::new(Condition::with_lock(lock.clone()));
        let consumer = {
            let c = not_empty.clone();
            ringio::spawn(async move {
                let g = c.lock().await;
                let mut g = c.wait_while(g, |v| v.is_empty()).await;
                g.remove(0)
            })
        };
        let watcher = {
            let c = became_long.clone();
            ringio::spawn(async move {
                let g = c.lock().await;
                let g = c.wait_while(g, |v| v.len() < 3).await;
                g.len()
            })
        };
        settle().await;
        // A notification with the predicate still true: back to waiting.
        let g = lock.lock().await;
        not_empty.notify_all(&g);
        drop(g);
        settle().await;
        assert!(!consumer.is_finished());
        for i in 0..4 {
            let mut g = lock.lock().await;
            g.push(i);
            not_empty.notify(&g, 1);
            became_long.notify(&g, 1);
            drop(g);
            settle().await;
        }
        assert_eq!(consumer.await.unwrap(), 0);
        assert!(watcher.await.unwrap() >= 3);
        // The guard of another lock is refused.
        let other = Lock::new(Vec::new());
        let og = other.lock().await;
        let refused =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| not_empty.notify(&og, 1)));
        assert!(refused.is_err());
    });
}

both_drivers!(
    lock_is_fifo,
    lock_waiter_dropped_while_waiting,
    lock_granted_then_dropped_passes_it_on,
    try_lock_does_not_barge,
    guard_across_awaits_and_dropped_future,
    condition_notify_one_of_three,
    condition_woken_waiter_holds_the_lock,
    condition_dropped_notified_waiter_passes_it_on,
    condition_wait_while_and_shared_lock,
);
