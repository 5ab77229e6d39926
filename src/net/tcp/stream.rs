//! [`TcpStream`]: a TCP connection.

use super::listener::not_inet;
use super::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::buf::{BufPool, BufResult, IoBuf, IoBufMut, PoolMode, PooledBuf, Slice};
use crate::driver::ops::{
    try_recv_pooled, Connect, PollIn, Recv, RecvMulti, RecvPooled, RecvVectored, Send,
    SendVectored, Shutdown as ShutdownOp,
};
use crate::driver::{Fd, Op, Timed};
use crate::io::{AsyncReadOwned, AsyncWriteOwned};
use crate::runtime::context;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

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
pub struct TcpStream {
    fd: Fd,
    /// The multishot receive `recv_pooled` keeps armed on io_uring.
    recv_multi: RefCell<Option<Rc<RecvMulti>>>,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream").field("fd", &self.fd).finish()
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        if let Some(multi) = self.recv_multi.get_mut().take() {
            multi.close();
        }
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
        TcpStream {
            fd: Fd::new(fd),
            recv_multi: RefCell::new(None),
        }
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
    /// Use one pool per worker, and do not mix this with [`read`](AsyncReadOwned::read)
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
        RecvPooledFuture {
            stream: self,
            pool,
            cursor: RecvCursor::new(),
        }
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
        let step = &mut cursor.step;
        let polled = loop {
            let polled = match step {
                RecvStep::Start => {
                    *step = match self.recv_step(pool) {
                        Ok(next) => next,
                        Err(e) => break Poll::Ready(Err(e)),
                    };
                    continue;
                }
                RecvStep::Multishot(multi) => multi.poll_recv(cx),
                RecvStep::Single(op) => Pin::new(op).poll(cx),
                RecvStep::PollThenRecv(wait) => {
                    if let Some(op) = wait {
                        match Pin::new(op).poll(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                            Poll::Ready(Ok(())) => *wait = None,
                        }
                    }
                    match try_recv_pooled(&self.fd, pool.inner()) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            *wait = Some(Op::new(PollIn::new(self.fd.for_op())));
                            continue;
                        }
                        other => Poll::Ready(other),
                    }
                }
                RecvStep::Starved => {
                    if pool.inner().poll_available(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *step = RecvStep::Start;
                    continue;
                }
            };
            match polled {
                // The pool ran dry (the multishot receive ended, or no free buffer):
                // wait for a buffer to come back, then receive again.
                Poll::Ready(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    *step = RecvStep::Starved;
                }
                other => break other,
            }
        };
        if polled.is_ready() && !matches!(step, RecvStep::Multishot(_)) {
            // A single-shot receive is done; the next one starts afresh. (The multishot
            // receive stays armed, and its step is reused as it is.)
            *step = RecvStep::Start;
        }
        polled
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
        RecvPooledStream {
            next: RecvPooledFuture {
                stream: self,
                pool,
                cursor: RecvCursor::new(),
            },
            done: false,
        }
    }

    /// Sends `buf` without copying it into the kernel (io_uring's SEND_ZC): the kernel
    /// pins the buffer's pages, and the call returns once it no longer needs them, so
    /// the buffer comes back free to reuse. Returns how many bytes were sent, which may
    /// be fewer than `buf` holds, like [`write`](AsyncWriteOwned::write).
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
            Op::new(Send::zero_copy(self.fd.for_op(), buf)).await
        } else {
            self.write(buf).await
        }
    }

    /// How the next `recv_pooled` on `pool` receives: through this stream's multishot
    /// receive (made, and the pool bound to this worker, on first use), or one receive
    /// into a free-list buffer.
    fn recv_step(&self, pool: &BufPool) -> io::Result<RecvStep> {
        // The common case: this stream's receive on this pool exists already.
        if let Some(multi) = &*self.recv_multi.borrow() {
            if multi.uses(pool.inner()) {
                return Ok(RecvStep::Multishot(multi.clone()));
            }
        }
        let driver = context::driver();
        Ok(match pool.inner().bind(&driver)? {
            PoolMode::Ring(group) => RecvStep::Multishot(self.recv_multi_for(pool, group)?),
            // An io_uring without buffer rings: a receive armed in the kernel would hold
            // its buffer while it waits, so wait for readiness first, then recv(2).
            PoolMode::FreeList if driver.backend_ref().is_uring() => RecvStep::PollThenRecv(None),
            PoolMode::FreeList => RecvStep::Single(Op::new(RecvPooled::new(
                self.fd.for_op(),
                pool.inner().clone(),
            ))),
        })
    }

    /// This stream's multishot receive on `pool`, made on first use.
    fn recv_multi_for(&self, pool: &BufPool, group: u16) -> io::Result<Rc<RecvMulti>> {
        let mut slot = self.recv_multi.borrow_mut();
        if let Some(multi) = &*slot {
            if multi.uses(pool.inner()) {
                return Ok(multi.clone());
            }
            if !multi.is_idle() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "recv_pooled: another pool's receive still holds data for this stream",
                ));
            }
            multi.close();
        }
        let multi = RecvMulti::new(self.fd.for_op(), pool.inner().clone(), group);
        *slot = Some(multi.clone());
        Ok(multi)
    }

    /// [`read`](AsyncReadOwned::read) with a deadline: if no byte has come within
    /// `timeout`, the read is cancelled and the result is a
    /// [`TimedOut`](io::ErrorKind::TimedOut) error, with the buffer given back. On
    /// io_uring the deadline is a timeout linked to the receive in the kernel
    /// (IORING_OP_LINK_TIMEOUT), costing no timer in the worker; on epoll it is a timer.
    ///
    /// ```
    /// # ringio::run(async {
    /// use std::time::Duration;
    /// use ringio::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    /// let (res, buf) = client.read_timeout(vec![0u8; 64], Duration::from_millis(20)).await;
    /// assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    /// assert_eq!(buf.capacity(), 64); // the buffer comes back
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As [`read`](AsyncReadOwned::read).
    pub fn read_timeout<B: IoBufMut>(
        &self,
        buf: B,
        timeout: Duration,
    ) -> impl Future<Output = BufResult<usize, B>> {
        Timed::new(Recv::new(self.fd.for_op(), buf), timeout)
    }

    /// [`write`](AsyncWriteOwned::write) with a deadline: if the socket has taken no
    /// byte within `timeout` (the peer does not read), the send is cancelled and the
    /// result is a [`TimedOut`](io::ErrorKind::TimedOut) error, with the buffer given
    /// back. As for [`read_timeout`](TcpStream::read_timeout), a linked timeout on
    /// io_uring and a timer on epoll.
    ///
    /// # Cancel safety
    ///
    /// As [`write`](AsyncWriteOwned::write).
    pub fn write_timeout<B: IoBuf>(
        &self,
        buf: B,
        timeout: Duration,
    ) -> impl Future<Output = BufResult<usize, B>> {
        Timed::new(Send::new(self.fd.for_op(), buf), timeout)
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
        TcpStream::split_rc(Rc::new(self))
    }

    /// [`into_split`](TcpStream::into_split) of a stream already shared: for a server
    /// that keeps a weak reference to each client's stream.
    pub(crate) fn split_rc(stream: Rc<TcpStream>) -> (OwnedReadHalf, OwnedWriteHalf) {
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

/// [`TcpStream::pooled_stream`]: one [`RecvPooledFuture`] after another.
struct RecvPooledStream<'a> {
    next: RecvPooledFuture<'a>,
    done: bool,
}

