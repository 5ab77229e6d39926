//! [`JoinHandle`] and [`JoinError`].

use super::error::JoinError;
use super::raw::{JoinRef, RawTask};
use super::{TaskId, TaskInfo};
use crate::runtime::context;
use crate::runtime::{PanicKind, PanicReport};
use crate::time::Elapsed;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// An owned permission to await a spawned task's output.
///
/// Awaiting it gives `Ok(output)`, or a [`JoinError`] if the task was aborted or
/// panicked. Dropping it **detaches** the task, which runs on (the runtime owns tasks);
/// [`abort`](JoinHandle::abort) cancels it.
///
/// ```
/// # ringio::run(async {
/// let handle = ringio::spawn(async { 6 * 7 });
/// assert_eq!(handle.await.unwrap(), 42);
/// # });
/// ```
///
/// # Cancel safety
///
/// Dropping a pending `JoinHandle` future does not cancel the task (asyncio's `shield`
/// comes for free); the output can still be taken by awaiting the same handle again.
#[must_use = "dropping a JoinHandle detaches the task; await it or call abort()"]
pub struct JoinHandle<T> {
    task: JoinRef<T>,
}

impl<T: 'static> JoinHandle<T> {
    /// Takes the handle's reference of a task just spawned with output type `T`.
    pub(crate) fn new(task: RawTask) -> JoinHandle<T> {
        JoinHandle {
            task: JoinRef::new(task),
        }
    }

    #[cfg(test)]
    pub(crate) fn raw(&self) -> RawTask {
        self.task.raw()
    }

    /// Cancels the task: its future is dropped before its next poll (never during one)
    /// and the join yields [`JoinError::is_cancelled`]. Returns `false` if the task had
    /// already finished, in which case its output stays available.
    ///
    /// ```
    /// # ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// let h = ringio::spawn(ringio::time::sleep(Duration::from_secs(3600)));
    /// assert!(h.abort());
    /// assert!(h.await.unwrap_err().is_cancelled());
    /// # });
    /// ```
    pub fn abort(&self) -> bool {
        // Runs it soon so the drop happens within one turn; outside its runtime the
        // wake queues it for the next `block_on`.
        self.task.abort()
    }

    /// Whether the task has finished (with output, error or cancellation).
    pub fn is_finished(&self) -> bool {
        self.task.is_complete()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.task.header().id
    }

    /// The output if the task has finished, without waiting; `None` while it runs (or
    /// once the output has been taken).
    pub fn try_join(&mut self) -> Option<Result<T, JoinError>> {
        self.task.try_take()
    }
}

impl<T: 'static> JoinHandle<T> {
    /// Waits at most `timeout` for the task. On expiry it aborts the task and waits the
    /// turn its drop takes; if the task won the race its output comes back anyway.
    /// Dropping the returned future aborts the task too (asyncio's `wait_for`).
    ///
    /// ```
    /// # ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// let h = ringio::spawn(ringio::time::sleep(Duration::from_secs(3600)));
    /// assert!(h.wait_for(Duration::from_secs(1)).await.is_err());
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// [`Elapsed`](crate::time::Elapsed) when the task did not finish in time.
    pub async fn wait_for(self, timeout: Duration) -> Result<Result<T, JoinError>, Elapsed> {
        let mut guarded = self.abort_on_drop();
        match crate::time::timeout(timeout, &mut guarded).await {
            Ok(res) => Ok(res),
            Err(elapsed) => {
                guarded.handle().abort();
                match (&mut guarded).await {
                    Ok(v) => Ok(Ok(v)),
                    Err(_) => Err(elapsed),
                }
            }
        }
    }

    /// Turns the handle into one that aborts the task when dropped (a plain
    /// `JoinHandle` detaches).
    pub fn abort_on_drop(self) -> AbortOnDrop<T> {
        AbortOnDrop { handle: Some(self) }
    }

    /// Ready once the task has finished, without taking its output.
    pub(crate) fn poll_finished(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_finished() {
            Poll::Ready(())
        } else {
            self.task.register(cx.waker());
            Poll::Pending
        }
    }

    /// Whether the task finished by panicking (its output not yet taken).
    pub(crate) fn finished_with_panic(&self) -> bool {
        self.task.holds_panic()
    }
}

/// A [`JoinHandle`] that aborts its task when dropped; see
/// [`JoinHandle::abort_on_drop`].
#[must_use = "dropping an AbortOnDrop aborts the task"]
pub struct AbortOnDrop<T: 'static> {
    handle: Option<JoinHandle<T>>,
}

impl<T: 'static> AbortOnDrop<T> {
    /// The inner handle.
    pub fn handle(&self) -> &JoinHandle<T> {
        self.handle
            .as_ref()
            .expect("the handle is present until drop")
    }

    /// Gives the plain handle back, which detaches on drop again.
    pub fn into_inner(mut self) -> JoinHandle<T> {
        self.handle
            .take()
            .expect("the handle is present until drop")
    }
}

impl<T: 'static> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if let Some(h) = &self.handle {
            h.abort();
        }
    }
}

impl<T: 'static> Future for AbortOnDrop<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let h = self
            .handle
            .as_mut()
            .expect("the handle is present until drop");
        Pin::new(h).poll(cx)
    }
}

impl<T: 'static> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(out) = self.task.try_take() {
            return Poll::Ready(out);
        }
        assert!(
            !self.task.is_complete(),
            "JoinHandle polled after it returned its output"
        );
        self.task.register(cx.waker());
        Poll::Pending
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(panic) = self.task.detach() {
            let report = PanicReport {
                kind: PanicKind::Unobserved,
                task: TaskInfo::from_header(self.task.header()),
                message: panic.panic_text(),
            };
            if context::try_with_core(|core| core.report_panic(&report)).is_none() {
                crate::runtime::report::panic(&report);
            }
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").finish_non_exhaustive()
    }
}
