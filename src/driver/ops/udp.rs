//! Datagram operations: [`SendMsg`] and [`RecvMsg`] (`sendmsg(2)` / `recvmsg(2)`
//! carrying the peer's address, IORING_OP_SENDMSG / IORING_OP_RECVMSG on io_uring), and
//! the pooled receive of datagrams: [`DatagramMulti`] (io_uring: one multishot RECVMSG
//! into a [`BufPool`](crate::buf::BufPool)'s provided buffer ring) and
//! [`RecvFromPooled`] (a buffer taken from the pool's free list just before
//! `recvmsg(2)`: epoll, and an io_uring without buffer rings).
//!
//! # Boundaries and truncation
//!
//! One receive is one datagram. Every receive passes MSG_TRUNC, so the kernel returns
//! a datagram's real length even when the buffer kept only part of it; [`Datagram`]
//! records both, and the socket reports a truncated datagram as an error rather than
//! as a short one.
//!
//! # Pooled buffers
//!
//! A multishot RECVMSG writes into each buffer it takes a 16-byte
//! `io_uring_recvmsg_out` header, then the sender's address in a field of the length
//! the entry's `msghdr` names ([`NAME_LEN`]), then the payload. [`POOL_HEADROOM`] bytes
//! go to the first two, and the [`PooledBuf`] handed out is narrowed to the payload.
//! The free-list receive leaves the same headroom unused, so a pool holds the same
//! largest datagram on both backends.
//!
//! # Cancel safety
//!
//! A [`RecvMsg`] whose future was dropped while the kernel held it may still complete
//! with a datagram: [`Operation::release_orphan`] copies it into the socket's
//! [`LateDatagrams`] for the next receive, and wakes the receives waiting, so one that
//! is itself in the kernel can cancel its own and take it (see `net::udp`). The
//! multishot receive stays armed across calls: what arrives waits in its queue, and
//! its state lives, as [`RecvMulti`](super::RecvMulti)'s does, in an `Rc` shared by the
//! socket and the op table, with the same limit on unclaimed buffers.

use super::multi::{arm, cancel_on, current_driver};
use crate::buf::{IoBuf, IoBufMut, PoolInner, PooledBuf};
use crate::driver::sys::{syscall, RawSockAddr};
use crate::driver::{Decision, Fd, Interest, Multishot, Operation, WeakDriver};
use crate::runtime::context;
use io_uring::types::RecvMsgOut;
use io_uring::{cqueue, opcode, squeue};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Bytes of the sender's address field in a pooled buffer: a `sockaddr_in6` (28 bytes)
/// fits, and the payload after it starts 16-byte aligned.
const NAME_LEN: usize = 32;

/// Bytes in front of a pooled datagram's payload: the multishot header
/// (`io_uring_recvmsg_out`, 16 bytes) and the address field.
pub(crate) const POOL_HEADROOM: usize = 16 + NAME_LEN;

/// Every receive asks for the datagram's real length.
const RECV_FLAGS: i32 = libc::MSG_TRUNC;

/// What one receive got.
#[derive(Debug)]
pub(crate) struct Datagram {
    /// The datagram's length on the wire.
    pub(crate) len: usize,
    /// Bytes of it in the buffer, from its start.
    pub(crate) kept: usize,
    /// The sender (`None` only from a `recvmsg` that did not ask for it).
    pub(crate) addr: Option<SocketAddr>,
    /// The buffer was too small: `kept < len`.
    pub(crate) truncated: bool,
}

/// The memory one `sendmsg` or `recvmsg` hands the kernel, in one allocation: the
/// header, the one iovec it points at, and the address it points at.
struct MsgParts {
    msg: libc::msghdr,
    iov: libc::iovec,
    addr: RawSockAddr,
}

impl MsgParts {
    /// Boxed, its header pointing at the iovec and (when `name`) the address beside
    /// it: heap memory the op owns, so the pointers stay right as the op moves.
    fn new(addr: RawSockAddr, name: bool) -> Box<MsgParts> {
        let mut parts = Box::new(MsgParts {
            // SAFETY: msghdr is plain data for which all-zeroes is valid (no name, no
            // iovecs, no control data).
            msg: unsafe { std::mem::zeroed() },
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            addr,
        });
        let p = &mut *parts;
        p.msg.msg_iov = &mut p.iov;
        p.msg.msg_iovlen = 1;
        if name {
            p.msg.msg_name = p.addr.as_mut_ptr().cast();
            p.msg.msg_namelen = p.addr.len;
        }
        parts
    }

