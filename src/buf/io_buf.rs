//! The [`IoBuf`] and [`IoBufMut`] traits and their implementations for std types.

use super::Slice;
use std::ops::RangeBounds;

/// A buffer whose initialised bytes the kernel may read while an operation is in flight.
///
/// # Safety
///
/// An implementer promises that:
/// - [`stable_ptr`](IoBuf::stable_ptr) points to at least [`bytes_total`](IoBuf::bytes_total)
///   bytes of memory, the first [`bytes_init`](IoBuf::bytes_init) of them initialised;
/// - that memory stays valid and at the same address when the value is moved, for as long
///   as the value is not dropped or accessed mutably (heap memory, or `'static` data);
/// - `bytes_init() <= bytes_total()`.
pub unsafe trait IoBuf: Unpin + 'static {
    /// A pointer to the start of the buffer, stable across moves of `self`.
    fn stable_ptr(&self) -> *const u8;

    /// How many bytes, from the start, are initialised (the data a write sends).
    fn bytes_init(&self) -> usize;

    /// How many bytes the buffer can hold in all.
    fn bytes_total(&self) -> usize;

    /// A view of `range` of this buffer that an I/O call can take by value.
    ///
    /// # Panics
    ///
    /// If the range ends past [`bytes_total`](IoBuf::bytes_total) or starts after it ends.
    ///
    /// ```
    /// use ringio::buf::IoBuf;
    /// let slice = b"hello world".to_vec().slice(6..);
    /// assert_eq!(&slice[..], b"world");
    /// assert_eq!(slice.into_inner().len(), 11);
    /// ```
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        Slice::new(self, range)
    }
}

/// A buffer the kernel may write into while an operation is in flight.
///
/// # Safety
///
/// As for [`IoBuf`], and [`stable_mut_ptr`](IoBufMut::stable_mut_ptr) points to the same
/// memory as [`stable_ptr`](IoBuf::stable_ptr), writable for
/// [`bytes_total`](IoBuf::bytes_total) bytes.
pub unsafe trait IoBufMut: IoBuf {
    /// A writable pointer to the start of the buffer, stable across moves of `self`.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Records that the first `init_len` bytes are initialised. Never shrinks the
    /// initialised length.
    ///
    /// # Safety
    ///
    /// The caller guarantees the first `init_len` bytes have been written, and that
    /// `init_len <= bytes_total()`.
    unsafe fn set_init(&mut self, init_len: usize);
}

/// The initialised bytes of `buf`, borrowed: for code outside the driver that needs
/// to look at what a write would send (the TLS layer encrypts them).
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) fn init_bytes<B: IoBuf>(buf: &B) -> &[u8] {
    // SAFETY: the `IoBuf` contract: `stable_ptr` points to `bytes_init` initialised
    // bytes, valid while `buf` is borrowed (not dropped, not accessed mutably).
    unsafe { std::slice::from_raw_parts(buf.stable_ptr(), buf.bytes_init()) }
}

/// Copies as much of `src` as fits into `buf` from its start, as a read would, marks
/// the bytes initialised, and returns how many were copied.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) fn copy_into<B: IoBufMut>(buf: &mut B, src: &[u8]) -> usize {
    let n = src.len().min(buf.bytes_total());
    // SAFETY: `n <= bytes_total`, and the `IoBufMut` contract makes that much memory
    // behind `stable_mut_ptr` writable; `src` is a shared borrow, so it cannot overlap
    // the buffer `buf` owns. The `n` bytes are written before being declared.
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), buf.stable_mut_ptr(), n);
        buf.set_init(n);
    }
    n
}

// SAFETY: a Vec's heap buffer does not move when the Vec is moved; `len` bytes are
// initialised and `capacity` bytes are allocated (`len <= capacity`).
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for `IoBuf for Vec<u8>`; `as_mut_ptr` is the same allocation.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, init_len: usize) {
        if init_len > self.len() {
            // SAFETY: the caller guarantees the bytes up to `init_len` are written and
            // that `init_len` is within capacity.
            unsafe { self.set_len(init_len) };
        }
    }
}

// SAFETY: a boxed slice's bytes live on the heap, all initialised.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `IoBuf for Box<[u8]>`; every byte is already initialised, so
// `set_init` has nothing to record.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _init_len: usize) {}
}

// SAFETY: 'static data never moves or goes away.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: 'static data never moves or goes away.
unsafe impl<const N: usize> IoBuf for &'static [u8; N] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        N
    }
    fn bytes_total(&self) -> usize {
        N
    }
}

// SAFETY: 'static data never moves or goes away.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: a String's bytes are a Vec's heap buffer. There is no `IoBufMut` for
// `String`: the kernel could write bytes that are not UTF-8.
unsafe impl IoBuf for String {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

#[cfg(feature = "bytes")]
mod bytes_impls {
    use super::{IoBuf, IoBufMut};

    // SAFETY: `Bytes` is immutable and its data is heap or 'static; moving the handle
    // does not move the data.
    unsafe impl IoBuf for bytes::Bytes {
        fn stable_ptr(&self) -> *const u8 {
            self.as_ptr()
        }
        fn bytes_init(&self) -> usize {
            self.len()
        }
        fn bytes_total(&self) -> usize {
            self.len()
        }
    }

    // SAFETY: `BytesMut` owns a heap buffer of `capacity` bytes, `len` initialised, that
    // does not move when the handle moves (no operation here reallocates it).
    unsafe impl IoBuf for bytes::BytesMut {
        fn stable_ptr(&self) -> *const u8 {
            self.as_ptr()
        }
        fn bytes_init(&self) -> usize {
            self.len()
        }
        fn bytes_total(&self) -> usize {
            self.capacity()
        }
    }

    // SAFETY: as above; `as_mut_ptr` is the same allocation.
    unsafe impl IoBufMut for bytes::BytesMut {
        fn stable_mut_ptr(&mut self) -> *mut u8 {
            self.as_mut_ptr()
        }
        unsafe fn set_init(&mut self, init_len: usize) {
            if init_len > self.len() {
                // SAFETY: the caller guarantees `init_len` bytes are written and fit.
                unsafe { self.set_len(init_len) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_reports_len_and_capacity() {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(b"abc");
        assert_eq!(v.bytes_init(), 3);
        assert!(v.bytes_total() >= 16);
        // SAFETY: one byte past len is written before it is declared initialised.
        unsafe {
            *v.stable_mut_ptr().add(3) = b'd';
            v.set_init(4);
        }
        assert_eq!(&v[..], b"abcd");
        // set_init never shrinks.
        // SAFETY: 2 <= len, nothing new is claimed.
        unsafe { v.set_init(2) };
        assert_eq!(v.len(), 4);
    }

    #[test]
    fn statics_and_strings() {
        assert_eq!("héllo".bytes_init(), 6);
        assert_eq!(b"xyz".bytes_total(), 3);
        let s = String::from("abc");
        assert_eq!(s.bytes_init(), 3);
        let b: Box<[u8]> = vec![1, 2, 3].into_boxed_slice();
        assert_eq!(b.bytes_total(), 3);
    }
}
