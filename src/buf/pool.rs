//! [`BufPool`]: receive buffers shared by many connections, so an idle connection
//! holds none.
//!
//! # Implementation
//!
//! One allocation holds `count` buffers of `size` bytes; buffer `bid` is the bytes
//! `[bid * size, (bid + 1) * size)`. Each buffer is, at any time, in exactly one place:
//!
//! - **available**: in the pool's io_uring *provided buffer ring* (registered with the
//!   worker's ring on first use, `IORING_REGISTER_PBUF_RING`), where the kernel picks one
//!   when data arrives for a receive armed with `BUFFER_SELECT` (the ring holds at most
//!   its depth, [`RING_DEPTH`] at first, and the rest wait on a free stack); or, on
//!   epoll, in a plain free list the receive takes from just before its `recv(2)`;
//! - **lent**: in a [`PooledBuf`], whose drop gives it back (appending it to the ring,
//!   which needs no syscall, or to the free list) and wakes tasks waiting for one;
//! - **received, not yet taken**: its id sits in a multishot receive's queue (in the
//!   driver) until the connection's next `recv_pooled` turns it into a `PooledBuf`.
//!
//! Because exactly one owner has each buffer, handing out `&mut [u8]` to it is sound.
//! The pool's memory lives as long as the last `Rc` to it: every `PooledBuf` and every
//! armed receive holds one, so the kernel never writes into freed memory.

use super::{IoBuf, IoBufMut};
use crate::driver::buf_ring::BufRing;
use crate::driver::fixed::FixedBuffers;
use crate::driver::{DriverHandle, WeakDriver};
use std::alloc::Layout;
use std::cell::RefCell;
use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// The most buffers one pool may have: the kernel's limit for a provided buffer ring.
pub const MAX_BUFFERS: usize = 32768;

/// How many buffers a pool's provided-buffer ring holds at first. The kernel takes
/// buffers from the ring first-in first-out, so a ring holding the whole pool cycles
/// every message through all of its memory (512 x 16 KiB = 8 MiB for the echo
/// server) where a few buffers would do; the rest wait on a last-in first-out stack
/// and join the ring only when receives find it empty (then its depth doubles).
const RING_DEPTH: usize = 64;

/// A pool of equal-sized receive buffers for [`TcpStream::recv_pooled`].
///
/// A connection that receives through a pool holds no buffer while it is idle: the
/// kernel takes one from the pool only when data arrives (io_uring provided buffers,
/// with a multishot receive), and the [`PooledBuf`] goes back to the pool when it is
/// dropped. Ten thousand idle connections then cost no receive memory at all.
///
/// A pool belongs to the worker it is first used on (it is neither `Send` nor `Sync`);
/// make one per worker. Cloning a `BufPool` gives another handle to the same pool.
///
/// ```
/// # ringio::run(async {
/// use ringio::buf::BufPool;
/// use ringio::io::AsyncWriteOwned;
/// use ringio::net::{TcpListener, TcpStream};
/// let pool = BufPool::new(64, 4096).unwrap();
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
/// let (server, _) = listener.accept().await.unwrap();
/// client.write_all("ping").await.0.unwrap();
/// let buf = server.recv_pooled(&pool).await.unwrap().expect("not at end of stream");
/// assert_eq!(&buf[..], b"ping");
/// // Echo it: a pooled buffer is an `IoBuf`; it returns to the pool when dropped.
/// server.write_all(buf).await.0.unwrap();
/// # });
/// ```
///
/// [`TcpStream::recv_pooled`]: crate::net::TcpStream::recv_pooled
#[derive(Clone)]
pub struct BufPool {
    inner: Rc<PoolInner>,
}

