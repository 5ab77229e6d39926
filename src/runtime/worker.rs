//! The worker: one thread's tasks, driver and timers, and the loop that runs them.
//!
//! # Implementation
//!
//! One loop turn:
//!
//! 1. poll the `block_on` future if it was woken;
//! 2. move wakes from other threads (the inbox) onto the run queue;
//! 3. run queued tasks, at most [`BUDGET`] of them, so completions are reaped under load;
//! 4. fire expired timers;
//! 5. park in the driver: without waiting if anything is ready to run, else until the
//!    next timer's deadline (or, with a paused clock, jump the clock to that deadline
//!    after a non-blocking look for completed I/O).
//!
//! Parking submits every queued entry and reaps every completion in one
//! `io_uring_enter`, so a busy worker makes one syscall per turn.

use super::context;
use super::debug::{DebugConfig, DebugEvent, ExceptionHandler, PanicKind, PanicReport, Watch};
use super::handle::RuntimeShared;
use super::metrics::{Metrics, TaskSnapshot, TaskState};
use crate::buf::BufPool;
use crate::driver::{Backend, DriverHandle, Unparker};
use crate::task::raw::{RawTask, TaskRef, SCHEDULED};
use crate::task::scheduler::Scheduler;
use crate::task::waker::MainWaker;
use crate::task::{JoinError, JoinHandle, TaskId, TaskInfo};
use crate::time::Timers;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::os::fd::RawFd;
use std::panic::Location;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Buffers in a worker's shared stream-reader pool.
const STREAM_POOL_BUFFERS: usize = 64;
/// Bytes in each of them.
const STREAM_POOL_BUFFER_SIZE: usize = 16 * 1024;

/// Tasks run per loop turn before the worker reaps I/O again.
const BUDGET: usize = 256;

/// Work sent to a worker from another thread.
pub(crate) enum Remote {
    /// Run this task (the reference is dropped once it is queued).
    Wake(TaskRef),
    /// Run this closure on the worker (spawns, `call_soon_threadsafe`).
    Job(Box<dyn FnOnce() + Send>),
}

struct Inbox {
    items: Vec<Remote>,
    /// False once the worker shuts down: new jobs are refused.
    open: bool,
}

/// The part of a worker other threads can reach.
pub(crate) struct Shared {
    /// This worker's index in its runtime.
    pub(crate) index: usize,
    inbox: Mutex<Inbox>,
    /// Set with every inbox push; lets the worker skip the lock when nothing came.
    inbox_nonempty: AtomicBool,
    /// The `block_on` future was woken.
    main_woken: AtomicBool,
    unparker: Arc<Unparker>,
    /// This worker's ring, for waking it with MSG_RING from another io_uring worker.
    msg_ring_fd: Option<RawFd>,
    /// Blocking-pool jobs this worker started that have not finished; a paused clock
    /// does not jump while any run.
    pub(crate) blocking_in_flight: AtomicUsize,
    /// What the debug-mode watchdog reads.
    pub(crate) watch: Arc<Watch>,
    /// The worker's counters as of its last turn, for `Runtime::metrics`.
    pub(crate) published: Mutex<Metrics>,
}

impl Shared {
    /// Queues a wake from another thread, waking the worker if it may be parked.
    pub(crate) fn schedule_remote(&self, task: TaskRef) {
        // A wake after shutdown has no task to run; dropping it (and its reference)
        // is right.
        let _ = self.push(Remote::Wake(task));
    }

    /// Queues a closure to run on the worker; gives it back if the worker has shut down.
    pub(crate) fn push_job(
        &self,
        job: Box<dyn FnOnce() + Send>,
    ) -> Result<(), Box<dyn FnOnce() + Send>> {
        self.push(Remote::Job(job)).map_err(|r| match r {
            Remote::Job(j) => j,
            Remote::Wake(..) => unreachable!(),
        })
    }

    fn push(&self, item: Remote) -> Result<(), Remote> {
        let was_empty = {
            let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
            if !inbox.open {
                return Err(item);
            }
            inbox.items.push(item);
            inbox.items.len() == 1
        };
        self.inbox_nonempty.store(true, Ordering::Release);
        if was_empty {
            self.notify();
        }
        Ok(())
    }

    /// Wakes the worker out of its park: by a MSG_RING from the current thread's ring
    /// when both are io_uring workers (no syscall now; it rides on the sender's next
    /// submit), else by writing the eventfd.
    pub(crate) fn notify(&self) {
        if let Some(fd) = self.msg_ring_fd {
            if context::try_with_core(|core| core.send_msg_ring(fd)) == Some(true) {
                return;
            }
        }
        self.unparker.unpark();
    }

