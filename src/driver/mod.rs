//! The I/O driver: operations, the op table, and the io_uring and epoll backends.
//!
//! Every I/O call is a value implementing [`Operation`], an `unsafe` trait with two
//! faces, written once per operation:
//!
//! - the **io_uring face** builds a submission queue entry ([`Operation::uring_entry`]);
//! - the **readiness face** names the fd and interest to wait for
//!   ([`Operation::readiness`]) and makes the non-blocking syscall
//!   ([`Operation::attempt`]).
//!
//! Both faces end in [`Operation::complete`], which turns the raw result into the
//! operation's output. [`Op<T>`] is the future that drives an operation on whichever
//! backend the runtime runs; nothing above this module knows which one that is.
//!
//! # Implementation
//!
//! The contract each backend meets:
//!
//! 1. Every pointer an operation's entry carries (buffers, iovecs, socket addresses)
//!    points into heap memory the operation owns, so the operation itself can live
//!    inline in its future and move freely: the common path allocates nothing.
//! 2. That memory is freed only after the kernel is done with it: on io_uring, when
//!    the completion arrives; if the [`Op`] is dropped first, the operation is boxed
//!    into the op table's slot as an orphan and an async-cancel is submitted (see
//!    `uring.rs`). On epoll nothing is ever in flight in the kernel between polls, so a
//!    drop frees it at once.
//! 3. Dropping the driver cancels every in-flight operation and waits for all their
//!    completions before it frees anything.

mod epoll;
mod fd;
pub(crate) mod fixed;
mod op;
pub(crate) mod ops;
mod signal;
mod sys;
pub(crate) mod uring;

pub(crate) use fd::Fd;
pub(crate) use op::Op;
pub(crate) use signal::{sigint_count, SigintGuard};

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// What a readiness-based backend waits for before retrying an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    Read,
    Write,
}

/// The readiness face's plan for an operation.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Readiness {
    /// Retry [`Operation::attempt`] when `fd` is ready for the interest.
    Fd(RawFd, Interest),
    /// [`Operation::attempt`] never blocks: make it once.
    Immediate,
}

/// An I/O operation, with its io_uring face and its readiness face.
///
/// # Safety
///
/// An implementer promises that every pointer placed in the entry returned by
/// [`uring_entry`](Operation::uring_entry) points into heap memory that `self` owns and
/// that stays valid, at the same address, while `self` lives, even as `self` moves: a
/// `Vec`, a `Box` or an [`IoBuf`](crate::buf::IoBuf) held by a field, never a field of
/// `self` itself (operations live inline in their futures and are moved into the op
/// table when orphaned). The driver upholds the other half: it keeps the operation
/// alive until the kernel has finished with it.
pub(crate) unsafe trait Operation: 'static {
    /// What the operation produces.
    type Output;

    /// The operation completed after its future was dropped (io_uring only). Whatever
    /// the result created must not be lost silently: a new fd is closed, or handed to
    /// its owner (a late accept is queued on its listener).
    fn release_orphan(self: Box<Self>, result: io::Result<u32>, flags: u32) {
        let _ = (result, flags);
    }

    /// The submission queue entry. `user_data` is set by the driver. Called again
    /// only to resubmit after the kernel returned `EAGAIN`.
    fn uring_entry(&mut self) -> io_uring::squeue::Entry;

    /// What to wait for between attempts on a readiness backend.
    fn readiness(&self) -> Readiness;

    /// The non-blocking syscall: `Err(WouldBlock)` means wait for readiness and retry.
    /// Returns the raw result (a count, or an fd) as a completion would.
    fn attempt(&mut self) -> io::Result<u32>;

    /// Turns the raw result (and the completion's flags, 0 on epoll) into the output.
    fn complete(self, result: io::Result<u32>, flags: u32) -> Self::Output;
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
}

/// A backend, picked at run time.
// One per worker, behind an `Rc<RefCell<_>>` and never moved: the size gap between the
// variants costs nothing, while boxing the ring would add a pointer chase per operation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Backend {
    Uring(uring::Uring),
    Epoll(epoll::Epoll),
}

impl Backend {
    /// Builds the backend `choice` asks for, falling back from `Auto` to epoll with the
    /// reason recorded.
    pub(crate) fn new(choice: Driver, config: &DriverConfig) -> io::Result<(Backend, DriverInfo)> {
        match choice {
            Driver::Epoll => {
                let (e, info) = epoll::Epoll::new(None)?;
                Ok((Backend::Epoll(e), info))
            }
            Driver::Uring => {
                let (u, info) = uring::Uring::new(config).map_err(|e| {
                    io::Error::new(e.kind(), format!("io_uring driver unavailable: {e}"))
                })?;
                Ok((Backend::Uring(u), info))
            }
            Driver::Auto => match uring::Uring::new(config) {
                Ok((u, info)) => Ok((Backend::Uring(u), info)),
                Err(e) => {
                    let (ep, info) = epoll::Epoll::new(Some(e.to_string()))?;
                    Ok((Backend::Epoll(ep), info))
                }
            },
        }
    }

    /// A handle other threads use to wake this backend out of [`park`](Backend::park).
    pub(crate) fn unparker(&self) -> Arc<Unparker> {
        match self {
            Backend::Uring(u) => u.unparker(),
            Backend::Epoll(e) => e.unparker(),
        }
    }

