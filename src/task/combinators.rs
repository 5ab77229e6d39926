//! asyncio's combinators over spawned tasks: [`gather`], [`gather_settled`], [`wait`],
//! [`as_completed`], [`shield`].
//!
//! Each takes the tasks' [`JoinHandle`]s. They poll every unfinished handle when woken,
//! which is O(n) per wake: fine for the tens to thousands of tasks these are used with;
//! for more, a [`task_group`](super::task_group) wakes only the child that is ready.

use super::{spawn, JoinError, JoinHandle};
use crate::time::{sleep, Elapsed, Sleep};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Aborts the handles it still holds when dropped.
struct AbortRemaining<T: 'static>(Vec<Option<JoinHandle<T>>>);

impl<T: 'static> Drop for AbortRemaining<T> {
    fn drop(&mut self) {
        for h in self.0.iter().flatten() {
            h.abort();
        }
    }
}

/// Waits for every task and returns their outputs in input order.
///
/// The first [`JoinError`] (a panic or a cancellation) is returned at once, and the
/// other tasks keep running, detached, as asyncio's `gather` does; use a
/// [`task_group`](super::task_group) to cancel siblings on failure.
///
/// ```
/// # ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// let slow = ringio::spawn(async { ringio::time::sleep(Duration::from_secs(2)).await; "slow" });
/// let fast = ringio::spawn(async { "fast" });
/// let out = ringio::task::gather(vec![slow, fast]).await.unwrap();
/// assert_eq!(out, ["slow", "fast"]);
/// # });
/// ```
///
/// # Cancel safety
///
/// Dropping the future while it waits aborts every task not yet finished.
pub async fn gather<T: 'static>(handles: Vec<JoinHandle<T>>) -> Result<Vec<T>, JoinError> {
    let n = handles.len();
    let mut guard = AbortRemaining(handles.into_iter().map(Some).collect());
    let mut outputs: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let mut left = n;
    poll_fn(|cx| {
        for (i, slot) in guard.0.iter_mut().enumerate() {
            let Some(h) = slot else { continue };
            if let Poll::Ready(res) = Pin::new(h).poll(cx) {
                *slot = None;
                left -= 1;
                match res {
                    Ok(v) => outputs[i] = Some(v),
                    Err(e) => {
                        // Detach the others: they run on, as in asyncio.
                        guard.0.iter_mut().for_each(|s| drop(s.take()));
                        return Poll::Ready(Err(e));
                    }
                }
            }
        }
        if left == 0 {
            Poll::Ready(Ok(outputs
                .iter_mut()
                .map(|o| o.take().expect("every output is in"))
                .collect()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Waits for every task and returns each one's result in input order, errors
/// included (asyncio's `gather(..., return_exceptions=True)`).
///
/// ```
/// # ringio::run(async {
/// let ok = ringio::spawn(async { 1 });
/// let aborted = ringio::spawn(async { 2 });
/// aborted.abort();
/// let out = ringio::task::gather_settled(vec![ok, aborted]).await;
/// assert_eq!(*out[0].as_ref().unwrap(), 1);
/// assert!(out[1].as_ref().unwrap_err().is_cancelled());
/// # });
/// ```
///
/// # Cancel safety
///
/// Dropping the future while it waits aborts every task not yet finished.
pub async fn gather_settled<T: 'static>(handles: Vec<JoinHandle<T>>) -> Vec<Result<T, JoinError>> {
    let n = handles.len();
    let mut guard = AbortRemaining(handles.into_iter().map(Some).collect());
    let mut results: Vec<Option<Result<T, JoinError>>> = (0..n).map(|_| None).collect();
    let mut left = n;
    poll_fn(|cx| {
        for (i, slot) in guard.0.iter_mut().enumerate() {
            let Some(h) = slot else { continue };
            if let Poll::Ready(res) = Pin::new(h).poll(cx) {
                *slot = None;
                left -= 1;
                results[i] = Some(res);
            }
        }
        if left == 0 {
            Poll::Ready(
                results
                    .iter_mut()
                    .map(|r| r.take().expect("every result is in"))
                    .collect(),
            )
        } else {
            Poll::Pending
        }
    })
    .await
}

/// When [`wait`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReturnWhen {
    /// As soon as any task finishes (or is cancelled).
    FirstCompleted,
    /// As soon as any task panics; otherwise when all have finished. A cancelled task
    /// does not count as a failure here.
    FirstException,
    /// When every task has finished.
    AllCompleted,
}

/// Waits for tasks until `when` is met or `timeout` passes, and returns the handles
/// split into `(done, pending)`, each in input order. Nothing is cancelled, on timeout
/// either; the output of a done handle is taken with
/// [`try_join`](JoinHandle::try_join) or by awaiting it.
///
/// ```
/// # ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
/// use ringio::task::{wait, ReturnWhen};
/// use std::time::Duration;
/// let hs = vec![
///     ringio::spawn(async { ringio::time::sleep(Duration::from_secs(5)).await; 0 }),
///     ringio::spawn(async { 1 }),
/// ];
/// let (done, pending) = wait(hs, ReturnWhen::FirstCompleted, None).await;
/// assert_eq!((done.len(), pending.len()), (1, 1));
/// # });
/// ```
///
/// # Cancel safety
///
/// Dropping the future detaches the tasks (it never aborts them).
pub async fn wait<T: 'static>(
    handles: Vec<JoinHandle<T>>,
    when: ReturnWhen,
    timeout: Option<Duration>,
) -> (Vec<JoinHandle<T>>, Vec<JoinHandle<T>>) {
    let mut deadline: Option<Sleep> = timeout.map(sleep);
    poll_fn(|cx| {
        let mut finished = 0;
        let mut failed = false;
        for h in &handles {
            if h.poll_finished(cx).is_ready() {
                finished += 1;
                failed |= h.finished_with_panic();
            }
        }
        let met = match when {
            ReturnWhen::FirstCompleted => finished > 0,
            ReturnWhen::FirstException => failed || finished == handles.len(),
            ReturnWhen::AllCompleted => finished == handles.len(),
        };
        let timed_out = deadline
            .as_mut()
            .is_some_and(|s| Pin::new(s).poll(cx).is_ready());
        if met || timed_out || handles.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    handles.into_iter().partition(JoinHandle::is_finished)
}

/// Yields each task's result as it finishes, in completion order, as
/// `(input index, result)`. After `timeout` it yields one `Err(Elapsed)` and ends; the
/// tasks not yet finished are detached, not cancelled.
///
/// ```
/// # ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// let hs = [3u64, 1, 2].map(|s| ringio::spawn(async move {
///     ringio::time::sleep(Duration::from_secs(s)).await;
///     s
/// }));
/// let mut order = Vec::new();
/// let mut stream = ringio::task::as_completed(hs.into(), None);
/// while let Some(item) = std::future::poll_fn(|cx| {
///     futures_core::Stream::poll_next(std::pin::Pin::new(&mut stream), cx)
/// }).await {
///     let (idx, res) = item.unwrap();
///     order.push((idx, res.unwrap()));
/// }
/// assert_eq!(order, [(1, 1), (2, 2), (0, 3)]);
/// # });
/// ```
pub fn as_completed<T: 'static>(
    handles: Vec<JoinHandle<T>>,
    timeout: Option<Duration>,
) -> AsCompleted<T> {
    AsCompleted {
        handles: handles.into_iter().map(Some).collect(),
        deadline: timeout.map(sleep),
        ended: false,
    }
}

/// The stream of [`as_completed`].
pub struct AsCompleted<T: 'static> {
    handles: Vec<Option<JoinHandle<T>>>,
    deadline: Option<Sleep>,
    ended: bool,
}

impl<T: 'static> AsCompleted<T> {
    /// The next result in completion order; `None` at the end.
    pub async fn next(&mut self) -> Option<Result<(usize, Result<T, JoinError>), Elapsed>> {
        poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *self), cx)).await
    }
}

