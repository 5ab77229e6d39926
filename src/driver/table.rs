//! The op table: one slot per operation in flight, shared by both backends.
//!
//! A slot's key is the operation's identity everywhere: the `user_data` of its io_uring
//! entry, the entry in an epoll fd's waiter list, the tag a blocking-pool job posts its
//! result under. The table knows nothing of rings or epoll; each backend drives it
//! with the same few calls, so the lifecycle below is written (and tested) once.
//!
//! # States
//!
//! | state | meaning | left by |
//! |---|---|---|
//! | `Waiting(waker)` | the kernel, the pool or readiness has it; the `Op` waits | a completion (→ `Completed`, or → `MoreComing` with IORING_CQE_F_MORE), or the `Op`'s drop (→ `Orphaned`) |
//! | `Completed(result, flags)` | done; the result waits for the `Op`'s next poll | that poll (slot freed), or the `Op`'s drop (slot freed, resources released) |
//! | `MoreComing(notification)` | a one-shot op's result came with F_MORE (SEND_ZC): its memory is still the kernel's | the notification (→ `Completed` with the first result), or the `Op`'s drop (→ `Orphaned`) |
//! | `MoreComing(multishot)` | a multishot op: every completion goes to its sink | the completion without F_MORE (slot freed) |
//! | `Orphaned(resources)` | the `Op` was dropped; its memory lives here | the last completion (slot freed, resources released) |
//! | `Detached(write_behind)` | a detached send (no `Op` waits): its memory lives in the stream's [`WriteBehind`] | the completion (slot freed, the `WriteBehind` told; it may ask for a resubmission, or be kept as a spare) |
//!
//! [`OpTable::orphan`] tells its caller whether a cancel is needed; the backend issues
//! it (an async-cancel on io_uring, an immediate `ECANCELED` completion for an epoll
//! readiness wait). Multishot sinks get every completion, so queued results live with
//! the sink's owner, who also counts them (backpressure) and gives back what they hold
//! (pool buffers, accepted fds) when the owner closes.

use super::ops::{AfterSend, WriteBehind};
use super::{Interest, Multishot};
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// IORING_CQE_F_MORE from linux/io_uring.h: more completions follow for this key.
const IORING_CQE_F_MORE: u32 = 1 << 1;

/// One completion: the raw result (a count, an fd, or `-errno`) and the CQE flags (0
/// where a backend has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Completion {
    pub(crate) result: i32,
    pub(crate) flags: u32,
}

/// Where a slot's completion comes from, which decides how a cancel is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// An io_uring entry: cancelled by an async-cancel naming the key.
    Kernel,
    /// Readiness of `fd` (epoll, or an io_uring poll entry): the completion means
    /// "ready, try again", not the operation's result.
    Readiness(RawFd, Interest),
    /// A job on the blocking pool: it cannot be stopped; its post frees the slot.
    Pool,
}

/// An operation's resources, kept alive in its slot after its future was dropped.
pub(crate) trait Orphan {
    /// The kernel (or the pool) is done with the memory; clean up what the result
    /// created (close a new fd, queue a late connection).
    fn release(self: Box<Self>, completion: Completion);
}

enum State {
    Waiting(Waker),
    Completed(Completion),
    /// SEND_ZC's first completion, waiting for the notification.
    Notification(Waker, i32),
    Multishot(Rc<dyn Multishot>),
    Orphaned(Box<dyn Orphan>),
    /// A detached send: its completion goes to the stream's write-behind state.
    Detached(Rc<WriteBehind>),
}

struct Slot {
    state: State,
    source: Source,
}

/// What [`OpTable::orphan`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Orphaned {
    /// The operation had completed: the slot is free, and the caller releases what
    /// the result created (the resources were not taken).
    Completed(Completion),
    /// Still in flight: the backend must cancel it (how depends on the source).
    CancelNeeded(Source),
    /// Only SEND_ZC's notification is missing: nothing to cancel, only to wait for.
    AwaitingNotification,
}

