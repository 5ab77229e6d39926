//! [`Queue`], [`PriorityQueue`] and [`LifoQueue`]: asyncio's queues for the tasks of one
//! worker, bounded or unbounded, with `task_done`/`join` and `shutdown`.
//!
//! ```
//! use std::rc::Rc;
//! use ringio::sync::Queue;
//!
//! ringio::run(async {
//!     let q = Rc::new(Queue::bounded(2));
//!     let consumer = {
//!         let q = q.clone();
//!         ringio::spawn(async move {
//!             let mut sum = 0;
//!             while let Ok(v) = q.get().await {
//!                 sum += v;
//!                 q.task_done().unwrap();
//!             }
//!             sum // the queue was shut down and drained
//!         })
//!     };
//!     for i in 1..=10 {
//!         q.put(i).await.unwrap(); // waits while two are queued
//!     }
//!     q.join().await; // every item taken and marked done
//!     q.shutdown(false);
//!     assert_eq!(consumer.await.unwrap(), 55);
//! });
//! ```
//!
//! # Implementation
//!
//! The three types differ only in which item `get` takes, so they share one state
//! (`state/queue.rs`, also behind [`shared::Queue`](super::shared::Queue)) and one set
//! of futures, [`Put`], [`Get`] and [`QueueJoin`]; the methods are written once, by a
//! macro, for the three. The protocol's core rule: an item leaves the queue only in the
//! poll that returns it, and enters only in the poll that returns `Ok`.

pub(crate) mod error;

pub use error::{Shutdown, TaskDoneError, TryGetError, TryPutError};

use super::state::queue::{GetOp, JoinOp, Order, PutOp, QueueState};
use super::state::StateCell;
use super::NotSend;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// asyncio's `Queue`: first in, first out.
///
/// Not `Send`: it serves the tasks of one worker. Across workers use
/// [`shared::Queue`](super::shared::Queue).
///
/// ```
/// # ringio::run(async {
/// use ringio::sync::{Queue, TryPutError};
/// let q = Queue::bounded(1);
/// q.try_put('a').unwrap();
/// assert!(matches!(q.try_put('b'), Err(TryPutError::Full('b'))));
/// assert_eq!(q.get().await, Ok('a'));
/// # });
/// ```
pub struct Queue<T> {
    state: RefCell<QueueState<T>>,
    _not_send: NotSend,
}

impl<T> Queue<T> {
    /// A queue holding at most `capacity` items: `put` waits while it is full.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero; asyncio's `maxsize <= 0` is [`unbounded`](Queue::unbounded).
    pub fn bounded(capacity: usize) -> Queue<T> {
        Queue::with(Some(capacity), Order::Fifo)
    }

    /// A queue without limit: `put` never waits.
    pub fn unbounded() -> Queue<T> {
        Queue::with(None, Order::Fifo)
    }
}

impl<T> Default for Queue<T> {
    /// An unbounded queue.
    fn default() -> Queue<T> {
        Queue::unbounded()
    }
}

/// asyncio's `PriorityQueue`: [`get`](PriorityQueue::get) takes the least item first
/// (by `Ord`; equal items in no set order). Wrap items as `(priority, data)` tuples, or
/// use [`std::cmp::Reverse`] for the greatest first.
///
/// Not `Send`: it serves the tasks of one worker.
///
/// ```
/// # ringio::run(async {
/// let q = ringio::sync::PriorityQueue::unbounded();
/// for job in [(2, "write"), (0, "urgent"), (1, "read")] {
///     q.try_put(job).unwrap();
/// }
/// assert_eq!(q.get().await.unwrap(), (0, "urgent"));
/// assert_eq!(q.get().await.unwrap(), (1, "read"));
/// # });
/// ```
pub struct PriorityQueue<T> {
    state: RefCell<QueueState<T>>,
    _not_send: NotSend,
}

impl<T: Ord> PriorityQueue<T> {
    /// A priority queue holding at most `capacity` items.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    pub fn bounded(capacity: usize) -> PriorityQueue<T> {
        PriorityQueue::with(Some(capacity), Order::Priority(T::cmp))
    }

    /// A priority queue without limit.
    pub fn unbounded() -> PriorityQueue<T> {
        PriorityQueue::with(None, Order::Priority(T::cmp))
    }
}

impl<T: Ord> Default for PriorityQueue<T> {
    /// An unbounded priority queue.
    fn default() -> PriorityQueue<T> {
        PriorityQueue::unbounded()
    }
}

/// asyncio's `LifoQueue`: [`get`](LifoQueue::get) takes the newest item (a stack).
///
/// Not `Send`: it serves the tasks of one worker.
///
/// ```
/// # ringio::run(async {
/// let q = ringio::sync::LifoQueue::unbounded();
/// q.try_put(1).unwrap();
/// q.try_put(2).unwrap();
/// assert_eq!(q.get().await, Ok(2));
/// # });
/// ```
pub struct LifoQueue<T> {
    state: RefCell<QueueState<T>>,
    _not_send: NotSend,
}

impl<T> LifoQueue<T> {
    /// A LIFO queue holding at most `capacity` items.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    pub fn bounded(capacity: usize) -> LifoQueue<T> {
        LifoQueue::with(Some(capacity), Order::Lifo)
    }

    /// A LIFO queue without limit.
    pub fn unbounded() -> LifoQueue<T> {
        LifoQueue::with(None, Order::Lifo)
    }
}

impl<T> Default for LifoQueue<T> {
    /// An unbounded LIFO queue.
    fn default() -> LifoQueue<T> {
        LifoQueue::unbounded()
    }
}

