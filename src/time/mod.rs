//! Time: sleeps, intervals and timeouts on the worker's timer wheel.
//!
//! ```
//! use std::time::Duration;
//! use ringio::time::{sleep, timeout, Instant};
//!
//! ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
//!     let start = Instant::now();
//!     sleep(Duration::from_secs(5)).await; // the paused clock jumps; no wall time passes
//!     assert!(start.elapsed() >= Duration::from_secs(5));
//!     let slow = timeout(Duration::from_secs(1), sleep(Duration::from_secs(2))).await;
//!     assert!(slow.is_err());
//! });
//! ```
//!
//! # Implementation
//!
//! Each worker owns a hierarchical timer wheel (6 levels x 64 slots, 1 ms ticks;
//! `wheel/`), so inserting and cancelling a timer are O(1) and a dropped [`Sleep`]
//! leaves nothing behind. The worker fires expired timers once per loop turn and bounds
//! its wait for I/O by the wheel's next expiration. Times are measured on the worker's
//! clock: the real monotonic clock, or a paused one that jumps straight to the next
//! timer whenever every task is idle (`Builder::start_paused`).

mod clock;
mod error;
mod instant;
mod interval;
mod scope;
mod sleep;
mod timeout;
mod wheel;

pub(crate) use clock::Clock;
pub use error::Elapsed;
pub use instant::Instant;
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use scope::{Timeout, TimeoutStateError};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, timeout_at};

use std::cell::RefCell;
use std::task::Waker;
use wheel::{TimerKey, Wheel};

/// A worker's timers: its wheel and the clock the wheel's ticks count on.
pub(crate) struct Timers {
    pub(crate) clock: Clock,
    wheel: RefCell<Wheel>,
}

impl Timers {
    pub(crate) fn new(clock: Clock) -> Timers {
        Timers {
            clock,
            wheel: RefCell::new(Wheel::new()),
        }
    }

    /// The wheel tick at or after `deadline`: a timer never fires early.
    fn tick_at_or_after(&self, deadline: Instant) -> u64 {
        let since = deadline
            .into_std()
            .saturating_duration_since(self.clock.base());
        u64::try_from(since.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
    }

    fn insert(&self, deadline: Instant, waker: Waker) -> TimerKey {
        let tick = self.tick_at_or_after(deadline);
        self.wheel.borrow_mut().insert(tick, waker)
    }

    fn remove(&self, key: TimerKey) {
        self.wheel.borrow_mut().remove(key);
    }

    /// Fires every timer due by now; their wakers are pushed onto `fired`.
    pub(crate) fn fire_due(&self, fired: &mut Vec<Waker>) -> usize {
        let now = self
            .clock
            .now()
            .into_std()
            .saturating_duration_since(self.clock.base());
        let tick = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        self.wheel.borrow_mut().advance(tick, fired)
    }

    /// When the next timer could fire, if any is pending.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let tick = self.wheel.borrow().next_expiration()?;
        Some(Instant::from_std(self.clock.base()) + std::time::Duration::from_millis(tick))
    }

    /// Timers held, pending or fired but not yet collected.
    pub(crate) fn len(&self) -> usize {
        self.wheel.borrow().len()
    }
}
