//! [`Event`]: a flag that tasks of one worker can wait for.
//!
//! ```
//! use std::rc::Rc;
//! use ringio::sync::Event;
//!
//! ringio::run(async {
//!     let ready = Rc::new(Event::new());
//!     let waiter = {
//!         let ready = ready.clone();
//!         ringio::spawn(async move { ready.wait().await; "released" })
//!     };
//!     ringio::yield_now().await;
//!     ready.set();
//!     assert_eq!(waiter.await.unwrap(), "released");
//! });
//! ```
//!
//! # Implementation
//!
//! `state/event.rs` (shared with [`shared::Event`](super::shared::Event)) in a
//! `RefCell`: `set` grants every queued waiter, so a `clear` before they run does not
//! hold them back.

use super::state::event::{EventState, WaitOp};
use super::state::StateCell;
use super::NotSend;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// asyncio's `Event`: starts unset; [`wait`](Event::wait) returns once it is set.
///
/// [`set`](Event::set) releases **every** task waiting at that moment, even if
/// [`clear`](Event::clear) runs before they resume. Not `Send`: across workers use
/// [`shared::Event`](super::shared::Event).
///
/// ```
/// # ringio::run(async {
/// let ev = ringio::sync::Event::new();
/// ev.set();
/// ev.wait().await; // set: returns at once
/// ev.clear();
/// assert!(!ev.is_set());
/// # });
/// ```
pub struct Event {
    state: RefCell<EventState>,
    _not_send: NotSend,
}

impl Event {
    /// An unset event.
    pub fn new() -> Event {
        Event {
            state: RefCell::new(EventState::new()),
            _not_send: NotSend::default(),
        }
    }

    /// Sets the flag and releases every current waiter.
    pub fn set(&self) {
        self.state.with(EventState::set).wake();
    }

    /// Clears the flag: later waits block until the next [`set`](Event::set). Waiters
    /// already released by a `set` stay released.
    pub fn clear(&self) {
        self.state.with(EventState::clear);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.state.borrow().is_set()
    }

    /// Waits until the flag is set; returns at once if it is.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped waiter leaves the list, and a `set` releases everyone,
    /// so there is nothing to pass on.
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            op: WaitOp::new(&self.state),
        }
    }
}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

/// The future of [`Event::wait`].
///
/// # Cancel safety
///
/// Cancel-safe: dropping it only leaves the list of waiters.
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    op: WaitOp<'a, RefCell<EventState>>,
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
