//! [`Backend`] (io_uring or epoll, picked at run time) and [`DriverHandle`], the shared
//! handle every [`Op`](super::Op) holds.
//!
//! This is the one place that knows two backends exist. An operation's life is written
//! once, in [`Backend::poll_op`]: submit the io_uring entry if there is one; otherwise
//! follow the decision face (attempt, wait for readiness, or run on the blocking pool).
//! Either way the operation waits in a slot of the backend's [`OpTable`], and the
//! backend completes the slot: from a CQE, an epoll event or a pool thread's post.

use super::blocking::{BlockingJob, BlockingSpawner};
use super::table::{Completion, OpTable, Orphaned, Source};
use super::{
    epoll, fixed, raw_result, uring, Decision, Driver, DriverConfig, DriverInfo, Interest,
    Operation, Unparker,
};
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::io;
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Operations one poll of a task may complete without waiting before it is made to
/// yield. On epoll a read of a socket that always has data never waits; without this a
/// busy connection's task would starve every other task and the driver. Only
/// operations that complete count: one that waits costs nothing.
pub(crate) const OP_BUDGET: u32 = 128;

/// The key of an [`Op`](super::Op) that holds no slot.
pub(crate) const NO_SLOT: usize = usize::MAX;

/// A backend, picked at run time.
// One per worker, behind a `DriverHandle` and never moved: the size gap between the
// variants costs nothing, while boxing the ring would add a pointer chase per operation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Backend {
    Uring(uring::Uring),
    Epoll(epoll::Epoll),
}

/// What is left to do, outside the driver's borrow, after an `Op` was dropped.
pub(crate) enum AfterOrphan<T> {
    /// Nothing: the slot keeps the operation until its last completion.
    Kept,
    /// Nothing ran in the kernel for it: drop it.
    Drop(T),
    /// It had completed: release what the result created.
    Release(T, Completion),
}

impl Backend {
    /// Builds the backend `choice` asks for, falling back from `Auto` to epoll with the
    /// reason recorded. `spawner` runs the blocking face's jobs.
    pub(crate) fn new(
        choice: Driver,
        config: &DriverConfig,
        spawner: Option<Arc<dyn BlockingSpawner>>,
    ) -> io::Result<(Backend, DriverInfo)> {
        match choice {
            Driver::Epoll => {
                let (e, info) = epoll::Epoll::new(None, spawner)?;
                Ok((Backend::Epoll(e), info))
            }
            Driver::Uring => {
                let (u, info) = uring::Uring::new(config, spawner).map_err(|e| {
                    io::Error::new(e.kind(), format!("io_uring driver unavailable: {e}"))
                })?;
                Ok((Backend::Uring(u), info))
            }
            Driver::Auto => match uring::Uring::new(config, spawner.clone()) {
                Ok((u, info)) => Ok((Backend::Uring(u), info)),
                Err(e) => {
                    let (ep, info) = epoll::Epoll::new(Some(e.to_string()), spawner)?;
                    Ok((Backend::Epoll(ep), info))
                }
            },
        }
    }

    fn table(&mut self) -> &mut OpTable {
        match self {
            Backend::Uring(u) => &mut u.table,
            Backend::Epoll(e) => &mut e.table,
        }
    }

    fn table_ref(&self) -> &OpTable {
        match self {
            Backend::Uring(u) => &u.table,
            Backend::Epoll(e) => &e.table,
        }
    }

