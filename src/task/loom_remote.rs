//! A loom model of the remote join handle ([`RemoteJoinHandle`]): the handle awaited
//! (or `join`ed) on one thread while the work runs as a [`RemoteTask`] on another
//! worker, with `abort` and the work's drop unrun (its worker shut down) in the race.
//!
//! Under `cfg(all(test, loom))` `remote.rs` takes its `Arc`, `Mutex`, `MutexGuard` and
//! `Condvar` from loom, so the real `slot`, `RemoteTask`, `SlotGuard` and handle run
//! here, not a restatement. A worker polling a task, or a task awaiting the handle, is
//! loom's `block_on` on its own thread (standing for `Scheduler::run` polling the task
//! on its worker): a wake-up the protocol loses leaves that thread blocked, which loom
//! reports as a deadlock.
//!
//! Run with `ci/loom.sh`.

use super::remote::{slot, RemoteJoinHandle, RemoteTask};
use super::TaskId;
use loom::future::block_on;
use loom::thread;
use std::future::poll_fn;
use std::task::Poll;

/// `loom::model` with a preemption bound: `LOOM_MAX_PREEMPTIONS` if set, else
/// [`PREEMPTIONS`] (as `sync/loom_models.rs`).
fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(PREEMPTIONS));
    builder.check(f);
}

/// The default preemption bound of these models: every interleaving with up to this
/// many preemptions is explored (3: about 13 s for all models in release, 4: about a
/// minute).
const PREEMPTIONS: usize = 3;

/// A future that is pending once (waking itself, as a task whose I/O is ready at
/// once), then ready with `v`.
async fn one_turn(v: u32) -> u32 {
    let mut turned = false;
    poll_fn(|cx| {
        if turned {
            Poll::Ready(v)
        } else {
            turned = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// The handle awaited from another thread's task while the work finishes: the
/// output arrives (`Slot::complete` wakes the stored joiner).
#[test]
fn loom_remote_handle_awaited_from_another_thread() {
    model(|| {
        let (handle, guard) = slot::<u32>(TaskId::next());
        // `Handle::spawn_on`: the task runs on the other worker.
        let worker = thread::spawn(move || block_on(RemoteTask::new(one_turn(7), guard)));
        assert_eq!(block_on(handle).unwrap(), 7);
        worker.join().unwrap();
    });
}

/// `RemoteJoinHandle::join` from a plain thread (the condvar path) while the work
/// finishes.
#[test]
fn loom_remote_handle_joined_on_condvar() {
    model(|| {
        let (handle, guard) = slot::<u32>(TaskId::next());
        let worker = thread::spawn(move || block_on(RemoteTask::new(one_turn(7), guard)));
        assert_eq!(handle.join().unwrap(), 7);
        worker.join().unwrap();
    });
}

/// `abort` races the task's completion: the awaiting handle always returns; it is
/// the output unless the abort came first, and an abort that reports `false` (the
/// work had finished) never turns the output into a cancellation.
#[test]
fn loom_remote_abort_races_completion() {
    model(|| {
        let (handle, guard) = slot::<u32>(TaskId::next());
        let worker = thread::spawn(move || block_on(RemoteTask::new(one_turn(7), guard)));
        let aborted = handle.abort();
        let out = block_on(handle);
        match out {
            Ok(v) => assert_eq!(v, 7),
            Err(e) => {
                assert!(e.is_cancelled());
                assert!(aborted, "cancelled without an abort");
            }
        }
        worker.join().unwrap();
    });
}

/// The work is dropped unrun (its worker shut down) while a task awaits the handle:
/// the `SlotGuard`'s drop completes the slot with `Cancelled` and wakes the joiner.
#[test]
fn loom_remote_work_dropped_unrun_cancels_joiner() {
    model(|| {
        let (handle, guard) = slot::<u32>(TaskId::next());
        let worker = thread::spawn(move || drop(RemoteTask::new(one_turn(7), guard)));
        let handle: RemoteJoinHandle<u32> = handle;
        assert!(block_on(handle).unwrap_err().is_cancelled());
        worker.join().unwrap();
    });
}
