//! [`UnixListener`]: accepts Unix stream connections.

use super::{socket, BoundPath, UnixSocketAddr, UnixStream};
use crate::net::accept::{Acceptor, Incoming};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// The listen backlog (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 1024;

/// A Unix stream socket listening for connections, on a filesystem path or an abstract
/// name.
///
/// # Paths
///
/// - A path must fit in `sun_path`: at most 107 bytes (108 with the terminating NUL).
///   A longer one is [`InvalidInput`](io::ErrorKind::InvalidInput).
/// - Binding a path that exists is `AddrInUse`, whether a live socket listens there or
///   a dead process left its socket file behind: the caller decides whether the file
///   is stale (a connect to it is refused) and removes it.
/// - A listener bound by path through ringio removes its socket file when dropped, but
///   only if the path still names the file it created (the same device and inode as
///   right after `bind`): a path since removed, or replaced by another file or another
///   server's socket, is left alone. A listener made [`from_std`](UnixListener::from_std)
///   removes nothing.
///
/// # Examples
///
/// ```
/// # ringio::run(async {
/// use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
/// use ringio::net::{UnixListener, UnixStream};
/// let path = std::env::temp_dir().join(format!("ringio-doc-{}.sock", std::process::id()));
/// let listener = UnixListener::bind(&path).unwrap();
/// let client = UnixStream::connect(&path).await.unwrap();
/// let (server, peer) = listener.accept().await.unwrap();
/// assert!(peer.is_unnamed()); // the client never bound a name
/// client.write_all("hi").await.0.unwrap();
/// let (res, buf) = server.read_exact(vec![0; 2]).await;
/// res.unwrap();
/// assert_eq!(&buf, b"hi");
/// drop(listener); // removes the socket file it created
/// assert!(!path.exists());
/// # });
/// ```
pub struct UnixListener {
    acceptor: Acceptor<UnixSocketAddr>,
    /// The socket file `bind` created, removed on drop if it is still there.
    path: Option<BoundPath>,
}

impl std::fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", self.acceptor.fd())
            .field("path", &self.path)
            .finish()
    }
}

impl UnixListener {
    /// Binds to the filesystem path `path` and listens.
    ///
    /// When dropped, the listener removes the socket file, if the path still names the
    /// file `bind` created (same device and inode); see [Paths](UnixListener#paths).
    ///
    /// # Errors
    ///
    /// - [`InvalidInput`](io::ErrorKind::InvalidInput) if the path does not fit in
    ///   `sun_path` (more than 107 bytes) or holds a NUL byte.
    /// - `AddrInUse` if the path exists: a live listener, any other file, or a socket
    ///   file left behind by a process that died. Removing a stale file is the
    ///   caller's call (for example after a connect to it is refused).
    /// - Otherwise as `bind(2)` and `listen(2)`: `NotFound` for a missing directory,
    ///   `PermissionDenied`, ...
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::bind_addr(&UnixSocketAddr::from_pathname(path)?)
    }

    /// Binds to the Linux abstract name `name` (see
    /// [`UnixSocketAddr::from_abstract_name`]) and listens. No file is created.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `name` is longer than 107 bytes; `AddrInUse` if a socket has
    /// the name already.
    pub fn bind_abstract(name: impl AsRef<[u8]>) -> io::Result<UnixListener> {
        UnixListener::bind_addr(&UnixSocketAddr::from_abstract_name(name)?)
    }

    /// Binds to `addr` (a path or an abstract name) and listens.
    ///
    /// # Errors
    ///
    /// As [`bind`](UnixListener::bind).
    pub fn bind_addr(addr: &UnixSocketAddr) -> io::Result<UnixListener> {
        let socket = socket(socket2::Type::STREAM)?;
        socket.bind(addr.as_sockaddr())?;
        // From here the file is ours: remove it again if `listen` fails.
        let path = BoundPath::of(addr);
        socket.listen(BACKLOG)?;
        Ok(UnixListener {
            acceptor: Acceptor::new(OwnedFd::from(socket)),
            path,
        })
    }

    /// Wraps a bound, listening std listener (made non-blocking here). Its socket file,
    /// if any, is not removed on drop: ringio did not create it.
    ///
    /// # Errors
    ///
    /// If the fd cannot be made non-blocking.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            acceptor: Acceptor::new(OwnedFd::from(listener)),
            path: None,
        })
    }

    /// Accepts a connection. The new stream is non-blocking and close-on-exec. The
    /// address is the peer's, usually unnamed (clients seldom bind).
    ///
    /// # Errors
    ///
    /// As `accept4(2)`: for example `EMFILE` when the process is out of fds. The listener
    /// stays usable after any error.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`TcpListener::accept`](crate::net::TcpListener::accept): a
    /// connection the kernel accepts after this future was dropped is queued on the
    /// listener and returned by the next `accept`. On io_uring a multishot accept stays
    /// armed and its connections queue the same way.
    pub async fn accept(&self) -> io::Result<(UnixStream, UnixSocketAddr)> {
        let (fd, peer) = self.acceptor.accept().await?;
        Ok((UnixStream::from_owned_fd(fd), peer))
    }

    /// [`accept`](UnixListener::accept) as a [`Stream`](futures_core::Stream) of
    /// connections. It never ends; an error is an item, and the listener goes on after
    /// it.
    pub fn incoming(
        &self,
    ) -> impl futures_core::Stream<Item = io::Result<(UnixStream, UnixSocketAddr)>> + '_ {
        Incoming::new(self, |l| Box::pin(l.accept()))
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        let sock = socket2::SockRef::from(self.acceptor.fd());
        UnixSocketAddr::from_sockaddr(sock.local_addr()?)
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.acceptor.fd().raw()
    }
}
