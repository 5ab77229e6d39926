//! Queue, PriorityQueue and LifoQueue (ASYNCIO.md §4): every check on all three kinds
//! (bounded put blocking, join and task_done, both shutdowns, a dropped getter), the
//! take order of each kind, the `try_*` errors, and items never lost by a dropped get.
//! Paused clock; every run is bounded by a timeout, so a lost wake-up fails instead of
//! hanging.

mod support;

use ringio::runtime::Driver;
use ringio::sync::{
    LifoQueue, PriorityQueue, Queue, Shutdown, TaskDoneError, TryGetError, TryPutError,
};
use ringio::time::timeout;
use ringio::yield_now;
use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;
use support::{paused, Rng};

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

#[derive(Clone, Copy, Debug)]
enum Kind {
    Fifo,
    Priority,
    Lifo,
}

const KINDS: [Kind; 3] = [Kind::Fifo, Kind::Priority, Kind::Lifo];

/// One of the three queues, so each check runs on all of them.
enum AnyQueue<T: Ord> {
    Fifo(Queue<T>),
    Priority(PriorityQueue<T>),
    Lifo(LifoQueue<T>),
}

impl<T: Ord> AnyQueue<T> {
    fn new(kind: Kind, capacity: Option<usize>) -> AnyQueue<T> {
        match (kind, capacity) {
            (Kind::Fifo, Some(n)) => AnyQueue::Fifo(Queue::bounded(n)),
            (Kind::Fifo, None) => AnyQueue::Fifo(Queue::unbounded()),
            (Kind::Priority, Some(n)) => AnyQueue::Priority(PriorityQueue::bounded(n)),
            (Kind::Priority, None) => AnyQueue::Priority(PriorityQueue::unbounded()),
            (Kind::Lifo, Some(n)) => AnyQueue::Lifo(LifoQueue::bounded(n)),
            (Kind::Lifo, None) => AnyQueue::Lifo(LifoQueue::unbounded()),
        }
    }

    async fn put(&self, v: T) -> Result<(), Shutdown<T>> {
        match self {
            AnyQueue::Fifo(q) => q.put(v).await,
            AnyQueue::Priority(q) => q.put(v).await,
            AnyQueue::Lifo(q) => q.put(v).await,
        }
    }

    async fn get(&self) -> Result<T, Shutdown> {
        match self {
            AnyQueue::Fifo(q) => q.get().await,
            AnyQueue::Priority(q) => q.get().await,
            AnyQueue::Lifo(q) => q.get().await,
        }
    }

    async fn join(&self) {
        match self {
            AnyQueue::Fifo(q) => q.join().await,
            AnyQueue::Priority(q) => q.join().await,
            AnyQueue::Lifo(q) => q.join().await,
        }
    }

    fn try_put(&self, v: T) -> Result<(), TryPutError<T>> {
        match self {
            AnyQueue::Fifo(q) => q.try_put(v),
            AnyQueue::Priority(q) => q.try_put(v),
            AnyQueue::Lifo(q) => q.try_put(v),
        }
    }

    fn try_get(&self) -> Result<T, TryGetError> {
        match self {
            AnyQueue::Fifo(q) => q.try_get(),
            AnyQueue::Priority(q) => q.try_get(),
            AnyQueue::Lifo(q) => q.try_get(),
        }
    }

    fn task_done(&self) -> Result<(), TaskDoneError> {
        match self {
            AnyQueue::Fifo(q) => q.task_done(),
            AnyQueue::Priority(q) => q.task_done(),
            AnyQueue::Lifo(q) => q.task_done(),
        }
    }

    fn shutdown(&self, immediate: bool) {
        match self {
            AnyQueue::Fifo(q) => q.shutdown(immediate),
            AnyQueue::Priority(q) => q.shutdown(immediate),
            AnyQueue::Lifo(q) => q.shutdown(immediate),
        }
    }

    fn len(&self) -> usize {
        match self {
            AnyQueue::Fifo(q) => q.len(),
            AnyQueue::Priority(q) => q.len(),
            AnyQueue::Lifo(q) => q.len(),
        }
    }

    fn unfinished(&self) -> usize {
        match self {
            AnyQueue::Fifo(q) => q.unfinished(),
            AnyQueue::Priority(q) => q.unfinished(),
            AnyQueue::Lifo(q) => q.unfinished(),
        }
    }
}

/// The order in which `kind` gives back items put in the order `put`.
fn take_order(kind: Kind, put: &[u32]) -> Vec<u32> {
    let mut v = put.to_vec();
    match kind {
        Kind::Fifo => {}
        Kind::Priority => v.sort_unstable(),
        Kind::Lifo => v.reverse(),
    }
    v
}

fn spawn_get(q: &Rc<AnyQueue<u32>>) -> ringio::JoinHandle<Result<u32, Shutdown>> {
    let q = q.clone();
    ringio::spawn(async move { q.get().await })
}

fn spawn_put(q: &Rc<AnyQueue<u32>>, v: u32) -> ringio::JoinHandle<Result<(), Shutdown<u32>>> {
    let q = q.clone();
    ringio::spawn(async move { q.put(v).await })
}