    /// Before each receive: room for the whole address, no flags from the last one,
    /// and the data to go at `ptr` (`len` bytes).
    fn reset_for_recv(&mut self, ptr: *mut u8, len: usize) {
        self.iov = libc::iovec {
            iov_base: ptr.cast(),
            iov_len: len,
        };
        if !self.msg.msg_name.is_null() {
            self.addr = RawSockAddr::empty();
            self.msg.msg_namelen = self.addr.len;
        }
        self.msg.msg_flags = 0;
    }

    /// The result of a receive into `capacity` bytes that returned `n` (with MSG_TRUNC:
    /// the datagram's real length).
    fn datagram(&mut self, n: usize, capacity: usize) -> io::Result<Datagram> {
        let kept = n.min(capacity);
        let truncated = n > capacity || self.msg.msg_flags & libc::MSG_TRUNC != 0;
        let addr = if self.msg.msg_name.is_null() {
            None
        } else {
            self.addr.len = self.msg.msg_namelen;
            Some(self.addr.socket_addr()?)
        };
        Ok(Datagram {
            len: n.max(kept + truncated as usize),
            kept,
            addr,
            truncated,
        })
    }
}

/// Datagrams received by a [`RecvMsg`] after its future was dropped, kept (copied) for
/// the socket's next receive, and the receives to tell when one arrives.
pub(crate) type LateDatagrams = Rc<RefCell<LateQueue>>;

/// See [`LateDatagrams`].
#[derive(Default, Debug)]
pub(crate) struct LateQueue {
    pub(crate) datagrams: VecDeque<LateDatagram>,
    /// Receives waiting in the kernel (io_uring), each under an id from `next_id`,
    /// which it removes when it finishes or is dropped: the list holds only live ones.
    /// A late datagram wakes and clears them all; those still waiting register again.
    pub(crate) waiters: Vec<(u64, Waker)>,
    pub(crate) next_id: u64,
}

/// A datagram a dropped receive got: its bytes, copied out of the dropped buffer.
#[derive(Debug)]
pub(crate) struct LateDatagram {
    bytes: Vec<u8>,
    meta: Datagram,
}

impl LateDatagram {
    /// Copies it into `buf`, from its start, as much as fits: what a receive into `buf`
    /// would have got.
    pub(crate) fn deliver<B: IoBufMut>(self, mut buf: B) -> (Datagram, B) {
        let kept = self.bytes.len().min(buf.bytes_total());
        // SAFETY: `buf` is writable for `bytes_total() >= kept` bytes, a different
        // allocation from `self.bytes`; `set_init` records the `kept` bytes written.
        unsafe {
            std::ptr::copy_nonoverlapping(self.bytes.as_ptr(), buf.stable_mut_ptr(), kept);
            buf.set_init(kept);
        }
        let truncated = self.meta.truncated || kept < self.bytes.len();
        let meta = Datagram {
            kept,
            truncated,
            ..self.meta
        };
        (meta, buf)
    }
}

/// Receives one datagram into the buffer, from its start, with its sender's address
/// (`recvmsg` with `msg_name`; asked for on connected sockets too, so that a datagram a
/// dropped `recv` left behind can serve a `recv_from`).
pub(crate) struct RecvMsg<B> {
    fd: Fd,
    buf: B,
    parts: Box<MsgParts>,
    late: LateDatagrams,
}

impl<B: IoBufMut> RecvMsg<B> {
    pub(crate) fn new(fd: Fd, buf: B, late: LateDatagrams) -> RecvMsg<B> {
        RecvMsg {
            fd,
            buf,
            parts: MsgParts::new(RawSockAddr::empty(), true),
            late,
        }
    }

    fn prepare(&mut self) {
        let len = self.buf.bytes_total();
        let ptr = self.buf.stable_mut_ptr();
        self.parts.reset_for_recv(ptr, len);
    }
}

