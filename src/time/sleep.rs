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
    // Made outside a runtime, the runtime's clock (maybe paused) is unknown: count the
    // duration from the first poll instead.
    let deadline = match context::try_with_core(|core| core.timers.clock.now()) {
        Some(now) => Deadline::At(
            now.checked_add(duration)
                .unwrap_or_else(Instant::far_future),
        ),
        None => Deadline::After(duration),
    };
    Sleep {
        deadline,
        entry: None,
        must_yield: duration.is_zero(),
    }
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
    Sleep {
        deadline: Deadline::At(deadline),
        entry: None,
        must_yield: false,
    }
}

/// The future of [`sleep`] and [`sleep_until`].
///
/// # Cancel safety
///
/// Dropping a `Sleep` removes its timer from the wheel at once; nothing is left behind.
#[must_use = "a sleep does nothing unless awaited"]
#[derive(Debug)]
pub struct Sleep {
    deadline: Deadline,
    /// The registered timer, once polled and not yet due.
    entry: Option<Entry>,
    /// A zero sleep has not yielded yet (it must, once).
    must_yield: bool,
}

#[derive(Clone, Copy, Debug)]
enum Deadline {
    At(Instant),
    /// Not yet started: `sleep` was called outside a runtime.
    After(Duration),
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
    /// When this sleep ends. (For a `sleep` made outside a runtime and not yet polled,
    /// the duration counts from now.)
    pub fn deadline(&self) -> Instant {
        match self.deadline {
            Deadline::At(at) => at,
            Deadline::After(d) => Instant::now()
                .checked_add(d)
                .unwrap_or_else(Instant::far_future),
        }
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline()
    }

    /// Moves the deadline, re-arming the sleep even if it had ended.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = Deadline::At(deadline);
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
        let now = timers.clock.now();
        let deadline = match this.deadline {
            Deadline::At(at) => at,
            Deadline::After(d) => {
                let at = now.checked_add(d).unwrap_or_else(Instant::far_future);
                this.deadline = Deadline::At(at);
                at
            }
        };
        if now >= deadline {
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
                    let key = timers.insert(deadline, cx.waker().clone());
                    this.entry = Some(Entry { timers, key });
                } else {
                    wheel.set_waker(e.key, cx.waker());
                }
            }
            None => {
                let key = timers.insert(deadline, cx.waker().clone());
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
