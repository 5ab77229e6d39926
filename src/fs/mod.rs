//! Files and the file system, over owned buffers.
//!
//! [`File`] reads and writes at explicit offsets ([`File::read_at`],
//! [`File::write_at`]), so one file can serve many tasks with no shared cursor. On
//! io_uring, opening, reading, writing, syncing and `statx` are ring entries. On epoll,
//! which cannot wait for a regular file (it is always "ready", and its I/O blocks on the
//! page cache or the disk), each of them runs on the runtime's blocking pool, and the
//! worker goes on meanwhile.
//!
//! Vectored reads and writes ([`File::read_vectored_at`], [`File::write_vectored_at`])
//! and [`File::fallocate`] are ring entries on io_uring and pool jobs on epoll, like
//! the others.
//!
//! [`File::set_len`] and the path operations ([`remove_file`], [`remove_dir`],
//! [`rename`], [`hard_link`], [`symlink`], [`copy`], [`create_dir`], [`create_dir_all`],
//! [`read_dir`]) run on the blocking pool on both drivers: the kernels ringio supports
//! (5.11 and later) do not all have ring forms of them, and they are rare enough that
//! the pool's hop does not matter.
//!
//! Direct I/O is opt-in: [`OpenOptions::direct`] opens with `O_DIRECT`,
//! [`File::direct_io_alignment`] says what the file needs (STATX_DIOALIGN, or 4096
//! bytes), [`AlignedBuf`](crate::buf::AlignedBuf) is a buffer that meets it, and a
//! misaligned read or write is refused before it is submitted. A buffer in registered
//! memory (a registered `AlignedBuf`, a `PooledBuf` of a registered pool) is read and
//! written with IORING_OP_READ_FIXED / WRITE_FIXED on io_uring.
//!
//! Errors of an operation on a path name the path (`"/tmp/x: No such file or
//! directory (os error 2)"`), keeping the error's kind.
//!
//! ```
//! # ringio::run(async {
//! let path = std::env::temp_dir().join(format!("ringio-doc-fs-{}", std::process::id()));
//! ringio::fs::write(&path, b"hello, file").await.unwrap();
//! assert_eq!(ringio::fs::read_to_string(&path).await.unwrap(), "hello, file");
//! assert_eq!(ringio::fs::metadata(&path).await.unwrap().len(), 11);
//! ringio::fs::remove_file(&path).await.unwrap();
//! # });
//! ```

mod dir;
mod direct;
mod file;

pub use dir::{read_dir, DirEntry, ReadDir};
pub use direct::DirectIoAlignment;
pub use file::{File, OpenOptions};

use crate::buf::IoBuf;
use crate::driver::ops::{PoolCall, Statx};
use crate::driver::Op;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// `e` with `path` in front of its message, keeping its kind.
pub(crate) fn named(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// `path` as a C string for the kernel; a NUL byte in it is `InvalidInput`, naming it.
pub(crate) fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        named(
            io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"),
            path,
        )
    })
}

/// What [`File::metadata`] and [`metadata`] report about a file (from `statx(2)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    len: u64,
    mode: u32,
    modified: SystemTime,
}

impl Metadata {
    pub(crate) fn from_statx(stx: libc::statx) -> Metadata {
        let t = stx.stx_mtime;
        let since = Duration::new(t.tv_sec.unsigned_abs(), t.tv_nsec.min(999_999_999));
        let modified = if t.tv_sec >= 0 {
            SystemTime::UNIX_EPOCH + since
        } else {
            SystemTime::UNIX_EPOCH - since
        };
        Metadata {
            len: stx.stx_size,
            mode: u32::from(stx.stx_mode),
            modified,
        }
    }

    /// The size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the size is 0.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn file_type(&self) -> u32 {
        self.mode & libc::S_IFMT
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.file_type() == libc::S_IFREG
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }

    /// A symbolic link (only from [`symlink_metadata`]: [`metadata`] and
    /// [`File::metadata`] follow links).
    pub fn is_symlink(&self) -> bool {
        self.file_type() == libc::S_IFLNK
    }

    /// The permission bits (`0o7777` of `st_mode`: rwx for user, group and other,
    /// setuid, setgid, sticky).
    pub fn permissions_mode(&self) -> u32 {
        self.mode & 0o7777
    }

    /// The last modification time.
    pub fn modified(&self) -> SystemTime {
        self.modified
    }
}

/// The metadata of the file `path` names, following symbolic links (`statx(2)`:
/// IORING_OP_STATX on io_uring, the blocking pool on epoll).
///
/// ```
/// # ringio::run(async {
/// let meta = ringio::fs::metadata(std::env::temp_dir()).await.unwrap();
/// assert!(meta.is_dir());
/// # });
/// ```
///
/// # Errors
///
/// As `statx(2)`; the message names the path.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    stat(path.as_ref(), true).await
}

