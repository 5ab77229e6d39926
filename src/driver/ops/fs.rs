//! File operations: open, positional read and write (plain and vectored), sync, statx,
//! fallocate, truncate, and path operations run on the blocking pool.
//!
//! On io_uring, opening, reading, writing, syncing, `statx` and `fallocate` are entries
//! (IORING_OP_OPENAT, READ, WRITE, READV, WRITEV, FSYNC, STATX, FALLOCATE; READ_FIXED and
//! WRITE_FIXED for a buffer in registered memory). On epoll they take the decision
//! face's [`Decision::Blocking`]: a regular file is always "ready" (epoll refuses to
//! watch one) and its I/O blocks in the page cache or on the disk, so the syscall runs
//! on a pool thread. The job is given raw pointers into memory the operation owns (the
//! path, the buffer, the statx record); the operation, and so that memory, stays in its
//! op-table slot until the job has posted its result, even if its future is dropped.
//! Truncation and the directory operations have no io_uring form on the kernels we
//! support (5.11 and later), so they run on the pool on both backends.

use super::net::{iovecs, iovecs_mut, set_init_in_order};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::{Decision, Fd, Operation};
use io_uring::{opcode, squeue, types};
use std::cell::Cell;
use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

/// A raw pointer a blocking job may carry to its pool thread.
///
/// Raw pointers are not `Send`. These point into heap memory an operation owns; the
/// operation stays in its op-table slot (orphaned if its future was dropped) until the
/// job posts its result, so the memory outlives the job, and nothing else touches it
/// while the job runs (the operation is not completed until the post arrives).
struct JobPtr<T>(*mut T);

// SAFETY: see the type's docs: the pointee outlives the job and is used by the job
// alone while it runs.
unsafe impl<T> std::marker::Send for JobPtr<T> {}

impl<T> JobPtr<T> {
    /// The pointer. A method, so that a closure captures the whole `JobPtr` (which is
    /// `Send`) rather than its field (which is not).
    fn get(&self) -> *mut T {
        self.0
    }
}

thread_local! {
    /// File reads and writes built as IORING_OP_READ_FIXED / WRITE_FIXED on this thread
    /// (a worker is a thread, so this is the worker's count; see `Metrics`).
    static FIXED_RW: Cell<u64> = const { Cell::new(0) };
}

/// READ_FIXED / WRITE_FIXED entries built on this thread so far.
pub(crate) fn fixed_rw_count() -> u64 {
    FIXED_RW.with(Cell::get)
}

/// The registered buffer slot of `buf`, counted as a fixed read or write if it has one.
fn fixed_slot_of<B: IoBuf>(buf: &B) -> Option<u16> {
    let index = crate::buf::fixed_index(buf)?;
    FIXED_RW.with(|n| n.set(n.get() + 1));
    Some(index)
}

/// A raw result from a syscall's return value (`-1` with `errno` becomes `-errno`).
pub(super) fn raw(res: i64) -> i32 {
    if res < 0 {
        -io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    } else {
        res.min(i32::MAX as i64) as i32
    }
}

/// Opens a file (`openat(2)` relative to the working directory). `O_CLOEXEC` always.
pub(crate) struct OpenAt {
    /// The path; a `CString` keeps its bytes on the heap, so the pointer the entry (or
    /// the job) holds survives the op moving.
    path: CString,
    flags: i32,
    mode: u32,
}

impl OpenAt {
    pub(crate) fn new(path: CString, flags: i32, mode: u32) -> OpenAt {
        OpenAt {
            path,
            flags: flags | libc::O_CLOEXEC,
            mode,
        }
    }
}

