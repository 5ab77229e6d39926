//! OS signals as streams: [`ctrl_c`] and [`signal`] (asyncio's `add_signal_handler`).
//!
//! Each call subscribes: the returned [`Signal`] yields one item per delivery of its
//! signal from the moment it was made, and every subscriber sees every delivery, on
//! whichever worker or runtime it lives. Nothing runs in signal context but a counter
//! and a wake: the item is seen by an ordinary task, so it may do anything.
//!
//! ```
//! use ringio::signal::{signal, SignalKind};
//!
//! ringio::run(async {
//!     let mut hangups = signal(SignalKind::hangup()).unwrap();
//!     // Another process would `kill -HUP` us; here we send it ourselves.
//!     nix::sys::signal::raise(nix::sys::signal::SIGHUP).unwrap();
//!     hangups.recv().await;
//!     println!("reloading configuration");
//! });
//! ```
//!
//! # How it works, and what it changes for the process
//!
//! The first subscriber to a signal installs a handler for it (`sigaction`), and the
//! last one to go puts the previous disposition back: while a [`Signal`] for SIGINT
//! lives, Ctrl-C no longer kills the process; afterwards it does again. The handler
//! counts the delivery and wakes each subscriber through an eventfd that its worker
//! reads through the ring (a readiness wait and a read on epoll). A handler rather
//! than a signalfd, because a handler catches the signal in every thread of the
//! process, including threads ringio does not own, so no thread's signal mask needs
//! changing, and children started by [`process`](crate::process) (or anything else)
//! start with the default mask and dispositions.
//!
//! Deliveries of one signal that arrive while it is already pending in the kernel
//! merge into one (standard signals are not queued); deliveries that the handler saw
//! separately are yielded separately. A signal blocked in every thread of the process
//! is never delivered, so never seen.

use crate::driver::ops::EventfdRead;
use crate::driver::signal::{deliveries, Subscription};
use crate::driver::Op;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Which signal: a thin wrapper over the signal number, with constructors for the
/// common ones.
///
/// ```
/// use ringio::signal::SignalKind;
/// assert_eq!(SignalKind::terminate().as_raw(), libc::SIGTERM);
/// assert_eq!(SignalKind::from_raw(libc::SIGUSR1), SignalKind::user_defined1());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// Any signal by number (checked when subscribing).
    pub const fn from_raw(signal: i32) -> SignalKind {
        SignalKind(signal)
    }

    /// The signal number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    /// SIGINT: Ctrl-C in a terminal.
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// SIGTERM: a polite request to stop (`kill`, service managers, container stops).
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// SIGHUP: the terminal closed; by convention, reload configuration.
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// SIGQUIT: Ctrl-\ in a terminal.
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// SIGUSR1.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// SIGUSR2.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// SIGCHLD: a child stopped or exited (ringio's own processes need no handler).
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }

    /// SIGPIPE: a write to a pipe or socket with no reader. (Rust programs ignore it by
    /// default, so writes fail with `BrokenPipe` instead.)
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }

    /// SIGALRM: a timer set by `alarm(2)` expired.
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }

    /// SIGWINCH: the terminal's size changed.
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }
}

impl From<SignalKind> for i32 {
    /// The signal number, so a `SignalKind` goes wherever a number does
    /// ([`Child::send_signal`](crate::process::Child::send_signal)).
    fn from(kind: SignalKind) -> i32 {
        kind.0
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // strsignal(3) is not thread-safe: name the common ones here.
        let name = match self.0 {
            libc::SIGINT => "SIGINT",
            libc::SIGTERM => "SIGTERM",
            libc::SIGHUP => "SIGHUP",
            libc::SIGQUIT => "SIGQUIT",
            libc::SIGUSR1 => "SIGUSR1",
            libc::SIGUSR2 => "SIGUSR2",
            libc::SIGCHLD => "SIGCHLD",
            libc::SIGPIPE => "SIGPIPE",
            libc::SIGALRM => "SIGALRM",
            libc::SIGWINCH => "SIGWINCH",
            libc::SIGKILL => "SIGKILL",
            libc::SIGSTOP => "SIGSTOP",
            n => return write!(f, "signal {n}"),
        };
        f.write_str(name)
    }
}

/// Subscribes to `kind`: a stream with one item per delivery from now on.
///
/// Works outside a runtime too (deliveries count from the call); the stream must be
/// polled inside one.
///
/// # Errors
///
/// `InvalidInput` for a number that is not a signal, for SIGKILL and SIGSTOP (which
/// cannot be caught), and for the synchronous faults SIGSEGV, SIGBUS, SIGILL and SIGFPE
/// (a handler would return to the faulting instruction forever). Otherwise as
/// `sigaction(2)` and `eventfd(2)`, or `Other` past 1024 subscribers in the process.
///
/// ```
/// use ringio::signal::{signal, SignalKind};
/// let err = signal(SignalKind::from_raw(libc::SIGKILL)).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let subscription = Subscription::new(kind.0)?;
    // Counted after the handler is in: deliveries before this call are not ours.
    let seen = deliveries(kind.0);
    Ok(Signal {
        kind,
        subscription,
        seen,
        wake: None,
    })
}

/// Subscribes to SIGINT (Ctrl-C): [`signal`]`(SignalKind::interrupt())`.
///
/// ```no_run
/// ringio::run(async {
///     let mut ctrl_c = ringio::signal::ctrl_c().unwrap();
///     ctrl_c.recv().await;
///     println!("shutting down");
/// });
/// ```
///
/// # Errors
///
/// As [`signal`].
pub fn ctrl_c() -> io::Result<Signal> {
    signal(SignalKind::interrupt())
}

/// A subscription to one signal: a [`Stream`](futures_core::Stream) of its deliveries
/// that never ends. Dropping it unsubscribes (and, for the last subscriber, restores
/// the signal's previous disposition).
///
/// # Cancel safety
///
/// [`recv`](Signal::recv) is cancel-safe: a delivery is counted in the process, not in
/// the future, so one that arrives while no `recv` is waiting is yielded by the next.
pub struct Signal {
    kind: SignalKind,
    subscription: Subscription,
    /// Deliveries of the signal already yielded (or before subscribing).
    seen: u64,
    /// The eventfd read in progress, kept between polls.
    wake: Option<Op<EventfdRead>>,
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("kind", &self.kind)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl Signal {
    /// The signal this subscribes to.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }

    /// Waits for the next delivery. Always `Some(())`: the stream never ends (the
    /// `Option` matches the `Stream` form and tokio's `recv`).
    pub async fn recv(&mut self) -> Option<()> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The poll form of [`recv`](Signal::recv).
    ///
    /// # Panics
    ///
    /// If a delivery must be waited for outside a ringio runtime.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        loop {
            if deliveries(self.kind.0) > self.seen {
                self.seen += 1;
                return Poll::Ready(Some(()));
            }
            // Armed after the check: a delivery between the two has written the eventfd,
            // so the read completes at once.
            let wake = self.wake.get_or_insert_with(|| self.subscription.wake());
            match Pin::new(wake).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => {
                    self.wake = None;
                    match result {
                        // Cancelled by its driver's shutdown: wait again on this one.
                        Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => {}
                        // Reading an eventfd does not fail otherwise; if it ever does,
                        // retrying would be a busy loop that hides it.
                        Err(e) => panic!("ringio: reading a signal eventfd failed: {e}"),
                        Ok(()) => {}
                    }
                }
            }
        }
    }
}

impl futures_core::Stream for Signal {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.get_mut().poll_recv(cx)
    }
}
