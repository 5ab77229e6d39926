//! Moving file bytes to a socket without copying them through user memory: a [`Pipe`]
//! and the two halves of a splice through it, [`SpliceIn`] (file → pipe) and
//! [`SpliceOut`] (pipe → socket). `send_file` of the stream sockets runs them in turn.
//!
//! - **SpliceIn** is IORING_OP_SPLICE on io_uring (the kernel runs it on an io-wq
//!   worker, as it may wait for the disk); on epoll, `splice(2)` on the blocking pool,
//!   like every file read.
//! - **SpliceOut** has no io_uring entry, on purpose: a splice into a full non-blocking
//!   socket ends with `EAGAIN`, and IORING_OP_SPLICE cannot wait for room (it has no
//!   poll support, so the kernel would hand `EAGAIN` back for as long as the peer does
//!   not read). It runs by its decision face on both backends: a non-blocking
//!   `splice(2)` on the worker (moving page references, never waiting for a disk: the
//!   pipe holds the bytes already), and on `EAGAIN` a wait for the socket to be
//!   writable (a POLL_ADD entry on io_uring, the registration on epoll).
//!
//! Neither carries a pointer: the pipe, the file and the socket are named by fd, and
//! each op holds an [`Fd`] clone of each, so none closes under the kernel.

use super::fs::raw;
use crate::driver::sys::syscall;
use crate::driver::{Decision, Fd, Interest, Operation};
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// The pipe size asked for (`F_SETPIPE_SZ`): 1 MiB, `/proc/sys/fs/pipe-max-size`'s
/// default, so one splice pair moves up to 1 MiB. A smaller size the kernel imposes
/// (a lower limit, or a user over its pipe quota) is fine: the pipe reports its size.
const PIPE_SIZE: i32 = 1 << 20;

/// A close-on-exec, non-blocking pipe for splicing, and how many bytes it holds at most.
#[derive(Debug)]
pub(crate) struct Pipe {
    read: Fd,
    write: Fd,
    capacity: usize,
}

impl Pipe {
    pub(crate) fn new() -> io::Result<Pipe> {
        let mut fds = [0; 2];
        // SAFETY: `fds` is two writable ints, as pipe2 needs.
        syscall!(pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK))?;
        // SAFETY: pipe2 just created both fds, owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // Best effort: a refused size leaves the default (64 KiB).
        let _ = syscall!(fcntl(fds[1], libc::F_SETPIPE_SZ, PIPE_SIZE));
        let capacity = syscall!(fcntl(fds[1], libc::F_GETPIPE_SZ)).unwrap_or(65536);
        Ok(Pipe {
            read: Fd::new(read),
            write: Fd::new(write),
            capacity: capacity.max(4096) as usize,
        })
    }

    /// Splices up to `len` bytes (at most the pipe's capacity) of `file` from
    /// `offset` into the pipe, which must be empty.
    pub(crate) fn fill(&self, file: &Fd, offset: u64, len: usize) -> SpliceIn {
        SpliceIn {
            file: file.for_op(),
            pipe: self.write.for_op(),
            offset,
            len: len.min(self.capacity) as u32,
        }
    }

    /// Splices up to `len` bytes the pipe holds into the socket `sock`.
    pub(crate) fn drain(&self, sock: &Fd, len: usize) -> SpliceOut {
        SpliceOut {
            pipe: self.read.for_op(),
            sock: sock.for_op(),
            len,
        }
    }
}

/// File → pipe: up to `len` bytes of the file from `offset` (which the file's own
/// position ignores). Completes with the bytes moved, 0 at end of file.
pub(crate) struct SpliceIn {
    file: Fd,
    pipe: Fd,
    offset: u64,
    len: u32,
}

// SAFETY: neither the entry nor the job carries a pointer; the op's `Fd` clones keep the
// file and the pipe open until it is freed.
unsafe impl Operation for SpliceIn {
    type Output = io::Result<usize>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        let (file, pipe) = (types::Fd(self.file.raw()), types::Fd(self.pipe.raw()));
        Some(
            opcode::Splice::new(file, self.offset as i64, pipe, -1, self.len)
                .flags(libc::SPLICE_F_MOVE)
                .build(),
        )
    }

    fn decide(&mut self) -> Decision<'_> {
        let (file, pipe, len) = (self.file.raw(), self.pipe.raw(), self.len as usize);
        let mut offset = self.offset as libc::loff_t;
        Decision::Blocking(Box::new(move || {
            // SAFETY: `offset` is a live local the call updates; the fds stay open while
            // the op (which holds them) waits for this job.
            let res = unsafe {
                libc::splice(
                    file,
                    &mut offset,
                    pipe,
                    std::ptr::null_mut(),
                    len,
                    libc::SPLICE_F_MOVE,
                )
            };
            raw(res as i64)
        }))
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<usize> {
        result.map(|n| n as usize)
    }
}

/// Pipe → socket: up to `len` bytes the pipe holds. See the module docs for why it
/// has no io_uring entry.
pub(crate) struct SpliceOut {
    pipe: Fd,
    sock: Fd,
    len: usize,
}

// SAFETY: there is no entry and no job; the syscall runs on the worker with no pointer.
unsafe impl Operation for SpliceOut {
    type Output = io::Result<usize>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        None
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.sock, Interest::Write)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
        // SAFETY: no pointers but nulls (no offsets: pipe and socket have none); both
        // fds are open (the op holds them).
        let null = std::ptr::null_mut();
        let (pipe, sock) = (self.pipe.raw(), self.sock.raw());
        syscall!(splice(pipe, null, sock, null, self.len, flags)).map(|n| n as u32)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<usize> {
        result.map(|n| n as usize)
    }
}
