//! A bounded multi-producer, single-consumer channel that works across workers and
//! plain threads.
//!
//! ```
//! let rt = ringio::Builder::new().workers(2).build().unwrap();
//! let (tx, mut rx) = ringio::sync::mpsc::channel::<u32>(16);
//! let producer = std::thread::spawn(move || {
//!     for i in 0..100 {
//!         tx.blocking_send(i).unwrap();
//!     }
//! });
//! let sum = rt.block_on(async move {
//!     let mut sum = 0;
//!     while let Some(v) = rx.recv().await {
//!         sum += v;
//!     }
//!     sum
//! });
//! producer.join().unwrap();
//! assert_eq!(sum, 4950);
//! ```
//!
//! # Implementation
//!
//! One mutex guards the queue and the waiters: simple and correct first (per-sender
//! FIFO follows from the single queue). A sender that finds the queue full waits in a
//! FIFO of wakers (async) or on a condvar (blocking); each item received wakes one.
//! A sender woken for room but dropped before it sends passes the wake on, so no wake
//! is lost. When the receiver goes, waiting and later senders get their item back.
//!
//! Under `cfg(all(test, loom))` the mutex, condvar and `Arc` are loom's, so the loom
//! models in `sync/loom_models.rs` run this very code.

#[cfg(all(test, loom))]
use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
#[cfg(not(all(test, loom)))]
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

struct State<T> {
    queue: VecDeque<T>,
    capacity: usize,
    senders: usize,
    receiver_alive: bool,
    receiver: Option<Waker>,
    /// Async senders waiting for room, oldest first: (waiter id, waker).
    waiting_senders: VecDeque<(u64, Waker)>,
    next_waiter: u64,
    /// Threads blocked in `blocking_send` / `blocking_recv`. The condvars are notified
    /// only when these are non-zero: a notify is a futex syscall even with no waiter.
    blocked_senders: usize,
    blocked_receiver: bool,
}

struct Chan<T> {
    state: Mutex<State<T>>,
    /// Blocking senders wait here for room.
    room: Condvar,
    /// A blocking receiver waits here for items.
    items: Condvar,
}

impl<T> Chan<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Creates a channel holding at most `capacity` items.
///
/// # Panics
///
/// If `capacity` is zero.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "a channel needs room for at least one item");
    let chan = Arc::new(Chan {
        state: Mutex::new(State {
            queue: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
            senders: 1,
            receiver_alive: true,
            receiver: None,
            waiting_senders: VecDeque::new(),
            next_waiter: 0,
            blocked_senders: 0,
            blocked_receiver: false,
        }),
        room: Condvar::new(),
        items: Condvar::new(),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The sending half; clone it for more producers. `Send + Sync`.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half. `Send`, so it can move to the worker that consumes.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

/// The receiver is gone; the item comes back.
#[derive(PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// Why [`Sender::try_send`] did not send; the item comes back.
#[derive(PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is at capacity.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// Why [`Receiver::try_recv`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing queued right now.
    Empty,
    /// Nothing queued, and every sender is gone.
    Disconnected,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full.
    ///
    /// # Errors
    ///
    /// The receiver is gone; the value comes back in the error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes drops the value unsent, and passes on
    /// any room it was woken for.
    pub fn send(&self, value: T) -> Send<'_, T> {
        Send {
            chan: &self.chan,
            value: Some(value),
            waiter: None,
        }
    }

    /// Sends `value` if there is room now.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], with the value.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let st = self.chan.lock();
        if !st.receiver_alive {
            return Err(TrySendError::Closed(value));
        }
        if st.queue.len() >= st.capacity {
            return Err(TrySendError::Full(value));
        }
        push(&self.chan, st, value);
        Ok(())
    }

    /// Sends `value` from a plain thread, blocking it while the channel is full. Do not
    /// call it on a worker thread: it would block the worker's whole loop.
    ///
    /// # Errors
    ///
    /// The receiver is gone; the value comes back in the error.
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        let mut st = self.chan.lock();
        loop {
            if !st.receiver_alive {
                return Err(SendError(value));
            }
            if st.queue.len() < st.capacity {
                push(&self.chan, st, value);
                return Ok(());
            }
            st.blocked_senders += 1;
            st = self.chan.room.wait(st).unwrap_or_else(|e| e.into_inner());
            st.blocked_senders -= 1;
        }
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        !self.chan.lock().receiver_alive
    }
}

/// Queues `value` and wakes the receiver, releasing the lock first.
fn push<T>(chan: &Chan<T>, mut st: MutexGuard<'_, State<T>>, value: T) {
    st.queue.push_back(value);
    let receiver = st.receiver.take();
    let blocked = st.blocked_receiver;
    drop(st);
    if blocked {
        chan.items.notify_one();
    }
    if let Some(w) = receiver {
        w.wake();
    }
}

