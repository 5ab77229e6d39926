//! [`StreamSocket`]: what every connected byte-stream socket shares (a TCP or Unix
//! stream): its fd, the pooled receive (a multishot receive kept armed on io_uring),
//! and the owned-buffer reads and writes. `StreamSocket<true>` is the same for a pipe
//! (a child process's stdio): `read(2)` / `write(2)` instead of `recv` / `send`, and a
//! single-shot pooled read (a pipe has no multishot receive).

use crate::buf::{BufPool, BufResult, IoBuf, IoBufMut, PooledBuf, Slice};
use crate::driver::ops::{
    try_recv_pooled, FdKind, PollIn, Recv, RecvMulti, RecvPooled, RecvVectored, Send, SendVectored,
    Shutdown as ShutdownOp,
};
use crate::driver::{Fd, Op, Timed};
use crate::io::{AsyncReadOwned, AsyncWriteOwned};
use crate::net::pooled::{pool_path, MultiSlot, PoolPath};
use crate::runtime::context;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A connected stream socket: the fd and its pooled-receive state. The public stream
/// types wrap one and delegate to it. With `PIPE`, a pipe end instead (non-blocking):
/// a type parameter rather than a field, so a connection pays nothing for it.
pub(crate) struct StreamSocket<const PIPE: bool = false> {
    fd: Fd,
    /// The multishot receive `recv_pooled` keeps armed on io_uring (never for a pipe).
    recv_multi: MultiSlot<RecvMulti>,
}

impl<const PIPE: bool> StreamSocket<PIPE> {
    /// What the stream operations run on.
    const KIND: FdKind = if PIPE { FdKind::Pipe } else { FdKind::Socket };

    pub(crate) fn new(fd: OwnedFd) -> StreamSocket<PIPE> {
        StreamSocket {
            fd: Fd::new(fd),
            recv_multi: MultiSlot::new(),
        }
    }

    pub(crate) fn fd(&self) -> &Fd {
        &self.fd
    }