/// §4 check 1: with `bounded(1)`, a second `put` blocks until a `get`.
fn bounded_put_blocks_until_get(d: Driver) {
    run(d, async {
        for kind in KINDS {
            let q = Rc::new(AnyQueue::new(kind, Some(1)));
            q.put(1).await.unwrap();
            let second = spawn_put(&q, 2);
            settle().await;
            assert!(!second.is_finished(), "{kind:?}: the second put waits");
            assert_eq!(q.len(), 1);
            assert!(matches!(q.try_put(3), Err(TryPutError::Full(3))));
            assert_eq!(q.get().await, Ok(1));
            second.await.unwrap().unwrap();
            assert_eq!(q.get().await, Ok(2));
        }
        // The capacity is reported; unbounded never fills.
        let q: Queue<u8> = Queue::bounded(3);
        assert_eq!(q.capacity(), Some(3));
        let u: Queue<u32> = Queue::unbounded();
        for i in 0..10_000 {
            u.try_put(i).unwrap();
        }
        assert!(!u.is_full());
        assert_eq!((u.len(), u.capacity()), (10_000, None));
    });
}

/// §4 check 2: `join` finishes only after one `task_done` per `put`; an extra
/// `task_done` is an error.
fn join_waits_for_every_task_done(d: Driver) {
    run(d, async {
        for kind in KINDS {
            let q = Rc::new(AnyQueue::new(kind, None));
            q.join().await; // nothing put: at once
            for i in 0..3 {
                q.put(i).await.unwrap();
            }
            let joined = Rc::new(Cell::new(false));
            let joiner = {
                let (q, joined) = (q.clone(), joined.clone());
                ringio::spawn(async move {
                    q.join().await;
                    joined.set(true);
                })
            };
            for _ in 0..3 {
                q.get().await.unwrap();
            }
            settle().await;
            assert!(!joined.get(), "{kind:?}: taken but not done");
            q.task_done().unwrap();
            q.task_done().unwrap();
            settle().await;
            assert!(!joined.get(), "{kind:?}: two of three done");
            assert_eq!(q.unfinished(), 1);
            q.task_done().unwrap();
            joiner.await.unwrap();
            let err = q.task_done().unwrap_err();
            assert_eq!(
                err.to_string(),
                "task_done called more times than items were put"
            );
        }
    });
}

/// §4 check 3: `shutdown(false)` with two items: two gets succeed, the third fails,
/// and a blocked put gets its item back; later puts fail with their item too.
fn shutdown_drains_then_fails(d: Driver) {
    run(d, async {
        for kind in KINDS {
            let q = Rc::new(AnyQueue::new(kind, Some(2)));
            q.put(5).await.unwrap();
            q.put(4).await.unwrap();
            let blocked = spawn_put(&q, 9);
            settle().await;
            assert!(!blocked.is_finished());
            q.shutdown(false);
            assert_eq!(blocked.await.unwrap(), Err(Shutdown(9)), "{kind:?}");
            let Err(Shutdown(back)) = q.put(10).await else {
                panic!("{kind:?}: put after shutdown")
            };
            assert_eq!(back, 10);
            assert!(matches!(q.try_put(11), Err(TryPutError::Shutdown(11))));
            let expect = take_order(kind, &[5, 4]);
            assert_eq!(q.get().await, Ok(expect[0]));
            assert_eq!(q.get().await, Ok(expect[1]));
            assert_eq!(q.get().await, Err(Shutdown(())));
            assert_eq!(q.try_get(), Err(TryGetError::Shutdown));
        }
    });
}

/// Counts its drops, to see items discarded by `shutdown(true)`.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Tracked(u32, #[allow(dead_code)] DropCount);

