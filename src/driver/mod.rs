//! The I/O driver: operations, the op table, and the io_uring and epoll backends.
//!
//! Every I/O call is a value implementing [`Operation`], an `unsafe` trait with two
//! faces, written once per operation:
//!
//! - the **io_uring face** builds a submission queue entry ([`Operation::uring_entry`]);
//! - the **decision face** ([`Operation::decide`]) says how to run it without io_uring:
//!   [`Decision::Wait`] (wait until an fd is ready, then make the non-blocking syscall,
//!   [`Operation::attempt`]), [`Decision::Now`] (make it at once: it never blocks), or
//!   [`Decision::Blocking`] (run a job on the blocking pool). An operation with no
//!   io_uring form (name lookup) uses its decision face on io_uring too.
//!
//! Both faces end in [`Operation::complete`], which turns the raw result into the
//! operation's output. [`Op<T>`] is the future that drives an operation: it holds a
//! [`DriverHandle`] and its slot's key in the op table ([`table`]), and never looks at
//! which backend runs.
//!
//! # The drop-safety contract (both backends)
//!
//! 1. Every pointer an operation hands the kernel or a pool thread (buffers, iovecs,
//!    socket addresses, paths) points into heap memory the operation owns, so the
//!    operation itself can live inline in its future and move freely: the common path
//!    allocates nothing.
//! 2. An operation in flight has a slot in its worker's op table until its last
//!    completion: an io_uring completion, a blocking-pool job's post, or (for an epoll
//!    readiness wait, which the kernel holds nothing for) the wait's removal.
//! 3. If the [`Op`] is dropped while its slot is in flight, the operation is boxed into
//!    the slot as an orphan and the backend cancels it (an async-cancel on io_uring;
//!    nothing can stop a pool job, whose post then frees it). The box is freed only
//!    when the last completion arrives, and whatever the result created (an accepted
//!    fd) is released then.
//! 4. Dropping the driver cancels every operation in flight and waits for all their
//!    completions before it frees anything; what cannot be waited for is leaked, never
//!    freed under the kernel.

mod backend;
mod blocking;
pub(crate) mod buf_ring;
mod epoll;
mod fd;
pub(crate) mod fixed;
mod op;
pub(crate) mod ops;
pub(crate) mod signal;
mod sys;
pub(crate) mod table;
mod uring;

pub(crate) use backend::{Backend, DriverHandle, DriverScope, WeakDriver};
pub(crate) use blocking::{BlockingJob, BlockingSpawner};
pub(crate) use fd::Fd;
pub(crate) use op::{Op, Timed};
pub(crate) use sys::RawSockAddr;

use std::fmt;
use std::io;
use std::os::fd::RawFd;

/// What a readiness wait waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    Read,
    Write,
}

/// The decision face's plan for an operation (compio's shape).
pub(crate) enum Decision<'a> {
    /// Try [`Operation::attempt`]; on `WouldBlock`, wait until `fd` is ready for the
    /// interest and try again.
    Wait(&'a Fd, Interest),
    /// [`Operation::attempt`] never blocks: make it once.
    Now,
    /// Run this job on the blocking pool; its return value is the raw result.
    Blocking(BlockingJob),
}

/// An I/O operation, with its io_uring face and its decision face.
///
/// # Safety
///
/// An implementer promises that every pointer placed in the entry returned by
/// [`uring_entry`](Operation::uring_entry), or captured by the job of a
/// [`Decision::Blocking`], points into heap memory that `self` owns and that stays
/// valid, at the same address, while `self` lives, even as `self` moves: a `Vec`, a
/// `Box` or an [`IoBuf`](crate::buf::IoBuf) held by a field, never a field of `self`
/// itself (operations live inline in their futures and are moved into the op table
/// when orphaned). The driver upholds the other half: it keeps the operation alive
/// until the kernel, or the pool thread, has finished with it.
pub(crate) unsafe trait Operation: 'static {
    /// What the operation produces.
    type Output;

    /// The operation completed after its future was dropped. Whatever the result
    /// created must not be lost silently: a new fd is closed, or handed to its owner (a
    /// late accept is queued on its listener).
    fn release_orphan(self: Box<Self>, result: io::Result<u32>, flags: u32) {
        let _ = (result, flags);
    }

    /// The submission queue entry (`user_data` is set by the driver), or `None` for an
    /// operation with no io_uring form, which then runs by its decision face on
    /// io_uring too. Called again only to resubmit after the kernel returned `EAGAIN`.
    fn uring_entry(&mut self) -> Option<io_uring::squeue::Entry>;

    /// How to run the operation without an io_uring entry (every operation on epoll).
    fn decide(&mut self) -> Decision<'_>;

    /// A deadline for the entry, as IORING_OP_LINK_TIMEOUT linked after it: the kernel
    /// cancels the operation (`ECANCELED`) when it passes. The timespec is heap memory
    /// the operation owns (the kernel reads it when the entries are submitted).
    /// `None` (the default): no deadline.
    fn uring_link_timeout(&self) -> Option<*const io_uring::types::Timespec> {
        None
    }

    /// The non-blocking syscall of a [`Decision::Wait`] or [`Decision::Now`]:
    /// `Err(WouldBlock)` means wait for readiness and retry. Returns the raw result (a
    /// count, or an fd) as a completion would.
    fn attempt(&mut self) -> io::Result<u32> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    /// Whether a successful [`attempt`](Operation::attempt) that returned `result` left
    /// its fd not ready in its direction: a short read or write on a byte stream (its
    /// receive queue emptied, or its send buffer filled). The epoll backend then waits
    /// for the fd's next edge instead of trying the syscall again only to see `EAGAIN`.
    /// Never true for a result of 0 (end of stream stays readable, and has no edge to
    /// come) nor for datagrams, whose short reads say nothing of the queue.
    fn exhausts(&self, result: u32) -> bool {
        let _ = result;
        false
    }

    /// Turns the raw result (and the completion's flags, 0 without io_uring) into the
    /// output.
    fn complete(self, result: io::Result<u32>, flags: u32) -> Self::Output;
}