// SAFETY: the entry points at `self.parts.msg`, in a box the op owns, which points at
// `self.parts.iov` and `self.parts.addr` in the same box; the iovec points into
// `self.buf`, stable by the `IoBufMut` contract and owned by the op.
unsafe impl<B: IoBufMut> Operation for RecvMsg<B> {
    type Output = (io::Result<Datagram>, B);

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        self.prepare();
        let msg: *mut libc::msghdr = &mut self.parts.msg;
        Some(on_fd!(self.fd, |fd| opcode::RecvMsg::new(fd, msg)
            .flags(RECV_FLAGS as u32)
            .build()))
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.fd, Interest::Read)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        self.prepare();
        // SAFETY: `msg` describes writable memory the op owns (buffer and address).
        syscall!(recvmsg(self.fd.raw(), &mut self.parts.msg, RECV_FLAGS)).map(|n| n as u32)
    }

    fn release_orphan(self: Box<Self>, result: io::Result<u32>, flags: u32) {
        let late = self.late.clone();
        let (Ok(meta), buf) = (*self).complete(result, flags) else {
            return; // Cancelled, or an error nobody waits for.
        };
        // SAFETY: the kernel wrote `meta.kept <= bytes_total` bytes from the buffer's
        // start (and `complete` recorded them); nothing else writes it now.
        let bytes = unsafe { std::slice::from_raw_parts(buf.stable_ptr(), meta.kept) }.to_vec();
        let waiters = {
            let mut q = late.borrow_mut();
            q.datagrams.push_back(LateDatagram { bytes, meta });
            std::mem::take(&mut q.waiters)
        };
        // A receive waiting in the kernel would not see it otherwise.
        waiters.into_iter().for_each(|(_, w)| w.wake());
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let capacity = self.buf.bytes_total();
        let result = result.and_then(|n| self.parts.datagram(n as usize, capacity));
        if let Ok(d) = &result {
            // SAFETY: the kernel wrote `d.kept <= capacity` bytes from the buffer's start.
            unsafe { self.buf.set_init(d.kept) };
        }
        (result, self.buf)
    }
}

/// Sends the buffer's initialised bytes as one datagram, to `addr` if given
/// (`sendmsg` with `msg_name`; MSG_NOSIGNAL, which a datagram socket never needs but
/// costs nothing).
pub(crate) struct SendMsg<B> {
    fd: Fd,
    buf: B,
    parts: Box<MsgParts>,
}

impl<B: IoBuf> SendMsg<B> {
    pub(crate) fn new(fd: Fd, buf: B, addr: Option<&SocketAddr>) -> SendMsg<B> {
        let raw = addr.map_or_else(RawSockAddr::empty, RawSockAddr::from_std);
        let mut parts = MsgParts::new(raw, addr.is_some());
        parts.iov = libc::iovec {
            iov_base: buf.stable_ptr() as *mut _,
            iov_len: buf.bytes_init(),
        };
        SendMsg { fd, buf, parts }
    }
}

// SAFETY: the entry points at `self.parts.msg`, in a box the op owns, which points at
// `self.parts.iov` and `self.parts.addr` in the same box; the iovec points into
// `self.buf`, stable by the `IoBuf` contract and owned by the op.
unsafe impl<B: IoBuf> Operation for SendMsg<B> {
    type Output = (io::Result<usize>, B);

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        let msg: *const libc::msghdr = &self.parts.msg;
        Some(on_fd!(self.fd, |fd| opcode::SendMsg::new(fd, msg)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()))
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.fd, Interest::Write)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        // SAFETY: `msg` describes initialised memory the op owns (buffer and address).
        syscall!(sendmsg(self.fd.raw(), &self.parts.msg, libc::MSG_NOSIGNAL)).map(|n| n as u32)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}

/// A datagram received into a pool's buffer.
#[derive(Debug)]
pub(crate) struct PooledDatagram {
    /// The payload (or the part of it that fit).
    pub(crate) buf: PooledBuf,
    pub(crate) addr: SocketAddr,
    /// The datagram's length on the wire.
    pub(crate) len: usize,
    pub(crate) truncated: bool,
}