/// `statx(2)` of `path`, following a final symbolic link if `follow`.
async fn stat(path: &Path, follow: bool) -> io::Result<Metadata> {
    let op = Op::new(Statx::of_path(cstring(path)?, follow));
    op.await
        .map(Metadata::from_statx)
        .map_err(|e| named(e, path))
}

/// The metadata of `path` itself, not following a symbolic link
/// (`statx(2)` with `AT_SYMLINK_NOFOLLOW`).
///
/// # Errors
///
/// As `statx(2)`; the message names the path.
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    stat(path.as_ref(), false).await
}

/// Reads the whole file `path` into a vector.
///
/// ```
/// # ringio::run(async {
/// let path = std::env::temp_dir().join(format!("ringio-doc-read-{}", std::process::id()));
/// ringio::fs::write(&path, vec![7u8; 100_000]).await.unwrap();
/// assert_eq!(ringio::fs::read(&path).await.unwrap(), vec![7u8; 100_000]);
/// ringio::fs::remove_file(&path).await.unwrap();
/// # });
/// ```
///
/// # Errors
///
/// As opening and reading the file; the message names the path.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref();
    let file = File::open(path).await?;
    let hint = file.metadata().await.map_or(0, |m| m.len());
    let hint = usize::try_from(hint).unwrap_or(usize::MAX);
    // One byte more than the size, so a file that did not grow ends in one read.
    let mut buf = Vec::with_capacity(hint.saturating_add(1).max(64));
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity().max(4096));
        }
        let filled = buf.len();
        let (res, slice) = file.read_at(buf.slice(filled..), filled as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return Ok(buf),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(named(e, path)),
        }
    }
}

/// Reads the whole file `path` as UTF-8.
///
/// # Errors
///
/// As [`read`]; bytes that are not UTF-8 are
/// [`InvalidData`](io::ErrorKind::InvalidData). The message names the path.
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref();
    let bytes = read(path).await?;
    String::from_utf8(bytes).map_err(|e| named(io::Error::new(io::ErrorKind::InvalidData, e), path))
}

/// Writes `data` as the whole content of the file `path`, creating it if missing and
/// truncating it if present.
///
/// # Errors
///
/// As opening and writing the file; the message names the path.
pub async fn write(path: impl AsRef<Path>, data: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref();
    let file = File::create(path).await?;
    let (res, _) = file.write_all_at(data.as_ref().to_vec(), 0).await;
    res.map_err(|e| named(e, path))
}

/// Runs `call` on the blocking pool (both drivers), naming `path` in its error.
async fn on_pool<T: Send + 'static>(
    path: &Path,
    call: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    Op::new(PoolCall::new(call))
        .await
        .map_err(|e| named(e, path))
}

/// Removes the file `path` (`unlink(2)`, on the blocking pool).
///
/// # Errors
///
/// As `unlink(2)` (a directory is an error); the message names the path.
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let owned = path.to_path_buf();
    on_pool(path, move || std::fs::remove_file(owned)).await
}

/// Renames `from` to `to`, replacing `to` if it exists (`rename(2)`, on the blocking
/// pool).
///
/// ```
/// # ringio::run(async {
/// let dir = std::env::temp_dir();
/// let (a, b) = (dir.join(format!("ringio-doc-a-{}", std::process::id())),
///               dir.join(format!("ringio-doc-b-{}", std::process::id())));
/// ringio::fs::write(&a, b"x").await.unwrap();
/// ringio::fs::rename(&a, &b).await.unwrap();
/// assert!(ringio::fs::metadata(&a).await.is_err());
/// ringio::fs::remove_file(&b).await.unwrap();
/// # });
/// ```
///
/// # Errors
///
/// As `rename(2)`; the message names both paths.
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to): (PathBuf, PathBuf) = (from.as_ref().into(), to.as_ref().into());
    on_pool(&two_paths(&from, &to), move || std::fs::rename(from, to)).await
}

/// Creates the directory `path`; its parent must exist (`mkdir(2)`, on the blocking
/// pool).
///
/// # Errors
///
/// As `mkdir(2)` (an existing path is
/// [`AlreadyExists`](io::ErrorKind::AlreadyExists)); the message names the path.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let owned = path.to_path_buf();
    on_pool(path, move || std::fs::create_dir(owned)).await
}

/// Creates the directory `path` and every missing parent; an existing directory is
/// fine (on the blocking pool).
///
/// ```
/// # ringio::run(async {
/// let top = std::env::temp_dir().join(format!("ringio-doc-dirs-{}", std::process::id()));
/// ringio::fs::create_dir_all(top.join("a/b")).await.unwrap();
/// assert!(ringio::fs::metadata(top.join("a/b")).await.unwrap().is_dir());
/// std::fs::remove_dir_all(&top).unwrap();
/// # });
/// ```
///
/// # Errors
///
/// As `mkdir(2)`; the message names the path.
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let owned = path.to_path_buf();
    on_pool(path, move || std::fs::create_dir_all(owned)).await
}

