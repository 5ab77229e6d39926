//! [`Slice`]: a range of an owned buffer, passed to I/O without copying.

use super::{IoBuf, IoBufMut};
use std::ops::{Bound, Deref, DerefMut, RangeBounds};

/// A range of an owned buffer.
///
/// An I/O call on a `Slice` reads from (or writes into) only its range; the whole buffer
/// comes back with [`into_inner`](Slice::into_inner). Built by [`IoBuf::slice`].
///
/// ```
/// use ringio::buf::IoBuf;
/// let s = vec![1u8, 2, 3, 4].slice(1..3);
/// assert_eq!((s.begin(), s.end()), (1, 3));
/// assert_eq!(&s[..], &[2, 3]);
/// ```
#[derive(Debug)]
pub struct Slice<B> {
    buf: B,
    begin: usize,
    end: usize,
}

impl<B: IoBuf> Slice<B> {
    pub(super) fn new(buf: B, range: impl RangeBounds<usize>) -> Self {
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n.checked_add(1).expect("slice start overflows usize"),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n.checked_add(1).expect("slice end overflows usize"),
            Bound::Excluded(&n) => n,
            Bound::Unbounded => buf.bytes_total(),
        };
        assert!(
            begin <= end && end <= buf.bytes_total(),
            "slice {begin}..{end} out of a buffer of {} bytes",
            buf.bytes_total()
        );
        Slice { buf, begin, end }
    }
}

impl<B> Slice<B> {
    /// Where the range starts in the buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }

    /// Where the range ends (exclusive) in the buffer.
    pub fn end(&self) -> usize {
        self.end
    }

    /// The whole buffer.
    pub fn get_ref(&self) -> &B {
        &self.buf
    }

    /// The whole buffer, mutably.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.buf
    }

    /// Gives the whole buffer back.
    pub fn into_inner(self) -> B {
        self.buf
    }
}

impl<B: IoBuf> Deref for Slice<B> {
    type Target = [u8];

    /// The initialised bytes of the range.
    fn deref(&self) -> &[u8] {
        let init_end = self.buf.bytes_init().clamp(self.begin, self.end);
        let len = init_end - self.begin;
        // SAFETY: `begin..init_end` lies inside the initialised part of the buffer,
        // which the `IoBuf` contract says is valid for reads.
        unsafe { std::slice::from_raw_parts(self.buf.stable_ptr().add(self.begin), len) }
    }
}

impl<B: IoBufMut> DerefMut for Slice<B> {
    fn deref_mut(&mut self) -> &mut [u8] {
        let init_end = self.buf.bytes_init().clamp(self.begin, self.end);
        let len = init_end - self.begin;
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.buf.stable_mut_ptr().add(self.begin), len) }
    }
}

// SAFETY: the pointer is the inner buffer's (stable by its contract) offset by `begin`,
// which the constructor checked is within `bytes_total`.
unsafe impl<B: IoBuf> IoBuf for Slice<B> {
    fn stable_ptr(&self) -> *const u8 {
        // SAFETY: `begin <= bytes_total`, so the offset stays inside (or one past) the allocation.
        unsafe { self.buf.stable_ptr().add(self.begin) }
    }
    fn bytes_init(&self) -> usize {
        self.buf.bytes_init().clamp(self.begin, self.end) - self.begin
    }
    fn bytes_total(&self) -> usize {
        self.end - self.begin
    }
}

// SAFETY: as for `IoBuf for Slice<B>`, with the inner buffer's writable pointer.
unsafe impl<B: IoBufMut> IoBufMut for Slice<B> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        // SAFETY: as in `stable_ptr`.
        unsafe { self.buf.stable_mut_ptr().add(self.begin) }
    }
    unsafe fn set_init(&mut self, init_len: usize) {
        let inner_init = self.buf.bytes_init();
        if inner_init < self.begin {
            // The bytes between the inner buffer's initialised part and this range were
            // never written: zero them, or the inner buffer would claim them.
            // SAFETY: `inner_init..begin` lies inside the inner buffer's capacity
            // (`begin <= bytes_total`), which is writable by the `IoBufMut` contract.
            unsafe {
                std::ptr::write_bytes(
                    self.buf.stable_mut_ptr().add(inner_init),
                    0,
                    self.begin - inner_init,
                )
            };
        }
        // SAFETY: the caller guarantees `begin..begin + init_len`; the gap before it is
        // initialised above.
        unsafe { self.buf.set_init(self.begin + init_len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_init_through_a_slice_extends_the_vec() {
        let mut s = Vec::<u8>::with_capacity(8).slice(0..8);
        assert_eq!(s.bytes_init(), 0);
        // SAFETY: 3 bytes are written before being declared initialised.
        unsafe {
            std::ptr::copy_nonoverlapping(b"abc".as_ptr(), s.stable_mut_ptr(), 3);
            s.set_init(3);
        }
        assert_eq!(&s[..], b"abc");
        assert_eq!(s.into_inner(), b"abc");
    }

    #[test]
    fn set_init_past_the_initialised_part_zeroes_the_gap() {
        let mut s = Vec::<u8>::with_capacity(64).slice(32..);
        // SAFETY: one byte is written at the slice's start before it is declared.
        unsafe {
            *s.stable_mut_ptr() = 7;
            s.set_init(1);
        }
        let v = s.into_inner();
        assert_eq!(v.len(), 33);
        assert!(v[..32].iter().all(|&b| b == 0));
        assert_eq!(v[32], 7);
    }

    #[test]
    #[should_panic(expected = "out of a buffer")]
    fn out_of_range_panics() {
        let _ = vec![0u8; 4].slice(2..9);
    }
}