    /// One step of an operation's life; see the module docs. `key` is the operation's
    /// slot ([`NO_SLOT`] before the first submission, and between a readiness wake and
    /// the next wait).
    #[inline]
    pub(crate) fn poll_op<T: Operation>(
        &mut self,
        data: &mut T,
        key: &mut usize,
        cx: &mut Context<'_>,
        budget: &Cell<u32>,
    ) -> Poll<(io::Result<u32>, u32)> {
        loop {
            if *key != NO_SLOT {
                let Poll::Ready((done, source)) = self.table().poll(*key, cx.waker()) else {
                    return Poll::Pending;
                };
                *key = NO_SLOT;
                match source {
                    // Ready (or a spurious wake): try again below.
                    Source::Readiness(..) if done.result >= 0 => {}
                    // Only an op the kernel punted to a worker thread can see EAGAIN on
                    // a non-blocking socket; submitting again arms the kernel's poll.
                    Source::Kernel if done.result == -libc::EAGAIN => {
                        if let Backend::Uring(u) = self {
                            if let Some(entry) = data.uring_entry() {
                                *key = submit(u, entry, data, cx.waker());
                                return Poll::Pending;
                            }
                        }
                        return Poll::Ready((raw_result(done.result), done.flags));
                    }
                    _ => return Poll::Ready((raw_result(done.result), done.flags)),
                }
            } else if let Backend::Uring(u) = self {
                if let Some(entry) = data.uring_entry() {
                    *key = submit(u, entry, data, cx.waker());
                    return Poll::Pending;
                }
            }
            // The decision face.
            let wait = match data.decide() {
                Decision::Blocking(job) => {
                    *key = self.spawn_blocking(job, cx.waker());
                    return Poll::Pending;
                }
                Decision::Now => None,
                Decision::Wait(fd, interest) => Some((fd.raw(), fd.id(), interest)),
            };
            if budget.get() == 0 {
                // This poll has completed enough operations without waiting: yield.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let attempted = match (wait, &*self) {
                // A short read or write exhausted the fd since its last edge: the
                // syscall would only say EAGAIN, so wait for the edge at once.
                (Some((fd, id, interest)), Backend::Epoll(e))
                    if e.skip_attempt(fd, id, interest) =>
                {
                    Err(io::Error::from(io::ErrorKind::WouldBlock))
                }
                _ => data.attempt(),
            };
            match attempted {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && wait.is_some() => {
                    let (fd, id, interest) = wait.expect("checked");
                    match self.wait_ready(fd, id, interest, cx.waker()) {
                        Ok(k) => {
                            *key = k;
                            return Poll::Pending;
                        }
                        Err(e) => return Poll::Ready((Err(e), 0)),
                    }
                }
                result => {
                    if let (Ok(n), Some((fd, id, interest)), Backend::Epoll(e)) =
                        (&result, wait, &mut *self)
                    {
                        if data.exhausts(*n) {
                            e.exhausted(fd, id, interest);
                        }
                    }
                    budget.set(budget.get() - 1);
                    return Poll::Ready((result, 0));
                }
            }
        }
    }

    /// Runs `job` on the blocking pool in a new slot; returns its key.
    fn spawn_blocking(&mut self, job: BlockingJob, waker: &Waker) -> usize {
        let (table, port) = match self {
            Backend::Uring(u) => (&mut u.table, &u.blocking),
            Backend::Epoll(e) => (&mut e.table, &e.blocking),
        };
        let key = table.insert(Source::Pool, waker);
        port.spawn(key, job);
        key
    }

    /// A slot completed by readiness of `fd` (with identity `id`) for `interest`.
    fn wait_ready(
        &mut self,
        fd: RawFd,
        id: u64,
        interest: Interest,
        waker: &Waker,
    ) -> io::Result<usize> {
        match self {
            Backend::Uring(u) => Ok(u.wait_ready(fd, interest, waker)),
            Backend::Epoll(e) => e.wait_ready(fd, id, interest, waker),
        }
    }

    /// Whether the kernel enforces the deadline of slot `key` itself (an io_uring entry
    /// with its linked timeout); otherwise a timer must.
    pub(crate) fn enforces_deadline(&self, key: usize) -> bool {
        match self {
            Backend::Uring(u) => u.table.source(key) == Some(Source::Kernel),
            Backend::Epoll(_) => false,
        }
    }

    /// Abandons slot `key` if nothing is in flight for it in the kernel or on the pool
    /// (an epoll readiness wait): true if it is gone and its operation may complete
    /// without it.
    pub(crate) fn abandon_wait(&mut self, key: usize) -> bool {
        match self {
            Backend::Epoll(e) => e.discard_readiness_wait(key),
            Backend::Uring(_) => false,
        }
    }

