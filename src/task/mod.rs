//! Tasks: spawning, joining, yielding, and who is running.
//!
//! A task is a future the worker polls on its own; tasks never leave the thread they
//! were spawned on, so [`spawn`] takes `!Send` futures.
//!
//! ```
//! use std::rc::Rc;
//! use std::cell::Cell;
//! ringio::run(async {
//!     let counter = Rc::new(Cell::new(0)); // !Send is fine
//!     let c = counter.clone();
//!     ringio::spawn(async move { c.set(c.get() + 1) }).await.unwrap();
//!     assert_eq!(counter.get(), 1);
//! });
//! ```

mod combinators;
mod error;
mod group;
mod id;
mod join;
mod local;
#[cfg(all(test, loom))]
mod loom_model;
#[cfg(all(test, loom))]
mod loom_remote;
mod macros;
pub(crate) mod raw;
pub(crate) mod remote;
pub(crate) mod scheduler;
#[cfg(test)]
mod tests;
pub(crate) mod waker;

pub use combinators::{
    as_completed, gather, gather_settled, shield, wait, AsCompleted, ReturnWhen,
};
pub(crate) use error::panic_message;
pub use error::JoinError;
pub use group::{task_group, ChildHandle, GroupClosed, GroupError, TaskGroup};
pub use id::TaskId;
pub use join::{AbortOnDrop, JoinHandle};
pub use local::{AccessError, LocalKey};
pub(crate) use raw::Header;
pub use remote::RemoteJoinHandle;

use crate::runtime::Handle;

use crate::runtime::context;
use std::future::Future;
use std::panic::Location;
use std::task::Poll;

/// Spawns `future` as a new task on the current worker.
///
/// The task starts at the worker's next turn and runs whether or not the returned
/// handle is kept (dropping it detaches the task).
///
/// # Panics
///
/// Outside a ringio runtime.
///
/// ```
/// # ringio::run(async {
/// let h = ringio::spawn(async { "done" });
/// assert_eq!(h.await.unwrap(), "done");
/// # });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let location = Location::caller();
    context::with_core(|core| core.spawn(future, None, location))
}

/// Spawns `future` as a task with a name, shown by [`current`] and in debug reports.
///
/// ```
/// # ringio::run(async {
/// let h = ringio::task::spawn_named("worker-7", async {
///     ringio::task::current().unwrap().name().map(str::to_owned)
/// });
/// assert_eq!(h.await.unwrap().as_deref(), Some("worker-7"));
/// # });
/// ```
#[track_caller]
pub fn spawn_named<F>(name: impl Into<String>, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let location = Location::caller();
    let name = name.into().into_boxed_str();
    context::with_core(|core| core.spawn(future, Some(name), location))
}

/// Spawns `future` and polls it once right away, inside this call, with
/// [`current`] naming the new task; it is queued only if that poll is pending. A body
/// that never waits has finished before `spawn_eager` returns (asyncio's eager tasks).
///
/// ```
/// # ringio::run(async {
/// let h = ringio::task::spawn_eager(async { 5 });
/// assert!(h.is_finished());
/// assert_eq!(h.await.unwrap(), 5);
/// # });
/// ```
///
/// # Panics
///
/// Outside a ringio runtime.
#[track_caller]
pub fn spawn_eager<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let location = Location::caller();
    let core = context::with_core(|core| core.clone());
    core.spawn_eager(future, None, location)
}

/// Spawns a `Send` future on worker `worker` of the current runtime; the analogue of
/// [`spawn`] across cores.
///
/// Futures that await ringio's own timers or I/O hold handles to their worker and are
/// `!Send`; build those on the target worker with
/// [`Handle::spawn_local_on`](crate::runtime::Handle::spawn_local_on) instead.
///
/// # Panics
///
/// Outside a ringio runtime, for a worker index past the last, and after shutdown.
///
/// ```
/// let rt = ringio::Builder::new().workers(2).build().unwrap();
/// rt.block_on(async {
///     let h = ringio::spawn_on(1, async { ringio::runtime::Handle::current_worker() });
///     assert_eq!(h.await.unwrap(), Some(1));
/// });
/// ```
#[track_caller]
pub fn spawn_on<F>(worker: usize, future: F) -> RemoteJoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Handle::current()
        .spawn_on(worker, future)
        .unwrap_or_else(|e| panic!("spawn_on({worker}): {e}"))
}

/// Runs a blocking function on the runtime's blocking pool and returns a handle to its
/// output. The pool starts threads lazily, up to min(32, CPUs + 4) by default
/// ([`Builder::blocking_threads`](crate::Builder::blocking_threads)).
///
/// Dropping the handle does not stop the closure (a thread cannot be interrupted); its
/// output is dropped. A panic in the closure arrives as a [`JoinError`].
///
/// # Panics
///
/// Outside a ringio runtime, or after it shut down; see [`Handle::spawn_blocking`] for
/// the form that returns an error.
///
/// ```
/// # ringio::run(async {
/// let n = ringio::task::spawn_blocking(|| std::fs::read_dir("/").unwrap().count()).await.unwrap();
/// assert!(n > 0);
/// # });
/// ```
#[track_caller]
pub fn spawn_blocking<F, T>(f: F) -> RemoteJoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Handle::current()
        .spawn_blocking(f)
        .unwrap_or_else(|e| panic!("spawn_blocking: {e}"))
}

/// asyncio's name for [`spawn_blocking`].
///
/// ```
/// # ringio::run(async {
/// let v = ringio::task::to_thread(|| 2 + 2).await.unwrap();
/// assert_eq!(v, 4);
/// # });
/// ```
#[track_caller]
pub fn to_thread<F, T>(f: F) -> RemoteJoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn_blocking(f)
}

/// Yields to the scheduler once: every other task that is ready runs before this one
/// continues.
///
/// ```
/// # ringio::run(async {
/// use std::{cell::Cell, rc::Rc};
/// let ran = Rc::new(Cell::new(false));
/// let r = ran.clone();
/// let _h = ringio::spawn(async move { r.set(true) });
/// ringio::yield_now().await;
/// assert!(ran.get());
/// # });
/// ```
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// What is known about a task: id, name and where it was spawned.
#[derive(Clone, Debug)]
pub struct TaskInfo {
    id: TaskId,
    name: Option<String>,
    location: &'static Location<'static>,
}

impl TaskInfo {
    pub(crate) fn from_header(h: &Header) -> TaskInfo {
        TaskInfo {
            id: h.id,
            name: h.name().map(str::to_owned),
            location: h.location,
        }
    }

    pub(crate) fn new(
        id: TaskId,
        name: Option<String>,
        location: &'static Location<'static>,
    ) -> TaskInfo {
        TaskInfo { id, name, location }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The name given to [`spawn_named`], or `"main"` for the future given to
    /// `block_on`.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the task was spawned (or `block_on` called).
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
}

/// The task being polled right now, or `None` outside a runtime. The future given to
/// `block_on` counts as a task named `"main"`.
///
/// ```
/// # ringio::run(async {
/// let main = ringio::task::current().unwrap();
/// assert_eq!(main.name(), Some("main"));
/// let child = ringio::spawn(async { ringio::task::current().unwrap().id() });
/// let child_id = child.id();
/// assert_eq!(child.await.unwrap(), child_id);
/// # });
/// ```
pub fn current() -> Option<TaskInfo> {
    context::try_with_core(|core| core.current_task()).flatten()
}
