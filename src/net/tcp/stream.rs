//! [`TcpStream`]: a TCP connection.

use super::listener::not_inet;
use super::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::ops::{Connect, Recv, RecvVectored, Send, SendVectored, Shutdown as ShutdownOp};
use crate::driver::{Fd, Op};
use crate::io::{AsyncReadOwned, AsyncWriteOwned};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;

/// A TCP connection, read and written with owned buffers through
/// [`AsyncReadOwned`] and [`AsyncWriteOwned`].
///
/// Every method takes `&self`, so one task may read while another writes (share the
/// stream through an `Rc`, or use [`split`](TcpStream::split) /
/// [`into_split`](TcpStream::into_split)).
///
/// ```
/// # ringio::run(async {
/// use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
/// use ringio::net::{TcpListener, TcpStream};
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
/// let (server, _) = listener.accept().await.unwrap();
/// client.write_all("hello").await.0.unwrap();
/// let (res, buf) = server.read_exact(vec![0; 5]).await;
/// res.unwrap();
/// assert_eq!(&buf, b"hello");
/// # });
/// ```
#[derive(Debug)]
pub struct TcpStream {
    fd: Fd,
}

impl TcpStream {
    /// Opens a connection to `addr`.
    ///
    /// # Errors
    ///
    /// As `connect(2)`: `ConnectionRefused` when nothing listens, for example.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the attempt; the half-made socket is closed once the
    /// kernel lets go of it.
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        )?;
        let stream = TcpStream {
            fd: Fd::new(OwnedFd::from(socket)),
        };
        Op::new(Connect::new(stream.fd.for_op(), &addr)).await?;
        Ok(stream)
    }

    /// Wraps a connected std stream (made non-blocking here).
    ///
    /// # Errors
    ///
    /// If the fd cannot be made non-blocking.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream::from_owned_fd(OwnedFd::from(stream)))
    }

    pub(crate) fn from_owned_fd(fd: OwnedFd) -> TcpStream {
        TcpStream { fd: Fd::new(fd) }
    }

    /// Shuts down the read side, the write side, or both (`shutdown(2)`). Shutting the
    /// write side sends FIN: the peer reads end of stream.
    ///
    /// # Errors
    ///
    /// As `shutdown(2)`, e.g. `NotConnected`.
    pub async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        Op::new(ShutdownOp::new(self.fd.for_op(), how)).await
    }

    /// Sets TCP_NODELAY (no Nagle delay for small writes).
    ///
    /// # Errors
    ///
    /// As `setsockopt(2)`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock().set_tcp_nodelay(nodelay)
    }

    /// Whether TCP_NODELAY is set.
    ///
    /// # Errors
    ///
    /// As `getsockopt(2)`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock().tcp_nodelay()
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock().peer_addr()?.as_socket().ok_or_else(not_inet)
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock().local_addr()?.as_socket().ok_or_else(not_inet)
    }

    /// Borrowed halves, for reading and writing from two futures of one task (e.g.
    /// joined), or two tasks that borrow the stream.
    pub fn split(&self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Owned halves, for moving into two tasks. Dropping the write half shuts down the
    /// write side (the peer sees end of stream); [`OwnedReadHalf::reunite`] puts them
    /// back together.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let stream = Rc::new(self);
        (
            OwnedReadHalf::new(stream.clone()),
            OwnedWriteHalf::new(stream),
        )
    }

    fn sock(&self) -> SockRef<'_> {
        SockRef::from(&self.fd)
    }

    pub(super) fn shutdown_write_now(&self) {
        let _ = self.sock().shutdown(Shutdown::Write);
    }
}

impl AsyncReadOwned for TcpStream {
    async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        Op::new(Recv::new(self.fd.for_op(), buf)).await
    }

    async fn read_vectored<B: IoBufMut>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        Op::new(RecvVectored::new(self.fd.for_op(), bufs)).await
    }
}

impl AsyncWriteOwned for TcpStream {
    async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        Op::new(Send::new(self.fd.for_op(), buf)).await
    }

    async fn write_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        Op::new(SendVectored::new(self.fd.for_op(), bufs)).await
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}