impl BufPool {
    /// A pool of `count` buffers (at most [`MAX_BUFFERS`]) of `size` bytes each.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `count` is 0 or above [`MAX_BUFFERS`], or `size` is 0 or above
    /// `u32::MAX`; `OutOfMemory` if the memory cannot be allocated.
    pub fn new(count: usize, size: usize) -> io::Result<BufPool> {
        if count == 0 || count > MAX_BUFFERS || size == 0 || size > u32::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "BufPool::new({count}, {size}): need 1..={MAX_BUFFERS} buffers of 1..=4 GiB"
                ),
            ));
        }
        let bytes = count
            .checked_mul(size)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "pool size overflows"))?;
        let layout = Layout::from_size_align(bytes, 64)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        // SAFETY: `layout` has a non-zero size (count and size are both at least 1).
        let mem = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        Ok(BufPool {
            inner: Rc::new(PoolInner {
                mem,
                layout,
                buf_size: size,
                count,
                state: RefCell::new(PoolState {
                    // Popped from the end: lowest ids first, for tidy tests and locality.
                    free: (0..count as u32).rev().map(|b| b as u16).collect(),
                    available: count,
                    in_ring: 0,
                    depth: count.min(RING_DEPTH),
                    binding: Binding::Unbound,
                    waiters: Vec::new(),
                    fixed: None,
                }),
            }),
        })
    }

    /// How many buffers the pool has in all.
    pub fn capacity(&self) -> usize {
        self.inner.count
    }

    /// The size of each buffer in bytes.
    pub fn buffer_size(&self) -> usize {
        self.inner.buf_size
    }

    /// How many buffers are in the pool now, neither lent out as a [`PooledBuf`] nor
    /// holding received data not yet taken.
    pub fn available(&self) -> usize {
        self.inner.state.borrow().available
    }

    /// Whether the pool's memory is registered with its worker's ring as a fixed buffer
    /// ([`Builder::fixed_buffers`](crate::Builder::fixed_buffers)), so zero-copy sends of
    /// its buffers pin no pages. Known once the pool has been used.
    pub fn is_registered(&self) -> bool {
        self.inner.fixed_index().is_some()
    }

    pub(crate) fn inner(&self) -> &Rc<PoolInner> {
        &self.inner
    }
}

impl fmt::Debug for BufPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufPool")
            .field("capacity", &self.capacity())
            .field("buffer_size", &self.buffer_size())
            .field("available", &self.available())
            .finish()
    }
}

/// The shared state of a [`BufPool`].
pub(crate) struct PoolInner {
    mem: NonNull<u8>,
    layout: Layout,
    buf_size: usize,
    count: usize,
    state: RefCell<PoolState>,
}

struct PoolState {
    /// Available buffers not in a ring (epoll, not yet bound, or past the ring's
    /// depth), most recently returned last: they are reused first.
    free: Vec<u16>,
    /// Buffers published in the ring and not yet taken by the kernel.
    in_ring: usize,
    /// How many buffers the ring holds at most ([`RING_DEPTH`] at first, doubled each
    /// time receives find it empty while buffers wait in `free`).
    depth: usize,
    /// Buffers in the ring or the free list.
    available: usize,
    binding: Binding,
    /// Receives that found the pool empty, woken when a buffer comes back.
    waiters: Vec<Waker>,
    /// The slot of the pool's memory in the worker's registered buffer table
    /// (`Builder::fixed_buffers`), if it has one.
    fixed: Option<(u16, Rc<FixedBuffers>)>,
}

enum Binding {
    Unbound,
    /// A plain free list, for a readiness backend (or an io_uring too old for rings).
    FreeList(WeakDriver),
    Ring(BufRing),
}

/// How a receive on the current worker should use a pool.
pub(crate) enum PoolMode {
    /// Arm a `BUFFER_SELECT` receive on this buffer group.
    Ring(u16),
    /// Take a buffer from the free list for each `recv(2)`.
    FreeList,
}

