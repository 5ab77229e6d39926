//! Randomized: many tasks on one worker share a Lock, a Semaphore, a bounded queue (each
//! kind in turn), an Event and a Condition, while a chaos loop spawns tasks, aborts
//! random ones at random points (often right after granting them something), and
//! pokes the primitives itself. Several fixed seeds, so a failure repeats.
//!
//! What it asserts:
//!
//! - **No lost wake-up**, checked whenever every task is blocked (after `settle`):
//!   the lock is free and every permit is back (holders only yield, so a held one
//!   would mean a waiter was never woken), no getter waits while an item is queued, no
//!   putter waits while there is room, no event waiter waits while the event is set,
//!   and no condition waiter waits while a token is there to take. And the whole run
//!   completes within a bounded number of steps and of paused time.
//! - **Exactly once**: every item whose put returned `Ok` is got exactly once, and
//!   `join` returns once each was marked done.

mod support;

use ringio::runtime::Driver;
use ringio::sync::{Condition, Event, LifoQueue, Lock, PriorityQueue, Queue, Semaphore, Shutdown};
use ringio::time::timeout;
use ringio::{yield_now, JoinHandle};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use support::{paused, Rng};

const PERMITS: usize = 3;
const CAPACITY: usize = 3;
const STEPS: usize = 800;

/// One of the three queues.
enum AnyQueue {
    Fifo(Queue<u64>),
    Priority(PriorityQueue<u64>),
    Lifo(LifoQueue<u64>),
}

impl AnyQueue {
    async fn put(&self, v: u64) -> Result<(), Shutdown<u64>> {
        match self {
            AnyQueue::Fifo(q) => q.put(v).await,
            AnyQueue::Priority(q) => q.put(v).await,
            AnyQueue::Lifo(q) => q.put(v).await,
        }
    }

    async fn get(&self) -> Result<u64, Shutdown> {
        match self {
            AnyQueue::Fifo(q) => q.get().await,
            AnyQueue::Priority(q) => q.get().await,
            AnyQueue::Lifo(q) => q.get().await,
        }
    }

    async fn join(&self) {
        match self {
            AnyQueue::Fifo(q) => q.join().await,
            AnyQueue::Priority(q) => q.join().await,
            AnyQueue::Lifo(q) => q.join().await,
        }
    }

    fn try_put(&self, v: u64) -> bool {
        match self {
            AnyQueue::Fifo(q) => q.try_put(v).is_ok(),
            AnyQueue::Priority(q) => q.try_put(v).is_ok(),
            AnyQueue::Lifo(q) => q.try_put(v).is_ok(),
        }
    }

    fn try_get(&self) -> Option<u64> {
        match self {
            AnyQueue::Fifo(q) => q.try_get().ok(),
            AnyQueue::Priority(q) => q.try_get().ok(),
            AnyQueue::Lifo(q) => q.try_get().ok(),
        }
    }

    fn task_done(&self) {
        match self {
            AnyQueue::Fifo(q) => q.task_done().unwrap(),
            AnyQueue::Priority(q) => q.task_done().unwrap(),
            AnyQueue::Lifo(q) => q.task_done().unwrap(),
        }
    }

    fn shutdown(&self) {
        match self {
            AnyQueue::Fifo(q) => q.shutdown(false),
            AnyQueue::Priority(q) => q.shutdown(false),
            AnyQueue::Lifo(q) => q.shutdown(false),
        }
    }

    fn len(&self) -> usize {
        match self {
            AnyQueue::Fifo(q) => q.len(),
            AnyQueue::Priority(q) => q.len(),
            AnyQueue::Lifo(q) => q.len(),
        }
    }

    fn unfinished(&self) -> usize {
        match self {
            AnyQueue::Fifo(q) => q.unfinished(),
            AnyQueue::Priority(q) => q.unfinished(),
            AnyQueue::Lifo(q) => q.unfinished(),
        }
    }
}

