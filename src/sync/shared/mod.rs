//! The cross-core forms: `Send + Sync` primitives for tasks on different workers and
//! for plain threads.
//!
//! | type | per-core form |
//! |---|---|
//! | [`Queue`] (FIFO, bounded or unbounded, `task_done`/`join`, `shutdown`) | [`sync::Queue`](crate::sync::Queue) |
//! | [`Event`] | [`sync::Event`](crate::sync::Event) |
//! | [`Semaphore`] | [`sync::Semaphore`](crate::sync::Semaphore) |
//! | [`oneshot`] | none: on one worker, await a [`JoinHandle`](crate::JoinHandle) |
//!
//! [`sync::mpsc`](crate::sync::mpsc) is a cross-core channel too.
//!
//! Share them in an `Arc`; their futures are `Send` (for `Send` items), so they may
//! be awaited in tasks started with [`spawn_on`](crate::spawn_on). Each has
//! `blocking_*` forms for plain threads.
//!
//! # Implementation
//!
//! The per-core types' state machines (`state/`), each under a `std::sync::Mutex`
//! instead of a `RefCell`: the same queueing, FIFO grants and passing on of unused
//! grants. Waiters are stored as `Waker`s; a wake from another thread reaches a worker
//! asleep in its ring (MSG_RING or its eventfd), so nothing here knows about workers.
//! Wakers are woken after the mutex is released. A blocking caller runs the same
//! future on its own thread, parking between polls, so it queues and is granted like
//! any task.

mod event;
pub mod oneshot;
mod park;
mod queue;
mod semaphore;

pub use event::{Event, EventWait};
pub use queue::{Get, Put, Queue, QueueJoin};
pub use semaphore::{Acquire, Semaphore, SemaphorePermit};
