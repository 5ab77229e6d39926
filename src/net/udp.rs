//! [`UdpSocket`]: datagrams over owned buffers, with the sender's address.
//!
//! # Implementation
//!
//! Every send and receive is one operation on both backends: `sendmsg` / `recvmsg`
//! with the peer's address in `msg_name` (IORING_OP_SENDMSG / IORING_OP_RECVMSG on
//! io_uring, the syscalls on readiness with epoll). A receive always asks the kernel
//! for the datagram's real length (MSG_TRUNC), so a datagram larger than the buffer is
//! reported as [`DatagramTruncated`] instead of looking like a shorter one: tokio (and
//! std) on Linux return the prefix as if it were the datagram, which is what a
//! protocol parser must never see. The error carries the real length and the sender,
//! so a server can still answer "too big".
//!
//! [`UdpSocket::recv_from_pooled`] keeps one multishot RECVMSG armed on io_uring
//! (the kernel writes a small header and the sender's address in front of each
//! payload, [`UdpSocket::POOL_HEADROOM`] bytes in all), so a socket waiting for
//! datagrams holds no buffer; on epoll a buffer is taken from the pool's free list just
//! before each `recvmsg(2)`.
//!
//! Cancellation: a receive whose future is dropped while the kernel holds it may still
//! get a datagram. The socket keeps it (copied) for the next receive, and a receive
//! that is itself waiting in the kernel cancels its operation to take it: no datagram
//! the kernel handed over is lost because a future went away.

use crate::buf::{BufPool, BufResult, IoBuf, IoBufMut, PooledBuf};
use crate::driver::ops::{
    try_recv_from_pooled, Datagram, DatagramMulti, LateDatagrams, PollIn, PooledDatagram,
    RecvDatagram, RecvFromPooled, SendDatagram, POOL_HEADROOM,
};
use crate::driver::{Fd, Op};
use crate::net::pooled::{pool_path, MultiSlot, PoolPath};
use crate::runtime::context;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// How [`UdpSocket::bind_with`] sets up its socket.
///
/// There is no SO_REUSEADDR option: on a datagram socket it lets a second socket take
/// over a bound port's traffic, which asyncio removed from `create_datagram_endpoint`
/// as unsafe. SO_REUSEPORT (the kernel spreads datagrams across the sockets, all owned
/// by the same user) is the supported way to share a port.
///
/// ```
/// use ringio::net::{UdpBindOptions, UdpSocket};
/// let opts = UdpBindOptions::new().reuse_port(true).broadcast(true);
/// let socket = UdpSocket::bind_with("127.0.0.1:0", &opts).unwrap();
/// assert!(socket.broadcast().unwrap());
/// ```
#[derive(Clone, Debug, Default)]
pub struct UdpBindOptions {
    reuse_port: bool,
    broadcast: bool,
}

impl UdpBindOptions {
    /// SO_REUSEPORT off, SO_BROADCAST off.
    pub fn new() -> UdpBindOptions {
        UdpBindOptions::default()
    }

    /// SO_REUSEPORT: several sockets (one per core) bind the same address and port, and
    /// the kernel spreads incoming datagrams across them by the sender's address.
    pub fn reuse_port(mut self, on: bool) -> UdpBindOptions {
        self.reuse_port = on;
        self
    }

    /// SO_BROADCAST: allow sends to a broadcast address (asyncio's `allow_broadcast`).
    pub fn broadcast(mut self, on: bool) -> UdpBindOptions {
        self.broadcast = on;
        self
    }
}

/// A datagram was larger than the buffer it was received into: the kernel kept the
/// first [`received`](DatagramTruncated::received) bytes and dropped the rest.
///
/// Receives report it as an [`io::Error`] of kind
/// [`InvalidData`](io::ErrorKind::InvalidData) that carries this value; get it back
/// with [`DatagramTruncated::from_io`]. The datagram is gone from the socket either way.
///
/// ```
/// # ringio::run(async {
/// use ringio::net::{DatagramTruncated, UdpSocket};
/// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
/// a.send_to(vec![1u8; 100], b.local_addr().unwrap()).await.0.unwrap();
/// let (res, buf) = b.recv_from(Vec::with_capacity(10)).await;
/// let err = res.unwrap_err();
/// let t = DatagramTruncated::from_io(&err).unwrap();
/// assert_eq!((t.len(), t.received()), (100, 10));
/// assert_eq!(t.peer(), a.local_addr().unwrap());
/// assert_eq!(buf, vec![1u8; 10]); // the part that fit
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatagramTruncated {
    len: usize,
    received: usize,
    peer: SocketAddr,
}

