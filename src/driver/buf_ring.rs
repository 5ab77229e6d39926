//! [`BufRing`]: a provided buffer ring (IORING_REGISTER_PBUF_RING) registered with one
//! worker's io_uring, the kernel side of a [`BufPool`](crate::buf::BufPool).
//!
//! The ring is shared memory the kernel reads: slots of (address, length, buffer id)
//! and a tail. The pool pushes a buffer by writing a slot past the tail and publishing
//! the new tail with a release store; the kernel takes one when a `BUFFER_SELECT`
//! receive has data. Registration and unregistration are `io_uring_register` calls, so
//! they live here, inside the driver's syscall fence, with the ring's memory.

use super::{DriverHandle, WeakDriver};
use std::alloc::Layout;
use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

/// A provided buffer ring registered with one io_uring.
pub(crate) struct BufRing {
    /// `entries` 16-byte `io_uring_buf` slots, page-aligned; the kernel reads them.
    entries: NonNull<RingSlot>,
    layout: Layout,
    mask: u16,
    /// Our copy of the tail the kernel reads (it lives in slot 0's `resv` field).
    tail: u16,
    group: u16,
    ring_fd: RawFd,
    driver: WeakDriver,
}

/// `struct io_uring_buf` from linux/io_uring.h: one slot of a provided buffer ring. Slot
/// 0's `resv` is the ring's tail, which the kernel reads concurrently, so slots are only
/// ever written field by field through raw pointers, never through a `&mut`.
#[repr(C)]
struct RingSlot {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

impl BufRing {
    /// A ring of `count` slots (rounded up to a power of two), registered with
    /// `driver`'s io_uring as a new buffer group; `Ok(None)` where the driver has no
    /// buffer rings (epoll, or a kernel before 6.0), and receives use a plain free list.
    pub(crate) fn register(driver: &DriverHandle, count: usize) -> io::Result<Option<BufRing>> {
        let mut backend = driver.backend();
        let Some(uring) = backend.as_uring().filter(|u| u.multishot()) else {
            return Ok(None);
        };
        let entries = count.next_power_of_two();
        if entries > 1 << 15 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a provided buffer ring has at most 32768 entries",
            ));
        }
        let layout = Layout::from_size_align(entries * 16, page_size())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        // SAFETY: `entries` is at least 1, so the size is non-zero.
        let Some(mem) = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }) else {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        };
        // SAFETY: `mem` is `entries * 16` page-aligned bytes, freed only by `Drop` after
        // the group is unregistered (or once the driver, and its ring, are gone).
        let registered = unsafe { uring.register_buf_ring(mem.as_ptr() as u64, entries as u16) };
        match registered {
            Ok((group, ring_fd)) => Ok(Some(BufRing {
                entries: mem.cast(),
                layout,
                mask: (entries - 1) as u16,
                tail: 0,
                group,
                ring_fd,
                driver: driver.downgrade(),
            })),
            Err(e) => {
                // SAFETY: allocated just above with this layout; the kernel never saw it.
                unsafe { std::alloc::dealloc(mem.as_ptr(), layout) };
                Err(e)
            }
        }
    }

    /// The buffer group id receives name (IOSQE_BUFFER_SELECT).
    pub(crate) fn group(&self) -> u16 {
        self.group
    }

    /// The driver the ring is registered with.
    pub(crate) fn driver(&self) -> &WeakDriver {
        &self.driver
    }

    /// Writes buffer `bid` into the slot at our tail (not yet visible to the kernel).
    pub(crate) fn push(&mut self, addr: *mut u8, len: u32, bid: u16) {
        let slot = (self.tail & self.mask) as usize;
        // SAFETY: `slot <= mask < entries`, inside the ring's allocation. The kernel only
        // reads slots between its head and the published tail, and this slot is past the
        // tail, so nobody reads it concurrently. Only addr, len and bid are written, each
        // through a raw pointer: slot 0's `resv` is the tail the kernel reads.
        unsafe {
            let entry = self.entries.as_ptr().add(slot);
            std::ptr::addr_of_mut!((*entry).addr).write(addr as u64);
            std::ptr::addr_of_mut!((*entry).len).write(len);
            std::ptr::addr_of_mut!((*entry).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes every pushed slot visible to the kernel.
    pub(crate) fn publish(&self) {
        // SAFETY: `tail` points at slot 0's `resv`, a u16 inside the ring allocation,
        // aligned to 2; the kernel reads it concurrently, so it is written atomically,
        // with Release ordering so the slots written before it are visible first.
        unsafe {
            let tail = std::ptr::addr_of_mut!((*self.entries.as_ptr()).resv);
            AtomicU16::from_ptr(tail).store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    /// Unregisters the group so the kernel lets go of the ring's pages, then frees them.
    /// The owner drops the ring only once no receive is armed on the group.
    fn drop(&mut self) {
        if self.driver.is_alive() {
            let mut reg = io_uring_buf_reg {
                ring_addr: 0,
                ring_entries: 0,
                bgid: self.group,
                flags: 0,
                resv: [0; 3],
            };
            // SAFETY: IORING_UNREGISTER_PBUF_RING takes one io_uring_buf_reg, which `reg`
            // is, valid for the call. The driver is alive, so `ring_fd` is its open ring
            // (not a reused number). Called directly rather than through the driver,
            // which may be borrowed higher up this stack.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_io_uring_register,
                    self.ring_fd,
                    IORING_UNREGISTER_PBUF_RING,
                    &mut reg as *mut io_uring_buf_reg,
                    1,
                )
            };
            if rc < 0 {
                // Still registered: leave the ring's memory to the kernel.
                return;
            }
        }
        // If the driver is gone, so is its ring and the registration.
        // SAFETY: allocated in `register` with this layout; the kernel no longer uses it.
        unsafe { std::alloc::dealloc(self.entries.as_ptr().cast(), self.layout) };
    }
}

/// The system's page size (a provided buffer ring must be page-aligned).
fn page_size() -> usize {
    // SAFETY: sysconf only reads a system parameter.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|s| s.is_power_of_two())
        .unwrap_or(4096)
}

/// `struct io_uring_buf_reg` from linux/io_uring.h.
#[repr(C)]
struct io_uring_buf_reg {
    ring_addr: u64,
    ring_entries: u32,
    bgid: u16,
    flags: u16,
    resv: [u64; 3],
}

/// `IORING_UNREGISTER_PBUF_RING` from linux/io_uring.h.
const IORING_UNREGISTER_PBUF_RING: libc::c_uint = 23;
