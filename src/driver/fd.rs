//! [`Fd`]: a shared, owned file descriptor that tells its driver when it closes.

use super::fixed::FixedFiles;
use super::ops::{DetachedBuf, WriteBehind};
use super::{DriverHandle, WeakDriver};
use crate::buf::IoBuf;
use crate::runtime::context;
use std::cell::Cell;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

/// An owned fd used with a runtime's driver, shared by its owner (a socket) and every
/// operation on it.
///
/// Operations hold a clone, so the fd stays open until the last operation that names it
/// is done with it: an operation orphaned before it was even submitted must not reach
/// the kernel after its socket was dropped and the fd number reused by another file.
/// When the last clone goes, the epoll backend the fd was used with forgets it and the
/// fd is closed. Each `Fd` also has an identity ([`id`](Fd::id)) that no other ever
/// gets, so a backend that was not told of the close (the fd was used on another
/// runtime too, or before one was attached) still tells a new fd reusing the number
/// from the old one.
#[derive(Clone, Debug)]
pub(crate) struct Fd {
    inner: Rc<Inner>,
}

struct Inner {
    fd: OwnedFd,
    /// Unique for the process's life (fd numbers are reused; these never are).
    id: u64,
    /// The driver it was first used with, attached lazily so sockets can be made
    /// before a runtime starts. A `Cell`, not a `RefCell`: every socket carries it, and
    /// a `RefCell`'s flag is another word per connection.
    driver: Cell<WeakDriver>,
    /// The slot this fd holds in that driver's registered file table, if any.
    /// Boxed: every socket carries this field, few use a table (memory per connection).
    fixed: Cell<Option<Box<FixedSlot>>>,
    /// Whether `fixed` is set: the per-operation check when no table is in use (the
    /// default) is this one flag.
    has_fixed: Cell<bool>,
    /// The state of this fd's detached send, held only while one is in flight or has
    /// something to report (see `ops::detached`).
    write_behind: Cell<Option<Rc<WriteBehind>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fd")
            .field("fd", &self.fd)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A slot in a registered file table, and the table.
type FixedSlot = (u32, Rc<FixedFiles>);

impl Fd {
    pub(crate) fn new(fd: OwnedFd) -> Fd {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Fd {
            inner: Rc::new(Inner {
                fd,
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                driver: Cell::new(WeakDriver::default()),
                fixed: Cell::new(None),
                has_fixed: Cell::new(false),
                write_behind: Cell::new(None),
            }),
        }
    }

    /// A clone for an operation about to run on the current driver.
    #[inline]
    pub(crate) fn for_op(&self) -> Fd {
        if !self.with_driver(WeakDriver::is_alive) {
            self.attach();
        } else if self.inner.has_fixed.get() {
            self.check_fixed_driver();
        }
        self.clone()
    }

    /// Ready once no detached send on this fd is in flight, with the first error of
    /// those that finished since the last call. Every write on a stream waits for this
    /// first, so bytes go out in the order they were written.
    #[inline]
    pub(crate) fn poll_write_behind(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.inner.write_behind.take() {
            None => Poll::Ready(Ok(())),
            Some(w) => {
                let polled = w.poll_idle(cx);
                if polled.is_pending() {
                    self.inner.write_behind.set(Some(w));
                }
                // Idle, its error (if any) reported: the fd no longer needs it.
                polled
            }
        }
    }

    /// Sends all of `buf` detached (no future waits for it) when the current driver is
    /// io_uring; gives `buf` back otherwise. The caller saw
    /// [`poll_write_behind`](Fd::poll_write_behind) ready with `Ok` in this same poll.
    #[inline]
    pub(crate) fn send_detached<B: IoBuf>(&self, buf: B) -> Result<(), B> {
        if buf.bytes_init() == 0 {
            return Ok(()); // nothing to send
        }
        // Before the driver is borrowed: attaching looks at its file table.
        let fd = self.for_op();
        let mut buf = Some(buf);
        let sent = DriverHandle::with_current_backend(|backend| {
            let uring = backend.as_uring()?;
            let write_behind = match self.inner.write_behind.take() {
                Some(w) => w,
                None => uring
                    .table
                    .take_spare()
                    .unwrap_or_else(|| Rc::new(WriteBehind::new())),
            };
            write_behind.start(uring, fd, DetachedBuf::new(buf.take().expect("once")));
            self.inner.write_behind.set(Some(write_behind));
            Some(())
        });
        match (sent, buf) {
            (Some(Some(())), _) => Ok(()),
            (_, Some(buf)) => Err(buf),
            (_, None) => unreachable!("the buffer is taken only where it is sent"),
        }
    }