impl<T: Operation> table::Orphan for T {
    fn release(self: Box<Self>, completion: table::Completion) {
        Operation::release_orphan(self, raw_result(completion.result), completion.flags);
    }
}

/// A raw result as an `io::Result`: negative values are `-errno`.
pub(crate) fn raw_result(res: i32) -> io::Result<u32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as u32)
    }
}

/// Where a multishot operation's completions go (io_uring). The op table keeps the
/// sink alive until the last completion (the one without IORING_CQE_F_MORE), so a sink
/// may own memory the operation's entry points at.
pub(crate) trait Multishot {
    /// One completion. Runs inside the driver's reap, with the driver borrowed: it may
    /// queue results and wake tasks, not reach the driver. Returns true to have the
    /// driver cancel the operation (its owner has queued enough unclaimed results:
    /// backpressure); the owner re-arms it later.
    fn on_completion(&self, result: i32, flags: u32) -> bool;
}

/// Which backend a runtime uses.
///
/// ```
/// use ringio::runtime::{Builder, Driver};
/// let rt = Builder::new().driver(Driver::Epoll).build().unwrap();
/// assert_eq!(rt.driver_info().driver(), Driver::Epoll);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Driver {
    /// io_uring when the kernel lets this process use it, else epoll (the default).
    /// The environment variable `RINGIO_DRIVER` (`auto`, `uring` or `epoll`) overrides
    /// it when the builder was not told explicitly.
    #[default]
    Auto,
    /// io_uring, or an error saying why it cannot start; never a silent fallback.
    Uring,
    /// Readiness-based I/O on epoll.
    Epoll,
}

impl Driver {
    /// Parses `auto`, `uring` or `epoll` (ASCII case-insensitive).
    pub(crate) fn parse(s: &str) -> Option<Driver> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Driver::Auto),
            "uring" | "io_uring" | "io-uring" => Some(Driver::Uring),
            "epoll" => Some(Driver::Epoll),
            _ => None,
        }
    }
}

/// Which backend a runtime runs, with what settings, and why it was chosen.
///
/// ```
/// let rt = ringio::Runtime::new().unwrap();
/// println!("{}", rt.driver_info()); // e.g. "io_uring (SINGLE_ISSUER DEFER_TASKRUN ...)"
/// ```
#[derive(Clone, Debug)]
pub struct DriverInfo {
    pub(crate) driver: Driver,
    pub(crate) flags: Vec<&'static str>,
    pub(crate) entries: u32,
    pub(crate) reason: Option<String>,
}

impl DriverInfo {
    /// The backend that runs: [`Driver::Uring`] or [`Driver::Epoll`], never `Auto`.
    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// The io_uring setup flags and features that took effect (empty on epoll).
    pub fn flags(&self) -> &[&'static str] {
        &self.flags
    }

    /// Submission queue entries (0 on epoll).
    pub fn entries(&self) -> u32 {
        self.entries
    }

    /// Why this backend was chosen when it was not the first choice, e.g.
    /// `"io_uring_setup failed: Operation not permitted (EPERM)"`.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

impl fmt::Display for DriverInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.driver {
            Driver::Uring => write!(
                f,
                "io_uring ({} entries; {})",
                self.entries,
                self.flags.join(" ")
            )?,
            _ => write!(f, "epoll")?,
        }
        if let Some(reason) = &self.reason {
            write!(f, ": {reason}")?;
        }
        Ok(())
    }
}

/// Settings a backend is built with.
#[derive(Clone, Debug)]
pub(crate) struct DriverConfig {
    pub(crate) entries: u32,
    /// SQPOLL with this idle time in milliseconds, if asked for.
    pub(crate) sqpoll_idle: Option<u32>,
    /// Slots of the registered file table (0: none).
    pub(crate) fixed_files: u32,
    /// Slots of the registered buffer table (0: none).
    pub(crate) fixed_buffers: u16,
    /// Use multishot operations and buffer rings where the kernel has them.
    pub(crate) multishot: bool,
    /// The ring's io-wq worker caps (bounded, unbounded); 0 keeps the kernel's.
    pub(crate) io_workers: [u32; 2],
}

/// Wakes a parked backend from any thread (an eventfd write; the backend keeps a read
/// of it armed).
#[derive(Debug)]
pub(crate) struct Unparker {
    eventfd: std::os::fd::OwnedFd,
}

impl Unparker {
    /// `nonblocking` for epoll, which reads it by readiness. io_uring's armed read
    /// needs a blocking one: before Linux 5.19 a read of an `O_NONBLOCK` eventfd
    /// completes at once with `EAGAIN` instead of waiting, and an idle worker would spin.
    pub(crate) fn new(nonblocking: bool) -> io::Result<Unparker> {
        Ok(Unparker {
            eventfd: sys::eventfd(nonblocking)?,
        })
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.eventfd)
    }

    /// Makes the next (or current) park return.
    pub(crate) fn unpark(&self) {
        sys::eventfd_write(self.raw_fd());
    }
}