    /// `recv_pooled` of the public stream types (see `TcpStream::recv_pooled`).
    pub(crate) fn recv_pooled<'a>(
        &'a self,
        pool: &'a BufPool,
    ) -> impl Future<Output = io::Result<Option<PooledBuf>>> + 'a {
        RecvPooledFuture {
            stream: self,
            pool,
            cursor: RecvCursor::new(),
        }
    }

    /// `pooled_stream` of the public stream types (see `TcpStream::pooled_stream`).
    pub(crate) fn pooled_stream<'a>(
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

    /// `poll_recv_pooled` of the public stream types (see
    /// `TcpStream::poll_recv_pooled`).
    #[inline]
    pub(crate) fn poll_recv_pooled(
        &self,
        pool: &BufPool,
        cursor: &mut RecvCursor,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<PooledBuf>>> {
        // The hot path on io_uring: the stream's multishot receive on this pool exists
        // (a new cursor finds it without the general steps). It is polled where the
        // socket keeps it, without taking a reference: the cursor stays at `Start`, and
        // the next poll looks it up again (a pointer compare).
        if matches!(cursor.step, RecvStep::Start) {
            if let Some(multi) = self.recv_multi.find(pool) {
                let polled = multi.poll_recv(cx);
                drop(multi);
                match polled {
                    Poll::Ready(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        // The pool ran dry: the general steps wait for a buffer.
                        cursor.step = RecvStep::Starved;
                    }
                    polled => return polled,
                }
            }
        } else if let RecvStep::Multishot(multi) = &cursor.step {
            match multi.poll_recv(cx) {
                // The pool ran dry: the general steps wait for a buffer.
                Poll::Ready(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    cursor.step = RecvStep::Starved;
                }
                other => return other,
            }
        }
        self.poll_recv_steps(pool, cursor, cx)
    }

    /// [`poll_recv_pooled`](StreamSocket::poll_recv_pooled) past its hot path: finding
    /// how to receive, single-shot receives, and waiting out a dry pool.
    fn poll_recv_steps(
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
                    match try_recv_pooled(&self.fd, pool.inner(), Self::KIND) {
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

    /// How the next `recv_pooled` on `pool` receives: through this stream's multishot
    /// receive (made, and the pool bound to this worker, on first use), or one receive
    /// into a free-list buffer.
    fn recv_step(&self, pool: &BufPool) -> io::Result<RecvStep> {
        // The common case: this stream's receive on this pool exists already.
        if let Some(multi) = self.recv_multi.on(pool) {
            return Ok(RecvStep::Multishot(multi));
        }
        Ok(match pool_path(pool)? {
            // A pipe has no multishot receive: one READ that takes its buffer from the
            // ring when data arrives.
            PoolPath::Ring(group) if PIPE => RecvStep::Single(Op::new(RecvPooled::of_kind(
                self.fd.for_op(),
                pool.inner().clone(),
                FdKind::Pipe,
                Some(group),
            ))),
            PoolPath::Ring(group) => {
                RecvStep::Multishot(self.recv_multi.get_or_make(pool, "recv_pooled", || {
                    RecvMulti::new(self.fd.for_op(), pool.inner().clone(), group)
                })?)
            }
            PoolPath::PollThenReceive => RecvStep::PollThenRecv(None),
            PoolPath::FreeList => RecvStep::Single(Op::new(RecvPooled::of_kind(
                self.fd.for_op(),
                pool.inner().clone(),
                Self::KIND,
                None,
            ))),
        })
    }

    /// A receive into `buf` that gives up after `timeout` (see `read_timeout`).
    pub(crate) fn read_timeout<B: IoBufMut>(
        &self,
        buf: B,
        timeout: std::time::Duration,
    ) -> Timed<Recv<B>> {
        Timed::new(Recv::of_kind(self.fd.for_op(), buf, Self::KIND), timeout)
    }

    /// A send of `buf` that gives up after `timeout` (see `write_timeout`).
    pub(crate) fn write_timeout<B: IoBuf>(
        &self,
        buf: B,
        timeout: std::time::Duration,
    ) -> Gated<'_, Timed<Send<B>>> {
        Gated::new(
            &self.fd,
            Timed::new(Send::of_kind(self.fd.for_op(), buf, Self::KIND), timeout),
        )
    }

    /// `write_all_detached` of the public stream types (see
    /// `TcpStream::write_all_detached`).
    pub(crate) fn write_all_detached<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl Future<Output = io::Result<()>> + '_ {
        DetachedWriteFuture {
            stream: self,
            state: DetachedWrite::Start(Some(buf)),
        }
    }

    /// `flush` of the public stream types (see `TcpStream::flush`).
    pub(crate) fn flush(&self) -> impl Future<Output = io::Result<()>> + '_ {
        std::future::poll_fn(|cx| self.fd.poll_write_behind(cx))
    }

    /// `send_file` of the public stream types (see `TcpStream::send_file`).
    pub(crate) async fn send_file(
        &self,
        file: &crate::fs::File,
        offset: u64,
        len: usize,
    ) -> io::Result<usize> {
        if len == 0 || offset > i64::MAX as u64 {
            return Ok(0); // nothing asked, or past the end of any file
        }
        self.flush().await?;
        let mut lease = PipeLease {
            driver: context::driver(),
            pipe: None,
            empty: true,
        };
        let pipe = lease.pipe.insert(lease.driver.take_pipe()?);
        let mut sent = 0;
        while sent < len {
            // Not empty from here until drained: dropped in between, the pipe is closed.
            lease.empty = false;
            let at = offset + sent as u64;
            let n = match Op::new(pipe.fill(file.fd(), at, len - sent)).await {
                Ok(0) => {
                    lease.empty = true;
                    break; // end of file
                }
                Ok(n) => n,
                Err(e) if is_refusal(&e) => {
                    // The file cannot be spliced (its file system has no splice_read):
                    // nothing moved, so the pipe is still empty. Copy the rest.
                    lease.empty = true;
                    return Ok(sent + self.send_file_copying(file, at, len - sent).await?);
                }
                Err(e) => return Err(e),
            };
            let mut left = n;
            while left > 0 {
                match Op::new(pipe.drain(&self.fd, left)).await? {
                    0 => return Err(io::ErrorKind::WriteZero.into()),
                    m => left -= m,
                }
            }
            lease.empty = true;
            sent += n;
        }
        Ok(sent)
    }

    /// `send_file` the plain way, through memory: a read then a write per 64 KiB.
    async fn send_file_copying(
        &self,
        file: &crate::fs::File,
        offset: u64,
        len: usize,
    ) -> io::Result<usize> {
        const CHUNK: usize = 64 * 1024;
        let mut buf = Vec::with_capacity(CHUNK.min(len));
        let mut sent = 0;
        while sent < len {
            buf.clear();
            let want = (len - sent).min(buf.capacity());
            let (res, slice) = file.read_at(buf.slice(0..want), offset + sent as u64).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let (res, back) = self.write_all(buf).await;
            buf = back;
            res?;
            sent += buf.len();
        }
        Ok(sent)
    }

    /// `shutdown(2)` through the driver.
    pub(crate) async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if how != Shutdown::Read {
            // After the detached send in flight, or its bytes would be cut off.
            self.flush().await?;
        }
        Op::new(ShutdownOp::new(self.fd.for_op(), how)).await
    }
}