impl DatagramTruncated {
    /// The datagram's length as sent.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a truncated datagram had more bytes than the buffer.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// How many bytes the buffer got (its capacity).
    pub fn received(&self) -> usize {
        self.received
    }

    /// The sender.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The `DatagramTruncated` inside `err`, if that is what it reports.
    pub fn from_io(err: &io::Error) -> Option<&DatagramTruncated> {
        err.get_ref()?.downcast_ref()
    }

    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

impl fmt::Display for DatagramTruncated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "datagram of {} bytes truncated to the buffer's {}",
            self.len, self.received
        )
    }
}

impl std::error::Error for DatagramTruncated {}

/// A UDP socket, sending and receiving whole datagrams with owned buffers.
///
/// Every method takes `&self`, so one task may receive while another sends (share the
/// socket through an `Rc`). Each receive returns exactly one datagram, never parts of
/// two; one larger than the buffer is an error ([`DatagramTruncated`]), not a short
/// datagram.
///
/// ```
/// # ringio::run(async {
/// use ringio::net::UdpSocket;
/// let server = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let client = UdpSocket::bind("127.0.0.1:0").unwrap();
/// client.send_to(&b"ping"[..], server.local_addr().unwrap()).await.0.unwrap();
/// let (res, buf) = server.recv_from(Vec::with_capacity(1500)).await;
/// let (n, peer) = res.unwrap();
/// assert_eq!(&buf[..n], b"ping");
/// server.send_to(buf, peer).await.0.unwrap(); // echo it back
/// let (res, buf) = client.recv(Vec::with_capacity(1500)).await;
/// assert_eq!(&buf[..res.unwrap()], b"ping");
/// # });
/// ```
pub struct UdpSocket {
    fd: Fd,
    /// Datagrams received by receives whose futures were dropped.
    late: LateDatagrams,
    /// The multishot receive `recv_from_pooled` keeps armed on io_uring.
    recv_multi: MultiSlot<DatagramMulti>,
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket").field("fd", &self.fd).finish()
    }
}

impl UdpSocket {
    /// Bytes of each [`BufPool`] buffer that [`recv_from_pooled`] keeps for the
    /// kernel's header and the sender's address: a pool of `size`-byte buffers receives
    /// datagrams of up to `size - POOL_HEADROOM` bytes whole (on both backends).
    ///
    /// [`recv_from_pooled`]: UdpSocket::recv_from_pooled
    pub const POOL_HEADROOM: usize = POOL_HEADROOM;

