//! [`UnixStream`]: a Unix stream connection, with credentials and fd passing.

use super::{socket, UnixSocketAddr};
use crate::buf::{BufPool, BufResult, IoBuf, IoBufMut, PooledBuf};
use crate::driver::ops::{ConnectUnix, RecvMsg, SendMsg, MAX_FDS};
use crate::driver::Op;
use crate::net::socket::StreamSocket;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

/// A Unix stream connection, read and written with owned buffers through
/// [`AsyncReadOwned`](crate::io::AsyncReadOwned) and [`AsyncWriteOwned`](crate::io::AsyncWriteOwned), like a
/// [`TcpStream`](crate::net::TcpStream); it also reads through a
/// [`StreamReader`](crate::io::StreamReader) ([`PooledRead`](crate::io::PooledRead)).
///
/// Every method takes `&self`, so one task may read while another writes (share the
/// stream through an `Rc`).
///
/// ```
/// # ringio::run(async {
/// use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
/// use ringio::net::UnixStream;
/// let (a, b) = UnixStream::pair().unwrap();
/// a.write_all("hello").await.0.unwrap();
/// let (res, buf) = b.read_exact(vec![0; 5]).await;
/// res.unwrap();
/// assert_eq!(&buf, b"hello");
/// # });
/// ```
pub struct UnixStream {
    sock: StreamSocket,
}

/// The credentials of the process at the other end of a [`UnixStream`], as the kernel
/// recorded them when the connection was made (SO_PEERCRED).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UCred {
    pid: i32,
    uid: u32,
    gid: u32,
}

impl UCred {
    /// The peer's process id (at connect time; that process may have exited since).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The peer's effective user id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The peer's effective group id.
    pub fn gid(&self) -> u32 {
        self.gid
    }
}

impl std::fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", self.sock.fd())
            .finish()
    }
}

