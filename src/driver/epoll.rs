//! The epoll backend: every operation by its decision face.
//!
//! # Implementation
//!
//! An operation first tries its syscall without blocking (`backend.rs`). On `EAGAIN`
//! it takes a slot in the op table (`table.rs`, shared with io_uring) whose key waits
//! in the fd's list for its direction; an epoll event for the fd completes every slot
//! of the matching direction ("ready"), and each operation retries. Readers and
//! writers of one fd wait in separate lists, so a task reading and another writing the
//! same socket both make progress. A dropped operation's wait is simply removed: the
//! kernel holds nothing for it. Blocking operations take a slot that a pool thread's
//! post completes, drained on every park.
//!
//! Fds are registered once, edge-triggered, for both directions, the first time an
//! operation on them would block. Edge-triggering is safe here because events are read
//! only in [`Epoll::park`], on the same thread as every attempt: an edge that arrives
//! after an attempt saw `EAGAIN` is reported by the next `epoll_wait`, and a stale edge
//! costs one spurious retry. A registration records the identity of the [`Fd`] it was
//! made for (unique per open socket, never reused), not just its number: a new socket
//! that reuses the number of one closed without telling this backend (an op built
//! outside the runtime, a stream used on two runtimes) is registered afresh instead of
//! waiting on a registration that died with the old file.
//!
//! [`Fd`]: super::Fd

use super::blocking::{BlockingPort, BlockingSpawner};
use super::sys::{self, syscall};
use super::table::{Completion, OpTable, Source};
use super::{Driver, DriverInfo, Interest, Unparker};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

/// The epoll `data` of the unpark eventfd (fds are never this large).
const UNPARK_TOKEN: u64 = u64::MAX;

/// How long dropping the driver waits for blocking-pool jobs of orphaned operations
/// before it leaks their memory instead.
const POOL_DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// The slots waiting on one fd.
#[derive(Default)]
struct FdState {
    /// The identity of the `Fd` the registration was made for, if registered.
    registered: Option<u64>,
    readers: Vec<usize>,
    writers: Vec<usize>,
    /// A short read drained the fd since its last read edge: the next read waits for
    /// an edge instead of trying the syscall (see [`Epoll::skip_attempt`]).
    read_exhausted: bool,
    /// Likewise for writes: a short write filled its send buffer.
    write_exhausted: bool,
    /// The peer closed its side, or the socket hung up or has an error: reads never
    /// wait on a mark again (an end of stream raises no second edge).
    read_closed: bool,
    /// The socket hung up or has an error: likewise for writes.
    write_closed: bool,
}

/// A readiness completion: "try again".
const READY: Completion = Completion {
    result: 0,
    flags: 0,
};

pub(crate) struct Epoll {
    epfd: OwnedFd,
    pub(super) table: OpTable,
    pub(super) blocking: BlockingPort,
    unparker: Arc<Unparker>,
    events: Vec<libc::epoll_event>,
    /// Indexed by fd number; fds are small and dense.
    fds: Vec<FdState>,
    /// `epoll_wait` calls and events reaped.
    waits: u64,
    events_reaped: u64,
}

