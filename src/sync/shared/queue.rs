//! [`Queue`]: a FIFO queue shared by workers and plain threads, with the per-core
//! queue's shutdown and `task_done`/`join` semantics.

use super::park::block_on;
use crate::sync::queue::error::{Shutdown, TaskDoneError, TryGetError, TryPutError};
use crate::sync::state::queue::{GetOp, JoinOp, Order, PutOp, QueueState};
use crate::sync::state::StateCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

/// asyncio's `Queue` across cores: `Send + Sync` (for `T: Send`), so share it in an
/// `Arc` between tasks on different workers and plain threads.
///
/// It behaves as the per-core [`sync::Queue`](crate::sync::Queue) (the same state
/// machine, under a mutex): FIFO, bounded or unbounded, `task_done`/`join`,
/// `shutdown(immediate)`, a failed put hands the item back, and an item leaves only in
/// the poll that returns it. A put or get on one worker wakes a task waiting on
/// another, even one asleep in its ring.
///
/// ```
/// use std::sync::Arc;
/// use ringio::sync::shared::Queue;
///
/// let rt = ringio::Builder::new().workers(2).build().unwrap();
/// let q = Arc::new(Queue::bounded(4));
/// let consumer = {
///     let q = q.clone();
///     rt.handle().spawn_on(1, async move {
///         let mut got = Vec::new();
///         while let Ok(v) = q.get().await {
///             got.push(v);
///         }
///         got
///     }).unwrap()
/// };
/// let producer = {
///     let q = q.clone();
///     std::thread::spawn(move || {
///         for i in 0..10 {
///             q.blocking_put(i).unwrap();
///         }
///     })
/// };
/// producer.join().unwrap();
/// q.shutdown(false); // the consumer drains the rest, then stops
/// assert_eq!(consumer.join().unwrap(), (0..10).collect::<Vec<_>>());
/// ```
pub struct Queue<T> {
    state: Mutex<QueueState<T>>,
}

