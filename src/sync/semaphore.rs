//! [`Semaphore`] and [`BoundedSemaphore`]: counted permits for the tasks of one worker,
//! handed out in FIFO order as RAII [`SemaphorePermit`]s.
//!
//! ```
//! use std::rc::Rc;
//! use ringio::sync::Semaphore;
//!
//! ringio::run(async {
//!     let sem = Rc::new(Semaphore::new(2)); // at most two at a time
//!     let mut tasks = Vec::new();
//!     for i in 0..5 {
//!         let sem = sem.clone();
//!         tasks.push(ringio::spawn(async move {
//!             let _permit = sem.acquire().await; // released when dropped
//!             ringio::yield_now().await;
//!             i
//!         }));
//!     }
//!     for t in tasks {
//!         t.await.unwrap();
//!     }
//!     assert_eq!(sem.available_permits(), 2);
//! });
//! ```
//!
//! # Implementation
//!
//! The protocol (FIFO grants, no barging, a dropped grant passed on) is in
//! `state/semaphore.rs`, shared with [`Lock`](super::Lock) and
//! [`shared::Semaphore`](super::shared::Semaphore); here it sits in a `RefCell`.

use super::state::semaphore::{AcquireOp, SemState};
use super::state::StateCell;
use super::NotSend;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// asyncio's `Semaphore`: a count of permits; [`acquire`](Semaphore::acquire) takes one
/// or waits, and the permit gives it back when dropped.
///
/// Waiters are served first come, first served, and a newcomer never barges in ahead
/// of them: [`try_acquire`](Semaphore::try_acquire) fails while anyone is queued, even
/// with permits free (asyncio's `locked()` is true then too).
///
/// The count is a `usize`, so asyncio's ValueError for a negative one cannot arise.
/// Not `Send`: it serves the tasks of one worker. Across workers use
/// [`shared::Semaphore`](super::shared::Semaphore).
///
/// ```
/// # ringio::run(async {
/// let sem = ringio::sync::Semaphore::new(1);
/// let permit = sem.acquire().await;
/// assert!(sem.try_acquire().is_none());
/// drop(permit);
/// assert!(sem.try_acquire().is_some());
/// # });
/// ```
pub struct Semaphore {
    state: RefCell<SemState>,
    _not_send: NotSend,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore::with_state(SemState::new(permits, false))
    }

    fn with_state(state: SemState) -> Semaphore {
        Semaphore {
            state: RefCell::new(state),
            _not_send: NotSend::default(),
        }
    }

    /// Takes one permit, waiting in line if none is free or others are queued.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe. A dropped waiter leaves the line; one dropped after it was granted
    /// its permit (woken, not yet polled) hands the permit to the next waiter.
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Takes `n` permits at once, waiting in line; the waiter at the front holds back
    /// those behind it until its `n` are free.
    ///
    /// # Cancel safety
    ///
    /// As [`acquire`](Semaphore::acquire).
    ///
    /// ```
    /// # ringio::run(async {
    /// let sem = ringio::sync::Semaphore::new(3);
    /// let two = sem.acquire_many(2).await;
    /// assert_eq!((two.permits(), sem.available_permits()), (2, 1));
    /// # });
    /// ```
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire {
            op: AcquireOp::new(&self.state, n),
        }
    }

    /// Takes one permit if that needs no waiting: one is free and nobody is queued.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if that needs no waiting.
    pub fn try_acquire_many(&self, n: usize) -> Option<SemaphorePermit<'_>> {
        self.state
            .with(|st| st.try_acquire(n))
            .then(|| SemaphorePermit::new(&self.state, n))
    }

    /// Adds `n` permits (asyncio's `release()`), waking the waiters they satisfy.
    ///
    /// # Panics
    ///
    /// If the count would overflow `usize`.
    pub fn add_permits(&self, n: usize) {
        match self.state.with(|st| st.add(n)) {
            Ok(wakes) => wakes.wake(),
            Err(_) => unreachable!("an unbounded semaphore has no bound to pass"),
        }
    }

    /// Permits free right now.
    pub fn available_permits(&self) -> usize {
        self.state.borrow().available()
    }

    /// asyncio's `locked()`: whether [`acquire`](Semaphore::acquire) would wait (no
    /// permit is free, or others are queued).
    pub fn is_locked(&self) -> bool {
        self.state.borrow().is_locked()
    }
}

impl Default for Semaphore {
    /// One permit, as asyncio's default.
    fn default() -> Semaphore {
        Semaphore::new(1)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Semaphore")
            .field("available", &st.available())
            .field("waiting", &st.waiting())
            .finish()
    }
}

