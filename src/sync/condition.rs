//! [`Condition`]: waiting for a change to data behind a [`Lock`], with notification.
//!
//! ```
//! use std::rc::Rc;
//! use ringio::sync::Condition;
//!
//! ringio::run(async {
//!     let jobs = Rc::new(Condition::new(Vec::<u32>::new()));
//!     let worker = {
//!         let jobs = jobs.clone();
//!         ringio::spawn(async move {
//!             let guard = jobs.lock().await;
//!             let mut guard = jobs.wait_while(guard, |q| q.is_empty()).await;
//!             guard.pop()
//!         })
//!     };
//!     ringio::yield_now().await;
//!     let mut guard = jobs.lock().await;
//!     guard.push(7);
//!     jobs.notify(&guard, 1);
//!     drop(guard);
//!     assert_eq!(worker.await.unwrap(), Some(7));
//! });
//! ```
//!
//! # Implementation
//!
//! A wait list of its own beside an `Rc<Lock<T>>` (which other conditions may share).
//! [`Condition::wait`] moves through three stages:
//!
//! 1. With the guard: queue on the condition, then drop the guard. Both happen in one
//!    poll, so no notify can fall in between (a notifier needs the lock, and cannot
//!    run before that poll returns).
//! 2. Queued: `notify(n)` grants the `n` oldest waiters, in order.
//! 3. Granted: lock again, behind anyone already waiting for the lock, and return the
//!    new guard.
//!
//! A waiter dropped in stage 2 after its grant, or in stage 3, passes the notification
//! to the next queued waiter, so `notify(1)` is never swallowed by a cancelled task.
//!
//! # Departure from asyncio
//!
//! asyncio re-acquires the lock before a cancelled `wait()` propagates the
//! cancellation, so the caller still holds it. A dropped Rust future cannot await, so a
//! dropped [`ConditionWait`] leaves the lock unlocked; the guard it was given is gone
//! with it.

use super::lock::{Lock, LockFuture, LockGuard};
use super::state::{StateCell, WaitList, Wakes};
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// asyncio's `Condition`: an [`Event`](super::Event)-like wait list joined to a
/// [`Lock`].
///
/// [`wait`](Condition::wait) takes the lock's guard, unlocks, waits for a
/// [`notify`](Condition::notify), locks again and gives the guard back. Notifying
/// also takes the guard, by reference: holding it proves the lock is held (asyncio
/// checks this at run time). Wake-ups may be spurious, so wait in a loop or use
/// [`wait_while`](Condition::wait_while).
///
/// Not `Send`: it serves the tasks of one worker.
pub struct Condition<T: ?Sized = ()> {
    lock: Rc<Lock<T>>,
    waiters: RefCell<WaitList<(), ()>>,
}

impl<T> Condition<T> {
    /// A condition with a new lock of its own, holding `value`.
    pub fn new(value: T) -> Condition<T> {
        Condition::with_lock(Rc::new(Lock::new(value)))
    }
}

impl<T: ?Sized> Condition<T> {
    /// A condition on an existing lock, which other conditions may share.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use ringio::sync::{Condition, Lock};
    /// let lock = Rc::new(Lock::new(0));
    /// let not_empty = Condition::with_lock(lock.clone());
    /// let not_full = Condition::with_lock(lock.clone());
    /// assert!(Rc::ptr_eq(not_empty.as_lock(), not_full.as_lock()));
    /// ```
    pub fn with_lock(lock: Rc<Lock<T>>) -> Condition<T> {
        Condition {
            lock,
            waiters: RefCell::new(WaitList::new()),
        }
    }

    /// The condition's lock.
    pub fn as_lock(&self) -> &Rc<Lock<T>> {
        &self.lock
    }

