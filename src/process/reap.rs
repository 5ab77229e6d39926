//! Reaching a child and reaping it: [`Handle`] (its pidfd, or its pid where there is
//! no pidfd), [`Waiting`] (a wait kept across polls) and the detached reaper of a
//! dropped `Child`.

use crate::driver::ops::{
    kill_pid, pidfd_open, pidfd_send_signal, waitid_pid, waitid_pidfd, WaitPid,
};
use crate::driver::{Fd, Op};
use crate::runtime::context;
use crate::time::{sleep, Sleep};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{ready, Context, Poll};
use std::time::Duration;

/// `pidfd_open` said `ENOSYS` once: do not ask again.
static NO_PIDFD: AtomicBool = AtomicBool::new(false);

/// How a child not yet reaped is reached.
pub(crate) enum Handle {
    /// Its pidfd: the normal case.
    Pidfd(Fd),
    /// Its pid, where `pidfd_open` is missing (before Linux 5.3, or under valgrind,
    /// which does not know the syscall). Until we reap the child the pid stays its own
    /// (a zombie keeps it), so signals cannot reach another process; the exit is found
    /// by polling `waitid(WNOHANG)` on a timer (see [`Waiting`]).
    Pid(u32),
}

impl Handle {
    /// The handle of our child `pid`, just spawned and not yet reaped.
    pub(crate) fn open(pid: u32) -> io::Result<Handle> {
        if NO_PIDFD.load(Ordering::Relaxed) {
            return Ok(Handle::Pid(pid));
        }
        match pidfd_open(pid) {
            Ok(fd) => Ok(Handle::Pidfd(Fd::new(fd))),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                NO_PIDFD.store(true, Ordering::Relaxed);
                Ok(Handle::Pid(pid))
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) fn send_signal(&self, signal: i32) -> io::Result<()> {
        match self {
            Handle::Pidfd(fd) => pidfd_send_signal(fd.as_fd(), signal),
            Handle::Pid(pid) => kill_pid(*pid, signal),
        }
    }

    /// Reaps the child if it has exited (`nohang`), or waits until it does: its wait
    /// status, `None` if it still runs.
    pub(crate) fn reap_now(&self, nohang: bool) -> io::Result<Option<i32>> {
        match self {
            Handle::Pidfd(fd) => waitid_pidfd(fd.as_fd(), nohang),
            Handle::Pid(pid) => waitid_pid(*pid, nohang),
        }
    }
}

/// The first and the longest period of the exit polling of a [`Handle::Pid`].
const POLL_FIRST: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(50);

/// A wait for a child's exit, kept across polls (and across the futures that poll it,
/// so a dropped future loses nothing).
#[derive(Default)]
pub(crate) struct Waiting {
    /// The pidfd wait in flight.
    op: Option<Op<WaitPid>>,
    /// The timer of the next exit poll, and its period (a [`Handle::Pid`]).
    timer: Option<(Pin<Box<Sleep>>, Duration)>,
}

impl Waiting {
    /// Ready with the wait status once the child has exited and been reaped.
    pub(crate) fn poll(&mut self, handle: &Handle, cx: &mut Context<'_>) -> Poll<io::Result<i32>> {
        match handle {
            Handle::Pidfd(pidfd) => {
                let op = self.op.get_or_insert_with(|| {
                    let uring_waitid = context::driver().backend_ref().waitid();
                    Op::new(WaitPid::new(pidfd.for_op(), uring_waitid))
                });
                let res = ready!(Pin::new(op).poll(cx));
                self.op = None;
                Poll::Ready(res)
            }
            Handle::Pid(pid) => loop {
                if let Some((timer, _)) = &mut self.timer {
                    ready!(timer.as_mut().poll(cx));
                }
                if let Some(status) = waitid_pid(*pid, true)? {
                    self.timer = None;
                    return Poll::Ready(Ok(status));
                }
                let period = match &self.timer {
                    Some((_, period)) => (*period * 2).min(POLL_MAX),
                    None => POLL_FIRST,
                };
                self.timer = Some((Box::pin(sleep(period)), period));
            },
        }
    }

    /// Whether a wait is in flight in the kernel (it may reap the child any moment).
    pub(crate) fn in_flight(&self) -> bool {
        self.op.is_some()
    }

    /// Stops waiting (a wait in flight is cancelled).
    pub(crate) fn clear(&mut self) {
        self.op = None;
        self.timer = None;
    }
}

/// Reaps a dropped `Child` (killed first if `killed`): a task on the current worker,
/// or, with no runtime, at once (see [`Reaper`]'s drop).
pub(crate) fn reap_detached(handle: Handle, waiting: Waiting, killed: bool) {
    let reaper = Reaper {
        handle,
        waiting,
        killed,
        done: false,
    };
    if context::try_with_core(|_| ()).is_some() {
        drop(crate::spawn(reaper));
    } else {
        drop(reaper);
    }
}

/// The task that reaps a dropped `Child`. Dropped before the child exited (no runtime,
/// or the runtime shut down first), it reaps a killed child with a blocking wait, which
/// SIGKILL keeps short, and a child left running only if it has exited already.
struct Reaper {
    handle: Handle,
    waiting: Waiting,
    killed: bool,
    done: bool,
}

impl Future for Reaper {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        // Whatever the result (ECHILD: a wait of the dropped `Child` reaped it as it
        // was cancelled), there is nothing more to do.
        let _ = ready!(this.waiting.poll(&this.handle, cx));
        this.done = true;
        Poll::Ready(())
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // A wait in flight is cancelled (or reaps the child: then this sees ECHILD).
        self.waiting.clear();
        let _ = self.handle.reap_now(!self.killed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Driver;

    /// The pid fallback (no pidfd: valgrind, old kernels) on both drivers: signals by
    /// pid, and the exit found by the polling timer.
    fn pid_handle_waits_and_signals(driver: Driver) {
        let rt = crate::Builder::new().driver(driver).build().unwrap();
        rt.block_on(async {
            // Reaped below through the handle, which clippy cannot see.
            #[allow(clippy::zombie_processes)]
            let child = std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .unwrap();
            let handle = Handle::Pid(child.id());
            let mut waiting = Waiting::default();
            assert!(handle.reap_now(true).unwrap().is_none(), "still running");
            handle.send_signal(libc::SIGKILL).unwrap();
            let raw = std::future::poll_fn(|cx| waiting.poll(&handle, cx))
                .await
                .unwrap();
            let status = crate::process::ExitStatus::from_raw(raw);
            assert_eq!(status.signal(), Some(libc::SIGKILL));
            assert!(!waiting.in_flight());
        });
    }

    #[test]
    fn pid_handle_waits_and_signals_on_uring() {
        pid_handle_waits_and_signals(Driver::Uring);
    }

    #[test]
    fn pid_handle_waits_and_signals_on_epoll() {
        pid_handle_waits_and_signals(Driver::Epoll);
    }
}
