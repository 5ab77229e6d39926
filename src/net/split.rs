//! Halves of a stream (a [`TcpStream`] or a [`UnixStream`](crate::net::UnixStream)), for
//! reading and writing from different places. `S` is the stream type; it defaults to
//! [`TcpStream`].

use crate::buf::{BufPool, BufResult, IoBuf, IoBufMut, PooledBuf};
use crate::io::{AsyncReadOwned, AsyncWriteOwned, PooledRead};
use crate::net::{RecvCursor, TcpStream};
use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::task::{Context, Poll};

/// The read half of a stream's `split`.
#[derive(Debug)]
pub struct ReadHalf<'a, S = TcpStream>(pub(crate) &'a S);

/// The write half of a stream's `split`.
#[derive(Debug)]
pub struct WriteHalf<'a, S = TcpStream>(pub(crate) &'a S);

/// The read half of a stream's `into_split`, movable into its own task.
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
pub struct OwnedReadHalf<S = TcpStream> {
    stream: Rc<S>,
}

/// The write half of a stream's `into_split`. Dropping it shuts down the write side.
#[derive(Debug)]
pub struct OwnedWriteHalf<S: AsFd = TcpStream> {
    stream: Rc<S>,
    shutdown_on_drop: bool,
}

/// The halves given to [`OwnedReadHalf::reunite`] came from different streams; they
/// are handed back.
pub struct ReuniteError<S: AsFd = TcpStream>(pub OwnedReadHalf<S>, pub OwnedWriteHalf<S>);

impl<S: AsFd> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S: AsFd> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves of different streams")
    }
}

impl<S: AsFd> std::error::Error for ReuniteError<S> {}

/// Both owned halves of `stream`.
pub(crate) fn into_split<S: AsFd>(stream: S) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>) {
    split_rc(Rc::new(stream))
}

/// Both owned halves of a stream already shared: for a server that keeps a weak
/// reference to each client's stream.
pub(crate) fn split_rc<S: AsFd>(stream: Rc<S>) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>) {
    (
        OwnedReadHalf {
            stream: stream.clone(),
        },
        OwnedWriteHalf {
            stream,
            shutdown_on_drop: true,
        },
    )
}

impl<S> OwnedReadHalf<S> {
    /// The stream both halves share.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }
}

impl<S: AsFd> OwnedReadHalf<S> {
    /// Puts the halves back together.
    ///
    /// # Errors
    ///
    /// If they came from different streams; both are handed back.
    pub fn reunite(self, mut other: OwnedWriteHalf<S>) -> Result<S, ReuniteError<S>> {
        if !Rc::ptr_eq(&self.stream, &other.stream) {
            return Err(ReuniteError(self, other));
        }
        other.shutdown_on_drop = false;
        let stream = other.stream.clone();
        drop(other);
        drop(self);
        match Rc::try_unwrap(stream) {
            Ok(stream) => Ok(stream),
            Err(_) => unreachable!("both halves were given up"),
        }
    }
}

impl<S: AsFd> OwnedWriteHalf<S> {
    /// The stream both halves share.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }
}

impl<S: AsFd> Drop for OwnedWriteHalf<S> {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = socket2::SockRef::from(&*self.stream).shutdown(std::net::Shutdown::Write);
        }
    }
}

/// A half's view of its stream, for the delegating impls below.
trait Half {
    type Stream;
    fn stream(&self) -> &Self::Stream;
}

impl<S> Half for ReadHalf<'_, S> {
    type Stream = S;
    fn stream(&self) -> &S {
        self.0
    }
}

impl<S> Half for WriteHalf<'_, S> {
    type Stream = S;
    fn stream(&self) -> &S {
        self.0
    }
}

impl<S> Half for OwnedReadHalf<S> {
    type Stream = S;
    fn stream(&self) -> &S {
        &self.stream
    }
}

impl<S: AsFd> Half for OwnedWriteHalf<S> {
    type Stream = S;
    fn stream(&self) -> &S {
        &self.stream
    }
}

/// The read side's traits for each read half (`$half<$lt, S>` or `$half<S>`).
macro_rules! delegate_read {
    ($($half:ident $(<$lt:lifetime>)?),*) => {$(
        impl<S: AsyncReadOwned> AsyncReadOwned for $half<$($lt,)? S> {
            async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
                self.stream().read(buf).await
            }
            async fn read_vectored<B: IoBufMut>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
                self.stream().read_vectored(bufs).await
            }
        }

        impl<S: PooledRead> PooledRead for $half<$($lt,)? S> {
            fn poll_recv_pooled(
                &self,
                pool: &BufPool,
                cursor: &mut RecvCursor,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<Option<PooledBuf>>> {
                self.stream().poll_recv_pooled(pool, cursor, cx)
            }
        }
    )*};
}

/// The write side's trait for each write half.
macro_rules! delegate_write {
    ($($half:ident $(<$lt:lifetime>)?),*) => {$(
        impl<S: AsyncWriteOwned + AsFd> AsyncWriteOwned for $half<$($lt,)? S> {
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

/// Shutting the write direction, for each write half.
macro_rules! delegate_shutdown_write {
    ($($half:ident $(<$lt:lifetime>)?),*) => {$(
        impl<S: crate::io::ShutdownWrite + AsFd> crate::io::ShutdownWrite for $half<$($lt,)? S> {
            async fn shutdown_write(&self) -> std::io::Result<()> {
                self.stream().shutdown_write().await
            }
        }
    )*};
}

delegate_shutdown_write!(WriteHalf<'_>, OwnedWriteHalf);

/// The peer's address, for each half.
macro_rules! delegate_peer_addr {
    ($($half:ident $(<$lt:lifetime>)?),*) => {$(
        impl<S: crate::io::PeerAddr + AsFd> crate::io::PeerAddr for $half<$($lt,)? S> {
            type Addr = S::Addr;
            fn peer_addr(&self) -> std::io::Result<S::Addr> {
                self.stream().peer_addr()
            }
        }
    )*};
}

delegate_peer_addr!(ReadHalf<'_>, WriteHalf<'_>, OwnedReadHalf, OwnedWriteHalf);