/// What [`OpTable::complete`] did with a completion.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Routed {
    /// Delivered (a task woken, or an orphan released).
    Done,
    /// A multishot operation ended (its last completion).
    MultishotEnded,
    /// A multishot sink asks for its operation to be cancelled (backpressure).
    PauseMultishot,
    /// A detached send asks for an entry to be submitted for it (the rest of a short
    /// send): [`OpTable::take_resubmit`] has it.
    Resubmit,
}

/// Spare write-behind states kept per worker at most: as many as detached sends were in
/// flight at once recently, bounded (each is about 100 bytes).
const MAX_SPARE: usize = 1024;

#[cold]
#[inline(never)]
fn unknown_slot(key: usize) -> ! {
    panic!("ringio: completion for unknown op slot {key}")
}

/// The per-worker op table. See the module docs.
pub(crate) struct OpTable {
    slots: Slots,
    /// Detached sends to submit again (the rest of a short send), with their entries.
    resubmit: Vec<(Rc<WriteBehind>, io_uring::squeue::Entry)>,
    /// Write-behind states no stream holds (their sends done), kept for the next
    /// detached send so that an idle connection holds none and a busy one allocates
    /// none.
    spare: Vec<Rc<WriteBehind>>,
    multishot: usize,
    pool_jobs: usize,
}

impl OpTable {
    pub(crate) fn new() -> OpTable {
        OpTable {
            slots: Slots::with_capacity(256),
            resubmit: Vec::new(),
            spare: Vec::new(),
            multishot: 0,
            pool_jobs: 0,
        }
    }

    /// A slot for an operation about to be handed to `source`; returns its key.
    #[inline(always)]
    pub(crate) fn insert(&mut self, source: Source, waker: &Waker) -> usize {
        if source == Source::Pool {
            self.pool_jobs += 1;
        }
        self.slots.insert(Slot {
            state: State::Waiting(waker.clone()),
            source,
        })
    }

    /// A slot for a multishot operation whose completions all go to `sink`.
    pub(crate) fn insert_multishot(&mut self, sink: Rc<dyn Multishot>) -> usize {
        self.multishot += 1;
        self.slots.insert(Slot {
            state: State::Multishot(sink),
            source: Source::Kernel,
        })
    }

    /// A slot for a detached send whose completion goes to `write_behind`.
    #[inline]
    pub(crate) fn insert_detached(&mut self, write_behind: Rc<WriteBehind>) -> usize {
        self.slots.insert(Slot {
            state: State::Detached(write_behind),
            source: Source::Kernel,
        })
    }

    /// A spare write-behind state (see `spare`), if one is kept.
    #[inline]
    pub(crate) fn take_spare(&mut self) -> Option<Rc<WriteBehind>> {
        self.spare.pop()
    }

