//! Socket operations: accept, connect, recv, send, their vectored forms, shutdown.
//!
//! The stream operations (`Recv`, `Send` and their vectored forms) also serve other
//! streaming fds (pipes: [`FdKind::Pipe`]), as `read(2)` / `write(2)` and IORING_OP_READ
//! / WRITE (and READV / WRITEV) at the current position.
//!
//! Sockets are non-blocking on both backends. io_uring ignores the flag for these
//! opcodes when it issues them inline (it passes MSG_DONTWAIT itself and arms its own
//! poll on `EAGAIN`); the epoll backend needs it. An `EAGAIN` that does reach a
//! completion is resubmitted by [`Op`](crate::driver::Op).

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::sys::{syscall, FdKind, RawSockAddr};
use crate::driver::{Decision, Fd, Interest, Operation};
use io_uring::{opcode, squeue};

/// The offset of a pipe operation: -1, the current position (a pipe has none).
pub(super) const CURRENT_POSITION: u64 = u64::MAX;

/// Whether an operation on an fd of `kind` may be an io_uring entry. A pipe may only
/// from Linux 5.19: before, the kernel completes a READ or WRITE on an `O_NONBLOCK`
/// pipe with `EAGAIN` instead of arming its poll, and the driver, resubmitting it,
/// would spin. There a pipe operation takes its decision face on io_uring too (a
/// one-shot POLL_ADD, then the syscall).
fn has_entry(kind: FdKind) -> bool {
    static PIPE_ENTRIES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    kind == FdKind::Socket
        || *PIPE_ENTRIES.get_or_init(|| crate::driver::sys::kernel_version() >= (5, 19))
}
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown as How, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;

/// Flags of every accepted socket.
const ACCEPT_FLAGS: i32 = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

/// A listener's kind of peer address: an IP [`SocketAddr`] or a Unix address.
pub(crate) trait PeerAddr: Sized + 'static {
    /// The address `accept4(2)` wrote.
    fn from_raw(raw: &RawSockAddr) -> io::Result<Self>;

    /// The peer of a connection a multishot accept made (which reports no address):
    /// `getpeername(2)`.
    fn of_accepted(conn: &OwnedFd) -> io::Result<Self>;
}

impl PeerAddr for SocketAddr {
    fn from_raw(raw: &RawSockAddr) -> io::Result<SocketAddr> {
        raw.socket_addr()
    }

    fn of_accepted(conn: &OwnedFd) -> io::Result<SocketAddr> {
        match socket2::SockRef::from(conn).peer_addr() {
            Ok(addr) => RawSockAddr::from_socket2(&addr).socket_addr(),
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the peer reset the connection before it was accepted",
            )),
            Err(e) => Err(e),
        }
    }
}

/// Connections accepted after their accept future was dropped, kept for the next
/// `accept` of the same listener, and the acceptors to tell when one arrives.
pub(crate) type LateAccepts<A = SocketAddr> = Rc<RefCell<LateQueue<A>>>;

/// See [`LateAccepts`].
#[derive(Debug)]
pub(crate) struct LateQueue<A> {
    pub(crate) conns: VecDeque<(OwnedFd, A)>,
    pub(crate) waiters: Vec<std::task::Waker>,
}

impl<A> Default for LateQueue<A> {
    fn default() -> LateQueue<A> {
        LateQueue {
            conns: VecDeque::new(),
            waiters: Vec::new(),
        }
    }
}

/// Accepts one connection. The new socket is non-blocking and close-on-exec.
pub(crate) struct Accept<A: PeerAddr = SocketAddr> {
    fd: Fd,
    /// Written by the kernel; boxed so its address survives the op moving.
    addr: Box<RawSockAddr>,
    late: LateAccepts<A>,
}

impl<A: PeerAddr> Accept<A> {
    pub(crate) fn new(fd: Fd, late: LateAccepts<A>) -> Accept<A> {
        Accept {
            fd,
            addr: Box::new(RawSockAddr::empty()),
            late,
        }
    }
}

