//! [`PollIn`]: a one-shot wait until a socket is readable.

use crate::driver::{Decision, Fd, Interest, Operation};
use io_uring::{opcode, squeue};
use std::io;

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
