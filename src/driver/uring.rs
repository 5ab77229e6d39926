//! The io_uring backend.
//!
//! # Implementation
//!
//! Each in-flight operation has one slot in `ops`, a slab whose key is the entry's
//! `user_data`. A slot moves through these states:
//!
//! 1. `Waiting(waker)` when submitted (the [`Op`](super::Op) holds the operation);
//! 2. `Completed(result, flags)` when its completion arrives; the next poll of the `Op`
//!    takes the result and frees the slot;
//! 3. or, if the `Op` is dropped before that, `Orphaned(box)`: the operation, boxed, lives in the
//!    slot and an async-cancel is queued. The box is freed when the completion arrives,
//!    never before, so the kernel never writes into freed memory. An orphaned operation
//!    whose result is a new fd (accept) has that fd closed.
//!
//! Two `user_data` values are reserved: [`CANCEL_TAG`] for async-cancel entries, whose
//! completions are ignored, and [`WAKE_TAG`] for the read of the unpark eventfd that
//! is kept armed so another thread can wake a worker blocked in `io_uring_enter`.
//!
//! The submission queue is never dropped from: a full queue is submitted and the push
//! retried. Completion queue overflow is left to the kernel (IORING_FEAT_NODROP,
//! required) and flushed by entering with GETEVENTS whenever the overflow flag is up.

use super::sys::{errno_name, kernel_version};
use super::{DriverConfig, DriverInfo, Multishot, Operation, Unparker};
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use slab::Slab;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

/// `user_data` of async-cancel entries; their completions carry no news.
const CANCEL_TAG: u64 = u64::MAX;
/// `user_data` of the armed read of the unpark eventfd.
const WAKE_TAG: u64 = u64::MAX - 1;
/// `user_data` of the completion another worker's MSG_RING posts into this ring: its
/// only job is to end this ring's wait.
const MSG_WAKE_TAG: u64 = u64::MAX - 2;