impl<T: 'static> futures_core::Stream for AsCompleted<T> {
    type Item = Result<(usize, Result<T, JoinError>), Elapsed>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        let mut any_left = false;
        for (i, slot) in this.handles.iter_mut().enumerate() {
            let Some(h) = slot else { continue };
            if let Poll::Ready(res) = Pin::new(h).poll(cx) {
                *slot = None;
                return Poll::Ready(Some(Ok((i, res))));
            }
            any_left = true;
        }
        if !any_left {
            this.ended = true;
            return Poll::Ready(None);
        }
        if let Some(s) = this.deadline.as_mut() {
            if Pin::new(s).poll(cx).is_ready() {
                this.ended = true;
                this.handles.clear();
                return Poll::Ready(Some(Err(Elapsed(()))));
            }
        }
        Poll::Pending
    }
}

/// Runs `future` so that it goes on even if whoever awaits it goes away (asyncio's
/// `shield`). In ringio this is just [`spawn`]: a dropped [`JoinHandle`] detaches its
/// task, it never cancels it. If the task aborts itself, the awaiter sees it.
///
/// ```
/// # ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// let h = ringio::task::shield(async { ringio::time::sleep(Duration::from_secs(2)).await; 7 });
/// // The awaiter gives up after 1 s; the work finishes anyway.
/// let mut h = h;
/// assert!(ringio::time::timeout(Duration::from_secs(1), &mut h).await.is_err());
/// assert_eq!(h.await.unwrap(), 7);
/// # });
/// ```
#[track_caller]
pub fn shield<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn(future)
}