/// Counts the tasks inside some wait: up while its guard lives, down when the guard
/// is dropped (the wait returned, or its task was aborted).
#[derive(Clone, Default)]
struct Gauge(Rc<Cell<usize>>);

struct InWait(Rc<Cell<usize>>);

impl Gauge {
    fn enter(&self) -> InWait {
        self.0.set(self.0.get() + 1);
        InWait(self.0.clone())
    }

    fn get(&self) -> usize {
        self.0.get()
    }
}

impl Drop for InWait {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

struct World {
    lock: Lock<u64>,
    sem: Semaphore,
    queue: AnyQueue,
    event: Event,
    /// Tokens: a condition waiter waits while there are none, then takes one.
    tokens: Condition<u32>,
    next_item: Cell<u64>,
    put_ok: RefCell<Vec<u64>>,
    got: RefCell<Vec<u64>>,
    in_get: Gauge,
    in_put: Gauge,
    in_event: Gauge,
}

impl World {
    fn new(kind: u64) -> World {
        World {
            lock: Lock::new(0),
            sem: Semaphore::new(PERMITS),
            queue: match kind {
                0 => AnyQueue::Fifo(Queue::bounded(CAPACITY)),
                1 => AnyQueue::Priority(PriorityQueue::bounded(CAPACITY)),
                _ => AnyQueue::Lifo(LifoQueue::bounded(CAPACITY)),
            },
            event: Event::new(),
            tokens: Condition::new(0),
            next_item: Cell::new(0),
            put_ok: RefCell::new(Vec::new()),
            got: RefCell::new(Vec::new()),
            in_get: Gauge::default(),
            in_put: Gauge::default(),
            in_event: Gauge::default(),
        }
    }

    fn new_item(&self) -> u64 {
        let v = self.next_item.get();
        self.next_item.set(v + 1);
        v
    }