impl<T> Queue<T> {
    /// A queue holding at most `capacity` items: `put` waits while it is full.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    pub fn bounded(capacity: usize) -> Queue<T> {
        Queue {
            state: Mutex::new(QueueState::new(Some(capacity), Order::Fifo)),
        }
    }

    /// A queue without limit: `put` never waits.
    pub fn unbounded() -> Queue<T> {
        Queue {
            state: Mutex::new(QueueState::new(None, Order::Fifo)),
        }
    }

    fn read<R>(&self, f: impl FnOnce(&QueueState<T>) -> R) -> R {
        f(&self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts `item`, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`Shutdown`] with the item, if the queue is shut down before or while this
    /// waits.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the item enters the queue only in the poll that returns `Ok`, so
    /// dropping the future drops the item unsent, and passes on a wake-up for room it
    /// was given and did not use.
    pub fn put(&self, item: T) -> Put<'_, T> {
        Put {
            op: PutOp::new(&self.state, item),
        }
    }

    /// Puts `item` if there is room now.
    ///
    /// # Errors
    ///
    /// [`TryPutError::Full`] or [`TryPutError::Shutdown`], with the item.
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        self.state.with(|st| st.try_put(item)).map(|w| w.wake())
    }

    /// Puts `item` from a plain thread, blocking it while the queue is full.
    ///
    /// # Errors
    ///
    /// As [`put`](Queue::put).
    ///
    /// # Panics
    ///
    /// On a ringio worker thread, whose whole loop it would block.
    #[track_caller]
    pub fn blocking_put(&self, item: T) -> Result<(), Shutdown<T>> {
        block_on("Queue::blocking_put", self.put(item))
    }

    /// Takes the oldest item, waiting while the queue is empty. After
    /// [`shutdown`](Queue::shutdown) it drains what is left, then fails.
    ///
    /// # Errors
    ///
    /// [`Shutdown`] once the queue is shut down and empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an item leaves the queue only in the poll that returns it; a
    /// wake-up it was given for an item and did not use goes to the next getter.
    pub fn get(&self) -> Get<'_, T> {
        Get {
            op: GetOp::new(&self.state),
        }
    }

    /// Takes the oldest item if there is one now.
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`], or [`TryGetError::Shutdown`] once shut down and empty.
    pub fn try_get(&self) -> Result<T, TryGetError> {
        self.state.with(|st| st.try_get()).map(|(item, w)| {
            w.wake();
            item
        })
    }

    /// Takes the oldest item from a plain thread, blocking it while the queue is empty.
    ///
    /// # Errors
    ///
    /// As [`get`](Queue::get).
    ///
    /// # Panics
    ///
    /// On a ringio worker thread, whose whole loop it would block.
    #[track_caller]
    pub fn blocking_get(&self) -> Result<T, Shutdown> {
        block_on("Queue::blocking_get", self.get())
    }

    /// Marks one item taken earlier as processed; see
    /// [`sync::Queue::task_done`](crate::sync::Queue::task_done).
    ///
    /// # Errors
    ///
    /// [`TaskDoneError`] if called more times than items were put.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        self.state.with(|st| st.task_done()).map(|w| w.wake())
    }

    /// Waits until every item put has been marked done.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping it only leaves the list of joiners.
    pub fn join(&self) -> QueueJoin<'_, T> {
        QueueJoin {
            op: JoinOp::new(&self.state),
        }
    }

    /// Shuts the queue down; as
    /// [`sync::Queue::shutdown`](crate::sync::Queue::shutdown). Waiters on any worker
    /// or thread are woken.
    pub fn shutdown(&self, immediate: bool) {
        let (discarded, wakes) = self.state.with(|st| st.shutdown(immediate));
        wakes.wake();
        drop(discarded);
    }

    /// Whether [`shutdown`](Queue::shutdown) was called.
    pub fn is_shutdown(&self) -> bool {
        self.read(QueueState::is_shutdown)
    }

    /// Items queued now.
    pub fn len(&self) -> usize {
        self.read(QueueState::len)
    }

    /// Whether no item is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue is at capacity.
    pub fn is_full(&self) -> bool {
        self.read(QueueState::is_full)
    }

    /// The most items it holds; `None` when unbounded.
    pub fn capacity(&self) -> Option<usize> {
        self.read(QueueState::capacity)
    }

    /// Items put and not yet marked done.
    pub fn unfinished(&self) -> usize {
        self.read(QueueState::unfinished)
    }
}

impl<T> Default for Queue<T> {
    /// An unbounded queue.
    fn default() -> Queue<T> {
        Queue::unbounded()
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.read(|st| {
            f.debug_struct("shared::Queue")
                .field("len", &st.len())
                .field("capacity", &st.capacity())
                .field("unfinished", &st.unfinished())
                .field("shutdown", &st.is_shutdown())
                .finish()
        })
    }
}

/// The future of [`Queue::put`]; `Send` when `T` is.
///
/// # Cancel safety
///
/// Cancel-safe: the item enters the queue only in the poll that returns `Ok`.
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T> {
    op: PutOp<'a, T, Mutex<QueueState<T>>>,
}

impl<T> Future for Put<'_, T> {
    type Output = Result<(), Shutdown<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().op).poll(cx)
    }
}

/// The future of [`Queue::get`]; `Send` when `T` is.
///
/// # Cancel safety
///
/// Cancel-safe: an item leaves the queue only in the poll that returns it.
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T> {
    op: GetOp<'a, T, Mutex<QueueState<T>>>,
}

impl<T> Future for Get<'_, T> {
    type Output = Result<T, Shutdown>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().op).poll(cx)
    }
}

/// The future of [`Queue::join`].
///
/// # Cancel safety
///
/// Cancel-safe: dropping it only leaves the list of joiners.
#[must_use = "futures do nothing unless awaited"]
pub struct QueueJoin<'a, T> {
    op: JoinOp<'a, T, Mutex<QueueState<T>>>,
}

impl<T> Future for QueueJoin<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().op).poll(cx)
    }
}

impl<T> fmt::Debug for Put<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Get<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for QueueJoin<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueJoin").finish_non_exhaustive()
    }
}