    /// Marks the `block_on` future woken and writes the eventfd: for callers that may
    /// never run a loop turn again (shutdown from any thread).
    pub(crate) fn wake_main_now(&self) {
        self.main_woken.store(true, Ordering::Release);
        self.unparker.unpark();
    }

    /// Marks the `block_on` future woken; from another thread, wakes the worker too.
    pub(crate) fn wake_main(&self, on_worker_thread: bool) {
        self.main_woken.store(true, Ordering::Release);
        if !on_worker_thread {
            self.notify();
        }
    }

    /// Refuses further jobs and returns what was queued (dropped by the caller, outside
    /// the lock: a job's drop completes its join slot).
    pub(crate) fn close(&self) -> Vec<Remote> {
        let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
        inbox.open = false;
        std::mem::take(&mut inbox.items)
    }
}

/// Who is being polled, for `task::current()`.
#[derive(Clone, Copy)]
enum Current {
    Nobody,
    Main,
    Task(RawTask),
}

/// One worker's state, owned by its thread.
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    pub(crate) driver: DriverHandle,
    pub(crate) timers: Rc<Timers>,
    /// The tasks and their run queue.
    sched: Scheduler,
    current: Cell<Current>,
    main_info: RefCell<Option<TaskInfo>>,
    /// Scratch space reused every turn.
    fired: RefCell<Vec<Waker>>,
    inbox_scratch: RefCell<Vec<Remote>>,
    /// The runtime this worker belongs to; set once every worker has started.
    pub(crate) runtime: std::cell::OnceCell<Arc<RuntimeShared>>,
    /// Wake other io_uring workers with MSG_RING rather than their eventfd.
    use_msg_ring: bool,
    /// Spin this long for completions before sleeping (`Builder::busy_poll`).
    busy_poll: Option<Duration>,
    hooks: Hooks,
    spawned: Cell<u64>,
    polls: Cell<u64>,
    /// Inside `block_on`'s loop (so queued entries will be submitted soon).
    in_loop: Cell<bool>,
    /// A MSG_RING wake for another worker waits in this worker's submission queue.
    wake_queued: Cell<bool>,
    /// The receive buffers `StreamReader`s share on this worker, made on first use.
    stream_pool: std::cell::OnceCell<BufPool>,
}

/// How a worker reports panics nobody observed, and its debug-mode settings.
#[derive(Clone)]
pub(crate) struct Hooks {
    pub(crate) exception: ExceptionHandler,
    pub(crate) debug: Option<DebugConfig>,
}

impl Core {
    pub(crate) fn new(
        index: usize,
        driver: Backend,
        timers: Timers,
        use_msg_ring: bool,
        busy_poll: Option<Duration>,
        hooks: Hooks,
    ) -> Core {
        let shared = Arc::new(Shared {
            index,
            inbox: Mutex::new(Inbox {
                items: Vec::new(),
                open: true,
            }),
            inbox_nonempty: AtomicBool::new(false),
            main_woken: AtomicBool::new(false),
            unparker: driver.unparker(),
            msg_ring_fd: driver.msg_ring_fd(),
            blocking_in_flight: AtomicUsize::new(0),
            watch: Arc::new(Watch::default()),
            published: Mutex::new(Metrics::default()),
        });
        let sched = Scheduler::new(&shared);
        Core {
            shared,
            driver: DriverHandle::new(driver),
            timers: Rc::new(timers),
            sched,
            current: Cell::new(Current::Nobody),
            main_info: RefCell::new(None),
            fired: RefCell::new(Vec::new()),
            inbox_scratch: RefCell::new(Vec::new()),
            runtime: std::cell::OnceCell::new(),
            use_msg_ring,
            busy_poll,
            hooks,
            spawned: Cell::new(0),
            polls: Cell::new(0),
            in_loop: Cell::new(false),
            wake_queued: Cell::new(false),
            stream_pool: std::cell::OnceCell::new(),
        }
    }

    /// The pool `StreamReader`s on this worker receive through unless given their own:
    /// [`STREAM_POOL_BUFFERS`] buffers of [`STREAM_POOL_BUFFER_SIZE`] bytes (1 MiB),
    /// allocated on first use. Readers copy each buffer out as it arrives, so buffers
    /// come back at once and a few dozen serve any number of connections.
    pub(crate) fn stream_pool(&self) -> BufPool {
        self.stream_pool
            .get_or_init(|| {
                BufPool::new(STREAM_POOL_BUFFERS, STREAM_POOL_BUFFER_SIZE)
                    .expect("the stream pool's sizes are valid")
            })
            .clone()
    }

