//! Unix-socket operations: connect by a Unix address, and `sendmsg`/`recvmsg` that
//! carry a peer address (datagrams) or file descriptors (SCM_RIGHTS).
//!
//! Plain reads, writes, vectored I/O and shutdown on Unix sockets are the socket
//! operations of [`net`](super::net), which work on any socket; accept is
//! [`Accept`](super::Accept) with a Unix peer address.
//!
//! # Fds in flight
//!
//! - A send dups the fds it is given (close-on-exec) and owns the dups until its last
//!   completion: if its future is dropped while the kernel still holds the send, the
//!   caller may close or reuse its own fd numbers without the kernel sending a
//!   different file than the one asked for.
//! - A receive asks for `MSG_CMSG_CLOEXEC`; the kernel installs the received fds in
//!   this process when the receive completes. The completion's control data is parsed
//!   into `OwnedFd`s by [`complete`](Operation::complete), or, when the future was
//!   dropped first, by [`release_orphan`](Operation::release_orphan), which closes
//!   them: a dropped receive never leaks an fd. `MSG_CTRUNC` (more fds came than the
//!   buffer had room for; the kernel closed the rest) is an error, after the fds that
//!   did arrive are closed.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::sys::{syscall, RawSockAddr};
use crate::driver::{Decision, Fd, Operation};
use io_uring::{opcode, squeue};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// The most fds one SCM_RIGHTS message carries (the kernel's SCM_MAX_FD).
pub(crate) const MAX_FDS: usize = 253;

/// Connects a Unix socket to `addr` with a plain `connect(2)` on both backends.
///
/// A Unix connect has no handshake: it succeeds or fails at once, so an io_uring
/// entry would buy nothing. Its one would-block case, `EAGAIN` when the listener's
/// backlog is full, means "try the connect again later", not "in progress", and no
/// readiness event says when the backlog has room (io_uring's CONNECT would poll a
/// socket that is already writable and retry in a loop), so it is returned as the
/// error it is.
pub(crate) struct ConnectUnix {
    fd: Fd,
    /// Read only during the synchronous `connect(2)`: no box needed.
    addr: RawSockAddr,
}

impl ConnectUnix {
    pub(crate) fn new(fd: Fd, addr: RawSockAddr) -> ConnectUnix {
        ConnectUnix { fd, addr }
    }
}

// SAFETY: no entry and no blocking job: the kernel sees `addr` only inside `attempt`.
unsafe impl Operation for ConnectUnix {
    type Output = io::Result<()>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        None
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Now
    }

    fn attempt(&mut self) -> io::Result<u32> {
        // SAFETY: `addr` holds `addr.len` valid bytes of a socket address.
        syscall!(connect(self.fd.raw(), self.addr.as_ptr(), self.addr.len)).map(|_| 0)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}

/// The kernel-visible parts of one `sendmsg`/`recvmsg`, in one heap block: the
/// header points at the iovec and the address beside it, so the block must stay boxed
/// (its address stable) while the kernel may use it.
struct MsgBlock {
    msg: libc::msghdr,
    iov: libc::iovec,
    addr: RawSockAddr,
}

impl MsgBlock {
    /// A block for one buffer (`ptr`, `len`), with the address `addr` named in the
    /// header if `with_addr`, and `control` as the control data (empty: none).
    fn new(
        ptr: *mut u8,
        len: usize,
        addr: RawSockAddr,
        with_addr: bool,
        control: &mut [u64],
    ) -> Box<MsgBlock> {
        let mut block = Box::new(MsgBlock {
            // SAFETY: msghdr is plain data for which all-zeroes is valid.
            msg: unsafe { std::mem::zeroed() },
            iov: libc::iovec {
                iov_base: ptr.cast(),
                iov_len: len,
            },
            addr,
        });
        block.msg.msg_iov = &mut block.iov;
        block.msg.msg_iovlen = 1;
        if with_addr {
            block.msg.msg_name = block.addr.as_mut_ptr().cast();
            block.msg.msg_namelen = block.addr.len;
        }
        if !control.is_empty() {
            block.msg.msg_control = control.as_mut_ptr().cast();
            block.msg.msg_controllen = std::mem::size_of_val(control);
        }
        block
    }
}

