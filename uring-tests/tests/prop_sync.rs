//! Property tests of the queue family (Queue, PriorityQueue, LifoQueue, and the
//! cross-core shared::Queue) and of Semaphore / BoundedSemaphore / shared::Semaphore
//! against reference models, under random interleavings of operations from several
//! tasks.
//!
//! Each "task" is a slot holding at most one pending future (a put, get or join; an
//! acquire) and, for the semaphores, the permits it holds. A case is a random
//! sequence of steps: a task starts an operation (polled once at once, as a spawned
//! task's first poll), a task is polled (woken or not: a spurious poll), a task's
//! pending operation is cancelled by dropping it, or a non-waiting call runs
//! (`try_put`, `try_get`, `task_done`, `shutdown`; `try_acquire`, a permit dropped
//! or forgotten, `add_permits`). Every task has its own waker, which records whether
//! it was woken.
//!
//! The models follow ASYNCIO.md §4 and the grant rules of `sync/state`: items leave
//! only in the poll that returns them, in FIFO / LIFO / least-first order; a put or
//! get wakes the front waiter of the other side, which queues again at the front if a
//! newcomer took what it was woken for; a woken waiter that is dropped passes its
//! wake-up on; joiners are released when the unfinished count reaches zero; shutdown
//! wakes everyone, puts fail with their item, gets drain then fail. Semaphore permits
//! go to queued waiters strictly in arrival order, while the front request fits, and
//! `try_acquire` fails while anyone is queued. After every step the test checks each
//! result against the model, which tasks have been woken (exactly the model's granted
//! ones: no lost and no spurious wake-up), and the counts (`len`, `unfinished`,
//! `is_full`, `available_permits`, `is_locked`).
//!
//! Run inside a runtime on both drivers. 128 cases per kind by default;
//! `PROPTEST_CASES` raises them.

mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use ringio::runtime::Driver;
use ringio::sync::{
    shared, Acquire, BoundedSemaphore, Get, LifoQueue, PriorityQueue, Put, Queue, QueueJoin,
    Semaphore, SemaphorePermit, Shutdown, TryGetError, TryPutError,
};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Tasks per case.
const TASKS: usize = 4;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// A task's waker: records that it was woken.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

struct TaskWaker {
    flag: Arc<Flag>,
    waker: Waker,
}

impl TaskWaker {
    fn new() -> TaskWaker {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        TaskWaker {
            waker: Waker::from(flag.clone()),
            flag,
        }
    }

    fn woken(&self) -> bool {
        self.flag.0.load(Ordering::SeqCst)
    }

    /// Forgets past wake-ups (the task is about to run, or its operation is gone).
    fn reset(&self) {
        self.flag.0.store(false, Ordering::SeqCst);
    }

    /// Polls `fut` as this task.
    fn poll<F: Future + Unpin>(&self, fut: &mut F) -> Poll<F::Output> {
        self.reset();
        Pin::new(fut).poll(&mut Context::from_waker(&self.waker))
    }
}

/// A waiter's state in a model: queued in its list, or granted (woken) and not yet
/// run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum W {
    Queued,
    Granted,
}

// ---------------------------------------------------------------- queues

#[derive(Clone, Copy, Debug)]
enum Kind {
    Fifo,
    Priority,
    Lifo,
    /// `shared::Queue` (FIFO), polled on this worker.
    Shared,
}

#[derive(Clone, Debug)]
enum QOp {
    /// Task starts `put(item of weight v)`.
    Put(usize, u8),
    /// Task starts `get()`.
    Get(usize),
    /// Task starts `join()`.
    Join(usize),
    /// Task is polled.
    Poll(usize),
    /// Task's pending operation is dropped.
    Cancel(usize),
    TryPut(u8),
    TryGet,
    TaskDone,
    Shutdown(bool),
}

fn qop() -> impl Strategy<Value = QOp> {
    let t = 0..TASKS;
    prop_oneof![
        4 => (t.clone(), any::<u8>()).prop_map(|(t, v)| QOp::Put(t, v)),
        4 => t.clone().prop_map(QOp::Get),
        1 => t.clone().prop_map(QOp::Join),
        8 => t.clone().prop_map(QOp::Poll),
        2 => t.prop_map(QOp::Cancel),
        2 => any::<u8>().prop_map(QOp::TryPut),
        2 => Just(QOp::TryGet),
        2 => Just(QOp::TaskDone),
    ]
}

