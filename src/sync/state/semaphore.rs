//! The semaphore protocol, behind `Semaphore`, `BoundedSemaphore`, `Lock` (one
//! permit) and `shared::Semaphore`.
//!
//! # Implementation
//!
//! A count of free permits and a FIFO of waiters, each asking for `n` permits. The
//! protocol, in steps:
//!
//! 1. An acquire that finds **no queue** and enough permits takes them at once. If
//!    anyone is queued it queues behind them even when permits are free, so a newcomer
//!    never barges ahead (asyncio's `locked()` is true while waiters are queued).
//! 2. Releasing permits (a permit guard dropped, `add_permits`) hands them straight to
//!    the front waiters, in order, while the front one's request fits: the permits are
//!    subtracted from the count at grant time, so no one can take them in between.
//! 3. A granted waiter takes its permits when polled. If it is dropped first, its drop
//!    releases them again (step 2), which passes the grant to the next waiter: no
//!    wake-up is lost.
//! 4. A queued waiter that is dropped leaves the queue; if it was the front, the next
//!    one may now fit, so step 2 runs again.
//!
//! `held` counts permits out in guards (or granted and not yet taken); a bounded
//! semaphore refuses `add_permits` that would take `permits + held` past its bound.

use super::{StateCell, WaitList, Wakes};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub(crate) struct SemState {
    /// Free permits.
    permits: usize,
    /// Permits out in guards, or granted to a waiter that has not taken them yet.
    held: usize,
    /// The most `permits + held` may reach (a bounded semaphore), or `None`.
    bound: Option<usize>,
    /// Waiters, each asking for its number of permits.
    waiters: WaitList<usize, ()>,
}

/// Why `add_permits` refused: the bound would be passed.
pub(crate) struct OverBound;

impl SemState {
    pub(crate) fn new(permits: usize, bounded: bool) -> SemState {
        SemState {
            permits,
            held: 0,
            bound: bounded.then_some(permits),
            waiters: WaitList::new(),
        }
    }

    pub(crate) fn available(&self) -> usize {
        self.permits
    }

    /// asyncio's `locked()`: an acquire of one permit would wait.
    pub(crate) fn is_locked(&self) -> bool {
        self.permits == 0 || !self.waiters.is_empty()
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiters.len()
    }

    pub(crate) fn bound(&self) -> Option<usize> {
        self.bound
    }

    /// Takes `n` permits if that needs no waiting (step 1).
    pub(crate) fn try_acquire(&mut self, n: usize) -> bool {
        if self.waiters.is_empty() && self.permits >= n {
            self.permits -= n;
            self.held += n;
            true
        } else {
            false
        }
    }

    /// Hands free permits to the front waiters while the front request fits (step 2).
    fn grant(&mut self, wakes: &mut Wakes) {
        while let Some(&want) = self.waiters.front() {
            if want > self.permits {
                break;
            }
            self.permits -= want;
            self.held += want;
            wakes.push_opt(self.waiters.grant_front(()));
        }
    }

    /// `n` permits come back from a guard (or from a granted waiter that was dropped).
    pub(crate) fn release(&mut self, n: usize) -> Wakes {
        self.held -= n;
        self.permits = self
            .permits
            .checked_add(n)
            .expect("semaphore permit count overflowed");
        let mut wakes = Wakes::new();
        self.grant(&mut wakes);
        wakes
    }

    /// `n` permits held in a guard are forgotten: the total shrinks.
    pub(crate) fn forget(&mut self, n: usize) {
        self.held -= n;
    }

    /// New permits (asyncio's `release()`).
    pub(crate) fn add(&mut self, n: usize) -> Result<Wakes, OverBound> {
        let permits = self
            .permits
            .checked_add(n)
            .expect("semaphore permit count overflowed");
        if let Some(bound) = self.bound {
            if permits.saturating_add(self.held) > bound {
                return Err(OverBound);
            }
        }
        self.permits = permits;
        let mut wakes = Wakes::new();
        self.grant(&mut wakes);
        Ok(wakes)
    }
}

/// Waits for `n` permits; resolves once they are held (the caller wraps them in its
/// guard). Step 3 and 4 live in its `Drop`.
pub(crate) struct AcquireOp<'a, C: StateCell<SemState>> {
    cell: &'a C,
    n: usize,
    /// Our node in the wait list, once queued; `None` before, and after completion.
    key: Option<usize>,
}

impl<'a, C: StateCell<SemState>> AcquireOp<'a, C> {
    pub(crate) fn new(cell: &'a C, n: usize) -> AcquireOp<'a, C> {
        AcquireOp { cell, n, key: None }
    }

    pub(crate) fn permits(&self) -> usize {
        self.n
    }

    pub(crate) fn cell(&self) -> &'a C {
        self.cell
    }
}

impl<C: StateCell<SemState>> Future for AcquireOp<'_, C> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let (n, key) = (this.n, this.key);
        let ready = this.cell.with(|st| match key {
            None => {
                if st.try_acquire(n) {
                    true
                } else {
                    this.key = Some(st.waiters.push_back(n, cx.waker()));
                    false
                }
            }
            // Granted permits were counted as held when granted.
            Some(k) => st.waiters.check(k, cx.waker()).is_some(),
        });
        if ready {
            this.key = None;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl<C: StateCell<SemState>> Drop for AcquireOp<'_, C> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let n = self.n;
        let wakes = self.cell.with(|st| match st.waiters.remove(key) {
            // Granted but never taken: give the permits back, to the next in line.
            Some(()) => st.release(n),
            // Still queued: the one behind us may fit now.
            None => {
                let mut wakes = Wakes::new();
                st.grant(&mut wakes);
                wakes
            }
        });
        wakes.wake();
    }
}