// SAFETY: the entry points at `self.addr.storage` and `self.addr.len`, in the box the
// op owns.
unsafe impl<A: PeerAddr> Operation for Accept<A> {
    type Output = io::Result<(OwnedFd, A)>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        let (addr, len) = (self.addr.as_mut_ptr(), &mut self.addr.len as *mut _);
        Some(on_fd!(self.fd, |fd| opcode::Accept::new(fd, addr, len)
            .flags(ACCEPT_FLAGS)
            .build()))
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.fd, Interest::Read)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        *self.addr = RawSockAddr::empty();
        // SAFETY: `addr` is writable storage of `addr.len` bytes.
        syscall!(accept4(
            self.fd.raw(),
            self.addr.as_mut_ptr(),
            &mut self.addr.len,
            ACCEPT_FLAGS
        ))
        .map(|fd| fd as u32)
    }

    fn release_orphan(self: Box<Self>, result: io::Result<u32>, _flags: u32) {
        let late = self.late.clone();
        // `complete` takes ownership of the fd; if the address is unreadable the fd is
        // closed by the OwnedFd's drop.
        if let Ok(conn) = (*self).complete(result, 0) {
            let waiters = {
                let mut q = late.borrow_mut();
                q.conns.push_back(conn);
                std::mem::take(&mut q.waiters)
            };
            // An accept already waiting in the kernel would not see it otherwise.
            for w in waiters {
                w.wake();
            }
        }
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let fd = result? as RawFd;
        // SAFETY: the kernel just created `fd` for us and nobody else has it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let addr = A::from_raw(&self.addr)?;
        Ok((fd, addr))
    }
}

/// Connects a socket.
pub(crate) struct Connect {
    fd: Fd,
    /// Boxed: the kernel reads it from where the entry says.
    addr: Box<RawSockAddr>,
    /// Readiness face: `connect` was called and reported `EINPROGRESS`.
    started: bool,
}

impl Connect {
    pub(crate) fn new(fd: Fd, addr: &SocketAddr) -> Connect {
        Connect {
            fd,
            addr: Box::new(RawSockAddr::from_std(addr)),
            started: false,
        }
    }
}

// SAFETY: the entry points at `self.addr`, in the box the op owns.
unsafe impl Operation for Connect {
    type Output = io::Result<()>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        Some(on_fd!(self.fd, |fd| opcode::Connect::new(
            fd,
            self.addr.as_ptr(),
            self.addr.len
        )
        .build()))
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.fd, Interest::Write)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        if !self.started {
            self.started = true;
            // SAFETY: `addr` holds `addr.len` valid bytes of a socket address.
            return match syscall!(connect(self.fd.raw(), self.addr.as_ptr(), self.addr.len)) {
                Ok(_) => Ok(0),
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Err(would_block()),
                Err(e) => Err(e),
            };
        }
        // The socket became writable (or the wake was spurious): ask how it went.
        let sock = socket2::SockRef::from(&self.fd);
        if let Some(e) = sock.take_error()? {
            return Err(e);
        }
        match sock.peer_addr() {
            Ok(_) => Ok(0),
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Err(would_block()),
            Err(e) => Err(e),
        }
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}

/// Receives into the buffer, from its start, up to its capacity.
pub(crate) struct Recv<B> {
    fd: Fd,
    buf: B,
    kind: FdKind,
    /// A byte stream (a stream socket or a pipe), not datagrams: see
    /// [`Operation::exhausts`].
    stream: bool,
}

impl<B: IoBufMut> Recv<B> {
    /// A receive of one datagram (a connected datagram socket).
    pub(crate) fn new(fd: Fd, buf: B) -> Recv<B> {
        Recv {
            fd,
            buf,
            kind: FdKind::Socket,
            stream: false,
        }
    }

    /// A receive from a byte stream of `kind` (a stream socket, or a pipe).
    pub(crate) fn of_kind(fd: Fd, buf: B, kind: FdKind) -> Recv<B> {
        Recv {
            fd,
            buf,
            kind,
            stream: true,
        }
    }
}