impl PoolInner {
    /// Binds the pool to `driver` on first use (registering its ring with io_uring)
    /// and says how receives use it.
    ///
    /// # Errors
    ///
    /// If the pool is bound to another worker's driver, or registration fails.
    pub(crate) fn bind(&self, driver: &DriverHandle) -> io::Result<PoolMode> {
        let mut state = self.state.borrow_mut();
        let bound_to = match &state.binding {
            Binding::Ring(ring) => Some((ring.driver(), PoolMode::Ring(ring.group()))),
            Binding::FreeList(d) => Some((d, PoolMode::FreeList)),
            Binding::Unbound => None,
        };
        if let Some((d, mode)) = bound_to {
            return if driver.is(d) {
                Ok(mode)
            } else {
                Err(io::Error::other(
                    "ringio: a BufPool is used on a worker other than the one it was first used on; make one pool per worker",
                ))
            };
        }
        let mode = match BufRing::register(driver, self.count)? {
            Some(mut ring) => {
                let state = &mut *state;
                while state.in_ring < state.depth {
                    let Some(bid) = state.free.pop() else { break };
                    ring.push(self.buf_ptr(bid), self.buf_size as u32, bid);
                    state.in_ring += 1;
                }
                ring.publish();
                let group = ring.group();
                state.binding = Binding::Ring(ring);
                PoolMode::Ring(group)
            }
            None => {
                state.binding = Binding::FreeList(driver.downgrade());
                PoolMode::FreeList
            }
        };
        // Bound: register the memory in the ring's buffer table too, if it has one.
        if let Some(table) = driver.try_backend().and_then(|b| b.fixed_buffers()) {
            // SAFETY: the pool's memory lives until `Drop`, which releases the slot
            // first (or finds the ring, and its table, gone).
            let slot = unsafe { table.register(self.mem.as_ptr(), self.layout.size()) };
            state.fixed = slot.map(|slot| (slot, table));
        }
        Ok(mode)
    }

    /// The pool's slot in the worker's registered buffer table, while the ring is open.
    pub(crate) fn fixed_index(&self) -> Option<u16> {
        match &self.state.borrow().fixed {
            Some((slot, table)) if table.is_alive() => Some(*slot),
            _ => None,
        }
    }