    /// Asserts the no-lost-wake-up invariants; call when every task is blocked.
    fn check_quiescent(&self, seed: u64, step: usize) {
        let at = format!("seed {seed}, step {step}");
        assert!(
            !self.lock.is_locked(),
            "{at}: lock held with every task blocked"
        );
        assert_eq!(
            self.sem.available_permits(),
            PERMITS,
            "{at}: permits missing"
        );
        assert!(
            self.queue.len() == 0 || self.in_get.get() == 0,
            "{at}: {} getters wait beside {} items",
            self.in_get.get(),
            self.queue.len()
        );
        assert!(
            self.queue.len() == CAPACITY || self.in_put.get() == 0,
            "{at}: {} putters wait with room for {}",
            self.in_put.get(),
            CAPACITY - self.queue.len()
        );
        assert!(
            !self.event.is_set() || self.in_event.get() == 0,
            "{at}: event waiters wait on a set event"
        );
        let tokens = *self.tokens.try_lock().expect("condition lock free");
        assert!(
            tokens == 0 || self.tokens.waiting() == 0,
            "{at}: {} condition waiters beside {tokens} tokens",
            self.tokens.waiting()
        );
    }
}

async fn yields(rng: &mut Rng, most: u64) {
    for _ in 0..rng.below(most + 1) {
        yield_now().await;
    }
}

/// Lets every task run until all are blocked.
async fn settle() {
    for _ in 0..256 {
        yield_now().await;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Producer,
    Consumer,
    Locker,
    PermitHolder,
    EventWaiter,
    TokenTaker,
}

const ROLES: [Role; 6] = [
    Role::Producer,
    Role::Consumer,
    Role::Locker,
    Role::PermitHolder,
    Role::EventWaiter,
    Role::TokenTaker,
];

/// A task playing `role` a few times, yielding at random points.
async fn play(w: Rc<World>, role: Role, seed: u64, forever: bool) {
    let mut rng = Rng::new(seed);
    let rounds = if forever { u64::MAX } else { 1 + rng.below(5) };
    for _ in 0..rounds {
        match role {
            Role::Producer => {
                let item = w.new_item();
                let res = {
                    let _in = w.in_put.enter();
                    w.queue.put(item).await
                };
                match res {
                    // Recorded in the poll that put it: no abort point in between.
                    Ok(()) => w.put_ok.borrow_mut().push(item),
                    Err(_) => return,
                }
            }
            Role::Consumer => {
                let res = {
                    let _in = w.in_get.enter();
                    w.queue.get().await
                };
                match res {
                    Ok(v) => {
                        w.got.borrow_mut().push(v);
                        w.queue.task_done();
                    }
                    Err(_) => return,
                }
            }
            Role::Locker => {
                let mut g = w.lock.lock().await;
                *g += 1;
                yields(&mut rng, 2).await;
            }
            Role::PermitHolder => {
                let n = 1 + rng.below(2) as usize;
                let _p = w.sem.acquire_many(n).await;
                yields(&mut rng, 2).await;
            }
            Role::EventWaiter => {
                let _in = w.in_event.enter();
                w.event.wait().await;
            }
            Role::TokenTaker => {
                let g = w.tokens.lock().await;
                let mut g = w.tokens.wait_while(g, |t| *t == 0).await;
                *g -= 1;
                yields(&mut rng, 1).await;
            }
        }
        yields(&mut rng, 2).await;
    }
}

fn spawn_role(w: &Rc<World>, role: Role, seed: u64, forever: bool) -> (Role, JoinHandle<()>) {
    (role, ringio::spawn(play(w.clone(), role, seed, forever)))
}

/// Aborts a random live task (playing `role`, if given); returns whether there was one.
fn abort_random(
    rng: &mut Rng,
    tasks: &mut Vec<(Role, JoinHandle<()>)>,
    role: Option<Role>,
) -> bool {
    tasks.retain(|(_, h)| !h.is_finished());
    let candidates: Vec<usize> = (0..tasks.len())
        .filter(|&i| role.is_none_or(|r| tasks[i].0 == r))
        .collect();
    if candidates.is_empty() {
        return false;
    }
    let i = candidates[rng.below(candidates.len() as u64) as usize];
    let (_, h) = tasks.swap_remove(i);
    h.abort();
    true
}

/// Right after granting something to the oldest waiter of `role`, often aborts a
/// task of that role before it runs (the grant must pass on), and sometimes checks
/// at once that nothing was lost.
async fn abort_granted(
    w: &World,
    rng: &mut Rng,
    tasks: &mut Vec<(Role, JoinHandle<()>)>,
    role: Role,
    seed: u64,
    step: usize,
) -> usize {
    let mut aborted = 0;
    if rng.below(2) == 0 {
        aborted += abort_random(rng, tasks, Some(role)) as usize;
        if rng.below(3) == 0 {
            settle().await;
            w.check_quiescent(seed, step);
        }
    }
    aborted
}

async fn chaos(seed: u64, kind: u64) {
    let w = Rc::new(World::new(kind));
    let mut rng = Rng::new(seed);
    let mut tasks: Vec<(Role, JoinHandle<()>)> = Vec::new();
    let mut aborted = 0usize;
    for step in 0..STEPS {
        match rng.below(100) {
            0..=29 => {
                let role = ROLES[rng.below(ROLES.len() as u64) as usize];
                tasks.push(spawn_role(&w, role, rng.next_u64(), false));
            }
            30..=39 => aborted += abort_random(&mut rng, &mut tasks, None) as usize,
            40..=51 => {
                // A put wakes the oldest getter; abort a consumer before it runs.
                let item = w.new_item();
                if w.queue.try_put(item) {
                    w.put_ok.borrow_mut().push(item);
                }
                let role = Role::Consumer;
                aborted += abort_granted(&w, &mut rng, &mut tasks, role, seed, step).await;
            }
            52..=57 => {
                // A get wakes the oldest putter; abort a producer before it runs.
                if let Some(v) = w.queue.try_get() {
                    w.got.borrow_mut().push(v);
                    w.queue.task_done();
                }
                let role = Role::Producer;
                aborted += abort_granted(&w, &mut rng, &mut tasks, role, seed, step).await;
            }
            58..=63 => {
                w.event.set();
                if rng.below(2) == 0 {
                    w.event.clear();
                }
                let role = Role::EventWaiter;
                aborted += abort_granted(&w, &mut rng, &mut tasks, role, seed, step).await;
            }
            64..=65 => w.event.clear(),
            66..=75 => {
                // A token and a notification for the oldest condition waiter.
                if let Some(mut g) = w.tokens.try_lock() {
                    *g += 1;
                    w.tokens.notify(&g, 1);
                }
                let role = Role::TokenTaker;
                aborted += abort_granted(&w, &mut rng, &mut tasks, role, seed, step).await;
            }
            76..=82 => {
                // Main holds the lock across a turn; unlocking hands it to the oldest
                // waiter.
                if let Some(g) = w.lock.try_lock() {
                    yields(&mut rng, 2).await;
                    drop(g);
                }
                let role = Role::Locker;
                aborted += abort_granted(&w, &mut rng, &mut tasks, role, seed, step).await;
            }
            83..=89 => {
                if let Some(p) = w.sem.try_acquire() {
                    yields(&mut rng, 2).await;
                    drop(p);
                }
                let role = Role::PermitHolder;
                aborted += abort_granted(&w, &mut rng, &mut tasks, role, seed, step).await;
            }
            _ => {
                settle().await;
                w.check_quiescent(seed, step);
            }
        }
        yields(&mut rng, 2).await;
    }
    settle().await;
    w.check_quiescent(seed, STEPS);
    assert!(aborted > 50, "seed {seed}: only {aborted} aborts");

    // Wind down, with no more aborts. Event and token waiters are released...
    w.event.set();
    for _ in 0..10_000 {
        let takers = tasks
            .iter()
            .filter(|(r, h)| *r == Role::TokenTaker && !h.is_finished())
            .count();
        if takers == 0 {
            break;
        }
        let mut g = w.tokens.lock().await;
        *g += 1;
        w.tokens.notify(&g, 1);
        drop(g);
        settle().await;
        w.check_quiescent(seed, STEPS);
    }
    // ...consumers drain what the producers still put...
    let drainers: Vec<_> = (0..2)
        .map(|i| spawn_role(&w, Role::Consumer, seed + i, true))
        .collect();
    let (consumers, others): (Vec<_>, Vec<_>) =
        tasks.into_iter().partition(|(r, _)| *r == Role::Consumer);
    for (_, h) in others {
        h.await.unwrap();
    }
    // ...every item put is marked done...
    w.queue.join().await;
    w.queue.shutdown();
    for (_, h) in consumers.into_iter().chain(drainers) {
        h.await.unwrap();
    }

    let mut put = w.put_ok.borrow().clone();
    let mut got = w.got.borrow().clone();
    put.sort_unstable();
    got.sort_unstable();
    assert!(!put.is_empty(), "seed {seed}: nothing was put");
    assert_eq!(got, put, "seed {seed}: every item put is got exactly once");
    assert_eq!((w.queue.len(), w.queue.unfinished()), (0, 0));
    assert!(!w.lock.is_locked());
    assert_eq!(w.sem.available_permits(), PERMITS);
}

fn random_drops_lose_no_wake_up_and_no_item(d: Driver) {
    let seeds = [1u64, 2, 3, 0x5eed, 0xdead_beef, 0x1234_5678_9abc];
    for (i, &seed) in seeds.iter().enumerate() {
        let rt = paused(d);
        rt.block_on(async {
            timeout(Duration::from_secs(3600), chaos(seed, i as u64 % 3))
                .await
                .unwrap_or_else(|_| panic!("seed {seed}: stalled, a wake-up was lost"));
        });
        assert_eq!(rt.alive_tasks(), 0, "seed {seed}: tasks left behind");
    }
}

both_drivers!(random_drops_lose_no_wake_up_and_no_item);
