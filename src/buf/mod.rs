//! Owned buffers for completion-based I/O.
//!
//! An I/O call takes its buffer by value and hands it back with the result, as a
//! [`BufResult`], because the kernel owns the memory while the operation is in flight.
//! Dropping the future of an in-flight operation keeps the buffer alive inside the
//! driver until the kernel is done with it.
//!
//! # Implementation
//!
//! [`IoBuf`] and [`IoBufMut`] are `unsafe` traits: the driver hands the pointers they
//! return to the kernel, so an implementation must keep them valid and stable while
//! the value is moved around (the buffer's bytes live on the heap, or are `'static`).
//! [`Slice`] narrows a buffer to a range without copying it.

mod aligned;
mod io_buf;
mod pool;
mod slice;

pub use aligned::AlignedBuf;
#[cfg_attr(not(feature = "tls"), allow(unused_imports))]
pub(crate) use io_buf::{copy_into, init_bytes};
pub use io_buf::{IoBuf, IoBufMut};
pub use pool::{BufPool, PooledBuf, MAX_BUFFERS};
pub(crate) use pool::{PoolInner, PoolMode};
pub use slice::Slice;

/// The result of an owned-buffer I/O call: the outcome and the buffer, given back
/// whether the call succeeded or not.
///
/// ```
/// use ringio::prelude::*;
/// # ringio::run(async {
/// let (listener, addr) = {
///     let l = ringio::net::TcpListener::bind("127.0.0.1:0").unwrap();
///     let a = l.local_addr().unwrap();
///     (l, a)
/// };
/// let client = ringio::spawn(async move {
///     let s = ringio::net::TcpStream::connect(addr).await.unwrap();
///     let (res, _buf) = s.write_all(b"hi".to_vec()).await;
///     res.unwrap();
/// });
/// let (server, _) = listener.accept().await.unwrap();
/// let (res, buf) = server.read_exact(vec![0u8; 2]).await;
/// res.unwrap();
/// assert_eq!(&buf[..], b"hi");
/// client.await.unwrap();
/// # });
/// ```
pub type BufResult<T, B> = (std::io::Result<T>, B);

/// The registered buffer slot `buf`'s memory lies in, if it has one: a [`PooledBuf`] of
/// a pool registered with `Builder::fixed_buffers`, an [`AlignedBuf`] that was
/// [registered](AlignedBuf::register), or a [`Slice`] of either. The kernel checks that
/// the bytes an operation names lie inside the slot's memory, so a wrong answer is an
/// error, never a stray access.
pub(crate) fn fixed_index<B: IoBuf>(buf: &B) -> Option<u16> {
    let any = buf as &dyn std::any::Any;
    if let Some(pooled) = any.downcast_ref::<PooledBuf>() {
        return pooled.fixed_index();
    }
    if let Some(aligned) = any.downcast_ref::<AlignedBuf>() {
        return aligned.fixed_index();
    }
    if let Some(slice) = any.downcast_ref::<Slice<PooledBuf>>() {
        return slice.get_ref().fixed_index();
    }
    any.downcast_ref::<Slice<AlignedBuf>>()
        .and_then(|s| s.get_ref().fixed_index())
}
