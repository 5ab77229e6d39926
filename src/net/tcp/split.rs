//! Halves of a [`TcpStream`], for reading and writing from different places.

use super::TcpStream;
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::io::{AsyncReadOwned, AsyncWriteOwned};
use std::fmt;
use std::rc::Rc;

/// The read half of [`TcpStream::split`].
#[derive(Debug)]
pub struct ReadHalf<'a>(pub(super) &'a TcpStream);

/// The write half of [`TcpStream::split`].
#[derive(Debug)]
pub struct WriteHalf<'a>(pub(super) &'a TcpStream);

/// The read half of [`TcpStream::into_split`], movable into its own task.
///
/// ```
/// # ringio::run(async {
/// use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
/// use ringio::net::{TcpListener, TcpStream};
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
/// let (server, _) = listener.accept().await.unwrap();
/// let (rd, wr) = client.into_split();
/// let reader = ringio::spawn(async move { rd.read_exact(vec![0u8; 3]).await.1 });
/// server.write_all(b"abc").await.0.unwrap();
/// assert_eq!(reader.await.unwrap(), b"abc");
/// drop(wr); // shuts down the write side
/// let (n, _) = server.read(vec![0u8; 8]).await;
/// assert_eq!(n.unwrap(), 0);
/// # });
/// ```
#[derive(Debug)]
pub struct OwnedReadHalf {
    stream: Rc<TcpStream>,
}

/// The write half of [`TcpStream::into_split`]. Dropping it shuts down the write side.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    stream: Rc<TcpStream>,
    shutdown_on_drop: bool,
}

/// The halves given to [`OwnedReadHalf::reunite`] came from different streams; they
/// are handed back.
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Debug for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves of different streams")
    }
}

impl std::error::Error for ReuniteError {}

impl OwnedReadHalf {
    pub(super) fn new(stream: Rc<TcpStream>) -> OwnedReadHalf {
        OwnedReadHalf { stream }
    }

    /// Puts the halves back together.
    ///
    /// # Errors
    ///
    /// If they came from different streams; both are handed back.
    pub fn reunite(self, mut other: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        if !Rc::ptr_eq(&self.stream, &other.stream) {
            return Err(ReuniteError(self, other));
        }
        other.shutdown_on_drop = false;
        let stream = other.stream.clone();
        drop(other);
        drop(self);
        Ok(Rc::try_unwrap(stream).expect("both halves were given up"))
    }

    /// The stream both halves share.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }
}

impl OwnedWriteHalf {
    pub(super) fn new(stream: Rc<TcpStream>) -> OwnedWriteHalf {
        OwnedWriteHalf {
            stream,
            shutdown_on_drop: true,
        }
    }

    /// The stream both halves share.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            self.stream.shutdown_write_now();
        }
    }
}

macro_rules! delegate_read {
    ($($t:ty),*) => {$(
        impl AsyncReadOwned for $t {
            async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
                self.stream().read(buf).await
            }
            async fn read_vectored<B: IoBufMut>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
                self.stream().read_vectored(bufs).await
            }
        }
    )*};
}

macro_rules! delegate_write {
    ($($t:ty),*) => {$(
        impl AsyncWriteOwned for $t {
            async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
                self.stream().write(buf).await
            }
            async fn write_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
                self.stream().write_vectored(bufs).await
            }
        }
    )*};
}

delegate_read!(ReadHalf<'_>, OwnedReadHalf);
delegate_write!(WriteHalf<'_>, OwnedWriteHalf);

macro_rules! delegate_pooled_read {
    ($($half:ty),*) => {$(
        impl crate::io::PooledRead for $half {
            fn poll_recv_pooled(
                &self,
                pool: &crate::buf::BufPool,
                cursor: &mut crate::net::RecvCursor,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<Option<crate::buf::PooledBuf>>> {
                self.stream().poll_recv_pooled(pool, cursor, cx)
            }
        }
    )*};
}

delegate_pooled_read!(ReadHalf<'_>, OwnedReadHalf);

trait Half {
    fn stream(&self) -> &TcpStream;
}

impl Half for ReadHalf<'_> {
    fn stream(&self) -> &TcpStream {
        self.0
    }
}

impl Half for WriteHalf<'_> {
    fn stream(&self) -> &TcpStream {
        self.0
    }
}

impl Half for OwnedReadHalf {
    fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

impl Half for OwnedWriteHalf {
    fn stream(&self) -> &TcpStream {
        &self.stream
    }
}
