//! [`ChildStdin`], [`ChildStdout`] and [`ChildStderr`]: our ends of a child's pipes.

use super::Stdio;
use crate::buf::{BufPool, BufResult, IoBuf, IoBufMut, PooledBuf};
use crate::driver::ops::{set_nonblocking, FdKind, Send, SendVectored};
use crate::driver::{Fd, Op};
use crate::io::{AsyncReadOwned, AsyncWriteOwned, PooledRead, RecvCursor, ShutdownWrite};
use crate::net::StreamSocket;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::task::{Context, Poll};

/// Our end of a pipe, made non-blocking (the epoll driver needs it; io_uring does not
/// mind). `O_NONBLOCK` lives on the open file description, which the child's end does
/// not share: the child still reads and writes a blocking pipe.
fn nonblocking(fd: OwnedFd) -> io::Result<OwnedFd> {
    set_nonblocking(fd.as_fd(), true)?;
    Ok(fd)
}

/// A copy of our end for a child's stdio, with `O_NONBLOCK` cleared: the flag is
/// shared with every copy of the end, and most programs (`cat`) fail with `EAGAIN` on a
/// non-blocking stdio. Ours is dropped by the caller right after.
fn for_child(fd: BorrowedFd<'_>) -> io::Result<Stdio> {
    let dup = fd.try_clone_to_owned()?;
    set_nonblocking(dup.as_fd(), false)?;
    Ok(Stdio::from(dup))
}

/// The write end of a child's standard input.
///
/// Writes take owned buffers ([`AsyncWriteOwned`]): IORING_OP_WRITE on io_uring, a
/// readiness wait and `write(2)` on epoll. [`shutdown_write`](ShutdownWrite::shutdown_write)
/// (or dropping it) closes our end, so the child reads end of file. Works with
/// [`StreamWriter`](crate::io::StreamWriter).
///
/// A write after the child closed its end fails with
/// [`BrokenPipe`](io::ErrorKind::BrokenPipe). `write(2)` also raises SIGPIPE then, which
/// Rust programs ignore by default; a program that restores SIGPIPE's default action
/// would be killed by it.
pub struct ChildStdin {
    /// `None` once shut down.
    fd: RefCell<Option<Fd>>,
}

impl ChildStdin {
    pub(crate) fn new(fd: OwnedFd) -> io::Result<ChildStdin> {
        Ok(ChildStdin {
            fd: RefCell::new(Some(Fd::new(nonblocking(fd)?))),
        })
    }

    /// The fd for an operation, or `BrokenPipe` after shutdown.
    pub(crate) fn fd_for_op(&self) -> io::Result<Fd> {
        self.fd
            .borrow()
            .as_ref()
            .map(Fd::for_op)
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "stdin was closed"))
    }

    /// Closes our end now (the child reads end of file once no write of ours is in
    /// flight).
    pub(crate) fn close(&self) {
        drop(self.fd.borrow_mut().take());
    }
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fd = self.fd.borrow().as_ref().map(Fd::raw);
        f.debug_struct("ChildStdin").field("fd", &fd).finish()
    }
}

impl AsyncWriteOwned for ChildStdin {
    async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        match self.fd_for_op() {
            Ok(fd) => Op::new(Send::of_kind(fd, buf, FdKind::Pipe)).await,
            Err(e) => (Err(e), buf),
        }
    }

    async fn write_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        match self.fd_for_op() {
            Ok(fd) => Op::new(SendVectored::of_kind(fd, bufs, FdKind::Pipe)).await,
            Err(e) => (Err(e), bufs),
        }
    }
}

impl ShutdownWrite for ChildStdin {
    /// Closes our end of the pipe: the child reads end of file. Later writes fail with
    /// `BrokenPipe`.
    async fn shutdown_write(&self) -> io::Result<()> {
        self.close();
        Ok(())
    }
}

/// For a pipeline the other way round: another child writes into this child's stdin
/// (this pipe becomes its stdout).
///
/// # Errors
///
/// `BrokenPipe` if it was shut down; as `dup(2)` and `fcntl(2)` otherwise.
impl TryFrom<ChildStdin> for Stdio {
    type Error = io::Error;

    fn try_from(stdin: ChildStdin) -> io::Result<Stdio> {
        for_child(stdin.fd_for_op()?.as_fd())
    }
}

/// A readable end of a child's pipe: stdout or stderr.
macro_rules! read_pipe {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Reads take owned buffers ([`AsyncReadOwned`]): IORING_OP_READ on io_uring, a
        /// readiness wait and `read(2)` on epoll. It is a [`PooledRead`], so a
        /// [`StreamReader`](crate::io::StreamReader) reads lines from it; on io_uring
        /// with a pool bound to a buffer ring, the kernel takes a buffer only once data
        /// has arrived. Dropping it closes our end (a child that writes more then gets
        /// `EPIPE`).
        pub struct $name {
            sock: StreamSocket<true>,
        }

        impl $name {
            pub(crate) fn new(fd: OwnedFd) -> io::Result<$name> {
                Ok($name {
                    sock: StreamSocket::new(nonblocking(fd)?),
                })
            }

            pub(crate) fn fd(&self) -> &Fd {
                self.sock.fd()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("fd", &self.sock.fd().raw())
                    .finish()
            }
        }

        impl AsyncReadOwned for $name {
            fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
                self.sock.read(buf)
            }

            fn read_vectored<B: IoBufMut>(
                &self,
                bufs: Vec<B>,
            ) -> impl Future<Output = BufResult<usize, Vec<B>>> {
                self.sock.read_vectored(bufs)
            }
        }

        impl PooledRead for $name {
            fn poll_recv_pooled(
                &self,
                pool: &BufPool,
                cursor: &mut RecvCursor,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<Option<PooledBuf>>> {
                self.sock.poll_recv_pooled(pool, cursor, cx)
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.sock.fd().raw()
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.sock.fd().as_fd()
            }
        }

        /// For a pipeline: another child reads this pipe as its stdin (`a | b`).
        ///
        /// # Errors
        ///
        /// As `dup(2)` and `fcntl(2)`.
        impl TryFrom<$name> for Stdio {
            type Error = io::Error;

            fn try_from(pipe: $name) -> io::Result<Stdio> {
                for_child(pipe.as_fd())
            }
        }
    };
}

read_pipe!(
    /// The read end of a child's standard output.
    ChildStdout
);
read_pipe!(
    /// The read end of a child's standard error.
    ChildStderr
);