// SAFETY: the entry and the job point at `self.path`'s heap bytes, owned by the op.
unsafe impl Operation for OpenAt {
    type Output = io::Result<OwnedFd>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        Some(
            opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
                .flags(self.flags)
                .mode(self.mode)
                .build(),
        )
    }

    fn decide(&mut self) -> Decision<'_> {
        let path = JobPtr(self.path.as_ptr().cast_mut());
        let (flags, mode) = (self.flags, self.mode);
        Decision::Blocking(Box::new(move || {
            // SAFETY: `path` is the op's NUL-terminated CString, alive until this job
            // posts (see `JobPtr`).
            let fd = unsafe { libc::openat(libc::AT_FDCWD, path.get(), flags, mode) };
            raw(fd as i64)
        }))
    }

    fn release_orphan(self: Box<Self>, result: io::Result<u32>, _flags: u32) {
        // The OwnedFd closes the file nobody will get.
        drop((*self).complete(result, 0));
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let fd = result? as RawFd;
        // SAFETY: the kernel just created `fd` for this op and nobody else has it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// Reads into the buffer, from its start up to its capacity, at a file offset:
/// IORING_OP_READ_FIXED when the buffer lies in registered memory
/// ([`fixed_index`](crate::buf::fixed_index)), else IORING_OP_READ.
pub(crate) struct ReadAt<B> {
    fd: Fd,
    buf: B,
    offset: u64,
}

impl<B: IoBufMut> ReadAt<B> {
    pub(crate) fn new(fd: Fd, buf: B, offset: u64) -> ReadAt<B> {
        ReadAt { fd, buf, offset }
    }
}

// SAFETY: the entry and the job point into `self.buf`, whose memory is stable by the
// `IoBufMut` contract and owned by the op; the job's fd stays open because the op holds
// an `Fd` clone until it is freed.
unsafe impl<B: IoBufMut> Operation for ReadAt<B> {
    type Output = BufResult<usize, B>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        let len = self.buf.bytes_total().min(u32::MAX as usize) as u32;
        let ptr = self.buf.stable_mut_ptr();
        Some(match fixed_slot_of(&self.buf) {
            Some(index) => on_fd!(self.fd, |fd| opcode::ReadFixed::new(fd, ptr, len, index)
                .offset(self.offset)
                .build()),
            None => on_fd!(self.fd, |fd| opcode::Read::new(fd, ptr, len)
                .offset(self.offset)
                .build()),
        })
    }

    fn decide(&mut self) -> Decision<'_> {
        let len = self.buf.bytes_total();
        let ptr = JobPtr(self.buf.stable_mut_ptr());
        let (fd, offset) = (self.fd.raw(), self.offset as libc::off_t);
        Decision::Blocking(Box::new(move || {
            // SAFETY: the buffer is writable for `len` bytes and outlives the job (see
            // `JobPtr`).
            raw(unsafe { libc::pread(fd, ptr.get().cast(), len, offset) } as i64)
        }))
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let result = result.map(|n| {
            // SAFETY: the kernel wrote `n` bytes from the start of the buffer.
            unsafe { self.buf.set_init(n as usize) };
            n as usize
        });
        (result, self.buf)
    }
}

/// Writes the buffer's initialised bytes (or a prefix of them) at a file offset:
/// IORING_OP_WRITE_FIXED when the buffer lies in registered memory, else
/// IORING_OP_WRITE.
pub(crate) struct WriteAt<B> {
    fd: Fd,
    buf: B,
    offset: u64,
}

impl<B: IoBuf> WriteAt<B> {
    pub(crate) fn new(fd: Fd, buf: B, offset: u64) -> WriteAt<B> {
        WriteAt { fd, buf, offset }
    }
}

// SAFETY: the entry and the job point into `self.buf`, stable by the `IoBuf` contract
// and owned by the op; the op's `Fd` clone keeps the fd open.
unsafe impl<B: IoBuf> Operation for WriteAt<B> {
    type Output = BufResult<usize, B>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        let len = self.buf.bytes_init().min(u32::MAX as usize) as u32;
        let ptr = self.buf.stable_ptr();
        Some(match fixed_slot_of(&self.buf) {
            Some(index) => on_fd!(self.fd, |fd| opcode::WriteFixed::new(fd, ptr, len, index)
                .offset(self.offset)
                .build()),
            None => on_fd!(self.fd, |fd| opcode::Write::new(fd, ptr, len)
                .offset(self.offset)
                .build()),
        })
    }

    fn decide(&mut self) -> Decision<'_> {
        let len = self.buf.bytes_init();
        let ptr = JobPtr(self.buf.stable_ptr().cast_mut());
        let (fd, offset) = (self.fd.raw(), self.offset as libc::off_t);
        Decision::Blocking(Box::new(move || {
            // SAFETY: the buffer holds `len` initialised bytes and outlives the job
            // (see `JobPtr`); `pwrite` only reads them.
            raw(unsafe { libc::pwrite(fd, ptr.get().cast_const().cast(), len, offset) } as i64)
        }))
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}

