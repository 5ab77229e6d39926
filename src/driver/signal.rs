//! Process signals for `ringio::signal`: one handler per signal for the whole process,
//! forwarding each delivery to every subscriber's eventfd, which the subscriber reads
//! through its driver (a ring READ on io_uring).
//!
//! # Why a handler and not a signalfd
//!
//! A signalfd sees only signals that are blocked, and only those pending for the
//! process or for the thread that reads it. A signal stays blocked only in the threads
//! that blocked it: any thread the runtime does not own (the main thread, a library's
//! thread) that leaves it unblocked takes the delivery itself and gets the default
//! action, which for SIGINT and SIGTERM kills the process (the failure a peer runtime
//! shipped). A `raise` from a runtime thread is pending for that thread alone, where a
//! signalfd read by another worker, or by an io-wq thread, never sees it. A
//! `sigaction` handler runs in whichever thread the kernel picks, so no thread can
//! bypass it, and no thread's mask needs to change: children spawned by
//! `ringio::process` start with the default mask and dispositions (exec resets
//! handled signals to their default).
//!
//! # The handler's protocol
//!
//! The handler does only async-signal-safe things: it adds one to the signal's
//! delivery counter ([`deliveries`]), then writes one to the eventfd of every
//! subscriber slot listening for that signal. A subscriber compares the counter with
//! the count it has seen, so each subscriber sees each delivery once, and a wake that
//! races a new subscription is harmless. A slot's eventfd is closed only after its
//! number was withdrawn from the slot and no handler is running ([`IN_HANDLER`]), so
//! the handler can never write into a reused fd number.
//!
//! The handler is installed with the first subscriber to a signal and the previous
//! disposition restored when the last one goes, so a process that stops listening for
//! SIGINT dies of Ctrl-C again.

use super::ops::EventfdRead;
use super::Fd;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Signal numbers run from 1 to `SIGRTMAX` (64 on Linux).
const SIGNALS: usize = 65;
/// Subscribers the process may have at once (each holds one eventfd).
const SLOTS: usize = 1024;

/// Deliveries of each signal since the process started.
static DELIVERIES: [AtomicU64; SIGNALS] = [const { AtomicU64::new(0) }; SIGNALS];

/// One subscriber's wake: the signal it listens for (0 when free, -1 while being
/// claimed) and its eventfd (-1 when withdrawn).
struct Slot {
    signal: AtomicI32,
    fd: AtomicI32,
}

static SLOT_TABLE: [Slot; SLOTS] = [const {
    Slot {
        signal: AtomicI32::new(0),
        fd: AtomicI32::new(-1),
    }
}; SLOTS];

/// Handlers running now, in any thread.
static IN_HANDLER: AtomicUsize = AtomicUsize::new(0);

/// `block_on_interruptible`'s escape hatch: while armed, the second SIGINT exits with
/// status 130, which stops even a loop that never yields.
static EXIT_ON_SECOND_SIGINT: AtomicBool = AtomicBool::new(false);
static SIGINTS_WHILE_ARMED: AtomicU64 = AtomicU64::new(0);

/// Per signal: subscribers, and the disposition to restore when the last one goes.
struct Installed {
    subscribers: usize,
    previous: libc::sigaction,
}

// SAFETY: `sigaction` is plain data (a handler address, flags and a mask); it is only
// ever handed back to the kernel.
unsafe impl Send for Installed {}

static INSTALLED: Mutex<[Option<Installed>; SIGNALS]> = Mutex::new([const { None }; SIGNALS]);

extern "C" fn on_signal(signal: libc::c_int) {
    IN_HANDLER.fetch_add(1, Ordering::SeqCst);
    // SAFETY: errno is thread-local; saving and restoring it keeps the interrupted
    // code's value intact across the writes below.
    let errno = unsafe { *libc::__errno_location() };
    if let Some(count) = DELIVERIES.get(signal as usize) {
        count.fetch_add(1, Ordering::SeqCst);
    }
    if signal == libc::SIGINT
        && EXIT_ON_SECOND_SIGINT.load(Ordering::SeqCst)
        && SIGINTS_WHILE_ARMED.fetch_add(1, Ordering::SeqCst) >= 1
    {
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(130) };
    }
    for slot in &SLOT_TABLE {
        if slot.signal.load(Ordering::SeqCst) == signal {
            let fd = slot.fd.load(Ordering::SeqCst);
            if fd >= 0 {
                super::sys::eventfd_write(fd);
            }
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
    IN_HANDLER.fetch_sub(1, Ordering::SeqCst);
}

/// Deliveries of `signal` so far.
pub(crate) fn deliveries(signal: i32) -> u64 {
    DELIVERIES[signal as usize].load(Ordering::SeqCst)
}

/// Whether ringio may handle `signal`: a real signal number that is neither
/// uncatchable (SIGKILL, SIGSTOP) nor a synchronous fault, whose handler would return
/// to the faulting instruction forever.
pub(crate) fn check(signal: i32) -> io::Result<()> {
    const FORBIDDEN: [i32; 6] = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
    ];
    if signal <= 0 || signal as usize >= SIGNALS || signal > libc::SIGRTMAX() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{signal} is not a signal number"),
        ));
    }
    if FORBIDDEN.contains(&signal) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signal} cannot be handled"),
        ));
    }
    Ok(())
}