// SAFETY: the entry points into `self.buf`, whose memory is stable by the `IoBufMut`
// contract and owned by the op.
unsafe impl<B: IoBufMut> Operation for Recv<B> {
    type Output = BufResult<usize, B>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        if !has_entry(self.kind) {
            return None;
        }
        let len = self.buf.bytes_total().min(u32::MAX as usize) as u32;
        let ptr = self.buf.stable_mut_ptr();
        Some(match self.kind {
            FdKind::Socket => on_fd!(self.fd, |fd| opcode::Recv::new(fd, ptr, len).build()),
            FdKind::Pipe => on_fd!(self.fd, |fd| opcode::Read::new(fd, ptr, len)
                .offset(CURRENT_POSITION)
                .build()),
        })
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.fd, Interest::Read)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let (fd, len, ptr) = (
            self.fd.raw(),
            self.buf.bytes_total(),
            self.buf.stable_mut_ptr(),
        );
        // SAFETY: the buffer is writable for `bytes_total` bytes.
        match self.kind {
            FdKind::Socket => syscall!(recv(fd, ptr.cast(), len, 0)),
            FdKind::Pipe => syscall!(read(fd, ptr.cast(), len)),
        }
        .map(|n| n as u32)
    }

    fn exhausts(&self, result: u32) -> bool {
        self.stream && result > 0 && (result as usize) < self.buf.bytes_total()
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

/// Sends the buffer's initialised bytes (or a prefix of them).
///
/// With `zero_copy`, on io_uring, as IORING_OP_SEND_ZC: the kernel pins the pages
/// instead of copying them and posts a second completion (the notification) once it no
/// longer needs them; only then does the op complete, so the buffer comes back free to
/// reuse. On a readiness backend it is a plain `send(2)` either way.
pub(crate) struct Send<B> {
    fd: Fd,
    buf: B,
    zero_copy: bool,
    kind: FdKind,
}

impl<B: IoBuf> Send<B> {
    pub(crate) fn new(fd: Fd, buf: B) -> Send<B> {
        Send::of_kind(fd, buf, FdKind::Socket)
    }

    /// A send on a socket, or a `write(2)` on a pipe (which raises SIGPIPE when the
    /// reader is gone, as `write(2)` does; Rust programs ignore SIGPIPE by default).
    pub(crate) fn of_kind(fd: Fd, buf: B, kind: FdKind) -> Send<B> {
        Send {
            fd,
            buf,
            zero_copy: false,
            kind,
        }
    }

    /// A zero-copy send (IORING_OP_SEND_ZC; the caller checked the kernel has it).
    pub(crate) fn zero_copy(fd: Fd, buf: B) -> Send<B> {
        Send {
            fd,
            buf,
            zero_copy: true,
            kind: FdKind::Socket,
        }
    }
}

// SAFETY: the entry points into `self.buf`, stable by the `IoBuf` contract. For a
// zero-copy send the driver keeps the op (and so the buffer) until the notification.
unsafe impl<B: IoBuf> Operation for Send<B> {
    type Output = BufResult<usize, B>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        if !has_entry(self.kind) {
            return None;
        }
        let len = self.buf.bytes_init().min(u32::MAX as usize) as u32;
        let ptr = self.buf.stable_ptr();
        if self.zero_copy {
            let buf_index = crate::buf::fixed_index(&self.buf);
            return Some(on_fd!(self.fd, |fd| opcode::SendZc::new(fd, ptr, len)
                .buf_index(buf_index)
                .flags(libc::MSG_NOSIGNAL)
                .build()));
        }
        Some(match self.kind {
            FdKind::Socket => on_fd!(self.fd, |fd| opcode::Send::new(fd, ptr, len)
                .flags(libc::MSG_NOSIGNAL)
                .build()),
            FdKind::Pipe => on_fd!(self.fd, |fd| opcode::Write::new(fd, ptr, len)
                .offset(CURRENT_POSITION)
                .build()),
        })
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.fd, Interest::Write)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let (fd, len, ptr) = (self.fd.raw(), self.buf.bytes_init(), self.buf.stable_ptr());
        // SAFETY: the buffer's first `bytes_init` bytes are initialised.
        match self.kind {
            FdKind::Socket => syscall!(send(fd, ptr.cast(), len, libc::MSG_NOSIGNAL)),
            FdKind::Pipe => syscall!(write(fd, ptr.cast(), len)),
        }
        .map(|n| n as u32)
    }

    fn exhausts(&self, result: u32) -> bool {
        // A datagram send is all or nothing, so a short one is a full stream buffer.
        result > 0 && (result as usize) < self.buf.bytes_init()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}

