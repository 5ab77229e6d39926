//! Readiness: [`PollIn`], a one-shot wait until a socket is readable; [`PollReady`],
//! the same for either direction; and [`FdReadiness`], the readiness state of an fd
//! ringio did not open (`io::AsyncFd`): one multishot POLL_ADD kept armed on io_uring,
//! one-shot waits on epoll's registration.

use super::multi::{arm, cancel_on, current_driver};
use crate::driver::{Decision, Fd, Interest, Multishot, Op, Operation, WeakDriver};
use crate::runtime::context;
use io_uring::{cqueue, opcode, squeue};
use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Waits until the socket is readable (IORING_OP_POLL_ADD; `poll(2)` on a readiness
/// backend). The pooled receive on an io_uring without buffer rings waits this way, so
/// it takes a buffer only once there is data, as on epoll.
pub(crate) struct PollIn {
    fd: Fd,
}

impl PollIn {
    pub(crate) fn new(fd: Fd) -> PollIn {
        PollIn { fd }
    }
}

// SAFETY: a poll entry carries no pointers.
unsafe impl Operation for PollIn {
    type Output = io::Result<()>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        Some(on_fd!(self.fd, |fd| opcode::PollAdd::new(
            fd,
            libc::POLLIN as u32
        )
        .build()))
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.fd, Interest::Read)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let mut pfd = libc::pollfd {
            fd: self.fd.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one live pollfd without waiting.
        match crate::driver::sys::syscall!(poll(&mut pfd, 1, 0))? {
            0 => Err(io::Error::from(io::ErrorKind::WouldBlock)),
            _ => Ok(pfd.revents as u32),
        }
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}

/// Readiness bit: readable (or hung up, or in error: a read will not block).
pub(crate) const READABLE: u8 = 1;
/// Readiness bit: writable (or in error).
pub(crate) const WRITABLE: u8 = 2;

/// The readiness bits a `poll(2)` event mask means.
fn bits_of(revents: u32) -> u8 {
    let revents = revents as i16;
    let mut bits = 0;
    if revents & (libc::POLLIN | libc::POLLPRI | libc::POLLHUP | libc::POLLERR | libc::POLLRDHUP)
        != 0
    {
        bits |= READABLE;
    }
    if revents & (libc::POLLOUT | libc::POLLHUP | libc::POLLERR) != 0 {
        bits |= WRITABLE;
    }
    bits
}

fn bit_of(interest: Interest) -> u8 {
    match interest {
        Interest::Read => READABLE,
        Interest::Write => WRITABLE,
    }
}

/// A one-shot wait until `fd` is ready for `interest`: POLL_ADD on io_uring, the
/// backend's registration on epoll (after a `poll(2)` that finds it ready already).
/// Returns the event mask.
pub(crate) struct PollReady {
    fd: Fd,
    interest: Interest,
}

impl PollReady {
    pub(crate) fn new(fd: Fd, interest: Interest) -> PollReady {
        PollReady { fd, interest }
    }

    fn mask(&self) -> i16 {
        match self.interest {
            Interest::Read => libc::POLLIN | libc::POLLRDHUP,
            Interest::Write => libc::POLLOUT,
        }
    }
}

// SAFETY: a poll entry carries no pointers.
unsafe impl Operation for PollReady {
    type Output = io::Result<u32>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        let mask = self.mask() as u16 as u32;
        Some(on_fd!(self.fd, |fd| opcode::PollAdd::new(fd, mask).build()))
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.fd, self.interest)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let mut pfd = libc::pollfd {
            fd: self.fd.raw(),
            events: self.mask(),
            revents: 0,
        };
        // SAFETY: polls one live pollfd without waiting.
        match crate::driver::sys::syscall!(poll(&mut pfd, 1, 0))? {
            0 => Err(io::Error::from(io::ErrorKind::WouldBlock)),
            _ => Ok(pfd.revents as u16 as u32),
        }
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<u32> {
        result
    }
}

/// The readiness of one fd, as `io::AsyncFd` sees it: bits set by events and cleared
/// by the user when an operation would block.
///
/// On io_uring (with multishot operations) one POLL_ADD with IORING_POLL_ADD_MULTI
/// stays armed for the fd's life and every event sets bits and wakes every waiter of
/// that direction: one submission per fd, not per wait. Elsewhere each wait is a
/// one-shot [`PollReady`] in the waiting future (epoll's registration), so dropping it
/// simply removes the wait.
pub(crate) struct FdReadiness {
    fd: Fd,
    bits: Cell<u8>,
    /// io_uring: the armed multishot poll, made on first wait.
    multi: RefCell<Option<Rc<PollMulti>>>,
}

impl FdReadiness {
    pub(crate) fn new(fd: Fd) -> FdReadiness {
        FdReadiness {
            fd,
            bits: Cell::new(0),
            multi: RefCell::new(None),
        }
    }

    /// Forgets that the fd is ready for `interest` (an operation would block).
    pub(crate) fn clear(&self, interest: Interest) {
        self.bits.set(self.bits.get() & !bit_of(interest));
        if let Some(multi) = &*self.multi.borrow() {
            multi.clear(bit_of(interest));
        }
    }

