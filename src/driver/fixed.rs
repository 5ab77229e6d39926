//! [`FixedFiles`]: a worker's registered file table (`Builder::fixed_files`).
//!
//! With a table, each socket ringio runs operations on is registered in it on first use
//! (IORING_REGISTER_FILES_UPDATE, one syscall per socket), and its operations name the
//! slot with IOSQE_FIXED_FILE: the kernel skips looking the fd up, and taking and
//! dropping a file reference, on every operation. When the table is full, sockets are
//! used by number as usual.
//!
//! The table holds a reference to each file, so a slot must be cleared when its socket
//! closes, or the socket would stay open in the kernel. The slot belongs to the socket's
//! shared [`Fd`](super::Fd), which every operation on it holds: the slot is cleared only
//! once no operation can still name it, and only then reused.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::rc::Rc;

/// `IORING_REGISTER_FILES_UPDATE` from linux/io_uring.h.
const REGISTER_FILES_UPDATE: libc::c_uint = 6;

/// `struct io_uring_files_update` from linux/io_uring.h.
#[repr(C)]
struct FilesUpdate {
    offset: u32,
    resv: u32,
    fds: u64,
}

/// A ring's sparse registered file table and its free slots.
#[derive(Debug)]
pub(crate) struct FixedFiles {
    ring_fd: RawFd,
    /// The ring is open. Cleared as the ring closes: after that, its fd number may name
    /// another file, and a late slot release must not reach it.
    alive: Cell<bool>,
    free: RefCell<Vec<u32>>,
}

impl FixedFiles {
    /// The table of the ring `ring_fd`, whose `slots` sparse entries are registered.
    pub(crate) fn new(ring_fd: RawFd, slots: u32) -> Rc<FixedFiles> {
        Rc::new(FixedFiles {
            ring_fd,
            alive: Cell::new(true),
            // Popped from the end: low slots first.
            free: RefCell::new((0..slots).rev().collect()),
        })
    }

    /// Registers `fd` in a free slot; `None` when the table is full (or the kernel
    /// refuses), and the fd is then used by number.
    pub(crate) fn register(&self, fd: RawFd) -> Option<u32> {
        if !self.alive.get() {
            return None;
        }
        let slot = self.free.borrow_mut().pop()?;
        if self.update(slot, fd) {
            Some(slot)
        } else {
            self.free.borrow_mut().push(slot);
            None
        }
    }

    /// Clears `slot` (its socket is closing) and frees it for reuse.
    pub(crate) fn release(&self, slot: u32) {
        if !self.alive.get() {
            return; // The ring, and its table, are gone.
        }
        if self.update(slot, -1) {
            self.free.borrow_mut().push(slot);
        }
        // If clearing failed the slot stays taken: reusing it could hand a new socket's
        // operations the old file.
    }

    /// Whether the ring (and its table) is still open.
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.get()
    }

    /// The ring is closing: no more registry calls.
    pub(crate) fn close(&self) {
        self.alive.set(false);
    }

    /// Sets `slot` to `fd` (-1 clears it). True on success.
    fn update(&self, slot: u32, fd: RawFd) -> bool {
        let fds = [fd];
        let mut update = FilesUpdate {
            offset: slot,
            resv: 0,
            fds: fds.as_ptr() as u64,
        };
        // SAFETY: IORING_REGISTER_FILES_UPDATE reads one io_uring_files_update and the
        // one fd its `fds` points at (`fds`, live for the call). `ring_fd` is this
        // ring's own fd while `alive`: `Uring::drop` clears it before the ring closes.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                self.ring_fd,
                REGISTER_FILES_UPDATE,
                &mut update as *mut FilesUpdate,
                1,
            )
        };
        rc == 1
    }
}

/// `IORING_REGISTER_BUFFERS_UPDATE` from linux/io_uring.h.
const REGISTER_BUFFERS_UPDATE: libc::c_uint = 16;

/// `struct io_uring_rsrc_update2` from linux/io_uring.h.
#[repr(C)]
struct RsrcUpdate2 {
    offset: u32,
    resv: u32,
    data: u64,
    tags: u64,
    nr: u32,
    resv2: u32,
}

/// A ring's sparse registered buffer table (`Builder::fixed_buffers`) and its free
/// slots. A [`BufPool`](crate::buf::BufPool) registers its whole memory in one slot, so
/// zero-copy sends of its buffers need no page pinning per operation.
#[derive(Debug)]
pub(crate) struct FixedBuffers {
    ring_fd: RawFd,
    /// As for [`FixedFiles`]: cleared as the ring closes.
    alive: Cell<bool>,
    free: RefCell<Vec<u16>>,
}

impl FixedBuffers {
    pub(crate) fn new(ring_fd: RawFd, slots: u16) -> Rc<FixedBuffers> {
        Rc::new(FixedBuffers {
            ring_fd,
            alive: Cell::new(true),
            free: RefCell::new((0..slots).rev().collect()),
        })
    }

    /// Registers `len` bytes at `addr` in a free slot; `None` when the table is full or
    /// the kernel refuses (pinned memory counts against RLIMIT_MEMLOCK).
    ///
    /// # Safety
    ///
    /// The memory must stay valid until the slot is released or the ring closes.
    pub(crate) unsafe fn register(&self, addr: *mut u8, len: usize) -> Option<u16> {
        if !self.alive.get() {
            return None;
        }
        let slot = self.free.borrow_mut().pop()?;
        if self.update(slot, addr, len) {
            Some(slot)
        } else {
            self.free.borrow_mut().push(slot);
            None
        }
    }

    /// Clears `slot` (its memory is about to be freed) and frees it for reuse.
    pub(crate) fn release(&self, slot: u16) {
        if self.alive.get() && self.update(slot, std::ptr::null_mut(), 0) {
            self.free.borrow_mut().push(slot);
        }
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive.get()
    }

    /// The ring is closing: no more registry calls.
    pub(crate) fn close(&self) {
        self.alive.set(false);
    }

    /// Points `slot` at `len` bytes at `addr` (null and 0 clear it). True on success.
    fn update(&self, slot: u16, addr: *mut u8, len: usize) -> bool {
        let iov = [libc::iovec {
            iov_base: addr.cast(),
            iov_len: len,
        }];
        let mut update = RsrcUpdate2 {
            offset: slot as u32,
            resv: 0,
            data: iov.as_ptr() as u64,
            tags: 0,
            nr: 1,
            resv2: 0,
        };
        // SAFETY: IORING_REGISTER_BUFFERS_UPDATE reads one io_uring_rsrc_update2 and the
        // one iovec its `data` points at (both live for the call); the kernel pins the
        // memory the iovec names, which `register`'s caller keeps valid. `ring_fd` is
        // this ring's own fd while `alive`.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                self.ring_fd,
                REGISTER_BUFFERS_UPDATE,
                &mut update as *mut RsrcUpdate2,
                std::mem::size_of::<RsrcUpdate2>(),
            )
        };
        rc >= 0
    }
}
