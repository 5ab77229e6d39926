//! [`Fd`]: an owned file descriptor that tells its driver when it closes.

use super::Backend;
use crate::runtime::context;
use std::cell::RefCell;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::{Rc, Weak};

/// An owned fd used with a runtime's driver.
///
/// The epoll backend remembers which fds it registered; an `Fd` closing makes the driver
/// it was used with forget it first, so a new fd that reuses the number starts clean.
/// The driver is attached lazily, at the first operation, so sockets can be made before
/// a runtime starts.
#[derive(Debug)]
pub(crate) struct Fd {
    fd: OwnedFd,
    driver: RefCell<Weak<RefCell<Backend>>>,
}

impl Fd {
    pub(crate) fn new(fd: OwnedFd) -> Fd {
        Fd {
            fd,
            driver: RefCell::new(Weak::new()),
        }
    }

    /// The raw fd for an operation about to run on the current driver.
    pub(crate) fn for_op(&self) -> RawFd {
        if self.driver.borrow().strong_count() == 0 {
            if let Some(driver) = context::try_with_core(|core| Rc::downgrade(&core.driver)) {
                *self.driver.borrow_mut() = driver;
            }
        }
        self.fd.as_raw_fd()
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The fd as a borrowed socket, for socket options.
    pub(crate) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.fd)
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.get_mut().upgrade() {
            if let Ok(mut backend) = driver.try_borrow_mut() {
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
