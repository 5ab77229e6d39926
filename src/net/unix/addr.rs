//! [`UnixSocketAddr`]: the address of a Unix socket.

use crate::driver::ops::PeerAddr;
use crate::driver::RawSockAddr;
use socket2::SockAddr;
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Bytes of `sun_path` in a `sockaddr_un`, the terminating NUL of a path included.
const SUN_PATH_LEN: usize = 108;

/// The address of a Unix socket: a filesystem path, a Linux abstract name, or unnamed
/// (a socket that was never bound, such as the client side of most connections).
///
/// std's `std::os::unix::net::SocketAddr` cannot be built from what the kernel writes
/// for an abstract name, so ringio has its own type.
///
/// ```
/// use ringio::net::UnixSocketAddr;
/// let path = UnixSocketAddr::from_pathname("/run/app.sock").unwrap();
/// assert_eq!(path.as_pathname(), Some(std::path::Path::new("/run/app.sock")));
/// let name = UnixSocketAddr::from_abstract_name(b"app").unwrap();
/// assert_eq!(name.as_abstract_name(), Some(&b"app"[..]));
/// assert!(!name.is_unnamed());
/// // `sun_path` holds 108 bytes, the NUL that ends a path included.
/// let long = "/tmp/".to_string() + &"x".repeat(200);
/// let err = UnixSocketAddr::from_pathname(long).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UnixSocketAddr {
    /// Always AF_UNIX.
    addr: SockAddr,
}

impl UnixSocketAddr {
    /// A filesystem path.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) if the path is empty, holds a NUL
    /// byte, or is longer than `sun_path` allows (107 bytes, as `sun_path` is 108 bytes
    /// with the terminating NUL).
    pub fn from_pathname(path: impl AsRef<Path>) -> io::Result<UnixSocketAddr> {
        let path = path.as_ref();
        let bytes = path.as_os_str().as_bytes();
        if bytes.is_empty() {
            return Err(invalid("a Unix socket path must not be empty".into()));
        }
        if bytes.contains(&0) {
            return Err(invalid(format!(
                "Unix socket path {path:?} contains a NUL byte"
            )));
        }
        if bytes.len() >= SUN_PATH_LEN {
            return Err(invalid(format!(
                "Unix socket path is {} bytes, longer than the {} that fit in sun_path \
                 ({SUN_PATH_LEN} bytes with the terminating NUL): {path:?}",
                bytes.len(),
                SUN_PATH_LEN - 1
            )));
        }
        Ok(UnixSocketAddr {
            addr: SockAddr::unix(path)?,
        })
    }

    /// A Linux abstract name: `name` is the bytes after the leading NUL of
    /// `sun_path`, used exactly (no terminating NUL); it names no file, and goes away
    /// with the last socket bound to it. Empty names are allowed.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) if `name` is longer than 107 bytes.
    pub fn from_abstract_name(name: impl AsRef<[u8]>) -> io::Result<UnixSocketAddr> {
        let name = name.as_ref();
        if name.len() >= SUN_PATH_LEN {
            return Err(invalid(format!(
                "abstract Unix socket name is {} bytes, longer than the {} that fit in \
                 sun_path after its leading NUL",
                name.len(),
                SUN_PATH_LEN - 1
            )));
        }
        let mut bytes = Vec::with_capacity(name.len() + 1);
        bytes.push(0);
        bytes.extend_from_slice(name);
        Ok(UnixSocketAddr {
            addr: SockAddr::unix(OsStr::from_bytes(&bytes))?,
        })
    }

    /// An unnamed address.
    pub(crate) fn unnamed() -> UnixSocketAddr {
        UnixSocketAddr {
            addr: SockAddr::unix("").expect("an empty path always fits"),
        }
    }

    /// The path, for an address bound in the filesystem.
    pub fn as_pathname(&self) -> Option<&Path> {
        self.addr.as_pathname()
    }

    /// The name (without its leading NUL), for an abstract address.
    pub fn as_abstract_name(&self) -> Option<&[u8]> {
        self.addr.as_abstract_namespace()
    }

    /// Whether the address is unnamed: the socket was never bound.
    pub fn is_unnamed(&self) -> bool {
        self.addr.is_unnamed()
    }

    /// socket2's form, for `bind(2)` and `connect(2)`.
    pub(crate) fn as_sockaddr(&self) -> &SockAddr {
        &self.addr
    }

    pub(crate) fn to_raw(&self) -> RawSockAddr {
        RawSockAddr::from_socket2(&self.addr)
    }

    /// An address `getsockname(2)`, `getpeername(2)`, `accept4(2)` or `recvmsg(2)`
    /// gave; an error if it is not AF_UNIX.
    pub(crate) fn from_sockaddr(addr: SockAddr) -> io::Result<UnixSocketAddr> {
        if addr.family() != libc::AF_UNIX as libc::sa_family_t {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a Unix socket address",
            ));
        }
        Ok(UnixSocketAddr { addr })
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl fmt::Debug for UnixSocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = self.as_pathname() {
            write!(f, "{path:?} (pathname)")
        } else if let Some(name) = self.as_abstract_name() {
            write!(f, "\"{}\" (abstract)", name.escape_ascii())
        } else {
            f.write_str("(unnamed)")
        }
    }
}

impl PeerAddr for UnixSocketAddr {
    fn from_raw(raw: &RawSockAddr) -> io::Result<UnixSocketAddr> {
        UnixSocketAddr::from_sockaddr(raw.to_socket2())
    }

    fn of_accepted(conn: &OwnedFd) -> io::Result<UnixSocketAddr> {
        match socket2::SockRef::from(conn).peer_addr() {
            Ok(addr) => UnixSocketAddr::from_sockaddr(addr),
            // The peer is gone already; what it sent is still there to read, so the
            // connection is kept, with the address it would most likely have had.
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(UnixSocketAddr::unnamed()),
            Err(e) => Err(e),
        }
    }
}