/// Opcodes ringio submits; a kernel lacking any of them gets the epoll backend.
const REQUIRED_OPCODES: &[(u8, &str)] = &[
    (opcode::Nop::CODE, "NOP"),
    (opcode::Read::CODE, "READ"),
    (opcode::RecvMsg::CODE, "RECVMSG"),
    (opcode::SendMsg::CODE, "SENDMSG"),
    (opcode::Accept::CODE, "ACCEPT"),
    (opcode::Connect::CODE, "CONNECT"),
    (opcode::Recv::CODE, "RECV"),
    (opcode::Send::CODE, "SEND"),
    (opcode::Shutdown::CODE, "SHUTDOWN"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
];

/// The setup flags tried in order, fastest first; each step drops what an older kernel
/// rejects with EINVAL. TASKRUN_FLAG makes the kernel flag pending task work in the SQ
/// ring, so a turn with nothing to submit skips `io_uring_enter` unless there is work.
const SETUP_LADDER: &[&[&str]] = &[
    &["SINGLE_ISSUER", "DEFER_TASKRUN", "TASKRUN_FLAG"],
    &["SINGLE_ISSUER", "DEFER_TASKRUN", "COOP_TASKRUN"],
    &["SINGLE_ISSUER", "COOP_TASKRUN"],
    &["COOP_TASKRUN"],
    &[],
];

/// The rungs tried first when SQPOLL is asked for (a kernel thread polls the SQ; the
/// kernel rejects DEFER_TASKRUN with it). If none is accepted, the ordinary ladder
/// follows, and `DriverInfo::flags` shows SQPOLL missing.
const SQPOLL_LADDER: &[&[&str]] = &[&["SQPOLL", "SINGLE_ISSUER"], &["SQPOLL"]];

/// An operation's box, kept alive in its slot after its future was dropped.
trait Orphan {
    /// The kernel is done with the memory; clean up what the result created.
    fn release(self: Box<Self>, result: i32, flags: u32);
}

impl<T: Operation> Orphan for T {
    fn release(self: Box<Self>, result: i32, flags: u32) {
        Operation::release_orphan(self, cqe_result(result), flags);
    }
}

enum Lifecycle {
    Waiting(Waker),
    Completed(i32, u32),
    Orphaned(Box<dyn Orphan>),
    /// The operation's result came with IORING_CQE_F_MORE: the kernel still holds its
    /// memory and will post one more completion (SEND_ZC's notification), which
    /// completes the slot with this result.
    MoreComing(Waker, i32),
    /// A multishot operation: every completion goes to its sink; the slot is freed by
    /// the completion without IORING_CQE_F_MORE.
    Multishot(Rc<dyn Multishot>),
}

pub(crate) struct Uring {
    ring: IoUring,
    ops: Slab<Lifecycle>,
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
    /// Multishot slots in `ops`.
    multishot_armed: usize,
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
    /// Entries pushed, completions reaped, `io_uring_enter` calls.
    sqes: u64,
    cqes: u64,
    enters: u64,
}

impl Uring {
    pub(crate) fn new(config: &DriverConfig) -> io::Result<(Uring, DriverInfo)> {
        let entries = config.entries.max(2).next_power_of_two();
        let (ring, mut flags) = setup(entries, config.sqpoll_idle)?;
        if !ring.params().is_feature_nodrop() {
            return Err(unsupported(
                "the kernel lacks IORING_FEAT_NODROP (Linux 5.5)",
            ));
        }
        if !ring.params().is_feature_ext_arg() {
            return Err(unsupported(
                "the kernel lacks IORING_FEAT_EXT_ARG (Linux 5.11)",
            ));
        }
        let mut probe = io_uring::Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        if let Some((_, name)) = REQUIRED_OPCODES
            .iter()
            .find(|(code, _)| !probe.is_supported(*code))
        {
            return Err(unsupported(&format!(
                "the kernel's io_uring lacks opcode {name}"
            )));
        }
        flags.extend(["NODROP", "EXT_ARG"]);
        let msg_ring = probe.is_supported(opcode::MsgRingData::CODE)
            && ring.params().is_feature_skip_cqe_on_success();
        if msg_ring {
            flags.push("MSG_RING");
        }
        if ring.params().is_feature_fast_poll() {
            flags.push("FAST_POLL");
        }
        // Multishot receive with provided buffer rings arrived in 6.0 (accept's in 5.19,
        // rings in 5.19); the opcode probe cannot tell, the version can.
        let multishot = config.multishot && kernel_version() >= (6, 0);
        let send_zc = probe.is_supported(opcode::SendZc::CODE);
        if send_zc {
            flags.push("SEND_ZC");
        }
        if multishot {
            flags.extend(["MULTISHOT", "PBUF_RING"]);
        }
        let fixed_files = (config.fixed_files > 0)
            .then(|| ring.submitter().register_files_sparse(config.fixed_files))
            .and_then(Result::ok)
            .map(|()| super::fixed::FixedFiles::new(ring.as_raw_fd(), config.fixed_files));
        if fixed_files.is_some() {
            flags.push("FIXED_FILES");
        }
        let fixed_buffers = (config.fixed_buffers > 0)
            .then(|| {
                ring.submitter()
                    .register_buffers_sparse(config.fixed_buffers as u32)
            })
            .and_then(Result::ok)
            .map(|()| super::fixed::FixedBuffers::new(ring.as_raw_fd(), config.fixed_buffers));
        if fixed_buffers.is_some() {
            flags.push("FIXED_BUFFERS");
        }
        // Enter by a registered index instead of the fd: no fd table look-up per enter.
        let ring_index = register_ring_fd(ring.as_raw_fd());
        if ring_index.is_some() {
            flags.push("REGISTERED_RING");
        }
        let info = DriverInfo {
            driver: super::Driver::Uring,
            flags,
            entries: ring.params().sq_entries(),
            reason: None,
        };
        let uring = Uring {
            ring,
            ops: Slab::with_capacity(256),
            unparker: Arc::new(Unparker::new(false)?),
            wake_buf: Box::new(0),
            wake_armed: false,
            sq_full: 0,
            cq_overflow: 0,
            msg_ring,
            multishot,
            next_buf_group: 0,
            multishot_armed: 0,
            fixed_files,
            fixed_buffers,
            send_zc,
            ring_index,
            taskrun_flag: info.flags.contains(&"TASKRUN_FLAG"),
            sqpoll: info.flags.contains(&"SQPOLL"),
            sqes: 0,
            cqes: 0,
            enters: 0,
        };
        Ok((uring, info))
    }

    pub(crate) fn unparker(&self) -> Arc<Unparker> {
        self.unparker.clone()
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.ops.len()
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

    pub(crate) fn fixed_buffers(&self) -> Option<Rc<super::fixed::FixedBuffers>> {
        self.fixed_buffers.clone()
    }

    pub(crate) fn fixed_files(&self) -> Option<Rc<super::fixed::FixedFiles>> {
        self.fixed_files.clone()
    }

    pub(crate) fn multishot_armed(&self) -> usize {
        self.multishot_armed
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
    pub(crate) unsafe fn register_buf_ring(
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
        let key = self.ops.insert(Lifecycle::Multishot(sink));
        self.multishot_armed += 1;
        // SAFETY: the caller's guarantee, passed on.
        unsafe { self.push(&entry.user_data(key as u64)) };
        key
    }

    /// Asks the kernel to stop multishot slot `key`; its last completion frees the slot.
    pub(crate) fn cancel_multishot(&mut self, key: usize) {
        if matches!(self.ops.get(key), Some(Lifecycle::Multishot(_))) {
            let cancel = opcode::AsyncCancel::new(key as u64)
                .build()
                .user_data(CANCEL_TAG);
            // SAFETY: an async-cancel entry carries no pointers.
            unsafe { self.push(&cancel) };
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

    /// Queues `entry` for an operation the caller holds; returns its slot.
    pub(crate) fn submit(&mut self, entry: squeue::Entry, waker: &Waker) -> usize {
        let key = self.ops.insert(Lifecycle::Waiting(waker.clone()));
        // SAFETY: the entry was built by `Operation::uring_entry`, whose contract says its
        // pointers stay valid while the op lives, wherever it moves; the `Op` holds it until it
        // has taken this slot's completion, or hands it to `orphan`, which keeps it until
        // the completion arrives.
        unsafe { self.push(&entry.user_data(key as u64)) };
        key
    }

    /// The result of slot `key`, if it has completed; else records `waker`.
    pub(crate) fn poll_op(&mut self, key: usize, waker: &Waker) -> Poll<(io::Result<u32>, u32)> {
        match &mut self.ops[key] {
            Lifecycle::Completed(res, flags) => {
                let (res, flags) = (*res, *flags);
                self.ops.remove(key);
                Poll::Ready((cqe_result(res), flags))
            }
            Lifecycle::Waiting(w) | Lifecycle::MoreComing(w, _) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                Poll::Pending
            }
            Lifecycle::Orphaned(_) | Lifecycle::Multishot(_) => {
                panic!("ringio: op slot {key} polled after its future was dropped")
            }
        }
    }

    /// The future of slot `key` was dropped: keep `data` alive until the kernel is done.
    pub(crate) fn orphan<T: Operation>(&mut self, key: usize, data: Box<T>) {
        match &self.ops[key] {
            Lifecycle::Completed(res, flags) => {
                // Finished but never collected: the memory is free to go, an fd is not.
                let (res, flags) = (*res, *flags);
                self.ops.remove(key);
                Orphan::release(data, res, flags);
            }
            Lifecycle::Waiting(_) => {
                self.ops[key] = Lifecycle::Orphaned(data);
                let cancel = opcode::AsyncCancel::new(key as u64)
                    .build()
                    .user_data(CANCEL_TAG);
                // SAFETY: an async-cancel entry carries no pointers.
                unsafe { self.push(&cancel) };
            }
            // Done but for the notification: nothing to cancel, only to wait for.
            Lifecycle::MoreComing(..) => self.ops[key] = Lifecycle::Orphaned(data),
            Lifecycle::Orphaned(_) | Lifecycle::Multishot(_) => {
                panic!("ringio: op slot {key} orphaned twice")
            }
        }
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

    /// Whether completions are ready to reap, or the kernel has task work that would
    /// post some: what a busy-polling worker checks without a syscall.
    pub(crate) fn has_pending_events(&mut self) -> bool {
        !self.ring.completion().is_empty() || self.needs_enter()
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

    /// Dispatches every completion in the queue, flushing kernel-held overflow too.
    fn reap(&mut self) {
        let mut stop = Vec::new();
        loop {
            for cqe in self.ring.completion() {
                self.cqes += 1;
                if dispatch(&mut self.ops, &mut self.wake_armed, &mut stop, cqe) {
                    self.multishot_armed -= 1;
                }
            }
            // Multishot operations whose owners asked for a pause (backpressure).
            for key in stop.drain(..) {
                self.cancel_multishot(key);
            }
            if !self.ring.submission().cq_overflow() {
                return;
            }
            self.cq_overflow += 1;
            // GETEVENTS flushes the kernel's overflow list into the now-empty queue.
            let _ = self.enter(0, ENTER_GETEVENTS, None);
        }
    }
}

/// Routes one completion; true if it ended a multishot operation. A multishot whose
/// sink asks to be stopped has its key pushed onto `stop`.
#[inline]
fn dispatch(
    ops: &mut Slab<Lifecycle>,
    wake_armed: &mut bool,
    stop: &mut Vec<usize>,
    cqe: cqueue::Entry,
) -> bool {
    match cqe.user_data() {
        CANCEL_TAG | MSG_WAKE_TAG => {}
        WAKE_TAG => *wake_armed = false,
        key => {
            let key = key as usize;
            let Some(slot) = ops.get_mut(key) else {
                panic!("ringio: completion for unknown op slot {key}");
            };
            if let Lifecycle::Multishot(sink) = slot {
                let pause = sink.on_completion(cqe.result(), cqe.flags());
                if !cqueue::more(cqe.flags()) {
                    ops.remove(key);
                    return true;
                }
                if pause {
                    stop.push(key);
                }
                return false;
            }
            if cqueue::more(cqe.flags()) {
                // More to come for this one-shot op (SEND_ZC): its memory stays in use.
                match std::mem::replace(slot, Lifecycle::Completed(0, 0)) {
                    Lifecycle::Waiting(w) => *slot = Lifecycle::MoreComing(w, cqe.result()),
                    other => *slot = other,
                }
                return false;
            }
            match std::mem::replace(slot, Lifecycle::Completed(cqe.result(), cqe.flags())) {
                Lifecycle::Waiting(w) => w.wake(),
                Lifecycle::MoreComing(w, res) => {
                    // The notification: the kernel is done with the memory. The result
                    // is the first completion's.
                    *slot = Lifecycle::Completed(res, cqe.flags());
                    w.wake();
                }
                Lifecycle::Orphaned(data) => {
                    ops.remove(key);
                    data.release(cqe.result(), cqe.flags());
                }
                Lifecycle::Completed(..) | Lifecycle::Multishot(_) => {
                    panic!("ringio: second completion for op slot {key}")
                }
            }
        }
    }
    false
}

impl Drop for Uring {
    /// Cancels every operation still in the kernel and waits for all of their
    /// completions (and the armed eventfd read's) before the ring and the boxes go.
    fn drop(&mut self) {
        let keys: Vec<usize> = self.ops.iter().map(|(k, _)| k).collect();
        for key in keys {
            if !matches!(self.ops[key], Lifecycle::Completed(..)) {
                let cancel = opcode::AsyncCancel::new(key as u64)
                    .build()
                    .user_data(CANCEL_TAG);
                // SAFETY: an async-cancel entry carries no pointers.
                unsafe { self.push(&cancel) };
            }
        }
        if self.wake_armed {
            // Completing the read is simpler than cancelling it.
            self.unparker.unpark();
        }
        let mut waited = Duration::ZERO;
        while self.wake_armed
            || self
                .ops
                .iter()
                .any(|(_, s)| !matches!(s, Lifecycle::Completed(..)))
        {
            let ts = types::Timespec::new().sec(1);
            let args = types::SubmitArgs::new().timespec(&ts);
            if let Err(e) = self.ring.submitter().submit_with_args(1, &args) {
                if !matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) {
                    // Nothing can be freed safely; leak the ring's memory instead.
                    eprintln!("ringio: io_uring drain failed ({e}); leaking in-flight buffers");
                    std::mem::forget(std::mem::take(&mut self.ops));
                    // The armed eventfd read may still write here: leak it too.
                    std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new(0)));
                    if let Some(table) = &self.fixed_files {
                        table.close();
                    }
                    if let Some(table) = &self.fixed_buffers {
                        table.close();
                    }
                    return;
                }
            }
            for cqe in self.ring.completion() {
                // Everything is being cancelled already: no pause requests to act on.
                if dispatch(&mut self.ops, &mut self.wake_armed, &mut Vec::new(), cqe) {
                    self.multishot_armed -= 1;
                }
            }
            waited += Duration::from_secs(1);
            if waited.as_secs() % 10 == 0 {
                eprintln!(
                    "ringio: still waiting for {} io_uring ops to finish cancelling",
                    self.ops.len()
                );
            }
        }
        if let Some(index) = self.ring_index {
            unregister_ring_fd(self.ring.as_raw_fd(), index);
        }
        if let Some(table) = &self.fixed_files {
            // Sockets that outlive the ring must not clear slots of whatever gets its
            // fd number next.
            table.close();
        }
        if let Some(table) = &self.fixed_buffers {
            table.close(); // likewise for pools
        }
    }
}

/// Builds the ring with the fastest setup flags the kernel accepts (SQPOLL first, with
/// this idle time in ms, when asked for).
fn setup(entries: u32, sqpoll_idle: Option<u32>) -> io::Result<(IoUring, Vec<&'static str>)> {
    let mut last = None;
    let sqpoll_rungs = if sqpoll_idle.is_some() {
        SQPOLL_LADDER
    } else {
        &[]
    };
    for flags in sqpoll_rungs.iter().chain(SETUP_LADDER) {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(entries * 4).setup_clamp();
        for flag in *flags {
            match *flag {
                "SINGLE_ISSUER" => builder.setup_single_issuer(),
                "DEFER_TASKRUN" => builder.setup_defer_taskrun(),
                "COOP_TASKRUN" => builder.setup_coop_taskrun(),
                "TASKRUN_FLAG" => builder.setup_taskrun_flag(),
                "SQPOLL" => builder.setup_sqpoll(sqpoll_idle.unwrap_or(0)),
                _ => unreachable!("unknown setup flag {flag}"),
            };
        }
        match builder.build(entries) {
            Ok(ring) => return Ok((ring, flags.to_vec())),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(setup_error(e)),
        }
    }
    Err(setup_error(last.expect("the ladder is not empty")))
}

/// Says why io_uring_setup failed, naming the errno and the sysctl when it is set.
fn setup_error(e: io::Error) -> io::Error {
    let code = e.raw_os_error().unwrap_or(0);
    let mut msg = format!("io_uring_setup failed: {e} ({})", errno_name(code));
    if let Ok(v) = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        let v = v.trim();
        if v != "0" {
            msg.push_str(&format!("; kernel.io_uring_disabled = {v}"));
        }
    }
    io::Error::new(e.kind(), msg)
}

fn unsupported(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, msg.to_string())
}

/// A completion's result as an `io::Result`: negative values are `-errno`.
fn cqe_result(res: i32) -> io::Result<u32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as u32)
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

