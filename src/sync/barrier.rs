//! [`Barrier`]: a meeting point for a fixed number of tasks of one worker.
//!
//! ```
//! use std::rc::Rc;
//! use ringio::sync::Barrier;
//!
//! ringio::run(async {
//!     let barrier = Rc::new(Barrier::new(3));
//!     let tasks: Vec<_> = (0..3)
//!         .map(|_| {
//!             let b = barrier.clone();
//!             ringio::spawn(async move { b.wait().await.unwrap() })
//!         })
//!         .collect();
//!     let mut indices = Vec::new();
//!     for t in tasks {
//!         indices.push(t.await.unwrap());
//!     }
//!     indices.sort();
//!     assert_eq!(indices, [0, 1, 2]);
//! });
//! ```
//!
//! # Implementation
//!
//! A wait list and a broken flag. The arrival that completes the party grants every
//! queued waiter its index (0, 1, ... in arrival order, counting only those still
//! there) and returns `parties - 1` itself, so the indices of a round are always a
//! permutation of `0..parties`, whoever left while it filled. A waiter dropped while
//! the barrier fills leaves the list and no longer counts.
//!
//! # Departure from asyncio
//!
//! asyncio's barrier has a draining state: a task that calls `wait()` again before
//! every task of the last round has resumed waits until they have. Here the round ends
//! at the grant, and the next call starts filling the next round at once; each task of
//! the last round still gets its index, so the difference is not observable through
//! indices or counts, only in how early the next round may start filling.

use super::state::{StateCell, WaitList, Wakes};
use super::NotSend;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

struct BarrierState {
    broken: bool,
    /// Tasks waiting for the round to fill; each is granted its index, or
    /// `BrokenBarrier` by `abort`/`reset`.
    waiters: WaitList<(), Result<usize, BrokenBarrier>>,
}

/// asyncio's `Barrier`: [`wait`](Barrier::wait) blocks until `parties` tasks are
/// waiting, then releases them all, each with a distinct index in `0..parties`.
///
/// Reusable: once a round is released, the next fills. [`abort`](Barrier::abort)
/// breaks it (current and later waits fail) until [`reset`](Barrier::reset).
///
/// Not `Send`: it serves the tasks of one worker.
pub struct Barrier {
    parties: usize,
    state: RefCell<BarrierState>,
    _not_send: NotSend,
}

impl Barrier {
    /// A barrier for `parties` tasks.
    ///
    /// # Panics
    ///
    /// If `parties` is zero (asyncio's ValueError).
    pub fn new(parties: usize) -> Barrier {
        assert!(parties > 0, "a barrier needs at least one party");
        Barrier {
            parties,
            state: RefCell::new(BarrierState {
                broken: false,
                waiters: WaitList::new(),
            }),
            _not_send: NotSend::default(),
        }
    }

    /// Waits until `parties` tasks wait; returns this task's index in `0..parties`.
    ///
    /// # Errors
    ///
    /// [`BrokenBarrier`] if the barrier is broken, or is aborted or reset while this
    /// task waits.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a task dropped while the barrier fills leaves it, and no longer
    /// counts; one dropped after its round was released changes nothing for the others.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            key: None,
        }
    }

    /// Breaks the barrier: current waits and all later ones fail with
    /// [`BrokenBarrier`], until [`reset`](Barrier::reset).
    pub fn abort(&self) {
        self.state
            .with(|st| {
                st.broken = true;
                Barrier::fail_waiters(st)
            })
            .wake();
    }

    /// Empties the barrier and mends it: current waiters fail with [`BrokenBarrier`],
    /// and the next waits start a new round.
    pub fn reset(&self) {
        self.state
            .with(|st| {
                st.broken = false;
                Barrier::fail_waiters(st)
            })
            .wake();
    }

    fn fail_waiters(st: &mut BarrierState) -> Wakes {
        let mut wakes = Wakes::new();
        st.waiters.grant_all(|_| Err(BrokenBarrier(())), &mut wakes);
        wakes
    }

    /// How many tasks wait for the current round to fill.
    pub fn n_waiting(&self) -> usize {
        self.state.borrow().waiters.len()
    }

    /// Whether the barrier is broken.
    pub fn is_broken(&self) -> bool {
        self.state.borrow().broken
    }

    /// How many tasks make a round.
    pub fn parties(&self) -> usize {
        self.parties
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("waiting", &self.n_waiting())
            .field("broken", &self.is_broken())
            .finish()
    }
}

/// The future of [`Barrier::wait`].
///
/// # Cancel safety
///
/// Cancel-safe: dropped while the barrier fills, it leaves it.
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    key: Option<usize>,
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, BrokenBarrier>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let parties = this.barrier.parties;
        let key = this.key;
        let (res, wakes) = this.barrier.state.with(|st| match key {
            Some(k) => (st.waiters.check(k, cx.waker()), Wakes::new()),
            None if st.broken => (Some(Err(BrokenBarrier(()))), Wakes::new()),
            None if st.waiters.len() + 1 == parties => {
                // The last arrival: release the round.
                let mut wakes = Wakes::new();
                st.waiters.grant_all(Ok, &mut wakes);
                (Some(Ok(parties - 1)), wakes)
            }
            None => {
                this.key = Some(st.waiters.push_back((), cx.waker()));
                (None, Wakes::new())
            }
        });
        wakes.wake();
        match res {
            Some(r) => {
                this.key = None;
                Poll::Ready(r)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.barrier.state.with(|st| st.waiters.remove(key));
        }
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait").finish_non_exhaustive()
    }
}

/// The barrier was broken by [`Barrier::abort`] or emptied by [`Barrier::reset`]
/// (asyncio's BrokenBarrierError).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BrokenBarrier(());

impl fmt::Debug for BrokenBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BrokenBarrier")
    }
}

impl fmt::Display for BrokenBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken or was reset")
    }
}

impl std::error::Error for BrokenBarrier {}