/// A sender's address as the kernel wrote it (a `sockaddr_in` or `sockaddr_in6`), read
/// field by field.
fn socket_addr_from_bytes(name: &[u8]) -> io::Result<SocketAddr> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unreadable sender address");
    let family = name.get(..2).ok_or_else(bad)?;
    let family = u16::from_ne_bytes([family[0], family[1]]) as libc::c_int;
    let be16 = |at: usize| u16::from_be_bytes([name[at], name[at + 1]]);
    let ne32 = |at: usize| u32::from_ne_bytes(name[at..at + 4].try_into().expect("4 bytes"));
    match family {
        libc::AF_INET if name.len() >= 8 => {
            let ip: [u8; 4] = name[4..8].try_into().expect("4 bytes");
            Ok(SocketAddrV4::new(Ipv4Addr::from(ip), be16(2)).into())
        }
        libc::AF_INET6 if name.len() >= 28 => {
            let ip: [u8; 16] = name[8..24].try_into().expect("16 bytes");
            // As std reads a sockaddr_in6: flow info and scope id as they are.
            Ok(SocketAddrV6::new(Ipv6Addr::from(ip), be16(2), ne32(4), ne32(24)).into())
        }
        _ => Err(bad()),
    }
}

/// One receive into a buffer taken from a pool's free list: the readiness face of
/// `recv_from_pooled`, and its io_uring face where the kernel lacks buffer rings. The
/// payload goes after [`POOL_HEADROOM`] bytes, as in a multishot receive.
pub(crate) struct RecvFromPooled {
    fd: Fd,
    pool: Rc<PoolInner>,
    /// The buffer while the kernel may write into it.
    bid: Option<u16>,
    parts: Box<MsgParts>,
}

impl RecvFromPooled {
    pub(crate) fn new(fd: Fd, pool: Rc<PoolInner>) -> RecvFromPooled {
        RecvFromPooled {
            fd,
            pool,
            bid: None,
            parts: MsgParts::new(RawSockAddr::empty(), true),
        }
    }

    fn no_buffer() -> io::Error {
        io::Error::from_raw_os_error(libc::ENOBUFS)
    }

    /// Aims the receive at buffer `bid`'s payload area.
    fn point_at(&mut self, bid: u16) {
        let (ptr, size) = self.pool.raw_buf(bid);
        // The socket checked the pool's buffers are larger than the headroom.
        debug_assert!(size > POOL_HEADROOM);
        self.parts
            .reset_for_recv(ptr.wrapping_add(POOL_HEADROOM), size - POOL_HEADROOM);
    }
}

impl Drop for RecvFromPooled {
    fn drop(&mut self) {
        // Runs only once the kernel is done (the driver's contract for orphans).
        if let Some(bid) = self.bid.take() {
            self.pool.give_back(bid);
        }
    }
}

// SAFETY: the entry points at `self.parts.msg`, in a box the op owns, which points at
// `self.parts.iov` and `self.parts.addr` in the same box; the iovec points into the
// pool's buffer `bid`, heap memory the op keeps alive (an `Rc` to the pool) and owns
// (taken from the free list, given back on drop).
unsafe impl Operation for RecvFromPooled {
    type Output = io::Result<PooledDatagram>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        if self.bid.is_none() {
            self.bid = self.pool.take_free();
        }
        let Some(bid) = self.bid else {
            // No buffer: complete at once; `complete` reports ENOBUFS.
            return Some(opcode::Nop::new().build());
        };
        self.point_at(bid);
        let msg: *mut libc::msghdr = &mut self.parts.msg;
        Some(on_fd!(self.fd, |fd| opcode::RecvMsg::new(fd, msg)
            .flags(RECV_FLAGS as u32)
            .build()))
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.fd, Interest::Read)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let bid = self.pool.take_free().ok_or_else(Self::no_buffer)?;
        self.point_at(bid);
        // SAFETY: `msg` describes the payload area of buffer `bid` (this op's until
        // given back) and the op's address storage.
        match syscall!(recvmsg(self.fd.raw(), &mut self.parts.msg, RECV_FLAGS)) {
            Ok(n) => {
                self.bid = Some(bid);
                Ok(n as u32)
            }
            Err(e) => {
                // Give the buffer back at once: an idle socket holds none.
                self.pool.give_back(bid);
                Err(e)
            }
        }
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let n = result?;
        let Some(bid) = self.bid.take() else {
            return Err(Self::no_buffer());
        };
        let capacity = self.pool.raw_buf(bid).1 - POOL_HEADROOM;
        // Lent first, so the buffer goes back if the address is unreadable.
        let mut buf = self
            .pool
            .lend(bid, POOL_HEADROOM + (n as usize).min(capacity));
        let d = self.parts.datagram(n as usize, capacity)?;
        buf.narrow(POOL_HEADROOM, d.kept);
        Ok(PooledDatagram {
            buf,
            addr: d.addr.expect("asked for the address"),
            len: d.len,
            truncated: d.truncated,
        })
    }
}

