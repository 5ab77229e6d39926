//! Owned-buffer I/O traits.
//!
//! Completion-based I/O lends the buffer to the kernel, so reads and writes take the
//! buffer by value and give it back with the result ([`BufResult`]). The traits here let
//! code be generic over streams (a [`TcpStream`](crate::net::TcpStream) or one of its
//! halves), and carry the loops [`read_exact`](AsyncReadOwned::read_exact) and
//! [`write_all`](AsyncWriteOwned::write_all).
//!
//! ```
//! use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
//!
//! async fn echo_once<S: AsyncReadOwned + AsyncWriteOwned>(s: &S) -> std::io::Result<()> {
//!     let (res, buf) = s.read(Vec::with_capacity(4096)).await;
//!     if res? > 0 {
//!         s.write_all(buf).await.0?;
//!     }
//!     Ok(())
//! }
//! ```

// The futures of these traits are deliberately not `Send`: tasks never leave their
// worker thread, so a `Send` bound would only forbid `Rc` in user code.
#![allow(async_fn_in_trait)]

mod async_fd;
mod reader;
mod writer;

pub use crate::net::RecvCursor;
pub use async_fd::{AsyncFd, AsyncFdReadyGuard};
pub use reader::{Lines, ReadError, StreamReader, DEFAULT_LIMIT};
pub use writer::{StreamWriter, DEFAULT_HIGH_WATER, DEFAULT_LOW_WATER};

use crate::buf::{BufPool, BufResult, IoBuf, IoBufMut, PooledBuf, Slice};
use std::io;
use std::task::{Context, Poll};

/// A byte stream that receives into a [`BufPool`]'s buffers, as a poll function: what a
/// [`StreamReader`] reads from. On io_uring the receive is a multishot receive that
/// stays armed, so the stream holds no buffer until data arrives.
///
/// Implemented by [`TcpStream`](crate::net::TcpStream), its halves, and references
/// and `Rc`s of them.
pub trait PooledRead {
    /// The next received bytes in a buffer of `pool`: `Ok(Some(buf))` with at least one
    /// byte, `Ok(None)` at end of stream. `cursor` carries the receive in progress
    /// between polls (start with [`RecvCursor::new`]; use one cursor per stream and
    /// pool). Cancel-safe: dropping the cursor between polls loses no byte.
    ///
    /// # Errors
    ///
    /// As `recv(2)`, e.g. `ConnectionReset`.
    fn poll_recv_pooled(
        &self,
        pool: &BufPool,
        cursor: &mut RecvCursor,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<PooledBuf>>>;
}

/// A connected socket's peer address: for [`StreamWriter::peer_addr`].
pub trait PeerAddr {
    /// The kind of address (`SocketAddr` for TCP, `UnixSocketAddr` for Unix).
    type Addr;

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// As `getpeername(2)`.
    fn peer_addr(&self) -> io::Result<Self::Addr>;
}

/// A byte stream whose write direction can be shut down (a FIN): what a
/// [`StreamWriter`] writes to, with [`AsyncWriteOwned`].
///
/// Implemented by [`TcpStream`](crate::net::TcpStream) and its write halves.
pub trait ShutdownWrite {
    /// Shuts down the write direction: the peer reads end of stream; reading goes on.
    ///
    /// # Errors
    ///
    /// As `shutdown(2)`, e.g. `NotConnected`.
    async fn shutdown_write(&self) -> io::Result<()>;
}

impl<T: PooledRead + ?Sized> PooledRead for &T {
    fn poll_recv_pooled(
        &self,
        pool: &BufPool,
        cursor: &mut RecvCursor,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<PooledBuf>>> {
        (**self).poll_recv_pooled(pool, cursor, cx)
    }
}

impl<T: PooledRead + ?Sized> PooledRead for std::rc::Rc<T> {
    fn poll_recv_pooled(
        &self,
        pool: &BufPool,
        cursor: &mut RecvCursor,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<PooledBuf>>> {
        (**self).poll_recv_pooled(pool, cursor, cx)
    }
}

/// Reading into owned buffers.
pub trait AsyncReadOwned {
    /// Reads into `buf` from its start, up to its capacity
    /// ([`bytes_total`](IoBuf::bytes_total)), and returns how many bytes came; 0 means
    /// end of stream. The bytes read become the buffer's initialised length.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes loses whatever the kernel had read
    /// into the buffer by then, never memory safety: the buffer stays alive until the
    /// kernel lets go of it.
    async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B>;

