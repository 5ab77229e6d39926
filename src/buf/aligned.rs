//! [`AlignedBuf`]: a heap buffer whose start is aligned, for direct I/O (`O_DIRECT`),
//! optionally registered with the worker's ring as a fixed buffer.
//!
//! # Implementation
//!
//! One allocation made with the asked alignment (`std::alloc` with a `Layout` of that
//! alignment) and freed with the same layout. Registration puts the whole allocation in
//! one slot of the worker's registered buffer table (`Builder::fixed_buffers`), as a
//! [`BufPool`](super::BufPool) does; the slot is cleared before the memory is freed.
//! The buffer holds an `Rc` to the table, so it is neither `Send` nor `Sync`: a slot
//! names memory only in its own ring's table, and a buffer never leaves its worker.

use super::{IoBuf, IoBufMut};
use crate::driver::fixed::FixedBuffers;
use crate::runtime::context;
use std::alloc::Layout;
use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::rc::Rc;

/// A heap buffer whose first byte lies at a multiple of a chosen alignment, for reads
/// and writes of files opened with [`OpenOptions::direct`](crate::fs::OpenOptions::direct).
///
/// Its capacity is fixed at creation; its initialised length grows as reads fill it
/// (or as [`new`](AlignedBuf::new) sets it) and shrinks with
/// [`truncate`](AlignedBuf::truncate). [`register`](AlignedBuf::register) puts its
/// memory in the worker's registered buffer table, and file reads and writes of it
/// then use IORING_OP_READ_FIXED / WRITE_FIXED.
///
/// ```
/// use ringio::buf::{AlignedBuf, IoBuf};
/// let buf = AlignedBuf::new(8192, 4096).unwrap();
/// assert_eq!(buf.stable_ptr() as usize % 4096, 0);
/// assert_eq!((buf.len(), buf.capacity()), (8192, 8192));
/// assert!(buf.iter().all(|&b| b == 0));
/// ```
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
    len: usize,
    /// The slot of the memory in a worker's registered buffer table, and the table.
    fixed: Option<(u16, Rc<FixedBuffers>)>,
}

impl AlignedBuf {
    /// A buffer of `len` zero bytes (all initialised) aligned to `align`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `align` is not a power of two or `len` is 0 (or too large
    /// for a layout); `OutOfMemory` if it cannot be allocated.
    pub fn new(len: usize, align: usize) -> io::Result<AlignedBuf> {
        let mut buf = AlignedBuf::with_capacity(len, align)?;
        buf.len = len;
        Ok(buf)
    }

    /// An empty buffer (initialised length 0) of `capacity` bytes aligned to `align`:
    /// a read fills it from the start.
    ///
    /// # Errors
    ///
    /// As [`new`](AlignedBuf::new).
    pub fn with_capacity(capacity: usize, align: usize) -> io::Result<AlignedBuf> {
        let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
        if capacity == 0 {
            return Err(invalid("AlignedBuf: the capacity must not be 0".into()));
        }
        let layout = Layout::from_size_align(capacity, align)
            .map_err(|e| invalid(format!("AlignedBuf({capacity}, align {align}): {e}")))?;
        // Zeroed, so every byte is initialised and `set_init` may claim any prefix.
        // SAFETY: `layout` has a non-zero size (checked above).
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        Ok(AlignedBuf {
            ptr,
            layout,
            len: 0,
            fixed: None,
        })
    }

    /// How many bytes it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many bytes it can hold.
    pub fn capacity(&self) -> usize {
        self.layout.size()
    }

    /// The alignment of its first byte.
    pub fn align(&self) -> usize {
        self.layout.align()
    }