/// asyncio's `BoundedSemaphore`: a [`Semaphore`] whose permits may never outnumber its
/// initial count. Adding a permit beyond it is an error, not a silent leak.
///
/// The bound covers permits free and permits held: with a bound of 2 and one permit
/// held, `add_permits(1)` fails, because the held one will come back.
/// [`SemaphorePermit::forget`] lowers the total, after which `add_permits` may restore
/// it.
///
/// ```
/// # ringio::run(async {
/// use ringio::sync::BoundedSemaphore;
/// let sem = BoundedSemaphore::new(2);
/// assert!(sem.add_permits(1).is_err()); // would make three
/// sem.acquire().await.forget();         // the total is now one
/// assert!(sem.add_permits(1).is_ok());  // and two again
/// assert_eq!(sem.available_permits(), 2);
/// # });
/// ```
pub struct BoundedSemaphore {
    sem: Semaphore,
}

impl BoundedSemaphore {
    /// A semaphore with `permits` permits, which is also its bound.
    pub fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            sem: Semaphore::with_state(SemState::new(permits, true)),
        }
    }

    /// As [`Semaphore::acquire`].
    ///
    /// # Cancel safety
    ///
    /// As [`Semaphore::acquire`].
    pub fn acquire(&self) -> Acquire<'_> {
        self.sem.acquire()
    }

    /// As [`Semaphore::acquire_many`].
    ///
    /// # Panics
    ///
    /// If `n` exceeds the bound: those permits could never be free at once.
    ///
    /// # Cancel safety
    ///
    /// As [`Semaphore::acquire`].
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        assert!(
            n <= self.bound(),
            "acquire_many({n}) on a semaphore bounded at {}",
            self.bound()
        );
        self.sem.acquire_many(n)
    }

    /// As [`Semaphore::try_acquire`].
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.sem.try_acquire()
    }

    /// As [`Semaphore::try_acquire_many`].
    pub fn try_acquire_many(&self, n: usize) -> Option<SemaphorePermit<'_>> {
        self.sem.try_acquire_many(n)
    }

    /// Adds `n` permits (asyncio's `release()`), waking the waiters they satisfy.
    ///
    /// # Errors
    ///
    /// [`Overflow`], changing nothing, if free plus held permits would pass the bound.
    pub fn add_permits(&self, n: usize) -> Result<(), Overflow> {
        match self.sem.state.with(|st| st.add(n)) {
            Ok(wakes) => {
                wakes.wake();
                Ok(())
            }
            Err(_) => Err(Overflow(())),
        }
    }

    /// The bound: the count given to [`new`](BoundedSemaphore::new).
    pub fn bound(&self) -> usize {
        self.sem.state.borrow().bound().unwrap_or(usize::MAX)
    }

    /// As [`Semaphore::available_permits`].
    pub fn available_permits(&self) -> usize {
        self.sem.available_permits()
    }

    /// As [`Semaphore::is_locked`].
    pub fn is_locked(&self) -> bool {
        self.sem.is_locked()
    }
}

impl Default for BoundedSemaphore {
    /// One permit, as asyncio's default.
    fn default() -> BoundedSemaphore {
        BoundedSemaphore::new(1)
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.sem.state.borrow();
        f.debug_struct("BoundedSemaphore")
            .field("available", &st.available())
            .field("waiting", &st.waiting())
            .field("bound", &st.bound())
            .finish()
    }
}

/// Permits taken from a [`Semaphore`] or [`BoundedSemaphore`]; dropping it gives them
/// back, to the waiters in line first.
#[must_use = "the permit is released at once if it is not kept"]
pub struct SemaphorePermit<'a> {
    state: &'a RefCell<SemState>,
    n: usize,
}

impl<'a> SemaphorePermit<'a> {
    fn new(state: &'a RefCell<SemState>, n: usize) -> SemaphorePermit<'a> {
        SemaphorePermit { state, n }
    }

    /// How many permits this holds.
    pub fn permits(&self) -> usize {
        self.n
    }

    /// Keeps the permits out for good: the semaphore's total shrinks by this many.
    pub fn forget(mut self) {
        let n = std::mem::take(&mut self.n);
        self.state.with(|st| st.forget(n));
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.n > 0 {
            let n = self.n;
            self.state.with(|st| st.release(n)).wake();
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.n)
            .finish()
    }
}

/// The future of [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
///
/// # Cancel safety
///
/// Cancel-safe: dropped while queued, it leaves the line; dropped after it was granted
/// its permits but before it returned them, it hands them to the next waiter.
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    op: AcquireOp<'a, RefCell<SemState>>,
}

impl<'a> Future for Acquire<'a> {
    type Output = SemaphorePermit<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let this = self.get_mut();
        let n = this.op.permits();
        let state = this.op.cell();
        Pin::new(&mut this.op)
            .poll(cx)
            .map(|()| SemaphorePermit::new(state, n))
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("permits", &self.op.permits())
            .finish_non_exhaustive()
    }
}

/// A [`BoundedSemaphore`] was asked to hold more permits than its bound.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Overflow(());

impl fmt::Debug for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Overflow")
    }
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a bounded semaphore was released past its initial count")
    }
}

impl std::error::Error for Overflow {}
