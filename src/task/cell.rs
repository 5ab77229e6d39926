//! The task cell: a spawned future, its output, and its scheduling state.
//!
//! # Implementation
//!
//! A task is an `Rc<TaskCell<T>>` shared by the worker's task slab and the
//! [`JoinHandle`](super::JoinHandle). The future is boxed (`Pin<Box<dyn Future>>`) and
//! taken out of the cell while it is polled, so code inside the poll may touch its own
//! handle freely. All state is `Cell`s: a task lives and dies on its worker's thread.
//! Only the waker crosses threads, and it carries the task's slab key and id, not the
//! task (see `waker.rs`).
//!
//! This costs two allocations per spawn (the cell and the future's box) where a raw
//! vtable task needs one. Pinning a future inline in a shared cell needs `unsafe`, and
//! ringio keeps `unsafe` to its driver and buffer layers; the spawn benchmark shows the
//! price.

use super::error::JoinError;
use super::waker::TaskWaker;
use super::TaskId;
use super::TaskInfo;
use crate::runtime::context;
use crate::runtime::{PanicKind, PanicReport};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// What every task has, whatever its output type.
pub(crate) struct Header {
    pub(crate) id: TaskId,
    pub(crate) name: Option<Box<str>>,
    pub(crate) location: &'static Location<'static>,
    /// `abort()` was called: drop the future instead of polling it.
    pub(crate) aborted: Cell<bool>,
    /// The output (or the error) is in the cell; the future is gone.
    pub(crate) finished: Cell<bool>,
    /// The `JoinHandle` was dropped: nobody will take the output.
    pub(crate) detached: Cell<bool>,
    pub(crate) polls: Cell<u64>,
    /// When the task was last polled (debug mode only: nothing is timed otherwise).
    pub(crate) last_poll: Cell<Option<std::time::Instant>>,
}

/// The worker's view of a task, without its output type.
pub(crate) trait Task {
    fn header(&self) -> &Header;

    /// Polls the future once (or drops it if aborted). True when the task has finished.
    fn run(&self) -> bool;

    /// Drops the future without polling it (runtime shutdown); the join sees `Cancelled`.
    fn shut_down(&self);

    /// Takes the task's waker handle back for reuse, once the task has finished.
    fn take_waker(&self) -> Option<Arc<TaskWaker>>;
}

/// A task's future, then its output: one slot, since a task never holds both (this
/// cell lives as long as the task, so its size is memory per idle connection).
enum Stage<T> {
    /// The future, between polls.
    Running(Pin<Box<dyn Future<Output = T>>>),
    /// The future is out for a poll, or gone; or the output was taken.
    Empty,
    /// The output (or the error), until the join takes it.
    Finished(Result<T, JoinError>),
}

pub(crate) struct TaskCell<T> {
    header: Header,
    stage: RefCell<Stage<T>>,
    join_waker: RefCell<Option<Waker>>,
    /// The handle behind `waker`, kept to recycle it when the task ends.
    waker_handle: RefCell<Option<Arc<TaskWaker>>>,
    waker: RefCell<Option<Waker>>,
}

