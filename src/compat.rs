//! Adapters to the I/O traits of tokio (`tokio::io::{AsyncRead, AsyncWrite}`, feature
//! `tokio-io`) and of the futures crates (`futures_io::{AsyncRead, AsyncWrite}`,
//! feature `futures-io`), so code written against them (codecs, `tokio::io::copy`,
//! protocol crates) runs over ringio's owned-buffer streams; and hyper 1.x natively
//! (feature `hyper`, no tokio in the path): `hyper::rt::{Read, Write}` for [`Compat`],
//! with `HyperExecutor` and `HyperTimer` (see their docs for a server and a client).
//!
//! [`Compat`] wraps any stream that receives into a pool and writes owned buffers (TCP
//! and Unix streams, their owned halves, child process pipes).
//!
//! # The copies that remain, and why
//!
//! The borrowed-buffer traits hand the stream a `&mut [u8]` to fill and a `&[u8]` to
//! send, valid only for the call, while the kernel needs memory it owns until the
//! operation completes (ringio's drop-safety rule):
//!
//! - **Reads** take the bytes from the worker's shared receive pool (a multishot
//!   receive on io_uring, so an idle stream holds no buffer) and copy them into the
//!   caller's buffer: one copy, the one every completion-based runtime pays here. A
//!   receive larger than the caller's buffer keeps its remainder for the next read.
//!   hyper's `ReadBufCursor` is filled the same way, straight into its (possibly
//!   uninitialised) memory, with no zeroing first.
//! - **Writes** copy the caller's bytes into an owned buffer (reused from write to
//!   write) and send it: one copy. A vectored write (hyper's headers and body) is
//!   gathered into that same buffer and sent at once, still one copy. `poll_write` reports readiness from the send's
//!   completion: it returns `Pending` until the send has completed and then the count
//!   the kernel took, so errors are never deferred and a write never stalls unpolled.
//!   As with every such adapter, call `poll_write` again with the same bytes after a
//!   `Pending` (all of tokio's and futures' helpers do).
//!
//! Dropping a `Compat` with a send or a receive in flight is as safe as dropping the
//! operation itself: its buffer stays with the driver until the kernel is done.
//!
//! ```
//! # #[cfg(feature = "tokio-io")]
//! # ringio::run(async {
//! use ringio::compat::Compat;
//! use ringio::net::{TcpListener, TcpStream};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let mut client = Compat::new(TcpStream::connect(listener.local_addr().unwrap()).await.unwrap());
//! let mut server = Compat::new(listener.accept().await.unwrap().0);
//! client.write_all(b"through tokio's traits").await.unwrap();
//! let mut got = [0u8; 22];
//! server.read_exact(&mut got).await.unwrap();
//! assert_eq!(&got, b"through tokio's traits");
//! # });
//! ```

use crate::buf::{BufPool, BufResult, PooledBuf};
use crate::io::{AsyncWriteOwned, PooledRead, RecvCursor, ShutdownWrite};
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

#[cfg(feature = "hyper")]
mod hyper_rt;
#[cfg(feature = "hyper")]
pub use hyper_rt::{HyperExecutor, HyperSleep, HyperTimer};

type WriteFuture = Pin<Box<dyn Future<Output = BufResult<usize, Vec<u8>>>>>;
type ShutdownFuture = Pin<Box<dyn Future<Output = io::Result<()>>>>;

/// A ringio stream seen through tokio's or the futures crates' I/O traits; see the
/// [module docs](self) for what it copies and why.
pub struct Compat<S> {
    stream: Rc<S>,
    /// The pool reads receive into: the worker's shared stream pool, from the first read.
    pool: Option<BufPool>,
    cursor: RecvCursor,
    /// Received bytes not yet handed out, and how many of them were.
    unread: Option<(PooledBuf, usize)>,
    /// The send in flight, if `poll_write` returned `Pending`.
    writing: Option<WriteFuture>,
    /// The write buffer, kept between sends.
    spare: Vec<u8>,
    shutting_down: Option<ShutdownFuture>,
}