    /// Binds to the first of `addr`'s addresses that works, with
    /// [`UdpBindOptions::new`]. A host name is resolved with a blocking lookup; pass
    /// literal addresses in a running loop.
    ///
    /// # Errors
    ///
    /// The last address's error if none can be bound, as `bind(2)` reports it.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        UdpSocket::bind_with(addr, &UdpBindOptions::new())
    }

    /// Binds with the given options.
    ///
    /// # Errors
    ///
    /// As [`bind`](UdpSocket::bind), and as `setsockopt(2)` for the options.
    pub fn bind_with(addr: impl ToSocketAddrs, options: &UdpBindOptions) -> io::Result<UdpSocket> {
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            match bind_one(addr, options) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
    }

    /// Wraps a std socket (made non-blocking here).
    ///
    /// # Errors
    ///
    /// If the fd cannot be made non-blocking.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket::from_owned_fd(OwnedFd::from(socket)))
    }

    fn from_owned_fd(fd: OwnedFd) -> UdpSocket {
        UdpSocket {
            fd: Fd::new(fd),
            late: Default::default(),
            recv_multi: MultiSlot::new(),
        }
    }

    /// Sets the default destination for [`send`](UdpSocket::send) and the only source
    /// [`recv`](UdpSocket::recv) (and every receive) accepts (`connect(2)`, which for UDP
    /// only records the address and never waits). Errors the peer's host reports, such
    /// as "port unreachable", then come back from later receives as
    /// `ConnectionRefused`.
    ///
    /// # Errors
    ///
    /// As `connect(2)`: for example `NetworkUnreachable` when no route leads there.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.sock().connect(&addr.into())
    }

    /// Sends `buf`'s bytes as one datagram to `addr`. Returns how many bytes were sent:
    /// all of them, as a datagram is never split.
    ///
    /// # Errors
    ///
    /// As `sendmsg(2)`: `EMSGSIZE` (reported as an error of that raw OS code) for a
    /// datagram larger than the protocol allows, `PermissionDenied` for a broadcast
    /// address without [`set_broadcast`](UdpSocket::set_broadcast).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future keeps the buffer inside the driver until the kernel lets go
    /// of it; whether the datagram was sent is then unknown.
    pub fn send_to<B: IoBuf>(
        &self,
        buf: B,
        addr: SocketAddr,
    ) -> impl Future<Output = BufResult<usize, B>> {
        Op::new(SendDatagram::new(self.fd.for_op(), buf, Some(&addr)))
    }

    /// Sends `buf`'s bytes as one datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// `EDESTADDRREQ` (a raw OS error) if the socket is not connected; otherwise as
    /// [`send_to`](UdpSocket::send_to), with `ConnectionRefused` when an earlier
    /// datagram was refused.
    ///
    /// # Cancel safety
    ///
    /// As [`send_to`](UdpSocket::send_to).
    pub fn send<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        Op::new(SendDatagram::new(self.fd.for_op(), buf, None))
    }

    /// Receives one datagram into `buf`, from its start, up to its capacity
    /// ([`bytes_total`](IoBuf::bytes_total)): returns its length and sender. A `Vec`'s
    /// length becomes at least the datagram's; use the returned length.
    ///
    /// # Errors
    ///
    /// A datagram larger than the buffer is an [`InvalidData`](io::ErrorKind::InvalidData)
    /// error carrying [`DatagramTruncated`] (the buffer holds the part that fit). Else
    /// as `recvmsg(2)`, for example `ConnectionRefused` on a connected socket whose
    /// peer refused an earlier datagram.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a datagram that reaches a receive after its future was dropped is
    /// kept by the socket and returned by the next receive.
    pub fn recv_from<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl Future<Output = BufResult<(usize, SocketAddr), B>> + '_ {
        let recv = self.recv_op(buf);
        async move {
            let (res, buf) = recv.await;
            (res.and_then(|d| accept_whole(&d)), buf)
        }
    }

    /// Receives one datagram from the connected peer into `buf`, as
    /// [`recv_from`](UdpSocket::recv_from) without the address.
    ///
    /// # Errors
    ///
    /// As [`recv_from`](UdpSocket::recv_from).
    ///
    /// # Cancel safety
    ///
    /// As [`recv_from`](UdpSocket::recv_from).
    pub fn recv<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + '_ {
        let recv = self.recv_op(buf);
        async move {
            let (res, buf) = recv.await;
            (res.and_then(|d| accept_whole(&d).map(|(n, _)| n)), buf)
        }
    }

    /// [`recv_from`](UdpSocket::recv_from) with a deadline: if no datagram has come
    /// within `timeout`, the result is a [`TimedOut`](io::ErrorKind::TimedOut) error
    /// with the buffer given back. On io_uring the receive in the kernel is cancelled
    /// when the deadline passes (a datagram that wins the race is returned, not lost);
    /// on epoll the wait is dropped.
    ///
    /// ```
    /// # ringio::run(async {
    /// use ringio::net::UdpSocket;
    /// use std::time::Duration;
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let (res, buf) = socket.recv_from_timeout(vec![0u8; 64], Duration::from_millis(20)).await;
    /// assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    /// assert_eq!(buf.capacity(), 64);
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// As [`recv_from`](UdpSocket::recv_from), and `TimedOut`.
    ///
    /// # Cancel safety
    ///
    /// As [`recv_from`](UdpSocket::recv_from).
    pub fn recv_from_timeout<B: IoBufMut>(
        &self,
        buf: B,
        timeout: std::time::Duration,
    ) -> impl Future<Output = BufResult<(usize, SocketAddr), B>> + '_ {
        let mut recv = self.recv_op(buf);
        recv.deadline = Some(Box::pin(crate::time::sleep(timeout)));
        async move {
            let (res, buf) = recv.await;
            (res.and_then(|d| accept_whole(&d)), buf)
        }
    }

    /// [`recv`](UdpSocket::recv) with a deadline, as
    /// [`recv_from_timeout`](UdpSocket::recv_from_timeout).
    ///
    /// # Errors
    ///
    /// As [`recv`](UdpSocket::recv), and `TimedOut`.
    ///
    /// # Cancel safety
    ///
    /// As [`recv_from`](UdpSocket::recv_from).
    pub fn recv_timeout<B: IoBufMut>(
        &self,
        buf: B,
        timeout: std::time::Duration,
    ) -> impl Future<Output = BufResult<usize, B>> + '_ {
        let mut recv = self.recv_op(buf);
        recv.deadline = Some(Box::pin(crate::time::sleep(timeout)));
        async move {
            let (res, buf) = recv.await;
            (res.and_then(|d| accept_whole(&d).map(|(n, _)| n)), buf)
        }
    }

    fn recv_op<B: IoBufMut>(&self, buf: B) -> RecvFuture<'_, B> {
        RecvFuture {
            socket: self,
            buf: Some(buf),
            op: None,
            uring: false,
            waiter: None,
            cancelled: false,
            deadline: None,
            timed_out: false,
        }
    }

    /// Receives one datagram into a buffer of `pool`, with its sender. The buffer
    /// holds the payload only (deref to `[u8]`); it goes back to the pool when dropped,
    /// and it is an [`IoBuf`], so an echo server sends it straight back.
    ///
    /// The socket holds no buffer while it waits: on io_uring a multishot RECVMSG stays
    /// armed and the kernel takes a buffer from the pool's ring only when a datagram
    /// arrives; on epoll a buffer is taken just before each `recvmsg(2)`. Each buffer
    /// keeps [`POOL_HEADROOM`](UdpSocket::POOL_HEADROOM) bytes for the kernel's header
    /// and the address. When the pool is empty, the call waits until a [`PooledBuf`] is
    /// dropped somewhere, then goes on.
    ///
    /// Use one pool per worker. Mixing this with [`recv_from`](UdpSocket::recv_from) on
    /// one socket is allowed, but on io_uring the armed receive takes most datagrams.
    ///
    /// ```
    /// # ringio::run(async {
    /// use ringio::buf::BufPool;
    /// use ringio::net::UdpSocket;
    /// let pool = BufPool::new(16, 2048).unwrap();
    /// let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// client.send_to(&b"hi"[..], server.local_addr().unwrap()).await.0.unwrap();
    /// let (buf, peer) = server.recv_from_pooled(&pool).await.unwrap();
    /// assert_eq!(&buf[..], b"hi");
    /// server.send_to(buf, peer).await.0.unwrap(); // the buffer goes back to the pool
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// A datagram larger than a buffer's payload room is [`DatagramTruncated`] (as for
    /// `recv_from`; its prefix goes back to the pool). `InvalidInput` if the pool's
    /// buffers are no larger than the headroom, or if a different pool's receive still
    /// holds datagrams for this socket; an error if `pool` was first used on another
    /// worker. Else as `recvmsg(2)`.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: on io_uring the receive stays armed and datagrams that arrive are
    /// queued for the next call; on epoll nothing is taken from the socket unless it is
    /// returned.
    pub fn recv_from_pooled<'a>(
        &'a self,
        pool: &'a BufPool,
    ) -> impl Future<Output = io::Result<(PooledBuf, SocketAddr)>> + 'a {
        RecvFromPooledFuture {
            socket: self,
            pool,
            step: PooledStep::Start,
        }
    }

    /// How the next pooled receive on `pool` runs: through this socket's multishot
    /// receive (made, and the pool bound to this worker, on first use), or one receive
    /// into a free-list buffer.
    fn pooled_step(&self, pool: &BufPool) -> io::Result<PooledStep> {
        if let Some(multi) = self.recv_multi.on(pool) {
            return Ok(PooledStep::Multishot(multi));
        }
        if pool.buffer_size() <= POOL_HEADROOM {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "recv_from_pooled: pool buffers of {} bytes leave no room after the {POOL_HEADROOM}-byte header",
                    pool.buffer_size()
                ),
            ));
        }
        Ok(match pool_path(pool)? {
            PoolPath::Ring(group) => PooledStep::Multishot(self.recv_multi.get_or_make(
                pool,
                "recv_from_pooled",
                || DatagramMulti::new(self.fd.for_op(), pool.inner().clone(), group),
            )?),
            PoolPath::PollThenReceive => PooledStep::PollThenRecv(None),
            PoolPath::FreeList => PooledStep::Single(Op::new(RecvFromPooled::new(
                self.fd.for_op(),
                pool.inner().clone(),
            ))),
        })
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock().local_addr()?.as_socket().ok_or_else(not_inet)
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` if [`connect`](UdpSocket::connect) was not called; else as
    /// `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock().peer_addr()?.as_socket().ok_or_else(not_inet)
    }

    /// Sets SO_BROADCAST: whether datagrams may be sent to a broadcast address.
    ///
    /// # Errors
    ///
    /// As `setsockopt(2)`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.sock().set_broadcast(on)
    }

    /// Whether SO_BROADCAST is set.
    ///
    /// # Errors
    ///
    /// As `getsockopt(2)`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.sock().broadcast()
    }

    /// Sets IP_TTL: the time-to-live of outgoing unicast datagrams (IPv4).
    ///
    /// # Errors
    ///
    /// As `setsockopt(2)`: `InvalidInput` above 255, for example.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock().set_ttl_v4(ttl)
    }

    /// The IP_TTL of outgoing unicast datagrams (IPv4).
    ///
    /// # Errors
    ///
    /// As `getsockopt(2)`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock().ttl_v4()
    }

    /// Joins IPv4 multicast group `multiaddr` on the interface whose address is
    /// `interface` (`Ipv4Addr::UNSPECIFIED`: the kernel picks one by route).
    ///
    /// # Errors
    ///
    /// As `setsockopt(IP_ADD_MEMBERSHIP)`: `EINVAL` if `multiaddr` is not a multicast
    /// address, `ENODEV` if no interface fits (no multicast route, for example).
    pub fn join_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.sock().join_multicast_v4(&multiaddr, &interface)
    }

    /// Leaves an IPv4 multicast group joined with
    /// [`join_multicast_v4`](UdpSocket::join_multicast_v4).
    ///
    /// # Errors
    ///
    /// As `setsockopt(IP_DROP_MEMBERSHIP)`: `EADDRNOTAVAIL` if it was not joined.
    pub fn leave_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.sock().leave_multicast_v4(&multiaddr, &interface)
    }

    /// Joins IPv6 multicast group `multiaddr` on interface index `interface` (0: the
    /// kernel picks one).
    ///
    /// # Errors
    ///
    /// As `setsockopt(IPV6_ADD_MEMBERSHIP)`.
    pub fn join_multicast_v6(&self, multiaddr: Ipv6Addr, interface: u32) -> io::Result<()> {
        self.sock().join_multicast_v6(&multiaddr, interface)
    }

    /// Leaves an IPv6 multicast group joined with
    /// [`join_multicast_v6`](UdpSocket::join_multicast_v6).
    ///
    /// # Errors
    ///
    /// As `setsockopt(IPV6_DROP_MEMBERSHIP)`.
    pub fn leave_multicast_v6(&self, multiaddr: Ipv6Addr, interface: u32) -> io::Result<()> {
        self.sock().leave_multicast_v6(&multiaddr, interface)
    }

    /// Sets IP_MULTICAST_LOOP: whether this host's own members of a group receive the
    /// IPv4 multicast datagrams this socket sends (on by default).
    ///
    /// # Errors
    ///
    /// As `setsockopt(2)`.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.sock().set_multicast_loop_v4(on)
    }

    /// Whether IP_MULTICAST_LOOP is set.
    ///
    /// # Errors
    ///
    /// As `getsockopt(2)`.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.sock().multicast_loop_v4()
    }

    fn sock(&self) -> SockRef<'_> {
        SockRef::from(&self.fd)
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