    /// Start of buffer `bid`.
    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        // Every id is checked where it enters (`taken_by_kernel`, or ours).
        debug_assert!((bid as usize) < self.count);
        // SAFETY: `bid < count`, so the offset is inside the allocation.
        unsafe { self.mem.as_ptr().add(bid as usize * self.buf_size) }
    }

    /// Whether fewer than an eighth of the buffers are available: a receive that finds
    /// the pool this low copies its bytes out and gives the buffer back at once, so
    /// connections whose tasks are not receiving cannot hold the buffers every other
    /// connection needs. (Pools of fewer than 8 buffers keep no reserve.)
    pub(crate) fn is_low(&self) -> bool {
        self.state.borrow().available < self.count / 8
    }

    /// Takes an available buffer from the free list (free-list mode only).
    pub(crate) fn take_free(&self) -> Option<u16> {
        let mut state = self.state.borrow_mut();
        let bid = state.free.pop()?;
        state.available -= 1;
        Some(bid)
    }

    /// The size of every buffer.
    pub(crate) fn buf_size(&self) -> usize {
        self.buf_size
    }

    /// Start and size of buffer `bid`, for a `recv(2)` into it.
    pub(crate) fn raw_buf(&self, bid: u16) -> (*mut u8, usize) {
        (self.buf_ptr(bid), self.buf_size)
    }

    /// The kernel filled buffer `bid` from the ring (a completion named it).
    /// Returns whether the pool is now low ([`is_low`](PoolInner::is_low)).
    #[inline]
    pub(crate) fn taken_by_kernel(&self, bid: u16) -> bool {
        // The id comes from a completion: never trust one out of range.
        assert!((bid as usize) < self.count, "buffer id {bid} out of range");
        let mut state = self.state.borrow_mut();
        state.available -= 1;
        state.in_ring -= 1;
        state.available < self.count / 8
    }

    /// Buffer `bid` comes back: into the ring or the free list; waiting receives wake.
    #[inline]
    pub(crate) fn give_back(&self, bid: u16) {
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        state.available += 1;
        match &mut state.binding {
            // Into the ring while it is below its depth; else onto the free stack,
            // so the kernel cycles through `depth` buffers, not the whole pool.
            Binding::Ring(ring) if state.in_ring < state.depth => {
                ring.push(self.buf_ptr(bid), self.buf_size as u32, bid);
                ring.publish();
                state.in_ring += 1;
            }
            _ => state.free.push(bid),
        }
        if !state.waiters.is_empty() {
            let waiters = std::mem::take(&mut state.waiters);
            // Woken outside the borrow.
            drop(guard);
            Self::wake_waiters(waiters);
        }
    }

    /// Wakes the receives that waited for a buffer (out of line: a dry pool is rare).
    #[cold]
    #[inline(never)]
    fn wake_waiters(waiters: Vec<Waker>) {
        for w in waiters {
            w.wake();
        }
    }

    /// Ready once the pool has an available buffer; else wakes `cx` when one returns.
    pub(crate) fn poll_available(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        if let Binding::Ring(ring) = &mut state.binding {
            if state.in_ring == 0 && !state.free.is_empty() {
                // A receive found the ring empty (ENOBUFS) while buffers wait beyond its
                // depth: more are in use at once than it holds. Deepen it and refill it
                // from the most recently returned.
                state.depth = (state.depth * 2).min(self.count);
                while state.in_ring < state.depth {
                    let Some(bid) = state.free.pop() else { break };
                    ring.push(self.buf_ptr(bid), self.buf_size as u32, bid);
                    state.in_ring += 1;
                }
                ring.publish();
            }
        }
        if state.available > 0 {
            return Poll::Ready(());
        }
        if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            state.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Copies the `len` bytes received into buffer `bid` to the heap and gives the
    /// buffer back: for a receiver that lets too many pile up unclaimed.
    // A thin pointer (not a `Vec`'s three words): it sits in every connection's queue.
    #[allow(clippy::box_collection)]
    pub(crate) fn copy_out(&self, bid: u16, len: usize) -> Box<Vec<u8>> {
        assert!(len <= self.buf_size);
        // SAFETY: the caller hands over buffer `bid` (a completion just named it), whose
        // first `len` bytes the kernel wrote; it is read here, then given back.
        let bytes = unsafe { std::slice::from_raw_parts(self.buf_ptr(bid), len) }.to_vec();
        self.give_back(bid);
        // Boxed again: a thin pointer keeps `PooledBuf` and the receive queue small.
        Box::new(bytes)
    }

    /// Lends buffer `bid`, holding `len` received bytes, to the caller.
    pub(crate) fn lend(self: &Rc<Self>, bid: u16, len: usize) -> PooledBuf {
        debug_assert!(len <= self.buf_size);
        PooledBuf {
            len,
            store: Store::Pool {
                pool: self.clone(),
                bid,
                offset: 0,
            },
        }
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        if let Some((slot, table)) = self.state.get_mut().fixed.take() {
            // Before the memory goes: the table must not name freed memory.
            table.release(slot);
        }
        // No receive is armed on the group any more (each holds an `Rc` to us): the
        // ring unregisters and goes first, then the buffers it named.
        self.state.get_mut().binding = Binding::Unbound;
        // SAFETY: allocated in `BufPool::new` with this layout. Every buffer's owner (a
        // `PooledBuf`, an armed receive) held an `Rc` to this pool, so none is left.
        unsafe { std::alloc::dealloc(self.mem.as_ptr(), self.layout) };
    }
}

/// A buffer lent by a [`BufPool`], holding the bytes one receive got. It goes back to
/// its pool when dropped.
///
/// It dereferences to the received bytes, can be written to (`DerefMut`, up to
/// [`capacity`](PooledBuf::capacity) with [`IoBufMut`]), and is an [`IoBuf`], so it
/// can be sent as it is: an echo server writes back the buffer it received.
pub struct PooledBuf {
    store: Store,
    len: usize,
}