    /// Reads into several buffers in order (`readv`).
    async fn read_vectored<B: IoBufMut>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>>;

    /// Fills `buf` to its capacity. End of stream first is an
    /// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) error; the bytes that did come
    /// are in the buffer (its initialised length says how many).
    async fn read_exact<B: IoBufMut>(&self, buf: B) -> BufResult<(), B> {
        fill_with(buf, |rest, _| self.read(rest)).await
    }
}

/// Fills `buf` to its capacity by calling `read(rest, filled)` for the part not yet
/// filled (`filled` bytes are in); a read of 0 bytes first is `UnexpectedEof`.
pub(crate) async fn fill_with<B, F, Fut>(mut buf: B, mut read: F) -> BufResult<(), B>
where
    B: IoBufMut,
    F: FnMut(Slice<B>, usize) -> Fut,
    Fut: std::future::Future<Output = BufResult<usize, Slice<B>>>,
{
    let total = buf.bytes_total();
    let mut filled = 0;
    while filled < total {
        let (res, slice) = read(buf.slice(filled..), filled).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return (Err(io::ErrorKind::UnexpectedEof.into()), buf),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// Writes all of `buf`'s initialised bytes by calling `write(rest, sent)` for the part
/// not yet written (`sent` bytes are out); a write of 0 bytes is `WriteZero`.
pub(crate) async fn drain_with<B, F, Fut>(mut buf: B, mut write: F) -> BufResult<(), B>
where
    B: IoBuf,
    F: FnMut(Slice<B>, usize) -> Fut,
    Fut: std::future::Future<Output = BufResult<usize, Slice<B>>>,
{
    let len = buf.bytes_init();
    let mut sent = 0;
    while sent < len {
        let (res, slice) = write(buf.slice(sent..len), sent).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// Writing from owned buffers.
pub trait AsyncWriteOwned {
    /// Writes some of `buf`'s initialised bytes and returns how many.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped the bytes may or may not have been sent.
    async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B>;

    /// Writes from several buffers in order (`sendmsg`).
    async fn write_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>>;

    /// Writes all of `buf`'s initialised bytes. A write of zero bytes is a
    /// [`WriteZero`](io::ErrorKind::WriteZero) error.
    async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        drain_with(buf, |rest, _| self.write(rest)).await
    }
}

/// A shared stream reads as the stream does (several tasks may hold it).
impl<T: AsyncReadOwned + ?Sized> AsyncReadOwned for std::rc::Rc<T> {
    async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        (**self).read(buf).await
    }

    async fn read_vectored<B: IoBufMut>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        (**self).read_vectored(bufs).await
    }

    async fn read_exact<B: IoBufMut>(&self, buf: B) -> BufResult<(), B> {
        (**self).read_exact(buf).await
    }
}

/// A shared stream writes as the stream does (several tasks may hold it).
impl<T: AsyncWriteOwned + ?Sized> AsyncWriteOwned for std::rc::Rc<T> {
    async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        (**self).write(buf).await
    }

    async fn write_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        (**self).write_vectored(bufs).await
    }

    async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        (**self).write_all(buf).await
    }
}

impl<T: PeerAddr + ?Sized> PeerAddr for std::rc::Rc<T> {
    type Addr = T::Addr;

    fn peer_addr(&self) -> io::Result<T::Addr> {
        (**self).peer_addr()
    }
}

impl<T: ShutdownWrite + ?Sized> ShutdownWrite for std::rc::Rc<T> {
    async fn shutdown_write(&self) -> io::Result<()> {
        (**self).shutdown_write().await
    }
}