impl futures_core::Stream for RecvPooledStream<'_> {
    type Item = io::Result<PooledBuf>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut this.next).poll(cx);
        let Poll::Ready(result) = polled else {
            return Poll::Pending;
        };
        match result {
            Ok(Some(buf)) => Poll::Ready(Some(Ok(buf))),
            Ok(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }
}

/// The future of [`TcpStream::recv_pooled`], written by hand to stay small: it lives in
/// every connection's task while the connection is idle.
struct RecvPooledFuture<'a> {
    stream: &'a TcpStream,
    pool: &'a BufPool,
    cursor: RecvCursor,
}

/// Where a pooled receive stands between polls: see [`TcpStream::poll_recv_pooled`].
pub struct RecvCursor {
    step: RecvStep,
}

impl RecvCursor {
    /// A cursor with no receive in progress.
    pub fn new() -> RecvCursor {
        RecvCursor {
            step: RecvStep::Start,
        }
    }
}

impl Default for RecvCursor {
    fn default() -> RecvCursor {
        RecvCursor::new()
    }
}

impl std::fmt::Debug for RecvCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvCursor").finish_non_exhaustive()
    }
}

enum RecvStep {
    /// Find (or make) how this stream receives from the pool.
    Start,
    /// io_uring: the stream's armed multishot receive.
    Multishot(Rc<RecvMulti>),
    /// epoll: one receive into a free-list buffer, retried on readiness.
    Single(Op<RecvPooled>),
    /// io_uring without buffer rings: try a receive into a free-list buffer; while
    /// there is no data, wait for readiness (the op), holding no buffer.
    PollThenRecv(Option<Op<PollIn>>),
    /// The pool ran dry: wait for a buffer to come back, then start again.
    Starved,
}

