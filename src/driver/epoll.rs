//! The epoll backend: the readiness face of every operation.
//!
//! # Implementation
//!
//! An operation first tries its syscall without blocking. On `EAGAIN` it registers a
//! waiter on `(fd, interest)` and its task sleeps; an epoll event for the fd wakes
//! every waiter of the matching direction, and each retries. Readers and writers of
//! one fd wait in separate lists, so a task reading and another writing the same
//! socket both make progress.
//!
//! Fds are registered once, edge-triggered, for both directions, the first time an
//! operation on them would block. Edge-triggering is safe here because events are read
//! only in [`Epoll::park`], on the same thread as every attempt: an edge that arrives
//! after an attempt saw `EAGAIN` is reported by the next `epoll_wait`, and a stale edge
//! costs one spurious retry. [`Fd`](super::Fd) tells the backend when an fd closes, so
//! a new fd reusing the number starts unregistered.

use super::sys::{self, syscall};
use super::{Driver, DriverInfo, Interest, Unparker};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

/// The epoll `data` of the unpark eventfd (fds are never this large).
const UNPARK_TOKEN: u64 = u64::MAX;

/// Waiters on one fd.
#[derive(Default)]
struct FdState {
    registered: bool,
    readers: Vec<(u64, Waker)>,
    writers: Vec<(u64, Waker)>,
}

pub(crate) struct Epoll {
    epfd: OwnedFd,
    unparker: Arc<Unparker>,
    events: Vec<libc::epoll_event>,
    /// Indexed by fd number; fds are small and dense.
    fds: Vec<FdState>,
    next_waiter: u64,
    waiting: usize,
    /// `epoll_wait` calls and events reaped.
    waits: u64,
    events_reaped: u64,
}

impl Epoll {
    pub(crate) fn new(reason: Option<String>) -> io::Result<(Epoll, DriverInfo)> {
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
            unparker,
            events: Vec::with_capacity(1024),
            fds: Vec::new(),
            next_waiter: 0,
            waiting: 0,
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

    /// Tasks waiting for readiness.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }

    /// Registers (or refreshes) the waiter `*waiter` for `interest` on `fd`.
    pub(crate) fn wait_for(
        &mut self,
        fd: RawFd,
        interest: Interest,
        waiter: &mut Option<u64>,
        waker: &Waker,
    ) -> io::Result<()> {
        let idx = usize::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        if self.fds.len() <= idx {
            self.fds.resize_with(idx + 1, FdState::default);
        }
        if !self.fds[idx].registered {
            self.register(fd)?;
            self.fds[idx].registered = true;
        }
        let state = &mut self.fds[idx];
        let list = match interest {
            Interest::Read => &mut state.readers,
            Interest::Write => &mut state.writers,
        };
        if let Some(id) = *waiter {
            if let Some((_, w)) = list.iter_mut().find(|(i, _)| *i == id) {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                return Ok(());
            }
        }
        let id = self.next_waiter;
        self.next_waiter += 1;
        list.push((id, waker.clone()));
        self.waiting += 1;
        *waiter = Some(id);
        Ok(())
    }

    /// Removes waiter `id` of `(fd, interest)` if it is still registered.
    pub(crate) fn cancel_wait(&mut self, fd: RawFd, interest: Interest, id: u64) {
        let Some(state) = usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)) else {
            return;
        };
        let list = match interest {
            Interest::Read => &mut state.readers,
            Interest::Write => &mut state.writers,
        };
        if let Some(pos) = list.iter().position(|(i, _)| *i == id) {
            list.swap_remove(pos);
            self.waiting -= 1;
        }
    }

    /// `fd` is about to close: drop its registration, waking any waiter so it retries
    /// (and sees `EBADF`) rather than sleeping forever.
    pub(crate) fn forget_fd(&mut self, fd: RawFd) {
        let Some(state) = usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)) else {
            return;
        };
        let state = std::mem::take(state);
        if state.registered {
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
        self.waiting -= state.readers.len() + state.writers.len();
        for (_, w) in state.readers.into_iter().chain(state.writers) {
            w.wake();
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
            if hup || bits & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) != 0 {
                self.waiting -= state.readers.len();
                state.readers.drain(..).for_each(|(_, w)| w.wake());
            }
            if hup || bits & libc::EPOLLOUT != 0 {
                self.waiting -= state.writers.len();
                state.writers.drain(..).for_each(|(_, w)| w.wake());
            }
        }
        Ok(())
    }
}
