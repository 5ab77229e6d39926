//! [`RemoteJoinHandle`]: the output of work started on another thread — a task on
//! another worker, or a closure on the blocking pool.
//!
//! # Implementation
//!
//! The handle and the work share an `Arc<Slot>`: a mutex-guarded state plus a condvar,
//! so the output can be awaited from a task (its waker is stored) or waited for from a
//! plain thread ([`RemoteJoinHandle::join`]). The work side holds a [`SlotGuard`]
//! whose drop completes the slot with `Cancelled` if nothing else did, so a job dropped
//! unrun (its worker shut down) never leaves a joiner waiting forever.
//!
//! Under `cfg(all(test, loom))` the mutex, condvar and `Arc` are loom's, so the loom
//! model in `task/loom_remote.rs` runs this very code.

use super::{JoinError, TaskId};
#[cfg(all(test, loom))]
use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
#[cfg(not(all(test, loom)))]
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

struct State<T> {
    result: Option<Result<T, JoinError>>,
    finished: bool,
    /// The awaiting task, if one is waiting.
    joiner: Option<Waker>,
    /// The running task's waker, to make it see an abort.
    worker: Option<Waker>,
    abort: bool,
}

pub(crate) struct Slot<T> {
    id: TaskId,
    state: Mutex<State<T>>,
    done: Condvar,
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores the outcome (once) and wakes whoever waits.
    fn complete(&self, result: Result<T, JoinError>) {
        let joiner = {
            let mut st = self.lock();
            if st.finished {
                return;
            }
            st.finished = true;
            st.result = Some(result);
            st.worker = None;
            st.joiner.take()
        };
        self.done.notify_all();
        if let Some(w) = joiner {
            w.wake();
        }
    }
}

/// The work side of a slot; completes it with `Cancelled` when dropped unfinished.
pub(crate) struct SlotGuard<T> {
    slot: Arc<Slot<T>>,
}

impl<T> SlotGuard<T> {
    pub(crate) fn complete(&self, result: Result<T, JoinError>) {
        self.slot.complete(result);
    }

    pub(crate) fn id(&self) -> TaskId {
        self.slot.id
    }

    pub(crate) fn abort_requested(&self) -> bool {
        self.slot.lock().abort
    }
}

impl<T> Drop for SlotGuard<T> {
    fn drop(&mut self) {
        self.slot.complete(Err(JoinError::cancelled(self.slot.id)));
    }
}

/// A new slot: the handle for the caller, the guard for the work.
pub(crate) fn slot<T>(id: TaskId) -> (RemoteJoinHandle<T>, SlotGuard<T>) {
    let slot = Arc::new(Slot {
        id,
        state: Mutex::new(State {
            result: None,
            finished: false,
            joiner: None,
            worker: None,
            abort: false,
        }),
        done: Condvar::new(),
    });
    (RemoteJoinHandle { slot: slot.clone() }, SlotGuard { slot })
}

/// Runs `fut` as a task and reports its outcome (output, panic, or abort) to a slot.
pub(crate) struct RemoteTask<F: Future> {
    fut: Option<Pin<Box<F>>>,
    guard: SlotGuard<F::Output>,
}

impl<F: Future> RemoteTask<F> {
    pub(crate) fn new(fut: F, guard: SlotGuard<F::Output>) -> RemoteTask<F> {
        RemoteTask {
            fut: Some(Box::pin(fut)),
            guard,
        }
    }
}

impl<F: Future> Future for RemoteTask<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        {
            let mut st = this.guard.slot.lock();
            if st.abort {
                drop(st);
                this.fut = None;
                this.guard
                    .complete(Err(JoinError::cancelled(this.guard.id())));
                return Poll::Ready(());
            }
            match &st.worker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.worker = Some(cx.waker().clone()),
            }
        }
        let Some(fut) = this.fut.as_mut() else {
            return Poll::Ready(());
        };
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                this.fut = None;
                this.guard.complete(Ok(v));
                Poll::Ready(())
            }
            Err(payload) => {
                this.fut = None;
                this.guard
                    .complete(Err(JoinError::panic(this.guard.id(), payload)));
                Poll::Ready(())
            }
        }
    }
}

/// A handle to work running on another thread: a task spawned on another worker
/// ([`spawn_on`](crate::spawn_on), [`Handle`](crate::runtime::Handle)), or a closure
/// on the blocking pool ([`spawn_blocking`](crate::task::spawn_blocking)).
///
/// It is `Send + Sync`: await it from any task, or [`join`](RemoteJoinHandle::join) it
/// from a plain thread. Dropping it detaches the work.
///
/// ```
/// let rt = ringio::Builder::new().workers(2).build().unwrap();
/// let h = rt.handle().spawn_on(1, async { 6 * 7 }).unwrap();
/// assert_eq!(rt.block_on(h).unwrap(), 42);
/// ```
#[must_use = "dropping a RemoteJoinHandle detaches the work; await it or join it"]
pub struct RemoteJoinHandle<T> {
    slot: Arc<Slot<T>>,
}

impl<T> RemoteJoinHandle<T> {
    /// The id under which the work reports errors.
    pub fn id(&self) -> TaskId {
        self.slot.id
    }

    /// Whether the work has finished (output, panic or cancellation).
    pub fn is_finished(&self) -> bool {
        self.slot.lock().finished
    }

    /// Asks the work to stop: a task is dropped at its next turn; a blocking closure
    /// cannot be interrupted, but its output is dropped. Returns `false` if it had
    /// already finished.
    pub fn abort(&self) -> bool {
        let worker = {
            let mut st = self.slot.lock();
            if st.finished {
                return false;
            }
            st.abort = true;
            st.worker.take()
        };
        if let Some(w) = worker {
            w.wake();
        }
        true
    }

    /// Blocks this thread until the work finishes. For plain threads: calling it on a
    /// worker thread blocks that worker's whole loop.
    ///
    /// # Errors
    ///
    /// The work panicked, or was aborted or dropped at shutdown.
    pub fn join(self) -> Result<T, JoinError> {
        // Wakes this thread's worker queued for other workers must go out before it blocks.
        crate::runtime::context::try_with_core(|core| core.flush_submissions());
        let mut st = self.slot.lock();
        while !st.finished {
            st = self.slot.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.result.take().expect("RemoteJoinHandle joined twice")
    }

    /// Like [`join`](RemoteJoinHandle::join), giving up after `timeout` and handing
    /// the handle back.
    ///
    /// # Errors
    ///
    /// The outer `Err` gives the handle back when time ran out; the inner result is the
    /// work's, as for `join`.
    pub fn join_timeout(
        self,
        timeout: Duration,
    ) -> Result<Result<T, JoinError>, RemoteJoinHandle<T>> {
        crate::runtime::context::try_with_core(|core| core.flush_submissions());
        let deadline = std::time::Instant::now() + timeout;
        {
            let mut st = self.slot.lock();
            while !st.finished {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    drop(st);
                    return Err(self);
                }
                st = self
                    .slot
                    .done
                    .wait_timeout(st, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        Ok(self.join())
    }
}

impl<T> Future for RemoteJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.slot.lock();
        if st.finished {
            return Poll::Ready(
                st.result
                    .take()
                    .expect("RemoteJoinHandle polled after it returned its output"),
            );
        }
        match &st.joiner {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.joiner = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for RemoteJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJoinHandle")
            .field("id", &self.slot.id)
            .finish_non_exhaustive()
    }
}
