//! The blocking face: operations that no backend can run without blocking a thread
//! (name lookup today; `statx`, `openat` and file I/O on epoll next) run on the
//! runtime's blocking pool, and post their result back into the op table.
//!
//! The pool is handed to the driver when the runtime builds it, as a
//! [`BlockingSpawner`], so the driver never reaches into `runtime/`. A job runs on a pool
//! thread; when it finishes it posts `(key, result)` to its worker's [`Posts`] and wakes
//! the worker (the unpark eventfd). The backend drains the posts on every park and
//! completes the slots, exactly as it routes io_uring completions. The slot outlives the
//! job, so dropping the operation's future while the job runs is as safe as dropping
//! an io_uring operation in flight: its resources move into the orphaned slot and are
//! released when the post arrives.

use super::table::{Completion, OpTable};
use super::Unparker;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A blocking operation's job: it returns the raw result (a count, or `-errno`); richer
/// output goes into memory the operation owns and the job was given.
pub(crate) type BlockingJob = Box<dyn FnOnce() -> i32 + Send>;

/// Runs closures on threads where blocking is fine (the runtime's blocking pool).
pub(crate) trait BlockingSpawner: Send + Sync {
    /// Queues `job`; gives it back if the pool refuses work (it has shut down).
    #[allow(clippy::type_complexity)]
    fn spawn_job(&self, job: Box<dyn FnOnce() + Send>) -> Result<(), Box<dyn FnOnce() + Send>>;
}

/// Results posted by pool threads for one worker's op table.
pub(crate) struct Posts {
    items: Mutex<Vec<(usize, i32)>>,
    /// Set with every post; lets a park skip the lock when nothing came.
    nonempty: AtomicBool,
    unparker: Arc<Unparker>,
}

impl Posts {
    pub(crate) fn new(unparker: Arc<Unparker>) -> Arc<Posts> {
        Arc::new(Posts {
            items: Mutex::new(Vec::new()),
            nonempty: AtomicBool::new(false),
            unparker,
        })
    }

    /// From a pool thread: slot `key` finished with `result`; wakes the worker.
    pub(crate) fn post(&self, key: usize, result: i32) {
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((key, result));
        self.nonempty.store(true, Ordering::Release);
        self.unparker.unpark();
    }

    /// Whether anything was posted since the last [`take`](Posts::take).
    pub(crate) fn pending(&self) -> bool {
        self.nonempty.load(Ordering::Acquire)
    }

    /// Moves every post into `into`.
    pub(crate) fn take(&self, into: &mut Vec<(usize, i32)>) {
        if !self.nonempty.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        into.append(&mut items);
    }
}

/// The driver's side of the blocking face: the pool to run jobs on and where their
/// results come back.
pub(crate) struct BlockingPort {
    spawner: Option<Arc<dyn BlockingSpawner>>,
    posts: Arc<Posts>,
    scratch: Vec<(usize, i32)>,
}

impl BlockingPort {
    pub(crate) fn new(spawner: Option<Arc<dyn BlockingSpawner>>, unparker: Arc<Unparker>) -> Self {
        BlockingPort {
            spawner,
            posts: Posts::new(unparker),
            scratch: Vec::new(),
        }
    }

    /// Runs `job` for slot `key` on the pool. If the pool refuses (the runtime is
    /// shutting down, or this driver has none), the result is posted at once as
    /// `ECANCELED`, so the slot still completes through the one path.
    pub(crate) fn spawn(&self, key: usize, job: BlockingJob) {
        let posts = self.posts.clone();
        let run = Box::new(move || {
            // A panicking job must still free its slot; the panic itself is the job's
            // bug, reported by the pool thread's panic hook.
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or(-libc::EIO);
            posts.post(key, result);
        });
        let refused = match &self.spawner {
            Some(spawner) => spawner.spawn_job(run).is_err(),
            None => true,
        };
        if refused {
            self.posts.post(key, -libc::ECANCELED);
        }
    }

    /// Whether results are waiting to be drained.
    pub(crate) fn pending(&self) -> bool {
        self.posts.pending()
    }

    /// Completes the slot of every posted result in `table`.
    pub(crate) fn drain_into(&mut self, table: &mut OpTable) {
        if !self.posts.pending() {
            return;
        }
        self.posts.take(&mut self.scratch);
        for (key, result) in self.scratch.drain(..) {
            table.complete(key, Completion { result, flags: 0 });
        }
    }
}