/// Builds the iovec array of `bufs`: for reading, each buffer's whole capacity.
pub(super) fn iovecs_mut<B: IoBufMut>(bufs: &mut [B]) -> Vec<libc::iovec> {
    bufs.iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.stable_mut_ptr().cast(),
            iov_len: b.bytes_total(),
        })
        .collect()
}

/// Builds the iovec array of `bufs`: for writing, each buffer's initialised bytes.
pub(super) fn iovecs<B: IoBuf>(bufs: &[B]) -> Vec<libc::iovec> {
    bufs.iter()
        .map(|b| libc::iovec {
            iov_base: b.stable_ptr().cast_mut().cast(),
            iov_len: b.bytes_init(),
        })
        .collect()
}

/// After a vectored read of `n` bytes: each buffer's initialised length, in order.
pub(super) fn set_init_in_order<B: IoBufMut>(bufs: &mut [B], n: usize) {
    let mut left = n;
    for b in bufs {
        let take = left.min(b.bytes_total());
        // SAFETY: a vectored read fills the buffers in order; this one got `take` bytes.
        unsafe { b.set_init(take) };
        left -= take;
    }
}

/// Receives into several buffers in order (recvmsg: a socket opcode, for which
/// io_uring arms its own poll; READV on a non-blocking socket returns `EAGAIN` on
/// kernels before 5.19). On a pipe: READV and `readv(2)`.
pub(crate) struct RecvVectored<B> {
    fd: Fd,
    kind: FdKind,
    bufs: Vec<B>,
    /// Built once; heap memory owned by the op, stable while it lives.
    iovecs: Vec<libc::iovec>,
    /// Boxed: the kernel reads (and for recvmsg, writes) it where the entry says.
    msg: Box<libc::msghdr>,
}

impl<B: IoBufMut> RecvVectored<B> {
    pub(crate) fn of_kind(fd: Fd, mut bufs: Vec<B>, kind: FdKind) -> RecvVectored<B> {
        let mut iovecs = iovecs_mut(&mut bufs);
        // SAFETY: msghdr is plain data for which all-zeroes is valid (no name, no control).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iovecs.as_mut_ptr();
        msg.msg_iovlen = iovecs.len();
        RecvVectored {
            fd,
            kind,
            bufs,
            iovecs,
            msg: Box::new(msg),
        }
    }
}

// SAFETY: the entry points at `self.msg`, in a box the op owns, which points at
// `self.iovecs` (a Vec the op owns, never resized), whose entries point into
// `self.bufs`, stable by the `IoBufMut` contract.
unsafe impl<B: IoBufMut> Operation for RecvVectored<B> {
    type Output = BufResult<usize, Vec<B>>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        if !has_entry(self.kind) {
            return None;
        }
        debug_assert_eq!(self.msg.msg_iov, self.iovecs.as_mut_ptr());
        let msg: *mut libc::msghdr = &mut *self.msg;
        let (iov, n) = (self.iovecs.as_ptr(), self.iovecs.len() as u32);
        Some(match self.kind {
            FdKind::Socket => on_fd!(self.fd, |fd| opcode::RecvMsg::new(fd, msg).build()),
            FdKind::Pipe => on_fd!(self.fd, |fd| opcode::Readv::new(fd, iov, n)
                .offset(CURRENT_POSITION)
                .build()),
        })
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.fd, Interest::Read)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let n = self.iovecs.len().min(i32::MAX as usize) as i32;
        // SAFETY: `msg` and `iovecs` describe writable buffer memory the op owns.
        match self.kind {
            FdKind::Socket => syscall!(recvmsg(self.fd.raw(), &mut *self.msg, 0)),
            FdKind::Pipe => syscall!(readv(self.fd.raw(), self.iovecs.as_ptr(), n)),
        }
        .map(|n| n as u32)
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let result = result.map(|n| {
            set_init_in_order(&mut self.bufs, n as usize);
            n as usize
        });
        (result, self.bufs)
    }
}