    /// The `Op` of slot `key` was dropped with `data`: keep it in the slot while the
    /// kernel or a pool thread may still use it, and cancel what can be cancelled.
    pub(crate) fn orphan<T: Operation>(&mut self, key: usize, data: T) -> AfterOrphan<T> {
        if let Backend::Epoll(e) = self {
            if e.discard_readiness_wait(key) {
                return AfterOrphan::Drop(data);
            }
        }
        let mut data = Some(data);
        let outcome = self.table().orphan(key, || {
            Box::new(data.take().expect("boxed once")) as Box<dyn super::table::Orphan>
        });
        match outcome {
            Orphaned::Completed(done) => {
                AfterOrphan::Release(data.take().expect("not boxed"), done)
            }
            Orphaned::CancelNeeded(Source::Kernel | Source::Readiness(..)) => {
                if let Backend::Uring(u) = self {
                    u.cancel(key);
                }
                AfterOrphan::Kept
            }
            // A pool job cannot be stopped; its post frees the slot.
            Orphaned::CancelNeeded(Source::Pool) | Orphaned::AwaitingNotification => {
                AfterOrphan::Kept
            }
        }
    }

    /// A handle other threads use to wake this backend out of [`park`](Backend::park).
    pub(crate) fn unparker(&self) -> Arc<Unparker> {
        match self {
            Backend::Uring(u) => u.unparker(),
            Backend::Epoll(e) => e.unparker(),
        }
    }

    /// Submits what is queued and reaps completions, readiness and pool posts, waking
    /// their tasks. Waits at most `timeout` for at least one event (`None`: until one
    /// arrives; zero: does not wait).
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Backend::Uring(u) => u.park(timeout),
            Backend::Epoll(e) => e.park(timeout),
        }
    }

    /// One busy-poll check: reaps events if there are any, without sleeping. True if it
    /// found some. On io_uring it costs no syscall unless there is something to reap.
    pub(crate) fn poll_events(&mut self) -> io::Result<bool> {
        if let Backend::Uring(u) = self {
            if !u.has_pending_events() {
                return Ok(false);
            }
        }
        let before = self.io_counts().1;
        self.park(Some(Duration::ZERO))?;
        Ok(self.io_counts().1 != before)
    }

    /// Operations with a slot in the op table (multishot ones included).
    pub(crate) fn in_flight(&self) -> usize {
        self.table_ref().len()
    }

    /// Operations waiting for a blocking-pool job.
    pub(crate) fn blocking_in_flight(&self) -> usize {
        self.table_ref().pool_jobs()
    }

    /// Multishot operations armed (io_uring; 0 on epoll).
    pub(crate) fn multishot_armed(&self) -> usize {
        self.table_ref().multishot()
    }

    /// Whether zero-copy sends (IORING_OP_SEND_ZC) are available.
    pub(crate) fn send_zc(&self) -> bool {
        matches!(self, Backend::Uring(u) if u.send_zc())
    }

    /// Whether child processes are reaped by an io_uring entry (IORING_OP_WAITID).
    pub(crate) fn waitid(&self) -> bool {
        matches!(self, Backend::Uring(u) if u.waitid())
    }

    /// Whether this is the io_uring backend.
    pub(crate) fn is_uring(&self) -> bool {
        matches!(self, Backend::Uring(_))
    }

    /// Whether multishot accept and receive and provided buffer rings can be used.
    pub(crate) fn multishot(&self) -> bool {
        matches!(self, Backend::Uring(u) if u.multishot())
    }

    /// The registered buffer table (io_uring with `Builder::fixed_buffers`).
    pub(crate) fn fixed_buffers(&self) -> Option<Rc<fixed::FixedBuffers>> {
        match self {
            Backend::Uring(u) => u.fixed_buffers(),
            Backend::Epoll(_) => None,
        }
    }

    /// The registered file table (io_uring with `Builder::fixed_files`).
    pub(crate) fn fixed_files(&self) -> Option<Rc<fixed::FixedFiles>> {
        match self {
            Backend::Uring(u) => u.fixed_files(),
            Backend::Epoll(_) => None,
        }
    }

    /// The ring fd other workers may MSG_RING to wake this one (io_uring with MSG_RING).
    pub(crate) fn msg_ring_fd(&self) -> Option<RawFd> {
        match self {
            Backend::Uring(u) => u.msg_ring_fd(),
            Backend::Epoll(_) => None,
        }
    }

    /// Submits queued entries without waiting (io_uring; nothing to do on epoll).
    pub(crate) fn flush_submissions(&mut self) {
        if let Backend::Uring(u) = self {
            u.submit_queued();
        }
    }

    /// Queues a MSG_RING wake for ring `target`; false where this backend cannot.
    pub(crate) fn send_msg_ring(&mut self, target: RawFd) -> bool {
        match self {
            Backend::Uring(u) => u.send_msg_ring(target),
            Backend::Epoll(_) => false,
        }
    }

    /// (entries submitted, completions or events reaped, enter or wait calls).
    pub(crate) fn io_counts(&self) -> (u64, u64, u64) {
        match self {
            Backend::Uring(u) => u.io_counts(),
            Backend::Epoll(e) => e.io_counts(),
        }
    }

    /// (submission-queue-full events, completion-queue overflows); zero on epoll.
    pub(crate) fn queue_events(&self) -> (u64, u64) {
        match self {
            Backend::Uring(u) => u.queue_events(),
            Backend::Epoll(_) => (0, 0),
        }
    }

    /// The io_uring backend, if that is what runs.
    pub(crate) fn as_uring(&mut self) -> Option<&mut uring::Uring> {
        match self {
            Backend::Uring(u) => Some(u),
            Backend::Epoll(_) => None,
        }
    }

    /// Forgets what the backend knows of `fd`, which is about to be closed.
    pub(crate) fn forget_fd(&mut self, fd: RawFd) {
        if let Backend::Epoll(e) = self {
            e.forget_fd(fd);
        }
    }
}