/// Control-buffer room for `n` fds, in `u64`s (so the buffer is aligned for
/// `cmsghdr`), and its length in bytes.
fn control_room(n: usize) -> (usize, usize) {
    if n == 0 {
        return (0, 0);
    }
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    let bytes = unsafe { libc::CMSG_SPACE((n * std::mem::size_of::<libc::c_int>()) as u32) };
    let bytes = bytes as usize;
    (bytes.div_ceil(8), bytes)
}

/// Sends a buffer with `sendmsg(2)` (MSG_NOSIGNAL), to an address (an unconnected
/// datagram socket) and/or with fds attached (SCM_RIGHTS).
pub(crate) struct SendMsg<B> {
    fd: Fd,
    buf: B,
    block: Box<MsgBlock>,
    /// The SCM_RIGHTS message; heap memory the header points at.
    control: Vec<u64>,
    /// Our dups of the fds being sent, alive until the last completion.
    _fds: Vec<OwnedFd>,
}

impl<B: IoBuf> SendMsg<B> {
    /// `to`: the destination, for an unconnected datagram socket. `fds`: at most
    /// [`MAX_FDS`], owned by the op until it completes.
    pub(crate) fn new(fd: Fd, buf: B, to: Option<RawSockAddr>, fds: Vec<OwnedFd>) -> SendMsg<B> {
        debug_assert!(fds.len() <= MAX_FDS);
        let (words, bytes) = control_room(fds.len());
        let mut control = vec![0u64; words];
        let mut block = MsgBlock::new(
            buf.stable_ptr() as *mut u8,
            buf.bytes_init(),
            to.unwrap_or_else(RawSockAddr::empty),
            to.is_some(),
            &mut control,
        );
        if !fds.is_empty() {
            block.msg.msg_controllen = bytes;
            // SAFETY: the header's control data is `bytes` (>= CMSG_SPACE of the fds)
            // zeroed, u64-aligned bytes we own, so CMSG_FIRSTHDR is a valid, aligned
            // header, and its data has room for `fds.len()` ints.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(&block.msg);
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len =
                    libc::CMSG_LEN((fds.len() * std::mem::size_of::<libc::c_int>()) as u32) as _;
                let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                for (i, fd) in fds.iter().enumerate() {
                    data.add(i)
                        .write_unaligned(std::os::fd::AsRawFd::as_raw_fd(fd));
                }
            }
        }
        SendMsg {
            fd,
            buf,
            block,
            control,
            _fds: fds,
        }
    }
}

// SAFETY: the entry points at `self.block` (boxed, owned), whose header points at its
// own iovec and address and at `self.control` (a Vec never resized); the iovec points
// into `self.buf`, stable by the `IoBuf` contract; the fd numbers in the control data
// are the op's own dups, open until it is dropped.
unsafe impl<B: IoBuf> Operation for SendMsg<B> {
    type Output = BufResult<usize, B>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        debug_assert!(self.control.is_empty() || !self.block.msg.msg_control.is_null());
        let msg: *const libc::msghdr = &self.block.msg;
        Some(on_fd!(self.fd, |fd| opcode::SendMsg::new(fd, msg)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()))
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.fd, crate::driver::Interest::Write)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        // SAFETY: the header describes initialised memory the op owns.
        syscall!(sendmsg(self.fd.raw(), &self.block.msg, libc::MSG_NOSIGNAL)).map(|n| n as u32)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}

/// What a [`RecvMsg`] received.
pub(crate) struct Received {
    /// Bytes, from the buffer's start.
    pub(crate) len: usize,
    /// The sender's address, if asked for (`len` 0: an unbound sender).
    pub(crate) addr: RawSockAddr,
    /// Fds that came with the bytes, close-on-exec.
    pub(crate) fds: Vec<OwnedFd>,
}

