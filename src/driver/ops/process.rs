//! [`WaitPid`]: waits for a child process to exit and reaps it, through its pidfd.
//!
//! On an io_uring that has IORING_OP_WAITID (Linux 6.7) it is one entry,
//! `waitid(P_PIDFD, pidfd, WEXITED)` in the kernel, which writes the child's `siginfo_t`
//! into a box the operation owns. Elsewhere (an older ring, and epoll) it waits until
//! the pidfd is readable (it becomes readable when the process exits: a one-shot
//! POLL_ADD on io_uring, a registration on epoll), then reaps with
//! `waitid(..., WEXITED | WNOHANG)`. Either way no SIGCHLD handler and no thread is
//! involved, and the pidfd cannot name another process after a pid is reused.

use crate::driver::sys::{siginfo_zeroed, wait_status};
use crate::driver::{Decision, Fd, Interest, Operation};
use io_uring::{opcode, squeue};
use std::io;

// The raw process syscalls, for `process`, which holds no `unsafe`.
pub(crate) use crate::driver::sys::{
    kill_pid, pidfd_open, pidfd_send_signal, pipe, set_nonblocking, waitid_pid, waitid_pidfd,
    FdKind,
};

/// Waits for the child `pidfd` names to exit, and reaps it. Outputs its wait status
/// (`waitpid(2)`'s encoding).
///
/// A wait whose future is dropped may still reap the child (the kernel's WAITID
/// completed before the cancel reached it); the status is then lost to this operation,
/// and a later wait sees `ECHILD`. Callers that must never lose it keep the `Op` alive
/// across their own futures (as `process::Child` does).
pub(crate) struct WaitPid {
    pidfd: Fd,
    /// Written by the kernel's WAITID; boxed so its address survives the op moving.
    info: Box<libc::siginfo_t>,
    /// Submit IORING_OP_WAITID (the caller checked the ring has it).
    uring_waitid: bool,
    /// The status the decision face's `waitid(2)` reaped.
    reaped: Option<i32>,
}

impl WaitPid {
    /// A wait on `pidfd` (a blocking pidfd: see `sys::pidfd_open`). `uring_waitid`: the
    /// current driver is an io_uring with IORING_OP_WAITID.
    pub(crate) fn new(pidfd: Fd, uring_waitid: bool) -> WaitPid {
        WaitPid {
            pidfd,
            info: Box::new(siginfo_zeroed()),
            uring_waitid,
            reaped: None,
        }
    }
}

// SAFETY: the entry points at `self.info`, a box the op owns; the decision face holds
// no pointer and makes its syscall on the worker.
unsafe impl Operation for WaitPid {
    type Output = io::Result<i32>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        if !self.uring_waitid {
            return None;
        }
        let info: *mut libc::siginfo_t = &mut *self.info;
        Some(
            opcode::WaitId::new(libc::P_PIDFD, self.pidfd.raw() as libc::id_t, libc::WEXITED)
                .infop(info.cast_const())
                .build(),
        )
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.pidfd, Interest::Read)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        match waitid_pidfd(self.pidfd.as_fd(), true)? {
            Some(status) => {
                self.reaped = Some(status);
                Ok(0)
            }
            None => Err(io::Error::from(io::ErrorKind::WouldBlock)),
        }
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<i32> {
        result?;
        if let Some(status) = self.reaped {
            return Ok(status);
        }
        // A WAITID completion: the kernel wrote the record.
        wait_status(&self.info).ok_or_else(|| io::Error::other("waitid reported no exited child"))
    }
}
