//! Counters and snapshots: [`metrics`], [`tasks`], [`Metrics`], [`TaskSnapshot`].

use super::context;
use crate::task::TaskInfo;

/// A worker's counters.
///
/// ```
/// # ringio::run(async {
/// ringio::spawn(async {}).await.unwrap();
/// let m = ringio::runtime::metrics();
/// assert!(m.tasks_spawned >= 1 && m.polls >= 2);
/// assert_eq!(m.timers, 0);
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// The worker's index.
    pub worker: usize,
    /// Tasks spawned on this worker so far.
    pub tasks_spawned: u64,
    /// Tasks spawned and not yet finished.
    pub alive_tasks: usize,
    /// Polls of tasks (and of `block_on`'s future) so far.
    pub polls: u64,
    /// Timers in the wheel (pending, or fired and not yet collected by their sleep).
    pub timers: usize,
    /// On io_uring: operations the kernel still holds, orphans of dropped futures
    /// included. On epoll: operations waiting for readiness.
    pub ops_in_flight: usize,
    /// io_uring: multishot operations armed (a listener's accept, a connection's
    /// pooled receive), counted in `ops_in_flight` too. They stay armed while their
    /// socket lives, so `ops_in_flight - multishot_armed` is what a quiet worker
    /// brings to zero.
    pub multishot_armed: usize,
    /// io_uring: submission queue entries pushed (0 on epoll).
    pub sqes_submitted: u64,
    /// io_uring: completions reaped; epoll: readiness events.
    pub cqes_reaped: u64,
    /// `io_uring_enter` (or `epoll_wait`) calls.
    pub enters: u64,
    /// io_uring: times an operation found the submission queue full, so the queue was
    /// submitted to make room (never dropped).
    pub sq_full_events: u64,
    /// io_uring: times the kernel held completions that overflowed the completion
    /// queue, and the worker flushed them.
    pub cq_overflows: u64,
    /// io_uring: file reads and writes submitted as IORING_OP_READ_FIXED /
    /// WRITE_FIXED, their buffer lying in registered memory (a registered
    /// [`AlignedBuf`](crate::buf::AlignedBuf), or a [`PooledBuf`](crate::buf::PooledBuf)
    /// of a registered pool); 0 on epoll.
    pub fixed_file_ops: u64,
}

/// The current worker's counters, right now.
///
/// # Panics
///
/// Outside a ringio runtime.
pub fn metrics() -> Metrics {
    context::with_core(|core| core.metrics())
}

/// What a task is doing, in a [`TaskSnapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Being polled right now (it is the caller).
    Running,
    /// Woken and queued to run.
    Scheduled,
    /// Waiting for a wake.
    Waiting,
}

/// One task as [`tasks`] saw it.
#[derive(Clone, Debug)]
pub struct TaskSnapshot {
    info: TaskInfo,
    state: TaskState,
    polls: u64,
    last_poll: Option<std::time::Instant>,
}

impl TaskSnapshot {
    pub(crate) fn new(
        info: TaskInfo,
        state: TaskState,
        polls: u64,
        last_poll: Option<std::time::Instant>,
    ) -> Self {
        TaskSnapshot {
            info,
            state,
            polls,
            last_poll,
        }
    }

    /// Id, name and spawn location.
    pub fn info(&self) -> &TaskInfo {
        &self.info
    }

    /// Running, scheduled or waiting.
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// How often it has been polled.
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// When it was last polled; recorded in debug mode only (`None` otherwise).
    pub fn last_poll(&self) -> Option<std::time::Instant> {
        self.last_poll
    }
}

/// The unfinished tasks of the current worker (asyncio's `all_tasks`).
///
/// ```
/// # ringio::run(async {
/// let h = ringio::task::spawn_named("idle", std::future::pending::<()>());
/// ringio::yield_now().await;
/// let all = ringio::runtime::tasks();
/// assert!(all.iter().any(|t| t.info().name() == Some("idle")));
/// h.abort();
/// # });
/// ```
///
/// # Panics
///
/// Outside a ringio runtime.
pub fn tasks() -> Vec<TaskSnapshot> {
    context::with_core(|core| core.task_snapshots())
}

/// The I/O driver the current worker runs on: [`Driver::Uring`](super::Driver::Uring)
/// or [`Driver::Epoll`](super::Driver::Epoll), never `Auto`.
///
/// ```
/// let rt = ringio::Builder::new()
///     .driver(ringio::runtime::Driver::Epoll)
///     .build()
///     .unwrap();
/// rt.block_on(async {
///     assert_eq!(ringio::runtime::current_driver(), ringio::runtime::Driver::Epoll);
/// });
/// ```
///
/// # Panics
///
/// Outside a ringio runtime.
pub fn current_driver() -> super::Driver {
    context::with_core(|core| {
        if core.driver.backend_ref().is_uring() {
            super::Driver::Uring
        } else {
            super::Driver::Epoll
        }
    })
}

/// One trip through the driver: a NOP operation on io_uring, an immediate completion
/// on epoll. It measures the driver's own cost per operation.
///
/// ```
/// # ringio::run(async {
/// ringio::runtime::nop().await.unwrap();
/// # });
/// ```
///
/// # Errors
///
/// Only if the kernel fails the NOP, which it does not.
pub async fn nop() -> std::io::Result<()> {
    crate::driver::Op::new(crate::driver::ops::Nop).await
}
