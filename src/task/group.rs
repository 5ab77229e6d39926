//! [`task_group`]: structured concurrency, asyncio's `TaskGroup`.
//!
//! # Implementation
//!
//! The children are not separate tasks: the group's future owns and polls them, next to
//! the body, so they may borrow the caller's locals (sound because tasks never leave
//! their thread). Each child has its own waker that queues its index on a ready list,
//! so a wake polls only that child. In one poll of the group, every ready child is
//! polled before failures are acted on, so two failures in the same turn are both
//! reported. On the first failure the group closes, drops the body and every child
//! (that is their cancellation), and returns all errors together. A panic drops the
//! others first and then resumes unwinding.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

type Child<'a, E> = Pin<Box<dyn Future<Output = Result<(), E>> + 'a>>;

/// Indices of children whose wakers fired, and the group's own waker.
#[derive(Default)]
struct ReadyList {
    ready: Mutex<Vec<usize>>,
    parent: Mutex<Option<Waker>>,
}

impl ReadyList {
    fn push(&self, idx: usize) {
        self.ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(idx);
        self.wake_parent();
    }

    fn wake_parent(&self) {
        let parent = self
            .parent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(w) = parent {
            w.wake();
        }
    }

    fn take(&self) -> Vec<usize> {
        std::mem::take(&mut *self.ready.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn set_parent(&self, waker: &Waker) {
        let mut p = self.parent.lock().unwrap_or_else(|e| e.into_inner());
        match &*p {
            Some(w) if w.will_wake(waker) => {}
            _ => *p = Some(waker.clone()),
        }
    }
}

struct ChildWaker {
    idx: usize,
    list: Arc<ReadyList>,
}

impl Wake for ChildWaker {
    fn wake(self: Arc<Self>) {
        self.list.push(self.idx);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.list.push(self.idx);
    }
}

/// A child and its waker; `None` while the child is being polled.
type ChildEntry<'a, E> = Option<(Child<'a, E>, Waker)>;

struct Inner<'a, E> {
    children: RefCell<slab::Slab<ChildEntry<'a, E>>>,
    closed: Cell<bool>,
    /// [`TaskGroup::cancel`] was called: drop everything at the group's next poll.
    cancelled: Cell<bool>,
    list: Arc<ReadyList>,
}

/// A handle to a running [`task_group`], given to its body: spawn children with it.
/// Cloning it is cheap, so children can spawn siblings too.
pub struct TaskGroup<'a, E> {
    inner: Rc<Inner<'a, E>>,
}

impl<E> Clone for TaskGroup<'_, E> {
    fn clone(&self) -> Self {
        TaskGroup {
            inner: self.inner.clone(),
        }
    }
}

/// The group has finished (or is failing); it takes no new children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupClosed;

impl fmt::Display for GroupClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the task group has finished and takes no new tasks")
    }
}

impl std::error::Error for GroupClosed {}

/// Every error of a failed [`task_group`]: the children's and the body's, in the
/// order they happened (asyncio's `ExceptionGroup`). Empty only when the group was
/// cancelled before its body finished ([`is_cancelled`](GroupError::is_cancelled)).
#[derive(Debug)]
pub struct GroupError<E> {
    /// The errors: at least one, unless the group was cancelled.
    pub errors: Vec<E>,
}

