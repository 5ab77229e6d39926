//! [`read_dir`], [`ReadDir`] and [`DirEntry`].

use super::{named, on_pool};
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The entries of the directory `path` (not `.` and `..`), as a
/// [`Stream`](futures_core::Stream) of [`DirEntry`].
///
/// The whole listing is read by one job on the blocking pool (on both drivers: there is
/// no ring form of `getdents64`) into memory when this future completes; the stream then
/// hands the entries out without waiting. A directory of very many entries is held in
/// memory at once. Entries added or removed while the job runs may or may not appear.
/// Dropping the future before it completes is safe: the job finishes on the pool and
/// its listing is dropped.
///
/// ```
/// # ringio::run(async {
/// use futures_core::Stream;
/// let dir = std::env::temp_dir().join(format!("ringio-doc-readdir-{}", std::process::id()));
/// ringio::fs::create_dir(&dir).await.unwrap();
/// ringio::fs::write(dir.join("a.txt"), b"a").await.unwrap();
/// let mut entries = std::pin::pin!(ringio::fs::read_dir(&dir).await.unwrap());
/// let mut names = Vec::new();
/// while let Some(entry) = std::future::poll_fn(|cx| entries.as_mut().poll_next(cx)).await {
///     let entry = entry.unwrap();
///     assert!(entry.file_type().unwrap().is_file());
///     names.push(entry.file_name());
/// }
/// assert_eq!(names, ["a.txt"]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
///
/// # Errors
///
/// As `opendir(3)` (a missing directory is
/// [`NotFound`](io::ErrorKind::NotFound), a file is `ENOTDIR`); an error reading an
/// entry is an item of the stream. Messages name the path.
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref();
    let owned = path.to_path_buf();
    let entries = on_pool(path, move || {
        let listing = std::fs::read_dir(&owned)?;
        Ok(listing
            .map(|entry| {
                let entry = entry.map_err(|e| named(e, &owned))?;
                let path = entry.path();
                let file_type = entry.file_type().map_err(|e| named(e, &path));
                Ok(DirEntry {
                    file_name: entry.file_name(),
                    path,
                    file_type,
                })
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(ReadDir {
        entries: entries.into_iter(),
    })
}

/// The entries of a directory, from [`read_dir`]: a
/// [`Stream`](futures_core::Stream) of `io::Result<DirEntry>`, in the order the file
/// system gives them. It never waits: the listing was read when `read_dir` completed.
pub struct ReadDir {
    entries: std::vec::IntoIter<io::Result<DirEntry>>,
}

impl futures_core::Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.get_mut().entries.next())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadDir")
            .field("left", &self.entries.len())
            .finish()
    }
}

/// One entry of a directory, from [`ReadDir`].
#[derive(Debug)]
pub struct DirEntry {
    path: PathBuf,
    file_name: OsString,
    file_type: io::Result<std::fs::FileType>,
}

impl DirEntry {
    /// The entry's full path: the path given to [`read_dir`] joined with its name.
    pub fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The entry's name, without its directory.
    pub fn file_name(&self) -> OsString {
        self.file_name.clone()
    }

    /// The entry's type, not following a symbolic link (from the directory listing
    /// where the file system gives it, else from `lstat(2)` when it was read).
    ///
    /// # Errors
    ///
    /// As `lstat(2)`, where it was needed (the entry removed meanwhile); the message
    /// names the entry's path.
    pub fn file_type(&self) -> io::Result<std::fs::FileType> {
        match &self.file_type {
            Ok(t) => Ok(*t),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }
}