/// One non-blocking `recvmsg(2)` into a buffer taken from `pool`'s free list, now:
/// `WouldBlock` when no datagram waits (the buffer goes back), `ENOBUFS` when the pool
/// has no free buffer.
pub(crate) fn try_recv_from_pooled(fd: &Fd, pool: &Rc<PoolInner>) -> io::Result<PooledDatagram> {
    let mut op = RecvFromPooled::new(fd.clone(), pool.clone());
    let result = op.attempt();
    op.complete(result, 0)
}

/// The armed multishot RECVMSG of one socket.
pub(crate) struct DatagramMulti {
    fd: Fd,
    /// The driver it arms on, and cancels on: the one current when it was made.
    driver: WeakDriver,
    pool: Rc<PoolInner>,
    group: u16,
    /// The header the kernel reads the name and control lengths from. Boxed and owned
    /// by the sink, which the op table keeps until the last completion.
    msg: Box<libc::msghdr>,
    state: RefCell<DatagramState>,
}

struct DatagramState {
    /// Received datagrams, or the errno of a failed receive.
    queue: VecDeque<Result<PooledDatagram, i32>>,
    /// Datagrams in `queue` (in pool buffers or copied out): the receive pauses at
    /// [`DATAGRAM_QUEUE_LIMIT`].
    queued: usize,
    /// The op table slot while the kernel holds the receive armed.
    armed: Option<u32>,
    waiters: Vec<Waker>,
    /// A pause (cancel) was asked for: its `ECANCELED` ending is no error.
    pausing: bool,
    /// The socket was dropped: give back whatever arrives.
    closed: bool,
}

/// Pool buffers a socket may hold in unclaimed datagrams before its multishot receive
/// is paused (and re-armed once they are taken), so a socket whose task stops
/// receiving cannot drain a pool shared with others. While paused, datagrams wait in
/// the socket's receive buffer, where the kernel drops what does not fit, as UDP does
/// for any slow reader. A burst that lands before the pause is copied out of the pool.
const DATAGRAM_QUEUE_LIMIT: usize = 8;

impl DatagramMulti {
    pub(crate) fn new(fd: Fd, pool: Rc<PoolInner>, group: u16) -> Rc<DatagramMulti> {
        // SAFETY: msghdr is plain data for which all-zeroes is valid.
        let mut msg: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msg.msg_namelen = NAME_LEN as libc::socklen_t;
        Rc::new(DatagramMulti {
            fd,
            driver: current_driver(),
            pool,
            group,
            msg,
            state: RefCell::new(DatagramState {
                queue: VecDeque::new(),
                queued: 0,
                armed: None,
                waiters: Vec::new(),
                pausing: false,
                closed: false,
            }),
        })
    }

    /// Whether this receive draws from `pool`.
    pub(crate) fn uses(&self, pool: &Rc<PoolInner>) -> bool {
        Rc::ptr_eq(&self.pool, pool)
    }

    /// Whether nothing is queued and the kernel holds nothing armed.
    pub(crate) fn is_idle(&self) -> bool {
        let state = self.state.borrow();
        state.queue.is_empty() && state.armed.is_none()
    }

