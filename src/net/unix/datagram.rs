//! [`UnixDatagram`]: a Unix datagram socket.

use super::{socket, BoundPath, UnixSocketAddr};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::ops::{Recv, RecvMsg, Send, SendMsg};
use crate::driver::{Fd, Op};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// A Unix datagram socket: each send is one message, received whole (up to the
/// buffer's capacity; the rest of a longer message is discarded, as with `recv(2)`).
///
/// ```
/// # ringio::run(async {
/// use ringio::net::UnixDatagram;
/// let (a, b) = UnixDatagram::pair().unwrap();
/// a.send(b"one").await.0.unwrap();
/// a.send(b"two").await.0.unwrap();
/// let (n, buf) = b.recv(vec![0u8; 16]).await;
/// assert_eq!(&buf[..n.unwrap()], b"one");
/// let (n, buf) = b.recv(vec![0u8; 16]).await;
/// assert_eq!(&buf[..n.unwrap()], b"two");
/// # });
/// ```
pub struct UnixDatagram {
    fd: Fd,
    /// The socket file `bind` created, removed on drop if it is still there.
    path: Option<BoundPath>,
}

impl std::fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("fd", &self.fd)
            .field("path", &self.path)
            .finish()
    }
}

impl UnixDatagram {
    /// A socket bound to the filesystem path `path`. When dropped it removes the
    /// socket file, if the path still names the file it created (as
    /// [`UnixListener`](crate::net::UnixListener) does).
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the path does not fit in `sun_path` (107 bytes); `AddrInUse`
    /// if the path exists; otherwise as `bind(2)`.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        UnixDatagram::bind_addr(&UnixSocketAddr::from_pathname(path)?)
    }

    /// A socket bound to the Linux abstract name `name`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `name` is longer than 107 bytes; `AddrInUse` if taken.
    pub fn bind_abstract(name: impl AsRef<[u8]>) -> io::Result<UnixDatagram> {
        UnixDatagram::bind_addr(&UnixSocketAddr::from_abstract_name(name)?)
    }

    /// A socket bound to `addr` (a path or an abstract name).
    ///
    /// # Errors
    ///
    /// As [`bind`](UnixDatagram::bind).
    pub fn bind_addr(addr: &UnixSocketAddr) -> io::Result<UnixDatagram> {
        let socket = socket(socket2::Type::DGRAM)?;
        socket.bind(addr.as_sockaddr())?;
        Ok(UnixDatagram {
            fd: Fd::new(OwnedFd::from(socket)),
            path: BoundPath::of(addr),
        })
    }

    /// A socket bound to no address: it can send, and receive replies only from a peer
    /// it is connected to (a reply needs an address to go to).
    ///
    /// # Errors
    ///
    /// As `socket(2)`.
    pub fn unbound() -> io::Result<UnixDatagram> {
        let socket = socket(socket2::Type::DGRAM)?;
        Ok(UnixDatagram::from_owned_fd(OwnedFd::from(socket)))
    }

    /// A pair of connected, unnamed datagram sockets (`socketpair(2)`).
    ///
    /// # Errors
    ///
    /// As `socketpair(2)`.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let ty = socket2::Type::DGRAM.nonblocking().cloexec();
        let (a, b) = socket2::Socket::pair(socket2::Domain::UNIX, ty, None)?;
        Ok((
            UnixDatagram::from_owned_fd(OwnedFd::from(a)),
            UnixDatagram::from_owned_fd(OwnedFd::from(b)),
        ))
    }

    /// Wraps a std datagram socket (made non-blocking here). Its socket file, if any,
    /// is not removed on drop.
    ///
    /// # Errors
    ///
    /// If the fd cannot be made non-blocking.
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        Ok(UnixDatagram::from_owned_fd(OwnedFd::from(socket)))
    }

    fn from_owned_fd(fd: OwnedFd) -> UnixDatagram {
        UnixDatagram {
            fd: Fd::new(fd),
            path: None,
        }
    }

    /// Sets the default peer, for [`send`](UnixDatagram::send), and receives only
    /// from it. (A Unix connect is immediate: no await.)
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a path longer than `sun_path` allows; otherwise as
    /// `connect(2)`: `NotFound`, `ConnectionRefused` (a stale socket file), ...
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.connect_addr(&UnixSocketAddr::from_pathname(path)?)
    }

    /// [`connect`](UnixDatagram::connect) to a path or an abstract name.
    ///
    /// # Errors
    ///
    /// As [`connect`](UnixDatagram::connect).
    pub fn connect_addr(&self, addr: &UnixSocketAddr) -> io::Result<()> {
        socket2::SockRef::from(&self.fd).connect(addr.as_sockaddr())
    }

    /// Sends `buf`'s bytes as one datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// As `send(2)`: `NotConnected` without a peer, `ConnectionRefused` when the
    /// peer's socket has closed, `EMSGSIZE` for a datagram over the socket's buffer.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped the datagram may or may not have been sent.
    pub async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        Op::new(Send::new(self.fd.for_op(), buf)).await
    }

    /// Sends `buf`'s bytes as one datagram to the socket bound at `path`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a path longer than `sun_path` allows; otherwise as
    /// `sendmsg(2)`.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](UnixDatagram::send).
    pub async fn send_to<B: IoBuf>(&self, buf: B, path: impl AsRef<Path>) -> BufResult<usize, B> {
        match UnixSocketAddr::from_pathname(path) {
            Ok(addr) => self.send_to_addr(buf, &addr).await,
            Err(e) => (Err(e), buf),
        }
    }

    /// Sends `buf`'s bytes as one datagram to `addr` (a path or an abstract name).
    ///
    /// # Errors
    ///
    /// As `sendmsg(2)`.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](UnixDatagram::send).
    pub async fn send_to_addr<B: IoBuf>(
        &self,
        buf: B,
        addr: &UnixSocketAddr,
    ) -> BufResult<usize, B> {
        let op = SendMsg::new(self.fd.for_op(), buf, Some(addr.to_raw()), Vec::new());
        Op::new(op).await
    }

    /// Receives one datagram into `buf` (from its start, up to its capacity).
    ///
    /// # Errors
    ///
    /// As `recv(2)`.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, a datagram the kernel had delivered into the buffer by
    /// then is lost.
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        Op::new(Recv::new(self.fd.for_op(), buf)).await
    }

    /// Receives one datagram into `buf`, with the sender's address (unnamed for an
    /// unbound sender).
    ///
    /// ```
    /// # ringio::run(async {
    /// use ringio::net::UnixDatagram;
    /// let name = format!("ringio-doc-dgram-{}", std::process::id());
    /// let server = UnixDatagram::bind_abstract(&name).unwrap();
    /// let client = UnixDatagram::unbound().unwrap();
    /// client.send_to_addr(b"ping", &server.local_addr().unwrap()).await.0.unwrap();
    /// let (res, buf) = server.recv_from(vec![0u8; 16]).await;
    /// let (n, from) = res.unwrap();
    /// assert_eq!(&buf[..n], b"ping");
    /// assert!(from.is_unnamed());
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// As `recvmsg(2)`.
    ///
    /// # Cancel safety
    ///
    /// As [`recv`](UnixDatagram::recv).
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, UnixSocketAddr), B> {
        let (res, buf) = Op::new(RecvMsg::new(self.fd.for_op(), buf, true, 0)).await;
        let res = res.and_then(|r| {
            let addr = UnixSocketAddr::from_sockaddr(r.addr.to_socket2())?;
            Ok((r.len, addr))
        });
        (res, buf)
    }

    /// The address the socket is bound to (unnamed if none).
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        UnixSocketAddr::from_sockaddr(socket2::SockRef::from(&self.fd).local_addr()?)
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// As `getpeername(2)`: `NotConnected` if not connected.
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddr> {
        UnixSocketAddr::from_sockaddr(socket2::SockRef::from(&self.fd).peer_addr()?)
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}
