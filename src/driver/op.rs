//! [`Op<T>`]: the future that drives one [`Operation`] through its worker's driver.

use super::backend::NO_SLOT;
use super::{DriverHandle, Operation};
use crate::runtime::context;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Drives an operation to completion. Nothing happens until the first poll, which
/// binds it to the current worker's driver.
///
/// # Cancel safety
///
/// Dropping an `Op` never frees memory the kernel (or a blocking-pool thread) may still
/// use: an operation in flight moves into its op-table slot as an orphan until its last
/// completion arrives (see the contract in the `driver` module docs). Whatever the
/// operation had done by then is lost, except that fds it produced are closed.
#[must_use = "an operation does nothing until it is awaited"]
pub(crate) struct Op<T: Operation> {
    /// The operation, held inline: no allocation per operation. `None` once the output
    /// has been produced or the operation handed to the driver as an orphan. Moving it
    /// is sound because the [`Operation`] contract keeps every pointer the kernel sees
    /// in heap memory the operation owns, never in the operation's own bytes.
    data: Option<T>,
    /// The driver it runs on, from the first poll.
    driver: Option<DriverHandle>,
    /// Its slot in the driver's op table, or [`NO_SLOT`].
    key: usize,
}

impl<T: Operation> Op<T> {
    pub(crate) fn new(data: T) -> Op<T> {
        Op {
            data: Some(data),
            driver: None,
            key: NO_SLOT,
        }
    }

    /// Asks the kernel to stop the operation while this `Op` keeps it: its completion
    /// comes as usual, `ECANCELED` or its result if it won the race, and with it the
    /// buffers. Does nothing unless an io_uring entry of it is in flight (a readiness
    /// wait on epoll has taken nothing to give back).
    ///
    /// The slot stays this `Op`'s until that completion is polled, so the cancel
    /// cannot reach another operation.
    /// Gives up the operation if nothing is in flight for it in the kernel or on the
    /// pool (a readiness wait, on epoll): completes it at once with `err`, handing back
    /// its buffers. `None` if it cannot be given up that way (ask the kernel with
    /// [`cancel`](Op::cancel) and wait for its completion instead), or if it is done.
    pub(crate) fn abandon(&mut self, err: io::Error) -> Option<T::Output> {
        let driver = self.driver.as_ref()?;
        // No slot: between a readiness wake and the next wait (or yielding for the
        // budget), nothing is in flight either.
        if self.key != NO_SLOT && !driver.abandon_wait(self.key) {
            return None;
        }
        self.key = NO_SLOT;
        let data = self.data.take()?;
        Some(data.complete(Err(err), 0))
    }

    /// Completes the operation at once with `err` before its first poll, handing back
    /// its buffers: for a future that must not start it after all (a write behind a
    /// detached send that failed).
    ///
    /// # Panics
    ///
    /// If the operation was polled already.
    pub(crate) fn fail_unstarted(&mut self, err: io::Error) -> T::Output {
        assert!(
            self.driver.is_none() && self.key == NO_SLOT,
            "ringio: fail_unstarted on an operation already polled"
        );
        let data = self.data.take().expect("not polled, so not completed");
        data.complete(Err(err), 0)
    }

    pub(crate) fn cancel(&self) {
        if let (Some(driver), true) = (&self.driver, self.key != NO_SLOT) {
            driver.cancel_in_flight(self.key);
        }
    }
}

// Nothing relies on an `Op` staying put: the kernel sees only heap memory the operation
// owns (the `Operation` contract), so the future may move between polls.
impl<T: Operation> Unpin for Op<T> {}

impl<T: Operation> Future for Op<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        let Some(data) = this.data.as_mut() else {
            panic!("ringio: an I/O operation was polled after it completed");
        };
        let driver = this.driver.get_or_insert_with(context::driver);
        match driver.poll_op(data, &mut this.key, cx) {
            Poll::Ready((result, flags)) => {
                let data = this.data.take().expect("checked above");
                Poll::Ready(data.complete(result, flags))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: Operation> Op<T> {
    /// `drop` with a slot in flight: hands the operation to the driver as an orphan.
    /// Out of line, so the common drop (nothing in flight) stays a few instructions
    /// that inline into every future holding an `Op`.
    #[cold]
    #[inline(never)]
    fn drop_in_flight(&mut self) {
        if let (Some(driver), Some(data)) = (&self.driver, self.data.take()) {
            driver.orphan(self.key, data);
        }
    }
}

impl<T: Operation> Drop for Op<T> {
    #[inline]
    fn drop(&mut self) {
        if self.key != NO_SLOT {
            self.drop_in_flight();
        }
    }
}

/// An operation with a deadline ([`Deadline`](super::ops::Deadline)): where the kernel
/// does not enforce it (an epoll readiness wait), a timer beside the operation does,
/// abandoning the wait and completing the operation with `TimedOut` when it fires.
#[must_use = "an operation does nothing until it is awaited"]
pub(crate) struct Timed<T: Operation> {
    op: Op<super::ops::Deadline<T>>,
    deadline: crate::time::Instant,
    /// Armed after the first wait the kernel does not time itself.
    timer: Option<Pin<Box<crate::time::Sleep>>>,
    /// The deadline passed and the operation was cancelled in the kernel.
    cancelled: bool,
}

impl<T: Operation> Timed<T> {
    pub(crate) fn new(data: T, timeout: std::time::Duration) -> Timed<T> {
        Timed {
            op: Op::new(super::ops::Deadline::new(data, timeout)),
            deadline: crate::time::Instant::now() + timeout,
            timer: None,
            cancelled: false,
        }
    }
}

impl<T: Operation> Timed<T> {
    /// See [`Op::fail_unstarted`].
    pub(crate) fn fail_unstarted(&mut self, err: io::Error) -> T::Output {
        self.op.fail_unstarted(err)
    }
}

impl<T: Operation> Unpin for Timed<T> {}

impl<T: Operation> Future for Timed<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        if let Poll::Ready(out) = Pin::new(&mut this.op).poll(cx) {
            return Poll::Ready(out);
        }
        let (key, driver) = (this.op.key, this.op.driver.as_ref().expect("polled"));
        if this.cancelled || (key != NO_SLOT && driver.enforces_deadline(key)) {
            return Poll::Pending;
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(crate::time::sleep_until(deadline)));
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        // The deadline passed: give up the wait if nothing is in flight for it, and
        // complete with the buffer (`Deadline` turns ECANCELED into TimedOut). A
        // blocking-pool job cannot be abandoned: it runs to its end.
        match this
            .op
            .abandon(io::Error::from_raw_os_error(libc::ECANCELED))
        {
            Some(out) => Poll::Ready(out),
            None => {
                // In the kernel without a linked timeout (an io_uring poll entry):
                // cancel it; its ECANCELED completion becomes TimedOut.
                this.op.cancel();
                this.cancelled = true;
                Poll::Pending
            }
        }
    }
}
