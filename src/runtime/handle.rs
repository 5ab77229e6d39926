//! [`Handle`]: a thread-safe way into a runtime's workers.

use super::blocking::BlockingPool;
use super::context;
use super::worker::Shared;
use crate::task::remote::{slot, RemoteTask};
use crate::task::{JoinError, RemoteJoinHandle, TaskId};
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What every worker of a runtime shares.
pub(crate) struct RuntimeShared {
    pub(crate) workers: Vec<Arc<Shared>>,
    closed: AtomicBool,
    pub(crate) blocking: Arc<BlockingPool>,
}

impl RuntimeShared {
    pub(crate) fn new(workers: Vec<Arc<Shared>>, blocking: Arc<BlockingPool>) -> RuntimeShared {
        RuntimeShared {
            workers,
            closed: AtomicBool::new(false),
            blocking,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the runtime closed, refuses new jobs everywhere, and wakes every worker so
    /// its loop sees it. Queued jobs are dropped, completing their join slots.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for w in &self.workers {
            drop(w.close());
            // Not MSG_RING: the caller may block (joining threads) and never submit it.
            w.wake_main_now();
        }
    }
}

/// Why a [`Handle`] could not start work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnError {
    /// The runtime has shut down.
    Shutdown,
    /// There is no worker with this index.
    NoSuchWorker(usize),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Shutdown => f.write_str("the runtime has shut down"),
            SpawnError::NoSuchWorker(i) => write!(f, "the runtime has no worker {i}"),
        }
    }
}

impl std::error::Error for SpawnError {}

/// A handle to a runtime, usable from any thread: spawn work on a chosen worker, or run
/// a closure there (asyncio's `run_coroutine_threadsafe` and `call_soon_threadsafe`).
///
/// Every call returns [`SpawnError::Shutdown`] once the runtime is gone, instead of
/// hanging; work that was queued but never ran completes as cancelled.
///
/// ```
/// let rt = ringio::Builder::new().workers(2).build().unwrap();
/// let handle = rt.handle();
/// let from_thread = std::thread::spawn(move || {
///     // A !Send future, built on worker 1 by a Send closure.
///     let h = handle
///         .spawn_local_on(1, || async {
///             let local = std::rc::Rc::new(5);
///             *local * 2
///         })
///         .unwrap();
///     h.join().unwrap() // blocking join from a plain thread
/// });
/// rt.block_on(async { ringio::time::sleep(std::time::Duration::from_millis(1)).await });
/// assert_eq!(from_thread.join().unwrap(), 10);
/// ```
#[derive(Clone)]
pub struct Handle {
    inner: Arc<RuntimeShared>,
}

impl Handle {
    pub(crate) fn new(inner: Arc<RuntimeShared>) -> Handle {
        Handle { inner }
    }

    /// The handle of the runtime running on this thread.
    ///
    /// # Panics
    ///
    /// Outside a ringio runtime; see [`try_current`](Handle::try_current).
    #[track_caller]
    pub fn current() -> Handle {
        Handle::try_current()
            .expect("Handle::current() must be called from within a ringio runtime")
    }

    /// The handle of the runtime running on this thread, if any.
    pub fn try_current() -> Option<Handle> {
        context::try_with_core(|core| core.runtime.get().cloned())
            .flatten()
            .map(Handle::new)
    }

    /// How many workers the runtime has.
    pub fn workers(&self) -> usize {
        self.inner.workers.len()
    }

    /// The index of the worker running on this thread, if any (of any runtime).
    pub fn current_worker() -> Option<usize> {
        context::try_with_core(|core| core.shared.index)
    }

    fn worker(&self, worker: usize) -> Result<&Arc<Shared>, SpawnError> {
        if self.inner.is_closed() {
            return Err(SpawnError::Shutdown);
        }
        self.inner
            .workers
            .get(worker)
            .ok_or(SpawnError::NoSuchWorker(worker))
    }

