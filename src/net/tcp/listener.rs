//! [`TcpListener`]: accepts TCP connections.

use super::TcpStream;
use crate::driver::ops::{Accept, AcceptMulti, LateAccepts};
use crate::driver::{Fd, Op};
use crate::runtime::context;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

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
    fd: Fd,
    /// Connections accepted after their `accept()` future was dropped.
    late: LateAccepts,
    /// The multishot accept kept armed on io_uring.
    multi: RefCell<Option<Rc<AcceptMulti>>>,
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener").field("fd", &self.fd).finish()
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        if let Some(multi) = self.multi.get_mut().take() {
            multi.close();
        }
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
            fd: Fd::new(fd),
            late: Default::default(),
            multi: RefCell::new(None),
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
        let driver = context::driver();
        let multishot = driver.backend_ref().multishot();
        if multishot {
            let multi = self
                .multi
                .borrow_mut()
                .get_or_insert_with(|| AcceptMulti::new(self.fd.for_op()))
                .clone();
            let fd = std::future::poll_fn(|cx| multi.poll_accept(cx, &driver)).await?;
            let stream = TcpStream::from_owned_fd(fd);
            return match stream.peer_addr() {
                Ok(peer) => Ok((stream, peer)),
                Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "the peer reset the connection before it was accepted",
                )),
                Err(e) => Err(e),
            };
        }
        let mut op: Option<Op<Accept>> = None;
        let (fd, addr) = std::future::poll_fn(|cx| {
            // A connection another accept left behind goes first; our own op, if any,
            // is dropped with this future and re-queues whatever it gets.
            if let Some(conn) = self.late.borrow_mut().conns.pop_front() {
                return Poll::Ready(Ok(conn));
            }
            let op =
                op.get_or_insert_with(|| Op::new(Accept::new(self.fd.for_op(), self.late.clone())));
            match Pin::new(op).poll(cx) {
                Poll::Ready(res) => Poll::Ready(res),
                Poll::Pending => {
                    let mut q = self.late.borrow_mut();
                    if !q.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                        q.waiters.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await?;
        Ok((TcpStream::from_owned_fd(fd), addr))
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
        Incoming {
            listener: self,
            next: None,
        }
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        SockRef::from(&self.fd.as_fd())
            .local_addr()?
            .as_socket()
            .ok_or_else(not_inet)
    }
}

impl std::os::fd::AsFd for TcpListener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

/// A connection being accepted, boxed: one allocation per connection.
type Accepting<'a> = Pin<Box<dyn Future<Output = io::Result<(TcpStream, SocketAddr)>> + 'a>>;

/// [`TcpListener::incoming`].
struct Incoming<'a> {
    listener: &'a TcpListener,
    next: Option<Accepting<'a>>,
}

impl futures_core::Stream for Incoming<'_> {
    type Item = io::Result<(TcpStream, SocketAddr)>;

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let listener = this.listener;
        let next = this.next.get_or_insert_with(|| Box::pin(listener.accept()));
        match next.as_mut().poll(cx) {
            Poll::Ready(conn) => {
                this.next = None;
                Poll::Ready(Some(conn))
            }
            Poll::Pending => Poll::Pending,
        }
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