    /// Hands queued submission entries (MSG_RING wakes among them) to the kernel now.
    pub(crate) fn flush_submissions(&self) {
        if let Some(mut driver) = self.driver.try_backend() {
            driver.flush_submissions();
        }
    }

    /// Hands a panic nobody observed to the exception handler.
    pub(crate) fn report_panic(&self, report: &PanicReport) {
        (self.hooks.exception)(report);
    }

    /// The counters right now.
    pub(crate) fn metrics(&self) -> Metrics {
        let driver = self.driver.backend_ref();
        let (sq_full_events, cq_overflows) = driver.queue_events();
        let (sqes_submitted, cqes_reaped, enters) = driver.io_counts();
        Metrics {
            worker: self.shared.index,
            tasks_spawned: self.spawned.get(),
            alive_tasks: self.task_count(),
            polls: self.polls.get(),
            timers: self.timers.len(),
            ops_in_flight: driver.in_flight(),
            multishot_armed: driver.multishot_armed(),
            sqes_submitted,
            cqes_reaped,
            enters,
            sq_full_events,
            cq_overflows,
            fixed_file_ops: crate::driver::ops::fixed_rw_count(),
        }
    }

    /// A snapshot of every task on this worker.
    pub(crate) fn task_snapshots(&self) -> Vec<TaskSnapshot> {
        let current = match self.current.get() {
            Current::Task(t) => Some(t),
            _ => None,
        };
        let mut out = Vec::with_capacity(self.sched.len());
        self.sched.for_each(|task| {
            let h = task.header();
            let state = if current == Some(task) {
                TaskState::Running
            } else if task.is(SCHEDULED) {
                TaskState::Scheduled
            } else {
                TaskState::Waiting
            };
            out.push(TaskSnapshot::new(
                TaskInfo::from_header(h),
                state,
                h.polls.get(),
                h.last_poll(),
            ));
        });
        out
    }

    /// Times a poll in debug mode and tells the watchdog about it.
    fn timed_poll<R>(
        &self,
        info: impl FnOnce() -> Option<TaskInfo>,
        poll: impl FnOnce() -> R,
    ) -> R {
        let Some(debug) = &self.hooks.debug else {
            return poll();
        };
        let info = info();
        self.shared.watch.enter(info.clone());
        let started = std::time::Instant::now();
        let out = poll();
        let took = started.elapsed();
        self.shared.watch.exit();
        if took >= debug.slow_poll {
            if let Some(task) = info {
                (debug.handler)(&DebugEvent::SlowPoll { task, took });
            }
        }
        out
    }

    /// Queues a MSG_RING to the ring `target_fd` on this worker's ring. False when this
    /// worker cannot (epoll, MSG_RING off, the driver busy up the stack), or when it is
    /// not inside its loop: the entry goes out with the loop's next `io_uring_enter`,
    /// so only a thread that is sure to make one may promise the wake.
    pub(crate) fn send_msg_ring(&self, target_fd: RawFd) -> bool {
        if !self.use_msg_ring || !self.in_loop.get() {
            return false;
        }
        let queued = match self.driver.try_backend() {
            Some(mut driver) => driver.send_msg_ring(target_fd),
            None => false,
        };
        self.wake_queued.set(self.wake_queued.get() | queued);
        queued
    }

    /// After a poll: if it queued a wake for another worker and this one has more to
    /// run before it next enters the kernel, submits now, so the other worker waits for
    /// the end of this poll, not for the end of this worker's whole batch. With nothing
    /// else to run, the park that follows submits it anyway, for no extra syscall.
    fn send_queued_wakes(&self) {
        if self.wake_queued.get() && self.has_ready_work() {
            self.wake_queued.set(false);
            self.flush_submissions();
        }
    }

    pub(crate) fn spawn<F>(
        &self,
        future: F,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn_with_id(TaskId::next(), future, name, location)
    }

    /// [`spawn`](Core::spawn) with an id chosen beforehand (a remote spawn reports it).
    pub(crate) fn spawn_with_id<F>(
        &self,
        id: TaskId,
        future: F,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawned.set(self.spawned.get() + 1);
        let task = self
            .sched
            .spawn(self.shared.clone(), future, id, name, location, false);
        JoinHandle::new(task)
    }