/// Submits `data`'s entry, linked to its timeout if it has one. Operations without a
/// deadline (the default `uring_link_timeout`) compile to the plain submit.
#[inline(always)]
fn submit<T: Operation>(
    uring: &mut uring::Uring,
    entry: io_uring::squeue::Entry,
    data: &T,
    waker: &Waker,
) -> usize {
    match data.uring_link_timeout() {
        None => uring.submit(entry, waker),
        Some(timespec) => uring.submit_linked(entry, timespec, waker),
    }
}

/// One worker's driver: its backend and the cooperative budget of the poll running
/// now. Every [`Op`](super::Op) holds one ([`DriverHandle`]).
pub(crate) struct DriverCore {
    backend: RefCell<Backend>,
    /// What is left of [`OP_BUDGET`] in the current task poll; the worker resets it
    /// before each poll.
    budget: Cell<u32>,
    /// An empty pipe kept for the next `send_file` (one per worker; closed with it).
    spare_pipe: Cell<Option<super::ops::Pipe>>,
}

/// A shared handle to one worker's driver.
#[derive(Clone)]
pub(crate) struct DriverHandle(Rc<DriverCore>);

thread_local! {
    /// The driver of the runtime context entered on this thread, or null. While it is
    /// not null it owns one strong reference (taken by [`DriverHandle::make_current`],
    /// given back by its [`DriverScope`]), so the pointer stays valid. A `Cell` of a
    /// pointer: reading it costs no lazy-initialisation or destructor check, which
    /// matters because every operation reads it once.
    static CURRENT: Cell<*const DriverCore> = const { Cell::new(std::ptr::null()) };
}

/// This thread's current driver, made current by [`DriverHandle::make_current`];
/// dropping it makes the previous one current again (scopes nest, and drop in reverse
/// order: `runtime::context`'s guards hold them).
pub(crate) struct DriverScope {
    prev: *const DriverCore,
    /// What this scope made current, to check that scopes end in reverse order: one
    /// ending out of order would release another scope's reference and leave a
    /// dangling pointer current.
    ours: *const DriverCore,
}