/// Flushes a file to its device: `fsync`, or `fdatasync` with `data_only`.
pub(crate) struct Fsync {
    fd: Fd,
    data_only: bool,
}

impl Fsync {
    pub(crate) fn new(fd: Fd, data_only: bool) -> Fsync {
        Fsync { fd, data_only }
    }
}

// SAFETY: neither the entry nor the job holds a pointer; the op's `Fd` clone keeps the
// fd open until the job posts.
unsafe impl Operation for Fsync {
    type Output = io::Result<()>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        let flags = if self.data_only {
            types::FsyncFlags::DATASYNC
        } else {
            types::FsyncFlags::empty()
        };
        Some(on_fd!(self.fd, |fd| opcode::Fsync::new(fd)
            .flags(flags)
            .build()))
    }

    fn decide(&mut self) -> Decision<'_> {
        let (fd, data_only) = (self.fd.raw(), self.data_only);
        Decision::Blocking(Box::new(move || {
            // SAFETY: plain syscalls on an fd the op keeps open.
            let res = unsafe {
                if data_only {
                    libc::fdatasync(fd)
                } else {
                    libc::fsync(fd)
                }
            };
            raw(res as i64)
        }))
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}

/// Sets a file's length (`ftruncate`; on the pool on both backends: IORING_OP_FTRUNCATE
/// is 6.9 and later).
pub(crate) struct SetLen {
    fd: Fd,
    len: u64,
}

impl SetLen {
    pub(crate) fn new(fd: Fd, len: u64) -> SetLen {
        SetLen { fd, len }
    }
}

// SAFETY: no entry; the job holds no pointer, and the op's `Fd` clone keeps the fd open.
unsafe impl Operation for SetLen {
    type Output = io::Result<()>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        None
    }

    fn decide(&mut self) -> Decision<'_> {
        let fd = self.fd.raw();
        let len = i64::try_from(self.len).unwrap_or(i64::MAX);
        Decision::Blocking(Box::new(move || {
            // SAFETY: a plain syscall on an fd the op keeps open.
            raw(unsafe { libc::ftruncate(fd, len) } as i64)
        }))
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}

/// `statx(2)` of an open file (`AT_EMPTY_PATH`) or of a path (following symlinks).
pub(crate) struct Statx {
    /// The file, or `None` for a path relative to the working directory.
    fd: Option<Fd>,
    /// The path, empty with an fd; heap bytes, stable as the op moves.
    path: CString,
    /// `AT_EMPTY_PATH` with an fd; `AT_SYMLINK_NOFOLLOW` or 0 with a path.
    flags: i32,
    /// What to ask for (`STATX_*`).
    mask: u32,
    /// Written by the kernel; boxed so its address survives the op moving.
    buf: Box<libc::statx>,
}

impl Statx {
    fn with(fd: Option<Fd>, path: CString, flags: i32) -> Statx {
        Statx {
            fd,
            path,
            flags,
            mask: libc::STATX_BASIC_STATS,
            // SAFETY: `statx` is plain integers, for which all-zero bytes are valid.
            buf: Box::new(unsafe { std::mem::zeroed() }),
        }
    }

    pub(crate) fn of_fd(fd: Fd) -> Statx {
        Statx::with(Some(fd), CString::default(), libc::AT_EMPTY_PATH)
    }

    /// Of an open file, with its direct I/O alignment (STATX_DIOALIGN) too.
    pub(crate) fn dio_align_of_fd(fd: Fd) -> Statx {
        let mut op = Statx::of_fd(fd);
        op.mask |= libc::STATX_DIOALIGN;
        op
    }

    /// Of `path`, following a final symbolic link if `follow`.
    pub(crate) fn of_path(path: CString, follow: bool) -> Statx {
        let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
        Statx::with(None, path, flags)
    }

    fn target(&self) -> (RawFd, i32) {
        match &self.fd {
            Some(fd) => (fd.raw(), self.flags),
            None => (libc::AT_FDCWD, self.flags),
        }
    }
}