fn not_inet() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "not an IPv4 or IPv6 socket address",
    )
}

fn bind_one(addr: SocketAddr, options: &UdpBindOptions) -> io::Result<UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM.nonblocking().cloexec(),
        Some(Protocol::UDP),
    )?;
    if options.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if options.broadcast {
        socket.set_broadcast(true)?;
    }
    socket.bind(&addr.into())?;
    Ok(UdpSocket::from_owned_fd(OwnedFd::from(socket)))
}

/// A received datagram's length and sender, or the error that says it did not fit.
fn accept_whole(d: &Datagram) -> io::Result<(usize, SocketAddr)> {
    let peer = d.addr.ok_or_else(not_inet)?;
    if d.truncated {
        return Err(DatagramTruncated {
            len: d.len,
            received: d.kept,
            peer,
        }
        .into_io());
    }
    Ok((d.kept, peer))
}

/// A receive into an owned buffer that first takes a datagram a dropped receive left
/// behind, and gives up its own operation (cancelling it, so the buffer comes back) when
/// one arrives while it waits in the kernel.
struct RecvFuture<'a, B: IoBufMut> {
    socket: &'a UdpSocket,
    /// The buffer, while no operation holds it.
    buf: Option<B>,
    op: Option<Op<RecvDatagram<B>>>,
    /// The operation runs on io_uring, where a dropped receive can leave a datagram
    /// behind: only then does a waiting receive listen for one.
    uring: bool,
    /// Its id in the socket's list of waiting receives, once it has one.
    waiter: Option<u64>,
    /// The operation in flight was asked to stop, to take a late datagram.
    cancelled: bool,
    /// A deadline (`recv_from_timeout`), and whether it has passed.
    deadline: Option<Pin<Box<crate::time::Sleep>>>,
    timed_out: bool,
}