/// Whether a splice error means the file cannot be spliced at all (so copying is the
/// way), rather than an I/O error.
fn is_refusal(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
    )
}

/// The worker's splice pipe, lent to one `send_file`. Given back for the next call only
/// when empty: dropped with bytes in it (or a splice into it in flight), it is closed
/// instead, so no later call can send another call's bytes.
struct PipeLease {
    driver: crate::driver::DriverHandle,
    pipe: Option<crate::driver::ops::Pipe>,
    /// No bytes in the pipe and no splice into it in flight.
    empty: bool,
}

impl Drop for PipeLease {
    fn drop(&mut self) {
        if let (true, Some(pipe)) = (self.empty, self.pipe.take()) {
            self.driver.keep_pipe(pipe);
        }
    }
}

/// What a public stream type (a struct with a `sock: StreamSocket` field) gets from its
/// socket: `from_owned_fd`, `split` and `into_split`, [`PooledRead`](crate::io::PooledRead),
/// the owned-buffer reads and writes, `AsRawFd` and `AsFd`. The socket's operations are returned as they are, not
/// wrapped in `async` blocks: a wrapper would hold the buffer a second time, and these
/// futures live inside every connection's task (memory per idle connection).
macro_rules! stream_socket_impls {
    ($t:ident) => {
        impl $t {
            /// Wraps a connected, non-blocking, close-on-exec socket.
            pub(crate) fn from_owned_fd(fd: std::os::fd::OwnedFd) -> $t {
                $t {
                    sock: $crate::net::socket::StreamSocket::new(fd),
                }
            }

            /// [`read`](crate::io::AsyncReadOwned::read) with a deadline: if no byte has
            /// come within `timeout`, the read is cancelled and the result is a
            /// [`TimedOut`](std::io::ErrorKind::TimedOut) error, with the buffer given
            /// back. On io_uring the deadline is a timeout linked to the receive in the
            /// kernel (IORING_OP_LINK_TIMEOUT), costing no timer in the worker; on epoll
            /// it is a timer.
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
            /// As [`read`](crate::io::AsyncReadOwned::read).
            pub fn read_timeout<B: $crate::buf::IoBufMut>(
                &self,
                buf: B,
                timeout: std::time::Duration,
            ) -> impl std::future::Future<Output = $crate::buf::BufResult<usize, B>> {
                self.sock.read_timeout(buf, timeout)
            }

            /// [`write`](crate::io::AsyncWriteOwned::write) with a deadline: if the
            /// socket has taken no byte within `timeout` (the peer does not read), the
            /// send is cancelled and the result is a
            /// [`TimedOut`](std::io::ErrorKind::TimedOut) error, with the buffer given
            /// back; as `read_timeout`, a linked timeout on io_uring and a timer on
            /// epoll.
            ///
            /// # Cancel safety
            ///
            /// As [`write`](crate::io::AsyncWriteOwned::write).
            pub fn write_timeout<B: $crate::buf::IoBuf>(
                &self,
                buf: B,
                timeout: std::time::Duration,
            ) -> impl std::future::Future<Output = $crate::buf::BufResult<usize, B>> + '_ {
                self.sock.write_timeout(buf, timeout)
            }

            /// Writes all of `buf` without waiting for the kernel to finish: on io_uring
            /// the send is handed to the kernel and this returns at once, and the send's
            /// completion wakes no task, so an echo or a proxy loop polls its task once
            /// per message instead of twice. The buffer is dropped when the kernel is
            /// done with it (a [`PooledBuf`]($crate::buf::PooledBuf) goes back to its
            /// pool then). On epoll, and on a pipe, it is an awaited
            /// [`write_all`](crate::io::AsyncWriteOwned::write_all) that drops the
            /// buffer.
            ///
            /// Bytes keep their order: one detached send is in flight per stream at a
            /// time, and every write on the stream (detached or not),
            /// [`flush`](Self::flush) and `shutdown_write` wait for it first. A send
            /// that fails is reported by the next of those calls, which then sends
            /// nothing; [`flush`](Self::flush) waits for the last one and reports it.
            ///
            /// ```
            /// # ringio::run(async {
            /// use ringio::io::AsyncReadOwned;
            /// use ringio::net::{TcpListener, TcpStream};
            /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            /// let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
            /// let (server, _) = listener.accept().await.unwrap();
            /// server.write_all_detached(b"hello, ".to_vec()).await.unwrap();
            /// server.write_all_detached(b"world".to_vec()).await.unwrap();
            /// server.flush().await.unwrap(); // both sent, or the first error
            /// let (res, buf) = client.read_exact(vec![0; 12]).await;
            /// res.unwrap();
            /// assert_eq!(&buf, b"hello, world");
            /// # });
            /// ```
            ///
            /// # Errors
            ///
            /// The error of an earlier detached send on this stream (this buffer is then
            /// not sent), or, where the write is awaited here, this write's own.
            ///
            /// # Cancel safety
            ///
            /// Dropped before it returns, nothing of `buf` was sent (on epoll: as
            /// `write_all`, a prefix may have been). Once it returns `Ok`, the send
            /// goes on whatever happens to the stream: a stream dropped meanwhile keeps
            /// its socket open until the send ends. A shutdown made around ringio (on
            /// the raw fd, or by dropping an `OwnedWriteHalf`) does not wait for it:
            /// [`flush`](Self::flush) first.
            pub fn write_all_detached<B: $crate::buf::IoBuf>(
                &self,
                buf: B,
            ) -> impl std::future::Future<Output = std::io::Result<()>> + '_ {
                self.sock.write_all_detached(buf)
            }

            /// Waits until no [detached write](Self::write_all_detached) of this stream
            /// is in flight, and returns the first error of those that failed since
            /// the last write, `flush` or `shutdown_write` reported one. Ready at once
            /// when the stream has none.
            ///
            /// # Cancel safety
            ///
            /// Safe: dropping it changes nothing.
            pub fn flush(&self) -> impl std::future::Future<Output = std::io::Result<()>> + '_ {
                self.sock.flush()
            }

            /// Sends `len` bytes of `file` from byte `offset` (the file's data, not a
            /// copy through memory) and returns how many were sent: fewer than `len`
            /// only when the file ends first (0 for an offset at or past its end).
            ///
            /// The bytes go file → pipe → socket with `splice(2)`: IORING_OP_SPLICE
            /// from the file on io_uring (the blocking pool on epoll), then a
            /// non-blocking splice into the socket that waits for room when it is
            /// full. Each worker keeps one pipe (up to 1 MiB) for this. A file whose
            /// file system cannot splice (some of /proc, for one) is sent by reading and
            /// writing instead.
            ///
            /// ```
            /// # ringio::run(async {
            /// use ringio::io::AsyncReadOwned;
            /// use ringio::net::{TcpListener, TcpStream};
            /// let path = std::env::temp_dir().join(format!("ringio-doc-sendfile-{}", std::process::id()));
            /// ringio::fs::write(&path, b"hello, sendfile").await.unwrap();
            /// let file = ringio::fs::File::open(&path).await.unwrap();
            /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            /// let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
            /// let (server, _) = listener.accept().await.unwrap();
            /// assert_eq!(server.send_file(&file, 7, 100).await.unwrap(), 8);
            /// let (res, buf) = client.read_exact(vec![0; 8]).await;
            /// res.unwrap();
            /// assert_eq!(&buf, b"sendfile");
            /// ringio::fs::remove_file(&path).await.unwrap();
            /// # });
            /// ```
            ///
            /// # Errors
            ///
            /// As `splice(2)` (or the reads and writes of the fallback): a peer that
            /// closed is `BrokenPipe` or `ConnectionReset`. Some bytes may have been
            /// sent before an error.
            ///
            /// # Cancel safety
            ///
            /// Dropping the future stops the transfer at an unknown point: some bytes
            /// may have been sent. Bytes already in the pipe are never sent later: a
            /// pipe that is not empty is closed, not reused.
            pub async fn send_file(
                &self,
                file: &$crate::fs::File,
                offset: u64,
                len: usize,
            ) -> std::io::Result<usize> {
                self.sock.send_file(file, offset, len).await
            }

            /// Borrowed halves, for reading and writing from two futures of one task
            /// (e.g. joined), or two tasks that borrow the stream.
            pub fn split(
                &self,
            ) -> (
                $crate::net::ReadHalf<'_, $t>,
                $crate::net::WriteHalf<'_, $t>,
            ) {
                ($crate::net::ReadHalf(self), $crate::net::WriteHalf(self))
            }

            /// Owned halves, for moving into two tasks. Dropping the write half shuts
            /// down the write side (the peer sees end of stream);
            /// [`OwnedReadHalf::reunite`]($crate::net::OwnedReadHalf::reunite) puts them
            /// back together.
            pub fn into_split(
                self,
            ) -> (
                $crate::net::OwnedReadHalf<$t>,
                $crate::net::OwnedWriteHalf<$t>,
            ) {
                $crate::net::split::into_split(self)
            }
        }

        impl $crate::io::PooledRead for $t {
            fn poll_recv_pooled(
                &self,
                pool: &$crate::buf::BufPool,
                cursor: &mut $crate::net::RecvCursor,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<Option<$crate::buf::PooledBuf>>> {
                self.sock.poll_recv_pooled(pool, cursor, cx)
            }
        }

        impl $crate::io::AsyncReadOwned for $t {
            fn read<B: $crate::buf::IoBufMut>(
                &self,
                buf: B,
            ) -> impl std::future::Future<Output = $crate::buf::BufResult<usize, B>> {
                self.sock.read(buf)
            }

            fn read_vectored<B: $crate::buf::IoBufMut>(
                &self,
                bufs: Vec<B>,
            ) -> impl std::future::Future<Output = $crate::buf::BufResult<usize, Vec<B>>> {
                self.sock.read_vectored(bufs)
            }
        }

        impl $crate::io::AsyncWriteOwned for $t {
            fn write<B: $crate::buf::IoBuf>(
                &self,
                buf: B,
            ) -> impl std::future::Future<Output = $crate::buf::BufResult<usize, B>> {
                self.sock.write(buf)
            }

            fn write_vectored<B: $crate::buf::IoBuf>(
                &self,
                bufs: Vec<B>,
            ) -> impl std::future::Future<Output = $crate::buf::BufResult<usize, Vec<B>>> {
                self.sock.write_vectored(bufs)
            }

            fn write_all<B: $crate::buf::IoBuf>(
                &self,
                buf: B,
            ) -> impl std::future::Future<Output = $crate::buf::BufResult<(), B>> {
                self.sock.write_all(buf)
            }
        }

        impl $crate::io::ShutdownWrite for $t {
            async fn shutdown_write(&self) -> std::io::Result<()> {
                self.sock.shutdown(std::net::Shutdown::Write).await
            }
        }

        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.sock.fd().raw()
            }
        }

        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.sock.fd().as_fd()
            }
        }
    };
}
pub(crate) use stream_socket_impls;

