//! [`TcpListener`]: accepts TCP connections.

use super::TcpStream;
use crate::net::accept::{Acceptor, Incoming};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// How [`TcpListener::bind_with`] sets up its socket.
///
/// ```
/// use ringio::net::{BindOptions, TcpListener};
/// let opts = BindOptions::new().reuse_port(true).backlog(4096);
/// let l = TcpListener::bind_with("127.0.0.1:0", &opts).unwrap();
/// assert!(l.local_addr().unwrap().port() > 0);
/// ```
#[derive(Clone, Debug)]
pub struct BindOptions {
    reuse_addr: bool,
    reuse_port: bool,
    backlog: i32,
}

impl Default for BindOptions {
    fn default() -> BindOptions {
        BindOptions::new()
    }
}

impl BindOptions {
    /// SO_REUSEADDR on, SO_REUSEPORT off, a backlog of 1024.
    pub fn new() -> BindOptions {
        BindOptions {
            reuse_addr: true,
            reuse_port: false,
            backlog: 1024,
        }
    }

    /// SO_REUSEADDR: rebind a port that has connections in TIME_WAIT.
    pub fn reuse_addr(mut self, on: bool) -> BindOptions {
        self.reuse_addr = on;
        self
    }

    /// SO_REUSEPORT: several listeners (one per core) share the port, and the kernel
    /// spreads connections across them.
    pub fn reuse_port(mut self, on: bool) -> BindOptions {
        self.reuse_port = on;
        self
    }

    /// The listen backlog (the kernel caps it at `net.core.somaxconn`).
    pub fn backlog(mut self, backlog: i32) -> BindOptions {
        self.backlog = backlog;
        self
    }
}

/// A TCP socket listening for connections.
///
/// # Examples
///
/// ```
/// # ringio::run(async {
/// use ringio::net::{TcpListener, TcpStream};
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let _client = TcpStream::connect(addr).await.unwrap();
/// let (_conn, peer) = listener.accept().await.unwrap();
/// assert!(peer.ip().is_loopback());
/// # });
/// ```
pub struct TcpListener {
    acceptor: Acceptor<SocketAddr>,
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("fd", self.acceptor.fd())
            .finish()
    }
}

impl TcpListener {
    /// Binds to the first of `addr`'s addresses that works, with [`BindOptions::new`].
    /// A host name is resolved with a blocking lookup; pass literal addresses in a
    /// running loop.
    ///
    /// # Errors
    ///
    /// The last address's error if none can be bound, as `bind(2)` and `listen(2)`
    /// report it.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_with(addr, &BindOptions::new())
    }

    /// Binds with the given options.
    ///
    /// # Errors
    ///
    /// As [`bind`](TcpListener::bind).
    pub fn bind_with(addr: impl ToSocketAddrs, options: &BindOptions) -> io::Result<TcpListener> {
        Ok(TcpListener::from_fd(TcpListener::bind_fd(addr, options)?))
    }

    /// [`bind_with`](TcpListener::bind_with)'s listening socket, not yet a
    /// `TcpListener`: a plain fd that may move to another worker's thread.
    pub(crate) fn bind_fd(addr: impl ToSocketAddrs, options: &BindOptions) -> io::Result<OwnedFd> {
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            match bind_one(addr, options) {
                Ok(fd) => return Ok(fd),
                Err(e) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
    }

    /// Wraps a bound, listening std listener (made non-blocking here).
    ///
    /// # Errors
    ///
    /// If the fd cannot be made non-blocking.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener::from_fd(OwnedFd::from(listener)))
    }

    fn from_fd(fd: OwnedFd) -> TcpListener {
        TcpListener {
            acceptor: Acceptor::new(fd),
        }
    }

    /// Accepts a connection. The new stream is non-blocking and close-on-exec.
    ///
    /// # Errors
    ///
    /// As `accept4(2)`: for example `EMFILE` when the process is out of fds. The listener
    /// stays usable after any error, so a server loop should log and go on.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a connection the kernel accepts after this future was dropped is
    /// queued on the listener and returned by the next `accept`.
    ///
    /// On io_uring (Linux 6.0 and later) the first call arms a multishot accept that
    /// stays armed: the kernel accepts connections as they come, each with one
    /// completion and no new submission, and they queue on the listener for the next
    /// `accept`. The peer's address then comes from `getpeername(2)`; a connection the
    /// peer reset before that is reported as `ConnectionAborted`.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, peer) = self.acceptor.accept().await?;
        Ok((TcpStream::from_owned_fd(fd), peer))
    }

    /// [`accept`](TcpListener::accept) as a [`Stream`](futures_core::Stream) of
    /// connections (on io_uring, what the multishot accept queues). It never ends; an
    /// error is an item, and the listener goes on after it.
    ///
    /// ```
    /// # ringio::run(async {
    /// use futures_core::Stream;
    /// use ringio::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let _client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    /// let mut incoming = std::pin::pin!(listener.incoming());
    /// let next = std::future::poll_fn(|cx| incoming.as_mut().poll_next(cx)).await;
    /// let (conn, _peer) = next.unwrap().unwrap();
    /// # drop(conn);
    /// # });
    /// ```
    pub fn incoming(
        &self,
    ) -> impl futures_core::Stream<Item = io::Result<(TcpStream, SocketAddr)>> + '_ {
        Incoming::new(self, |l| Box::pin(l.accept()))
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        SockRef::from(&self.acceptor.fd().as_fd())
            .local_addr()?
            .as_socket()
            .ok_or_else(not_inet)
    }
}

impl std::os::fd::AsFd for TcpListener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.acceptor.fd().as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.acceptor.fd().raw()
    }
}

fn bind_one(addr: SocketAddr, options: &BindOptions) -> io::Result<OwnedFd> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(options.reuse_addr)?;
    if options.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(options.backlog)?;
    Ok(OwnedFd::from(socket))
}

pub(super) fn not_inet() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "not an IPv4 or IPv6 socket address",
    )
}