/// Sends several buffers in order (sendmsg with MSG_NOSIGNAL, so a closed peer is an
/// `EPIPE` error and never a signal). On a pipe: WRITEV and `writev(2)`.
pub(crate) struct SendVectored<B> {
    fd: Fd,
    kind: FdKind,
    bufs: Vec<B>,
    /// Heap memory the op owns; `msg` points at it.
    iovecs: Vec<libc::iovec>,
    /// Boxed: the kernel reads (and for recvmsg, writes) it where the entry says.
    msg: Box<libc::msghdr>,
}

impl<B: IoBuf> SendVectored<B> {
    pub(crate) fn of_kind(fd: Fd, bufs: Vec<B>, kind: FdKind) -> SendVectored<B> {
        let mut iovecs = iovecs(&bufs);
        // SAFETY: msghdr is plain data for which all-zeroes is valid (no name, no control).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iovecs.as_mut_ptr();
        msg.msg_iovlen = iovecs.len();
        SendVectored {
            fd,
            kind,
            bufs,
            iovecs,
            msg: Box::new(msg),
        }
    }
}

// SAFETY: the entry points at `self.msg`, in a box the op owns, which points at
// `self.iovecs` (a Vec the op owns, never resized), whose entries point into
// `self.bufs`, stable by the `IoBuf` contract.
unsafe impl<B: IoBuf> Operation for SendVectored<B> {
    type Output = BufResult<usize, Vec<B>>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        if !has_entry(self.kind) {
            return None;
        }
        debug_assert_eq!(self.msg.msg_iov, self.iovecs.as_mut_ptr());
        let (iov, n) = (self.iovecs.as_ptr(), self.iovecs.len() as u32);
        Some(match self.kind {
            FdKind::Socket => on_fd!(self.fd, |fd| opcode::SendMsg::new(fd, &*self.msg)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build()),
            FdKind::Pipe => on_fd!(self.fd, |fd| opcode::Writev::new(fd, iov, n)
                .offset(CURRENT_POSITION)
                .build()),
        })
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.fd, Interest::Write)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let n = self.iovecs.len().min(i32::MAX as usize) as i32;
        // SAFETY: `msg` and `iovecs` describe initialised buffer memory the op owns.
        match self.kind {
            FdKind::Socket => syscall!(sendmsg(self.fd.raw(), &*self.msg, libc::MSG_NOSIGNAL)),
            FdKind::Pipe => syscall!(writev(self.fd.raw(), self.iovecs.as_ptr(), n)),
        }
        .map(|n| n as u32)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.bufs)
    }
}

/// Shuts down one or both directions of a socket.
pub(crate) struct Shutdown {
    fd: Fd,
    how: i32,
}

impl Shutdown {
    pub(crate) fn new(fd: Fd, how: How) -> Shutdown {
        let how = match how {
            How::Read => libc::SHUT_RD,
            How::Write => libc::SHUT_WR,
            How::Both => libc::SHUT_RDWR,
        };
        Shutdown { fd, how }
    }
}

// SAFETY: a shutdown entry carries no pointers.
unsafe impl Operation for Shutdown {
    type Output = io::Result<()>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        Some(on_fd!(self.fd, |fd| opcode::Shutdown::new(fd, self.how).build()))
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Now
    }

    fn attempt(&mut self) -> io::Result<u32> {
        syscall!(shutdown(self.fd.raw(), self.how)).map(|_| 0)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}