    /// Submits what is queued and reaps completions or readiness, waking their tasks.
    /// Waits at most `timeout` for at least one event (`None`: until one arrives;
    /// zero: does not wait).
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Backend::Uring(u) => u.park(timeout),
            Backend::Epoll(e) => e.park(timeout),
        }
    }

    /// One busy-poll check: reaps events if there are any, without sleeping. True if it
    /// found some. On io_uring it costs no syscall unless there is something to reap.
    pub(crate) fn poll_events(&mut self) -> io::Result<bool> {
        match self {
            Backend::Uring(u) => {
                if !u.has_pending_events() {
                    return Ok(false);
                }
                let before = u.io_counts().1;
                u.park(Some(Duration::ZERO))?;
                Ok(u.io_counts().1 != before)
            }
            Backend::Epoll(e) => {
                let before = e.io_counts().1;
                e.park(Some(Duration::ZERO))?;
                Ok(e.io_counts().1 != before)
            }
        }
    }

    /// Operations the kernel still holds (io_uring) or tasks waiting on readiness.
    pub(crate) fn in_flight(&self) -> usize {
        match self {
            Backend::Uring(u) => u.in_flight(),
            Backend::Epoll(e) => e.waiting(),
        }
    }

    /// Whether zero-copy sends (IORING_OP_SEND_ZC) are available.
    pub(crate) fn send_zc(&self) -> bool {
        matches!(self, Backend::Uring(u) if u.send_zc())
    }

    /// Whether this is the io_uring backend.
    pub(crate) fn is_uring(&self) -> bool {
        matches!(self, Backend::Uring(_))
    }

    /// The registered buffer table (io_uring with `Builder::fixed_buffers`).
    pub(crate) fn fixed_buffers(&self) -> Option<Rc<fixed::FixedBuffers>> {
        match self {
            Backend::Uring(u) => u.fixed_buffers(),
            Backend::Epoll(_) => None,
        }
    }

    /// The registered file table (io_uring with `Builder::fixed_files`).
    pub(crate) fn fixed_files(&self) -> Option<Rc<fixed::FixedFiles>> {
        match self {
            Backend::Uring(u) => u.fixed_files(),
            Backend::Epoll(_) => None,
        }
    }

    /// Multishot operations armed (io_uring; 0 on epoll).
    pub(crate) fn multishot_armed(&self) -> usize {
        match self {
            Backend::Uring(u) => u.multishot_armed(),
            Backend::Epoll(_) => 0,
        }
    }

    /// The ring fd other workers may MSG_RING to wake this one (io_uring with MSG_RING).
    pub(crate) fn msg_ring_fd(&self) -> Option<RawFd> {
        match self {
            Backend::Uring(u) => u.msg_ring_fd(),
            Backend::Epoll(_) => None,
        }
    }

    /// Submits queued entries without waiting (io_uring; nothing to do on epoll).
    pub(crate) fn flush_submissions(&mut self) {
        if let Backend::Uring(u) = self {
            u.submit_queued();
        }
    }

    /// Queues a MSG_RING wake for ring `target`; false where this backend cannot.
    pub(crate) fn send_msg_ring(&mut self, target: RawFd) -> bool {
        match self {
            Backend::Uring(u) => u.send_msg_ring(target),
            Backend::Epoll(_) => false,
        }
    }

    /// (entries submitted, completions or events reaped, enter or wait calls).
    pub(crate) fn io_counts(&self) -> (u64, u64, u64) {
        match self {
            Backend::Uring(u) => u.io_counts(),
            Backend::Epoll(e) => e.io_counts(),
        }
    }

    /// (submission-queue-full events, completion-queue overflows); zero on epoll.
    pub(crate) fn queue_events(&self) -> (u64, u64) {
        match self {
            Backend::Uring(u) => u.queue_events(),
            Backend::Epoll(_) => (0, 0),
        }
    }

    /// Registers a provided buffer ring (io_uring with rings); `None` where this backend
    /// has none, and receives use a plain free list instead.
    ///
    /// # Safety
    ///
    /// `ring_addr` must point to `entries * 16` page-aligned bytes that stay valid until
    /// the group is unregistered or the ring is closed.
    pub(crate) unsafe fn register_buf_ring(
        &mut self,
        ring_addr: u64,
        entries: u16,
    ) -> Option<io::Result<(u16, RawFd)>> {
        match self {
            Backend::Uring(u) if u.multishot() => {
                // SAFETY: the caller's guarantee, passed on.
                Some(unsafe { u.register_buf_ring(ring_addr, entries) })
            }
            _ => None,
        }
    }

    /// The io_uring backend, if that is what runs.
    pub(crate) fn as_uring(&mut self) -> Option<&mut uring::Uring> {
        match self {
            Backend::Uring(u) => Some(u),
            Backend::Epoll(_) => None,
        }
    }

    /// Forgets what the backend knows of `fd`, which is about to be closed.
    pub(crate) fn forget_fd(&mut self, fd: RawFd) {
        if let Backend::Epoll(e) = self {
            e.forget_fd(fd);
        }
    }
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
