//! loom models of the cross-thread paths of `sync`: [`shared::Event`]'s set/wait,
//! [`shared::Semaphore`]'s acquire/release, and the two cross-core channels,
//! [`shared::Queue`] and [`mpsc`].
//!
//! The per-core `Event` and `Semaphore` (and `BoundedSemaphore`) are single-thread
//! only: their state sits in a `RefCell` and the types are `!Send`, so they have no
//! cross-thread path to model. Their `shared::` forms run the *same* protocol code
//! (`state/event.rs`, `state/semaphore.rs`, `state/queue.rs`) over a
//! `std::sync::Mutex` through [`StateCell`]; here that code runs unchanged over
//! loom's `Mutex` (the `StateCell` impl below), so these models exercise the real
//! `EventState`, `WaitOp`, `SemState`, `AcquireOp`, `QueueState`, `PutOp`, `GetOp`
//! and `JoinOp`, not a restatement. What is restated is only the thin shell of the
//! `shared` types, each line naming the function it stands for:
//!
//! - `shared::Event::set` is `state.with(EventState::set).wake()`;
//! - `shared::SemaphorePermit`'s drop is `state.with(|st| st.release(n)).wake()`;
//! - `shared::Queue::put`/`get`/`join` are `PutOp`/`GetOp`/`JoinOp` over the state,
//!   `task_done` is `state.with(|st| st.task_done())` then its wakes, and `shutdown`
//!   is `state.with(|st| st.shutdown(immediate))` then its wakes;
//! - a task or a `blocking_*` caller waiting is loom's `block_on` (standing for a
//!   worker polling the task, or `shared::park::block_on` parking a plain thread):
//!   a wake-up the protocol loses leaves that thread blocked, which loom reports as a
//!   deadlock.
//!
//! The mpsc channel is modelled whole: under `cfg(all(test, loom))` `mpsc.rs` takes
//! its `Arc`, `Mutex`, `MutexGuard` and `Condvar` from loom, so the real `Sender`,
//! `Receiver` and `Send` future run here, `blocking_send`'s condvar included.
//!
//! Run with `ci/loom.sh`.
//!
//! [`shared::Event`]: super::shared::Event
//! [`shared::Semaphore`]: super::shared::Semaphore
//! [`shared::Queue`]: super::shared::Queue

use super::mpsc::{self, SendError};
use super::state::event::{EventState, WaitOp};
use super::state::queue::{GetOp, JoinOp, Order, PutOp, QueueState};
use super::state::semaphore::{AcquireOp, SemState};
use super::state::StateCell;
use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;

/// `loom::model` with a preemption bound: `LOOM_MAX_PREEMPTIONS` if set, else
/// [`PREEMPTIONS`]. Unbounded, the larger models here run for many minutes.
fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(PREEMPTIONS));
    builder.check(f);
}

/// The default preemption bound of these models: every interleaving with up to this
/// many preemptions is explored (3: about 13 s for all models in release, 4: about a
/// minute).
const PREEMPTIONS: usize = 3;

/// The cross-core cell, on loom's mutex (`StateCell for std::sync::Mutex`).
impl<S> StateCell<S> for Mutex<S> {
    fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        f(&mut self.lock().unwrap())
    }
}

/// Polls `fut` once on this thread; `true` if it finished. The future is dropped
/// either way (a cancelled wait, when it had not finished).
fn poll_once_then_drop<F: Future>(fut: F) -> bool {
    let mut fut = pin!(fut);
    block_on(poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_ready())))
}

/// `shared::Event::set`.
fn event_set(ev: &Mutex<EventState>) {
    ev.with(EventState::set).wake();
}

/// `shared::Event::clear`.
fn event_clear(ev: &Mutex<EventState>) {
    ev.with(EventState::clear);
}

/// A `set` from one thread races a `wait` on another and a wait that is cancelled
/// (polled once, then dropped) on a third: the waiter always returns.
#[test]
fn loom_event_set_races_wait_and_cancelled_wait() {
    model(|| {
        let ev = Arc::new(Mutex::new(EventState::new()));
        let waiter = {
            let ev = ev.clone();
            // `shared::Event::wait().await` (or `blocking_wait`).
            thread::spawn(move || block_on(WaitOp::new(&*ev)))
        };
        let canceller = {
            let ev = ev.clone();
            thread::spawn(move || {
                poll_once_then_drop(WaitOp::new(&*ev));
            })
        };
        event_set(&ev);
        waiter.join().unwrap();
        canceller.join().unwrap();
        assert!(ev.with(|st| st.is_set()));
    });
}