impl Drop for DriverScope {
    fn drop(&mut self) {
        let ours = CURRENT.with(|c| c.replace(self.prev));
        assert!(
            std::ptr::eq(ours, self.ours),
            "ringio: driver scopes ended out of order"
        );
        if !ours.is_null() {
            // SAFETY: `ours` came from `Rc::into_raw` in `make_current`, whose
            // reference the thread-local owned until now; it is given back once.
            drop(unsafe { Rc::from_raw(ours) });
        }
    }
}

/// A weak [`DriverHandle`], for things that must not keep a driver alive (an fd, a
/// buffer pool); the default names no driver.
#[derive(Clone, Default)]
pub(crate) struct WeakDriver(Weak<DriverCore>);

impl std::fmt::Debug for WeakDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WeakDriver").field(&self.0.as_ptr()).finish()
    }
}

impl DriverHandle {
    pub(crate) fn new(backend: Backend) -> DriverHandle {
        DriverHandle(Rc::new(DriverCore {
            backend: RefCell::new(backend),
            budget: Cell::new(OP_BUDGET),
            spare_pipe: Cell::new(None),
        }))
    }

    /// The backend, mutably borrowed.
    ///
    /// # Panics
    ///
    /// If it is borrowed already (the driver is never borrowed while tasks run).
    pub(crate) fn backend(&self) -> RefMut<'_, Backend> {
        self.0.backend.borrow_mut()
    }

    /// The backend, unless it is borrowed higher up the stack.
    pub(crate) fn try_backend(&self) -> Option<RefMut<'_, Backend>> {
        self.0.backend.try_borrow_mut().ok()
    }

    /// The backend, shared.
    pub(crate) fn backend_ref(&self) -> Ref<'_, Backend> {
        self.0.backend.borrow()
    }

    /// Makes `driver` (or none) this thread's current driver until the scope drops.
    pub(crate) fn make_current(driver: Option<&DriverHandle>) -> DriverScope {
        let new = driver.map_or(std::ptr::null(), |d| Rc::into_raw(d.0.clone()));
        DriverScope {
            prev: CURRENT.with(|c| c.replace(new)),
            ours: new,
        }
    }

    /// Runs `f` on the backend of this thread's current driver, without taking a
    /// reference to it; `None` outside a runtime, or while the backend is borrowed.
    #[inline]
    pub(crate) fn with_current_backend<R>(f: impl FnOnce(&mut Backend) -> R) -> Option<R> {
        let ptr = CURRENT.with(|c| c.get());
        if ptr.is_null() {
            return None;
        }
        // SAFETY: a non-null `CURRENT` owns a strong reference (see its docs) until its
        // `DriverScope` ends, which a guard further up this stack holds: `f`, given
        // only the backend, cannot end it. So the allocation is alive for the call.
        let core = unsafe { &*ptr };
        let mut backend = core.backend.try_borrow_mut().ok()?;
        Some(f(&mut backend))
    }

    /// This thread's current driver (the entered runtime's), if any.
    #[inline]
    pub(crate) fn current() -> Option<DriverHandle> {
        let ptr = CURRENT.with(|c| c.get());
        if ptr.is_null() {
            return None;
        }
        // SAFETY: a non-null `CURRENT` owns a strong reference (see its docs), so the
        // allocation is alive; this takes one more for the handle returned.
        unsafe {
            Rc::increment_strong_count(ptr);
            Some(DriverHandle(Rc::from_raw(ptr)))
        }
    }

    pub(crate) fn downgrade(&self) -> WeakDriver {
        WeakDriver(Rc::downgrade(&self.0))
    }

    /// Whether `weak` names this driver.
    pub(crate) fn is(&self, weak: &WeakDriver) -> bool {
        std::ptr::eq(weak.0.as_ptr(), Rc::as_ptr(&self.0))
    }

    /// A fresh budget, for the poll about to start.
    pub(crate) fn reset_budget(&self) {
        self.0.budget.set(OP_BUDGET);
    }

    /// What is left of the current poll's budget (to restore after a nested poll).
    pub(crate) fn budget(&self) -> u32 {
        self.0.budget.get()
    }

    pub(crate) fn set_budget(&self, left: u32) {
        self.0.budget.set(left);
    }

    /// The worker's spare empty pipe, or a new one, for a `send_file`.
    pub(crate) fn take_pipe(&self) -> io::Result<super::ops::Pipe> {
        match self.0.spare_pipe.take() {
            Some(pipe) => Ok(pipe),
            None => super::ops::Pipe::new(),
        }
    }

    /// Keeps `pipe`, which must be empty, for the next `send_file` on this worker.
    pub(crate) fn keep_pipe(&self, pipe: super::ops::Pipe) {
        self.0.spare_pipe.set(Some(pipe));
    }

    /// One step of `data`'s life in slot `*key`; see [`Backend::poll_op`].
    #[inline]
    pub(crate) fn poll_op<T: Operation>(
        &self,
        data: &mut T,
        key: &mut usize,
        cx: &mut Context<'_>,
    ) -> Poll<(io::Result<u32>, u32)> {
        self.0
            .backend
            .borrow_mut()
            .poll_op(data, key, cx, &self.0.budget)
    }

    /// Asks the kernel to stop the operation of slot `key`, which its `Op` keeps (see
    /// `Op::cancel`); nothing to do where no io_uring entry is in flight.
    pub(crate) fn cancel_in_flight(&self, key: usize) {
        if let Some(mut backend) = self.try_backend() {
            if let Backend::Uring(u) = &mut *backend {
                if matches!(
                    u.table.source(key),
                    Some(Source::Kernel | Source::Readiness(..))
                ) {
                    u.cancel(key);
                }
            }
        }
    }

    /// See [`Backend::enforces_deadline`].
    pub(crate) fn enforces_deadline(&self, key: usize) -> bool {
        self.0.backend.borrow().enforces_deadline(key)
    }

    /// See [`Backend::abandon_wait`].
    pub(crate) fn abandon_wait(&self, key: usize) -> bool {
        self.0.backend.borrow_mut().abandon_wait(key)
    }

    /// The `Op` of slot `key` was dropped with `data` in flight.
    pub(crate) fn orphan<T: Operation>(&self, key: usize, data: T) {
        let after = match self.0.backend.try_borrow_mut() {
            Ok(mut backend) => backend.orphan(key, data),
            // The driver is busy higher up this very stack (a waker or a drop inside a
            // completion). Freeing the operation could hand the kernel freed memory, so
            // leak it: a bounded, visible cost instead of a use-after-free. The driver is
            // never borrowed while tasks run, so this is not expected to happen.
            Err(_) => {
                std::mem::forget(data);
                return;
            }
        };
        // Outside the borrow: dropping an operation may close an fd, which tells the
        // driver.
        match after {
            AfterOrphan::Kept => {}
            AfterOrphan::Drop(data) => drop(data),
            AfterOrphan::Release(data, done) => {
                Box::new(data).release_orphan(raw_result(done.result), done.flags)
            }
        }
    }
}