/// `pooled_stream`: one [`RecvPooledFuture`] after another.
struct RecvPooledStream<'a, const PIPE: bool> {
    next: RecvPooledFuture<'a, PIPE>,
    done: bool,
}

impl<const PIPE: bool> futures_core::Stream for RecvPooledStream<'_, PIPE> {
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

/// The future of `recv_pooled`, written by hand to stay small: it lives in
/// every connection's task while the connection is idle.
struct RecvPooledFuture<'a, const PIPE: bool> {
    stream: &'a StreamSocket<PIPE>,
    pool: &'a BufPool,
    cursor: RecvCursor,
}

/// Where a pooled receive stands between polls: see
/// [`TcpStream::poll_recv_pooled`](crate::net::TcpStream::poll_recv_pooled).
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

impl<const PIPE: bool> Future for RecvPooledFuture<'_, PIPE> {
    type Output = io::Result<Option<PooledBuf>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.stream
            .poll_recv_pooled(this.pool, &mut this.cursor, cx)
    }
}

// The operations are returned as they are, not wrapped in `async` blocks: a wrapper
// would hold the buffer a second time, and these futures live inside every
// connection's task (memory per idle connection).
impl<const PIPE: bool> AsyncReadOwned for StreamSocket<PIPE> {
    fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        Op::new(Recv::of_kind(self.fd.for_op(), buf, Self::KIND))
    }

    fn read_vectored<B: IoBufMut>(
        &self,
        bufs: Vec<B>,
    ) -> impl Future<Output = BufResult<usize, Vec<B>>> {
        Op::new(RecvVectored::of_kind(self.fd.for_op(), bufs, Self::KIND))
    }
}

