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
/// rejects with EINVAL.
const SETUP_LADDER: &[&[&str]] = &[
    &["SINGLE_ISSUER", "DEFER_TASKRUN", "COOP_TASKRUN"],
    &["SINGLE_ISSUER", "COOP_TASKRUN"],
    &["COOP_TASKRUN"],
    &[],
];

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
    /// Entries pushed, completions reaped, `io_uring_enter` calls.
    sqes: u64,
    cqes: u64,
    enters: u64,
}

impl Uring {
    pub(crate) fn new(config: &DriverConfig) -> io::Result<(Uring, DriverInfo)> {
        let entries = config.entries.max(2).next_power_of_two();
        let (ring, mut flags) = setup(entries)?;
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
        let multishot = kernel_version() >= (6, 0);
        if multishot {
            flags.extend(["MULTISHOT", "PBUF_RING"]);
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
            Lifecycle::Waiting(w) => {
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
        let to_submit = self.ring.submission().len() as u32;
        self.enters += 1;
        let submitter = self.ring.submitter();
        let res = match timeout {
            Some(d) if d.is_zero() => {
                // SAFETY: a plain enter with no argument struct; GETEVENTS makes the kernel
                // run deferred task work so completions become visible without waiting.
                unsafe { submitter.enter::<libc::sigset_t>(to_submit, 0, ENTER_GETEVENTS, None) }
            }
            Some(d) => {
                let ts = types::Timespec::new()
                    .sec(d.as_secs())
                    .nsec(d.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                submitter.submit_with_args(1, &args)
            }
            None => submitter.submit_and_wait(1),
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
            self.enters += 1;
            match self.ring.submit() {
                Ok(_) => return,
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
        loop {
            for cqe in self.ring.completion() {
                self.cqes += 1;
                if dispatch(&mut self.ops, &mut self.wake_armed, cqe) {
                    self.multishot_armed -= 1;
                }
            }
            if !self.ring.submission().cq_overflow() {
                return;
            }
            self.cq_overflow += 1;
            self.enters += 1;
            // SAFETY: a plain enter with no argument struct; GETEVENTS flushes the
            // kernel's overflow list into the now-empty completion queue.
            let _ = unsafe {
                self.ring
                    .submitter()
                    .enter::<libc::sigset_t>(0, 0, ENTER_GETEVENTS, None)
            };
        }
    }
}

/// Routes one completion; true if it ended a multishot operation.
fn dispatch(ops: &mut Slab<Lifecycle>, wake_armed: &mut bool, cqe: cqueue::Entry) -> bool {
    match cqe.user_data() {
        CANCEL_TAG | MSG_WAKE_TAG => {}
        WAKE_TAG => *wake_armed = false,
        key => {
            let key = key as usize;
            let Some(slot) = ops.get_mut(key) else {
                panic!("ringio: completion for unknown op slot {key}");
            };
            if let Lifecycle::Multishot(sink) = slot {
                sink.on_completion(cqe.result(), cqe.flags());
                if !cqueue::more(cqe.flags()) {
                    ops.remove(key);
                    return true;
                }
                return false;
            }
            match std::mem::replace(slot, Lifecycle::Completed(cqe.result(), cqe.flags())) {
                Lifecycle::Waiting(w) => w.wake(),
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
                    return;
                }
            }
            for cqe in self.ring.completion() {
                if dispatch(&mut self.ops, &mut self.wake_armed, cqe) {
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
    }
}

/// Builds the ring with the fastest setup flags the kernel accepts.
fn setup(entries: u32) -> io::Result<(IoUring, Vec<&'static str>)> {
    let mut last = None;
    for flags in SETUP_LADDER {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(entries * 4).setup_clamp();
        for flag in *flags {
            match *flag {
                "SINGLE_ISSUER" => builder.setup_single_issuer(),
                "DEFER_TASKRUN" => builder.setup_defer_taskrun(),
                "COOP_TASKRUN" => builder.setup_coop_taskrun(),
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

/// `IORING_ENTER_GETEVENTS` from linux/io_uring.h (the crate keeps its flag type private).
const ENTER_GETEVENTS: u32 = 1;