/// The methods the three queues share.
macro_rules! queue_methods {
    ($name:ident) => {
        impl<T> $name<T> {
            fn with(capacity: Option<usize>, order: Order<T>) -> $name<T> {
                $name {
                    state: RefCell::new(QueueState::new(capacity, order)),
                    _not_send: NotSend::default(),
                }
            }

            /// Puts `item`, waiting while the queue is full.
            ///
            /// # Errors
            ///
            /// [`Shutdown`] with the item, if the queue is shut down before or while
            /// this waits.
            ///
            /// # Cancel safety
            ///
            /// Cancel-safe: the item enters the queue only in the poll that returns
            /// `Ok`, so dropping the future drops the item unsent, and passes on a
            /// wake-up for room it was given and did not use.
            pub fn put(&self, item: T) -> Put<'_, T> {
                Put {
                    op: PutOp::new(&self.state, item),
                }
            }

            /// Puts `item` if there is room now (asyncio's `put_nowait`).
            ///
            /// # Errors
            ///
            /// [`TryPutError::Full`] or [`TryPutError::Shutdown`], with the item.
            pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
                self.state.with(|st| st.try_put(item)).map(|w| w.wake())
            }

            /// Takes the next item, waiting while the queue is empty. After
            /// [`shutdown`](Self::shutdown) it drains what is left, then fails.
            ///
            /// # Errors
            ///
            /// [`Shutdown`] once the queue is shut down and empty.
            ///
            /// # Cancel safety
            ///
            /// Cancel-safe: an item leaves the queue only in the poll that returns it,
            /// so dropping the future loses nothing; a wake-up it was given for an item
            /// and did not use goes to the next getter.
            pub fn get(&self) -> Get<'_, T> {
                Get {
                    op: GetOp::new(&self.state),
                }
            }

            /// Takes the next item if there is one now (asyncio's `get_nowait`).
            ///
            /// # Errors
            ///
            /// [`TryGetError::Empty`], or [`TryGetError::Shutdown`] once shut down and
            /// empty.
            pub fn try_get(&self) -> Result<T, TryGetError> {
                self.state.with(|st| st.try_get()).map(|(item, w)| {
                    w.wake();
                    item
                })
            }

            /// Marks one item taken earlier as processed. Once every item put has
            /// been marked, [`join`](Self::join) returns.
            ///
            /// # Errors
            ///
            /// [`TaskDoneError`] if called more times than items were put.
            pub fn task_done(&self) -> Result<(), TaskDoneError> {
                self.state.with(|st| st.task_done()).map(|w| w.wake())
            }

            /// Waits until every item put has been marked done by
            /// [`task_done`](Self::task_done); returns at once if none is pending.
            ///
            /// # Cancel safety
            ///
            /// Cancel-safe: dropping it only leaves the list of joiners.
            pub fn join(&self) -> QueueJoin<'_, T> {
                QueueJoin {
                    op: JoinOp::new(&self.state),
                }
            }

            /// Shuts the queue down: every put fails with its item, blocked ones
            /// included; gets drain what is left and then fail.
            ///
            /// With `immediate`, the items left are discarded too (dropped here), each
            /// counted as done, which may release [`join`](Self::join); blocked gets
            /// fail at once.
            pub fn shutdown(&self, immediate: bool) {
                let (discarded, wakes) = self.state.with(|st| st.shutdown(immediate));
                wakes.wake();
                drop(discarded);
            }

            /// Whether [`shutdown`](Self::shutdown) was called.
            pub fn is_shutdown(&self) -> bool {
                self.state.borrow().is_shutdown()
            }

            /// Items queued now (asyncio's `qsize()`).
            pub fn len(&self) -> usize {
                self.state.borrow().len()
            }

            /// Whether no item is queued.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Whether the queue is at capacity (never, when unbounded).
            pub fn is_full(&self) -> bool {
                self.state.borrow().is_full()
            }

            /// The most items it holds (asyncio's `maxsize`); `None` when unbounded.
            pub fn capacity(&self) -> Option<usize> {
                self.state.borrow().capacity()
            }

            /// Items put and not yet marked done by [`task_done`](Self::task_done).
            pub fn unfinished(&self) -> usize {
                self.state.borrow().unfinished()
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let st = self.state.borrow();
                f.debug_struct(stringify!($name))
                    .field("len", &st.len())
                    .field("capacity", &st.capacity())
                    .field("unfinished", &st.unfinished())
                    .field("shutdown", &st.is_shutdown())
                    .finish()
            }
        }
    };
}

queue_methods!(Queue);
queue_methods!(PriorityQueue);
queue_methods!(LifoQueue);

/// The future of `put` on [`Queue`], [`PriorityQueue`] and [`LifoQueue`].
///
/// # Cancel safety
///
/// Cancel-safe: the item enters the queue only in the poll that returns `Ok`; dropped
/// before, the item is dropped with it.
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T> {
    op: PutOp<'a, T, RefCell<QueueState<T>>>,
}

impl<T> Future for Put<'_, T> {
    type Output = Result<(), Shutdown<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().op).poll(cx)
    }
}

/// The future of `get` on [`Queue`], [`PriorityQueue`] and [`LifoQueue`].
///
/// # Cancel safety
///
/// Cancel-safe: an item leaves the queue only in the poll that returns it.
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T> {
    op: GetOp<'a, T, RefCell<QueueState<T>>>,
}

impl<T> Future for Get<'_, T> {
    type Output = Result<T, Shutdown>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().op).poll(cx)
    }
}

/// The future of `join` on [`Queue`], [`PriorityQueue`] and [`LifoQueue`].
///
/// # Cancel safety
///
/// Cancel-safe: dropping it only leaves the list of joiners.
#[must_use = "futures do nothing unless awaited"]
pub struct QueueJoin<'a, T> {
    op: JoinOp<'a, T, RefCell<QueueState<T>>>,
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
