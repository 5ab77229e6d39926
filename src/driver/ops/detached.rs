//! Detached sends (`write_all_detached` of the stream types, io_uring only): a send
//! that no future waits for, so its completion wakes no task.
//!
//! An echo or a proxy that awaits each send polls its task twice per message: once
//! when the data arrives, once when the send completes. A detached send is handed to
//! the kernel and the task goes on at once; the completion is routed (through the op
//! table's `Detached` slot) to the stream's [`WriteBehind`], which frees the buffer (a
//! pooled one goes back to its pool at that moment, not at the task's next poll), keeps
//! the first error for the stream's next write, and wakes a task only if one waits.
//!
//! A stream holds its `WriteBehind` only while it has a send in flight or something to
//! report: a send that ends cleanly with nobody waiting detaches it from the stream and
//! the op table keeps it as a spare for the next detached send (of any stream). So an
//! idle connection holds none, and a busy one allocates none.
//!
//! Order on the stream is kept by allowing one detached send in flight: every write on
//! the stream (detached or not), `shutdown` and `flush` wait for it first. The send
//! carries `MSG_WAITALL`, with which the kernel finishes a short send itself on a stream
//! socket; a short count that still comes back is resubmitted for the rest.

use super::super::Fd;
use crate::buf::{IoBuf, PooledBuf};
use io_uring::{opcode, squeue};
use std::cell::{Cell, RefCell};
use std::io;
use std::task::{Context, Poll, Waker};

/// A buffer a detached send owns: the common kinds held as they are, anything else
/// boxed.
pub(crate) enum DetachedBuf {
    Pooled(PooledBuf),
    Vec(Vec<u8>),
    Other(Box<dyn IoBuf>),
}

impl DetachedBuf {
    /// Takes `buf`; only a buffer of a kind without its own variant is boxed.
    pub(crate) fn new<B: IoBuf>(buf: B) -> DetachedBuf {
        let mut slot = Some(buf);
        // A type check the compiler resolves per `B`: no allocation for the common kinds.
        let any = &mut slot as &mut dyn std::any::Any;
        if let Some(pooled) = any.downcast_mut::<Option<PooledBuf>>() {
            return DetachedBuf::Pooled(pooled.take().expect("just set"));
        }
        if let Some(vec) = any.downcast_mut::<Option<Vec<u8>>>() {
            return DetachedBuf::Vec(vec.take().expect("just set"));
        }
        DetachedBuf::Other(Box::new(slot.take().expect("just set")))
    }

    /// The bytes to send: where they start (stable while the buffer lives, by the
    /// `IoBuf` contract) and how many.
    fn bytes(&self) -> (*const u8, usize) {
        match self {
            DetachedBuf::Pooled(b) => (b.stable_ptr(), b.bytes_init()),
            DetachedBuf::Vec(b) => (IoBuf::stable_ptr(b), IoBuf::bytes_init(b)),
            DetachedBuf::Other(b) => (b.stable_ptr(), b.bytes_init()),
        }
    }
}

/// The send in flight: the fd (kept open while the kernel sends, even if the stream is
/// dropped), the buffer the entry points into, and how much of it the kernel has taken.
struct InFlight {
    fd: Fd,
    buf: DetachedBuf,
    sent: usize,
}

impl InFlight {
    /// The send of what is left.
    #[inline(always)]
    fn entry(&self) -> squeue::Entry {
        let (ptr, len) = self.buf.bytes();
        // `sent < len` here: the caller checked.
        let rest = (len - self.sent).min(u32::MAX as usize) as u32;
        let ptr = ptr.wrapping_add(self.sent);
        on_fd!(self.fd, |fd| opcode::Send::new(fd, ptr, rest)
            .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
            .build())
    }
}

/// A stream's detached-send state, held by its fd while a send is in flight or has
/// something to report (else a spare in the op table): the one send in flight, the
/// first error not yet reported, and the task waiting for the send to finish.
pub(crate) struct WriteBehind {
    in_flight: RefCell<Option<InFlight>>,
    error: Cell<Option<io::Error>>,
    waiter: Cell<Option<Waker>>,
}