    /// Waits until the fd is ready for `interest`.
    pub(crate) async fn ready(&self, interest: Interest) -> io::Result<()> {
        let bit = bit_of(interest);
        loop {
            if self.bits.get() & bit != 0 {
                return Ok(());
            }
            if let Some(multi) = self.multishot() {
                std::future::poll_fn(|cx| multi.poll_ready(bit, cx)).await?;
                self.bits.set(self.bits.get() | bit);
                continue;
            }
            let revents = Op::new(PollReady::new(self.fd.for_op(), interest)).await?;
            self.bits.set(self.bits.get() | bits_of(revents));
            if self.bits.get() & bit == 0 {
                // An event for the other direction only (POLLHUP counts for both).
                self.bits.set(self.bits.get() | bit);
            }
        }
    }

    /// The multishot poll on io_uring (made on first use), or `None` elsewhere.
    fn multishot(&self) -> Option<Rc<PollMulti>> {
        if let Some(multi) = &*self.multi.borrow() {
            return Some(multi.clone());
        }
        let driver = context::driver();
        if !driver.backend_ref().multishot() {
            return None;
        }
        let multi = PollMulti::new(self.fd.for_op());
        *self.multi.borrow_mut() = Some(multi.clone());
        Some(multi)
    }
}

impl Drop for FdReadiness {
    fn drop(&mut self) {
        if let Some(multi) = self.multi.get_mut().take() {
            multi.close();
        }
    }
}

/// The multishot POLL_ADD of one [`FdReadiness`] (io_uring).
pub(crate) struct PollMulti {
    fd: Fd,
    driver: WeakDriver,
    state: RefCell<PollState>,
}

struct PollState {
    /// Bits seen since the user last cleared them.
    bits: u8,
    /// The op table slot while the kernel holds the poll armed.
    armed: Option<u32>,
    waiters: Vec<(u8, Waker)>,
    closed: bool,
}

impl PollMulti {
    fn new(fd: Fd) -> Rc<PollMulti> {
        Rc::new(PollMulti {
            fd,
            driver: current_driver(),
            state: RefCell::new(PollState {
                bits: 0,
                armed: None,
                waiters: Vec::new(),
                closed: false,
            }),
        })
    }

    fn clear(&self, bits: u8) {
        self.state.borrow_mut().bits &= !bits;
    }

    /// Ready once an event set `bit`; arms the poll if it is not armed.
    fn poll_ready(self: &Rc<Self>, bit: u8, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.state.borrow_mut();
        if state.bits & bit != 0 {
            return Poll::Ready(Ok(()));
        }
        if !state
            .waiters
            .iter()
            .any(|(b, w)| *b == bit && w.will_wake(cx.waker()))
        {
            state.waiters.push((bit, cx.waker().clone()));
        }
        if state.armed.is_none() {
            drop(state);
            let mask = (libc::POLLIN | libc::POLLRDHUP | libc::POLLOUT) as u16 as u32;
            let entry = on_fd!(self.fd, |fd| opcode::PollAdd::new(fd, mask)
                .multi(true)
                .build());
            let driver = self.driver.upgrade().unwrap_or_else(context::driver);
            arm(&driver, entry, self.clone(), &self.state, |s| &mut s.armed);
            if self.state.borrow().bits & bit != 0 {
                return Poll::Ready(Ok(()));
            }
        }
        Poll::Pending
    }

    /// The fd's watcher is going: stop the poll (its last completion frees the slot).
    fn close(&self) {
        let armed = {
            let mut state = self.state.borrow_mut();
            state.closed = true;
            state.waiters.clear();
            state.armed
        };
        if let Some(key) = armed {
            cancel_on(&self.driver, key as usize);
        }
    }
}

impl Multishot for PollMulti {
    fn on_completion(&self, result: i32, flags: u32) -> bool {
        let mut state = self.state.borrow_mut();
        if !cqueue::more(flags) {
            // Ended (cancelled, or the kernel dropped it): the next wait re-arms.
            state.armed = None;
        }
        if state.closed {
            return false;
        }
        let ended = !cqueue::more(flags);
        let bits = if result >= 0 {
            bits_of(result as u32)
        } else if result == -libc::ECANCELED {
            0
        } else {
            // An error on the poll: let every waiter try its operation and see it.
            READABLE | WRITABLE
        };
        if bits == 0 {
            if ended && !state.waiters.is_empty() {
                // The poll ended without an event (the kernel dropped it): waiters
                // poll again, which re-arms it.
                let waiters = std::mem::take(&mut state.waiters);
                drop(state);
                waiters.into_iter().for_each(|(_, w)| w.wake());
            }
            return false;
        }
        state.bits |= bits;
        let (woken, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut state.waiters)
            .into_iter()
            .partition(|(b, _)| bits & b != 0);
        state.waiters = waiting;
        drop(state);
        for (_, w) in woken {
            w.wake();
        }
        false
    }
}