    /// The next datagram, or the error that ended the receive (`ENOBUFS` when the pool
    /// ran dry: wait for a buffer and call again). Arms the receive when it is not.
    pub(crate) fn poll_recv(
        self: &Rc<Self>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<PooledDatagram>> {
        if let Some(ready) = self.pop() {
            return Poll::Ready(ready);
        }
        let armed = {
            let state = self.state.borrow();
            if state.closed {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::NotConnected)));
            }
            state.armed.is_some()
        };
        if !armed {
            let entry = on_fd!(self.fd, |fd| opcode::RecvMsgMulti::new(
                fd, &*self.msg, self.group
            )
            .flags(RECV_FLAGS as u32)
            .build());
            let driver = self.driver.upgrade().unwrap_or_else(context::driver);
            arm(&driver, entry, self.clone(), &self.state, |s| &mut s.armed);
            // It may have completed while being submitted (a full queue was flushed).
            if let Some(ready) = self.pop() {
                return Poll::Ready(ready);
            }
        }
        let mut state = self.state.borrow_mut();
        if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            state.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn pop(&self) -> Option<io::Result<PooledDatagram>> {
        let mut state = self.state.borrow_mut();
        Some(match state.queue.pop_front()? {
            Ok(datagram) => {
                state.queued -= 1;
                Ok(datagram)
            }
            Err(errno) => Err(io::Error::from_raw_os_error(errno)),
        })
    }

    /// The socket is closing: stop the receive and give back queued buffers.
    pub(crate) fn close(&self) {
        let (armed, queued) = {
            let mut state = self.state.borrow_mut();
            state.closed = true;
            state.waiters.clear();
            state.queued = 0;
            (state.armed, std::mem::take(&mut state.queue))
        };
        drop(queued);
        if let Some(key) = armed {
            cancel_on(&self.driver, key as usize);
        }
    }

    /// Reads the header, address and payload the kernel wrote into `buf`.
    fn parse(&self, mut buf: PooledBuf) -> io::Result<PooledDatagram> {
        let out = RecvMsgOut::parse(&buf[..], &self.msg).map_err(|()| {
            io::Error::new(io::ErrorKind::InvalidData, "short multishot RECVMSG result")
        })?;
        let addr = socket_addr_from_bytes(out.name_data())?;
        let kept = out.payload_data().len();
        let len = (out.incoming_payload_len() as usize).max(kept);
        let truncated = out.is_payload_truncated() || len > kept;
        debug_assert_eq!(
            out.payload_data().as_ptr() as usize - buf.as_ptr() as usize,
            POOL_HEADROOM
        );
        buf.narrow(POOL_HEADROOM, kept);
        Ok(PooledDatagram {
            buf,
            addr,
            len: len.max(kept + truncated as usize),
            truncated,
        })
    }
}

impl Multishot for DatagramMulti {
    fn on_completion(&self, result: i32, flags: u32) -> bool {
        let mut state = self.state.borrow_mut();
        if !cqueue::more(flags) {
            state.armed = None;
            if std::mem::take(&mut state.pausing) && result == -libc::ECANCELED {
                // The pause took effect. A receiver waiting now re-arms.
                let waiters = std::mem::take(&mut state.waiters);
                drop(state);
                waiters.into_iter().for_each(Waker::wake);
                return false;
            }
        }
        let item = match cqueue::buffer_select(flags) {
            Some(bid) => {
                self.pool.taken_by_kernel(bid);
                // Lent at once, so every way out below gives the buffer back.
                let buf = self.pool.lend(bid, result.max(0) as usize);
                if result <= 0 || state.closed {
                    return false;
                }
                match self.parse(buf) {
                    Ok(mut d) if state.queued >= DATAGRAM_QUEUE_LIMIT || self.pool.is_low() => {
                        // At the limit (a burst landed before the pause), or the pool
                        // is nearly dry (a socket whose task does not receive must not
                        // hold the buffers every other socket needs): keep the bytes,
                        // give the buffer back.
                        d.buf = PooledBuf::spilled(Box::new(d.buf.to_vec()));
                        Ok(d)
                    }
                    Ok(d) => Ok(d),
                    Err(_) => Err(libc::EINVAL),
                }
            }
            None if result < 0 => Err(-result),
            None => return false, // A count with no buffer: the kernel posts none.
        };
        if state.closed {
            return false;
        }
        if item.is_ok() {
            state.queued += 1;
        }
        state.queue.push_back(item);
        let pause = state.queued >= DATAGRAM_QUEUE_LIMIT
            && state.armed.is_some()
            && !std::mem::replace(&mut state.pausing, true);
        // Waking only queues the tasks (wakers never poll), so the state may stay
        // borrowed.
        std::mem::take(&mut state.waiters)
            .into_iter()
            .for_each(Waker::wake);
        pause
    }
}

impl super::multi::MultiReceive for DatagramMulti {
    fn uses(&self, pool: &Rc<PoolInner>) -> bool {
        DatagramMulti::uses(self, pool)
    }

    fn is_idle(&self) -> bool {
        DatagramMulti::is_idle(self)
    }

    fn close(&self) {
        DatagramMulti::close(self)
    }
}