impl<E> GroupError<E> {
    /// Whether the group ended because [`TaskGroup::cancel`] dropped its unfinished
    /// body, with no error before that (so `errors` is empty).
    pub fn is_cancelled(&self) -> bool {
        self.errors.is_empty()
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_cancelled() {
            return f.write_str("the task group was cancelled before its body finished");
        }
        write!(f, "{} task(s) of the group failed", self.errors.len())?;
        if let Some(first) = self.errors.first() {
            write!(f, "; the first: {first}")?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for GroupError<E> {}

/// The output of a child of a [`TaskGroup`]: awaiting it gives `Some(output)`, or
/// `None` if the child was cancelled (because a sibling failed) or itself failed (its
/// error goes to the group).
pub struct ChildHandle<T> {
    slot: Rc<RefCell<ChildSlot<T>>>,
}

struct ChildSlot<T> {
    value: Option<T>,
    done: bool,
    waiters: Vec<Waker>,
}

impl<T> ChildSlot<T> {
    fn finish(&mut self, value: Option<T>) {
        self.value = value;
        self.done = true;
        for w in self.waiters.drain(..) {
            w.wake();
        }
    }
}

/// Marks a child's slot done (with no value) when the child is dropped unfinished.
struct ChildDone<T>(Rc<RefCell<ChildSlot<T>>>);

impl<T> Drop for ChildDone<T> {
    fn drop(&mut self) {
        let mut s = self.0.borrow_mut();
        if !s.done {
            s.finish(None);
        }
    }
}

impl<T> fmt::Debug for ChildHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildHandle")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

impl<T> ChildHandle<T> {
    /// Whether the child has finished, failed or been cancelled.
    pub fn is_finished(&self) -> bool {
        self.slot.borrow().done
    }

    /// The output, if the child finished and it was not taken yet.
    pub fn try_take(&self) -> Option<T> {
        self.slot.borrow_mut().value.take()
    }
}

impl<T> Future for ChildHandle<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut s = self.slot.borrow_mut();
        if s.done {
            return Poll::Ready(s.value.take());
        }
        if !s.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            s.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl<'a, E: 'a> TaskGroup<'a, E> {
    /// Adds a child. It starts at the group's next poll and may borrow anything that
    /// outlives the group. An `Err` from it fails the whole group.
    ///
    /// # Errors
    ///
    /// [`GroupClosed`] once the group has finished or is failing; `future` is dropped
    /// without being polled.
    pub fn spawn<T: 'a>(
        &self,
        future: impl Future<Output = Result<T, E>> + 'a,
    ) -> Result<ChildHandle<T>, GroupClosed> {
        if self.inner.closed.get() {
            return Err(GroupClosed);
        }
        let slot = Rc::new(RefCell::new(ChildSlot {
            value: None,
            done: false,
            waiters: Vec::new(),
        }));
        let done = ChildDone(slot.clone());
        let child: Child<'a, E> = Box::pin(async move {
            let out = future.await;
            let mut s = done.0.borrow_mut();
            match out {
                Ok(v) => {
                    s.finish(Some(v));
                    Ok(())
                }
                Err(e) => {
                    s.finish(None);
                    Err(e)
                }
            }
        });
        let idx = {
            let mut children = self.inner.children.borrow_mut();
            let entry = children.vacant_entry();
            let idx = entry.key();
            let waker = Waker::from(Arc::new(ChildWaker {
                idx,
                list: self.inner.list.clone(),
            }));
            entry.insert(Some((child, waker)));
            idx
        };
        self.inner.list.push(idx);
        Ok(ChildHandle { slot })
    }

    /// Cancels the group (asyncio 3.14's `TaskGroup.cancel`): it takes no new
    /// children, and before its next poll the body and every child are dropped. The
    /// group then returns without error: `Ok` with the body's output if the body had
    /// already returned. A body dropped unfinished has no output to give, so the group
    /// returns a [`GroupError`] with no errors, which
    /// [`is_cancelled`](GroupError::is_cancelled) tells apart; errors that happened
    /// before the cancel are still reported.
    ///
    /// Called from the body or a child, it takes effect when that poll returns (a
    /// future cannot be dropped while it runs); the code after the call runs up to the
    /// next `.await`.
    ///
    /// ```
    /// # ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
    /// use ringio::task::task_group;
    /// use std::time::Duration;
    ///
    /// // Searchers that stop once one of them has found what all were looking for.
    /// let start = ringio::time::Instant::now();
    /// let res = task_group(|tg| async move {
    ///     for i in 0..4u64 {
    ///         let group = tg.clone();
    ///         tg.spawn(async move {
    ///             ringio::time::sleep(Duration::from_secs(i + 1)).await;
    ///             if i == 1 {
    ///                 group.cancel(); // found it: stop the siblings
    ///             }
    ///             Ok::<_, String>(())
    ///         })
    ///         .unwrap();
    ///     }
    ///     Ok(())
    /// })
    /// .await;
    /// assert!(res.is_ok(), "the body had finished, so its output comes back");
    /// let took = start.elapsed();
    /// assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(3));
    /// # });
    /// ```
    pub fn cancel(&self) {
        if self.inner.cancelled.replace(true) {
            return;
        }
        self.inner.closed.set(true);
        self.inner.list.wake_parent();
    }

    /// Whether [`cancel`](TaskGroup::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.get()
    }

    /// Children still running.
    pub fn len(&self) -> usize {
        self.inner.children.borrow().len()
    }

    /// Whether no child is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Runs `body` with a [`TaskGroup`] and waits for the body and every child.
