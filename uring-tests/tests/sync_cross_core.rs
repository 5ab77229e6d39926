//! The cross-core forms (ASYNCIO.md §10): `shared::{Queue, Event, Semaphore, oneshot}`
//! on a two-worker runtime. Each waiter sits on worker 1 with no timer pending, so only
//! the wake can free it once the worker sleeps in its ring; it is woken from worker 0
//! and from a plain thread. Also the queue's shutdown semantics across threads, and
//! many producers and consumers with random drops of waiting gets, each item exactly
//! once.
//!
//! A short real-time pause (`let_worker_1_sleep`) gives worker 1 the chance to go to
//! sleep before the wake; it makes the tests harder, never decides their outcome.
//! Every wait is bounded, so a lost wake fails the test instead of hanging it.

mod support;

use ringio::runtime::{Driver, Handle};
use ringio::sync::shared::{oneshot, Event, Queue, Semaphore};
use ringio::sync::{Shutdown, TryGetError};
use ringio::time::timeout;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;
use support::{workers, Rng};

/// How long a cross-core wait may take before the test calls the wake lost.
const LIMIT: Duration = Duration::from_secs(20);

/// Long enough for worker 1 to finish its turn and sleep in its ring.
fn let_worker_1_sleep() {
    std::thread::sleep(Duration::from_millis(20));
}

/// Spawns `make()`'s future on worker 1 and waits (from this plain thread) until it
/// has started, so the caller knows it is about to wait.
fn on_worker_1<F, Fut>(rt: &ringio::Runtime, make: F) -> ringio::task::RemoteJoinHandle<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let h = rt
        .handle()
        .spawn_local_on(1, move || {
            s.store(true, Ordering::SeqCst);
            assert_eq!(Handle::current_worker(), Some(1));
            make()
        })
        .unwrap();
    while !started.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    h
}

/// Joins a worker-1 task from this thread, failing if it does not finish in time.
fn join<T>(h: ringio::task::RemoteJoinHandle<T>) -> T {
    match h.join_timeout(LIMIT) {
        Ok(r) => r.unwrap(),
        Err(_) => panic!("the waiter on worker 1 was never woken"),
    }
}

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}

/// The cross-core types and their futures cross threads.
fn shared_types_are_send_and_sync(_d: Driver) {
    assert_send_sync::<Queue<u32>>();
    assert_send_sync::<Event>();
    assert_send_sync::<Semaphore>();
    assert_send_sync::<ringio::sync::shared::SemaphorePermit<'static>>();
    assert_send::<ringio::sync::shared::Put<'static, u32>>();
    assert_send::<ringio::sync::shared::Get<'static, u32>>();
    assert_send::<ringio::sync::shared::QueueJoin<'static, u32>>();
    assert_send::<ringio::sync::shared::EventWait<'static>>();
    assert_send::<ringio::sync::shared::Acquire<'static>>();
    assert_send::<oneshot::Sender<u32>>();
    assert_send::<oneshot::Receiver<u32>>();
}

/// A get on sleeping worker 1 is woken by a put from worker 0 (inside `block_on`), and
/// by a put from a plain thread.
fn queue_wakes_a_sleeping_worker(d: Driver) {
    let rt = workers(d, 2);
    let q = Arc::new(Queue::<u32>::bounded(1));
    // From worker 0.
    let getter = {
        let q = q.clone();
        on_worker_1(&rt, move || async move { q.get().await })
    };
    rt.block_on(async {
        let_worker_1_sleep();
        q.put(1).await.unwrap();
        let got = timeout(LIMIT, getter).await.expect("lost wake").unwrap();
        assert_eq!(got, Ok(1));
    });
    // From a plain thread, with try_put and with blocking_put.
    for blocking in [false, true] {
        let getter = {
            let q = q.clone();
            on_worker_1(&rt, move || async move { q.get().await })
        };
        let q2 = q.clone();
        std::thread::spawn(move || {
            let_worker_1_sleep();
            if blocking {
                q2.blocking_put(2).unwrap();
            } else {
                q2.try_put(2).unwrap();
            }
        })
        .join()
        .unwrap();
        assert_eq!(join(getter), Ok(2));
    }
    // A put blocked on a full queue on worker 1 is woken by a get from a thread.
    q.try_put(3).unwrap();
    let putter = {
        let q = q.clone();
        on_worker_1(&rt, move || async move { q.put(4).await })
    };
    let_worker_1_sleep();
    assert_eq!(q.blocking_get(), Ok(3));
    join(putter).unwrap();
    assert_eq!(q.try_get(), Ok(4));
}