/// `struct io_uring_rsrc_update` from linux/io_uring.h.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// `IORING_(UN)REGISTER_RING_FDS` from linux/io_uring.h.
const REGISTER_RING_FDS: libc::c_uint = 20;
const UNREGISTER_RING_FDS: libc::c_uint = 21;

/// Frees this thread's registered ring slot `index` (a thread has only 16).
fn unregister_ring_fd(ring_fd: RawFd, index: u32) {
    let mut update = RsrcUpdate {
        offset: index,
        resv: 0,
        data: 0,
    };
    // SAFETY: as in `register_ring_fd`. A `Uring` is `!Send` (it lives in an `Rc`), so
    // this runs on the thread that registered the slot.
    unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring_fd,
            UNREGISTER_RING_FDS,
            &mut update as *mut RsrcUpdate,
            1,
        )
    };
}

/// Registers `ring_fd` in this thread's registered ring table (Linux 5.18); returns its
/// index, or `None` where the kernel cannot (or the thread's 16 slots are taken). The
/// entry is the calling thread's; rings are only ever entered from the thread that
/// built them (a `Uring` is `!Send`), and `Drop` frees the slot.
fn register_ring_fd(ring_fd: RawFd) -> Option<u32> {
    let mut update = RsrcUpdate {
        offset: u32::MAX, // any free slot
        resv: 0,
        data: ring_fd as u64,
    };
    // SAFETY: IORING_REGISTER_RING_FDS reads and writes one io_uring_rsrc_update, which
    // `update` is, live for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring_fd,
            REGISTER_RING_FDS,
            &mut update as *mut RsrcUpdate,
            1,
        )
    };
    (rc == 1).then_some(update.offset)
}