// SAFETY: the entry and the job point at `self.path`'s heap bytes and into `self.buf`,
// a box the op owns; the op's `Fd` clone keeps the fd open.
unsafe impl Operation for Statx {
    type Output = io::Result<libc::statx>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        let (dirfd, flags) = self.target();
        let buf: *mut libc::statx = &mut *self.buf;
        Some(
            opcode::Statx::new(types::Fd(dirfd), self.path.as_ptr(), buf.cast())
                .flags(flags)
                .mask(self.mask)
                .build(),
        )
    }

    fn decide(&mut self) -> Decision<'_> {
        let (dirfd, flags) = self.target();
        let path = JobPtr(self.path.as_ptr().cast_mut());
        let buf = JobPtr::<libc::statx>(&mut *self.buf);
        let mask = self.mask;
        Decision::Blocking(Box::new(move || {
            // SAFETY: `path` is a NUL-terminated string and `buf` a writable statx
            // record, both owned by the op and alive until this job posts.
            let res = unsafe { libc::statx(dirfd, path.get(), flags, mask, buf.get()) };
            raw(res as i64)
        }))
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        result.map(|_| *self.buf)
    }
}

/// What a [`PoolCall`]'s job leaves for [`Operation::complete`].
type Answer<T> = Arc<Mutex<Option<io::Result<T>>>>;

/// A job on the blocking pool, on both backends, that returns an `io::Result`
/// (the directory operations, through `std::fs`).
pub(crate) struct PoolCall<T> {
    /// Moved into the pool job when it starts.
    call: Option<Box<dyn FnOnce() -> io::Result<T> + std::marker::Send>>,
    answer: Answer<T>,
}

impl<T: std::marker::Send + 'static> PoolCall<T> {
    pub(crate) fn new(call: impl FnOnce() -> io::Result<T> + std::marker::Send + 'static) -> Self {
        PoolCall {
            call: Some(Box::new(call)),
            answer: Arc::new(Mutex::new(None)),
        }
    }
}

// SAFETY: there is no io_uring entry, and the job captures no pointer: it owns the
// call and a reference-counted handle to the answer.
unsafe impl<T: std::marker::Send + 'static> Operation for PoolCall<T> {
    type Output = io::Result<T>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        None
    }

    fn decide(&mut self) -> Decision<'_> {
        let call = self.call.take();
        let answer = self.answer.clone();
        Decision::Blocking(Box::new(move || {
            let Some(call) = call else {
                return -libc::EINVAL;
            };
            let result = call();
            let code = if result.is_ok() { 0 } else { -libc::EIO }; // detail in the answer
            *answer.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            code
        }))
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let answer = self.answer.lock().unwrap_or_else(|e| e.into_inner()).take();
        match (answer, result) {
            (Some(answer), _) => answer,
            // The pool refused the job (the runtime is shutting down).
            (None, Err(e)) => Err(e),
            (None, Ok(_)) => Err(io::Error::other("a pool call finished without an answer")),
        }
    }
}

/// Allocates (or, past the end, extends the file over) the byte range `offset..offset +
/// len` (`fallocate(2)` with mode 0): IORING_OP_FALLOCATE on io_uring, the pool on epoll.
pub(crate) struct Fallocate {
    fd: Fd,
    offset: u64,
    len: u64,
}

impl Fallocate {
    pub(crate) fn new(fd: Fd, offset: u64, len: u64) -> Fallocate {
        Fallocate { fd, offset, len }
    }
}

// SAFETY: neither the entry nor the job holds a pointer; the op's `Fd` clone keeps the
// fd open until the job posts.
unsafe impl Operation for Fallocate {
    type Output = io::Result<()>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        Some(on_fd!(self.fd, |fd| opcode::Fallocate::new(fd, self.len)
            .offset(self.offset)
            .build()))
    }

    fn decide(&mut self) -> Decision<'_> {
        let fd = self.fd.raw();
        let offset = i64::try_from(self.offset).unwrap_or(i64::MAX);
        let len = i64::try_from(self.len).unwrap_or(i64::MAX);
        Decision::Blocking(Box::new(move || {
            // SAFETY: a plain syscall on an fd the op keeps open.
            raw(unsafe { libc::fallocate(fd, 0, offset, len) } as i64)
        }))
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}