// Every write waits for the stream's detached send in flight first (`Gated`), so bytes
// go out in the order they were written.
impl<const PIPE: bool> AsyncWriteOwned for StreamSocket<PIPE> {
    fn write<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        Gated::new(
            &self.fd,
            Op::new(Send::of_kind(self.fd.for_op(), buf, Self::KIND)),
        )
    }

    fn write_vectored<B: IoBuf>(
        &self,
        bufs: Vec<B>,
    ) -> impl Future<Output = BufResult<usize, Vec<B>>> {
        Gated::new(
            &self.fd,
            Op::new(SendVectored::of_kind(self.fd.for_op(), bufs, Self::KIND)),
        )
    }

    fn write_all<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        self.write_all_future(buf)
    }
}

impl<const PIPE: bool> StreamSocket<PIPE> {
    fn write_all_future<B: IoBuf>(&self, buf: B) -> WriteAllFuture<'_, B, PIPE> {
        let len = buf.bytes_init();
        WriteAllFuture {
            stream: self,
            op: Op::new(Send::of_kind(
                self.fd.for_op(),
                buf.slice(0..len),
                Self::KIND,
            )),
            sent: 0,
            gated: false,
        }
    }
}

/// A write that starts only once the stream's detached send in flight is done (order
/// on the stream), and fails with that send's error, if it had one, without starting.
pub(crate) struct Gated<'a, F> {
    fd: &'a Fd,
    write: F,
    open: bool,
}