impl WriteBehind {
    pub(crate) fn new() -> WriteBehind {
        WriteBehind {
            in_flight: RefCell::new(None),
            error: Cell::new(None),
            waiter: Cell::new(None),
        }
    }

    /// Ready once no detached send is in flight, with the first error of those that
    /// finished since the last call (taken: it is reported once).
    pub(crate) fn poll_idle(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_busy() {
            self.waiter.set(Some(cx.waker().clone()));
            return Poll::Pending;
        }
        match self.error.take() {
            None => Poll::Ready(Ok(())),
            Some(e) => Poll::Ready(Err(e)),
        }
    }

    /// Sends all of `buf` (not empty) on `fd` through `uring`, detached. The caller
    /// saw [`poll_idle`](WriteBehind::poll_idle) ready with `Ok` in this same poll.
    #[inline]
    pub(crate) fn start(
        self: &std::rc::Rc<WriteBehind>,
        uring: &mut super::super::uring::Uring,
        fd: Fd,
        buf: DetachedBuf,
    ) {
        let mut slot = self.in_flight.borrow_mut();
        debug_assert!(slot.is_none(), "ringio: a second detached send in flight");
        let entry = slot.insert(InFlight { fd, buf, sent: 0 }).entry();
        drop(slot);
        // SAFETY: the entry points into the buffer `self.in_flight` now owns; it stays
        // there until this send's completion, and the slot keeps `self` alive.
        unsafe { uring.submit_detached(entry, self.clone()) };
    }

    /// Records `err` unless an earlier error waits to be reported.
    fn fail(&self, err: io::Error) {
        let first = self.error.take().unwrap_or(err);
        self.error.set(Some(first));
    }
}

/// What a detached send's completion leaves to the op table.
pub(crate) enum AfterSend {
    /// Done; the stream still holds the `WriteBehind` (an error to report, or a task
    /// waiting).
    Kept,
    /// Done and detached from its stream: a spare for the next detached send.
    Spare,
    /// Bytes are left: submit this entry for them, for the same `WriteBehind`.
    Resubmit(squeue::Entry),
}

impl WriteBehind {
    /// The completion of the send in flight (in the driver's reap, with the driver
    /// borrowed: it may release memory and wake a task, not reach the driver).
    pub(crate) fn on_completion(&self, result: i32) -> AfterSend {
        let mut slot = self.in_flight.borrow_mut();
        let in_flight = slot.as_mut().expect("a completion with a send in flight");
        match result {
            n if n > 0 => {
                in_flight.sent += n as usize;
                if in_flight.sent < in_flight.buf.bytes().1 {
                    return AfterSend::Resubmit(in_flight.entry());
                }
            }
            0 => self.fail(io::ErrorKind::WriteZero.into()),
            e if e == -libc::EAGAIN || e == -libc::EINTR => {
                return AfterSend::Resubmit(in_flight.entry())
            }
            e => self.fail(io::Error::from_raw_os_error(-e)),
        }
        let done = slot.take().expect("checked above");
        drop(slot);
        let waiter = self.waiter.take();
        let error = self.error.take();
        let after = match (waiter, error) {
            (None, None) => {
                // Nothing to tell the stream: it no longer needs this state.
                done.fd.detach_write_behind(self);
                AfterSend::Spare
            }
            (waiter, error) => {
                self.error.set(error);
                if let Some(w) = waiter {
                    w.wake();
                }
                AfterSend::Kept
            }
        };
        // Last, outside the borrow: dropping the fd may close the socket.
        drop(done);
        after
    }

    /// The entry [`on_completion`](WriteBehind::on_completion) asked to resubmit will
    /// not be (the driver is being dropped): end the send, freeing its buffer.
    pub(crate) fn abandon(&self) {
        self.fail(io::Error::from_raw_os_error(libc::ECANCELED));
        let done = self.in_flight.borrow_mut().take();
        if let Some(w) = self.waiter.take() {
            w.wake();
        }
        drop(done);
    }

    /// Whether a send is in flight.
    pub(crate) fn is_busy(&self) -> bool {
        self.in_flight.borrow().is_some()
    }
}