/// asyncio's rule across threads: a waiter queued before `set` is released even if
/// `clear` follows at once, before it runs again.
#[test]
fn loom_event_set_then_clear_releases_queued_waiter() {
    model(|| {
        let ev = Arc::new(Mutex::new(EventState::new()));
        let queued = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (ev, queued) = (ev.clone(), queued.clone());
            thread::spawn(move || {
                let mut wait = pin!(WaitOp::new(&*ev));
                block_on(poll_fn(|cx| {
                    let r = wait.as_mut().poll(cx);
                    if r.is_pending() {
                        queued.store(true, Ordering::Release);
                    }
                    r
                }));
            })
        };
        while !queued.load(Ordering::Acquire) {
            thread::yield_now();
        }
        event_set(&ev);
        event_clear(&ev);
        waiter.join().unwrap();
        assert!(!ev.with(|st| st.is_set()));
    });
}

/// `shared::Semaphore::acquire().await`, the permit used, then dropped
/// (`SemaphorePermit::drop`). Counts the holders in `in_use`.
fn acquire_use_release(sem: &Mutex<SemState>, in_use: &AtomicUsize) {
    block_on(AcquireOp::new(sem, 1));
    assert_eq!(
        in_use.fetch_add(1, Ordering::Relaxed),
        0,
        "two holders of one permit"
    );
    in_use.fetch_sub(1, Ordering::Relaxed);
    sem.with(|st| st.release(1)).wake();
}

/// Two threads contend for one permit while a third returns it: each gets it in turn,
/// never both at once, and no wake-up is lost.
#[test]
fn loom_semaphore_one_permit_two_threads() {
    model(|| {
        let sem = Arc::new(Mutex::new(SemState::new(0, false)));
        let in_use = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (sem, in_use) = (sem.clone(), in_use.clone());
                thread::spawn(move || acquire_use_release(&sem, &in_use))
            })
            .collect();
        // `shared::Semaphore::add_permits(1)` from this thread.
        sem.with(|st| st.add(1)).ok().unwrap().wake();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.with(|st| (st.available(), st.waiting())), (1, 0));
    });
}

/// A waiter that is cancelled (polled once, then dropped) while the only permit is
/// released: if it had been granted the permit, its drop passes it on, so the other
/// waiter still gets it.
#[test]
fn loom_semaphore_cancelled_waiter_passes_grant_on() {
    model(|| {
        let sem = Arc::new(Mutex::new(SemState::new(1, true)));
        // This thread holds the only permit (`try_acquire`).
        assert!(sem.with(|st| st.try_acquire(1)));
        let in_use = Arc::new(AtomicUsize::new(1));
        let canceller = {
            let sem = sem.clone();
            thread::spawn(move || {
                if poll_once_then_drop(AcquireOp::new(&*sem, 1)) {
                    // Acquired at once (the permit was already back): give it back.
                    sem.with(|st| st.release(1)).wake();
                }
            })
        };
        let waiter = {
            let (sem, in_use) = (sem.clone(), in_use.clone());
            thread::spawn(move || acquire_use_release(&sem, &in_use))
        };
        // The permit guard is dropped.
        in_use.fetch_sub(1, Ordering::Relaxed);
        sem.with(|st| st.release(1)).wake();
        canceller.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(sem.with(|st| (st.available(), st.waiting())), (1, 0));
    });
}

/// An async sender fills a channel of one slot twice while the receiver drains it on
/// another thread: every item arrives, in order, then `None` once the sender is gone.
#[test]
fn loom_mpsc_send_waits_for_room() {
    model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let sender = thread::spawn(move || {
            block_on(tx.send(1)).unwrap();
            block_on(tx.send(2)).unwrap();
        });
        assert_eq!(block_on(rx.recv()), Some(1));
        assert_eq!(block_on(rx.recv()), Some(2));
        assert_eq!(block_on(rx.recv()), None);
        sender.join().unwrap();
    });
}