impl<S> fmt::Debug for Compat<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compat")
            .field("unread", &self.unread.as_ref().map(|(b, at)| b.len() - at))
            .field("writing", &self.writing.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> Compat<S>
where
    S: PooledRead + AsyncWriteOwned + ShutdownWrite + 'static,
{
    /// Wraps `stream`.
    pub fn new(stream: S) -> Compat<S> {
        Compat {
            stream: Rc::new(stream),
            pool: None,
            cursor: RecvCursor::new(),
            unread: None,
            writing: None,
            spare: Vec::new(),
            shutting_down: None,
        }
    }

    /// The stream inside.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The received bytes not yet handed out, receiving more first if there are none
    /// (empty at end of stream); [`consume`](Self::consume) says how many were taken.
    /// The shared core of every trait's `poll_read`.
    fn poll_unread(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        if self.unread.is_none() {
            let pool = self
                .pool
                .get_or_insert_with(|| crate::runtime::context::with_core(|c| c.stream_pool()));
            match ready!(self.stream.poll_recv_pooled(pool, &mut self.cursor, cx))? {
                Some(buf) => self.unread = Some((buf, 0)),
                None => return Poll::Ready(Ok(&[])),
            }
        }
        let (buf, at) = self.unread.as_ref().expect("filled above");
        Poll::Ready(Ok(&buf[*at..]))
    }

    /// Marks `n` of the bytes [`poll_unread`](Self::poll_unread) returned as handed out.
    fn consume(&mut self, n: usize) {
        if let Some((buf, at)) = self.unread.as_mut() {
            *at += n;
            if *at >= buf.len() {
                // The pool's buffer goes back now.
                self.unread = None;
            }
        }
    }

    /// Fills `dst` with received bytes (none at end of stream).
    #[cfg(any(feature = "tokio-io", feature = "futures-io"))]
    fn poll_read_into(&mut self, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let unread = ready!(self.poll_unread(cx))?;
        let n = dst.len().min(unread.len());
        dst[..n].copy_from_slice(&unread[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    /// Sends (a prefix of) `src`, ready once the send completes.
    fn poll_write_from(&mut self, cx: &mut Context<'_>, src: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_gather(cx, std::slice::from_ref(&src))
    }

    /// Sends (a prefix of) the bytes of `srcs` in order, gathered into the one owned
    /// buffer, ready once the send completes; the shared core of every trait's
    /// `poll_write` and `poll_write_vectored`.
    fn poll_write_gather<T: std::ops::Deref<Target = [u8]>>(
        &mut self,
        cx: &mut Context<'_>,
        srcs: &[T],
    ) -> Poll<io::Result<usize>> {
        if self.writing.is_none() {
            let len: usize = srcs.iter().map(|s| s.len()).sum();
            if len == 0 {
                return Poll::Ready(Ok(0));
            }
            let mut owned = std::mem::take(&mut self.spare);
            owned.clear();
            owned.reserve(len);
            for src in srcs {
                owned.extend_from_slice(src);
            }
            let stream = self.stream.clone();
            self.writing = Some(Box::pin(async move { stream.write(owned).await }));
        }
        let writing = self.writing.as_mut().expect("set above");
        let (res, mut owned) = ready!(writing.as_mut().poll(cx));
        self.writing = None;
        owned.clear();
        self.spare = owned;
        Poll::Ready(res)
    }

    /// Waits for the send in flight, if any.
    fn poll_flush_writes(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(writing) = self.writing.as_mut() {
            let (res, mut owned) = ready!(writing.as_mut().poll(cx));
            self.writing = None;
            owned.clear();
            self.spare = owned;
            res?;
        }
        Poll::Ready(Ok(()))
    }

    /// Flushes, then shuts the write direction down (a FIN for a socket).
    fn poll_shutdown_writes(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_flush_writes(cx))?;
        if self.shutting_down.is_none() {
            let stream = self.stream.clone();
            self.shutting_down = Some(Box::pin(async move { stream.shutdown_write().await }));
        }
        let res = ready!(self
            .shutting_down
            .as_mut()
            .expect("set above")
            .as_mut()
            .poll(cx));
        self.shutting_down = None;
        Poll::Ready(res)
    }
}

#[cfg(feature = "tokio-io")]
impl<S> tokio::io::AsyncRead for Compat<S>
where
    S: PooledRead + AsyncWriteOwned + ShutdownWrite + 'static,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = ready!(this.poll_read_into(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio-io")]
impl<S> tokio::io::AsyncWrite for Compat<S>
where
    S: PooledRead + AsyncWriteOwned + ShutdownWrite + 'static,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_from(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_writes(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_shutdown_writes(cx)
    }
}

#[cfg(feature = "futures-io")]
impl<S> futures_io::AsyncRead for Compat<S>
where
    S: PooledRead + AsyncWriteOwned + ShutdownWrite + 'static,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_into(cx, buf)
    }
}

#[cfg(feature = "futures-io")]
impl<S> futures_io::AsyncWrite for Compat<S>
where
    S: PooledRead + AsyncWriteOwned + ShutdownWrite + 'static,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_from(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_writes(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_shutdown_writes(cx)
    }
}