    /// Waits for the condition's lock; as [`Lock::lock`].
    ///
    /// # Cancel safety
    ///
    /// As [`Lock::lock`].
    pub fn lock(&self) -> LockFuture<'_, T> {
        self.lock.lock()
    }

    /// As [`Lock::try_lock`].
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        self.lock.try_lock()
    }

    /// As [`Lock::is_locked`].
    pub fn is_locked(&self) -> bool {
        self.lock.is_locked()
    }

    /// Unlocks, waits to be notified, locks again and returns the guard.
    ///
    /// # Panics
    ///
    /// If `guard` is not a guard of this condition's lock.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the lock unlocked (the guard was moved in). A waiter
    /// dropped after it was notified passes the notification to the next waiter.
    pub fn wait<'a>(&'a self, guard: LockGuard<'a, T>) -> ConditionWait<'a, T> {
        assert!(
            std::ptr::eq(guard.lock, &*self.lock),
            "Condition::wait given the guard of another lock"
        );
        ConditionWait {
            cond: self,
            stage: Stage::Start(guard),
        }
    }

    /// Waits (as [`wait`](Condition::wait), perhaps many times) while `condition`
    /// holds for the protected value; returns the guard once it does not. asyncio's
    /// `wait_for(predicate)`, negated as std's `Condvar::wait_while`.
    ///
    /// # Panics
    ///
    /// As [`wait`](Condition::wait).
    ///
    /// # Cancel safety
    ///
    /// As [`wait`](Condition::wait).
    pub async fn wait_while<'a, F>(
        &'a self,
        mut guard: LockGuard<'a, T>,
        mut condition: F,
    ) -> LockGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut guard) {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Wakes up to `n` waiters, oldest first; returns how many. Each then waits for the
    /// lock, which the caller holds.
    ///
    /// # Panics
    ///
    /// If `guard` is not a guard of this condition's lock.
    pub fn notify(&self, guard: &LockGuard<'_, T>, n: usize) -> usize {
        self.check(guard);
        let mut wakes = Wakes::new();
        let mut woken = 0;
        self.waiters.with(|l| {
            while woken < n && !l.is_empty() {
                wakes.push_opt(l.grant_front(()));
                woken += 1;
            }
        });
        wakes.wake();
        woken
    }

    /// Wakes every waiter; returns how many.
    ///
    /// # Panics
    ///
    /// If `guard` is not a guard of this condition's lock.
    pub fn notify_all(&self, guard: &LockGuard<'_, T>) -> usize {
        self.notify(guard, usize::MAX)
    }

    /// Waiters queued now (not yet notified).
    pub fn waiting(&self) -> usize {
        self.waiters.borrow().len()
    }

    fn check(&self, guard: &LockGuard<'_, T>) {
        assert!(
            std::ptr::eq(guard.lock, &*self.lock),
            "Condition::notify given the guard of another lock"
        );
    }

    /// Passes a notification that a dropped waiter will not use to the next one.
    fn pass_on(&self) {
        let next = self.waiters.with(|l| l.grant_front(()));
        if let Some(w) = next {
            w.wake();
        }
    }
}

impl<T: Default> Default for Condition<T> {
    fn default() -> Condition<T> {
        Condition::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("locked", &self.is_locked())
            .field("waiting", &self.waiting())
            .finish()
    }
}

enum Stage<'a, T: ?Sized> {
    /// Not polled yet: holding the guard.
    Start(LockGuard<'a, T>),
    /// Queued on the condition under this key.
    Waiting(usize),
    /// Notified; locking again.
    Relock(LockFuture<'a, T>),
    /// Returned its guard.
    Done,
}

/// The future of [`Condition::wait`].
///
/// # Cancel safety
///
/// Dropping it leaves the lock unlocked; a notification it received and did not use
/// goes to the next waiter.
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWait<'a, T: ?Sized> {
    cond: &'a Condition<T>,
    stage: Stage<'a, T>,
}

impl<'a, T: ?Sized> Future for ConditionWait<'a, T> {
    type Output = LockGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a, T>> {
        let this = self.get_mut();
        loop {
            match &mut this.stage {
                Stage::Start(_) => {
                    // Stage 1: queue, then unlock, in this one poll.
                    let key = this.cond.waiters.with(|l| l.push_back((), cx.waker()));
                    let Stage::Start(guard) =
                        std::mem::replace(&mut this.stage, Stage::Waiting(key))
                    else {
                        unreachable!()
                    };
                    drop(guard);
                    return Poll::Pending;
                }
                Stage::Waiting(key) => {
                    let key = *key;
                    if this
                        .cond
                        .waiters
                        .with(|l| l.check(key, cx.waker()))
                        .is_none()
                    {
                        return Poll::Pending;
                    }
                    this.stage = Stage::Relock(this.cond.lock.lock());
                }
                Stage::Relock(fut) => {
                    let guard = std::task::ready!(Pin::new(fut).poll(cx));
                    this.stage = Stage::Done;
                    return Poll::Ready(guard);
                }
                Stage::Done => panic!("ConditionWait polled after completion"),
            }
        }
    }
}

impl<T: ?Sized> Drop for ConditionWait<'_, T> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Waiting(key) => {
                let notified = self.cond.waiters.with(|l| l.remove(key)).is_some();
                if notified {
                    self.cond.pass_on();
                }
            }
            Stage::Relock(fut) => {
                // Unlock first (the lock future passes on a lock it was granted), then
                // hand the notification on.
                drop(fut);
                self.cond.pass_on();
            }
            Stage::Start(_) | Stage::Done => {}
        }
    }
}

impl<T: ?Sized> fmt::Debug for ConditionWait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage {
            Stage::Start(_) => "start",
            Stage::Waiting(_) => "waiting",
            Stage::Relock(_) => "relocking",
            Stage::Done => "done",
        };
        f.debug_struct("ConditionWait")
            .field("stage", &stage)
            .finish()
    }
}