/// A subscriber's claim on a slot: its eventfd is written once per delivery of its
/// signal. Dropping it withdraws the slot, and restores the signal's previous
/// disposition if it was the last subscriber.
#[derive(Debug)]
pub(crate) struct Subscription {
    signal: i32,
    slot: usize,
    eventfd: Fd,
}

impl Subscription {
    /// Subscribes to `signal` (checked with [`check`]), installing the handler if this
    /// is its first subscriber.
    pub(crate) fn new(signal: i32) -> io::Result<Subscription> {
        check(signal)?;
        // Blocking: io_uring's READ waits on it, and epoll's path reads only after
        // poll(2) said it is readable, so neither read blocks.
        let eventfd = super::sys::eventfd(false)?;
        let slot = SLOT_TABLE
            .iter()
            .position(|s| {
                s.signal
                    .compare_exchange(0, -1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            })
            .ok_or_else(|| io::Error::other(format!("more than {SLOTS} signal subscribers")))?;
        if let Err(e) = subscribe(signal) {
            SLOT_TABLE[slot].signal.store(0, Ordering::SeqCst);
            return Err(e);
        }
        SLOT_TABLE[slot]
            .fd
            .store(eventfd.as_raw_fd(), Ordering::SeqCst);
        SLOT_TABLE[slot].signal.store(signal, Ordering::SeqCst);
        Ok(Subscription {
            signal,
            slot,
            eventfd: Fd::new(eventfd),
        })
    }

    /// The next wake: completes once the handler has written the eventfd since the
    /// last wake (and possibly spuriously).
    pub(crate) fn wake(&self) -> super::Op<EventfdRead> {
        super::Op::new(EventfdRead::new(self.eventfd.for_op()))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let slot = &SLOT_TABLE[self.slot];
        slot.fd.store(-1, Ordering::SeqCst);
        // A handler that loaded the old number before the store above may still be
        // about to write it: wait for it, so the fd (closed when the last operation on
        // it lets go) can never be written after its number is reused. Handlers are a
        // few atomic operations and writes long.
        while IN_HANDLER.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
        slot.signal.store(0, Ordering::SeqCst);
        unsubscribe(self.signal);
    }
}

/// Counts a subscriber of `signal`, installing the handler for the first.
fn subscribe(signal: i32) -> io::Result<()> {
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    let entry = &mut installed[signal as usize];
    if let Some(entry) = entry {
        entry.subscribers += 1;
        return Ok(());
    }
    // SAFETY: sigaction is plain data for which all-zeroes is a valid value.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
    // SA_RESTART: a blocking call interrupted in some other thread resumes instead of
    // failing with EINTR. SA_ONSTACK: a thread with an alternate signal stack (Rust's
    // stack-overflow guard) keeps using it.
    action.sa_flags = libc::SA_RESTART | libc::SA_ONSTACK;
    // SAFETY: as above.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: both structs are live; the handler does only async-signal-safe work.
    if unsafe { libc::sigaction(signal, &action, &mut previous) } != 0 {
        return Err(io::Error::last_os_error());
    }
    *entry = Some(Installed {
        subscribers: 1,
        previous,
    });
    Ok(())
}

/// Uncounts a subscriber of `signal`; the last one puts the previous disposition back.
fn unsubscribe(signal: i32) {
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    let entry = &mut installed[signal as usize];
    let Some(state) = entry else { return };
    state.subscribers -= 1;
    if state.subscribers == 0 {
        // SAFETY: restores the action saved when the handler was installed.
        unsafe { libc::sigaction(signal, &state.previous, std::ptr::null_mut()) };
        *entry = None;
    }
}

/// While alive, a second SIGINT exits the process with status 130
/// (`Runtime::block_on_interruptible`); a SIGINT [`Subscription`] must exist too, or
/// the first one takes the default action.
#[derive(Debug)]
pub(crate) struct ExitOnSecondSigint(());

impl ExitOnSecondSigint {
    pub(crate) fn arm() -> ExitOnSecondSigint {
        SIGINTS_WHILE_ARMED.store(0, Ordering::SeqCst);
        EXIT_ON_SECOND_SIGINT.store(true, Ordering::SeqCst);
        ExitOnSecondSigint(())
    }
}

impl Drop for ExitOnSecondSigint {
    fn drop(&mut self) {
        EXIT_ON_SECOND_SIGINT.store(false, Ordering::SeqCst);
    }
}
