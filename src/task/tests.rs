//! The raw task cell's state transitions (`raw.rs`), each on both drivers. These run
//! under valgrind memcheck too (`ci/memcheck.sh`), which is what checks that no
//! transition touches a freed block.

use super::raw::{RawTask, COMPLETE, SCHEDULED};
use super::JoinError;
use crate::runtime::{Builder, Driver, Runtime};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

fn runtimes() -> Vec<Runtime> {
    [Driver::Uring, Driver::Epoll]
        .into_iter()
        .map(|d| Builder::new().driver(d).start_paused(true).build().unwrap())
        .collect()
}

/// Sets its flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Polls `n` times, waking itself `wakes` times during each poll before the last.
struct SelfWaking {
    polls: Rc<Cell<u32>>,
    n: u32,
    wakes: u32,
}

impl Future for SelfWaking {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        self.polls.set(self.polls.get() + 1);
        if self.polls.get() >= self.n {
            return Poll::Ready(self.polls.get());
        }
        for _ in 0..self.wakes {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

#[test]
fn wake_while_running_polls_once_more() {
    for rt in runtimes() {
        rt.block_on(async {
            let polls = Rc::new(Cell::new(0));
            // Three wakes during each poll queue the task once: one more poll each.
            let h = crate::spawn(SelfWaking {
                polls: polls.clone(),
                n: 4,
                wakes: 3,
            });
            assert_eq!(h.await.unwrap(), 4);
            assert_eq!(polls.get(), 4);
        });
    }
}

#[test]
fn wake_after_complete_does_nothing() {
    for rt in runtimes() {
        rt.block_on(async {
            let kept: Rc<Cell<Option<Waker>>> = Rc::new(Cell::new(None));
            let (k, dropped) = (kept.clone(), Rc::new(Cell::new(false)));
            let flag = DropFlag(dropped.clone());
            let polls = Rc::new(Cell::new(0u32));
            let p = polls.clone();
            let h = crate::spawn(std::future::poll_fn(move |cx| {
                let _f = &flag;
                p.set(p.get() + 1);
                k.set(Some(cx.waker().clone()));
                Poll::Ready(7)
            }));
            assert_eq!(h.await.unwrap(), 7);
            assert!(dropped.get(), "the future is dropped at completion");
            let waker = kept.take().unwrap();
            waker.wake_by_ref();
            let second = waker.clone();
            second.wake(); // by value: takes the clone's reference with it
            crate::yield_now().await;
            assert_eq!(polls.get(), 1, "a complete task is never polled again");
            drop(waker); // the last reference frees the block
        });
    }
}

#[test]
fn detached_output_is_dropped_at_completion() {
    for rt in runtimes() {
        rt.block_on(async {
            let dropped = Rc::new(Cell::new(false));
            let d = dropped.clone();
            let h = crate::spawn(async move {
                crate::time::sleep(std::time::Duration::from_secs(1)).await;
                DropFlag(d)
            });
            drop(h);
            crate::time::sleep(std::time::Duration::from_millis(500)).await;
            assert!(!dropped.get());
            crate::time::sleep(std::time::Duration::from_secs(1)).await;
            assert!(dropped.get(), "nobody can take it: dropped when produced");
        });
    }
}

#[test]
fn abort_while_scheduled_never_polls() {
    for rt in runtimes() {
        rt.block_on(async {
            let (polled, dropped) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
            let (p, flag) = (polled.clone(), DropFlag(dropped.clone()));
            let h = crate::spawn(async move {
                let _f = flag;
                p.set(true);
            });
            // Queued, not yet run.
            assert!(h.abort());
            assert!(
                h.abort(),
                "a second abort of an unfinished task is still true"
            );
            let err = h.await.unwrap_err();
            assert!(err.is_cancelled());
            assert!(!polled.get(), "aborted before its first poll");
            assert!(dropped.get());
        });
    }
}

#[test]
fn abort_after_complete_is_false_and_keeps_the_output() {
    for rt in runtimes() {
        rt.block_on(async {
            let mut h = crate::spawn(async { 5 });
            crate::yield_now().await;
            assert!(h.is_finished());
            assert!(!h.abort());
            assert_eq!(h.try_join().unwrap().unwrap(), 5);
            assert!(h.try_join().is_none(), "taken once");
        });
    }
}

#[test]
fn panic_in_poll_is_a_join_error_and_the_worker_goes_on() {
    for rt in runtimes() {
        rt.block_on(async {
            let h = crate::spawn(async {
                crate::yield_now().await;
                panic!("boom");
            });
            let other = crate::spawn(async { 1 });
            let err: JoinError = h.await.unwrap_err();
            assert!(err.is_panic());
            assert_eq!(other.await.unwrap(), 1);
        });
    }
}

/// An output whose drop panics.
struct PanicsOnDrop(Arc<AtomicUsize>);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("panic in the output's drop");
    }
}

