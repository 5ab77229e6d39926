//! [`TcpStream`]: a TCP connection.

use super::listener::not_inet;
use crate::buf::{BufPool, BufResult, IoBuf, PooledBuf};
use crate::driver::ops::{Connect, Send};
use crate::driver::Op;
use crate::net::socket::{RecvCursor, StreamSocket};
use crate::runtime::context;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::OwnedFd;
use std::task::{Context, Poll};

/// A TCP connection, read and written with owned buffers through
/// [`AsyncReadOwned`](crate::io::AsyncReadOwned) and [`AsyncWriteOwned`](crate::io::AsyncWriteOwned).
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
pub struct TcpStream {
    sock: StreamSocket,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("fd", self.sock.fd())
            .finish()
    }
}

impl TcpStream {
    /// Opens a connection to `addr`: a `SocketAddr`, or a `"host:port"` string (or
    /// `(host, port)`) whose name is resolved on the blocking pool. Each address the
    /// name resolves to is tried in turn until one connects.
    ///
    /// ```
    /// # ringio::run(async {
    /// use ringio::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let port = listener.local_addr().unwrap().port();
    /// let stream = TcpStream::connect(("localhost", port)).await.unwrap();
    /// assert!(stream.peer_addr().unwrap().ip().is_loopback());
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// As `connect(2)` for the last address tried (`ConnectionRefused` when nothing
    /// listens, for example); a name that does not resolve is the lookup's error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the attempt; a half-made socket is closed once the
    /// kernel lets go of it.
    pub async fn connect(addr: impl crate::net::ToSocketAddrs) -> io::Result<TcpStream> {
        let addrs = addr.to_target().resolve().await?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_addr(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to")
        }))
    }

    /// Opens a connection to one address.
    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        )?;
        let stream = TcpStream::from_owned_fd(OwnedFd::from(socket));
        Op::new(Connect::new(stream.sock.fd().for_op(), &addr)).await?;
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

    /// Receives the next bytes into a buffer of `pool`: `Ok(Some(buf))` with at least
    /// one byte, or `Ok(None)` at end of stream.
    ///
    /// The connection holds no buffer while it waits: on io_uring a multishot receive
    /// stays armed and the kernel takes a buffer from the pool's ring only when data
    /// arrives; on epoll a buffer is taken just before each `recv(2)`. When the pool is
    /// empty, the call waits until a [`PooledBuf`] is dropped somewhere, then goes on;
    /// nothing is lost.
    ///
    /// Use one pool per worker, and do not mix this with [`read`](crate::io::AsyncReadOwned::read)
    /// on the same stream: on io_uring the armed receive would race the read for bytes.
    ///
    /// ```
    /// # ringio::run(async {
    /// use ringio::buf::BufPool;
    /// use ringio::io::AsyncWriteOwned;
    /// use ringio::net::{TcpListener, TcpStream};
    /// let pool = BufPool::new(16, 1024).unwrap();
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    /// let (server, _) = listener.accept().await.unwrap();
    /// client.write_all("hi").await.0.unwrap();
    /// drop(client);
    /// let mut got = Vec::new();
    /// while let Some(buf) = server.recv_pooled(&pool).await.unwrap() {
    ///     got.extend_from_slice(&buf); // `buf` goes back to the pool here
    /// }
    /// assert_eq!(got, b"hi");
    /// assert_eq!(pool.available(), 16);
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// As `recv(2)`: `ConnectionReset` when the peer resets, for example. Also an error
    /// if `pool` was first used on another worker, or if a different pool's receive
    /// still holds data for this stream.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: on io_uring the receive stays armed and data that arrives is queued
    /// for the next call; on epoll nothing is taken from the socket unless it is returned.
    pub fn recv_pooled<'a>(
        &'a self,
        pool: &'a BufPool,
    ) -> impl Future<Output = io::Result<Option<PooledBuf>>> + 'a {
        self.sock.recv_pooled(pool)
    }

    /// [`recv_pooled`] as a poll function, for code that keeps its own state between
    /// polls (a [`StreamReader`](crate::io::StreamReader)): `cursor` carries the receive
    /// in progress, and starts as [`RecvCursor::new`]. Cancel-safe as `recv_pooled`:
    /// dropping the cursor between polls loses no byte.
    ///
    /// [`recv_pooled`]: TcpStream::recv_pooled
    pub fn poll_recv_pooled(
        &self,
        pool: &BufPool,
        cursor: &mut RecvCursor,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<PooledBuf>>> {
        self.sock.poll_recv_pooled(pool, cursor, cx)
    }

    /// [`recv_pooled`](TcpStream::recv_pooled) as a [`Stream`](futures_core::Stream): each
    /// item is the next received buffer (or the error that ended the receive), and the
    /// stream ends at end of stream. On io_uring it drains the connection's multishot
    /// receive as completions queue up.
    ///
    /// ```
    /// # ringio::run(async {
    /// use futures_core::Stream;
    /// use ringio::buf::BufPool;
    /// use ringio::io::AsyncWriteOwned;
    /// use ringio::net::{TcpListener, TcpStream};
    /// let pool = BufPool::new(8, 1024).unwrap();
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    /// let (server, _) = listener.accept().await.unwrap();
    /// client.write_all("abc").await.0.unwrap();
    /// drop(client);
    /// let mut bufs = std::pin::pin!(server.pooled_stream(&pool));
    /// let mut got = Vec::new();
    /// while let Some(buf) = std::future::poll_fn(|cx| bufs.as_mut().poll_next(cx)).await {
    ///     got.extend_from_slice(&buf.unwrap());
    /// }
    /// assert_eq!(got, b"abc");
    /// # });
    /// ```
    pub fn pooled_stream<'a>(
        &'a self,
        pool: &'a BufPool,
    ) -> impl futures_core::Stream<Item = io::Result<PooledBuf>> + 'a {
        self.sock.pooled_stream(pool)
    }

    /// Sends `buf` without copying it into the kernel (io_uring's SEND_ZC): the kernel
    /// pins the buffer's pages, and the call returns once it no longer needs them, so
    /// the buffer comes back free to reuse. Returns how many bytes were sent, which may
    /// be fewer than `buf` holds, like [`write`](crate::io::AsyncWriteOwned::write).
    ///
    /// Zero-copy pays for large buffers to a real network device; on loopback, and for
    /// small buffers, the kernel copies anyway and the extra notification makes it
    /// slower than a plain `write` (`cargo bench -p ringio-benches --bench send_zc`
    /// measures both). On epoll, and on kernels without SEND_ZC, it is a plain send.
    ///
    /// ```
    /// # ringio::run(async {
    /// use ringio::io::AsyncReadOwned;
    /// use ringio::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    /// let (server, _) = listener.accept().await.unwrap();
    /// let (res, _buf) = client.send_zc(vec![7u8; 4096]).await;
    /// let n = res.unwrap();
    /// let (res, got) = server.read_exact(vec![0u8; n]).await;
    /// res.unwrap();
    /// assert!(got.iter().all(|&b| b == 7));
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Dropping the future keeps the buffer alive inside the driver until the kernel's
    /// notification arrives; how much was sent is then unknown.
    pub async fn send_zc<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        if context::driver().backend_ref().send_zc() {
            // After a detached send in flight, in order (see `write_all_detached`).
            if let Err(e) = self.sock.flush().await {
                return (Err(e), buf);
            }
            Op::new(Send::zero_copy(self.sock.fd().for_op(), buf)).await
        } else {
            crate::io::AsyncWriteOwned::write(self, buf).await
        }
    }

    /// Shuts down the read side, the write side, or both (`shutdown(2)`). Shutting the
    /// write side sends FIN: the peer reads end of stream.
    ///
    /// # Errors
    ///
    /// As `shutdown(2)`, e.g. `NotConnected`.
    pub async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.shutdown(how).await
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

    fn sock(&self) -> SockRef<'_> {
        SockRef::from(self.sock.fd())
    }
}

crate::net::socket::stream_socket_impls!(TcpStream);

impl crate::io::PeerAddr for TcpStream {
    type Addr = SocketAddr;

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::peer_addr(self)
    }
}