/// Wakes one waiting sender (async first, else a blocking one): there is room.
fn wake_one_sender<T>(chan: &Chan<T>, st: &mut State<T>) -> Option<Waker> {
    if st.blocked_senders > 0 {
        chan.room.notify_one();
    }
    st.waiting_senders.pop_front().map(|(_, w)| w)
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.lock().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let receiver = {
            let mut st = self.chan.lock();
            st.senders -= 1;
            if st.senders > 0 {
                return;
            }
            st.receiver.take()
        };
        self.chan.items.notify_all();
        if let Some(w) = receiver {
            w.wake();
        }
    }
}

/// The future of [`Sender::send`].
#[must_use = "a send does nothing unless awaited"]
pub struct Send<'a, T> {
    chan: &'a Arc<Chan<T>>,
    value: Option<T>,
    /// Our place among the waiting senders, once we waited.
    waiter: Option<u64>,
}

impl<T> Unpin for Send<'_, T> {}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut st = this.chan.lock();
        let value = this.value.take().expect("Send polled after completion");
        if !st.receiver_alive {
            this.waiter = None;
            return Poll::Ready(Err(SendError(value)));
        }
        if st.queue.len() < st.capacity {
            // If we were still queued (a spurious poll found room), leave the queue.
            if let Some(id) = this.waiter.take() {
                st.waiting_senders.retain(|(i, _)| *i != id);
            }
            push(this.chan, st, value);
            return Poll::Ready(Ok(()));
        }
        this.value = Some(value);
        match this.waiter {
            Some(id) => match st.waiting_senders.iter_mut().find(|(i, _)| *i == id) {
                Some((_, w)) => {
                    if !w.will_wake(cx.waker()) {
                        *w = cx.waker().clone();
                    }
                }
                // Woken, but the room went to another: queue again, at the front.
                None => st.waiting_senders.push_front((id, cx.waker().clone())),
            },
            None => {
                let id = st.next_waiter;
                st.next_waiter += 1;
                st.waiting_senders.push_back((id, cx.waker().clone()));
                this.waiter = Some(id);
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for Send<'_, T> {
    fn drop(&mut self) {
        let Some(id) = self.waiter.take() else { return };
        if self.value.is_none() {
            return;
        }
        let next = {
            let mut st = self.chan.lock();
            let before = st.waiting_senders.len();
            st.waiting_senders.retain(|(i, _)| *i != id);
            let was_woken = st.waiting_senders.len() == before;
            // We were woken for room we will not use: hand it to the next sender.
            if was_woken && st.queue.len() < st.capacity {
                wake_one_sender(self.chan, &mut st)
            } else {
                None
            }
        };
        if let Some(w) = next {
            w.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// Receives the next item; `None` once every sender is gone and the queue is empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an item leaves the queue only in the poll that returns it.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next item.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut st = self.chan.lock();
        if let Some(v) = st.queue.pop_front() {
            let sender = wake_one_sender(&self.chan, &mut st);
            drop(st);
            if let Some(w) = sender {
                w.wake();
            }
            return Poll::Ready(Some(v));
        }
        if st.senders == 0 {
            return Poll::Ready(None);
        }
        match &st.receiver {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.receiver = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Receives an item if one is queued now.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`], or [`TryRecvError::Disconnected`] when every sender is
    /// gone.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut st = self.chan.lock();
        match st.queue.pop_front() {
            Some(v) => {
                let sender = wake_one_sender(&self.chan, &mut st);
                drop(st);
                if let Some(w) = sender {
                    w.wake();
                }
                Ok(v)
            }
            None if st.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Receives from a plain thread, blocking it until an item comes; `None` once every
    /// sender is gone.
    pub fn blocking_recv(&mut self) -> Option<T> {
        let mut st = self.chan.lock();
        loop {
            if let Some(v) = st.queue.pop_front() {
                let sender = wake_one_sender(&self.chan, &mut st);
                drop(st);
                if let Some(w) = sender {
                    w.wake();
                }
                return Some(v);
            }
            if st.senders == 0 {
                return None;
            }
            st.blocked_receiver = true;
            st = self.chan.items.wait(st).unwrap_or_else(|e| e.into_inner());
            st.blocked_receiver = false;
        }
    }

    /// Items queued now.
    pub fn len(&self) -> usize {
        self.chan.lock().queue.len()
    }

    /// Whether nothing is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (waiters, queued) = {
            let mut st = self.chan.lock();
            st.receiver_alive = false;
            (
                std::mem::take(&mut st.waiting_senders),
                std::mem::take(&mut st.queue),
            )
        };
        self.chan.room.notify_all();
        for (_, w) in waiters {
            w.wake();
        }
        drop(queued);
    }
}

impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sender { .. }")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Receiver { .. }")
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a channel whose receiver is gone")
    }
}

impl<T> std::error::Error for SendError<T> {}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("the channel is full"),
            TrySendError::Closed(_) => f.write_str("sending on a channel whose receiver is gone"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("the channel is empty"),
            TryRecvError::Disconnected => {
                f.write_str("the channel is empty and every sender is gone")
            }
        }
    }
}

impl std::error::Error for TryRecvError {}
