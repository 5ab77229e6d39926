//! The worker: one thread's tasks, driver and timers, and the loop that runs them.
//!
//! # Implementation
//!
//! One loop turn:
//!
//! 1. poll the `block_on` future if it was woken;
//! 2. move wakes from other threads (the inbox) onto the run queue;
//! 3. run queued tasks, at most [`BUDGET`] of them, so completions are reaped under load;
//! 4. fire expired timers;
//! 5. park in the driver: without waiting if anything is ready to run, else until the
//!    next timer's deadline (or, with a paused clock, jump the clock to that deadline
//!    after a non-blocking look for completed I/O).
//!
//! Parking submits every queued entry and reaps every completion in one
//! `io_uring_enter`, so a busy worker makes one syscall per turn.

use super::context;
use crate::driver::{Backend, Unparker};
use crate::task::waker::{MainWaker, TaskWaker};
use crate::task::{Header, JoinHandle, Task, TaskCell, TaskId, TaskInfo};
use crate::time::Timers;
use slab::Slab;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Tasks run per loop turn before the worker reaps I/O again.
const BUDGET: usize = 256;

/// Operations one poll of a task may complete without waiting before it is made to
/// yield. On epoll a read of a socket that always has data never waits; without this a
/// busy connection's task would starve every other task and the driver.
const OP_BUDGET: u32 = 128;

/// The part of a worker other threads can reach.
pub(crate) struct Shared {
    /// Wakes from other threads: (slab key, task id).
    inbox: Mutex<Vec<(usize, TaskId)>>,
    /// Set with every inbox push; lets the worker skip the lock when nothing came.
    inbox_nonempty: AtomicBool,
    /// The `block_on` future was woken.
    main_woken: AtomicBool,
    unparker: Arc<Unparker>,
}

impl Shared {
    /// Queues a wake from another thread, waking the worker if it may be parked.
    pub(crate) fn schedule_remote(&self, key: usize, id: TaskId) {
        let was_empty = {
            let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
            inbox.push((key, id));
            inbox.len() == 1
        };
        self.inbox_nonempty.store(true, Ordering::Release);
        if was_empty {
            self.unparker.unpark();
        }
    }

    /// Marks the `block_on` future woken; from another thread, wakes the worker too.
    pub(crate) fn wake_main(&self, on_worker_thread: bool) {
        self.main_woken.store(true, Ordering::Release);
        if !on_worker_thread {
            self.unparker.unpark();
        }
    }
}

/// Who is being polled, for `task::current()`.
#[derive(Clone, Copy)]
enum Current {
    Nobody,
    Main,
    Task(usize),
}

/// One worker's state, owned by its thread.
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    pub(crate) driver: Rc<RefCell<Backend>>,
    pub(crate) timers: Rc<Timers>,
    tasks: RefCell<Slab<Rc<dyn Task>>>,
    run_queue: RefCell<VecDeque<(usize, TaskId)>>,
    /// Finished tasks' waker handles that nobody else holds, for reuse.
    waker_pool: RefCell<Vec<Arc<TaskWaker>>>,
    current: Cell<Current>,
    /// What is left of [`OP_BUDGET`] in the current poll.
    op_budget: Cell<u32>,
    main_info: RefCell<Option<TaskInfo>>,
    /// Scratch space reused every turn.
    fired: RefCell<Vec<Waker>>,
    inbox_scratch: RefCell<Vec<(usize, TaskId)>>,
}