impl<'a, F> Gated<'a, F> {
    fn new(fd: &'a Fd, write: F) -> Gated<'a, F> {
        Gated {
            fd,
            write,
            open: false,
        }
    }
}

/// A write [`Gated`] can give up before it starts.
pub(crate) trait Unstarted: Future + Unpin {
    /// The output of giving up with `err` (the buffers handed back).
    fn fail(&mut self, err: io::Error) -> Self::Output;
}

impl<T: crate::driver::Operation> Unstarted for Op<T> {
    fn fail(&mut self, err: io::Error) -> T::Output {
        self.fail_unstarted(err)
    }
}

impl<T: crate::driver::Operation> Unstarted for Timed<T> {
    fn fail(&mut self, err: io::Error) -> T::Output {
        self.fail_unstarted(err)
    }
}

impl<F: Unstarted> Future for Gated<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        if !this.open {
            match this.fd.poll_write_behind(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(this.write.fail(e)),
                Poll::Ready(Ok(())) => this.open = true,
            }
        }
        Pin::new(&mut this.write).poll(cx)
    }
}

/// `write_all_detached`: on io_uring, waits for the stream's detached send in flight (if
/// any), then hands the buffer to the kernel and is done; elsewhere (epoll, a pipe), a
/// `write_all` awaited here. Small, as it lives in every connection's task: the awaited
/// write is boxed, and only when it has to wait (its first attempt, inline, usually
/// finishes).
struct DetachedWriteFuture<'a, B: IoBuf, const PIPE: bool> {
    stream: &'a StreamSocket<PIPE>,
    state: DetachedWrite<'a, B, PIPE>,
}

