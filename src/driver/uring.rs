//! The io_uring backend: the ring, its submissions and its completions.
//!
//! # Implementation
//!
//! Each operation in flight has a slot in the worker's [`OpTable`] (`table.rs`, shared
//! with epoll), whose key is the entry's `user_data`; every completion is routed to its
//! slot with [`OpTable::complete`]. A dropped operation's slot is orphaned by the table
//! and cancelled here (an async-cancel naming the key); its memory is freed only by its
//! last completion. Operations without an io_uring form run by their decision face
//! (`backend.rs`): a readiness wait is a one-shot POLL_ADD, a blocking job runs on the
//! pool and posts its result, drained on every park.
//!
//! Three `user_data` values are reserved: [`CANCEL_TAG`] for async-cancel entries,
//! whose completions are ignored, [`WAKE_TAG`] for the read of the unpark eventfd that
//! is kept armed so another thread can wake a worker blocked in `io_uring_enter`, and
//! [`MSG_WAKE_TAG`] for another worker's MSG_RING wake.
//!
//! The submission queue is never dropped from: a full queue is submitted and the push
//! retried. Completion queue overflow is left to the kernel (IORING_FEAT_NODROP,
//! required) and flushed by entering with GETEVENTS whenever the overflow flag is up.

mod setup;

use super::blocking::{BlockingPort, BlockingSpawner};
use super::table::{Completion, OpTable, Routed, Source};
use super::{DriverConfig, DriverInfo, Interest, Multishot, Unparker};
use io_uring::{opcode, squeue, types, IoUring};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

/// `user_data` of async-cancel entries; their completions carry no news.
const CANCEL_TAG: u64 = u64::MAX;
/// `user_data` of the armed read of the unpark eventfd.
const WAKE_TAG: u64 = u64::MAX - 1;
/// `user_data` of the completion another worker's MSG_RING posts into this ring: its
/// only job is to end this ring's wait.
const MSG_WAKE_TAG: u64 = u64::MAX - 2;
/// `user_data` of linked timeouts (I/O deadlines): their completions carry no news; the
/// operation they guard completes with `ECANCELED` if they fire.
const LINK_TIMEOUT_TAG: u64 = u64::MAX - 3;

/// How long dropping the driver waits for blocking-pool jobs of orphaned operations
/// before it leaks their memory instead.
const POOL_DRAIN_LIMIT: Duration = Duration::from_secs(5);

pub(crate) struct Uring {
    ring: IoUring,
    pub(super) table: OpTable,
    pub(super) blocking: BlockingPort,
    unparker: Arc<Unparker>,
    /// Where the armed eventfd read writes; boxed so its address is stable.
    wake_buf: Box<u64>,
    wake_armed: bool,
    /// Pushes that found the submission queue full and submitted to make room.
    sq_full: u64,
    /// Reaps that found the kernel holding overflowed completions.
    cq_overflow: u64,
    /// The kernel has IORING_OP_MSG_RING and CQE_SKIP_SUCCESS (Linux 5.18).
    msg_ring: bool,
    /// Multishot accept and receive, and provided buffer rings (Linux 6.0).
    multishot: bool,
    /// The next provided buffer group id to hand out.
    next_buf_group: u16,
    /// The registered file table, if `Builder::fixed_files` asked for one.
    fixed_files: Option<Rc<super::fixed::FixedFiles>>,
    /// The registered buffer table, if `Builder::fixed_buffers` asked for one.
    fixed_buffers: Option<Rc<super::fixed::FixedBuffers>>,
    /// The kernel has IORING_OP_SEND_ZC (Linux 6.0).
    send_zc: bool,
    /// This ring's index among the thread's registered ring fds, if registered.
    ring_index: Option<u32>,
    /// The kernel flags pending task work (IORING_SQ_TASKRUN) in the SQ ring.
    taskrun_flag: bool,
    /// A kernel thread polls the submission queue.
    sqpoll: bool,
    /// The kernel has IORING_OP_WAITID (Linux 6.7).
    waitid: bool,
    /// Multishot operations whose sinks asked for a pause, cancelled after the reap.
    to_pause: Vec<usize>,
    /// The driver is being dropped: nothing is submitted again.
    draining: bool,
    /// Entries pushed, completions reaped, `io_uring_enter` calls.
    sqes: u64,
    cqes: u64,
    enters: u64,
}

