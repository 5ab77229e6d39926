//! [`File`] and [`OpenOptions`].

use super::{cstring, named, DirectIoAlignment, Metadata};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::ops::{
    Fallocate, Fsync, OpenAt, ReadAt, ReadvAt, SetLen, Statx, WriteAt, WritevAt,
};
use crate::driver::{Fd, Op};
use crate::io::{drain_with, fill_with};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::Path;

/// An open file, read and written at explicit offsets with owned buffers.
///
/// On io_uring every call is a ring entry; on epoll, which cannot wait for a regular
/// file, each runs on the runtime's blocking pool. Dropping a `File` closes it.
///
/// ```
/// # ringio::run(async {
/// use ringio::fs::File;
/// let path = std::env::temp_dir().join(format!("ringio-doc-file-{}", std::process::id()));
/// let file = File::create(&path).await.unwrap();
/// file.write_all_at(b"hello".to_vec(), 0).await.0.unwrap();
/// drop(file);
/// let file = File::open(&path).await.unwrap();
/// let (res, buf) = file.read_exact_at(vec![0u8; 3], 2).await;
/// res.unwrap();
/// assert_eq!(&buf, b"llo");
/// drop(file);
/// ringio::fs::remove_file(&path).await.unwrap();
/// # });
/// ```
pub struct File {
    fd: Fd,
    /// Opened with `O_DIRECT`: what its transfers must be aligned to.
    direct: Option<DirectIoAlignment>,
}