    /// The completion of slot `key` (freeing the slot) with its source, or `Pending`
    /// with `waker` recorded.
    ///
    /// # Panics
    ///
    /// If `key` is free, orphaned or multishot: an `Op` polls only its own slot.
    #[inline(always)]
    pub(crate) fn poll(&mut self, key: usize, waker: &Waker) -> Poll<(Completion, Source)> {
        let slot = self
            .slots
            .get_mut(key)
            .unwrap_or_else(|| panic!("ringio: op slot {key} polled but free"));
        match &mut slot.state {
            State::Completed(c) => {
                let done = (*c, slot.source);
                if done.1 == Source::Pool {
                    self.pool_jobs -= 1;
                }
                // A completed slot owns nothing (its fields are `Copy`): forgetting it
                // frees the slot without a call to `State`'s drop glue.
                std::mem::forget(self.slots.remove(key));
                Poll::Ready(done)
            }
            State::Waiting(w) | State::Notification(w, _) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                Poll::Pending
            }
            State::Orphaned(_) | State::Multishot(_) | State::Detached(_) => {
                panic!("ringio: op slot {key} polled after its future was dropped")
            }
        }
    }

    /// Routes a completion to slot `key`.
    ///
    /// # Panics
    ///
    /// On a completion for a free key, or a second one for a one-shot operation: both
    /// mean the kernel and the table disagree, and going on could free live memory.
    #[inline]
    pub(crate) fn complete(&mut self, key: usize, completion: Completion) -> Routed {
        let more = completion.flags & IORING_CQE_F_MORE != 0;
        let Some(slot) = self.slots.get_mut(key) else {
            unknown_slot(key)
        };
        match &slot.state {
            State::Multishot(sink) => {
                let pause = sink.on_completion(completion.result, completion.flags);
                if !more {
                    self.multishot -= 1;
                    self.free(key);
                    return Routed::MultishotEnded;
                }
                if pause {
                    Routed::PauseMultishot
                } else {
                    Routed::Done
                }
            }
            // The common one-shot completion: wake the `Op`, whose poll takes it.
            State::Waiting(_) if !more => {
                if let State::Waiting(w) =
                    std::mem::replace(&mut slot.state, State::Completed(completion))
                {
                    w.wake();
                }
                Routed::Done
            }
            State::Detached(_) if !more => self.complete_detached(key, completion),
            _ => self.complete_other(key, completion),
        }
    }

    /// [`complete`](OpTable::complete) for a detached send: out of line, so the other
    /// common cases save and restore only the registers they use.
    #[inline(never)]
    fn complete_detached(&mut self, key: usize, completion: Completion) -> Routed {
        let State::Detached(write_behind) = self.slots.remove(key).state else {
            unreachable!("matched by complete")
        };
        match write_behind.on_completion(completion.result) {
            AfterSend::Kept => Routed::Done,
            AfterSend::Spare => {
                if self.spare.len() < MAX_SPARE {
                    self.spare.push(write_behind);
                }
                Routed::Done
            }
            AfterSend::Resubmit(entry) => {
                self.resubmit.push((write_behind, entry));
                Routed::Resubmit
            }
        }
    }

    /// [`complete`](OpTable::complete) past its common cases: a one-shot op with more
    /// to come (SEND_ZC), its notification, an orphan's last completion, or a slot in a
    /// state that cannot take one.
    #[cold]
    #[inline(never)]
    fn complete_other(&mut self, key: usize, completion: Completion) -> Routed {
        let more = completion.flags & IORING_CQE_F_MORE != 0;
        let slot = &mut self.slots[key];
        if more {
            // A one-shot op with more to come (SEND_ZC): its memory stays in use.
            let state = std::mem::replace(&mut slot.state, State::Completed(completion));
            slot.state = match state {
                State::Waiting(w) => State::Notification(w, completion.result),
                orphan @ State::Orphaned(_) => orphan,
                _ => panic!("ringio: unexpected F_MORE completion for op slot {key}"),
            };
            return Routed::Done;
        }
        match std::mem::replace(&mut slot.state, State::Completed(completion)) {
            State::Waiting(w) => w.wake(),
            State::Notification(w, result) => {
                // The kernel is done with the memory; the result is the first one's.
                slot.state = State::Completed(Completion {
                    result,
                    flags: completion.flags,
                });
                w.wake();
            }
            State::Orphaned(resources) => {
                let source = slot.source;
                self.free(key);
                // A readiness completion is an event mask, not the operation's result:
                // the operation never ran.
                let completion = match source {
                    Source::Readiness(..) => Completion {
                        result: -libc::ECANCELED,
                        flags: 0,
                    },
                    _ => completion,
                };
                resources.release(completion);
            }
            State::Completed(_) | State::Multishot(_) | State::Detached(_) => {
                panic!("ringio: second completion for op slot {key}")
            }
        }
        Routed::Done
    }

    /// An entry a detached operation's sink asked to have submitted again (see
    /// [`Routed::Resubmit`]), with the sink.
    pub(crate) fn take_resubmit(&mut self) -> Option<(Rc<WriteBehind>, io_uring::squeue::Entry)> {
        self.resubmit.pop()
    }

    /// The `Op` of slot `key` was dropped. `resources` is called only if the slot must
    /// keep them (still in flight), so the drop of a finished op allocates nothing.
    pub(crate) fn orphan(
        &mut self,
        key: usize,
        resources: impl FnOnce() -> Box<dyn Orphan>,
    ) -> Orphaned {
        let slot = &mut self.slots[key];
        match &slot.state {
            State::Completed(c) => {
                let c = *c;
                self.free(key);
                Orphaned::Completed(c)
            }
            State::Waiting(_) => {
                slot.state = State::Orphaned(resources());
                Orphaned::CancelNeeded(slot.source)
            }
            State::Notification(..) => {
                slot.state = State::Orphaned(resources());
                Orphaned::AwaitingNotification
            }
            State::Orphaned(_) | State::Multishot(_) | State::Detached(_) => {
                panic!("ringio: op slot {key} orphaned twice")
            }
        }
    }

    fn free(&mut self, key: usize) {
        if self.slots.remove(key).source == Source::Pool {
            self.pool_jobs -= 1;
        }
    }

    /// Whether slot `key` is a multishot operation (still armed).
    pub(crate) fn is_multishot(&self, key: usize) -> bool {
        matches!(
            self.slots.get(key),
            Some(Slot {
                state: State::Multishot(_),
                ..
            })
        )
    }

    /// The source of slot `key`, if it is in use.
    pub(crate) fn source(&self, key: usize) -> Option<Source> {
        self.slots.get(key).map(|s| s.source)
    }

    /// Slots in use.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Multishot slots in use.
    pub(crate) fn multishot(&self) -> usize {
        self.multishot
    }

    /// Slots waiting for a blocking-pool job.
    pub(crate) fn pool_jobs(&self) -> usize {
        self.pool_jobs
    }

    /// Keys and sources of every slot whose operation is not finished, for a backend's
    /// shutdown (everything but `Completed`).
    pub(crate) fn unfinished(&self) -> Vec<(usize, Source)> {
        self.slots
            .iter()
            .filter(|(_, s)| !matches!(s.state, State::Completed(_)))
            .map(|(k, s)| (k, s.source))
            .collect()
    }

    /// Whether any slot still waits for a completion.
    pub(crate) fn has_unfinished(&self) -> bool {
        self.slots
            .iter()
            .any(|(_, s)| !matches!(s.state, State::Completed(_)))
    }

    /// Removes slot `key` if it is a readiness wait (waiting, or woken and not yet
    /// polled): for a backend where nothing is in flight in the kernel for it (epoll).
    /// Returns the fd and interest it waited on.
    pub(crate) fn discard_readiness(&mut self, key: usize) -> Option<(RawFd, Interest)> {
        let slot = self.slots.get(key)?;
        match (&slot.state, slot.source) {
            (State::Waiting(_) | State::Completed(_), Source::Readiness(fd, interest)) => {
                self.slots.remove(key);
                Some((fd, interest))
            }
            _ => None,
        }
    }

    /// Gives up on every slot without waiting: their resources are leaked, never freed,
    /// because the kernel or a pool thread may still write into them. For a backend
    /// whose drain failed.
    pub(crate) fn leak_all(&mut self) {
        std::mem::forget(std::mem::replace(&mut self.slots, Slots::with_capacity(0)));
        self.multishot = 0;
        self.pool_jobs = 0;
    }
}