impl Uring {
    pub(crate) fn new(
        config: &DriverConfig,
        spawner: Option<Arc<dyn BlockingSpawner>>,
    ) -> io::Result<(Uring, DriverInfo)> {
        let built = setup::build(config)?;
        let unparker = Arc::new(Unparker::new(false)?);
        let uring = Uring {
            ring: built.ring,
            table: OpTable::new(),
            blocking: BlockingPort::new(spawner, unparker.clone()),
            unparker,
            wake_buf: Box::new(0),
            wake_armed: false,
            sq_full: 0,
            cq_overflow: 0,
            msg_ring: built.msg_ring,
            multishot: built.multishot,
            next_buf_group: 0,
            fixed_files: built.fixed_files,
            fixed_buffers: built.fixed_buffers,
            send_zc: built.send_zc,
            ring_index: built.ring_index,
            taskrun_flag: built.info.flags.contains(&"TASKRUN_FLAG"),
            sqpoll: built.info.flags.contains(&"SQPOLL"),
            waitid: built.info.flags.contains(&"WAITID"),
            to_pause: Vec::new(),
            draining: false,
            sqes: 0,
            cqes: 0,
            enters: 0,
        };
        Ok((uring, built.info))
    }

    pub(crate) fn unparker(&self) -> Arc<Unparker> {
        self.unparker.clone()
    }

    /// This ring's fd, for other workers' MSG_RING wakes, if the kernel supports them.
    pub(crate) fn msg_ring_fd(&self) -> Option<RawFd> {
        self.msg_ring.then(|| self.ring.as_raw_fd())
    }

    /// Queues a MSG_RING that posts a wake-up completion into the ring `target`. It is
    /// submitted with this ring's next `io_uring_enter`, so it costs no syscall of its
    /// own. False if this kernel lacks MSG_RING.
    pub(crate) fn send_msg_ring(&mut self, target: RawFd) -> bool {
        if !self.msg_ring {
            return false;
        }
        let entry = opcode::MsgRingData::new(types::Fd(target), 0, MSG_WAKE_TAG, None)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(CANCEL_TAG);
        // SAFETY: a MSG_RING data entry carries no pointers. `target` is another
        // worker's ring fd; at shutdown that ring may already be closed, and the kernel
        // then fails the entry (its completion is ignored: a stopping worker needs no
        // wake).
        unsafe { self.push(&entry) };
        true
    }

    pub(crate) fn send_zc(&self) -> bool {
        self.send_zc
    }

    pub(crate) fn waitid(&self) -> bool {
        self.waitid
    }

    pub(crate) fn fixed_buffers(&self) -> Option<Rc<super::fixed::FixedBuffers>> {
        self.fixed_buffers.clone()
    }

    pub(crate) fn fixed_files(&self) -> Option<Rc<super::fixed::FixedFiles>> {
        self.fixed_files.clone()
    }

    /// Whether multishot accept and receive and provided buffer rings can be used.
    pub(crate) fn multishot(&self) -> bool {
        self.multishot
    }

    /// Registers a provided buffer ring of `entries` slots at `ring_addr`; returns its
    /// buffer group id and this ring's fd (to unregister it later without the driver).
    ///
    /// # Safety
    ///
    /// `ring_addr` must point to `entries * 16` bytes, page-aligned, that stay valid
    /// until the group is unregistered or this ring is closed.
    pub(super) unsafe fn register_buf_ring(
        &mut self,
        ring_addr: u64,
        entries: u16,
    ) -> io::Result<(u16, RawFd)> {
        if self.next_buf_group == u16::MAX {
            return Err(io::Error::other(
                "ringio: this worker has registered 65535 buffer pools; no group id is left",
            ));
        }
        let group = self.next_buf_group;
        // SAFETY: the caller's guarantee, passed on.
        unsafe {
            self.ring
                .submitter()
                .register_buf_ring_with_flags(ring_addr, entries, group, 0)?
        };
        self.next_buf_group += 1;
        Ok((group, self.ring.as_raw_fd()))
    }

    /// Queues `entry` for an operation the caller holds; returns its slot.
    #[inline]
    pub(crate) fn submit(&mut self, entry: squeue::Entry, waker: &Waker) -> usize {
        let key = self.table.insert(Source::Kernel, waker);
        // SAFETY: the entry was built by `Operation::uring_entry`, whose contract says
        // its pointers stay valid while the op lives, wherever it moves; the `Op` holds
        // it until it has taken this slot's completion, or hands it to the table as an
        // orphan, which keeps it until the completion arrives.
        unsafe { self.push(&entry.user_data(key as u64)) };
        key
    }