    /// Shortens it to `len` bytes (no effect if it holds fewer).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Makes it hold `len` bytes: the bytes past the old length are whatever the
    /// memory holds (zeros, or what an earlier read left).
    ///
    /// # Panics
    ///
    /// If `len` is more than the capacity.
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.capacity(), "set_len({len}) past the capacity");
        self.len = len;
    }

    /// Registers its memory in the current worker's registered buffer table
    /// ([`Builder::fixed_buffers`](crate::Builder::fixed_buffers)), so that
    /// [`File::read_at`](crate::fs::File::read_at) and
    /// [`write_at`](crate::fs::File::write_at) of it (or of a slice of it) use
    /// IORING_OP_READ_FIXED / WRITE_FIXED, which skip pinning its pages per operation.
    /// Returns whether it is registered: false on epoll, without a table, when the
    /// table is full or the kernel refuses (pinned memory counts against
    /// `RLIMIT_MEMLOCK`); the buffer then works as an unregistered one. Registering a
    /// registered buffer again does nothing.
    ///
    /// ```
    /// let rt = ringio::Builder::new().fixed_buffers(2).build().unwrap();
    /// let on_uring = rt.driver_info().driver() == ringio::runtime::Driver::Uring;
    /// rt.block_on(async move {
    ///     let mut buf = ringio::buf::AlignedBuf::with_capacity(4096, 4096).unwrap();
    ///     assert_eq!(buf.register(), on_uring);
    /// });
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a ringio runtime.
    pub fn register(&mut self) -> bool {
        if self.fixed_index().is_some() {
            return true;
        }
        let driver = context::driver();
        let Some(table) = driver.try_backend().and_then(|b| b.fixed_buffers()) else {
            return false;
        };
        // SAFETY: the memory stays allocated until `Drop`, which releases the slot
        // first (or finds the ring, and its table, gone).
        let slot = unsafe { table.register(self.ptr.as_ptr(), self.capacity()) };
        if let Some((old, old_table)) = self.fixed.take() {
            old_table.release(old); // a table of a ring that is gone
        }
        self.fixed = slot.map(|slot| (slot, table));
        self.fixed.is_some()
    }

    /// Whether its memory is registered with a live ring's buffer table.
    pub fn is_registered(&self) -> bool {
        self.fixed_index().is_some()
    }

    /// Its slot in the registered buffer table, while the ring is open.
    pub(crate) fn fixed_index(&self) -> Option<u16> {
        match &self.fixed {
            Some((slot, table)) if table.is_alive() => Some(*slot),
            _ => None,
        }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if let Some((slot, table)) = self.fixed.take() {
            // Before the memory goes: the table must not name freed memory.
            table.release(slot);
        }
        // SAFETY: allocated in `with_capacity` with this very layout, and freed once.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the allocation holds `capacity >= len` bytes, all initialised (zeroed
        // at allocation), owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`; `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .field("align", &self.align())
            .field("registered", &self.is_registered())
            .finish()
    }
}

// SAFETY: the memory is a heap allocation owned by the buffer, which does not move with
// it; `len <= capacity`, and every byte is initialised (zeroed at allocation).
unsafe impl IoBuf for AlignedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for `IoBuf`; the buffer is its memory's only owner.
unsafe impl IoBufMut for AlignedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    unsafe fn set_init(&mut self, init_len: usize) {
        self.len = self.len.max(init_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_zeroed_and_sized() {
        for align in [512, 4096, 65536] {
            let mut buf = AlignedBuf::with_capacity(3 * align, align).unwrap();
            assert_eq!(buf.stable_mut_ptr() as usize % align, 0);
            assert_eq!(
                (buf.len(), buf.capacity(), buf.align()),
                (0, 3 * align, align)
            );
            buf.set_len(10);
            assert_eq!(&buf[..], &[0u8; 10]);
            buf[0] = 7;
            buf.truncate(1);
            assert_eq!(&buf[..], &[7]);
            assert!(!buf.is_registered());
        }
    }

    #[test]
    fn bad_alignment_or_size_is_invalid_input() {
        for (cap, align) in [(4096, 3), (0, 4096), (4096, 0)] {
            let err = AlignedBuf::new(cap, align).unwrap_err();
            assert_eq!(
                err.kind(),
                io::ErrorKind::InvalidInput,
                "{cap} {align}: {err}"
            );
        }
    }
}