/// Removes the empty directory `path` (`rmdir(2)`, on the blocking pool).
///
/// ```
/// # ringio::run(async {
/// let dir = std::env::temp_dir().join(format!("ringio-doc-rmdir-{}", std::process::id()));
/// ringio::fs::create_dir(&dir).await.unwrap();
/// ringio::fs::remove_dir(&dir).await.unwrap();
/// assert!(ringio::fs::metadata(&dir).await.is_err());
/// # });
/// ```
///
/// # Errors
///
/// As `rmdir(2)` (a directory that is not empty, or a file, is an error); the message
/// names the path.
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let owned = path.to_path_buf();
    on_pool(path, move || std::fs::remove_dir(owned)).await
}

/// `"from -> to"`, the name an error of a two-path operation carries.
fn two_paths(from: &Path, to: &Path) -> PathBuf {
    PathBuf::from(format!("{} -> {}", from.display(), to.display()))
}

/// Makes `to` a new hard link to the file `from` (`link(2)`, on the blocking pool).
///
/// ```
/// # ringio::run(async {
/// let dir = std::env::temp_dir();
/// let (a, b) = (dir.join(format!("ringio-doc-link-a-{}", std::process::id())),
///               dir.join(format!("ringio-doc-link-b-{}", std::process::id())));
/// ringio::fs::write(&a, b"shared").await.unwrap();
/// ringio::fs::hard_link(&a, &b).await.unwrap();
/// assert_eq!(ringio::fs::read(&b).await.unwrap(), b"shared");
/// ringio::fs::remove_file(&a).await.unwrap();
/// ringio::fs::remove_file(&b).await.unwrap();
/// # });
/// ```
///
/// # Errors
///
/// As `link(2)` (an existing `to` is [`AlreadyExists`](io::ErrorKind::AlreadyExists));
/// the message names both paths.
pub async fn hard_link(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to): (PathBuf, PathBuf) = (from.as_ref().into(), to.as_ref().into());
    on_pool(&two_paths(&from, &to), move || std::fs::hard_link(from, to)).await
}

/// Makes `link` a symbolic link whose content is `target` (`symlink(2)`, on the
/// blocking pool). `target` need not exist; a relative one is relative to `link`'s
/// directory when the link is followed.
///
/// ```
/// # ringio::run(async {
/// let dir = std::env::temp_dir();
/// let link = dir.join(format!("ringio-doc-symlink-{}", std::process::id()));
/// ringio::fs::symlink(&dir, &link).await.unwrap();
/// assert!(ringio::fs::symlink_metadata(&link).await.unwrap().is_symlink());
/// assert!(ringio::fs::metadata(&link).await.unwrap().is_dir());
/// ringio::fs::remove_file(&link).await.unwrap();
/// # });
/// ```
///
/// # Errors
///
/// As `symlink(2)` (an existing `link` is
/// [`AlreadyExists`](io::ErrorKind::AlreadyExists)); the message names both paths.
pub async fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let (target, link): (PathBuf, PathBuf) = (target.as_ref().into(), link.as_ref().into());
    on_pool(&two_paths(&target, &link), move || {
        std::os::unix::fs::symlink(target, link)
    })
    .await
}

/// Copies the content and permission bits of the file `from` to `to`, creating or
/// truncating `to`, and returns the number of bytes copied (`std::fs::copy`, on the
/// blocking pool: `copy_file_range(2)` in the kernel where the file systems allow it).
///
/// ```
/// # ringio::run(async {
/// let dir = std::env::temp_dir();
/// let (a, b) = (dir.join(format!("ringio-doc-copy-a-{}", std::process::id())),
///               dir.join(format!("ringio-doc-copy-b-{}", std::process::id())));
/// ringio::fs::write(&a, b"copied").await.unwrap();
/// assert_eq!(ringio::fs::copy(&a, &b).await.unwrap(), 6);
/// assert_eq!(ringio::fs::read(&b).await.unwrap(), b"copied");
/// ringio::fs::remove_file(&a).await.unwrap();
/// ringio::fs::remove_file(&b).await.unwrap();
/// # });
/// ```
///
/// # Errors
///
/// As opening, reading and writing the files (`from` missing is
/// [`NotFound`](io::ErrorKind::NotFound)); the message names both paths.
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let (from, to): (PathBuf, PathBuf) = (from.as_ref().into(), to.as_ref().into());
    on_pool(&two_paths(&from, &to), move || std::fs::copy(from, to)).await
}
