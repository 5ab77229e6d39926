//! The errors of the queues, per core and across cores.

use std::fmt;

/// The queue was shut down. From a put it holds the item, handed back; from a get it
/// holds `()` (the queue is shut down and empty). asyncio's QueueShutDown.
///
/// ```
/// # ringio::run(async {
/// use ringio::sync::{Queue, Shutdown};
/// let q = Queue::unbounded();
/// q.shutdown(false);
/// let Err(Shutdown(item)) = q.put("late").await else { panic!() };
/// assert_eq!(item, "late");
/// assert_eq!(q.get().await, Err(Shutdown(())));
/// # });
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Shutdown<T = ()>(pub T);

impl<T> Shutdown<T> {
    /// The item handed back.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Shutdown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Shutdown(..)")
    }
}

impl<T> fmt::Display for Shutdown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is shut down")
    }
}

impl<T> std::error::Error for Shutdown<T> {}

/// Why a `try_put` did not put; the item comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryPutError<T> {
    /// The queue is at capacity (asyncio's QueueFull).
    Full(T),
    /// The queue is shut down.
    Shutdown(T),
}

impl<T> TryPutError<T> {
    /// The item handed back.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(v) | TryPutError::Shutdown(v) => v,
        }
    }

    /// Whether the queue was full (rather than shut down).
    pub fn is_full(&self) -> bool {
        matches!(self, TryPutError::Full(_))
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::Shutdown(_) => f.write_str("Shutdown(..)"),
        }
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("the queue is full"),
            TryPutError::Shutdown(_) => f.write_str("the queue is shut down"),
        }
    }
}

impl<T> std::error::Error for TryPutError<T> {}

/// Why a `try_get` returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryGetError {
    /// Nothing queued right now (asyncio's QueueEmpty).
    Empty,
    /// Nothing queued, and the queue is shut down.
    Shutdown,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => f.write_str("the queue is empty"),
            TryGetError::Shutdown => f.write_str("the queue is empty and shut down"),
        }
    }
}

impl std::error::Error for TryGetError {}

/// `task_done` was called more times than items were put (asyncio's ValueError).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TaskDoneError(pub(crate) ());

impl fmt::Debug for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TaskDoneError")
    }
}

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done called more times than items were put")
    }
}

impl std::error::Error for TaskDoneError {}
