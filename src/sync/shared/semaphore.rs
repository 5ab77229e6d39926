//! [`Semaphore`]: counted permits shared by workers and plain threads.

use super::park::block_on;
use crate::sync::state::semaphore::{AcquireOp, SemState};
use crate::sync::state::StateCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

/// asyncio's `Semaphore` across cores: `Send + Sync`, so share it in an `Arc`.
///
/// It behaves as the per-core [`sync::Semaphore`](crate::sync::Semaphore): FIFO, no
/// barging, RAII permits, and a permit granted to a waiter that is dropped goes to the
/// next. A permit released on one worker (or thread) wakes a waiter on another, even
/// one asleep in its ring.
///
/// ```
/// use std::sync::Arc;
/// use ringio::sync::shared::Semaphore;
///
/// let rt = ringio::Builder::new().workers(2).build().unwrap();
/// let sem = Arc::new(Semaphore::new(0));
/// let waiter = {
///     let sem = sem.clone();
///     rt.handle()
///         .spawn_on(1, async move { sem.acquire().await.permits() })
///         .unwrap()
/// };
/// sem.add_permits(1); // from this (plain) thread
/// assert_eq!(waiter.join().unwrap(), 1);
/// assert_eq!(sem.available_permits(), 1); // the permit came back when dropped
/// ```
pub struct Semaphore {
    state: Mutex<SemState>,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: Mutex::new(SemState::new(permits, false)),
        }
    }

    fn read<R>(&self, f: impl FnOnce(&SemState) -> R) -> R {
        f(&self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Takes one permit, waiting in line.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe. A dropped waiter leaves the line; one dropped after it was granted
    /// its permit hands the permit to the next waiter.
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Takes `n` permits at once, waiting in line.
    ///
    /// # Cancel safety
    ///
    /// As [`acquire`](Semaphore::acquire).
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire {
            op: AcquireOp::new(&self.state, n),
        }
    }

    /// Takes one permit from a plain thread, blocking it until it is granted.
    ///
    /// # Panics
    ///
    /// On a ringio worker thread, whose whole loop it would block.
    #[track_caller]
    pub fn blocking_acquire(&self) -> SemaphorePermit<'_> {
        block_on("Semaphore::blocking_acquire", self.acquire())
    }

    /// Takes one permit if that needs no waiting: one is free and nobody is queued.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if that needs no waiting.
    pub fn try_acquire_many(&self, n: usize) -> Option<SemaphorePermit<'_>> {
        self.state
            .with(|st| st.try_acquire(n))
            .then(|| SemaphorePermit {
                state: &self.state,
                n,
            })
    }

    /// Adds `n` permits, waking the waiters they satisfy, wherever they wait.
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
        self.read(SemState::available)
    }

    /// asyncio's `locked()`: whether an acquire would wait.
    pub fn is_locked(&self) -> bool {
        self.read(SemState::is_locked)
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
        self.read(|st| {
            f.debug_struct("shared::Semaphore")
                .field("available", &st.available())
                .field("waiting", &st.waiting())
                .finish()
        })
    }
}

/// Permits taken from a [`Semaphore`]; dropping it gives them back. `Send + Sync`.
#[must_use = "the permit is released at once if it is not kept"]
pub struct SemaphorePermit<'a> {
    state: &'a Mutex<SemState>,
    n: usize,
}

impl SemaphorePermit<'_> {
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

/// The future of [`Semaphore::acquire`]; `Send`.
///
/// # Cancel safety
///
/// Cancel-safe: dropped while queued, it leaves the line; dropped after it was granted
/// its permits, it hands them to the next waiter.
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    op: AcquireOp<'a, Mutex<SemState>>,
}

impl<'a> Future for Acquire<'a> {
    type Output = SemaphorePermit<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let this = self.get_mut();
        let (state, n) = (this.op.cell(), this.op.permits());
        Pin::new(&mut this.op)
            .poll(cx)
            .map(|()| SemaphorePermit { state, n })
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("permits", &self.op.permits())
            .finish_non_exhaustive()
    }
}