/// Two async senders wait on a full channel; one is cancelled after one poll. If the
/// room freed by a receive went to the cancelled one, its drop hands it on, so the
/// other sender's item still arrives.
#[test]
fn loom_mpsc_cancelled_sender_passes_room_on() {
    model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.try_send(0).unwrap();
        let cancelled = {
            let tx = tx.clone();
            thread::spawn(move || poll_once_then_drop(tx.send(1)))
        };
        let waiter = {
            let tx = tx.clone();
            thread::spawn(move || block_on(tx.send(2)).unwrap())
        };
        drop(tx);
        let mut got = Vec::new();
        while let Some(v) = block_on(rx.recv()) {
            got.push(v);
        }
        let sent_one = cancelled.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(got[0], 0);
        assert!(
            got.contains(&2),
            "the waiting sender's item was lost: {got:?}"
        );
        assert_eq!(got.contains(&1), sent_one);
        assert_eq!(got.len(), 2 + usize::from(sent_one));
    });
}

/// A sender blocked on a full channel (async on one thread, `blocking_send` on its
/// condvar on another) gets its item back when the receiver is dropped.
#[test]
fn loom_mpsc_receiver_drop_releases_blocked_senders() {
    model(|| {
        let (tx, rx) = mpsc::channel::<u32>(1);
        tx.try_send(0).unwrap();
        let blocking = {
            let tx = tx.clone();
            thread::spawn(move || tx.blocking_send(1))
        };
        let asynchronous = thread::spawn(move || block_on(tx.send(2)));
        drop(rx);
        assert_eq!(blocking.join().unwrap(), Err(SendError(1)));
        assert_eq!(asynchronous.join().unwrap(), Err(SendError(2)));
    });
}

/// `blocking_send` on a plain thread against `recv` on a worker: the condvar wait
/// and the async receiver's waker both see every push and every pop.
#[test]
fn loom_mpsc_blocking_send_against_recv() {
    model(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let sender = thread::spawn(move || {
            tx.blocking_send(1).unwrap();
            tx.blocking_send(2).unwrap();
        });
        assert_eq!(block_on(rx.recv()), Some(1));
        assert_eq!(block_on(rx.recv()), Some(2));
        assert_eq!(block_on(rx.recv()), None);
        sender.join().unwrap();
    });
}

/// A `shared::Queue` of one slot, FIFO.
fn shared_queue() -> Arc<Mutex<QueueState<u32>>> {
    Arc::new(Mutex::new(QueueState::new(Some(1), Order::Fifo)))
}

/// `shared::Queue`: a producer puts twice into one slot while a consumer on another
/// thread gets twice and marks each done, and a third thread joins: items arrive in
/// order, and the joiner returns once both are done.
#[test]
fn loom_shared_queue_put_get_join() {
    model(|| {
        let q = shared_queue();
        let producer = {
            let q = q.clone();
            thread::spawn(move || {
                block_on(PutOp::new(&*q, 1)).unwrap();
                block_on(PutOp::new(&*q, 2)).unwrap();
            })
        };
        let consumer = {
            let q = q.clone();
            thread::spawn(move || {
                for want in 1..=2 {
                    assert_eq!(block_on(GetOp::new(&*q)).unwrap(), want);
                    q.with(|st| st.task_done()).unwrap().wake();
                }
            })
        };
        producer.join().unwrap();
        // `join` after both puts: it must wait for both `task_done`s.
        block_on(JoinOp::new(&*q));
        assert_eq!(q.with(|st| st.unfinished()), 0);
        consumer.join().unwrap();
        assert_eq!(q.with(|st| st.len()), 0);
    });
}

/// `shared::Queue`: of two getters on other threads, one is cancelled after one poll;
/// if the wake-up for the one item went to it, its drop passes it on, so the item is
/// taken by the other getter or was taken by the cancelled one's single poll.
#[test]
fn loom_shared_queue_cancelled_getter_passes_wake_on() {
    model(|| {
        let q = shared_queue();
        let cancelled = {
            let q = q.clone();
            thread::spawn(move || {
                let mut get = pin!(GetOp::new(&*q));
                block_on(poll_fn(|cx| Poll::Ready(get.as_mut().poll(cx))))
            })
        };
        let getter = {
            let q = q.clone();
            thread::spawn(move || block_on(GetOp::new(&*q)))
        };
        q.with(|st| st.try_put(7)).ok().unwrap().wake();
        match cancelled.join().unwrap() {
            // The cancelled getter took it in its one poll: the other one is woken
            // only by the shutdown.
            Poll::Ready(v) => {
                assert_eq!(v.unwrap(), 7);
                let (_, wakes) = q.with(|st| st.shutdown(false));
                wakes.wake();
                assert!(getter.join().unwrap().is_err());
            }
            Poll::Pending => assert_eq!(getter.join().unwrap().unwrap(), 7),
        }
    });
}
