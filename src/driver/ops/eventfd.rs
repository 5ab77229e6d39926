//! [`EventfdRead`]: waits for an eventfd's counter to be written, and resets it.

use crate::driver::{Decision, Fd, Interest, Operation};
use io_uring::{opcode, squeue};
use std::io;

/// Reads a subscriber's eventfd (a ring READ on io_uring; `poll(2)` then `read(2)` on
/// epoll, so the blocking eventfd never blocks the worker).
pub(crate) struct EventfdRead {
    fd: Fd,
    /// Where the kernel writes the counter: heap memory the op owns.
    value: Box<u64>,
}

impl EventfdRead {
    pub(crate) fn new(fd: Fd) -> EventfdRead {
        EventfdRead {
            fd,
            value: Box::new(0),
        }
    }
}

// SAFETY: the entry points into `self.value`, a box the op owns.
unsafe impl Operation for EventfdRead {
    type Output = io::Result<()>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        let ptr: *mut u64 = &mut *self.value;
        Some(on_fd!(self.fd, |fd| opcode::Read::new(fd, ptr.cast(), 8)
            .offset(u64::MAX)
            .build()))
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.fd, Interest::Read)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let fd = self.fd.raw();
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one live pollfd without waiting.
        if crate::driver::sys::syscall!(poll(&mut pfd, 1, 0))? == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        // Only this subscriber reads the eventfd, and it is readable: this read
        // returns at once.
        crate::driver::sys::eventfd_drain(fd);
        Ok(8)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}