    /// Spawns and polls once at once (see `task::spawn_eager`).
    pub(crate) fn spawn_eager<F>(
        &self,
        future: F,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawned.set(self.spawned.get() + 1);
        let task = self.sched.spawn(
            self.shared.clone(),
            future,
            TaskId::next(),
            name,
            location,
            true,
        );
        let handle = JoinHandle::new(task);
        let caller = self.current.get();
        let budget = self.driver.budget();
        self.run_task(task);
        self.current.set(caller);
        self.driver.set_budget(budget);
        handle
    }

    pub(crate) fn current_task(&self) -> Option<TaskInfo> {
        match self.current.get() {
            Current::Nobody => None,
            Current::Main => self.main_info.borrow().clone(),
            Current::Task(task) => Some(TaskInfo::from_header(task.header())),
        }
    }

    /// Tasks alive on this worker.
    pub(crate) fn task_count(&self) -> usize {
        self.sched.len()
    }

    /// Runs a task taken off the run queue (or just spawned eagerly).
    #[inline(always)]
    fn run_task(&self, task: RawTask) {
        self.sched.run(
            task,
            |task| {
                self.current.set(Current::Task(task));
                self.driver.reset_budget();
                self.polls.set(self.polls.get() + 1);
                if self.hooks.debug.is_some() {
                    task.header().set_last_poll(std::time::Instant::now());
                }
                #[cfg(feature = "tracing")]
                let _span = {
                    let h = task.header();
                    tracing::trace_span!(
                        target: "ringio::task",
                        "task",
                        id = h.id.as_u64(),
                        name = h.name(),
                        worker = self.shared.index
                    )
                    .entered()
                };
                let finished = self.timed_poll(
                    || Some(TaskInfo::from_header(task.header())),
                    || task.poll(),
                );
                self.current.set(Current::Nobody);
                finished
            },
            |task, panic| self.report_task_panic(task, PanicKind::DetachedTask, &panic),
        );
        self.send_queued_wakes();
    }

    /// Hands a task's panic that nobody will observe to the exception handler.
    fn report_task_panic(&self, task: RawTask, kind: PanicKind, err: &JoinError) {
        self.report_panic(&PanicReport {
            kind,
            task: TaskInfo::from_header(task.header()),
            message: err.panic_text(),
        });
    }

    fn drain_inbox(&self) {
        if !self.shared.inbox_nonempty.swap(false, Ordering::Acquire) {
            return;
        }
        let mut scratch = self.inbox_scratch.take();
        {
            let mut inbox = self.shared.inbox.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::swap(&mut inbox.items, &mut scratch);
        }
        for item in scratch.drain(..) {
            match item {
                Remote::Wake(task) => task.wake_here(),
                // A job reports its own panics through its join slot.
                Remote::Job(job) => job(),
            }
        }
        *self.inbox_scratch.borrow_mut() = scratch;
    }

    fn fire_timers(&self) {
        let mut fired = self.fired.borrow_mut();
        if self.timers.fire_due(&mut fired) > 0 {
            for w in fired.drain(..) {
                w.wake();
            }
        }
    }

    fn has_ready_work(&self) -> bool {
        self.sched.has_queued()
            || self.shared.main_woken.load(Ordering::Acquire)
            || self.shared.inbox_nonempty.load(Ordering::Acquire)
    }

    fn park(&self, timeout: Option<Duration>) {
        if timeout != Some(Duration::ZERO) {
            // About to sleep: let Runtime::metrics see this worker's counters.
            *self
                .shared
                .published
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = self.metrics();
        }
        let mut timeout = timeout;
        if let Some(spin) = self.busy_poll {
            if timeout != Some(Duration::ZERO) {
                // The spin only reaps: send queued wakes before it, not after.
                if self.wake_queued.replace(false) {
                    self.flush_submissions();
                }
                match self.spin_for_events(spin, timeout) {
                    None => return,
                    // Sleep only for what is left of the wait: the spin used the rest.
                    Some(spun) => {
                        timeout = timeout.map(|t| t.saturating_sub(spun));
                        if timeout == Some(Duration::ZERO) {
                            return; // the timer is due: let the turn fire it
                        }
                    }
                }
            }
        }
        // The park's io_uring_enter submits queued MSG_RING wakes too.
        self.wake_queued.set(false);
        let res = self.driver.backend().park(timeout);
        if let Err(e) = res {
            panic!("ringio: the I/O driver failed: {e}");
        }
    }