/// Where a [`PooledBuf`]'s bytes are.
enum Store {
    /// Buffer `bid` of the pool, from byte `offset` of it on (0 but for a datagram
    /// received with a header in front of it, see [`PooledBuf::narrow`]).
    Pool {
        pool: Rc<PoolInner>,
        bid: u16,
        offset: u32,
    },
    /// Copied out of the pool (a receiver that let too many buffers pile up unclaimed
    /// has the surplus moved to the heap, so it cannot drain the pool the other
    /// connections share).
    #[allow(clippy::box_collection)] // thin: keeps every `PooledBuf` small
    Spilled(Box<Vec<u8>>),
}

impl PooledBuf {
    /// Bytes that were copied out of the pool (see [`PoolInner::copy_out`]).
    #[allow(clippy::box_collection)]
    pub(crate) fn spilled(bytes: Box<Vec<u8>>) -> PooledBuf {
        PooledBuf {
            len: bytes.len(),
            store: Store::Spilled(bytes),
        }
    }

    /// The registered buffer slot its memory lies in, if its pool has one.
    pub(crate) fn fixed_index(&self) -> Option<u16> {
        match &self.store {
            Store::Pool { pool, .. } => pool.fixed_index(),
            Store::Spilled(_) => None,
        }
    }

    /// Makes it the `len` bytes that start `offset` bytes into what it holds now: a
    /// datagram's payload after the header the kernel wrote in front of it (a multishot
    /// RECVMSG fills each buffer with a header, the sender's address, then the payload).
    ///
    /// # Panics
    ///
    /// If `offset + len` is more than it holds.
    pub(crate) fn narrow(&mut self, offset: usize, len: usize) {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.len),
            "narrow({offset}, {len}) of a PooledBuf holding {}",
            self.len
        );
        match &mut self.store {
            Store::Pool { offset: at, .. } => *at += offset as u32,
            Store::Spilled(bytes) => {
                bytes.drain(..offset);
            }
        }
        self.len = len;
    }

    /// Start of its memory, for reading.
    fn ptr(&self) -> *const u8 {
        match &self.store {
            Store::Pool { pool, bid, offset } => pool.buf_ptr(*bid).wrapping_add(*offset as usize),
            Store::Spilled(bytes) => bytes.as_ptr(),
        }
    }

    /// Start of its memory, for writing.
    fn ptr_mut(&mut self) -> *mut u8 {
        match &mut self.store {
            Store::Pool { pool, bid, offset } => pool.buf_ptr(*bid).wrapping_add(*offset as usize),
            Store::Spilled(bytes) => bytes.as_mut_ptr(),
        }
    }

    /// How many bytes it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer's full size (the pool's buffer size).
    pub fn capacity(&self) -> usize {
        match &self.store {
            Store::Pool { pool, offset, .. } => pool.buf_size - *offset as usize,
            Store::Spilled(bytes) => bytes.len(),
        }
    }

    /// Shortens it to `len` bytes (no effect if it holds fewer).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

impl Deref for PooledBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: this `PooledBuf` is its memory's only owner (module docs); the first
        // `len` bytes are initialised (pool memory is zeroed at allocation).
        unsafe { std::slice::from_raw_parts(self.ptr(), self.len) }
    }
}

impl DerefMut for PooledBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr_mut(), self.len) }
    }
}

impl fmt::Debug for PooledBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("PooledBuf");
        if let Store::Pool { bid, .. } = &self.store {
            d.field("bid", bid);
        }
        d.field("len", &self.len).finish()
    }
}

impl Drop for PooledBuf {
    #[inline]
    fn drop(&mut self) {
        if let Store::Pool { pool, bid, .. } = &self.store {
            pool.give_back(*bid);
        }
    }
}

// SAFETY: the memory is the pool's heap allocation, which the `Rc` keeps alive, or a
// boxed copy; neither moves with the `PooledBuf`. `len <= capacity`, and all of it is
// initialised (pool memory is zeroed at allocation).
unsafe impl IoBuf for PooledBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for `IoBuf`; this `PooledBuf` is its memory's only owner.
unsafe impl IoBufMut for PooledBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr_mut()
    }
    unsafe fn set_init(&mut self, init_len: usize) {
        // Like a Vec: a read into the buffer sets the length it filled.
        self.len = self.len.max(init_len);
    }
}