    /// [`submit`](Uring::submit), with a linked timeout after the entry: the two
    /// entries go into the queue together, so a flush never splits the link.
    pub(crate) fn submit_linked(
        &mut self,
        entry: squeue::Entry,
        ts: *const types::Timespec,
        waker: &Waker,
    ) -> usize {
        let key = self.table.insert(Source::Kernel, waker);
        let pair = [
            entry.flags(squeue::Flags::IO_LINK).user_data(key as u64),
            opcode::LinkTimeout::new(ts)
                .build()
                .user_data(LINK_TIMEOUT_TAG),
        ];
        loop {
            // Both entries under one tail update: a kernel polling the queue (SQPOLL)
            // never takes the linked head without its timeout.
            // SAFETY: as in `submit` for the entry. The timespec is heap memory the
            // operation owns (the `uring_link_timeout` contract), kept with the
            // operation in this slot until the operation's completion, which comes
            // after the kernel has read the timespec at submission.
            if unsafe { self.ring.submission().push_multiple(&pair) }.is_ok() {
                self.sqes += 2;
                return key;
            }
            self.sq_full += 1;
            self.flush_submissions();
        }
    }

    /// A one-shot POLL_ADD for an operation without an io_uring form that waits for
    /// readiness; returns its slot.
    pub(crate) fn wait_ready(&mut self, fd: RawFd, interest: Interest, waker: &Waker) -> usize {
        let key = self.table.insert(Source::Readiness(fd, interest), waker);
        let mask = match interest {
            Interest::Read => libc::POLLIN,
            Interest::Write => libc::POLLOUT,
        };
        let entry = opcode::PollAdd::new(types::Fd(fd), mask as u32)
            .build()
            .user_data(key as u64);
        // SAFETY: a poll entry carries no pointers. The fd stays open while the slot
        // lives: the operation, which holds it, is kept by the slot.
        unsafe { self.push(&entry) };
        key
    }

    /// Asks the kernel to stop the operation in slot `key`; its completion (ECANCELED,
    /// or its result if it won the race) frees the slot.
    pub(crate) fn cancel(&mut self, key: usize) {
        let cancel = opcode::AsyncCancel::new(key as u64)
            .build()
            .user_data(CANCEL_TAG);
        // SAFETY: an async-cancel entry carries no pointers.
        unsafe { self.push(&cancel) };
    }

    /// Queues a multishot `entry` whose completions all go to `sink`; returns its slot.
    ///
    /// # Safety
    ///
    /// The entry's pointers must stay valid while the slot lives (until the completion
    /// without IORING_CQE_F_MORE); the sink, which the slot keeps, may own them.
    pub(crate) unsafe fn submit_multishot(
        &mut self,
        entry: squeue::Entry,
        sink: Rc<dyn Multishot>,
    ) -> usize {
        let key = self.table.insert_multishot(sink);
        // SAFETY: the caller's guarantee, passed on.
        unsafe { self.push(&entry.user_data(key as u64)) };
        key
    }

    /// Queues `entry` for a detached send whose completion goes to `write_behind`;
    /// returns its slot.
    ///
    /// # Safety
    ///
    /// The entry's pointers must stay valid until its completion: `write_behind`, which
    /// the slot keeps, owns what they point at.
    #[inline]
    pub(crate) unsafe fn submit_detached(
        &mut self,
        entry: squeue::Entry,
        write_behind: Rc<super::ops::WriteBehind>,
    ) -> usize {
        let key = self.table.insert_detached(write_behind);
        // SAFETY: the caller's guarantee, passed on.
        unsafe { self.push(&entry.user_data(key as u64)) };
        key
    }

    /// Asks the kernel to stop multishot slot `key`; its last completion frees the slot.
    pub(crate) fn cancel_multishot(&mut self, key: usize) {
        if self.table.is_multishot(key) {
            self.cancel(key);
        }
    }

    /// (entries pushed, completions reaped, `io_uring_enter` calls) so far.
    pub(crate) fn io_counts(&self) -> (u64, u64, u64) {
        (self.sqes, self.cqes, self.enters)
    }

    /// (submission-queue-full events, completion-queue overflows) so far.
    pub(crate) fn queue_events(&self) -> (u64, u64) {
        (self.sq_full, self.cq_overflow)
    }

