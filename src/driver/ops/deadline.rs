//! [`Deadline`]: any operation with a time limit (I/O deadlines).
//!
//! On io_uring the limit is an IORING_OP_LINK_TIMEOUT linked after the operation's
//! entry: the kernel cancels the operation when it passes, and the `ECANCELED` it
//! completes with becomes `TimedOut`. Where the operation waits for readiness (epoll),
//! [`Timed`](crate::driver::Timed) keeps a timer beside it and, when it fires, drops the
//! wait (nothing is in flight in the kernel) and completes the operation with
//! `TimedOut`. Either way the operation's buffer comes back with the error.

use crate::driver::{Decision, Operation};
use io_uring::{squeue, types};
use std::io;
use std::time::Duration;

/// `inner`, limited to `timeout`.
pub(crate) struct Deadline<T> {
    inner: T,
    /// Boxed: the kernel reads it where the linked entry says.
    timespec: Box<types::Timespec>,
}

impl<T: Operation> Deadline<T> {
    pub(crate) fn new(inner: T, timeout: Duration) -> Deadline<T> {
        Deadline {
            inner,
            timespec: Box::new(
                types::Timespec::new()
                    .sec(timeout.as_secs())
                    .nsec(timeout.subsec_nanos()),
            ),
        }
    }
}

/// `ECANCELED` from a deadline's cancel is the deadline passing.
fn timed_out(result: io::Result<u32>) -> io::Result<u32> {
    match result {
        Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the operation's deadline passed",
        )),
        other => other,
    }
}

// SAFETY: the inner entry's pointers are the inner operation's (its own contract); the
// linked timeout points at `self.timespec`, in a box this operation owns.
unsafe impl<T: Operation> Operation for Deadline<T> {
    type Output = T::Output;

    fn release_orphan(self: Box<Self>, result: io::Result<u32>, flags: u32) {
        Box::new(self.inner).release_orphan(result, flags);
    }

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        self.inner.uring_entry()
    }

    fn decide(&mut self) -> Decision<'_> {
        self.inner.decide()
    }

    fn uring_link_timeout(&self) -> Option<*const types::Timespec> {
        Some(&*self.timespec)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        self.inner.attempt()
    }

    fn complete(self, result: io::Result<u32>, flags: u32) -> Self::Output {
        self.inner.complete(timed_out(result), flags)
    }
}