///
/// - The first child (or body) that returns `Err` closes the group: the body and all
///   other children are dropped (cancelled), and every error that happened, including
///   others in the same turn, comes back in a [`GroupError`].
/// - A panic in a child or the body drops the others, then propagates.
/// - Children may be added while the group waits, by the body or by other children.
///
/// ```
/// # ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
/// use ringio::task::task_group;
/// use std::time::Duration;
///
/// let log = std::cell::RefCell::new(Vec::new());
/// let log_ref = &log; // children may borrow locals
/// let res: Result<(), _> = task_group(|tg| async move {
///     tg.spawn(async move {
///         ringio::time::sleep(Duration::from_secs(1)).await;
///         log_ref.borrow_mut().push("a");
///         Ok::<_, String>(())
///     }).unwrap();
///     tg.spawn(async move {
///         log_ref.borrow_mut().push("b");
///         Ok(())
///     }).unwrap();
///     Ok(())
/// }).await;
/// assert!(res.is_ok());
/// assert_eq!(*log.borrow(), ["b", "a"]);
/// # });
/// ```
///
/// # Cancel safety
///
/// Dropping the group's future drops the body and every child.
pub async fn task_group<'a, E, R, F, Fut>(body: F) -> Result<R, GroupError<E>>
where
    E: 'a,
    R: 'a,
    F: FnOnce(TaskGroup<'a, E>) -> Fut,
    Fut: Future<Output = Result<R, E>> + 'a,
{
    let inner = Rc::new(Inner {
        children: RefCell::new(slab::Slab::new()),
        closed: Cell::new(false),
        cancelled: Cell::new(false),
        list: Arc::new(ReadyList::default()),
    });
    let mut body: Option<Pin<Box<Fut>>> = Some(Box::pin(body(TaskGroup {
        inner: inner.clone(),
    })));
    let mut body_out: Option<R> = None;
    let mut errors: Vec<E> = Vec::new();
    // Drops every child outside the slab's borrow (a child's drop may touch the group).
    let drop_all = |inner: &Inner<'a, E>| {
        inner.closed.set(true);
        let children: Vec<_> = inner.children.borrow_mut().drain().collect();
        drop(children);
    };
    // A cancelled group drops the body and every child, then returns what it has.
    let cancel = |inner: &Inner<'a, E>,
                  body: &mut Option<Pin<Box<Fut>>>,
                  body_out: &mut Option<R>,
                  errors: &mut Vec<E>| {
        *body = None;
        drop_all(inner);
        match body_out.take() {
            Some(v) if errors.is_empty() => Ok(v),
            _ => Err(GroupError {
                errors: std::mem::take(errors),
            }),
        }
    };
    std::future::poll_fn(move |cx| {
        inner.list.set_parent(cx.waker());
        if inner.cancelled.get() {
            return Poll::Ready(cancel(&inner, &mut body, &mut body_out, &mut errors));
        }
        if let Some(b) = body.as_mut() {
            match catch_unwind(AssertUnwindSafe(|| b.as_mut().poll(cx))) {
                Ok(Poll::Ready(Ok(v))) => {
                    body_out = Some(v);
                    body = None;
                }
                Ok(Poll::Ready(Err(e))) => {
                    errors.push(e);
                    body = None;
                }
                Ok(Poll::Pending) => {}
                Err(payload) => {
                    body = None;
                    drop_all(&inner);
                    resume_unwind(payload);
                }
            }
        }
        // Each ready child is polled at most once per poll of the group: a child that
        // wakes itself (a yield, or an exhausted op budget) must let the rest of the
        // worker run before it is polled again.
        {
            let ready = inner.list.take();
            for idx in ready {
                // Take the child out while it runs, so it may spawn siblings.
                let taken = inner
                    .children
                    .borrow_mut()
                    .get_mut(idx)
                    .and_then(Option::take);
                let Some((mut child, waker)) = taken else {
                    continue;
                };
                let mut ccx = Context::from_waker(&waker);
                match catch_unwind(AssertUnwindSafe(|| child.as_mut().poll(&mut ccx))) {
                    Ok(Poll::Pending) => {
                        if let Some(slot) = inner.children.borrow_mut().get_mut(idx) {
                            *slot = Some((child, waker));
                        }
                    }
                    Ok(Poll::Ready(res)) => {
                        inner.children.borrow_mut().try_remove(idx);
                        drop(child);
                        if let Err(e) = res {
                            errors.push(e);
                        }
                    }
                    Err(payload) => {
                        inner.children.borrow_mut().try_remove(idx);
                        drop(child);
                        body = None;
                        drop_all(&inner);
                        resume_unwind(payload);
                    }
                }
            }
        }
        if !inner
            .list
            .ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
        {
            cx.waker().wake_by_ref();
        }
        if inner.cancelled.get() {
            return Poll::Ready(cancel(&inner, &mut body, &mut body_out, &mut errors));
        }
        if !errors.is_empty() {
            body = None;
            drop_all(&inner);
            return Poll::Ready(Err(GroupError {
                errors: std::mem::take(&mut errors),
            }));
        }
        if body.is_none() && inner.children.borrow().is_empty() {
            inner.closed.set(true);
            return Poll::Ready(Ok(body_out
                .take()
                .expect("the body's output is taken once")));
        }
        Poll::Pending
    })
    .await
}