    /// Submits queued entries, waits up to `timeout` for a completion, and dispatches
    /// every completion that has arrived.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if !self.wake_armed {
            self.arm_wake();
        }
        let res = match timeout {
            Some(d) if d.is_zero() => {
                if !self.needs_enter() {
                    // Nothing to submit, no task work, no overflow: the completions that
                    // are there are all there is, and no syscall is needed to see them.
                    self.reap();
                    return Ok(());
                }
                // GETEVENTS makes the kernel run deferred task work, so completions become
                // visible without waiting.
                self.enter(0, ENTER_GETEVENTS, None)
            }
            Some(d) => {
                let ts = KernelTimespec {
                    tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
                    tv_nsec: d.subsec_nanos() as i64,
                };
                self.enter(1, ENTER_GETEVENTS, Some(&ts))
            }
            None => self.enter(1, ENTER_GETEVENTS, None),
        };
        match res {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) => {}
            Err(e) => return Err(e),
        }
        self.reap();
        Ok(())
    }

    /// Whether a non-waiting turn must enter the kernel: entries to submit, deferred task
    /// work (or no way to tell), or overflowed completions to flush.
    fn needs_enter(&mut self) -> bool {
        let sq = self.ring.submission();
        !sq.is_empty() || !self.taskrun_flag || sq.taskrun() || sq.cq_overflow()
    }

    /// Whether completions are ready to reap, the kernel has task work that would post
    /// some, or a pool job posted a result: what a busy-polling worker checks without
    /// a syscall.
    pub(crate) fn has_pending_events(&mut self) -> bool {
        !self.ring.completion().is_empty() || self.needs_enter() || self.blocking.pending()
    }

    /// `io_uring_enter`: submits the queued entries and, with GETEVENTS, waits for
    /// `min_complete` completions, at most `timeout` long. Uses the registered ring index
    /// when there is one, and wakes the SQPOLL thread when it sleeps.
    fn enter(
        &mut self,
        min_complete: u32,
        mut flags: u32,
        timeout: Option<&KernelTimespec>,
    ) -> io::Result<()> {
        let to_submit = {
            let sq = self.ring.submission();
            if self.sqpoll {
                // The kernel thread submits; it needs a wake only if it went to sleep
                // (the fence orders our tail store before the flag load, as liburing does).
                std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
                if sq.need_wakeup() {
                    flags |= ENTER_SQ_WAKEUP;
                }
            }
            sq.len() as u32
        };
        let arg = timeout.map(|ts| GeteventsArg {
            sigmask: 0,
            sigmask_sz: 0,
            min_wait_usec: 0,
            ts: ts as *const KernelTimespec as u64,
        });
        let (arg_ptr, arg_size) = match &arg {
            Some(a) => {
                flags |= ENTER_EXT_ARG;
                (
                    a as *const GeteventsArg as *const libc::c_void,
                    std::mem::size_of::<GeteventsArg>(),
                )
            }
            None => (std::ptr::null(), 0),
        };
        let fd = match self.ring_index {
            Some(index) => {
                flags |= ENTER_REGISTERED_RING;
                index as libc::c_long
            }
            None => self.ring.as_raw_fd() as libc::c_long,
        };
        self.enters += 1;
        // SAFETY: enters this thread's ring (by fd, or by the index it was registered
        // under on this thread; a ring never leaves its thread). `arg`, if any, and the
        // `ts` it points at live for the call; queued entries' memory is kept by the op
        // table (the `push` contract).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                fd,
                to_submit as libc::c_long,
                min_complete as libc::c_long,
                flags as libc::c_long,
                arg_ptr,
                arg_size as libc::c_long,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Pushes one entry, submitting to make room when the queue is full.
    ///
    /// # Safety
    ///
    /// The entry's pointers must stay valid until its completion arrives.
    #[inline]
    unsafe fn push(&mut self, entry: &squeue::Entry) {
        loop {
            // SAFETY: the caller's guarantee, passed on.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                self.sqes += 1;
                return;
            }
            self.sq_full += 1;
            self.flush_submissions();
        }
    }

    /// Submits whatever is queued, if anything.
    pub(crate) fn submit_queued(&mut self) {
        if !self.ring.submission().is_empty() {
            self.flush_submissions();
        }
    }

    /// Hands the whole submission queue to the kernel.
    fn flush_submissions(&mut self) {
        loop {
            if self.sqpoll && !self.ring.submission().need_wakeup() {
                // The kernel thread is awake and takes the entries by itself.
                return;
            }
            match self.enter(0, 0, None) {
                Ok(()) => return,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                // The kernel holds overflowed completions it cannot post: make room.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN)) => {
                    self.reap();
                }
                Err(e) => panic!("ringio: io_uring_enter failed while submitting: {e}"),
            }
        }
    }

    fn arm_wake(&mut self) {
        let entry = opcode::Read::new(
            types::Fd(self.unparker.raw_fd()),
            (&mut *self.wake_buf as *mut u64).cast(),
            8,
        )
        .build()
        .user_data(WAKE_TAG);
        // SAFETY: `wake_buf` is boxed and owned by the driver, whose `Drop` waits for
        // this read to complete before the box is freed.
        unsafe { self.push(&entry) };
        self.wake_armed = true;
    }

    /// Routes every completion in the queue to its slot, flushing kernel-held overflow
    /// too, then the blocking pool's posts.
    fn reap(&mut self) {
        loop {
            for cqe in self.ring.completion() {
                self.cqes += 1;
                match cqe.user_data() {
                    // The reserved tags are the top four values: one compare for all.
                    WAKE_TAG => self.wake_armed = false,
                    LINK_TIMEOUT_TAG.. => {}
                    key => {
                        let done = Completion {
                            result: cqe.result(),
                            flags: cqe.flags(),
                        };
                        if self.table.complete(key as usize, done) == Routed::PauseMultishot {
                            self.to_pause.push(key as usize);
                        }
                    }
                }
            }
            // Multishot operations whose owners asked for a pause (backpressure).
            while let Some(key) = self.to_pause.pop() {
                self.cancel_multishot(key);
            }
            // Detached sends with bytes left (the kernel sent part).
            while let Some((write_behind, entry)) = self.table.take_resubmit() {
                if self.draining {
                    write_behind.abandon();
                } else {
                    // SAFETY: the entry points into the send `write_behind` keeps in
                    // flight until its next completion (`WriteBehind::on_completion`).
                    unsafe { self.submit_detached(entry, write_behind) };
                }
            }
            if !self.ring.submission().cq_overflow() {
                break;
            }
            self.cq_overflow += 1;
            // GETEVENTS flushes the kernel's overflow list into the now-empty queue.
            let _ = self.enter(0, ENTER_GETEVENTS, None);
        }
        self.blocking.drain_into(&mut self.table);
    }
}