impl File {
    /// Opens `path` read-only.
    ///
    /// # Errors
    ///
    /// As `open(2)`; the message names the path.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes closes the file if it was opened.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens `path` write-only, creating it if missing and truncating it if present.
    ///
    /// # Errors
    ///
    /// As `open(2)`; the message names the path.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Reads into `buf`, from its start up to its capacity, starting at byte `offset`
    /// of the file, and returns how many bytes came (0 at end of file). The bytes read
    /// become the buffer's initialised length.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future loses what was read, never memory safety: the buffer stays
    /// alive until the kernel (or the pool thread) is done with it.
    ///
    /// A buffer in registered memory (a [registered](crate::buf::AlignedBuf::register)
    /// `AlignedBuf`, a `PooledBuf` of a registered pool, or a slice of either) is read
    /// with IORING_OP_READ_FIXED on io_uring.
    ///
    /// # Errors
    ///
    /// As `pread(2)`. On a file opened with [`direct`](OpenOptions::direct), an
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) error naming what is misaligned
    /// (the buffer's address, the offset, or the buffer's capacity) before anything is
    /// submitted.
    pub async fn read_at<B: IoBufMut>(&self, buf: B, offset: u64) -> BufResult<usize, B> {
        if let Err(e) = self.check_direct([(buf.stable_ptr(), buf.bytes_total())], offset) {
            return (Err(e), buf);
        }
        Op::new(ReadAt::new(self.fd.for_op(), buf, offset)).await
    }

    /// Writes some of `buf`'s initialised bytes at byte `offset` and returns how many.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped the bytes may or may not have been written.
    ///
    /// A buffer in registered memory is written with IORING_OP_WRITE_FIXED on io_uring,
    /// as for [`read_at`](File::read_at).
    ///
    /// # Errors
    ///
    /// As `pwrite(2)`; on a direct file, misalignment as for [`read_at`](File::read_at)
    /// (the length checked is the buffer's initialised length).
    pub async fn write_at<B: IoBuf>(&self, buf: B, offset: u64) -> BufResult<usize, B> {
        if let Err(e) = self.check_direct([(buf.stable_ptr(), buf.bytes_init())], offset) {
            return (Err(e), buf);
        }
        Op::new(WriteAt::new(self.fd.for_op(), buf, offset)).await
    }

    /// The alignment direct I/O on this file needs, if it was opened with
    /// [`direct`](OpenOptions::direct) (`None` otherwise).
    pub fn direct_io_alignment(&self) -> Option<DirectIoAlignment> {
        self.direct
    }

    /// On a direct file, checks that `bufs` (address and length of each) at `offset`
    /// are aligned as it needs.
    fn check_direct(
        &self,
        bufs: impl IntoIterator<Item = (*const u8, usize)>,
        offset: u64,
    ) -> io::Result<()> {
        match &self.direct {
            Some(align) => align.check(bufs, offset),
            None => Ok(()),
        }
    }

    /// The file's shared fd (for `send_file`).
    pub(crate) fn fd(&self) -> &Fd {
        &self.fd
    }

    /// Reads into `bufs` in order, each from its start up to its capacity, starting at
    /// byte `offset` of the file, and returns how many bytes came in all (0 at end of
    /// file). Each buffer's initialised length becomes what landed in it. IORING_OP_READV
    /// on io_uring, `preadv(2)` on the blocking pool on epoll.
    ///
    /// ```
    /// # ringio::run(async {
    /// use ringio::fs::File;
    /// let path = std::env::temp_dir().join(format!("ringio-doc-readv-{}", std::process::id()));
    /// ringio::fs::write(&path, b"hello world").await.unwrap();
    /// let file = File::open(&path).await.unwrap();
    /// let bufs = vec![Vec::with_capacity(5), Vec::with_capacity(4)];
    /// let (n, bufs) = file.read_vectored_at(bufs, 1).await;
    /// assert_eq!(n.unwrap(), 9);
    /// assert_eq!((&bufs[0][..], &bufs[1][..]), (&b"ello "[..], &b"worl"[..]));
    /// drop(file);
    /// ringio::fs::remove_file(&path).await.unwrap();
    /// # });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As [`read_at`](File::read_at): dropping the future loses what was read, and the
    /// buffers stay alive until the kernel (or the pool thread) is done with them.
    pub async fn read_vectored_at<B: IoBufMut>(
        &self,
        bufs: Vec<B>,
        offset: u64,
    ) -> BufResult<usize, Vec<B>> {
        let parts = bufs.iter().map(|b| (b.stable_ptr(), b.bytes_total()));
        if let Err(e) = self.check_direct(parts, offset) {
            return (Err(e), bufs);
        }
        Op::new(ReadvAt::new(self.fd.for_op(), bufs, offset)).await
    }

    /// Writes `bufs`' initialised bytes in order from byte `offset`, and returns how
    /// many bytes were written in all (possibly fewer than all of them).
    /// IORING_OP_WRITEV on io_uring, `pwritev(2)` on the blocking pool on epoll.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped the bytes may or may not have been written.
    pub async fn write_vectored_at<B: IoBuf>(
        &self,
        bufs: Vec<B>,
        offset: u64,
    ) -> BufResult<usize, Vec<B>> {
        let parts = bufs.iter().map(|b| (b.stable_ptr(), b.bytes_init()));
        if let Err(e) = self.check_direct(parts, offset) {
            return (Err(e), bufs);
        }
        Op::new(WritevAt::new(self.fd.for_op(), bufs, offset)).await
    }

    /// Fills `buf` to its capacity from byte `offset`. End of file first is an
    /// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) error; the bytes that did come
    /// are in the buffer.
    pub async fn read_exact_at<B: IoBufMut>(&self, buf: B, offset: u64) -> BufResult<(), B> {
        fill_with(buf, |rest, filled| {
            self.read_at(rest, offset + filled as u64)
        })
        .await
    }

    /// Writes all of `buf`'s initialised bytes from byte `offset`. A write of zero bytes
    /// is a [`WriteZero`](io::ErrorKind::WriteZero) error.
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, offset: u64) -> BufResult<(), B> {
        drain_with(buf, |rest, sent| self.write_at(rest, offset + sent as u64)).await
    }

    /// Flushes the file's data and metadata to its device (`fsync(2)`).
    pub async fn sync_all(&self) -> io::Result<()> {
        Op::new(Fsync::new(self.fd.for_op(), false)).await
    }

    /// Flushes the file's data, and only the metadata needed to read it back
    /// (`fdatasync(2)`).
    pub async fn sync_data(&self) -> io::Result<()> {
        Op::new(Fsync::new(self.fd.for_op(), true)).await
    }

    /// The file's metadata (`statx(2)` of the open file).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        Op::new(Statx::of_fd(self.fd.for_op()))
            .await
            .map(Metadata::from_statx)
    }

    /// Allocates disk space for bytes `offset..offset + len`, extending the file if that
    /// range ends past its end (`fallocate(2)` with mode 0: IORING_OP_FALLOCATE on
    /// io_uring, the blocking pool on epoll). The file must be open for writing.
    ///
    /// ```
    /// # ringio::run(async {
    /// use ringio::fs::OpenOptions;
    /// let path = std::env::temp_dir().join(format!("ringio-doc-falloc-{}", std::process::id()));
    /// let file = OpenOptions::new().write(true).create(true).open(&path).await.unwrap();
    /// file.fallocate(0, 4096).await.unwrap();
    /// assert_eq!(file.metadata().await.unwrap().len(), 4096);
    /// drop(file);
    /// ringio::fs::remove_file(&path).await.unwrap();
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// As `fallocate(2)`: `EOPNOTSUPP` on a file system that cannot preallocate,
    /// `EBADF` on a file not open for writing, `EINVAL` for a zero `len`.
    pub async fn fallocate(&self, offset: u64, len: u64) -> io::Result<()> {
        Op::new(Fallocate::new(self.fd.for_op(), offset, len)).await
    }

    /// Truncates or extends the file to `len` bytes (`ftruncate(2)`, on the blocking
    /// pool on both drivers). The file must be open for writing.
    pub async fn set_len(&self, len: u64) -> io::Result<()> {
        Op::new(SetLen::new(self.fd.for_op(), len)).await
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File").field("fd", &self.fd.raw()).finish()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// How to open a file, as `std::fs::OpenOptions`. Files are always opened
/// close-on-exec.
///
/// ```
/// # ringio::run(async {
/// use ringio::fs::OpenOptions;
/// let path = std::env::temp_dir().join(format!("ringio-doc-opts-{}", std::process::id()));
/// let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).await.unwrap();
/// drop(file);
/// let again = OpenOptions::new().write(true).create_new(true).open(&path).await;
/// assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
/// ringio::fs::remove_file(&path).await.unwrap();
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    direct: bool,
    mode: u32,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// All options off, mode `0o666` (less the umask).
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            direct: false,
            mode: 0o666,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.read = read;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.write = write;
        self
    }

    /// Open for appending (implies writing): every write goes to the end of the file
    /// (`O_APPEND`; Linux then ignores a positional write's offset).
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.append = append;
        self
    }

    /// Truncate an existing file to 0 bytes (needs write access).
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.truncate = truncate;
        self
    }

    /// Create the file if it does not exist (needs write or append access).
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.create = create;
        self
    }

    /// Create the file, failing with [`AlreadyExists`](io::ErrorKind::AlreadyExists)
    /// if it exists (`O_CREAT | O_EXCL`); overrides `create` and `truncate`.
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.create_new = create_new;
        self
    }

    /// Direct I/O (`O_DIRECT`): reads and writes move data between the device and the
    /// buffer, bypassing the page cache. Every buffer's address, file offset and length
    /// must then be aligned as [`File::direct_io_alignment`] says (an
    /// [`AlignedBuf`](crate::buf::AlignedBuf) meets the memory part); a misaligned
    /// one is an [`InvalidInput`](io::ErrorKind::InvalidInput) error before anything is
    /// submitted. Some file systems (procfs; tmpfs before Linux 6.6) refuse `O_DIRECT`:
    /// opening then fails with an error that says so.
    pub fn direct(&mut self, direct: bool) -> &mut OpenOptions {
        self.direct = direct;
        self
    }

    /// The permission bits of a file this call creates (before the umask).
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.mode = mode;
        self
    }

    /// The `open(2)` flags these options make (without `O_CLOEXEC`, which the
    /// operation adds), or why they make none (std's rules).
    fn flags(&self) -> io::Result<i32> {
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) => {
                return Err(invalid("no access mode (read, write or append) set"))
            }
        };
        let creating = self.truncate || self.create || self.create_new;
        if creating && !self.write && !self.append {
            return Err(invalid(
                "create, create_new and truncate need write or append",
            ));
        }
        if self.truncate && self.append && !self.create_new {
            return Err(invalid("truncate and append together"));
        }
        let creation = if self.create_new {
            libc::O_CREAT | libc::O_EXCL
        } else {
            (if self.create { libc::O_CREAT } else { 0 })
                | (if self.truncate { libc::O_TRUNC } else { 0 })
        };
        let direct = if self.direct { libc::O_DIRECT } else { 0 };
        Ok(access | creation | direct)
    }

    /// Opens `path` with these options (IORING_OP_OPENAT on io_uring, `openat(2)` on
    /// the blocking pool on epoll).
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) for a contradictory set of
    /// options or a path with a NUL byte; otherwise as `open(2)`. The message names
    /// the path.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes closes the file if it was opened.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        let flags = self.flags().map_err(|e| named(e, path))?;
        let c_path = cstring(path)?;
        let fd = Op::new(OpenAt::new(c_path, flags, self.mode))
            .await
            .map_err(|e| named(self.refused_direct(e), path))?;
        let mut file = File {
            fd: Fd::new(fd),
            direct: None,
        };
        if self.direct {
            // A file system that cannot say (or a kernel before 6.1) gets the default.
            let stx = Op::new(Statx::dio_align_of_fd(file.fd.for_op())).await;
            file.direct = Some(stx.map_or_else(
                |_| DirectIoAlignment::default(),
                |stx| DirectIoAlignment::from_statx(&stx),
            ));
        }
        Ok(file)
    }

    /// `open(2)`'s error, saying so where it means the file system refuses `O_DIRECT`
    /// (EINVAL: procfs, or tmpfs before Linux 6.6).
    fn refused_direct(&self, e: io::Error) -> io::Error {
        if !self.direct || e.raw_os_error() != Some(libc::EINVAL) {
            return e;
        }
        io::Error::new(
            e.kind(),
            format!("the file system refuses direct I/O (O_DIRECT): {e}"),
        )
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
