//! [`sleep`], [`sleep_until`] and the [`Sleep`] future.

use super::wheel::TimerKey;
use super::{Instant, Timers};
use crate::runtime::context;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Waits until `duration` has passed on the runtime's clock.
///
/// A zero duration still yields once to the scheduler, as asyncio's `sleep(0)`.
///
/// ```
/// # ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// let t = ringio::time::Instant::now();
/// ringio::time::sleep(Duration::from_millis(250)).await;
/// assert!(t.elapsed() >= Duration::from_millis(250));
/// # });
/// ```
///
/// # Panics
///
/// When polled outside a ringio runtime.
pub fn sleep(duration: Duration) -> Sleep {
    let now = Instant::now();
    let deadline = now.checked_add(duration).unwrap_or_else(Instant::far_future);
    Sleep { deadline, entry: None, must_yield: duration.is_zero() }
}

/// Waits until `deadline` on the runtime's clock.
///
/// ```
/// # ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
/// use ringio::time::{sleep_until, Instant};
/// use std::time::Duration;
/// let at = Instant::now() + Duration::from_secs(3);
/// sleep_until(at).await;
/// assert!(Instant::now() >= at);
/// # });
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep { deadline, entry: None, must_yield: false }
}

/// The future of [`sleep`] and [`sleep_until`].
///
/// # Cancel safety
///
/// Dropping a `Sleep` removes its timer from the wheel at once; nothing is left behind.
#[must_use = "a sleep does nothing unless awaited"]
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    /// The registered timer, once polled and not yet due.
    entry: Option<Entry>,
    /// A zero sleep has not yielded yet (it must, once).
    must_yield: bool,
}

struct Entry {
    timers: Rc<Timers>,
    key: TimerKey,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Entry").field(&self.key).finish()
    }
}

impl Sleep {
    /// When this sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline, re-arming the sleep even if it had ended.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.unregister();
    }

    fn unregister(&mut self) {
        if let Some(entry) = self.entry.take() {
            entry.timers.remove(entry.key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.must_yield {
            // sleep(0): one trip through the run queue.
            this.must_yield = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let timers = match &this.entry {
            Some(e) => e.timers.clone(),
            None => context::with_core(|core| core.timers.clone()),
        };
        if timers.clock.now() >= this.deadline {
            this.unregister();
            return Poll::Ready(());
        }
        match &this.entry {
            Some(e) => {
                let mut wheel = timers.wheel.borrow_mut();
                if wheel.is_fired(e.key) {
                    // Fired at the deadline's tick but the clock reads just before the
                    // deadline (sub-millisecond rounding): wait one more tick.
                    wheel.remove(e.key);
                    drop(wheel);
                    this.entry = None;
                    let key = timers.insert(this.deadline, cx.waker().clone());
                    this.entry = Some(Entry { timers, key });
                } else {
                    wheel.set_waker(e.key, cx.waker());
                }
            }
            None => {
                let key = timers.insert(this.deadline, cx.waker().clone());
                this.entry = Some(Entry { timers, key });
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.unregister();
    }
}