/// One of the three queues, or the cross-core one.
enum AnyQueue {
    Fifo(Queue<u32>),
    Priority(PriorityQueue<u32>),
    Lifo(LifoQueue<u32>),
    Shared(shared::Queue<u32>),
}

macro_rules! each {
    ($q:expr, $x:ident => $e:expr) => {
        match $q {
            AnyQueue::Fifo($x) => $e,
            AnyQueue::Priority($x) => $e,
            AnyQueue::Lifo($x) => $e,
            AnyQueue::Shared($x) => $e,
        }
    };
}

/// The same, for the operations whose futures differ between the two forms.
macro_rules! each_fut {
    ($q:expr, $x:ident => $local:expr, $shared:expr) => {
        match $q {
            AnyQueue::Fifo($x) => $local,
            AnyQueue::Priority($x) => $local,
            AnyQueue::Lifo($x) => $local,
            AnyQueue::Shared($x) => $shared,
        }
    };
}

impl AnyQueue {
    fn new(kind: Kind, cap: Option<usize>) -> AnyQueue {
        match (kind, cap) {
            (Kind::Fifo, Some(n)) => AnyQueue::Fifo(Queue::bounded(n)),
            (Kind::Fifo, None) => AnyQueue::Fifo(Queue::unbounded()),
            (Kind::Priority, Some(n)) => AnyQueue::Priority(PriorityQueue::bounded(n)),
            (Kind::Priority, None) => AnyQueue::Priority(PriorityQueue::unbounded()),
            (Kind::Lifo, Some(n)) => AnyQueue::Lifo(LifoQueue::bounded(n)),
            (Kind::Lifo, None) => AnyQueue::Lifo(LifoQueue::unbounded()),
            (Kind::Shared, Some(n)) => AnyQueue::Shared(shared::Queue::bounded(n)),
            (Kind::Shared, None) => AnyQueue::Shared(shared::Queue::unbounded()),
        }
    }
    fn put(&self, v: u32) -> QFut<'_> {
        each_fut!(self, q => QFut::Put(q.put(v)), QFut::SPut(q.put(v)))
    }
    fn get(&self) -> QFut<'_> {
        each_fut!(self, q => QFut::Get(q.get()), QFut::SGet(q.get()))
    }
    fn join(&self) -> QFut<'_> {
        each_fut!(self, q => QFut::Join(q.join()), QFut::SJoin(q.join()))
    }
    fn try_put(&self, v: u32) -> Result<(), TryPutError<u32>> {
        each!(self, q => q.try_put(v))
    }
    fn try_get(&self) -> Result<u32, TryGetError> {
        each!(self, q => q.try_get())
    }
    fn task_done(&self) -> bool {
        each!(self, q => q.task_done().is_ok())
    }
    fn shutdown(&self, immediate: bool) {
        each!(self, q => q.shutdown(immediate))
    }
    fn counts(&self) -> (usize, usize, bool, bool) {
        each!(self, q => (q.len(), q.unfinished(), q.is_full(), q.is_shutdown()))
    }
}