impl Core {
    pub(crate) fn new(driver: Backend, timers: Timers) -> Core {
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Vec::new()),
            inbox_nonempty: AtomicBool::new(false),
            main_woken: AtomicBool::new(false),
            unparker: driver.unparker(),
        });
        Core {
            shared,
            driver: Rc::new(RefCell::new(driver)),
            timers: Rc::new(timers),
            tasks: RefCell::new(Slab::with_capacity(64)),
            run_queue: RefCell::new(VecDeque::with_capacity(64)),
            waker_pool: RefCell::new(Vec::new()),
            current: Cell::new(Current::Nobody),
            op_budget: Cell::new(OP_BUDGET),
            main_info: RefCell::new(None),
            fired: RefCell::new(Vec::new()),
            inbox_scratch: RefCell::new(Vec::new()),
        }
    }

    pub(crate) fn spawn<F>(
        &self,
        future: F,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let id = TaskId::next();
        let mut tasks = self.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        let key = entry.key();
        let waker_handle = match self.waker_pool.borrow_mut().pop() {
            Some(mut handle) => {
                let w = Arc::get_mut(&mut handle).expect("pooled waker handles are unshared");
                w.key = key;
                w.id = id;
                handle
            }
            None => Arc::new(TaskWaker {
                shared: self.shared.clone(),
                key,
                id,
            }),
        };
        let header = Header {
            id,
            key,
            name,
            location,
            scheduled: Cell::new(true),
            aborted: Cell::new(false),
            finished: Cell::new(false),
            polls: Cell::new(0),
        };
        let cell = Rc::new(TaskCell::new(header, Box::pin(future), waker_handle));
        entry.insert(cell.clone());
        drop(tasks);
        self.run_queue.borrow_mut().push_back((key, id));
        JoinHandle::new(cell)
    }

    /// Queues task `(key, id)` to run, unless it is queued already or gone.
    pub(crate) fn schedule(&self, key: usize, id: TaskId) {
        let tasks = self.tasks.borrow();
        let Some(task) = tasks.get(key) else { return };
        let h = task.header();
        if h.id == id && !h.scheduled.get() && !h.finished.get() {
            h.scheduled.set(true);
            self.run_queue.borrow_mut().push_back((key, id));
        }
    }

    pub(crate) fn current_task(&self) -> Option<TaskInfo> {
        match self.current.get() {
            Current::Nobody => None,
            Current::Main => self.main_info.borrow().clone(),
            Current::Task(key) => self
                .tasks
                .borrow()
                .get(key)
                .map(|t| TaskInfo::from_header(t.header())),
        }
    }

    /// Takes one unit of the current poll's budget for completing an operation without
    /// waiting; `false` when it is spent and the task should yield.
    pub(crate) fn take_op_budget(&self) -> bool {
        match self.op_budget.get() {
            0 => false,
            n => {
                self.op_budget.set(n - 1);
                true
            }
        }
    }

    /// Tasks alive on this worker.
    pub(crate) fn task_count(&self) -> usize {
        self.tasks.borrow().len()
    }

    fn run_task(&self, key: usize, id: TaskId) {
        let task = match self.tasks.borrow().get(key) {
            Some(t) if t.header().id == id => t.clone(),
            _ => return,
        };
        self.current.set(Current::Task(key));
        self.op_budget.set(OP_BUDGET);
        let finished = task.run();
        self.current.set(Current::Nobody);
        if finished {
            let removed = self.tasks.borrow_mut().remove(key);
            if let Some(handle) = task.take_waker() {
                if Arc::strong_count(&handle) == 1 {
                    self.waker_pool.borrow_mut().push(handle);
                }
            }
            // Dropped outside the slab's borrow: a drop may wake or spawn.
            drop(removed);
        }
    }

    fn drain_inbox(&self) {
        if !self.shared.inbox_nonempty.swap(false, Ordering::Acquire) {
            return;
        }
        let mut scratch = self.inbox_scratch.borrow_mut();
        {
            let mut inbox = self.shared.inbox.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::swap(&mut *inbox, &mut *scratch);
        }
        for (key, id) in scratch.drain(..) {
            self.schedule(key, id);
        }
    }

    fn fire_timers(&self) {
        let mut fired = self.fired.borrow_mut();
        if self.timers.fire_due(&mut fired) > 0 {
            for w in fired.drain(..) {
                w.wake();
            }
        }
    }

    fn has_ready_work(&self) -> bool {
        !self.run_queue.borrow().is_empty()
            || self.shared.main_woken.load(Ordering::Acquire)
            || self.shared.inbox_nonempty.load(Ordering::Acquire)
    }

    fn park(&self, timeout: Option<Duration>) {
        let res = self.driver.borrow_mut().park(timeout);
        if let Err(e) = res {
            panic!("ringio: the I/O driver failed: {e}");
        }
    }

    /// One loop turn (steps 2-5 of the module docs).
    fn turn(&self) {
        self.drain_inbox();
        for _ in 0..BUDGET {
            let next = self.run_queue.borrow_mut().pop_front();
            let Some((key, id)) = next else { break };
            self.run_task(key, id);
        }
        self.fire_timers();
        if self.has_ready_work() {
            self.park(Some(Duration::ZERO));
            return;
        }
        let next_timer = self.timers.next_deadline();
        if self.timers.clock.is_paused() {
            self.park(Some(Duration::ZERO));
            if self.has_ready_work() {
                return;
            }
            match next_timer {
                Some(deadline) => {
                    self.timers.clock.advance_to(deadline);
                    self.fire_timers();
                }
                None => self.park(None),
            }
        } else {
            let timeout = next_timer.map(|d| d.saturating_duration_since(self.timers.clock.now()));
            self.park(timeout);
        }
    }

    /// Runs the loop until `future` completes.
    pub(crate) fn block_on<F: Future>(
        self: &Rc<Self>,
        future: F,
        location: &'static Location<'static>,
    ) -> F::Output {
        let _guard = context::enter(self.clone());
        let mut future = pin!(future);
        let waker = Waker::from(Arc::new(MainWaker {
            shared: self.shared.clone(),
        }));
        let mut cx = Context::from_waker(&waker);
        *self.main_info.borrow_mut() =
            Some(TaskInfo::new(TaskId::next(), Some("main".into()), location));
        self.shared.main_woken.store(true, Ordering::Release);
        loop {
            if self.shared.main_woken.swap(false, Ordering::AcqRel) {
                self.current.set(Current::Main);
                self.op_budget.set(OP_BUDGET);
                let polled = future.as_mut().poll(&mut cx);
                self.current.set(Current::Nobody);
                if let Poll::Ready(v) = polled {
                    return v;
                }
            }
            self.turn();
        }
    }

    /// Drops every task's future (their joins see `Cancelled`), then lets the driver
    /// cancel and drain what the kernel still holds when the last reference goes.
    pub(crate) fn shut_down(self: &Rc<Self>) {
        let _guard = context::enter_for_shutdown(self.clone());
        loop {
            // A future's drop may spawn; repeat until nothing is left.
            let tasks: Vec<Rc<dyn Task>> = self.tasks.borrow_mut().drain().collect();
            if tasks.is_empty() {
                break;
            }
            for task in tasks {
                task.shut_down();
            }
        }
        self.run_queue.borrow_mut().clear();
        self.waker_pool.borrow_mut().clear();
    }
}