/// Receives into a buffer with `recvmsg(2)` (MSG_CMSG_CLOEXEC), taking the sender's
/// address and/or up to `max_fds` fds (SCM_RIGHTS).
pub(crate) struct RecvMsg<B> {
    fd: Fd,
    buf: B,
    block: Box<MsgBlock>,
    /// Room for the control data; heap memory the header points at (only the kernel
    /// and the header's pointer touch it).
    _control: Vec<u64>,
    /// The control buffer's length in bytes (the header's, reset before each try).
    control_len: usize,
    with_addr: bool,
}

impl<B: IoBufMut> RecvMsg<B> {
    pub(crate) fn new(fd: Fd, mut buf: B, with_addr: bool, max_fds: usize) -> RecvMsg<B> {
        let (words, control_len) = control_room(max_fds.min(MAX_FDS));
        let mut control = vec![0u64; words];
        let block = MsgBlock::new(
            buf.stable_mut_ptr(),
            buf.bytes_total(),
            RawSockAddr::empty(),
            with_addr,
            &mut control,
        );
        let mut op = RecvMsg {
            fd,
            buf,
            block,
            _control: control,
            control_len,
            with_addr,
        };
        op.reset();
        op
    }

    /// Sets the lengths the kernel overwrites back to the room there is.
    fn reset(&mut self) {
        let msg = &mut self.block.msg;
        msg.msg_flags = 0;
        msg.msg_controllen = self.control_len;
        if self.with_addr {
            msg.msg_namelen = RawSockAddr::empty().len;
        }
    }

    /// The fds of every SCM_RIGHTS message in the control data the kernel wrote, now
    /// owned. Call only after a successful receive.
    fn take_fds(&mut self) -> Vec<OwnedFd> {
        let mut fds = Vec::new();
        let msg: *const libc::msghdr = &self.block.msg;
        // After a successful recvmsg the header's control pointer is our buffer and its
        // length what the kernel filled in (at most the buffer's).
        // SAFETY: so CMSG_FIRSTHDR/NXTHDR walk u64-aligned headers inside that buffer, and
        // each SCM_RIGHTS message holds `(cmsg_len - CMSG_LEN(0)) / 4` fds just for us.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let data_len = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                    for i in 0..data_len / std::mem::size_of::<libc::c_int>() {
                        fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(msg, cmsg);
            }
        }
        fds
    }
}

// SAFETY: the entry points at `self.block` (boxed, owned), whose header points at its
// own iovec and address and at `self.control` (a Vec never resized); the iovec points
// into `self.buf`, stable by the `IoBufMut` contract.
unsafe impl<B: IoBufMut> Operation for RecvMsg<B> {
    type Output = BufResult<Received, B>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        self.reset();
        let msg: *mut libc::msghdr = &mut self.block.msg;
        Some(on_fd!(self.fd, |fd| opcode::RecvMsg::new(fd, msg)
            .flags(libc::MSG_CMSG_CLOEXEC as u32)
            .build()))
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.fd, crate::driver::Interest::Read)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        self.reset();
        // SAFETY: the header describes writable memory the op owns.
        syscall!(recvmsg(
            self.fd.raw(),
            &mut self.block.msg,
            libc::MSG_CMSG_CLOEXEC
        ))
        .map(|n| n as u32)
    }

    fn release_orphan(mut self: Box<Self>, result: io::Result<u32>, _flags: u32) {
        // Fds installed by a receive nobody waits for any more are closed here.
        if result.is_ok() {
            drop(self.take_fds());
        }
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let n = match result {
            Ok(n) => n as usize,
            Err(e) => return (Err(e), self.buf),
        };
        let fds = self.take_fds();
        // SAFETY: the kernel wrote `n` bytes from the start of the buffer.
        unsafe { self.buf.set_init(n) };
        if self.block.msg.msg_flags & libc::MSG_CTRUNC != 0 {
            let kept = fds.len();
            drop(fds);
            let e = io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "more fds arrived than there was room for (MSG_CTRUNC): the {kept} that \
                     fit were closed, the kernel discarded the rest; {n} bytes were received"
                ),
            );
            return (Err(e), self.buf);
        }
        let mut addr = self.block.addr;
        addr.len = if self.with_addr {
            self.block.msg.msg_namelen
        } else {
            0
        };
        let received = Received { len: n, addr, fds };
        (Ok(received), self.buf)
    }
}