impl Drop for Uring {
    /// Cancels every operation still in the kernel and waits for all of their
    /// completions (and the armed eventfd read's) before the ring and the boxes go.
    /// Blocking-pool jobs cannot be cancelled: their posts are waited for up to
    /// [`POOL_DRAIN_LIMIT`], then what they hold is leaked.
    fn drop(&mut self) {
        self.draining = true;
        for (key, source) in self.table.unfinished() {
            if source != Source::Pool {
                self.cancel(key);
            }
        }
        if self.wake_armed {
            // Completing the read is simpler than cancelling it.
            self.unparker.unpark();
        }
        let started = Instant::now();
        let mut waited = Duration::ZERO;
        while self.wake_armed || self.table.has_unfinished() {
            let pool_only = !self.wake_armed && self.table.len() == self.table.pool_jobs();
            if pool_only && started.elapsed() >= POOL_DRAIN_LIMIT {
                crate::runtime::report::warn(format_args!(
                    "{} blocking operation(s) still running at shutdown; leaking their buffers",
                    self.table.pool_jobs()
                ));
                self.table.leak_all();
                break;
            }
            let ts = types::Timespec::new().nsec(100_000_000);
            let args = types::SubmitArgs::new().timespec(&ts);
            if let Err(e) = self.ring.submitter().submit_with_args(1, &args) {
                if !matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) {
                    // Nothing can be freed safely; leak the ring's memory instead.
                    crate::runtime::report::warn(format_args!(
                        "io_uring drain failed ({e}); leaking in-flight buffers"
                    ));
                    self.table.leak_all();
                    // The armed eventfd read may still write here: leak it too.
                    std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new(0)));
                    self.close_tables();
                    return;
                }
            }
            // Everything is being cancelled already: no pause requests to act on.
            self.reap();
            self.to_pause.clear();
            waited += Duration::from_millis(100);
            if waited.as_millis() % 10_000 == 0 {
                crate::runtime::report::warn(format_args!(
                    "still waiting for {} io_uring ops to finish cancelling",
                    self.table.len()
                ));
            }
        }
        if let Some(index) = self.ring_index {
            setup::unregister_ring_fd(self.ring.as_raw_fd(), index);
        }
        self.close_tables();
    }
}

impl Uring {
    /// Sockets and pools that outlive the ring must not clear slots of whatever gets its
    /// fd number next.
    fn close_tables(&self) {
        if let Some(table) = &self.fixed_files {
            table.close();
        }
        if let Some(table) = &self.fixed_buffers {
            table.close();
        }
    }
}

/// `io_uring_enter` flags from linux/io_uring.h (the crate keeps its flag type private).
const ENTER_GETEVENTS: u32 = 1;
const ENTER_SQ_WAKEUP: u32 = 2;
const ENTER_EXT_ARG: u32 = 8;
const ENTER_REGISTERED_RING: u32 = 16;

/// `struct __kernel_timespec`: 64-bit fields on every architecture (unlike
/// `libc::timespec` on 32-bit ones).
#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

/// `struct io_uring_getevents_arg` from linux/io_uring.h.
#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}
