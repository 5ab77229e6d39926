//! A loom model of the task cell's cross-thread protocol (`raw.rs`): a foreign wake
//! handing a reference to the home worker's inbox while the home thread completes the
//! task, releases its references and shuts the inbox; the last reference frees the
//! block on whichever thread drops it.
//!
//! The model restates the protocol with loom's types (the cell itself is built on
//! `std`'s, and on the runtime's worker, which loom cannot host); each step names the
//! function of `raw.rs` or `worker.rs` it stands for, with the same memory orderings.
//! loom explores every interleaving and flags a data race on the stage (written at
//! completion on the home thread, read by the free) and any leak or double free.
//!
//! Run with `ci/loom.sh` (`RUSTFLAGS="--cfg loom" cargo test -p ringio --lib loom`).

use loom::cell::UnsafeCell;
use loom::sync::atomic::{fence, AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// The block: a reference count and a stage (the future, then the output).
struct Block {
    refs: AtomicUsize,
    /// 0: running, 1: finished (output stored), 2: consumed.
    stage: UnsafeCell<u32>,
    frees: Arc<AtomicUsize>,
}

/// `RawTask::add_ref`.
fn add_ref(b: &Block) {
    b.refs.fetch_add(1, Ordering::Relaxed);
}

/// `RawTask::drop_ref` then `dealloc`: the free reads the stage (dropping it).
fn drop_ref(b: &Block) {
    if b.refs.fetch_sub(1, Ordering::Release) != 1 {
        return;
    }
    fence(Ordering::Acquire);
    // SAFETY: the last reference: no other thread uses the block (loom checks the
    // happens-before this claims).
    let stage = b.stage.with(|s| unsafe { *s });
    assert_eq!(stage, 2, "freed with something in the stage");
    b.frees.fetch_add(1, Ordering::Relaxed);
}

/// The home worker's inbox (`Shared::push` / `close`).
struct Inbox {
    open: bool,
    wakes: Vec<()>,
}

fn run(drain_before_close: bool) {
    loom::model(move || {
        let frees = Arc::new(AtomicUsize::new(0));
        // Owned + handle + one waker held by the foreign thread.
        let block = Arc::new(Block {
            refs: AtomicUsize::new(3),
            stage: UnsafeCell::new(0),
            frees: frees.clone(),
        });
        let inbox = Arc::new(Mutex::new(Inbox {
            open: true,
            wakes: Vec::new(),
        }));

        let foreign = {
            let (block, inbox) = (block.clone(), inbox.clone());
            thread::spawn(move || {
                // `RawTask::wake` off the home thread: a reference for the inbox.
                add_ref(&block);
                let refused = {
                    let mut inbox = inbox.lock().unwrap();
                    if inbox.open {
                        inbox.wakes.push(());
                        false
                    } else {
                        true
                    }
                };
                if refused {
                    // `TaskRef` dropped by a closed inbox.
                    drop_ref(&block);
                }
                // The waker itself is dropped.
                drop_ref(&block);
            })
        };

        // Home thread: the poll finishes; the output is stored (`poll`, `complete`).
        // SAFETY: only the home thread writes the stage while it holds references.
        block.stage.with_mut(|s| unsafe { *s = 1 });
        if drain_before_close {
            // `drain_inbox`: each queued wake finds the task complete, then drops its
            // reference (`TaskRef::wake_here`).
            let wakes = std::mem::take(&mut inbox.lock().unwrap().wakes);
            for () in wakes {
                drop_ref(&block);
            }
        }
        // The handle takes the output (`JoinRef::try_take`), then goes.
        // SAFETY: as above.
        block.stage.with_mut(|s| unsafe { *s = 2 });
        drop_ref(&block);
        // `Scheduler::run` releases the worker's reference.
        drop_ref(&block);
        // Shutdown: the inbox closes; wakes still queued drop their references.
        let left = {
            let mut inbox = inbox.lock().unwrap();
            inbox.open = false;
            std::mem::take(&mut inbox.wakes)
        };
        for () in left {
            drop_ref(&block);
        }

        foreign.join().unwrap();
        assert_eq!(frees.load(Ordering::Relaxed), 1, "freed exactly once");
    });
}

#[test]
fn loom_foreign_wake_races_completion_and_shutdown() {
    run(false);
}

#[test]
fn loom_foreign_wake_drained_before_shutdown() {
    run(true);
}