/// A task's pending queue operation.
enum QFut<'a> {
    Put(Put<'a, u32>),
    Get(Get<'a, u32>),
    Join(QueueJoin<'a, u32>),
    SPut(shared::Put<'a, u32>),
    SGet(shared::Get<'a, u32>),
    SJoin(shared::QueueJoin<'a, u32>),
}

/// What a completed operation returned.
#[derive(Debug, PartialEq)]
enum QOut {
    Put(Result<(), u32>),
    Get(Result<u32, ()>),
    Join,
}

fn poll_qfut(w: &TaskWaker, f: &mut QFut<'_>) -> Poll<QOut> {
    match f {
        QFut::Put(p) => w.poll(p).map(|r| QOut::Put(r.map_err(|Shutdown(v)| v))),
        QFut::Get(g) => w.poll(g).map(|r| QOut::Get(r.map_err(|_| ()))),
        QFut::Join(j) => w.poll(j).map(|()| QOut::Join),
        QFut::SPut(p) => w.poll(p).map(|r| QOut::Put(r.map_err(|Shutdown(v)| v))),
        QFut::SGet(g) => w.poll(g).map(|r| QOut::Get(r.map_err(|_| ()))),
        QFut::SJoin(j) => w.poll(j).map(|()| QOut::Join),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum MSlot {
    Idle,
    Get(W),
    Put(u32, W),
    Join(W),
}

/// The queue model.
struct QModel {
    kind: Kind,
    items: Vec<u32>,
    cap: usize,
    unfinished: usize,
    shutdown: bool,
    getters: VecDeque<usize>,
    putters: VecDeque<usize>,
    joiners: Vec<usize>,
    slots: [MSlot; TASKS],
}

impl QModel {
    fn full(&self) -> bool {
        self.items.len() >= self.cap
    }

    fn grant(&mut self, s: usize) {
        self.slots[s] = match self.slots[s] {
            MSlot::Get(W::Queued) => MSlot::Get(W::Granted),
            MSlot::Put(v, W::Queued) => MSlot::Put(v, W::Granted),
            MSlot::Join(W::Queued) => MSlot::Join(W::Granted),
            other => panic!("model: grant to {other:?}"),
        };
    }

    fn grant_getter(&mut self) {
        if let Some(s) = self.getters.pop_front() {
            self.grant(s);
        }
    }

    fn grant_putter(&mut self) {
        if let Some(s) = self.putters.pop_front() {
            self.grant(s);
        }
    }

    fn grant_joiners(&mut self) {
        for s in std::mem::take(&mut self.joiners) {
            self.grant(s);
        }
    }

    fn push(&mut self, v: u32) {
        self.items.push(v);
        self.unfinished += 1;
        self.grant_getter();
    }

    fn pop(&mut self) -> Option<u32> {
        if self.items.is_empty() {
            return None;
        }
        let v = match self.kind {
            Kind::Fifo | Kind::Shared => self.items.remove(0),
            Kind::Lifo => self.items.pop().unwrap(),
            Kind::Priority => {
                let i = (0..self.items.len())
                    .min_by_key(|&i| self.items[i])
                    .unwrap();
                self.items.remove(i)
            }
        };
        self.grant_putter();
        Some(v)
    }

    fn unlist(list: &mut VecDeque<usize>, s: usize) {
        list.retain(|&x| x != s);
    }

    /// Parks task `s` on `side` (getters if `get`): new at the back, granted again at
    /// the front.
    fn park(&mut self, s: usize, get: bool, new: MSlot) {
        let list = if get {
            &mut self.getters
        } else {
            &mut self.putters
        };
        self.slots[s] = match self.slots[s] {
            MSlot::Idle => {
                list.push_back(s);
                new
            }
            MSlot::Get(W::Granted) | MSlot::Put(_, W::Granted) => {
                list.push_front(s);
                new
            }
            queued => queued,
        };
    }

    /// Task `s` polled (or started, when idle) with operation `op`.
    fn poll(&mut self, s: usize, op: MSlot) -> Option<QOut> {
        match op {
            MSlot::Get(_) => {
                if let Some(v) = self.pop() {
                    Self::unlist(&mut self.getters, s);
                    self.slots[s] = MSlot::Idle;
                    return Some(QOut::Get(Ok(v)));
                }
                if self.shutdown {
                    Self::unlist(&mut self.getters, s);
                    self.slots[s] = MSlot::Idle;
                    return Some(QOut::Get(Err(())));
                }
                self.park(s, true, MSlot::Get(W::Queued));
                None
            }
            MSlot::Put(v, _) => {
                if self.shutdown || !self.full() {
                    Self::unlist(&mut self.putters, s);
                    self.slots[s] = MSlot::Idle;
                    if self.shutdown {
                        return Some(QOut::Put(Err(v)));
                    }
                    self.push(v);
                    return Some(QOut::Put(Ok(())));
                }
                self.park(s, false, MSlot::Put(v, W::Queued));
                None
            }
            MSlot::Join(_) => match self.slots[s] {
                MSlot::Idle if self.unfinished == 0 => Some(QOut::Join),
                MSlot::Idle => {
                    self.joiners.push(s);
                    self.slots[s] = MSlot::Join(W::Queued);
                    None
                }
                MSlot::Join(W::Granted) => {
                    self.slots[s] = MSlot::Idle;
                    Some(QOut::Join)
                }
                _ => None,
            },
            MSlot::Idle => unreachable!(),
        }
    }

    fn cancel(&mut self, s: usize) {
        match self.slots[s] {
            MSlot::Idle => {}
            MSlot::Get(w) => {
                Self::unlist(&mut self.getters, s);
                self.slots[s] = MSlot::Idle;
                if w == W::Granted && !self.items.is_empty() && !self.shutdown {
                    self.grant_getter();
                }
            }
            MSlot::Put(_, w) => {
                Self::unlist(&mut self.putters, s);
                self.slots[s] = MSlot::Idle;
                if w == W::Granted && self.items.len() < self.cap && !self.shutdown {
                    self.grant_putter();
                }
            }
            MSlot::Join(_) => {
                self.joiners.retain(|&x| x != s);
                self.slots[s] = MSlot::Idle;
            }
        }
    }

    fn shutdown(&mut self, immediate: bool) {
        self.shutdown = true;
        if immediate {
            let n = self.items.len();
            self.items.clear();
            self.unfinished = self.unfinished.saturating_sub(n);
            if self.unfinished == 0 {
                self.grant_joiners();
            }
        }
        while !self.getters.is_empty() {
            self.grant_getter();
        }
        while !self.putters.is_empty() {
            self.grant_putter();
        }
    }
}

/// Task `s` starts `new`, or is polled: the real poll against the model's.
fn run_task<'a>(
    step: usize,
    s: usize,
    new: Option<(QFut<'a>, MSlot)>,
    futs: &mut [Option<QFut<'a>>],
    m: &mut QModel,
    wakers: &[TaskWaker],
) -> Result<(), TestCaseError> {
    let mop = match new {
        Some((f, mop)) => {
            futs[s] = Some(f);
            mop
        }
        None => m.slots[s],
    };
    let got = poll_qfut(&wakers[s], futs[s].as_mut().unwrap());
    let want = m.poll(s, mop);
    match got {
        Poll::Ready(out) => {
            futs[s] = None;
            prop_assert_eq!(Some(out), want, "step {}: task {}", step, s);
        }
        Poll::Pending => prop_assert_eq!(None, want, "step {}: task {}", step, s),
    }
    Ok(())
}

fn queue_case(kind: Kind, cap: Option<usize>, ops: &[QOp]) -> Result<(), TestCaseError> {
    let q = AnyQueue::new(kind, cap);
    let mut m = QModel {
        kind,
        items: Vec::new(),
        cap: cap.unwrap_or(usize::MAX),
        unfinished: 0,
        shutdown: false,
        getters: VecDeque::new(),
        putters: VecDeque::new(),
        joiners: Vec::new(),
        slots: [MSlot::Idle; TASKS],
    };
    let wakers: Vec<TaskWaker> = (0..TASKS).map(|_| TaskWaker::new()).collect();
    let mut futs: Vec<Option<QFut<'_>>> = (0..TASKS).map(|_| None).collect();
    let mut serial = 0u32;
    let mut item = |v: u8| {
        serial += 1;
        u32::from(v) << 16 | serial
    };
    for (step, op) in ops.iter().enumerate() {
        match *op {
            QOp::Put(s, v) if futs[s].is_none() => {
                let v = item(v);
                run_task(
                    step,
                    s,
                    Some((q.put(v), MSlot::Put(v, W::Queued))),
                    &mut futs,
                    &mut m,
                    &wakers,
                )?;
            }
            QOp::Get(s) if futs[s].is_none() => {
                run_task(
                    step,
                    s,
                    Some((q.get(), MSlot::Get(W::Queued))),
                    &mut futs,
                    &mut m,
                    &wakers,
                )?;
            }
            QOp::Join(s) if futs[s].is_none() => {
                run_task(
                    step,
                    s,
                    Some((q.join(), MSlot::Join(W::Queued))),
                    &mut futs,
                    &mut m,
                    &wakers,
                )?;
            }
            QOp::Put(..) | QOp::Get(_) | QOp::Join(_) => {}
            QOp::Poll(s) if futs[s].is_some() => {
                run_task(step, s, None, &mut futs, &mut m, &wakers)?
            }
            QOp::Poll(_) => {}
            QOp::Cancel(s) => {
                futs[s] = None;
                wakers[s].reset();
                m.cancel(s);
            }
            QOp::TryPut(v) => {
                let v = item(v);
                let got = q.try_put(v);
                let want = if m.shutdown {
                    Err("shutdown")
                } else if m.full() {
                    Err("full")
                } else {
                    m.push(v);
                    Ok(())
                };
                let got = got.map_err(|e| match e {
                    TryPutError::Full(x) if x == v => "full",
                    TryPutError::Shutdown(x) if x == v => "shutdown",
                    _ => "wrong item back",
                });
                prop_assert_eq!(got, want, "step {}: try_put", step);
            }
            QOp::TryGet => {
                let got = q.try_get();
                let want = match m.pop() {
                    Some(v) => Ok(v),
                    None if m.shutdown => Err(TryGetError::Shutdown),
                    None => Err(TryGetError::Empty),
                };
                prop_assert_eq!(got, want, "step {}: try_get", step);
            }
            QOp::TaskDone => {
                let want = m.unfinished > 0;
                if want {
                    m.unfinished -= 1;
                    if m.unfinished == 0 {
                        m.grant_joiners();
                    }
                }
                prop_assert_eq!(q.task_done(), want, "step {}: task_done", step);
            }
            QOp::Shutdown(immediate) => {
                q.shutdown(immediate);
                m.shutdown(immediate);
            }
        }
        // Wake-ups: exactly the model's granted tasks, none lost, none spurious.
        for (s, (waker, slot)) in wakers.iter().zip(&m.slots).enumerate() {
            let granted = matches!(
                slot,
                MSlot::Get(W::Granted) | MSlot::Put(_, W::Granted) | MSlot::Join(W::Granted)
            );
            prop_assert_eq!(
                waker.woken(),
                granted,
                "step {} ({:?}): task {} woken, model {:?}",
                step,
                op,
                s,
                slot
            );
        }
        let (len, unfinished, full, shut) = q.counts();
        prop_assert_eq!(
            (len, unfinished, full, shut),
            (m.items.len(), m.unfinished, m.full(), m.shutdown),
            "step {}: counts",
            step
        );
    }
    // Every pending operation is dropped (cancelled) at the end.
    for (s, f) in futs.iter_mut().enumerate() {
        *f = None;
        m.cancel(s);
    }
    prop_assert_eq!(q.counts().0, m.items.len());
    Ok(())
}

fn queues(d: Driver) {
    support::rt(d).block_on(async {
        for kind in [Kind::Fifo, Kind::Priority, Kind::Lifo, Kind::Shared] {
            // A shutdown in one case of four, at a random step: the rest of that
            // case is the drain.
            let strategy = (
                prop_oneof![Just(None), (1usize..4).prop_map(Some)],
                proptest::collection::vec(qop(), 1..120),
                prop_oneof![
                    3 => Just(None),
                    1 => (0usize..120, any::<bool>()).prop_map(Some),
                ],
            );
            TestRunner::new(config())
                .run(&strategy, |(cap, mut ops, shutdown)| {
                    if let Some((at, immediate)) = shutdown {
                        ops.insert(at.min(ops.len()), QOp::Shutdown(immediate));
                    }
                    queue_case(kind, cap, &ops)
                })
                .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        }
    });
}

// ---------------------------------------------------------------- semaphores

#[derive(Clone, Debug)]
enum SOp {
    /// Task starts `acquire_many(n)`.
    Acquire(usize, usize),
    Poll(usize),
    Cancel(usize),
    /// Task tries `try_acquire_many(n)`, keeping the permit.
    TryAcquire(usize, usize),
    /// Task drops its oldest permit.
    Release(usize),
    /// Task forgets its oldest permit.
    Forget(usize),
    AddPermits(usize),
}

fn sop() -> impl Strategy<Value = SOp> {
    let t = 0..TASKS;
    prop_oneof![
        4 => (t.clone(), 1usize..=3).prop_map(|(t, n)| SOp::Acquire(t, n)),
        6 => t.clone().prop_map(SOp::Poll),
        2 => t.clone().prop_map(SOp::Cancel),
        2 => (t.clone(), 1usize..=3).prop_map(|(t, n)| SOp::TryAcquire(t, n)),
        5 => t.clone().prop_map(SOp::Release),
        1 => t.prop_map(SOp::Forget),
        2 => (1usize..=2).prop_map(SOp::AddPermits),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum SemKind {
    Plain,
    Bounded,
    /// `shared::Semaphore`, polled on this worker.
    Shared,
}

/// A semaphore, a bounded one, or the cross-core one.
enum AnySem {
    Plain(Semaphore),
    Bounded(BoundedSemaphore),
    Shared(shared::Semaphore),
}

/// A pending acquire of either form.
enum AnyAcquire<'a> {
    Local(Acquire<'a>),
    Shared(shared::Acquire<'a>),
}

/// A permit of either form.
enum AnyPermit<'a> {
    Local(SemaphorePermit<'a>),
    Shared(shared::SemaphorePermit<'a>),
}

impl AnyPermit<'_> {
    fn permits(&self) -> usize {
        match self {
            AnyPermit::Local(p) => p.permits(),
            AnyPermit::Shared(p) => p.permits(),
        }
    }
    fn forget(self) {
        match self {
            AnyPermit::Local(p) => p.forget(),
            AnyPermit::Shared(p) => p.forget(),
        }
    }
}

impl<'a> AnyAcquire<'a> {
    fn poll(&mut self, w: &TaskWaker) -> Poll<AnyPermit<'a>> {
        match self {
            AnyAcquire::Local(f) => w.poll(f).map(AnyPermit::Local),
            AnyAcquire::Shared(f) => w.poll(f).map(AnyPermit::Shared),
        }
    }
}

impl AnySem {
    fn acquire_many(&self, n: usize) -> AnyAcquire<'_> {
        match self {
            AnySem::Plain(s) => AnyAcquire::Local(s.acquire_many(n)),
            AnySem::Bounded(s) => AnyAcquire::Local(s.acquire_many(n)),
            AnySem::Shared(s) => AnyAcquire::Shared(s.acquire_many(n)),
        }
    }
    fn try_acquire_many(&self, n: usize) -> Option<AnyPermit<'_>> {
        match self {
            AnySem::Plain(s) => s.try_acquire_many(n).map(AnyPermit::Local),
            AnySem::Bounded(s) => s.try_acquire_many(n).map(AnyPermit::Local),
            AnySem::Shared(s) => s.try_acquire_many(n).map(AnyPermit::Shared),
        }
    }
    fn add_permits(&self, n: usize) -> bool {
        match self {
            AnySem::Plain(s) => {
                s.add_permits(n);
                true
            }
            AnySem::Bounded(s) => s.add_permits(n).is_ok(),
            AnySem::Shared(s) => {
                s.add_permits(n);
                true
            }
        }
    }
    fn counts(&self) -> (usize, bool) {
        match self {
            AnySem::Plain(s) => (s.available_permits(), s.is_locked()),
            AnySem::Bounded(s) => (s.available_permits(), s.is_locked()),
            AnySem::Shared(s) => (s.available_permits(), s.is_locked()),
        }
    }
}

/// The semaphore model.
struct SModel {
    permits: usize,
    held: usize,
    bound: Option<usize>,
    /// Queued waiters, oldest first: (task, permits asked).
    waiters: VecDeque<(usize, usize)>,
    /// Each task's pending acquire: (permits, state).
    pending: [Option<(usize, W)>; TASKS],
    /// Each task's permits, oldest first.
    holding: [Vec<usize>; TASKS],
}

impl SModel {
    fn grant(&mut self) {
        while let Some(&(s, n)) = self.waiters.front() {
            if n > self.permits {
                break;
            }
            self.waiters.pop_front();
            self.permits -= n;
            self.held += n;
            self.pending[s] = Some((n, W::Granted));
        }
    }

    fn try_acquire(&mut self, n: usize) -> bool {
        if self.waiters.is_empty() && self.permits >= n {
            self.permits -= n;
            self.held += n;
            true
        } else {
            false
        }
    }

    fn release(&mut self, n: usize) {
        self.held -= n;
        self.permits += n;
        self.grant();
    }
}

fn sem_case(kind: SemKind, initial: usize, ops: &[SOp]) -> Result<(), TestCaseError> {
    let bounded = kind == SemKind::Bounded;
    let sem = match kind {
        SemKind::Plain => AnySem::Plain(Semaphore::new(initial)),
        SemKind::Bounded => AnySem::Bounded(BoundedSemaphore::new(initial)),
        SemKind::Shared => AnySem::Shared(shared::Semaphore::new(initial)),
    };
    let mut m = SModel {
        permits: initial,
        held: 0,
        bound: bounded.then_some(initial),
        waiters: VecDeque::new(),
        pending: [None; TASKS],
        holding: Default::default(),
    };
    // A bounded semaphore refuses (panics on) a request above its bound.
    let clamp = |n: usize| if bounded { n.min(initial) } else { n };
    let wakers: Vec<TaskWaker> = (0..TASKS).map(|_| TaskWaker::new()).collect();
    let mut futs: Vec<Option<AnyAcquire<'_>>> = (0..TASKS).map(|_| None).collect();
    let mut permits: Vec<Vec<AnyPermit<'_>>> = (0..TASKS).map(|_| Vec::new()).collect();
    for (step, op) in ops.iter().enumerate() {
        match *op {
            SOp::Acquire(s, n) if futs[s].is_none() => {
                let n = clamp(n);
                let mut f = sem.acquire_many(n);
                let got = f.poll(&wakers[s]);
                let want = m.try_acquire(n);
                prop_assert_eq!(got.is_ready(), want, "step {}: acquire({})", step, n);
                match got {
                    Poll::Ready(p) => {
                        prop_assert_eq!(p.permits(), n);
                        permits[s].push(p);
                        m.holding[s].push(n);
                    }
                    Poll::Pending => {
                        futs[s] = Some(f);
                        m.waiters.push_back((s, n));
                        m.pending[s] = Some((n, W::Queued));
                    }
                }
            }
            SOp::Acquire(..) => {}
            SOp::Poll(s) => {
                let Some(f) = futs[s].as_mut() else { continue };
                let got = f.poll(&wakers[s]);
                let (n, w) = m.pending[s].unwrap();
                prop_assert_eq!(got.is_ready(), w == W::Granted, "step {}: poll", step);
                if let Poll::Ready(p) = got {
                    prop_assert_eq!(p.permits(), n);
                    futs[s] = None;
                    permits[s].push(p);
                    m.holding[s].push(n);
                    m.pending[s] = None;
                }
            }
            SOp::Cancel(s) => {
                futs[s] = None;
                wakers[s].reset();
                if let Some((n, w)) = m.pending[s].take() {
                    match w {
                        W::Granted => m.release(n),
                        W::Queued => {
                            m.waiters.retain(|&(x, _)| x != s);
                            m.grant();
                        }
                    }
                }
            }
            SOp::TryAcquire(s, n) => {
                let n = clamp(n);
                let got = sem.try_acquire_many(n);
                prop_assert_eq!(got.is_some(), m.try_acquire(n), "step {}: try", step);
                if let Some(p) = got {
                    permits[s].push(p);
                    m.holding[s].push(n);
                }
            }
            SOp::Release(s) if !permits[s].is_empty() => {
                drop(permits[s].remove(0));
                let n = m.holding[s].remove(0);
                m.release(n);
            }
            SOp::Forget(s) if !permits[s].is_empty() => {
                permits[s].remove(0).forget();
                m.held -= m.holding[s].remove(0);
            }
            SOp::Release(_) | SOp::Forget(_) => {}
            SOp::AddPermits(n) => {
                let want = match m.bound {
                    Some(b) if m.permits + n + m.held > b => false,
                    _ => {
                        m.permits += n;
                        m.grant();
                        true
                    }
                };
                prop_assert_eq!(sem.add_permits(n), want, "step {}: add_permits", step);
            }
        }
        for (s, (waker, pending)) in wakers.iter().zip(&m.pending).enumerate() {
            let granted = matches!(pending, Some((_, W::Granted)));
            prop_assert_eq!(
                waker.woken(),
                granted,
                "step {} ({:?}): task {} woken, model {:?}",
                step,
                op,
                s,
                pending
            );
        }
        let locked = m.permits == 0 || !m.waiters.is_empty();
        prop_assert_eq!(sem.counts(), (m.permits, locked), "step {}: counts", step);
    }
    // Drop everything: the permits all come back.
    futs.clear();
    permits.clear();
    m.waiters.clear();
    for s in 0..TASKS {
        if let Some((n, W::Granted)) = m.pending[s].take() {
            m.release(n);
        }
        for n in std::mem::take(&mut m.holding[s]) {
            m.release(n);
        }
    }
    prop_assert_eq!(sem.counts().0, m.permits);
    Ok(())
}

fn semaphores(d: Driver) {
    support::rt(d).block_on(async {
        for kind in [SemKind::Plain, SemKind::Bounded, SemKind::Shared] {
            let strategy = (
                // A bounded semaphore of 0 could grant nothing: its acquires would panic.
                if kind == SemKind::Bounded {
                    1usize..=3
                } else {
                    0usize..=3
                },
                proptest::collection::vec(sop(), 1..120),
            );
            TestRunner::new(config())
                .run(&strategy, |(initial, ops)| sem_case(kind, initial, &ops))
                .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        }
    });
}

both_drivers!(queues, semaphores);
