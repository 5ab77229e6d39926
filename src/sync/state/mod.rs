//! The protocols behind `sync`'s primitives, written once and run by both forms.
//!
//! Each protocol is a plain state struct (a semaphore's count and waiters, an event's
//! flag, a queue's items) plus the futures that wait on it. A per-core primitive keeps
//! its state in a `RefCell`, a cross-core one in a `std::sync::Mutex`; both implement
//! [`StateCell`], and the futures here are generic over it, so a per-core `Semaphore`
//! and a `shared::Semaphore` grant, queue and pass on permits by the same code.
//!
//! Every state method that releases a waiter returns its waker in a [`Wakes`] rather
//! than waking it: the caller wakes after the `RefCell` borrow or the mutex is released.

pub(crate) mod event;
pub(crate) mod queue;
pub(crate) mod semaphore;
pub(crate) mod wait_list;

use std::cell::RefCell;
use std::sync::{Mutex, PoisonError};

pub(crate) use wait_list::{WaitList, Wakes};

/// Where a primitive keeps its state: a `RefCell` (per core) or a `Mutex` (across
/// cores). `with` runs `f` with exclusive access. `f` wakes no waker and drops no item
/// (both are handed out to the caller), so the borrow never nests and the mutex is
/// never held across a wake; the one user code it runs is a `PriorityQueue` item's
/// `Ord::cmp`, which must not touch its own queue.
pub(crate) trait StateCell<S> {
    fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> R;
}

impl<S> StateCell<S> for RefCell<S> {
    fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        f(&mut self.borrow_mut())
    }
}

impl<S> StateCell<S> for Mutex<S> {
    fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        // A panic never happens inside `f` (no user code), so poison carries no
        // meaning here; go on with the state.
        f(&mut self.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