/// The table's slots: `slab::Slab`'s layout (a vector of entries whose vacant ones
/// form a free list through their indices), kept here so that `insert`, on every
/// submission's path, inlines into it.
struct Slots {
    entries: Vec<Entry>,
    /// The first vacant entry, or `entries.len()` when none is.
    next: usize,
    /// Occupied entries.
    len: usize,
}

enum Entry {
    /// Free; the next free entry's index.
    Vacant(usize),
    Occupied(Slot),
}

impl Slots {
    fn with_capacity(capacity: usize) -> Slots {
        Slots {
            entries: Vec::with_capacity(capacity),
            next: 0,
            len: 0,
        }
    }

    /// Stores `slot` in a free entry; returns its key.
    #[inline(always)]
    fn insert(&mut self, slot: Slot) -> usize {
        let key = self.next;
        self.len += 1;
        if key == self.entries.len() {
            self.entries.push(Entry::Occupied(slot));
            self.next = key + 1;
        } else {
            match std::mem::replace(&mut self.entries[key], Entry::Occupied(slot)) {
                Entry::Vacant(next) => self.next = next,
                Entry::Occupied(_) => unreachable!("ringio: op table free list corrupt"),
            }
        }
        key
    }

    #[inline]
    fn get(&self, key: usize) -> Option<&Slot> {
        match self.entries.get(key) {
            Some(Entry::Occupied(slot)) => Some(slot),
            _ => None,
        }
    }

