//! The event protocol, behind `Event` and `shared::Event`.
//!
//! # Implementation
//!
//! A flag and a list of waiters. `set` raises the flag and **grants every queued
//! waiter** at once; a waiter returns when its own node is granted, not when it sees
//! the flag. So a `clear` that follows `set` before the waiters run cannot hold them
//! back (asyncio's behaviour), and a waiter that queued after the `clear` waits for the
//! next `set`. The grant is a broadcast, so a granted waiter that is dropped has
//! nothing to pass on.

use super::{StateCell, WaitList, Wakes};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub(crate) struct EventState {
    set: bool,
    waiters: WaitList<(), ()>,
}

impl EventState {
    pub(crate) fn new() -> EventState {
        EventState {
            set: false,
            waiters: WaitList::new(),
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.set
    }

    /// Raises the flag and releases every current waiter.
    pub(crate) fn set(&mut self) -> Wakes {
        self.set = true;
        let mut wakes = Wakes::new();
        self.waiters.grant_all(|_| (), &mut wakes);
        wakes
    }

    pub(crate) fn clear(&mut self) {
        self.set = false;
    }
}

/// Waits until the event is set.
pub(crate) struct WaitOp<'a, C: StateCell<EventState>> {
    cell: &'a C,
    key: Option<usize>,
}

impl<'a, C: StateCell<EventState>> WaitOp<'a, C> {
    pub(crate) fn new(cell: &'a C) -> WaitOp<'a, C> {
        WaitOp { cell, key: None }
    }
}

impl<C: StateCell<EventState>> Future for WaitOp<'_, C> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let key = this.key;
        let ready = this.cell.with(|st| match key {
            None if st.set => true,
            None => {
                this.key = Some(st.waiters.push_back((), cx.waker()));
                false
            }
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

impl<C: StateCell<EventState>> Drop for WaitOp<'_, C> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.cell.with(|st| st.waiters.remove(key));
        }
    }
}