/// What a receive whose deadline passed returns.
fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "no datagram before the deadline")
}

impl<B: IoBufMut> Future for RecvFuture<'_, B> {
    type Output = (io::Result<Datagram>, B);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            if let Some(op) = &mut this.op {
                let Poll::Ready((res, buf)) = Pin::new(&mut *op).poll(cx) else {
                    if this.uring {
                        let mut late = this.socket.late.borrow_mut();
                        let late = &mut *late;
                        if !late.datagrams.is_empty() && !this.cancelled {
                            op.cancel();
                            this.cancelled = true;
                        }
                        let id = *this.waiter.get_or_insert_with(|| {
                            late.next_id += 1;
                            late.next_id
                        });
                        match late.waiters.iter_mut().find(|(i, _)| *i == id) {
                            Some((_, w)) if w.will_wake(cx.waker()) => {}
                            Some((_, w)) => *w = cx.waker().clone(),
                            None => late.waiters.push((id, cx.waker().clone())),
                        }
                    }
                    let passed = match &mut this.deadline {
                        Some(sleep) if !this.timed_out => sleep.as_mut().poll(cx).is_ready(),
                        _ => false,
                    };
                    if passed {
                        this.timed_out = true;
                        // epoll: nothing is in flight, drop the wait; io_uring: cancel the
                        // receive and take its completion (or the datagram that won).
                        if let Some(out) = op.abandon(timed_out()) {
                            this.op = None;
                            return Poll::Ready(out);
                        }
                        op.cancel();
                        continue;
                    }
                    return Poll::Pending;
                };
                this.op = None;
                let stopped = matches!(&res, Err(e) if e.raw_os_error() == Some(libc::ECANCELED));
                if this.timed_out && stopped && !this.cancelled {
                    return Poll::Ready((Err(timed_out()), buf));
                }
                if !(this.cancelled && stopped) {
                    return Poll::Ready((res, buf));
                }
                // Our own receive stopped: take the late datagram (or start again, if
                // another receive took it first).
                this.cancelled = false;
                this.buf = Some(buf);
            }
            let buf = this.buf.take().expect("recv polled after completion");
            let late = this.socket.late.borrow_mut().datagrams.pop_front();
            if let Some(late) = late {
                let (d, buf) = late.deliver(buf);
                return Poll::Ready((Ok(d), buf));
            }
            if this.timed_out {
                return Poll::Ready((Err(timed_out()), buf));
            }
            this.uring = context::driver().backend_ref().is_uring();
            this.op = Some(Op::new(RecvDatagram::new(
                this.socket.fd.for_op(),
                buf,
                this.socket.late.clone(),
            )));
        }
    }
}