impl WeakDriver {
    pub(crate) fn upgrade(&self) -> Option<DriverHandle> {
        self.0.upgrade().map(DriverHandle)
    }

    /// Whether this names a driver that is still alive.
    pub(crate) fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::sys::syscall;
    use crate::driver::{Fd, Op};
    use crate::runtime::context;
    use std::future::Future;
    use std::io::Write;
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixStream;

    /// A receive with no io_uring form: its `Wait` decision runs on io_uring as a
    /// one-shot POLL_ADD, on epoll as an fd registration.
    struct EntrylessRecv {
        fd: Fd,
        buf: Vec<u8>,
    }

    // SAFETY: there is no io_uring entry; the syscall runs on the worker, into the
    // op's own buffer.
    unsafe impl Operation for EntrylessRecv {
        type Output = io::Result<Vec<u8>>;

        fn uring_entry(&mut self) -> Option<io_uring::squeue::Entry> {
            None
        }

        fn decide(&mut self) -> Decision<'_> {
            Decision::Wait(&self.fd, Interest::Read)
        }

        fn attempt(&mut self) -> io::Result<u32> {
            let len = self.buf.len();
            // SAFETY: the buffer is `len` writable bytes.
            syscall!(recv(self.fd.raw(), self.buf.as_mut_ptr().cast(), len, 0)).map(|n| n as u32)
        }

        fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
            self.buf.truncate(result? as usize);
            Ok(self.buf)
        }
    }

    fn recv(fd: &Fd) -> Op<EntrylessRecv> {
        Op::new(EntrylessRecv {
            fd: fd.clone(),
            buf: vec![0; 16],
        })
    }

    fn in_flight() -> usize {
        context::driver().backend_ref().in_flight()
    }

    /// Polls `fut` once; true if it is still pending.
    fn pending<F: Future + Unpin>(fut: &mut F, cx: &mut Context<'_>) -> bool {
        std::pin::Pin::new(fut).poll(cx).is_pending()
    }

    fn entryless_wait_runs_on(driver: Driver) {
        let rt = crate::Builder::new().driver(driver).build().unwrap();
        let (mut peer, ours) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let fd = Fd::new(OwnedFd::from(ours));
        rt.block_on(async {
            let mut first = recv(&fd);
            std::future::poll_fn(|cx| {
                assert!(pending(&mut first, cx), "no data yet");
                Poll::Ready(())
            })
            .await;
            assert_eq!(in_flight(), 1, "the wait holds a slot");
            peer.write_all(b"hi").unwrap();
            assert_eq!(first.await.unwrap(), b"hi");
            assert_eq!(in_flight(), 0);

            // Dropped while it waits: the wait is cancelled (io_uring) or removed
            // (epoll), and the next receive still gets its data.
            let mut dropped = recv(&fd);
            std::future::poll_fn(|cx| {
                assert!(pending(&mut dropped, cx));
                Poll::Ready(())
            })
            .await;
            drop(dropped);
            peer.write_all(b"again").unwrap();
            assert_eq!(recv(&fd).await.unwrap(), b"again");
            for _ in 0..1000 {
                if in_flight() == 0 {
                    break;
                }
                crate::yield_now().await;
            }
            assert_eq!(in_flight(), 0, "the cancelled wait's slot was never freed");
        });
    }

    /// A deadline on an operation the kernel does not time (a poll entry on io_uring,
    /// a registration on epoll): the timer fires, the wait is cancelled or dropped,
    /// and the result is `TimedOut` with the slot freed.
    fn entryless_wait_times_out_on(driver: Driver) {
        let rt = crate::Builder::new().driver(driver).build().unwrap();
        let (_peer, ours) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let fd = Fd::new(OwnedFd::from(ours));
        rt.block_on(async {
            let timed = crate::driver::Timed::new(
                EntrylessRecv {
                    fd: fd.clone(),
                    buf: vec![0; 16],
                },
                std::time::Duration::from_millis(20),
            );
            let err = timed.await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            for _ in 0..1000 {
                if in_flight() == 0 {
                    break;
                }
                crate::yield_now().await;
            }
            assert_eq!(in_flight(), 0, "the timed-out wait's slot was never freed");
        });
    }

    #[test]
    fn entryless_wait_times_out_on_uring() {
        entryless_wait_times_out_on(Driver::Uring);
    }

    #[test]
    fn entryless_wait_times_out_on_epoll() {
        entryless_wait_times_out_on(Driver::Epoll);
    }

    #[test]
    fn entryless_wait_on_uring_is_a_poll_entry() {
        entryless_wait_runs_on(Driver::Uring);
    }

    #[test]
    fn entryless_wait_on_epoll_is_a_registration() {
        entryless_wait_runs_on(Driver::Epoll);
    }
}
