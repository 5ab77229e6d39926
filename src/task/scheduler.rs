//! A worker's tasks: the list that owns them and the intrusive run queue, reached by
//! a local wake through a thread-local pointer, so waking a task never goes through
//! the runtime's context or the worker.

use super::error::JoinError;
use super::raw::{RawTask, COMPLETE, RUNNING, SCHEDULED};
use super::TaskId;
use crate::runtime::worker::Shared;
use slab::Slab;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

thread_local! {
    /// The scheduler of the worker running on this thread, while it runs.
    static ACTIVE: Cell<*const Scheduler> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with this thread's scheduler if it belongs to the worker `home`; false if
/// it does not (another thread, no worker running, or the thread is being torn down).
pub(crate) fn with_local(home: &Arc<Shared>, f: impl FnOnce(&Scheduler)) -> bool {
    ACTIVE
        .try_with(|active| {
            let ptr = active.get();
            if ptr.is_null() {
                return false;
            }
            // SAFETY: `ACTIVE` points at a scheduler only between `Scheduler::enter`
            // and the drop of its guard, which the scheduler's owner outlives.
            let sched = unsafe { &*ptr };
            if !std::ptr::eq(sched.home, Arc::as_ptr(home)) {
                return false;
            }
            f(sched);
            true
        })
        .unwrap_or(false)
}

/// Restores the previously active scheduler.
pub(crate) struct ActiveGuard {
    prev: *const Scheduler,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let prev = self.prev;
        let _ = ACTIVE.try_with(|a| a.set(prev));
    }
}

/// One worker's tasks.
pub(crate) struct Scheduler {
    /// The worker's shared half: its identity for local wakes.
    home: *const Shared,
    head: Cell<Option<RawTask>>,
    tail: Cell<Option<RawTask>>,
    queued: Cell<usize>,
    /// Shutting down: tasks are being released, so nothing is linked any more.
    closing: Cell<bool>,
    /// Every task not yet released, each holding the worker's reference.
    tasks: RefCell<Slab<RawTask>>,
}

impl Scheduler {
    pub(crate) fn new(home: &Arc<Shared>) -> Scheduler {
        Scheduler {
            home: Arc::as_ptr(home),
            head: Cell::new(None),
            tail: Cell::new(None),
            queued: Cell::new(0),
            closing: Cell::new(false),
            tasks: RefCell::new(Slab::with_capacity(64)),
        }
    }

    /// Makes this the thread's active scheduler until the guard drops. The caller
    /// keeps `self` alive (and in place) for as long as the guard lives.
    pub(crate) fn enter(&self) -> ActiveGuard {
        let prev = ACTIVE.with(|a| a.replace(self as *const Scheduler));
        ActiveGuard { prev }
    }

    /// Makes a task, queued to run unless `run_now` (the caller then runs it with
    /// [`run`](Scheduler::run) at once); returns it with the handle's reference.
    pub(crate) fn spawn<F>(
        &self,
        home: Arc<Shared>,
        future: F,
        id: TaskId,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
        run_now: bool,
    ) -> RawTask
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let task = RawTask::new(future, home, id, name, location);
        let key = self.tasks.borrow_mut().insert(task);
        task.header()
            .key
            .set(u32::try_from(key).expect("fewer than 2^32 live tasks on a worker"));
        if !run_now {
            task.set(SCHEDULED);
            self.push(task);
        }
        task
    }

    /// Appends to the run queue (the task is `SCHEDULED`). During shutdown nothing is
    /// linked: the queue's tail may be a released task, and shutdown drops every task
    /// from the task list anyway.
    pub(crate) fn push(&self, task: RawTask) {
        if self.closing.get() {
            return;
        }
        task.header().next.set(None);
        match self.tail.get() {
            Some(tail) => tail.header().next.set(Some(task)),
            None => self.head.set(Some(task)),
        }
        self.tail.set(Some(task));
        self.queued.set(self.queued.get() + 1);
    }

    /// Takes the next task off the run queue.
    pub(crate) fn pop(&self) -> Option<RawTask> {
        let task = self.head.get()?;
        let next = task.header().next.get();
        self.head.set(next);
        if next.is_none() {
            self.tail.set(None);
        }
        self.queued.set(self.queued.get() - 1);
        Some(task)
    }

    pub(crate) fn has_queued(&self) -> bool {
        self.head.get().is_some()
    }

    /// Tasks alive.
    pub(crate) fn len(&self) -> usize {
        self.tasks.borrow().len()
    }

    /// Runs `f` over every live task.
    pub(crate) fn for_each(&self, mut f: impl FnMut(RawTask)) {
        for (_, &task) in self.tasks.borrow().iter() {
            f(task);
        }
    }

    /// Runs a task just taken off the queue (or just spawned with `run_now`): polls
    /// it through `poll` (which wraps [`RawTask::poll`] with the worker's accounting)
    /// unless it completed meanwhile, then completes and releases it if it is done. A
    /// panic nobody can observe goes to `report` while the task is still alive.
    pub(crate) fn run(
        &self,
        task: RawTask,
        poll: impl FnOnce(RawTask) -> bool,
        report: impl FnOnce(RawTask, JoinError),
    ) {
        task.clear(SCHEDULED);
        if task.is(COMPLETE) {
            // Woken during its last poll: this was its last place on the queue.
            self.release(task);
            return;
        }
        task.set(RUNNING);
        let finished = poll(task);
        task.clear(RUNNING);
        if !finished {
            return;
        }
        if let Some(panic) = task.complete() {
            report(task, panic);
        }
        if !task.is(SCHEDULED) {
            self.release(task);
        }
    }

    /// Drops the worker's reference to a complete task that is off the queue.
    fn release(&self, task: RawTask) {
        self.tasks
            .borrow_mut()
            .try_remove(task.header().key.get() as usize);
        task.release_owned();
    }

    /// Runtime shutdown: drops every task's future unpolled (joins see `Cancelled`)
    /// and releases every task. `report` gets the panics nobody can observe.
    pub(crate) fn shut_down(&self, mut report: impl FnMut(RawTask, JoinError)) {
        // Unlink the queue while every task on it is still alive.
        while let Some(task) = self.pop() {
            task.clear(SCHEDULED);
        }
        self.closing.set(true);
        loop {
            // A future's drop may spawn or wake; repeat until nothing is left.
            let tasks: Vec<RawTask> = self.tasks.borrow_mut().drain().collect();
            if tasks.is_empty() {
                break;
            }
            for task in tasks {
                if !task.is(COMPLETE) {
                    task.cancel();
                    if let Some(panic) = task.complete() {
                        report(task, panic);
                    }
                }
                task.clear(SCHEDULED);
                task.release_owned();
            }
        }
        self.closing.set(false);
    }
}
