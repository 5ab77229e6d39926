//! Unix-domain sockets: [`UnixListener`], [`UnixStream`] and [`UnixDatagram`], named by a
//! filesystem path or a Linux abstract name ([`UnixSocketAddr`]).
//!
//! They run on the same operations as TCP (reads, writes, the pooled receive, accept
//! with its late-connection queue, multishot accept on io_uring), plus `sendmsg` and
//! `recvmsg` for datagram addresses and for passing file descriptors (SCM_RIGHTS).
//!
//! The rules for paths (length, `AddrInUse`, removal on drop) are in
//! [`UnixListener`]'s docs.

mod addr;
mod datagram;
mod listener;
mod stream;

pub use addr::UnixSocketAddr;
pub use datagram::UnixDatagram;
pub use listener::UnixListener;
pub use stream::{UCred, UnixStream};

use std::path::PathBuf;

/// A socket file this process created by `bind(2)`, removed on drop if the path still
/// names it.
#[derive(Debug)]
struct BoundPath {
    path: PathBuf,
    /// `(st_dev, st_ino)` of the file right after `bind`.
    id: (u64, u64),
}

impl BoundPath {
    /// Records `addr`'s file, if it is a path (abstract and unnamed sockets have none).
    fn of(addr: &UnixSocketAddr) -> Option<BoundPath> {
        use std::os::unix::fs::MetadataExt;
        let path = addr.as_pathname()?;
        let meta = std::fs::symlink_metadata(path).ok()?;
        Some(BoundPath {
            path: path.to_path_buf(),
            id: (meta.dev(), meta.ino()),
        })
    }
}

impl Drop for BoundPath {
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        // Between this check and the unlink another process could still swap the file;
        // no path-based call closes that window, but it only matters if someone
        // replaces a live server's socket while the server shuts down.
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if (meta.dev(), meta.ino()) == self.id {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// A new non-blocking, close-on-exec Unix socket of type `ty`.
fn socket(ty: socket2::Type) -> std::io::Result<socket2::Socket> {
    socket2::Socket::new(socket2::Domain::UNIX, ty.nonblocking().cloexec(), None)
}