    /// Busy-polls for up to `spin` (and not past `timeout`) before the worker sleeps:
    /// `None` if it found events (and reaped them), so the sleep is skipped; else how long
    /// it spun.
    fn spin_for_events(&self, spin: Duration, timeout: Option<Duration>) -> Option<Duration> {
        let spin = timeout.map_or(spin, |t| t.min(spin));
        let start = std::time::Instant::now();
        let mut checks = 0u32;
        loop {
            let found = self.driver.backend().poll_events();
            if let Err(e) = found {
                panic!("ringio: the I/O driver failed: {e}");
            }
            if found.is_ok_and(|f| f) || self.has_ready_work() {
                return None;
            }
            checks = checks.wrapping_add(1);
            // Reading the clock costs more than a check: look every 64 checks.
            if checks % 64 == 0 {
                let spun = start.elapsed();
                if spun >= spin {
                    return Some(spun);
                }
            }
            std::hint::spin_loop();
        }
    }

    /// One loop turn (steps 2-5 of the module docs).
    fn turn(&self) {
        self.drain_inbox();
        for _ in 0..BUDGET {
            let Some(task) = self.sched.pop() else { break };
            self.run_task(task);
        }
        self.fire_timers();
        if self.has_ready_work() {
            self.park(Some(Duration::ZERO));
            return;
        }
        let next_timer = self.timers.next_deadline();
        if self.timers.clock.is_paused() {
            self.park(Some(Duration::ZERO));
            if self.has_ready_work() {
                return;
            }
            if self.shared.blocking_in_flight.load(Ordering::Acquire) > 0
                || self.driver.backend_ref().blocking_in_flight() > 0
            {
                // Time stands still while blocking work runs; its end wakes us.
                self.park(None);
                return;
            }
            match next_timer {
                Some(deadline) => {
                    self.timers.clock.advance_to(deadline);
                    self.fire_timers();
                }
                None => self.park(None),
            }
        } else {
            let timeout = next_timer.map(|d| d.saturating_duration_since(self.timers.clock.now()));
            self.park(timeout);
        }
    }

    /// Runs the loop until `future` completes.
    pub(crate) fn block_on<F: Future>(
        self: &Rc<Self>,
        future: F,
        location: &'static Location<'static>,
    ) -> F::Output {
        let _guard = context::enter(self.clone());
        let _active = self.sched.enter();
        let mut future = pin!(future);
        let waker = Waker::from(Arc::new(MainWaker {
            shared: self.shared.clone(),
        }));
        let mut cx = Context::from_waker(&waker);
        *self.main_info.borrow_mut() =
            Some(TaskInfo::new(TaskId::next(), Some("main".into()), location));
        self.shared.main_woken.store(true, Ordering::Release);
        /// Leaves the loop: submits what is queued (another worker's MSG_RING wake may
        /// be among it) even if the future panicked.
        struct LeaveLoop<'a>(&'a Core);
        impl Drop for LeaveLoop<'_> {
            fn drop(&mut self) {
                self.0.in_loop.set(false);
                self.0.flush_submissions();
            }
        }
        self.in_loop.set(true);
        let _leave = LeaveLoop(self);
        loop {
            if self.shared.main_woken.swap(false, Ordering::AcqRel) {
                self.current.set(Current::Main);
                self.driver.reset_budget();
                self.polls.set(self.polls.get() + 1);
                let polled = self.timed_poll(
                    || self.main_info.borrow().clone(),
                    || future.as_mut().poll(&mut cx),
                );
                self.current.set(Current::Nobody);
                if let Poll::Ready(v) = polled {
                    return v;
                }
                self.send_queued_wakes();
            }
            self.turn();
        }
    }

    /// Runs the loop until the runtime is closed (a worker thread's life).
    pub(crate) fn run_until_closed(
        self: &Rc<Self>,
        runtime: &Arc<RuntimeShared>,
        location: &'static Location<'static>,
    ) {
        let closed = std::future::poll_fn(|_| {
            if runtime.is_closed() {
                Poll::Ready(())
            } else {
                // `RuntimeShared::close` wakes the main future of every worker.
                Poll::Pending
            }
        });
        self.block_on(closed, location);
    }

    /// Drops every task's future (their joins see `Cancelled`), then lets the driver
    /// cancel and drain what the kernel still holds when the last reference goes.
    pub(crate) fn shut_down(self: &Rc<Self>) {
        let _guard = context::enter_for_shutdown(self.clone());
        let _active = self.sched.enter();
        // Jobs that never ran are dropped here, completing their join slots.
        drop(self.shared.close());
        self.sched
            .shut_down(|task, panic| self.report_task_panic(task, PanicKind::DetachedTask, &panic));
    }
}