    /// Spawns a `Send` future as a task on worker `worker`.
    ///
    /// # Errors
    ///
    /// [`SpawnError::Shutdown`] after the runtime shut down;
    /// [`SpawnError::NoSuchWorker`] for an index past the last worker.
    #[track_caller]
    pub fn spawn_on<F>(
        &self,
        worker: usize,
        future: F,
    ) -> Result<RemoteJoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_local_on(worker, move || future)
    }

    /// Builds a future on worker `worker` with `make` (so the future itself may be
    /// `!Send`, like any local task) and spawns it there.
    ///
    /// # Errors
    ///
    /// As [`spawn_on`](Handle::spawn_on).
    #[track_caller]
    pub fn spawn_local_on<F, Fut>(
        &self,
        worker: usize,
        make: F,
    ) -> Result<RemoteJoinHandle<Fut::Output>, SpawnError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let shared = self.worker(worker)?;
        let location = Location::caller();
        let id = TaskId::next();
        let (handle, guard) = slot(id);
        let job = Box::new(move || match catch_unwind(AssertUnwindSafe(make)) {
            Ok(fut) => context::with_core(|core| {
                drop(core.spawn_with_id(id, RemoteTask::new(fut, guard), None, location));
            }),
            Err(payload) => guard.complete(Err(JoinError::panic(id, payload))),
        });
        shared.push_job(job).map_err(|_| SpawnError::Shutdown)?;
        Ok(handle)
    }

    /// Runs `f` on worker `worker` at its next loop turn. A panic in `f` is reported on
    /// stderr and the worker goes on.
    ///
    /// # Errors
    ///
    /// As [`spawn_on`](Handle::spawn_on).
    pub fn call_soon_threadsafe<F>(&self, worker: usize, f: F) -> Result<(), SpawnError>
    where
        F: FnOnce() + Send + 'static,
    {
        let shared = self.worker(worker)?;
        let job = Box::new(move || {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
                let msg = crate::task::panic_message(&*payload).unwrap_or("non-string panic");
                super::report::warn(format_args!(
                    "a call_soon_threadsafe callback panicked: {msg}"
                ));
            }
        });
        shared.push_job(job).map_err(|_| SpawnError::Shutdown)
    }

    /// Runs `f` on the runtime's blocking pool; see
    /// [`spawn_blocking`](crate::task::spawn_blocking).
    ///
    /// # Errors
    ///
    /// [`SpawnError::Shutdown`] after the runtime shut down.
    pub fn spawn_blocking<F, T>(&self, f: F) -> Result<RemoteJoinHandle<T>, SpawnError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.inner.is_closed() {
            return Err(SpawnError::Shutdown);
        }
        let origin = context::try_with_core(|core| core.shared.clone());
        let id = TaskId::next();
        let (handle, guard) = slot(id);
        if let Some(o) = &origin {
            o.blocking_in_flight.fetch_add(1, Ordering::AcqRel);
        }
        let origin_for_job = origin.clone();
        let job = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(|| {
                if guard.abort_requested() {
                    None
                } else {
                    Some(f())
                }
            }));
            match result {
                Ok(Some(v)) => guard.complete(Ok(v)),
                Ok(None) => guard.complete(Err(JoinError::cancelled(id))),
                Err(payload) => guard.complete(Err(JoinError::panic(id, payload))),
            }
            drop(guard);
            if let Some(o) = origin_for_job {
                o.blocking_in_flight.fetch_sub(1, Ordering::AcqRel);
                // A paused clock waits for this; let it move on.
                o.wake_main(false);
            }
        });
        if self.inner.blocking.spawn(job).is_err() {
            if let Some(o) = origin {
                o.blocking_in_flight.fetch_sub(1, Ordering::AcqRel);
            }
            return Err(SpawnError::Shutdown);
        }
        Ok(handle)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.workers())
            .finish()
    }
}