    /// `write_behind`'s send ended with nothing to report: the fd lets it go (the op
    /// table keeps it as a spare).
    pub(crate) fn detach_write_behind(&self, write_behind: &WriteBehind) {
        match self.inner.write_behind.take() {
            Some(w) if std::ptr::eq(&*w, write_behind) => drop(w),
            other => self.inner.write_behind.set(other),
        }
    }

    /// A registered slot names the file only in its own ring's table: used on another
    /// (live) runtime's driver, the fd gives its slot up and goes by number.
    fn check_fixed_driver(&self) {
        let elsewhere = context::try_with_core(|core| !self.with_driver(|d| core.driver.is(d)));
        if elsewhere == Some(true) {
            self.inner.has_fixed.set(false);
            if let Some(fixed) = self.inner.fixed.take() {
                let (slot, table) = *fixed;
                table.release(slot);
            }
        }
    }

    /// First use on a driver: remember it, and take a slot in its file table if it has
    /// one.
    #[cold]
    fn attach(&self) {
        if let Some(driver) = context::try_with_core(|core| core.driver.clone()) {
            self.inner.driver.set(driver.downgrade());
            let table = driver.try_backend().and_then(|b| b.fixed_files());
            let fixed = table.and_then(|t| Some(Box::new((t.register(self.raw())?, t))));
            self.inner.has_fixed.set(fixed.is_some());
            if let Some((slot, old)) = self.inner.fixed.replace(fixed).map(|b| *b) {
                old.release(slot); // a table of a runtime that is gone
            }
        }
    }

    /// The fd's slot in the driver's registered file table, if it has one.
    pub(crate) fn fixed_slot(&self) -> Option<u32> {
        if !self.inner.has_fixed.get() {
            return None;
        }
        let fixed = self.inner.fixed.take();
        let slot = match fixed.as_deref() {
            Some((slot, table)) if table.is_alive() => Some(*slot),
            _ => None,
        };
        self.inner.fixed.set(fixed);
        slot
    }

    /// Runs `f` on the driver this fd is attached to (taken out of its `Cell` for the
    /// call, and put back).
    #[inline]
    fn with_driver<R>(&self, f: impl FnOnce(&WeakDriver) -> R) -> R {
        let driver = self.inner.driver.take();
        let result = f(&driver);
        self.inner.driver.set(driver);
        result
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.inner.fd.as_raw_fd()
    }

    /// This fd's identity: unique for the process's life, unlike its number.
    pub(crate) fn id(&self) -> u64 {
        self.inner.id
    }

    /// The fd as a borrowed socket, for socket options.
    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.inner.fd)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The table holds the file open: clear the slot, or the socket never closes.
        if *self.has_fixed.get_mut() {
            if let Some((slot, table)) = self.fixed.get_mut().take().map(|b| *b) {
                table.release(slot);
            }
        }
        if let Some(driver) = self.driver.get_mut().upgrade() {
            if let Some(mut backend) = driver.try_backend() {
                backend.forget_fd(self.fd.as_raw_fd());
            }
        }
        // The OwnedFd closes it.
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

impl std::os::fd::AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        Fd::as_fd(self)
    }
}

#[cfg(test)]
mod tests {
    /// Every socket carries this state (in an `Rc`, so 16 more bytes): keep it to five
    /// words, which with the `Rc`'s counts fill one 64-byte malloc chunk (56 usable
    /// bytes), one size class below what two `RefCell`s cost.
    #[test]
    fn per_socket_state_stays_small() {
        assert_eq!(std::mem::size_of::<super::Inner>(), 40);
    }
}