impl Epoll {
    pub(crate) fn new(
        reason: Option<String>,
        spawner: Option<Arc<dyn BlockingSpawner>>,
    ) -> io::Result<(Epoll, DriverInfo)> {
        let epfd = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
        // SAFETY: `epfd` was just returned by epoll_create1 and nothing else owns it.
        let epfd = unsafe { OwnedFd::from_raw_fd(epfd) };
        let unparker = Arc::new(Unparker::new(true)?);
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: UNPARK_TOKEN,
        };
        // SAFETY: both fds are open and `ev` is a live epoll_event.
        syscall!(epoll_ctl(
            epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            unparker.raw_fd(),
            &mut ev
        ))?;
        let epoll = Epoll {
            epfd,
            table: OpTable::new(),
            blocking: BlockingPort::new(spawner, unparker.clone()),
            unparker,
            events: Vec::with_capacity(1024),
            fds: Vec::new(),
            waits: 0,
            events_reaped: 0,
        };
        let info = DriverInfo {
            driver: Driver::Epoll,
            flags: Vec::new(),
            entries: 0,
            reason,
        };
        Ok((epoll, info))
    }

    pub(crate) fn unparker(&self) -> Arc<Unparker> {
        self.unparker.clone()
    }

    /// (0, events reaped, `epoll_wait` calls).
    pub(crate) fn io_counts(&self) -> (u64, u64, u64) {
        (0, self.events_reaped, self.waits)
    }

    /// A slot completed when `fd` (the [`Fd`](super::Fd) with identity `id`) is ready
    /// for `interest`; returns its key.
    pub(crate) fn wait_ready(
        &mut self,
        fd: RawFd,
        id: u64,
        interest: Interest,
        waker: &Waker,
    ) -> io::Result<usize> {
        let idx = usize::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        if self.fds.len() <= idx {
            self.fds.resize_with(idx + 1, FdState::default);
        }
        if self.fds[idx].registered != Some(id) {
            // First wait on this socket, or its number was reused after a close this
            // backend was not told of: (re-)register, and let any waiter left from the
            // old file retry rather than sleep on a dead registration.
            let stale = std::mem::take(&mut self.fds[idx]);
            for key in stale.readers.into_iter().chain(stale.writers) {
                self.table.complete(key, READY);
            }
            self.register(fd)?;
            self.fds[idx].registered = Some(id);
        }
        let key = self.table.insert(Source::Readiness(fd, interest), waker);
        let state = &mut self.fds[idx];
        match interest {
            Interest::Read => state.readers.push(key),
            Interest::Write => state.writers.push(key),
        }
        Ok(key)
    }

    /// Whether an attempt in direction `interest` on `fd` (the [`Fd`](super::Fd) with
    /// identity `id`) would only see `EAGAIN`: a short read or write exhausted it (see
    /// [`exhausted`](Epoll::exhausted)) and no edge has come since. Edge-triggered
    /// registration makes this exact: the data or room that comes later raises an
    /// edge, read by the next `epoll_wait`, which clears the mark; and nothing reads
    /// events between an attempt and this check (one thread).
    #[inline]
    pub(crate) fn skip_attempt(&self, fd: RawFd, id: u64, interest: Interest) -> bool {
        match usize::try_from(fd).ok().and_then(|i| self.fds.get(i)) {
            Some(state) if state.registered == Some(id) => match interest {
                Interest::Read => state.read_exhausted,
                Interest::Write => state.write_exhausted,
            },
            _ => false,
        }
    }

    /// A short read or write exhausted `fd` in direction `interest` (see
    /// [`Operation::exhausts`](super::Operation::exhausts)). Only a registered fd is
    /// marked: only it gets the edge that clears the mark.
    #[inline]
    pub(crate) fn exhausted(&mut self, fd: RawFd, id: u64, interest: Interest) {
        if let Some(state) = usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)) {
            if state.registered == Some(id) {
                match interest {
                    Interest::Read => state.read_exhausted = !state.read_closed,
                    Interest::Write => state.write_exhausted = !state.write_closed,
                }
            }
        }
    }

    /// Removes slot `key` if it is a readiness wait (its operation was dropped); true
    /// if it was one.
    pub(crate) fn discard_readiness_wait(&mut self, key: usize) -> bool {
        let Some((fd, interest)) = self.table.discard_readiness(key) else {
            return false;
        };
        if let Some(state) = usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)) {
            let list = match interest {
                Interest::Read => &mut state.readers,
                Interest::Write => &mut state.writers,
            };
            if let Some(pos) = list.iter().position(|k| *k == key) {
                list.swap_remove(pos);
            }
        }
        true
    }

    /// `fd` is about to close: drop its registration, completing any wait on it so its
    /// operation retries (and sees `EBADF`) rather than sleeping forever.
    pub(crate) fn forget_fd(&mut self, fd: RawFd) {
        let Some(state) = usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)) else {
            return;
        };
        let state = std::mem::take(state);
        if state.registered.is_some() {
            // Closing removes it from the interest list too, unless the file is shared
            // with a dup; deregister explicitly so events stop either way.
            // SAFETY: a null event pointer is allowed for EPOLL_CTL_DEL.
            let _ = syscall!(epoll_ctl(
                self.epfd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut()
            ));
        }
        for key in state.readers.into_iter().chain(state.writers) {
            self.table.complete(key, READY);
        }
    }

    fn register(&mut self, fd: RawFd) -> io::Result<()> {
        let flags = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET;
        let mut ev = libc::epoll_event {
            events: flags as u32,
            u64: fd as u64,
        };
        // SAFETY: `ev` is a live epoll_event; `fd` is an fd the calling op owns.
        match syscall!(epoll_ctl(
            self.epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd,
            &mut ev
        )) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                // SAFETY: as above.
                syscall!(epoll_ctl(
                    self.epfd.as_raw_fd(),
                    libc::EPOLL_CTL_MOD,
                    fd,
                    &mut ev
                ))
                .map(drop)
            }
            other => other.map(drop),
        }
    }

    /// Waits up to `timeout` for readiness and wakes the waiters of every ready fd.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout_ms = match timeout {
            None => -1,
            // Round up: waking early would only spin until the deadline.
            Some(d) => d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
        };
        self.events.clear();
        let cap = self.events.capacity() as i32;
        // SAFETY: the kernel writes at most `cap` events into the Vec's spare capacity.
        let n = match syscall!(epoll_wait(
            self.epfd.as_raw_fd(),
            self.events.as_mut_ptr(),
            cap,
            timeout_ms
        )) {
            Ok(n) => n as usize,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => 0,
            Err(e) => return Err(e),
        };
        // SAFETY: epoll_wait initialised the first `n` entries.
        unsafe { self.events.set_len(n) };
        self.waits += 1;
        self.events_reaped += n as u64;
        for i in 0..n {
            let ev = self.events[i];
            let (token, bits) = (ev.u64, ev.events as i32);
            if token == UNPARK_TOKEN {
                sys::eventfd_drain(self.unparker.raw_fd());
                continue;
            }
            let Some(state) = self.fds.get_mut(token as usize) else {
                continue;
            };
            let hup = bits & (libc::EPOLLHUP | libc::EPOLLERR) != 0;
            // Sticky: after the peer's end, a short read is followed by EOF, which
            // raises no edge of its own.
            state.read_closed |= hup || bits & libc::EPOLLRDHUP != 0;
            state.write_closed |= hup;
            if hup || bits & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) != 0 {
                // An edge: data (or an end, or an error) to read, waiters or not.
                state.read_exhausted = false;
                for key in state.readers.drain(..) {
                    self.table.complete(key, READY);
                }
            }
            if hup || bits & libc::EPOLLOUT != 0 {
                state.write_exhausted = false;
                for key in state.writers.drain(..) {
                    self.table.complete(key, READY);
                }
            }
        }
        self.blocking.drain_into(&mut self.table);
        Ok(())
    }
}

impl Drop for Epoll {
    /// Nothing is in flight in the kernel, but blocking-pool jobs of orphaned
    /// operations may still write into their memory: wait for their posts (up to
    /// [`POOL_DRAIN_LIMIT`]), then leak what is left rather than free it.
    fn drop(&mut self) {
        let started = Instant::now();
        while self.table.pool_jobs() > 0 {
            if started.elapsed() >= POOL_DRAIN_LIMIT {
                crate::runtime::report::warn(format_args!(
                    "{} blocking operation(s) still running at shutdown; leaking their buffers",
                    self.table.pool_jobs()
                ));
                self.table.leak_all();
                return;
            }
            self.blocking.drain_into(&mut self.table);
            if self.table.pool_jobs() > 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}
