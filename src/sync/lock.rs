//! [`Lock`]: a mutex for the tasks of one worker, FIFO-fair, whose guard may be held
//! across awaits.
//!
//! ```
//! use std::rc::Rc;
//! use ringio::sync::Lock;
//!
//! ringio::run(async {
//!     let log = Rc::new(Lock::new(Vec::new()));
//!     let mut tasks = Vec::new();
//!     for i in 0..3 {
//!         let log = log.clone();
//!         tasks.push(ringio::spawn(async move {
//!             let mut entries = log.lock().await;
//!             entries.push(i);
//!             ringio::yield_now().await; // still held across the await
//!             entries.push(i);
//!         }));
//!     }
//!     for t in tasks {
//!         t.await.unwrap();
//!     }
//!     assert_eq!(*log.lock().await, [0, 0, 1, 1, 2, 2]);
//! });
//! ```
//!
//! # Implementation
//!
//! A lock is a one-permit semaphore (`state/semaphore.rs`) beside a `RefCell<T>`.
//! Unlocking hands the lock straight to the oldest waiter, so it stays locked in
//! between and [`Lock::try_lock`] cannot take it ahead of that waiter. The guard holds
//! the `RefCell`'s borrow; the semaphore guarantees a single guard, so the borrow never
//! fails, and the cell keeps this free of `unsafe`.

use super::state::semaphore::{AcquireOp, SemState};
use super::state::StateCell;
use super::NotSend;
use std::cell::{RefCell, RefMut};
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

/// asyncio's `Lock`, holding the data it protects (`Lock<()>` for a bare lock).
///
/// [`lock`](Lock::lock) waits for the lock and returns a [`LockGuard`]; dropping the
/// guard unlocks. Waiters get the lock in the order they asked for it. Unlocking an
/// unlocked lock (asyncio's RuntimeError) cannot be written: only a guard unlocks.
///
/// Not `Send`: it serves the tasks of one worker.
///
/// ```
/// # ringio::run(async {
/// let lock = ringio::sync::Lock::new(0);
/// *lock.lock().await += 1;
/// assert!(!lock.is_locked());
/// let guard = lock.try_lock().unwrap();
/// assert!(lock.is_locked() && lock.try_lock().is_none());
/// assert_eq!(*guard, 1);
/// # });
/// ```
pub struct Lock<T: ?Sized = ()> {
    sem: RefCell<SemState>,
    _not_send: NotSend,
    value: RefCell<T>,
}

impl<T> Lock<T> {
    /// An unlocked lock holding `value`.
    pub fn new(value: T) -> Lock<T> {
        Lock {
            sem: RefCell::new(SemState::new(1, false)),
            _not_send: NotSend::default(),
            value: RefCell::new(value),
        }
    }

    /// The protected value, taking the lock apart.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Lock<T> {
    /// Waits for the lock, in line behind earlier callers.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe. A dropped waiter leaves the line; one dropped after it was granted
    /// the lock (woken, not yet polled) hands it to the next waiter, or unlocks.
    pub fn lock(&self) -> LockFuture<'_, T> {
        LockFuture {
            lock: self,
            op: AcquireOp::new(&self.sem, 1),
        }
    }

    /// Takes the lock if it is free and nobody is waiting for it.
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        self.sem
            .with(|st| st.try_acquire(1))
            .then(|| LockGuard::new(self))
    }

    /// asyncio's `locked()`: whether the lock is held (or handed to a waiter that has
    /// not run yet).
    pub fn is_locked(&self) -> bool {
        self.sem.borrow().available() == 0
    }

    /// The protected value, through a unique borrow: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Lock<T> {
        Lock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Lock");
        match self.try_lock() {
            Some(guard) => d.field("value", &&*guard),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// The lock, held: derefs to the protected value; dropping it unlocks, handing the
/// lock to the oldest waiter.
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct LockGuard<'a, T: ?Sized> {
    // Field order is drop order: the value's borrow ends before the lock passes on.
    value: RefMut<'a, T>,
    pub(crate) lock: &'a Lock<T>,
    _unlock: Unlock<'a>,
}

/// Unlocks when dropped (after the guard's borrow of the value has ended).
struct Unlock<'a>(&'a RefCell<SemState>);

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        self.0.with(|st| st.release(1)).wake();
    }
}

impl<'a, T: ?Sized> LockGuard<'a, T> {
    /// The guard of a lock whose permit we now hold.
    fn new(lock: &'a Lock<T>) -> LockGuard<'a, T> {
        LockGuard {
            value: lock
                .value
                .try_borrow_mut()
                .expect("ringio Lock: a second guard while one is alive"),
            lock,
            _unlock: Unlock(&lock.sem),
        }
    }
}

impl<T: ?Sized> Deref for LockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: ?Sized> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.value, f)
    }
}

/// The future of [`Lock::lock`].
///
/// # Cancel safety
///
/// Cancel-safe: dropped while waiting, it leaves the line; dropped after it was granted
/// the lock, it passes the lock on.
#[must_use = "futures do nothing unless awaited"]
pub struct LockFuture<'a, T: ?Sized> {
    lock: &'a Lock<T>,
    op: AcquireOp<'a, RefCell<SemState>>,
}

impl<'a, T: ?Sized> Future for LockFuture<'a, T> {
    type Output = LockGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a, T>> {
        let this = self.get_mut();
        let lock = this.lock;
        Pin::new(&mut this.op)
            .poll(cx)
            .map(|()| LockGuard::new(lock))
    }
}

impl<T: ?Sized> fmt::Debug for LockFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockFuture").finish_non_exhaustive()
    }
}