#[test]
fn panic_in_drop_of_the_output_is_contained() {
    for rt in runtimes() {
        let drops = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            // Dropped by the handle, after completion.
            let d = drops.clone();
            let h = crate::spawn(async move { PanicsOnDrop(d) });
            crate::yield_now().await;
            assert!(h.is_finished());
            drop(h);
            // Dropped at completion, detached.
            let d = drops.clone();
            drop(crate::spawn(async move { PanicsOnDrop(d) }));
            crate::yield_now().await;
            crate::yield_now().await;
            assert_eq!(
                crate::spawn(async { 3 }).await.unwrap(),
                3,
                "the worker goes on"
            );
        });
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }
}

#[test]
#[allow(clippy::async_yields_async)] // the handle is meant to outlive the runtime
fn wakers_outliving_their_runtime_are_harmless() {
    for rt in runtimes() {
        let kept: Arc<Mutex<Vec<Waker>>> = Arc::default();
        let k = kept.clone();
        let h = rt.block_on(async move {
            // One task finished, one still waiting when the runtime goes.
            let k2 = k.clone();
            crate::spawn(std::future::poll_fn(move |cx| {
                k2.lock().unwrap().push(cx.waker().clone());
                Poll::Ready(())
            }))
            .await
            .unwrap();
            let waiting = crate::spawn(std::future::poll_fn(move |cx| {
                k.lock().unwrap().push(cx.waker().clone());
                Poll::<()>::Pending
            }));
            crate::yield_now().await;
            waiting
        });
        drop(rt);
        let wakers = std::mem::take(&mut *kept.lock().unwrap());
        assert_eq!(wakers.len(), 2);
        // The handle outlives the runtime too: its task was cancelled at shutdown.
        assert!(h.is_finished());
        // Woken here (no runtime) and on another thread, then dropped there.
        for w in &wakers {
            w.wake_by_ref();
        }
        std::thread::spawn(move || {
            for w in wakers {
                w.wake_by_ref();
                w.wake();
            }
        })
        .join()
        .unwrap();
        let mut h = h;
        assert!(h.try_join().unwrap().unwrap_err().is_cancelled());
    }
}

#[test]
fn foreign_wakes_racing_completion() {
    for rt in runtimes() {
        rt.block_on(async {
            for round in 0..200u32 {
                let stop = Arc::new(AtomicBool::new(false));
                let (tx, rx) = std::sync::mpsc::channel::<Waker>();
                let s = stop.clone();
                let waker_thread = std::thread::spawn(move || {
                    let waker = rx.recv().unwrap();
                    let mut n = 0u32;
                    // Bounded: the task finishes after a few polls whatever happens.
                    while !s.load(Ordering::Acquire) && n < 2_000 {
                        waker.wake_by_ref();
                        n += 1;
                    }
                    waker.wake();
                });
                let polls = Rc::new(Cell::new(0u32));
                let p = polls.clone();
                let mut tx = Some(tx);
                let h = crate::spawn(std::future::poll_fn(move |cx| {
                    p.set(p.get() + 1);
                    if let Some(tx) = tx.take() {
                        tx.send(cx.waker().clone()).unwrap();
                    }
                    if p.get() > 1 + round % 3 {
                        Poll::Ready(round)
                    } else {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                }));
                assert_eq!(h.await.unwrap(), round);
                stop.store(true, Ordering::Release);
                // Joined in place: the thread ends within its bound whatever the worker
                // does (and under valgrind a pool thread might not get to run).
                waker_thread.join().unwrap();
            }
        });
    }
}

#[test]
fn state_bits_follow_the_table() {
    for rt in runtimes() {
        rt.block_on(async {
            let mut h = crate::spawn(async {
                crate::time::sleep(std::time::Duration::from_secs(1)).await;
                1
            });
            let task: RawTask = h.raw();
            assert!(task.is(SCHEDULED) && !task.is(COMPLETE), "queued at spawn");
            crate::yield_now().await; // it ran and waits for its timer
            assert!(!task.is(SCHEDULED) && !task.is(COMPLETE));
            crate::time::sleep(std::time::Duration::from_secs(2)).await;
            assert!(task.is(COMPLETE) && !task.is(SCHEDULED));
            assert_eq!(h.try_join().unwrap().unwrap(), 1);
        });
    }
}

#[test]
#[allow(clippy::async_yields_async)] // the handles are meant to outlive the runtime
fn shutdown_cancels_queued_and_waiting_tasks_and_joins_see_it() {
    for rt in runtimes() {
        let (queued, waiting) = rt.block_on(async {
            let queued = crate::spawn(async { 1 });
            let waiting = crate::spawn(std::future::pending::<u32>());
            (queued, waiting)
        });
        // `queued` may or may not have run before block_on returned.
        drop(rt);
        let (mut queued, mut waiting) = (queued, waiting);
        let q = queued.try_join().expect("finished at shutdown");
        assert!(q.is_ok() || q.unwrap_err().is_cancelled());
        assert!(waiting.try_join().unwrap().unwrap_err().is_cancelled());
    }
}

/// Every idle connection's task carries a header: keep it small. 88 bytes: the
/// reference count, vtable, home, run-queue link, join waker, id, spawn location and
/// poll count, with the state byte and the 32-bit task-list key sharing a word, and the
/// rarely used name and debug poll time behind one pointer.
#[test]
fn header_stays_small() {
    assert_eq!(std::mem::size_of::<super::raw::Header>(), 88);
}
