//! [`Event`]: a flag that tasks on any worker, and plain threads, can wait for.

use super::park::block_on;
use crate::sync::state::event::{EventState, WaitOp};
use crate::sync::state::StateCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

/// asyncio's `Event` across cores: `Send + Sync`, so share it in an `Arc`.
///
/// It behaves as the per-core [`sync::Event`](crate::sync::Event): `set` releases
/// every current waiter even if `clear` follows at once. A `set` from any thread wakes
/// waiters on any worker, even one asleep in its ring.
///
/// ```
/// use std::sync::Arc;
/// use ringio::sync::shared::Event;
///
/// let rt = ringio::Builder::new().workers(2).build().unwrap();
/// let go = Arc::new(Event::new());
/// let waiter = {
///     let go = go.clone();
///     rt.handle().spawn_on(1, async move { go.wait().await; "went" }).unwrap()
/// };
/// std::thread::spawn(move || go.set()).join().unwrap();
/// assert_eq!(waiter.join().unwrap(), "went");
/// ```
pub struct Event {
    state: Mutex<EventState>,
}

impl Event {
    /// An unset event.
    pub fn new() -> Event {
        Event {
            state: Mutex::new(EventState::new()),
        }
    }

    /// Sets the flag and releases every current waiter, wherever it waits.
    pub fn set(&self) {
        self.state.with(EventState::set).wake();
    }

    /// Clears the flag: later waits block until the next [`set`](Event::set).
    pub fn clear(&self) {
        self.state.with(EventState::clear);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_set()
    }

    /// Waits until the flag is set; returns at once if it is.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped waiter leaves the list; there is nothing to pass on.
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            op: WaitOp::new(&self.state),
        }
    }

    /// Waits from a plain thread, blocking it until the flag is set.
    ///
    /// # Panics
    ///
    /// On a ringio worker thread, whose whole loop it would block.
    #[track_caller]
    pub fn blocking_wait(&self) {
        block_on("Event::blocking_wait", self.wait())
    }
}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("shared::Event")
            .field("set", &self.is_set())
            .finish()
    }
}

/// The future of [`Event::wait`]; `Send`.
///
/// # Cancel safety
///
/// Cancel-safe: dropping it only leaves the list of waiters.
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    op: WaitOp<'a, Mutex<EventState>>,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().op).poll(cx)
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait").finish_non_exhaustive()
    }
}
