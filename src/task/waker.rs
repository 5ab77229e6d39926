//! Wakers: `Send + Sync` handles that find their task from any thread.
//!
//! # Implementation
//!
//! A [`TaskWaker`] names a task by its worker, slab key and id; it does not own the
//! task, which is `!Send`. Waking it on the worker's own thread pushes the key onto the
//! run queue (a plain push, no atomics beyond the thread-local look-up). Waking it from
//! any other thread pushes onto the worker's mutex-guarded inbox and, when the inbox
//! was empty, writes the worker's eventfd so a worker blocked in `io_uring_enter` or
//! `epoll_wait` wakes up. The worker drains the inbox every loop turn, checking each
//! id against its slab so a wake for a finished task is ignored.
//!
//! Handles are recycled: when a task finishes and nobody else holds its handle, the
//! `Arc` goes back to a per-worker pool, so steady-state spawning allocates no waker.

use crate::runtime::context;
use crate::runtime::worker::Shared;
use crate::task::TaskId;
use std::sync::Arc;
use std::task::Wake;

pub(crate) struct TaskWaker {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: usize,
    pub(crate) id: TaskId,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let local = context::try_with_core(|core| {
            if Arc::ptr_eq(&core.shared, &self.shared) {
                core.schedule(self.key, self.id);
                true
            } else {
                false
            }
        });
        if local != Some(true) {
            self.shared.schedule_remote(self.key, self.id);
        }
    }
}

/// The waker of the future passed to `block_on`.
pub(crate) struct MainWaker {
    pub(crate) shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let local = context::try_with_core(|core| Arc::ptr_eq(&core.shared, &self.shared));
        self.shared.wake_main(local == Some(true));
    }
}