#[derive(Clone, Default)]
struct DropCount(Rc<Cell<u32>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

impl PartialEq for DropCount {
    fn eq(&self, _: &DropCount) -> bool {
        true
    }
}
impl Eq for DropCount {}
impl PartialOrd for DropCount {
    fn partial_cmp(&self, o: &DropCount) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for DropCount {
    fn cmp(&self, _: &DropCount) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

/// §4 check 4: `shutdown(true)` discards the items (counting them done, which releases
/// `join`), and blocked gets fail.
fn immediate_shutdown_releases_join_and_getters(d: Driver) {
    run(d, async {
        for kind in KINDS {
            let drops = DropCount::default();
            let q = Rc::new(AnyQueue::new(kind, None));
            for i in 0..3 {
                q.put(Tracked(i, drops.clone())).await.unwrap();
            }
            let joiner = {
                let q = q.clone();
                ringio::spawn(async move { q.join().await })
            };
            settle().await;
            assert!(!joiner.is_finished());
            let before = drops.0.get();
            q.shutdown(true);
            assert_eq!(
                drops.0.get() - before,
                3,
                "{kind:?}: the items were dropped"
            );
            joiner.await.unwrap();
            assert_eq!(q.len(), 0);
            assert!(q.get().await.is_err());

            // Blocked getters fail at once.
            let q = Rc::new(AnyQueue::new(kind, Some(4)));
            let getters: Vec<_> = (0..2).map(|_| spawn_get(&q)).collect();
            settle().await;
            q.shutdown(true);
            for g in getters {
                assert_eq!(g.await.unwrap(), Err(Shutdown(())));
            }
            // A join on items taken but never marked done is not released by it.
            let q = Rc::new(AnyQueue::new(kind, None));
            q.put(1).await.unwrap();
            q.get().await.unwrap();
            q.shutdown(true);
            assert!(timeout(Duration::from_secs(1), q.join()).await.is_err());
            q.task_done().unwrap();
            q.join().await;
        }
    });
}

/// §4 check 5: with two blocked getters, dropping one and then putting an item
/// delivers it to the other; also when the dropped one had already been woken for it.
fn dropped_getter_lets_the_other_have_the_item(d: Driver) {
    run(d, async {
        for kind in KINDS {
            // Dropped while waiting.
            let q = Rc::new(AnyQueue::new(kind, None));
            let first = spawn_get(&q);
            settle().await;
            let second = spawn_get(&q);
            settle().await;
            assert!(first.abort());
            settle().await;
            q.put(7).await.unwrap();
            assert_eq!(second.await.unwrap(), Ok(7), "{kind:?}");
            assert!(first.await.unwrap_err().is_cancelled());

            // Woken for the item, then dropped before it ran: the item stays queued
            // and the wake-up passes to the other getter.
            let first = spawn_get(&q);
            settle().await;
            let second = spawn_get(&q);
            settle().await;
            q.try_put(8).unwrap(); // wakes the first getter
            assert!(first.abort());
            assert_eq!(
                q.len(),
                1,
                "the item leaves only with the poll returning it"
            );
            assert_eq!(second.await.unwrap(), Ok(8), "{kind:?}");
            assert_eq!(q.len(), 0);
        }
    });
}

/// Each kind takes items in its own order, for random inputs; try_* errors.
fn take_order_and_try_errors(d: Driver) {
    run(d, async {
        let mut rng = Rng::new(7);
        for kind in KINDS {
            let q = AnyQueue::new(kind, None);
            assert_eq!(q.try_get(), Err(TryGetError::Empty));
            let put: Vec<u32> = (0..500).map(|_| rng.below(100) as u32).collect();
            for &v in &put {
                q.try_put(v).unwrap();
            }
            let mut got = Vec::new();
            while let Ok(v) = q.try_get() {
                got.push(v);
            }
            assert_eq!(got, take_order(kind, &put), "{kind:?}");
            // Interleaved puts and gets on a priority queue still take the least.
            if let Kind::Priority = kind {
                let mut model = std::collections::BinaryHeap::new();
                for _ in 0..2000 {
                    if rng.below(3) > 0 {
                        let v = rng.below(1000) as u32;
                        q.put(v).await.unwrap();
                        model.push(std::cmp::Reverse(v));
                    } else {
                        let want = model.pop().map(|r| r.0);
                        assert_eq!(q.try_get().ok(), want);
                    }
                }
            }
        }
        let e = TryPutError::Full(3u8);
        assert!(e.is_full());
        assert_eq!(e.to_string(), "the queue is full");
        assert_eq!(e.into_inner(), 3);
        assert_eq!(TryGetError::Empty.to_string(), "the queue is empty");
        assert_eq!(Shutdown(()).to_string(), "the queue is shut down");
    });
}

/// Put and get waiters in bulk: items flow through a small queue between many
/// producers and consumers, each item exactly once, the putters waking in turn.
fn many_producers_and_consumers(d: Driver) {
    run(d, async {
        for kind in KINDS {
            let q = Rc::new(AnyQueue::new(kind, Some(3)));
            let producers: Vec<_> = (0..8u32)
                .map(|p| {
                    let q = q.clone();
                    ringio::spawn(async move {
                        for i in 0..100 {
                            q.put(p * 1000 + i).await.unwrap();
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..5)
                .map(|_| {
                    let q = q.clone();
                    ringio::spawn(async move {
                        let mut got = Vec::new();
                        while let Ok(v) = q.get().await {
                            got.push(v);
                            q.task_done().unwrap();
                        }
                        got
                    })
                })
                .collect();
            for p in producers {
                p.await.unwrap();
            }
            q.join().await;
            q.shutdown(false);
            let mut all = Vec::new();
            for c in consumers {
                all.extend(c.await.unwrap());
            }
            all.sort_unstable();
            let mut want: Vec<u32> = (0..8)
                .flat_map(|p| (0..100).map(move |i| p * 1000 + i))
                .collect();
            want.sort_unstable();
            assert_eq!(all, want, "{kind:?}");
        }
    });
}

both_drivers!(
    bounded_put_blocks_until_get,
    join_waits_for_every_task_done,
    shutdown_drains_then_fails,
    immediate_shutdown_releases_join_and_getters,
    dropped_getter_lets_the_other_have_the_item,
    take_order_and_try_errors,
    many_producers_and_consumers,
);
