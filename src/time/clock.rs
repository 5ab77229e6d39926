//! The worker's clock: real, or paused and moved only by the runtime.

use super::Instant;
use std::cell::Cell;
use std::time::Duration;

/// A monotonic clock that can be paused for tests.
///
/// Paused, it reads `base + offset`, and the worker moves `offset` forward to the next
/// timer's deadline when no task can run, so time-dependent code is tested without
/// waiting for wall time.
pub(crate) struct Clock {
    base: std::time::Instant,
    paused: bool,
    offset: Cell<Duration>,
}

impl Clock {
    pub(crate) fn new(paused: bool) -> Clock {
        Clock {
            base: std::time::Instant::now(),
            paused,
            offset: Cell::new(Duration::ZERO),
        }
    }

    pub(crate) fn base(&self) -> std::time::Instant {
        self.base
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    pub(crate) fn now(&self) -> Instant {
        if self.paused {
            Instant::from_std(self.base + self.offset.get())
        } else {
            Instant::from_std(std::time::Instant::now())
        }
    }

    /// Moves a paused clock forward to `to` (never backwards).
    pub(crate) fn advance_to(&self, to: Instant) {
        debug_assert!(self.paused, "only a paused clock is advanced by hand");
        let target = to.into_std().saturating_duration_since(self.base);
        if target > self.offset.get() {
            self.offset.set(target);
        }
    }
}
