//! SIGINT for `Runtime::block_on_interruptible`.
//!
//! The handler does only async-signal-safe things: it counts the signal, exits with
//! status 130 on the second one (so a loop that never yields can still be stopped),
//! and writes the worker's eventfd so a parked worker wakes and drops its main future.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

static SIGINTS: AtomicU64 = AtomicU64::new(0);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigint(_signal: libc::c_int) {
    let n = SIGINTS.fetch_add(1, Ordering::SeqCst) + 1;
    if n >= 2 {
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(130) };
    }
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        super::sys::eventfd_write(fd);
    }
}

/// SIGINTs seen since the handler was installed.
pub(crate) fn sigint_count() -> u64 {
    SIGINTS.load(Ordering::SeqCst)
}

/// Our SIGINT handler, installed; dropping it puts the previous one back.
pub(crate) struct SigintGuard {
    previous: libc::sigaction,
}

impl SigintGuard {
    /// Installs the handler, waking `wake_fd` (an eventfd) on the first SIGINT.
    pub(crate) fn install(wake_fd: RawFd) -> io::Result<SigintGuard> {
        SIGINTS.store(0, Ordering::SeqCst);
        WAKE_FD.store(wake_fd, Ordering::SeqCst);
        // SAFETY: sigaction is plain data for which all-zeroes is a valid value.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: both structs are live; the handler only does async-signal-safe work.
        let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let rc = unsafe { libc::sigaction(libc::SIGINT, &action, &mut previous) };
        if rc != 0 {
            WAKE_FD.store(-1, Ordering::SeqCst);
            return Err(io::Error::last_os_error());
        }
        Ok(SigintGuard { previous })
    }
}

impl Drop for SigintGuard {
    fn drop(&mut self) {
        // SAFETY: restores the action saved at install time.
        unsafe { libc::sigaction(libc::SIGINT, &self.previous, std::ptr::null_mut()) };
        WAKE_FD.store(-1, Ordering::SeqCst);
    }
}