/// An event wait on sleeping worker 1 is released by `set` from worker 0 and from a
/// plain thread, even with a `clear` right after.
fn event_wakes_a_sleeping_worker(d: Driver) {
    let rt = workers(d, 2);
    let ev = Arc::new(Event::new());
    let waiter = {
        let ev = ev.clone();
        on_worker_1(&rt, move || async move { ev.wait().await })
    };
    rt.block_on(async {
        let_worker_1_sleep();
        ev.set();
        ev.clear();
        timeout(LIMIT, waiter).await.expect("lost wake").unwrap();
    });
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let ev = ev.clone();
            on_worker_1(&rt, move || async move { ev.wait().await })
        })
        .collect();
    let ev2 = ev.clone();
    std::thread::spawn(move || {
        let_worker_1_sleep();
        ev2.set();
    })
    .join()
    .unwrap();
    for w in waiters {
        join(w);
    }
    // A plain thread can wait too.
    ev.clear();
    let ev2 = ev.clone();
    let t = std::thread::spawn(move || ev2.blocking_wait());
    rt.block_on(async {
        ringio::time::sleep(Duration::from_millis(5)).await;
        ev.set();
    });
    t.join().unwrap();
}

/// An acquire on sleeping worker 1 is granted by a permit dropped on worker 0 and by
/// `add_permits` from a plain thread; FIFO holds across threads.
fn semaphore_wakes_a_sleeping_worker(d: Driver) {
    let rt = workers(d, 2);
    let sem = Arc::new(Semaphore::new(1));
    rt.block_on(async {
        let held = sem.acquire().await;
        let waiter = {
            let sem = sem.clone();
            on_worker_1_in_block_on(move || async move { sem.acquire().await.permits() })
        };
        ringio::time::sleep(Duration::from_millis(20)).await;
        assert!(sem.is_locked());
        drop(held);
        assert_eq!(timeout(LIMIT, waiter).await.expect("lost wake").unwrap(), 1);
    });
    assert_eq!(sem.available_permits(), 1);
    let held = sem.try_acquire().unwrap();
    let waiter = {
        let sem = sem.clone();
        on_worker_1(
            &rt,
            move || async move { sem.acquire_many(2).await.permits() },
        )
    };
    let sem2 = sem.clone();
    std::thread::spawn(move || {
        let_worker_1_sleep();
        sem2.add_permits(1);
    })
    .join()
    .unwrap();
    // One free permit, but the waiter wants two: it still waits, and try_acquire may
    // not take the free one ahead of it.
    assert!(sem.try_acquire().is_none());
    drop(held);
    assert_eq!(join(waiter), 2);
    assert_eq!(sem.available_permits(), 2);
    let p = sem.blocking_acquire();
    assert_eq!(sem.available_permits(), 1);
    drop(p);
}

/// Spawns on worker 1 from inside `block_on` (worker 0) and waits until it started.
fn on_worker_1_in_block_on<F, Fut>(make: F) -> ringio::task::RemoteJoinHandle<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    Handle::current().spawn_local_on(1, make).unwrap()
}

/// A oneshot receive on sleeping worker 1 gets a value sent from worker 0 and from a
/// plain thread; a dropped sender fails it; a dropped receiver fails the send.
fn oneshot_wakes_a_sleeping_worker(d: Driver) {
    let rt = workers(d, 2);
    let (tx, rx) = oneshot::channel::<&'static str>();
    let waiter = on_worker_1(&rt, move || rx);
    rt.block_on(async {
        let_worker_1_sleep();
        tx.send("from worker 0").unwrap();
        let got = timeout(LIMIT, waiter).await.expect("lost wake").unwrap();
        assert_eq!(got, Ok("from worker 0"));
    });
    let (tx, rx) = oneshot::channel();
    let waiter = on_worker_1(&rt, move || rx);
    std::thread::spawn(move || {
        let_worker_1_sleep();
        tx.send("from a thread").unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(join(waiter), Ok("from a thread"));
    // The sender dropped unsent.
    let (tx, rx) = oneshot::channel::<u8>();
    let waiter = on_worker_1(&rt, move || rx);
    std::thread::spawn(move || {
        let_worker_1_sleep();
        drop(tx);
    });
    let err = join(waiter).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the oneshot sender was dropped without sending"
    );
    // The receiver dropped: the value comes back.
    let (tx, rx) = oneshot::channel::<u8>();
    assert!(!tx.is_closed());
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(7), Err(7));
    // try_recv and blocking_recv.
    let (tx, mut rx) = oneshot::channel::<u8>();
    assert_eq!(rx.try_recv(), Err(oneshot::TryRecvError::Empty));
    tx.send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(oneshot::TryRecvError::Closed));
    let (tx, rx) = oneshot::channel::<u8>();
    let t = std::thread::spawn(move || rx.blocking_recv());
    rt.block_on(async move {
        ringio::time::sleep(Duration::from_millis(5)).await;
        tx.send(9).unwrap();
    });
    assert_eq!(t.join().unwrap(), Ok(9));
}