impl Future for RecvPooledFuture<'_> {
    type Output = io::Result<Option<PooledBuf>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.stream
            .poll_recv_pooled(this.pool, &mut this.cursor, cx)
    }
}

impl crate::io::ShutdownWrite for TcpStream {
    async fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write).await
    }
}

impl crate::io::PooledRead for TcpStream {
    fn poll_recv_pooled(
        &self,
        pool: &BufPool,
        cursor: &mut RecvCursor,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<PooledBuf>>> {
        TcpStream::poll_recv_pooled(self, pool, cursor, cx)
    }
}

// The operations are returned as they are, not wrapped in `async` blocks: a wrapper
// would hold the buffer a second time, and these futures live inside every
// connection's task (memory per idle connection).
impl AsyncReadOwned for TcpStream {
    fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        Op::new(Recv::new(self.fd.for_op(), buf))
    }

    fn read_vectored<B: IoBufMut>(
        &self,
        bufs: Vec<B>,
    ) -> impl Future<Output = BufResult<usize, Vec<B>>> {
        Op::new(RecvVectored::new(self.fd.for_op(), bufs))
    }
}

impl AsyncWriteOwned for TcpStream {
    fn write<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        Op::new(Send::new(self.fd.for_op(), buf))
    }

    fn write_vectored<B: IoBuf>(
        &self,
        bufs: Vec<B>,
    ) -> impl Future<Output = BufResult<usize, Vec<B>>> {
        Op::new(SendVectored::new(self.fd.for_op(), bufs))
    }

    fn write_all<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        let len = buf.bytes_init();
        WriteAllFuture {
            stream: self,
            op: Some(Op::new(Send::new(self.fd.for_op(), buf.slice(0..len)))),
            sent: 0,
        }
    }
}

/// `write_all` for a `TcpStream`, written by hand to stay small (it lives in every
/// connection's task): the buffer lives inside the send in flight, and goes back in
/// with a narrower slice after a short write.
struct WriteAllFuture<'a, B: IoBuf> {
    stream: &'a TcpStream,
    /// The send in flight; `None` once finished.
    op: Option<Op<Send<Slice<B>>>>,
    sent: usize,
}

impl<B: IoBuf> Future for WriteAllFuture<'_, B> {
    type Output = BufResult<(), B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            let op = this.op.as_mut().expect("write_all polled after completion");
            let Poll::Ready((res, slice)) = Pin::new(op).poll(cx) else {
                return Poll::Pending;
            };
            this.op = None;
            let end = slice.end();
            let buf = slice.into_inner();
            match res {
                Ok(0) if end > this.sent => {
                    return Poll::Ready((Err(io::ErrorKind::WriteZero.into()), buf))
                }
                Ok(n) => this.sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready((Err(e), buf)),
            }
            if this.sent >= end {
                return Poll::Ready((Ok(()), buf));
            }
            let rest = buf.slice(this.sent..end);
            this.op = Some(Op::new(Send::new(this.stream.fd.for_op(), rest)));
        }
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl std::os::fd::AsFd for TcpStream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