enum DetachedWrite<'a, B: IoBuf, const PIPE: bool> {
    /// The buffer, until it is handed on (`None` once the future is done).
    Start(Option<B>),
    /// Where the write is awaited here and had to wait.
    Writing(Pin<Box<WriteAllFuture<'a, B, PIPE>>>),
}

impl<B: IoBuf, const PIPE: bool> Future for DetachedWriteFuture<'_, B, PIPE> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let buf = match &mut this.state {
            DetachedWrite::Writing(write) => {
                let Poll::Ready((res, _)) = write.as_mut().poll(cx) else {
                    return Poll::Pending;
                };
                this.state = DetachedWrite::Start(None);
                return Poll::Ready(res);
            }
            DetachedWrite::Start(buf) => {
                match this.stream.fd.poll_write_behind(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => {
                        *buf = None;
                        return Poll::Ready(Err(e));
                    }
                    Poll::Ready(Ok(())) => {}
                }
                let Some(buf) = buf.take() else {
                    panic!("ringio: write_all_detached polled after it completed");
                };
                buf
            }
        };
        let buf = if PIPE {
            buf
        } else {
            match this.stream.fd.send_detached(buf) {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(buf) => buf, // not io_uring: written here
            }
        };
        let mut write = this.stream.write_all_future(buf);
        // The stream's detached send was checked above in this same poll: no second check.
        write.gated = true;
        match Pin::new(&mut write).poll(cx) {
            Poll::Ready((res, _)) => Poll::Ready(res),
            Poll::Pending => {
                // An operation may move while it waits (`Op`'s contract).
                this.state = DetachedWrite::Writing(Box::pin(write));
                Poll::Pending
            }
        }
    }
}

/// `write_all` for a stream socket, written by hand to stay small (it lives in every
/// connection's task): the buffer lives inside the send in flight, and goes back in
/// with a narrower slice after a short write.
struct WriteAllFuture<'a, B: IoBuf, const PIPE: bool> {
    stream: &'a StreamSocket<PIPE>,
    /// The send in flight, or the last one once finished (polled again, it panics).
    op: Op<Send<Slice<B>>>,
    sent: usize,
    /// The stream's detached send in flight is done (see [`Gated`]).
    gated: bool,
}

impl<B: IoBuf, const PIPE: bool> Future for WriteAllFuture<'_, B, PIPE> {
    type Output = BufResult<(), B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if !this.gated {
            match this.stream.fd.poll_write_behind(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    let (res, slice) = this.op.fail_unstarted(e);
                    return Poll::Ready((res.map(drop), slice.into_inner()));
                }
                Poll::Ready(Ok(())) => this.gated = true,
            }
        }
        loop {
            // The finished op stays until the future is dropped (or the next send
            // replaces it): dropping it here too would cost a second drop per write.
            // Polled again, it panics as any finished `Op` does.
            let Poll::Ready((res, slice)) = Pin::new(&mut this.op).poll(cx) else {
                return Poll::Pending;
            };
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
            this.op = Op::new(Send::of_kind(
                this.stream.fd.for_op(),
                rest,
                StreamSocket::<PIPE>::KIND,
            ));
        }
    }
}
