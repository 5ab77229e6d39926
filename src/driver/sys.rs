//! Thin, errno-checked wrappers over the few raw syscalls the driver makes.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

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

/// A stream fd's kind, which picks the syscalls and opcodes of the stream operations
/// (`Recv`, `Send` and their vectored and pooled forms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FdKind {
    /// A socket: `recv(2)` / `send(2)` (with MSG_NOSIGNAL), IORING_OP_RECV / SEND.
    Socket,
    /// Anything else that streams, e.g. a pipe: `read(2)` / `write(2)`, IORING_OP_READ
    /// / WRITE at the current position (offset -1).
    Pipe,
}

/// Sets or clears `O_NONBLOCK` on `fd`'s open file description. The flag lives in the
/// description, so every fd sharing it (a dup, a child's copy) sees the change.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    let flags = syscall!(fcntl(raw, libc::F_GETFL))?;
    let new = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if new != flags {
        syscall!(fcntl(raw, libc::F_SETFL, new))?;
    }
    Ok(())
}

/// A close-on-exec pipe: (read end, write end), both blocking.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    syscall!(pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC))?;
    // SAFETY: pipe2 just returned these two fds, owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A pidfd for child `pid` (`pidfd_open(2)`, Linux 5.3), close-on-exec (always, for a
/// pidfd) and blocking: a non-blocking pidfd would make IORING_OP_WAITID complete at
/// once with `EAGAIN` instead of waiting. The caller's readiness waits pass `WNOHANG`.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just created `fd` for us and nobody else has it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sends `signal` to the process `pidfd` names (`pidfd_send_signal(2)`). The pidfd
/// names that one process for its whole life: once it has been reaped the call fails
/// with `ESRCH` rather than reach another process that reused the pid.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: pidfd_send_signal with no siginfo (NULL) and no flags reads nothing of
    // ours; `pidfd` is a live fd for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0 as libc::c_uint,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `signal` to child `pid` (`kill(2)`): where there is no pidfd, and only
/// before the child is reaped (see [`waitid_pid`]).
pub(crate) fn kill_pid(pid: u32, signal: i32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    syscall!(kill(pid, signal)).map(drop)
}

/// A zeroed `siginfo_t`, for `waitid(2)` to fill.
pub(crate) fn siginfo_zeroed() -> libc::siginfo_t {
    // SAFETY: siginfo_t is plain data for which all-zero bytes are valid.
    unsafe { std::mem::zeroed() }
}

/// Reaps the child `pidfd` names if it has exited: `waitid(P_PIDFD, pidfd, WEXITED)`,
/// with `WNOHANG` if `nohang`. `Ok(None)` means it has not exited yet (only with
/// `nohang`); otherwise the wait status in `waitpid(2)`'s encoding.
pub(crate) fn waitid_pidfd(pidfd: BorrowedFd<'_>, nohang: bool) -> io::Result<Option<i32>> {
    waitid(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, nohang)
}

/// As [`waitid_pidfd`], for child `pid` (`P_PID`): where there is no pidfd. The pid
/// cannot name another process until the child is reaped, which only its owner does.
pub(crate) fn waitid_pid(pid: u32, nohang: bool) -> io::Result<Option<i32>> {
    waitid(libc::P_PID, pid as libc::id_t, nohang)
}

fn waitid(idtype: libc::idtype_t, id: libc::id_t, nohang: bool) -> io::Result<Option<i32>> {
    let mut info = siginfo_zeroed();
    let options = libc::WEXITED | if nohang { libc::WNOHANG } else { 0 };
    loop {
        // SAFETY: waitid writes one siginfo_t into `info`, which is live for the call.
        let rc = unsafe { libc::waitid(idtype, id, &mut info, options) };
        if rc == 0 {
            return Ok(wait_status(&info));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The wait status (`waitpid(2)`'s encoding: the code in bits 8..16, or the signal in
/// bits 0..7 with 0x80 for a core dump) a `waitid(2)` record describes; `None` if it
/// describes no child (a `WNOHANG` wait that found none exited: `si_pid` is 0).
pub(crate) fn wait_status(info: &libc::siginfo_t) -> Option<i32> {
    // SAFETY: waitid filled (or zeroed) the record; for the SIGCHLD records it writes,
    // si_pid and si_status are the fields it set.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return None;
    }
    Some(match info.si_code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        libc::CLD_DUMPED => (status & 0x7f) | 0x80,
        // CLD_KILLED (WEXITED waits report no stops or continues).
        _ => status & 0x7f,
    })
}
