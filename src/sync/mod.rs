//! Synchronisation between tasks and threads: asyncio's locks, events, conditions,
//! semaphores, barriers and queues.
//!
//! The types at this level are **per core**: they serve the tasks of one worker, like
//! asyncio's objects serve one loop. They are `!Send` and use no atomics (`RefCell`s
//! inside; share them with `Rc`), and none takes a timeout: wrap a wait in
//! [`time::timeout`](crate::time::timeout).
//!
//! | asyncio | ringio |
//! |---|---|
//! | `Lock` | [`Lock<T>`](Lock): `lock().await` gives a [`LockGuard`], `try_lock`, `is_locked` |
//! | `Event` | [`Event`]: `set`, `clear`, `is_set`, `wait().await` |
//! | `Condition` | [`Condition<T>`](Condition): `wait(guard).await`, `wait_while`, `notify(&guard, n)`, `notify_all(&guard)` |
//! | `Semaphore`, `BoundedSemaphore` | [`Semaphore`], [`BoundedSemaphore`]: `acquire().await` gives a [`SemaphorePermit`], `acquire_many`, `try_acquire`, `add_permits` |
//! | `Barrier` | [`Barrier`]: `wait().await` gives an index, `abort`, `reset`, `n_waiting`, `is_broken` |
//! | `Queue`, `PriorityQueue`, `LifoQueue` | [`Queue`], [`PriorityQueue`], [`LifoQueue`]: `put`, `get`, `try_put`, `try_get`, `task_done`, `join`, `shutdown(immediate)` |
//! | `QueueFull`, `QueueEmpty`, `QueueShutDown` | [`TryPutError::Full`], [`TryGetError::Empty`], [`Shutdown`] |
//!
//! Work that crosses workers or threads uses [`shared`] (a queue, an event, a
//! semaphore, a oneshot) or [`mpsc`] (a bounded multi-producer channel): `Send + Sync`
//! forms whose wakes reach a worker asleep in its ring. Handing a per-core type to
//! another thread is a compile error:
//!
//! ```compile_fail
//! let q = std::sync::Arc::new(ringio::sync::Queue::<u32>::unbounded());
//! std::thread::spawn(move || q.try_put(1)); // error: `Queue` cannot be shared
//! ```
//!
//! ```
//! let q = std::sync::Arc::new(ringio::sync::shared::Queue::<u32>::unbounded());
//! let q2 = q.clone();
//! std::thread::spawn(move || q2.try_put(1)).join().unwrap().unwrap();
//! assert_eq!(q.try_get(), Ok(1));
//! ```
//!
//! ```
//! use std::rc::Rc;
//! use ringio::sync::{Lock, Queue};
//!
//! ringio::run(async {
//!     let jobs = Rc::new(Queue::bounded(8));
//!     let total = Rc::new(Lock::new(0u64));
//!     let workers: Vec<_> = (0..3)
//!         .map(|_| {
//!             let (jobs, total) = (jobs.clone(), total.clone());
//!             ringio::spawn(async move {
//!                 while let Ok(n) = jobs.get().await {
//!                     *total.lock().await += n;
//!                     jobs.task_done().unwrap();
//!                 }
//!             })
//!         })
//!         .collect();
//!     for n in 1..=100 {
//!         jobs.put(n).await.unwrap();
//!     }
//!     jobs.join().await;
//!     jobs.shutdown(false);
//!     for w in workers {
//!         w.await.unwrap();
//!     }
//!     assert_eq!(*total.lock().await, 5050);
//! });
//! ```
//!
//! # Guarantees
//!
//! - **FIFO.** Waiters for a lock, permits, items or room are served in arrival order,
//!   and a newcomer does not take a lock or permit ahead of them.
//! - **No lost wake-ups.** A waiter dropped after it was granted a lock, permits, a
//!   notification or a wake-up for an item passes it to the next waiter.
//! - **Cancel safety.** Every future here documents it; an item leaves a queue only in
//!   the poll that returns it.
//!
//! # Implementation
//!
//! Every primitive is a state struct with a FIFO wait list (a slab of nodes linked by
//! index, no `unsafe`): `state/`. A per-core type holds it in a `RefCell`, a
//! [`shared`] one in a `Mutex`, and both run the same futures over it, so the
//! protocols are written once.

mod barrier;
mod condition;
mod event;
mod lock;
#[cfg(all(test, loom))]
mod loom_models;
pub mod mpsc;
mod queue;
mod semaphore;
pub mod shared;
mod state;

pub use barrier::{Barrier, BarrierWait, BrokenBarrier};
pub use condition::{Condition, ConditionWait};
pub use event::{Event, EventWait};
pub use lock::{Lock, LockFuture, LockGuard};
pub use queue::{
    Get, LifoQueue, PriorityQueue, Put, Queue, QueueJoin, Shutdown, TaskDoneError, TryGetError,
    TryPutError,
};
pub use semaphore::{Acquire, BoundedSemaphore, Overflow, Semaphore, SemaphorePermit};

/// Makes the per-core types `!Send`: they are meant for one worker's tasks, and the
/// compiler then points a cross-core use at [`shared`].
type NotSend = std::marker::PhantomData<std::rc::Rc<()>>;