impl<T: 'static> TaskCell<T> {
    pub(crate) fn new(
        header: Header,
        future: Pin<Box<dyn Future<Output = T>>>,
        waker_handle: Arc<TaskWaker>,
    ) -> TaskCell<T> {
        let waker = Waker::from(waker_handle.clone());
        TaskCell {
            header,
            stage: RefCell::new(Stage::Running(future)),
            join_waker: RefCell::new(None),
            waker_handle: RefCell::new(Some(waker_handle)),
            waker: RefCell::new(Some(waker)),
        }
    }

    fn finish(&self, output: Result<T, JoinError>) {
        if self.header.detached.get() {
            if let Err(e) = &output {
                if e.is_panic() {
                    report_panic(&self.header, PanicKind::DetachedTask, e);
                }
            }
        }
        *self.stage.borrow_mut() = Stage::Finished(output);
        self.header.finished.set(true);
        // The task's own waker goes now, so its handle can be recycled.
        self.waker.borrow_mut().take();
        if let Some(w) = self.join_waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// The joiner's side: the output once finished, else registers `waker`.
    pub(crate) fn poll_join(&self, waker: &Waker) -> Poll<Result<T, JoinError>> {
        if self.header.finished.get() {
            let out = self.take_output();
            return Poll::Ready(out.expect("JoinHandle polled after it returned its output"));
        }
        let mut slot = self.join_waker.borrow_mut();
        match &mut *slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
        Poll::Pending
    }

    /// Schedules the task through its own waker (works inside or outside its runtime).
    pub(crate) fn wake(&self) {
        if let Some(w) = self.waker.borrow().as_ref() {
            w.wake_by_ref();
        }
    }

    /// Registers the joiner's waker without taking anything.
    pub(crate) fn register_join_waker(&self, waker: &Waker) {
        let mut slot = self.join_waker.borrow_mut();
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Finished with a panic whose output nobody took yet.
    pub(crate) fn finished_with_panic(&self) -> bool {
        self.header.finished.get()
            && matches!(&*self.stage.borrow(), Stage::Finished(Err(e)) if e.is_panic())
    }

    /// The output, if finished and not yet taken.
    pub(crate) fn try_take_output(&self) -> Option<Result<T, JoinError>> {
        if self.header.finished.get() {
            self.take_output()
        } else {
            None
        }
    }

    /// Takes the output out of the cell, if it is there.
    fn take_output(&self) -> Option<Result<T, JoinError>> {
        let mut stage = self.stage.borrow_mut();
        match std::mem::replace(&mut *stage, Stage::Empty) {
            Stage::Finished(out) => Some(out),
            other => {
                *stage = other;
                None
            }
        }
    }

    /// Takes the future out of the cell, if it is there.
    fn take_future(&self) -> Option<Pin<Box<dyn Future<Output = T>>>> {
        let mut stage = self.stage.borrow_mut();
        match std::mem::replace(&mut *stage, Stage::Empty) {
            Stage::Running(fut) => Some(fut),
            other => {
                *stage = other;
                None
            }
        }
    }

    pub(crate) fn header_ref(&self) -> &Header {
        &self.header
    }
}

impl<T: 'static> Task for TaskCell<T> {
    fn header(&self) -> &Header {
        &self.header
    }

    fn run(&self) -> bool {
        if self.header.finished.get() {
            return true;
        }
        let Some(mut fut) = self.take_future() else {
            // Re-entered while being polled (a nested run); nothing to do.
            return false;
        };
        if self.header.aborted.get() {
            let dropped = catch_unwind(AssertUnwindSafe(move || drop(fut)));
            self.finish(Err(match dropped {
                Ok(()) => JoinError::cancelled(self.header.id),
                Err(p) => JoinError::panic(self.header.id, p),
            }));
            return true;
        }
        self.header.polls.set(self.header.polls.get() + 1);
        // Borrowed, not cloned, for the poll: no reference-count traffic per poll. Only
        // `take_waker`, after the task has finished, takes it mutably.
        let polled = {
            let waker = self.waker.borrow();
            let mut cx = Context::from_waker(waker.as_ref().expect("a running task has its waker"));
            catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)))
        };
        match polled {
            Ok(Poll::Pending) => {
                *self.stage.borrow_mut() = Stage::Running(fut);
                false
            }
            Ok(Poll::Ready(v)) => {
                drop_quietly(fut);
                self.finish(Ok(v));
                true
            }
            Err(payload) => {
                drop_quietly(fut);
                self.finish(Err(JoinError::panic(self.header.id, payload)));
                true
            }
        }
    }

    fn shut_down(&self) {
        if self.header.finished.get() {
            return;
        }
        if let Some(fut) = self.take_future() {
            drop_quietly(fut);
        }
        self.finish(Err(JoinError::cancelled(self.header.id)));
    }

    fn take_waker(&self) -> Option<Arc<TaskWaker>> {
        self.waker.borrow_mut().take();
        self.waker_handle.borrow_mut().take()
    }
}

/// Drops a finished future, keeping a panic in its destructor from unwinding into the
/// worker (the panic hook has already reported it).
fn drop_quietly<T>(fut: Pin<Box<dyn Future<Output = T>>>) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(fut)));
}

impl<T> TaskCell<T> {
    /// The `JoinHandle` is going away: report a panic it never took, else remember
    /// that a later one must be reported.
    pub(crate) fn detach(&self) {
        if self.header.finished.get() {
            if let Stage::Finished(Err(e)) = &*self.stage.borrow() {
                if e.is_panic() {
                    report_panic(&self.header, PanicKind::Unobserved, e);
                }
            }
        } else {
            self.header.detached.set(true);
        }
    }
}

/// Hands a panic to the current worker's exception handler (stderr outside a runtime).
fn report_panic(header: &Header, kind: PanicKind, err: &JoinError) {
    let report = PanicReport {
        kind,
        task: TaskInfo::from_header(header),
        message: err.panic_text(),
    };
    if context::try_with_core(|core| core.report_panic(&report)).is_none() {
        eprintln!("ringio: {report}");
    }
}
