//! A oneshot channel: one value, sent once, from any thread to a task on any worker
//! (or a plain thread). asyncio's `Future` used as a result slot between threads.
//!
//! ```
//! use ringio::sync::shared::oneshot;
//!
//! let rt = ringio::Builder::new().workers(2).build().unwrap();
//! let (tx, rx) = oneshot::channel();
//! let waiter = rt.handle().spawn_on(1, async move { rx.await }).unwrap();
//! std::thread::spawn(move || tx.send("answer").unwrap()).join().unwrap();
//! assert_eq!(waiter.join().unwrap(), Ok("answer"));
//! ```
//!
//! # Implementation
//!
//! One `Arc<Mutex<..>>` holding the value, the receiver's waker and whether each side
//! is still alive. The receiver is itself the future; the value stays in the slot
//! until the poll that returns it, so dropping a pending receive loses nothing while
//! the receiver is kept.

use super::park::block_on;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

struct State<T> {
    value: Option<T>,
    sender_alive: bool,
    receiver_alive: bool,
    /// The receiving task, once it waits.
    waker: Option<Waker>,
}

struct Inner<T> {
    state: Mutex<State<T>>,
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A new channel: the [`Sender`] sends one value, the [`Receiver`] awaits it. Both are
/// `Send` (for `T: Send`).
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            value: None,
            sender_alive: true,
            receiver_alive: true,
            waker: None,
        }),
    });
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver { inner },
    )
}

/// Sends the channel's one value. Dropping it unsent makes the receiver fail with
/// [`RecvError`].
pub struct Sender<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waking the receiver wherever it waits.
    ///
    /// # Errors
    ///
    /// The receiver is gone; the value comes back.
    pub fn send(self, value: T) -> Result<(), T> {
        let waker = {
            let mut st = self.inner.lock();
            if !st.receiver_alive {
                return Err(value);
            }
            st.value = Some(value);
            st.waker.take()
        };
        // `self` drops here; the receiver sees the value before it sees the drop.
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Whether the receiver is gone, so a send would fail.
    pub fn is_closed(&self) -> bool {
        !self.inner.lock().receiver_alive
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut st = self.inner.lock();
            st.sender_alive = false;
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Receives the channel's value: await it, or call
/// [`try_recv`](Receiver::try_recv) or [`blocking_recv`](Receiver::blocking_recv).
///
/// # Cancel safety
///
/// Awaiting `&mut receiver` is cancel-safe: the value stays in the channel until the
/// poll that returns it.
#[must_use = "a receiver does nothing unless awaited"]
pub struct Receiver<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Receiver<T> {
    /// Takes the value if it has been sent.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] while the sender may still send;
    /// [`TryRecvError::Closed`] if it was dropped unsent (or the value was taken).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut st = self.inner.lock();
        match st.value.take() {
            Some(v) => Ok(v),
            None if st.sender_alive => Err(TryRecvError::Empty),
            None => Err(TryRecvError::Closed),
        }
    }

    /// Waits from a plain thread, blocking it until the value is sent.
    ///
    /// # Errors
    ///
    /// [`RecvError`] if the sender was dropped unsent.
    ///
    /// # Panics
    ///
    /// On a ringio worker thread, whose whole loop it would block.
    #[track_caller]
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        block_on("oneshot::Receiver::blocking_recv", self)
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    /// The value once sent; [`RecvError`] if the sender was dropped unsent (and also
    /// when polled again after the value was returned).
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.inner.lock();
        if let Some(v) = st.value.take() {
            return Poll::Ready(Ok(v));
        }
        if !st.sender_alive {
            return Poll::Ready(Err(RecvError(())));
        }
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let value = {
            let mut st = self.inner.lock();
            st.receiver_alive = false;
            st.waker = None;
            st.value.take()
        };
        // A value sent and never received is dropped here, outside the lock.
        drop(value);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot::Sender { .. }")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot::Receiver { .. }")
    }
}

/// The sender was dropped without sending.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RecvError(());

impl fmt::Debug for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecvError")
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the oneshot sender was dropped without sending")
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::try_recv`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryRecvError {
    /// Not sent yet.
    Empty,
    /// The sender was dropped without sending, or the value was already taken.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("the oneshot value has not been sent"),
            TryRecvError::Closed => f.write_str("the oneshot sender is gone"),
        }
    }
}

impl std::error::Error for TryRecvError {}
