//! Debug mode and panic reports: what the runtime tells you about your tasks.
//!
//! - Every panic nobody observes (a detached task's, a callback's, or one left in a
//!   handle dropped without being awaited) goes to the exception handler
//!   ([`Builder::exception_handler`](crate::Builder::exception_handler); by default a
//!   line on stderr naming the task and where it was spawned).
//! - In debug mode ([`Builder::debug`](crate::Builder::debug) or `RINGIO_DEBUG=1`)
//!   every poll is timed and one slower than the threshold (100 ms by default) is
//!   reported, and a watchdog thread reports a worker whose loop has not turned for a
//!   second, naming the task it is stuck in. With debug mode off nothing is timed.

use crate::task::TaskInfo;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a panic is being reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PanicKind {
    /// A task whose handle had been dropped panicked.
    DetachedTask,
    /// A handle was dropped without taking the panic its task ended with.
    Unobserved,
    /// A `call_soon` / `call_later` / `call_at` callback panicked.
    Callback,
}

/// A panic nobody will see otherwise; given to the exception handler.
#[derive(Clone, Debug)]
pub struct PanicReport {
    /// What the panic is.
    pub kind: PanicKind,
    /// The task (or the callback's task).
    pub task: TaskInfo,
    /// The panic message, when it was a string.
    pub message: String,
}

impl fmt::Display for PanicReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            PanicKind::DetachedTask => "detached task panicked",
            PanicKind::Unobserved => "task panicked and nobody took the error",
            PanicKind::Callback => "callback panicked",
        };
        write!(f, "{what}: task {}", self.task.id())?;
        if let Some(name) = self.task.name() {
            write!(f, " ({name})")?;
        }
        write!(f, " spawned at {}: {}", self.task.location(), self.message)
    }
}

/// Something debug mode noticed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum DebugEvent {
    /// One poll of a task took longer than the threshold: it blocked its worker.
    SlowPoll {
        /// The task.
        task: TaskInfo,
        /// How long the poll took.
        took: Duration,
    },
    /// A worker's loop has been inside one poll for longer than a second.
    StalledWorker {
        /// The worker's index.
        worker: usize,
        /// The task being polled.
        task: Option<TaskInfo>,
        /// How long it has been stuck so far.
        stalled_for: Duration,
    },
}

impl fmt::Display for DebugEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let describe = |t: &TaskInfo| {
            format!(
                "task={} at {}",
                t.name().unwrap_or("<unnamed>"),
                t.location()
            )
        };
        match self {
            DebugEvent::SlowPoll { task, took } => {
                write!(
                    f,
                    "slow poll: {} took {}ms",
                    describe(task),
                    took.as_millis()
                )
            }
            DebugEvent::StalledWorker {
                worker,
                task,
                stalled_for,
            } => {
                let t = task
                    .as_ref()
                    .map(describe)
                    .unwrap_or_else(|| "unknown task".into());
                write!(
                    f,
                    "worker {worker} stalled for {}ms in {t}",
                    stalled_for.as_millis()
                )
            }
        }
    }
}

pub(crate) type ExceptionHandler = Arc<dyn Fn(&PanicReport) + Send + Sync>;
pub(crate) type DebugHandler = Arc<dyn Fn(&DebugEvent) + Send + Sync>;

pub(crate) fn default_exception_handler() -> ExceptionHandler {
    Arc::new(super::report::panic)
}

pub(crate) fn default_debug_handler() -> DebugHandler {
    Arc::new(super::report::debug_event)
}

/// Debug-mode settings of a worker.
#[derive(Clone)]
pub(crate) struct DebugConfig {
    pub(crate) slow_poll: Duration,
    pub(crate) handler: DebugHandler,
}

/// What the watchdog reads of one worker: set around every poll in debug mode.
#[derive(Default)]
pub(crate) struct Watch {
    pub(crate) poll_seq: AtomicU64,
    pub(crate) in_poll: AtomicBool,
    pub(crate) task: Mutex<Option<TaskInfo>>,
}

impl Watch {
    pub(crate) fn enter(&self, task: Option<TaskInfo>) {
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = task;
        self.poll_seq.fetch_add(1, Ordering::Relaxed);
        self.in_poll.store(true, Ordering::Release);
    }

    pub(crate) fn exit(&self) {
        self.in_poll.store(false, Ordering::Release);
    }
}

/// How long a worker may sit in one poll before the watchdog reports it.
pub(crate) const STALL: Duration = Duration::from_secs(1);

/// Watches `workers` until `closed`, reporting each stall once.
pub(crate) fn watchdog(workers: Vec<Arc<Watch>>, closed: impl Fn() -> bool, handler: DebugHandler) {
    let mut seen: Vec<(u64, Option<Instant>, bool)> = vec![(0, None, false); workers.len()];
    while !closed() {
        std::thread::sleep(Duration::from_millis(100));
        let now = Instant::now();
        for (i, w) in workers.iter().enumerate() {
            let seq = w.poll_seq.load(Ordering::Relaxed);
            let stuck = w.in_poll.load(Ordering::Acquire) && seq == seen[i].0;
            if !stuck {
                seen[i] = (seq, None, false);
                continue;
            }
            let since = *seen[i].1.get_or_insert(now);
            if !seen[i].2 && now.duration_since(since) >= STALL {
                seen[i].2 = true;
                let task = w.task.lock().unwrap_or_else(|e| e.into_inner()).clone();
                handler(&DebugEvent::StalledWorker {
                    worker: i,
                    task,
                    stalled_for: now.duration_since(since),
                });
            }
        }
    }
}