impl UnixStream {
    /// Connects to the listener bound at the filesystem path `path`.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if the path does not fit in `sun_path` (107 bytes).
    /// - `NotFound` if nothing is at the path; `ConnectionRefused` if a socket file is
    ///   there but nothing listens on it (a stale file).
    /// - `WouldBlock` if the listener's backlog is full: a Unix connect succeeds or
    ///   fails at once, and there is no readiness to wait for; try again later.
    ///
    /// # Cancel safety
    ///
    /// The connect completes within the first poll, so there is nothing in flight to
    /// cancel; dropping the future closes the socket.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = UnixSocketAddr::from_pathname(path)?;
        UnixStream::connect_addr(&addr).await
    }

    /// Connects to the listener bound to the Linux abstract name `name`.
    ///
    /// # Errors
    ///
    /// As [`connect`](UnixStream::connect) (`ConnectionRefused` when no socket has the
    /// name).
    pub async fn connect_abstract(name: impl AsRef<[u8]>) -> io::Result<UnixStream> {
        let addr = UnixSocketAddr::from_abstract_name(name)?;
        UnixStream::connect_addr(&addr).await
    }

    /// Connects to `addr` (a path or an abstract name).
    ///
    /// # Errors
    ///
    /// As [`connect`](UnixStream::connect).
    pub async fn connect_addr(addr: &UnixSocketAddr) -> io::Result<UnixStream> {
        let stream = UnixStream::from_owned_fd(OwnedFd::from(socket(socket2::Type::STREAM)?));
        Op::new(ConnectUnix::new(stream.sock.fd().for_op(), addr.to_raw())).await?;
        Ok(stream)
    }

    /// A pair of connected, unnamed streams (`socketpair(2)`).
    ///
    /// # Errors
    ///
    /// As `socketpair(2)`, e.g. `EMFILE`.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let ty = socket2::Type::STREAM.nonblocking().cloexec();
        let (a, b) = socket2::Socket::pair(socket2::Domain::UNIX, ty, None)?;
        Ok((
            UnixStream::from_owned_fd(OwnedFd::from(a)),
            UnixStream::from_owned_fd(OwnedFd::from(b)),
        ))
    }

    /// Wraps a connected std stream (made non-blocking here).
    ///
    /// # Errors
    ///
    /// If the fd cannot be made non-blocking.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream::from_owned_fd(OwnedFd::from(stream)))
    }

    /// Receives the next bytes into a buffer of `pool`: `Ok(Some(buf))` with at least
    /// one byte, or `Ok(None)` at end of stream. The same machinery as
    /// [`TcpStream::recv_pooled`](crate::net::TcpStream::recv_pooled): a multishot
    /// receive on io_uring, so an idle stream holds no buffer. Its poll form is
    /// [`PooledRead::poll_recv_pooled`](crate::io::PooledRead::poll_recv_pooled), which a
    /// [`StreamReader`](crate::io::StreamReader) reads through.
    ///
    /// # Errors and cancel safety
    ///
    /// As for `TcpStream::recv_pooled`: errors of `recv(2)`; cancel-safe.
    pub fn recv_pooled<'a>(
        &'a self,
        pool: &'a BufPool,
    ) -> impl Future<Output = io::Result<Option<PooledBuf>>> + 'a {
        self.sock.recv_pooled(pool)
    }

    /// Sends some of `buf`'s bytes with the open files `fds` attached (SCM_RIGHTS); the
    /// peer receives them with [`recv_with_fds`](UnixStream::recv_with_fds) as new fds
    /// of its own. Returns how many bytes were sent; the fds go with the first of them,
    /// so send the rest with [`write_all`](crate::io::AsyncWriteOwned::write_all).
    ///
    /// The fds are duplicated (close-on-exec) for the send, and the duplicates are
    /// closed when it completes: the caller keeps its own, and may close them as soon
    /// as this returns, or when the future is dropped.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `buf` is empty while `fds` is not (on a stream socket the fds
    /// travel with a byte), or if `fds` holds more than 253 (the kernel's SCM_MAX_FD);
    /// otherwise as `dup(2)` and `sendmsg(2)`.
    ///
    /// # Cancel safety
    ///
    /// As [`write`](crate::io::AsyncWriteOwned::write): if the future is dropped, the bytes (and
    /// the fds) may or may not have been sent.
    pub async fn send_with_fds<B: IoBuf>(
        &self,
        buf: B,
        fds: &[BorrowedFd<'_>],
    ) -> BufResult<usize, B> {
        if fds.len() > MAX_FDS {
            let msg = format!(
                "{} fds in one message; the kernel takes {MAX_FDS}",
                fds.len()
            );
            return (Err(io::Error::new(io::ErrorKind::InvalidInput, msg)), buf);
        }
        if !fds.is_empty() && buf.bytes_init() == 0 {
            let msg = "fds must travel with at least one byte on a stream socket";
            return (Err(io::Error::new(io::ErrorKind::InvalidInput, msg)), buf);
        }
        let dups: io::Result<Vec<OwnedFd>> = fds.iter().map(|fd| fd.try_clone_to_owned()).collect();
        let dups = match dups {
            Ok(dups) => dups,
            Err(e) => return (Err(e), buf),
        };
        // After a detached send in flight, in order (see `write_all_detached`).
        if let Err(e) = self.sock.flush().await {
            return (Err(e), buf);
        }
        Op::new(SendMsg::new(self.sock.fd().for_op(), buf, None, dups)).await
    }

    /// Receives into `buf` (from its start, up to its capacity), with up to `max_fds`
    /// files the peer attached (SCM_RIGHTS; at most 253 are ever taken), as new
    /// close-on-exec fds. `Ok((0, _))` is end of stream.
    ///
    /// Do not mix this with [`recv_pooled`](UnixStream::recv_pooled) on the same
    /// stream: on io_uring its multishot receive stays armed and would take the bytes,
    /// and a plain receive takes no fds (the kernel closes those that came with them).
    ///
    /// ```
    /// # ringio::run(async {
    /// use ringio::io::AsyncReadOwned;
    /// use std::os::fd::AsFd;
    /// let (a, b) = ringio::net::UnixStream::pair().unwrap();
    /// let file = std::fs::File::open("/dev/null").unwrap();
    /// a.send_with_fds(b"f", &[file.as_fd()]).await.0.unwrap();
    /// let (res, buf) = b.recv_with_fds(vec![0u8; 16], 4).await;
    /// let (n, fds) = res.unwrap();
    /// assert_eq!((&buf[..n], fds.len()), (&b"f"[..], 1));
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// As `recvmsg(2)`. If more fds arrived than `max_fds` (MSG_CTRUNC), an
    /// `InvalidData` error, after closing those that did fit (the kernel closes the
    /// rest); the bytes received are in the buffer (its initialised length).
    ///
    /// # Cancel safety
    ///
    /// Fds are never leaked: if the future is dropped while the receive is in flight
    /// and it completes anyway, the fds it brought are closed. The bytes of such a
    /// receive are lost, as with a dropped [`read`](crate::io::AsyncReadOwned::read).
    pub async fn recv_with_fds<B: IoBufMut>(
        &self,
        buf: B,
        max_fds: usize,
    ) -> BufResult<(usize, Vec<OwnedFd>), B> {
        let op = RecvMsg::new(self.sock.fd().for_op(), buf, false, max_fds);
        let (res, buf) = Op::new(op).await;
        (res.map(|r| (r.len, r.fds)), buf)
    }

    /// Shuts down the read side, the write side, or both (`shutdown(2)`). Shutting the
    /// write side makes the peer read end of stream.
    ///
    /// # Errors
    ///
    /// As `shutdown(2)`, e.g. `NotConnected`.
    pub async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.shutdown(how).await
    }

    /// The credentials of the peer process (SO_PEERCRED): its pid, uid and gid when
    /// it connected (or made the pair).
    ///
    /// ```
    /// let (a, _b) = ringio::net::UnixStream::pair().unwrap();
    /// assert_eq!(a.peer_cred().unwrap().pid(), std::process::id() as i32);
    /// ```
    ///
    /// # Errors
    ///
    /// As `getsockopt(2)`.
    pub fn peer_cred(&self) -> io::Result<UCred> {
        use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
        let cred = getsockopt(self.sock.fd(), PeerCredentials).map_err(io::Error::from)?;
        Ok(UCred {
            pid: cred.pid(),
            uid: cred.uid(),
            gid: cred.gid(),
        })
    }

    /// The local address (usually unnamed for a client).
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        UnixSocketAddr::from_sockaddr(socket2::SockRef::from(self.sock.fd()).local_addr()?)
    }

    /// The peer's address: the listener's path or name, for a client.
    ///
    /// # Errors
    ///
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddr> {
        UnixSocketAddr::from_sockaddr(socket2::SockRef::from(self.sock.fd()).peer_addr()?)
    }
}

crate::net::socket::stream_socket_impls!(UnixStream);

impl crate::io::PeerAddr for UnixStream {
    type Addr = UnixSocketAddr;

    fn peer_addr(&self) -> io::Result<UnixSocketAddr> {
        UnixStream::peer_addr(self)
    }
}