impl<B: IoBufMut> Drop for RecvFuture<'_, B> {
    fn drop(&mut self) {
        if let Some(id) = self.waiter {
            self.socket
                .late
                .borrow_mut()
                .waiters
                .retain(|(i, _)| *i != id);
        }
    }
}

/// The future of [`UdpSocket::recv_from_pooled`].
struct RecvFromPooledFuture<'a> {
    socket: &'a UdpSocket,
    pool: &'a BufPool,
    step: PooledStep,
}

enum PooledStep {
    /// Find (or make) how this socket receives from the pool.
    Start,
    /// io_uring: the socket's armed multishot receive.
    Multishot(Rc<DatagramMulti>),
    /// epoll: one receive into a free-list buffer, retried on readiness.
    Single(Op<RecvFromPooled>),
    /// io_uring without buffer rings: try a receive into a free-list buffer; while no
    /// datagram waits, wait for readiness (the op), holding no buffer.
    PollThenRecv(Option<Op<PollIn>>),
    /// The pool ran dry: wait for a buffer to come back, then start again.
    Starved,
}

impl Future for RecvFromPooledFuture<'_> {
    type Output = io::Result<(PooledBuf, SocketAddr)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (socket, pool) = (this.socket, this.pool);
        let polled = loop {
            let polled = match &mut this.step {
                PooledStep::Start => {
                    this.step = match socket.pooled_step(pool) {
                        Ok(next) => next,
                        Err(e) => break Poll::Ready(Err(e)),
                    };
                    continue;
                }
                PooledStep::Multishot(multi) => multi.poll_recv(cx),
                PooledStep::Single(op) => Pin::new(op).poll(cx),
                PooledStep::PollThenRecv(wait) => {
                    if let Some(op) = wait {
                        match Pin::new(op).poll(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                            Poll::Ready(Ok(())) => *wait = None,
                        }
                    }
                    match try_recv_from_pooled(&socket.fd, pool.inner()) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            *wait = Some(Op::new(PollIn::new(socket.fd.for_op())));
                            continue;
                        }
                        other => Poll::Ready(other),
                    }
                }
                PooledStep::Starved => {
                    if pool.inner().poll_available(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.step = PooledStep::Start;
                    continue;
                }
            };
            match polled {
                // The pool ran dry (the multishot receive ended, or no free buffer):
                // wait for a buffer to come back, then receive again.
                Poll::Ready(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    this.step = PooledStep::Starved;
                }
                Poll::Pending => return Poll::Pending,
                Poll::Ready(other) => break Poll::Ready(other),
            }
        };
        if !matches!(this.step, PooledStep::Multishot(_)) {
            // A single-shot receive is done; the next one starts afresh.
            this.step = PooledStep::Start;
        }
        polled.map(|res| res.and_then(whole_pooled))
    }
}

/// A pooled datagram as the caller gets it, or the error that says it did not fit.
fn whole_pooled(d: PooledDatagram) -> io::Result<(PooledBuf, SocketAddr)> {
    if d.truncated {
        return Err(DatagramTruncated {
            len: d.len,
            received: d.buf.len(),
            peer: d.addr,
        }
        .into_io());
    }
    Ok((d.buf, d.addr))
}