/// The queue's shutdown semantics across threads: `shutdown(false)` from a thread
/// hands a put blocked on worker 1 its item back and lets gets drain, then fail;
/// `shutdown(true)` releases a join on worker 0 and fails gets blocked on worker 1.
fn queue_shutdown_across_threads(d: Driver) {
    let rt = workers(d, 2);
    let q = Arc::new(Queue::<u32>::bounded(2));
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let putter = {
        let q = q.clone();
        on_worker_1(&rt, move || async move { q.put(3).await })
    };
    let q2 = q.clone();
    std::thread::spawn(move || {
        let_worker_1_sleep();
        q2.shutdown(false);
    })
    .join()
    .unwrap();
    assert_eq!(join(putter), Err(Shutdown(3)));
    let drain = {
        let q = q.clone();
        on_worker_1(&rt, move || async move {
            let a = q.get().await;
            let b = q.get().await;
            let c = q.get().await;
            (a, b, c)
        })
    };
    assert_eq!(join(drain), (Ok(1), Ok(2), Err(Shutdown(()))));
    assert_eq!(q.try_get(), Err(TryGetError::Shutdown));

    let q = Arc::new(Queue::<u32>::unbounded());
    let getters: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            on_worker_1(&rt, move || async move { q.get().await })
        })
        .collect();
    rt.block_on(async {
        let_worker_1_sleep();
        // A join on worker 0, over two items nobody takes.
        let jq = Arc::new(Queue::<u32>::unbounded());
        jq.try_put(1).unwrap();
        jq.try_put(2).unwrap();
        let joiner = {
            let jq = jq.clone();
            ringio::spawn(async move { jq.join().await })
        };
        ringio::yield_now().await;
        assert!(!joiner.is_finished());
        let jq2 = jq.clone();
        std::thread::spawn(move || jq2.shutdown(true))
            .join()
            .unwrap();
        timeout(LIMIT, joiner)
            .await
            .expect("join not released")
            .unwrap();
        assert_eq!(jq.len(), 0);
        // The last thing `block_on` does: its wakes of worker 1 must still leave
        // (on io_uring, a MSG_RING queued here is flushed when `block_on` returns).
        q.shutdown(true);
    });
    for g in getters {
        assert_eq!(join(g), Err(Shutdown(())));
    }
}

/// Polls `fut` once: its output if ready, else drops it (a waiter that gives up).
async fn poll_once<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(v) => Poll::Ready(Some(v)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// Four plain threads and a task on worker 0 put 4,000 items through a small queue;
/// two consumers on worker 1 (some of whose gets are dropped right after they queue,
/// racing the puts) and a plain thread take them. Every item arrives exactly once.
fn queue_many_threads_exactly_once_with_dropped_gets(d: Driver) {
    for seed in [1u64, 2, 3] {
        let rt = workers(d, 2);
        let q = Arc::new(Queue::<u64>::bounded(4));
        let got = Arc::new(Mutex::new(Vec::new()));
        let dropped = Arc::new(AtomicUsize::new(0));
        let consumers: Vec<_> = (0..2u64)
            .map(|c| {
                let (q, got, dropped) = (q.clone(), got.clone(), dropped.clone());
                on_worker_1(&rt, move || async move {
                    let mut rng = Rng::new(seed * 100 + c);
                    loop {
                        let res = if rng.below(3) == 0 {
                            match poll_once(q.get()).await {
                                Some(r) => r,
                                None => {
                                    dropped.fetch_add(1, Ordering::Relaxed);
                                    ringio::yield_now().await;
                                    continue;
                                }
                            }
                        } else {
                            q.get().await
                        };
                        match res {
                            Ok(v) => got.lock().unwrap().push(v),
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        let thread_consumer = {
            let (q, got) = (q.clone(), got.clone());
            std::thread::spawn(move || {
                while let Ok(v) = q.blocking_get() {
                    got.lock().unwrap().push(v);
                }
            })
        };
        let producers: Vec<_> = (0..4u64)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..800 {
                        q.blocking_put(p * 10_000 + i).unwrap();
                    }
                })
            })
            .collect();
        rt.block_on(async {
            for i in 0..800 {
                q.put(90_000 + i).await.unwrap();
            }
        });
        for p in producers {
            p.join().unwrap();
        }
        q.shutdown(false);
        for c in consumers {
            join(c);
        }
        thread_consumer.join().unwrap();
        let mut all = std::mem::take(&mut *got.lock().unwrap());
        all.sort_unstable();
        let mut want: Vec<u64> = (0..4)
            .flat_map(|p| (0..800).map(move |i| p * 10_000 + i))
            .chain((0..800).map(|i| 90_000 + i))
            .collect();
        want.sort_unstable();
        assert_eq!(all.len(), want.len(), "seed {seed}");
        assert_eq!(all, want, "seed {seed}: every item exactly once");
    }
}

/// A blocking call on a worker thread panics instead of freezing the worker.
fn blocking_calls_refuse_worker_threads(d: Driver) {
    let rt = workers(d, 2);
    let q = Arc::new(Queue::<u8>::unbounded());
    let h = rt
        .handle()
        .spawn_on(1, async move { q.blocking_get() })
        .unwrap();
    let err = h.join().unwrap_err();
    assert!(err.is_panic(), "{err}");
    assert!(err.to_string().contains("worker thread"), "{err}");
}

both_drivers!(
    shared_types_are_send_and_sync,
    queue_wakes_a_sleeping_worker,
    event_wakes_a_sleeping_worker,
    semaphore_wakes_a_sleeping_worker,
    oneshot_wakes_a_sleeping_worker,
    queue_shutdown_across_threads,
    queue_many_threads_exactly_once_with_dropped_gets,
    blocking_calls_refuse_worker_threads,
);