/// Reads into several buffers in order, from a file offset (IORING_OP_READV; `preadv`
/// on the pool on epoll). Each buffer is filled from its start up to its capacity.
pub(crate) struct ReadvAt<B> {
    fd: Fd,
    bufs: Vec<B>,
    /// Built once; heap memory owned by the op, never resized, so stable while it lives.
    iovecs: Vec<libc::iovec>,
    offset: u64,
}

impl<B: IoBufMut> ReadvAt<B> {
    pub(crate) fn new(fd: Fd, mut bufs: Vec<B>, offset: u64) -> ReadvAt<B> {
        let iovecs = iovecs_mut(&mut bufs);
        ReadvAt {
            fd,
            bufs,
            iovecs,
            offset,
        }
    }
}

// SAFETY: the entry and the job point at `self.iovecs` (a Vec the op owns, never
// resized), whose entries point into `self.bufs`, stable by the `IoBufMut` contract;
// the op's `Fd` clone keeps the fd open.
unsafe impl<B: IoBufMut> Operation for ReadvAt<B> {
    type Output = BufResult<usize, Vec<B>>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        let (ptr, n) = (self.iovecs.as_ptr(), self.iovecs.len() as u32);
        Some(on_fd!(self.fd, |fd| opcode::Readv::new(fd, ptr, n)
            .offset(self.offset)
            .build()))
    }

    fn decide(&mut self) -> Decision<'_> {
        let n = self.iovecs.len().min(i32::MAX as usize) as i32;
        let iov = JobPtr(self.iovecs.as_mut_ptr());
        let (fd, offset) = (self.fd.raw(), self.offset as libc::off_t);
        Decision::Blocking(Box::new(move || {
            // SAFETY: `iov` holds `n` iovecs describing writable buffer memory, all owned
            // by the op and alive until this job posts (see `JobPtr`).
            raw(unsafe { libc::preadv(fd, iov.get().cast_const(), n, offset) } as i64)
        }))
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let result = result.map(|n| {
            set_init_in_order(&mut self.bufs, n as usize);
            n as usize
        });
        (result, self.bufs)
    }
}

/// Writes several buffers' initialised bytes in order at a file offset
/// (IORING_OP_WRITEV; `pwritev` on the pool on epoll).
pub(crate) struct WritevAt<B> {
    fd: Fd,
    bufs: Vec<B>,
    /// Heap memory the op owns, never resized.
    iovecs: Vec<libc::iovec>,
    offset: u64,
}

impl<B: IoBuf> WritevAt<B> {
    pub(crate) fn new(fd: Fd, bufs: Vec<B>, offset: u64) -> WritevAt<B> {
        let iovecs = iovecs(&bufs);
        WritevAt {
            fd,
            bufs,
            iovecs,
            offset,
        }
    }
}

// SAFETY: the entry and the job point at `self.iovecs` (a Vec the op owns, never
// resized), whose entries point into `self.bufs`, stable by the `IoBuf` contract; the
// op's `Fd` clone keeps the fd open.
unsafe impl<B: IoBuf> Operation for WritevAt<B> {
    type Output = BufResult<usize, Vec<B>>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        let (ptr, n) = (self.iovecs.as_ptr(), self.iovecs.len() as u32);
        Some(on_fd!(self.fd, |fd| opcode::Writev::new(fd, ptr, n)
            .offset(self.offset)
            .build()))
    }

    fn decide(&mut self) -> Decision<'_> {
        let n = self.iovecs.len().min(i32::MAX as usize) as i32;
        let iov = JobPtr(self.iovecs.as_mut_ptr());
        let (fd, offset) = (self.fd.raw(), self.offset as libc::off_t);
        Decision::Blocking(Box::new(move || {
            // SAFETY: `iov` holds `n` iovecs describing initialised buffer memory, all
            // owned by the op and alive until this job posts (see `JobPtr`); `pwritev`
            // only reads it.
            raw(unsafe { libc::pwritev(fd, iov.get().cast_const(), n, offset) } as i64)
        }))
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.bufs)
    }
}
