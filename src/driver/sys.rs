//! Thin, errno-checked wrappers over the few raw syscalls the driver makes.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Calls a libc function and turns `-1` into the thread's `errno` as an `io::Error`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: the caller passes arguments valid for this libc call; see each use.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;

/// A close-on-exec eventfd, non-blocking if asked.
pub(crate) fn eventfd(nonblocking: bool) -> io::Result<OwnedFd> {
    let flags = libc::EFD_CLOEXEC | if nonblocking { libc::EFD_NONBLOCK } else { 0 };
    let fd = syscall!(eventfd(0, flags))?;
    // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd's counter. Cannot fail in a way a caller could act on: the
/// counter would have to reach u64::MAX - 1 (EAGAIN), and then a wake is pending anyway.
pub(crate) fn eventfd_write(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64 to an fd the caller owns.
    let _ = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

/// Resets an eventfd's counter to zero (it is non-blocking, so an empty one is fine).
pub(crate) fn eventfd_drain(fd: RawFd) {
    let mut buf: u64 = 0;
    // SAFETY: reads 8 bytes into a live u64.
    let _ = unsafe { libc::read(fd, (&mut buf as *mut u64).cast(), 8) };
}

/// The running kernel's (major, minor) version, from `uname(2)`; (0, 0) if unreadable.
pub(crate) fn kernel_version() -> (u32, u32) {
    let Ok(uts) = nix::sys::utsname::uname() else {
        return (0, 0);
    };
    let release = uts.release().to_string_lossy();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}

/// The name of an errno, for messages ("EPERM").
pub(crate) fn errno_name(code: i32) -> &'static str {
    match code {
        libc::EPERM => "EPERM",
        libc::ENOSYS => "ENOSYS",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        libc::ENOMEM => "ENOMEM",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        _ => "errno",
    }
}

/// A socket address in the form the kernel reads and writes.
#[derive(Clone, Copy)]
pub(crate) struct RawSockAddr {
    pub(crate) storage: libc::sockaddr_storage,
    pub(crate) len: libc::socklen_t,
}

impl RawSockAddr {
    /// Room for the kernel to write any address (accept, recvfrom).
    pub(crate) fn empty() -> RawSockAddr {
        // SAFETY: sockaddr_storage is plain data for which all-zeroes is valid.
        let storage = unsafe { std::mem::zeroed() };
        RawSockAddr {
            storage,
            len: std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    pub(crate) fn from_std(addr: &std::net::SocketAddr) -> RawSockAddr {
        RawSockAddr::from_socket2(&socket2::SockAddr::from(*addr))
    }

    /// Any socket address socket2 holds (IPv4, IPv6, or AF_UNIX: a path, an abstract
    /// name, or unnamed).
    pub(crate) fn from_socket2(sa: &socket2::SockAddr) -> RawSockAddr {
        let mut raw = RawSockAddr::empty();
        let len = sa.len() as usize;
        // SAFETY: `sa` holds `len <= size_of::<sockaddr_storage>()` valid bytes; the
        // destination is a distinct, large enough sockaddr_storage.
        unsafe {
            std::ptr::copy_nonoverlapping(
                sa.as_ptr().cast::<u8>(),
                (&mut raw.storage as *mut libc::sockaddr_storage).cast::<u8>(),
                len,
            )
        };
        raw.len = len as libc::socklen_t;
        raw
    }

    /// The address as socket2's type, whatever its family. A length of 0 (what
    /// `recvmsg(2)` reports for a datagram from an unbound Unix socket) reads as an
    /// unnamed AF_UNIX address.
    pub(crate) fn to_socket2(self) -> socket2::SockAddr {
        if self.len == 0 {
            return socket2::SockAddr::unix("").expect("an empty path always fits");
        }
        let len = self
            .len
            .min(std::mem::size_of::<libc::sockaddr_storage>() as _);
        // SAFETY: `try_init` hands a zeroed storage of `size_of::<sockaddr_storage>()`
        // bytes; we copy `len` (at most that) bytes the kernel wrote into ours, which
        // carry their own family, and report that length.
        let (_, sa) = unsafe {
            socket2::SockAddr::try_init(|storage, storage_len| {
                std::ptr::copy_nonoverlapping(
                    (&self.storage as *const libc::sockaddr_storage).cast::<u8>(),
                    storage.cast::<u8>(),
                    len as usize,
                );
                *storage_len = len;
                Ok(())
            })
        }
        .expect("the copy cannot fail");
        sa
    }

    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&mut self.storage as *mut libc::sockaddr_storage).cast()
    }

    /// The address as std's type, for IPv4 and IPv6.
    pub(crate) fn socket_addr(&self) -> io::Result<std::net::SocketAddr> {
        use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
        match self.storage.ss_family as libc::c_int {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in, and
                // sockaddr_storage is aligned for every sockaddr type.
                let sin = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Ok(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6 = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in6) };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            family => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unsupported address family {family}"),
            )),
        }
    }
}