    #[inline]
    fn get_mut(&mut self, key: usize) -> Option<&mut Slot> {
        match self.entries.get_mut(key) {
            Some(Entry::Occupied(slot)) => Some(slot),
            _ => None,
        }
    }

    /// Frees entry `key` and returns its slot.
    ///
    /// # Panics
    ///
    /// If `key` is free.
    #[inline]
    fn remove(&mut self, key: usize) -> Slot {
        let entry = self
            .entries
            .get_mut(key)
            .unwrap_or_else(|| panic!("ringio: op slot {key} removed but out of range"));
        match std::mem::replace(entry, Entry::Vacant(self.next)) {
            Entry::Occupied(slot) => {
                self.len -= 1;
                self.next = key;
                slot
            }
            vacant => {
                *entry = vacant;
                panic!("ringio: op slot {key} removed but free")
            }
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn iter(&self) -> impl Iterator<Item = (usize, &Slot)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(key, entry)| match entry {
                Entry::Occupied(slot) => Some((key, slot)),
                Entry::Vacant(_) => None,
            })
    }
}

impl std::ops::Index<usize> for Slots {
    type Output = Slot;

    fn index(&self, key: usize) -> &Slot {
        self.get(key)
            .unwrap_or_else(|| panic!("ringio: op slot {key} is free"))
    }
}

