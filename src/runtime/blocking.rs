//! The blocking pool: threads for work that would stall a worker's loop.
//!
//! # Implementation
//!
//! One pool per runtime, shared by its workers. Threads start lazily, one per job that
//! finds no idle thread, up to the pool's size (by default min(32, CPUs + 4), as
//! asyncio's default executor), and exit after [`KEEP_ALIVE`] without work. Jobs beyond
//! the size wait in a FIFO queue. A job is a boxed closure; its output travels back
//! through a [`RemoteJoinHandle`](crate::task::RemoteJoinHandle) slot, whose waker
//! wakes the awaiting task on its worker. Shutdown refuses new jobs, lets queued and
//! running ones finish, and waits for the threads up to the runtime's shutdown timeout.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long an idle pool thread waits for work before it exits.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    shutdown: bool,
}

pub(crate) struct BlockingPool {
    state: Mutex<State>,
    /// Signalled when a job is queued or the pool shuts down.
    work: Condvar,
    /// Signalled when a thread exits.
    exited: Condvar,
    max_threads: usize,
    /// The pool's own `Arc`, for handing to the threads it starts.
    me: std::sync::Weak<BlockingPool>,
}

/// The drivers' blocking face runs its jobs here.
impl crate::driver::BlockingSpawner for BlockingPool {
    fn spawn_job(&self, job: Job) -> Result<(), Job> {
        // `me` is always set: pools are only made by `new`, inside an `Arc`.
        let Some(me) = self.me.upgrade() else {
            return Err(job);
        };
        me.spawn_or_return(job)
    }
}

/// The pool refuses work: its runtime has shut down.
#[derive(Debug)]
pub(crate) struct PoolClosed;

impl BlockingPool {
    pub(crate) fn new(max_threads: usize) -> Arc<BlockingPool> {
        Arc::new_cyclic(|me| BlockingPool {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                shutdown: false,
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
            max_threads: max_threads.max(1),
            me: me.clone(),
        })
    }

    /// The default size: min(32, CPUs + 4).
    pub(crate) fn default_size() -> usize {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        (cpus + 4).min(32)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job`, starting a thread if none is idle and the pool has room.
    pub(crate) fn spawn(self: &Arc<Self>, job: Job) -> Result<(), PoolClosed> {
        self.spawn_or_return(job).map_err(|_| PoolClosed)
    }

    /// [`spawn`](BlockingPool::spawn), giving the job back if the pool refuses it.
    fn spawn_or_return(self: &Arc<Self>, job: Job) -> Result<(), Job> {
        let mut st = self.lock();
        if st.shutdown {
            return Err(job);
        }
        st.queue.push_back(job);
        if st.idle > 0 {
            drop(st);
            self.work.notify_one();
        } else if st.threads < self.max_threads {
            st.threads += 1;
            let id = st.threads;
            drop(st);
            let pool = self.clone();
            let started = std::thread::Builder::new()
                .name(format!("ringio-blocking-{id}"))
                .spawn(move || pool.run_thread());
            if started.is_err() {
                // Out of threads: the job stays queued for the threads that exist.
                let mut st = self.lock();
                st.threads -= 1;
                drop(st);
                self.exited.notify_all();
            }
        }
        Ok(())
    }

    fn run_thread(&self) {
        let mut st = self.lock();
        loop {
            if let Some(job) = st.queue.pop_front() {
                drop(st);
                // The job reports its own panics to its slot; a panic here is a bug in
                // the pool's bookkeeping and must not kill the thread count.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                st = self.lock();
                continue;
            }
            if st.shutdown {
                break;
            }
            st.idle += 1;
            let (guard, timeout) = self
                .work
                .wait_timeout(st, KEEP_ALIVE)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.idle -= 1;
            if timeout.timed_out() && st.queue.is_empty() {
                break;
            }
        }
        st.threads -= 1;
        drop(st);
        self.exited.notify_all();
    }

    /// Refuses new jobs, lets the rest finish, and waits up to `timeout` for the
    /// threads. Returns how many were still running when time ran out.
    pub(crate) fn shut_down(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        st.shutdown = true;
        self.work.notify_all();
        while st.threads > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return st.threads;
            }
            st = self
                .exited
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        0
    }
}
