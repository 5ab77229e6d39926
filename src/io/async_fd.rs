//! [`AsyncFd`]: readiness for fds ringio did not open (asyncio's `add_reader` /
//! `add_writer`, tokio's `AsyncFd`).

use crate::driver::ops::FdReadiness;
use crate::driver::{Fd, Interest};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};

/// Waits for readiness of an fd of any kind — a pipe, an eventfd, inotify, a socket a
/// third-party library made — so code can make its own non-blocking calls on it.
///
/// `readable().await` returns a guard once the fd is (or may be) readable; make the
/// non-blocking call, and if it says `WouldBlock`, call
/// [`clear_ready`](AsyncFdReadyGuard::clear_ready) (or let
/// [`try_io`](AsyncFdReadyGuard::try_io) do it), so the next `readable()` waits for a
/// new event. The fd must be non-blocking.
///
/// On io_uring one multishot POLL_ADD stays armed for the `AsyncFd`'s life (one
/// submission, however many waits); on epoll the fd joins the worker's epoll set. The
/// watch is on a duplicate of the fd that the `AsyncFd` owns, so the inner value keeps
/// its own fd untouched; dropping the `AsyncFd` cancels the watch and leaves no
/// completion behind.
///
/// ```
/// # ringio::run(async {
/// use ringio::io::AsyncFd;
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// let (mut tx, rx) = UnixStream::pair().unwrap();
/// rx.set_nonblocking(true).unwrap();
/// let rx = AsyncFd::new(rx).unwrap();
/// tx.write_all(b"ping").unwrap();
/// let mut guard = rx.readable().await.unwrap();
/// let mut buf = [0u8; 8];
/// let n = guard.try_io(|fd| fd.get_ref().read(&mut buf)).unwrap().unwrap();
/// assert_eq!(&buf[..n], b"ping");
/// # });
/// ```
pub struct AsyncFd<T: AsFd> {
    inner: Option<T>,
    readiness: FdReadiness,
}

impl<T: AsFd + fmt::Debug> fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFd")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<T: AsFd> AsyncFd<T> {
    /// Watches `inner`'s fd. Set it non-blocking first: the calls made on it after a
    /// readiness event must not block the worker.
    ///
    /// # Errors
    ///
    /// If the fd cannot be duplicated (`EMFILE`).
    pub fn new(inner: T) -> io::Result<AsyncFd<T>> {
        let dup = inner.as_fd().try_clone_to_owned()?;
        Ok(AsyncFd {
            inner: Some(inner),
            readiness: FdReadiness::new(Fd::new(dup)),
        })
    }

    /// The inner value.
    pub fn get_ref(&self) -> &T {
        self.inner.as_ref().expect("present until into_inner")
    }

    /// The inner value, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.as_mut().expect("present until into_inner")
    }

    /// Stops watching and gives the inner value back.
    pub fn into_inner(mut self) -> T {
        self.inner.take().expect("present until into_inner")
    }

    /// Waits until the fd is readable (or the peer hung up, or it is in error).
    ///
    /// # Errors
    ///
    /// If the driver cannot watch the fd (epoll refuses a regular file: `EPERM`).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: readiness is a state, not a message; nothing is lost.
    pub async fn readable(&self) -> io::Result<AsyncFdReadyGuard<'_, T>> {
        self.readiness.ready(Interest::Read).await?;
        Ok(AsyncFdReadyGuard {
            fd: self,
            interest: Interest::Read,
        })
    }

    /// Waits until the fd is writable (or in error).
    ///
    /// # Errors
    ///
    /// As [`readable`](AsyncFd::readable).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn writable(&self) -> io::Result<AsyncFdReadyGuard<'_, T>> {
        self.readiness.ready(Interest::Write).await?;
        Ok(AsyncFdReadyGuard {
            fd: self,
            interest: Interest::Write,
        })
    }
}

impl<T: AsFd> AsRawFd for AsyncFd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.get_ref().as_fd().as_raw_fd()
    }
}

/// Proof that an [`AsyncFd`] was ready for one direction; see
/// [`AsyncFd::readable`].
pub struct AsyncFdReadyGuard<'a, T: AsFd> {
    fd: &'a AsyncFd<T>,
    interest: Interest,
}

impl<T: AsFd> fmt::Debug for AsyncFdReadyGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFdReadyGuard")
            .field("readable", &(self.interest == Interest::Read))
            .finish()
    }
}

impl<'a, T: AsFd> AsyncFdReadyGuard<'a, T> {
    /// The fd is not ready after all (a call said `WouldBlock`): the next wait waits
    /// for a new event.
    pub fn clear_ready(&mut self) {
        self.fd.readiness.clear(self.interest);
    }

    /// The `AsyncFd` this guard is for.
    pub fn get_ref(&self) -> &'a AsyncFd<T> {
        self.fd
    }

    /// Runs a non-blocking call: `Some(result)` unless it said `WouldBlock`, which
    /// clears the readiness and gives `None` (wait again).
    pub fn try_io<R>(
        &mut self,
        f: impl FnOnce(&'a AsyncFd<T>) -> io::Result<R>,
    ) -> Option<io::Result<R>> {
        match f(self.fd) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.clear_ready();
                None
            }
            other => Some(other),
        }
    }
}