impl std::ops::IndexMut<usize> for Slots {
    fn index_mut(&mut self, key: usize) -> &mut Slot {
        self.get_mut(key)
            .unwrap_or_else(|| panic!("ringio: op slot {key} is free"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    const MORE: u32 = IORING_CQE_F_MORE;

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Counter(AtomicUsize);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let c = Arc::new(Counter::default());
        (c.clone(), Waker::from(c))
    }

    fn wakes(c: &Counter) -> usize {
        c.0.load(Ordering::SeqCst)
    }

    fn done(result: i32) -> Completion {
        Completion { result, flags: 0 }
    }

    /// A completion with IORING_CQE_F_MORE: more follow for the same key.
    fn more(result: i32) -> Completion {
        Completion {
            result,
            flags: MORE,
        }
    }

    /// Resources that record what they were released with.
    struct Tracked(Rc<RefCell<Vec<Completion>>>);
    impl Orphan for Tracked {
        fn release(self: Box<Self>, completion: Completion) {
            self.0.borrow_mut().push(completion);
        }
    }

    fn tracked() -> (
        Rc<RefCell<Vec<Completion>>>,
        impl FnOnce() -> Box<dyn Orphan>,
    ) {
        let log = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        (log, move || Box::new(Tracked(l)) as Box<dyn Orphan>)
    }

    /// A multishot sink that queues every completion, asking for a pause at `limit`.
    struct Queue {
        items: RefCell<Vec<(i32, u32)>>,
        limit: usize,
    }
    impl Multishot for Queue {
        fn on_completion(&self, result: i32, flags: u32) -> bool {
            let mut items = self.items.borrow_mut();
            items.push((result, flags));
            items.len() >= self.limit
        }
    }

    #[test]
    fn waiting_then_completed_then_polled_frees_the_slot() {
        let mut t = OpTable::new();
        let (c, w) = counter();
        let key = t.insert(Source::Kernel, &w);
        assert_eq!(t.poll(key, &w), Poll::Pending);
        assert_eq!(t.complete(key, done(7)), Routed::Done);
        assert_eq!(wakes(&c), 1);
        assert_eq!(t.poll(key, &w), Poll::Ready((done(7), Source::Kernel)));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn polling_with_another_waker_replaces_it() {
        let mut t = OpTable::new();
        let (first, w1) = counter();
        let (second, w2) = counter();
        let key = t.insert(Source::Kernel, &w1);
        assert!(t.poll(key, &w2).is_pending());
        t.complete(key, done(0));
        assert_eq!((wakes(&first), wakes(&second)), (0, 1));
    }

    #[test]
    fn orphan_while_waiting_asks_for_a_cancel_and_keeps_resources_until_the_completion() {
        let mut t = OpTable::new();
        let (_, w) = counter();
        for source in [
            Source::Kernel,
            Source::Pool,
            Source::Readiness(3, Interest::Read),
        ] {
            let key = t.insert(source, &w);
            let (log, resources) = tracked();
            assert_eq!(t.orphan(key, resources), Orphaned::CancelNeeded(source));
            assert!(log.borrow().is_empty(), "released before the completion");
            assert_eq!(t.len(), 1);
            // The late completion (the cancel's ECANCELED, or the real result).
            t.complete(key, done(-libc::ECANCELED));
            assert_eq!(*log.borrow(), vec![done(-libc::ECANCELED)]);
            assert_eq!(t.len(), 0);
        }
        assert_eq!(t.pool_jobs(), 0);
    }

    #[test]
    fn orphan_after_completion_frees_the_slot_and_hands_back_the_result() {
        let mut t = OpTable::new();
        let (_, w) = counter();
        let key = t.insert(Source::Kernel, &w);
        t.complete(key, done(42)); // e.g. an accepted fd nobody collected
        let mut built = false;
        let outcome = t.orphan(key, || {
            built = true;
            Box::new(Tracked(Rc::default()))
        });
        assert_eq!(outcome, Orphaned::Completed(done(42)));
        assert!(!built, "a finished op's resources are not boxed");
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn readiness_waits_are_discarded_without_a_completion() {
        let mut t = OpTable::new();
        let (_, w) = counter();
        let a = t.insert(Source::Readiness(5, Interest::Write), &w);
        let b = t.insert(Source::Readiness(6, Interest::Read), &w);
        t.complete(b, done(0)); // woken, not yet polled
        let k = t.insert(Source::Kernel, &w);
        assert_eq!(t.discard_readiness(a), Some((5, Interest::Write)));
        assert_eq!(t.discard_readiness(b), Some((6, Interest::Read)));
        assert_eq!(
            t.discard_readiness(k),
            None,
            "a kernel op needs a real cancel"
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn notification_keeps_the_first_result_and_delays_completion() {
        let mut t = OpTable::new();
        let (c, w) = counter();
        let key = t.insert(Source::Kernel, &w);
        t.complete(key, more(100));
        assert_eq!(wakes(&c), 0, "woken before the notification");
        assert!(t.poll(key, &w).is_pending());
        t.complete(
            key,
            Completion {
                result: 0,
                flags: 8,
            },
        );
        assert_eq!(wakes(&c), 1);
        assert_eq!(
            t.poll(key, &w),
            Poll::Ready((
                Completion {
                    result: 100,
                    flags: 8
                },
                Source::Kernel
            ))
        );
    }

    #[test]
    fn orphan_between_result_and_notification_waits_for_the_notification() {
        let mut t = OpTable::new();
        let (_, w) = counter();
        let key = t.insert(Source::Kernel, &w);
        t.complete(key, more(100));
        let (log, resources) = tracked();
        assert_eq!(t.orphan(key, resources), Orphaned::AwaitingNotification);
        assert!(log.borrow().is_empty());
        t.complete(key, done(0));
        assert_eq!(log.borrow().len(), 1);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn orphaned_send_zc_survives_its_first_completion() {
        let mut t = OpTable::new();
        let (_, w) = counter();
        let key = t.insert(Source::Kernel, &w);
        let (log, resources) = tracked();
        t.orphan(key, resources);
        t.complete(key, more(5));
        assert!(
            log.borrow().is_empty(),
            "freed while the kernel holds the pages"
        );
        t.complete(key, done(0));
        assert_eq!(log.borrow().len(), 1);
    }

    #[test]
    fn multishot_completions_queue_in_the_sink_until_the_last() {
        let mut t = OpTable::new();
        let sink = Rc::new(Queue {
            items: RefCell::new(Vec::new()),
            limit: 3,
        });
        let key = t.insert_multishot(sink.clone());
        assert!(t.is_multishot(key));
        assert_eq!(t.multishot(), 1);
        assert_eq!(t.complete(key, more(1)), Routed::Done);
        assert_eq!(t.complete(key, more(2)), Routed::Done);
        // The third fills the sink: it asks for a pause.
        assert_eq!(t.complete(key, more(3)), Routed::PauseMultishot);
        assert_eq!(
            t.complete(key, done(-libc::ECANCELED)),
            Routed::MultishotEnded
        );
        assert_eq!(
            *sink.items.borrow(),
            vec![(1, MORE), (2, MORE), (3, MORE), (-libc::ECANCELED, 0)]
        );
        assert_eq!((t.len(), t.multishot()), (0, 0));
    }

    #[test]
    fn keys_are_reused_after_free_without_mixing_states() {
        let mut t = OpTable::new();
        let (c1, w1) = counter();
        let (c2, w2) = counter();
        let first = t.insert(Source::Kernel, &w1);
        t.complete(first, done(1));
        assert!(t.poll(first, &w1).is_ready());
        let second = t.insert(Source::Pool, &w2);
        assert_eq!(first, second, "the slab reuses the freed key");
        assert!(t.poll(second, &w2).is_pending(), "no stale completion");
        t.complete(second, done(2));
        assert_eq!((wakes(&c1), wakes(&c2)), (1, 1));
        assert_eq!(t.poll(second, &w2), Poll::Ready((done(2), Source::Pool)));
    }

    #[test]
    fn unfinished_lists_what_shutdown_must_cancel() {
        let mut t = OpTable::new();
        let (_, w) = counter();
        let a = t.insert(Source::Kernel, &w);
        let b = t.insert(Source::Pool, &w);
        let c = t.insert(Source::Kernel, &w);
        t.complete(c, done(0));
        let mut left = t.unfinished();
        left.sort_by_key(|(k, _)| *k);
        assert_eq!(left, vec![(a, Source::Kernel), (b, Source::Pool)]);
        assert!(t.has_unfinished());
        assert_eq!(t.pool_jobs(), 1);
    }

    #[test]
    #[should_panic(expected = "second completion")]
    fn a_second_completion_is_refused() {
        let mut t = OpTable::new();
        let (_, w) = counter();
        let key = t.insert(Source::Kernel, &w);
        t.complete(key, done(0));
        t.complete(key, done(0));
    }

    #[test]
    #[should_panic(expected = "unknown op slot")]
    fn a_completion_for_a_free_key_is_refused() {
        let mut t = OpTable::new();
        t.complete(3, done(0));
    }
}
