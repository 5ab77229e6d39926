//! The raw task cell: one allocation per task holding its header, its future, then its
//! output, driven through a per-type vtable (the shape of tokio's and async-task's).
//!
//! # Layout and ownership
//!
//! A task is one heap block, `Cell<F>`: a [`Header`] first (so a `*const Header` is a
//! pointer to the block), then the stage, which holds the future while it runs and its
//! output (or error) once it is done. Who may touch what:
//!
//! - **Any thread** reads `refs` (atomically), `vtable` and `home`, which never change
//!   after the task is made. Nothing else: every other field belongs to the home thread.
//! - **The home thread** (the worker that spawned it) reads and writes the state bits,
//!   the run-queue link, the slab key, the join waker and the stage.
//!
//! The block is freed when `refs` reaches zero. References are held by: the worker's
//! task list (the *owned* reference, [`OWNED`]), the `JoinHandle`, every `Waker` made by
//! cloning, and every wake queued in another worker's inbox ([`TaskRef`]). The waker
//! passed to a poll borrows the worker's reference instead of taking one, so a poll
//! costs no reference-count traffic.
//!
//! # State bits (home thread only, so plain `Cell` reads and writes)
//!
//! | bit | set by | cleared by |
//! |---|---|---|
//! | `SCHEDULED` | a local wake of a task neither scheduled nor complete | the worker, as it takes the task off the run queue |
//! | `RUNNING` | the worker, around each poll | the worker, after the poll |
//! | `COMPLETE` | the worker, when the future returned or was dropped (abort, shutdown) | never |
//! | `JOIN_INTEREST` | spawn | dropping the `JoinHandle` (the task is then detached) |
//! | `ABORTED` | `JoinHandle::abort` on an unfinished task | never |
//! | `OWNED` | spawn | the worker releasing its reference (below) |
//!
//! Transitions:
//!
//! - A **wake** on the home thread of a task that is neither `SCHEDULED` nor `COMPLETE`
//!   sets `SCHEDULED` and pushes it onto the intrusive run queue: no atomic operation.
//!   A wake while `RUNNING` does the same, so the task runs again after this poll. A
//!   wake from any other thread takes a reference and queues it in the home worker's
//!   inbox (ringing it); the worker then wakes it locally and drops that reference. A
//!   wake after `COMPLETE` does nothing.
//! - The worker **pops** a task, clears `SCHEDULED`, and polls it (or, if `ABORTED`,
//!   drops its future without polling). If the future is done, the task becomes
//!   `COMPLETE`: the output goes into the stage, the join waker is woken, and a
//!   detached task's output is dropped at once (a panic nobody can observe is reported).
//! - The worker **releases** its reference once the task is `COMPLETE` and not
//!   `SCHEDULED` (a task woken during its last poll is still on the queue: the pop that
//!   finds it `COMPLETE` releases it instead).
//! - The **`JoinHandle`** takes the output once `COMPLETE`, or registers its waker.
//!   Dropped, it clears `JOIN_INTEREST`, drops an output that is there (reporting a
//!   panic nobody took), and releases its reference.
//!
//! So once the home thread's references (worker and handle) are gone, the stage is
//! empty, and a last reference dropped on another thread (a waker outliving its task,
//! or its runtime) frees plain memory: nothing of the future's or output's types, which
//! may be `!Send`, is ever dropped off the home thread.

use super::error::JoinError;
use super::scheduler;
use super::TaskId;
use crate::runtime::worker::Shared;
use std::cell::{Cell, OnceCell, UnsafeCell};
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

pub(crate) const SCHEDULED: u8 = 1;
pub(crate) const RUNNING: u8 = 1 << 1;
pub(crate) const COMPLETE: u8 = 1 << 2;
pub(crate) const JOIN_INTEREST: u8 = 1 << 3;
pub(crate) const ABORTED: u8 = 1 << 4;
pub(crate) const OWNED: u8 = 1 << 5;

/// A reference count past this is a leak of wakers; abort rather than overflow.
const MAX_REFS: usize = isize::MAX as usize;

/// What every task has, whatever its future and output types.
pub(crate) struct Header {
    /// References to the block (see the module docs). Atomic: wakers are cloned and
    /// dropped on any thread.
    refs: AtomicUsize,
    /// The functions that know the block's types.
    vtable: &'static Vtable,
    /// The home worker, for wakes from other threads.
    pub(crate) home: Arc<Shared>,
    /// State bits (home thread).
    state: Cell<u8>,
    /// The next task on the run queue (home thread).
    pub(crate) next: Cell<Option<RawTask>>,
    /// Where the worker's task list holds it (home thread). 32 bits: four billion live
    /// tasks on one worker is far beyond memory, and the state byte packs beside it.
    pub(crate) key: Cell<u32>,
    /// The joiner's waker (home thread).
    join_waker: UnsafeCell<Option<Waker>>,
    pub(crate) id: TaskId,
    pub(crate) location: &'static Location<'static>,
    pub(crate) polls: Cell<u64>,
    /// The rarely used parts (a name, debug mode's poll time), boxed on first use so
    /// that an unnamed task outside debug mode pays one word for them, not four: every
    /// idle connection's task carries this header.
    extra: OnceCell<Box<HeaderExtra>>,
}

/// The parts of a [`Header`] most tasks never use.
#[derive(Default)]
struct HeaderExtra {
    name: Option<Box<str>>,
    /// When the task was last polled (debug mode only: nothing is timed otherwise).
    last_poll: Cell<Option<std::time::Instant>>,
}

impl Header {
    /// The name given at spawn, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        self.extra.get()?.name.as_deref()
    }

    /// When the task was last polled, recorded in debug mode only.
    pub(crate) fn last_poll(&self) -> Option<std::time::Instant> {
        self.extra.get()?.last_poll.get()
    }

    /// Records a poll's start (debug mode).
    pub(crate) fn set_last_poll(&self, at: std::time::Instant) {
        self.extra.get_or_init(Box::default).last_poll.set(Some(at));
    }
}

/// A task's future, then its output.
enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// The block: the header first, so a pointer to it is a pointer to the header.
#[repr(C)]
struct TaskBlock<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

/// The type-specific half of a task.
struct Vtable {
    /// Polls the future once (or drops it, if aborted); true once it is done, its
    /// result in the stage.
    poll: unsafe fn(RawTask, &mut Context<'_>) -> bool,
    /// Drops the future unpolled and stores `Cancelled` (runtime shutdown).
    cancel: unsafe fn(RawTask),
    /// Moves the output into `*mut Option<Result<Output, JoinError>>`.
    take_output: unsafe fn(RawTask, *mut ()),
    /// Drops the output if it is there; returns the panic text if it was a panic.
    drop_output: unsafe fn(RawTask) -> Option<JoinError>,
    /// Whether the stage holds a panic.
    output_is_panic: unsafe fn(RawTask) -> bool,
    /// Frees the block.
    dealloc: unsafe fn(RawTask),
}

/// A pointer to a task's block that owns nothing: valid while a reference is held by
/// whoever uses it (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RawTask(NonNull<Header>);

impl RawTask {
    /// Allocates a task with two references (the worker's and the `JoinHandle`'s),
    /// `OWNED | JOIN_INTEREST`.
    pub(crate) fn new<F>(
        future: F,
        home: Arc<Shared>,
        id: TaskId,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
    ) -> RawTask
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let block = Box::new(TaskBlock {
            header: Header {
                refs: AtomicUsize::new(2),
                vtable: &Vtable {
                    poll: poll::<F>,
                    cancel: cancel::<F>,
                    take_output: take_output::<F>,
                    drop_output: drop_output::<F>,
                    output_is_panic: output_is_panic::<F>,
                    dealloc: dealloc::<F>,
                },
                home,
                state: Cell::new(OWNED | JOIN_INTEREST),
                next: Cell::new(None),
                key: Cell::new(u32::MAX),
                join_waker: UnsafeCell::new(None),
                id,
                location,
                polls: Cell::new(0),
                extra: match name {
                    Some(name) => OnceCell::from(Box::new(HeaderExtra {
                        name: Some(name),
                        last_poll: Cell::new(None),
                    })),
                    None => OnceCell::new(),
                },
            },
            stage: UnsafeCell::new(Stage::Running(future)),
        });
        // The header is the block's first field (`repr(C)`).
        RawTask(NonNull::from(Box::leak(block)).cast())
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: whoever holds a `RawTask` holds a reference to the block (module
        // docs), so it is allocated; fields other threads may touch are atomic or
        // never written after construction.
        unsafe { self.0.as_ref() }
    }

    pub(crate) fn state(&self) -> u8 {
        self.header().state.get()
    }

    pub(crate) fn set(&self, bits: u8) {
        let h = self.header();
        h.state.set(h.state.get() | bits);
    }

    pub(crate) fn clear(&self, bits: u8) {
        let h = self.header();
        h.state.set(h.state.get() & !bits);
    }

    pub(crate) fn is(&self, bits: u8) -> bool {
        self.state() & bits != 0
    }

    /// Takes one more reference.
    fn add_ref(&self) {
        let old = self.header().refs.fetch_add(1, Ordering::Relaxed);
        if old > MAX_REFS {
            std::process::abort();
        }
    }

    /// Drops one reference, freeing the block with the last.
    ///
    /// # Safety
    ///
    /// The caller holds a reference and does not use this `RawTask` afterwards (unless
    /// it holds another).
    pub(crate) unsafe fn drop_ref(self) {
        if self.header().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Every other thread's use of the block happens before the free.
        fence(Ordering::Acquire);
        // SAFETY: that was the last reference; by the module's invariant the stage is
        // empty (or holds only the `Send` cancellation error) when the home thread's
        // references are gone, so freeing it here is sound on any thread.
        unsafe { (self.header().vtable.dealloc)(self) }
    }

    /// Polls the task with a waker that borrows the worker's reference. True when the
    /// task is done (its result stored). Home thread only.
    pub(crate) fn poll(self) -> bool {
        let raw = RawWaker::new(self.0.as_ptr() as *const (), &WAKER_VTABLE);
        // SAFETY: the vtable's contract holds (see its functions). ManuallyDrop: this
        // waker owns no reference, so it must not drop one.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw) });
        let mut cx = Context::from_waker(&waker);
        self.header().polls.set(self.header().polls.get() + 1);
        // SAFETY: called by the home worker, which holds the owned reference, while
        // the task is not complete (checked by the caller), and never re-entrantly for
        // one task (RUNNING is set around it).
        unsafe { (self.header().vtable.poll)(self, &mut cx) }
    }

    /// Drops the future unpolled; the stage then holds `Cancelled`. Home thread only,
    /// with the task not complete and not running.
    pub(crate) fn cancel(self) {
        // SAFETY: as for `poll`.
        unsafe { (self.header().vtable.cancel)(self) }
    }

    /// The task is done: marks it complete, wakes the joiner, and drops the output at
    /// once if nobody can take it; a panic that nobody can observe is returned, for
    /// the caller to report. Home thread only.
    pub(crate) fn complete(self) -> Option<JoinError> {
        self.set(COMPLETE);
        if self.is(JOIN_INTEREST) {
            // SAFETY: the join waker is touched only on the home thread, here and by
            // the handle, never while another borrow of it is live.
            if let Some(w) = unsafe { (*self.header().join_waker.get()).take() } {
                w.wake();
            }
            None
        } else {
            // SAFETY: complete, so the stage holds the result; home thread.
            unsafe { (self.header().vtable.drop_output)(self) }
        }
    }

    /// The worker gives up its reference (the task is complete and off the queue).
    pub(crate) fn release_owned(self) {
        debug_assert!(self.is(COMPLETE) && !self.is(SCHEDULED) && self.is(OWNED));
        self.clear(OWNED);
        // SAFETY: the worker held this reference and drops its last use of it here.
        unsafe { self.drop_ref() }
    }

    /// Schedules the task on its home worker's run queue, if this thread is that
    /// worker's; false if it is not (the caller goes through the inbox).
    fn wake_local(self) -> bool {
        scheduler::with_local(&self.header().home, |sched| {
            let state = self.state();
            if state & (SCHEDULED | COMPLETE) == 0 {
                self.header().state.set(state | SCHEDULED);
                sched.push(self);
            }
        })
    }

    /// Wakes the task from any thread.
    #[inline]
    pub(crate) fn wake(self) {
        if !self.wake_local() {
            self.wake_remote();
        }
    }

    /// Wakes the task from a thread other than its home worker's.
    #[cold]
    #[inline(never)]
    fn wake_remote(self) {
        self.add_ref();
        // The home worker wakes it locally and drops the reference; if it is gone,
        // the reference drops here.
        self.header().home.schedule_remote(TaskRef(self));
    }
}

/// A counted reference to a task that may cross threads: a wake queued in an inbox.
pub(crate) struct TaskRef(RawTask);

// SAFETY: other threads touch only the block's atomic reference count and its
// immutable `home`, and free the block only when its stage is empty (module docs).
unsafe impl Send for TaskRef {}

impl TaskRef {
    /// Wakes the task on this, its home, thread.
    pub(crate) fn wake_here(self) {
        self.0.wake();
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: a `TaskRef` holds one reference, dropped once, here.
        unsafe { self.0.drop_ref() }
    }
}

/// The owner of a task's output: what `JoinHandle<T>` holds.
pub(crate) struct JoinRef<T> {
    task: RawTask,
    // `fn() -> T`: the handle gives a `T` out and holds none (so `Unpin` whatever `T`).
    _output: PhantomData<fn() -> T>,
}

impl<T> JoinRef<T> {
    /// Takes the handle's reference of a freshly made task (of output type `T`).
    pub(crate) fn new(task: RawTask) -> JoinRef<T> {
        JoinRef {
            task,
            _output: PhantomData,
        }
    }

    pub(crate) fn header(&self) -> &Header {
        self.task.header()
    }

    #[cfg(test)]
    pub(crate) fn raw(&self) -> RawTask {
        self.task
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.task.is(COMPLETE)
    }

    /// The output, if the task is complete and it was not taken yet.
    pub(crate) fn try_take(&self) -> Option<Result<T, JoinError>> {
        if !self.is_complete() {
            return None;
        }
        let mut out: Option<Result<T, JoinError>> = None;
        // SAFETY: complete, so the stage holds the result or nothing; `out` has the
        // output type the task was made with (`JoinRef<T>` comes from its spawn).
        unsafe {
            (self.header().vtable.take_output)(self.task, (&mut out as *mut Option<_>).cast())
        };
        out
    }

    /// Registers `waker` to be woken at completion.
    pub(crate) fn register(&self, waker: &Waker) {
        // SAFETY: home thread (`JoinHandle` is `!Send`); no other borrow is live.
        let slot = unsafe { &mut *self.header().join_waker.get() };
        match slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// The output is there and is a panic.
    pub(crate) fn holds_panic(&self) -> bool {
        // SAFETY: home thread; reads the stage only once complete.
        self.is_complete() && unsafe { (self.header().vtable.output_is_panic)(self.task) }
    }

    /// Asks for the task to be dropped before its next poll; false if it is complete.
    pub(crate) fn abort(&self) -> bool {
        if self.is_complete() {
            return false;
        }
        if !self.task.is(ABORTED) {
            self.task.set(ABORTED);
            self.task.wake();
        }
        true
    }

    /// The handle goes: the task is detached. An output already there is dropped now;
    /// returned if it is a panic nobody took.
    pub(crate) fn detach(&mut self) -> Option<JoinError> {
        self.task.clear(JOIN_INTEREST);
        // SAFETY: home thread; the join waker is not borrowed elsewhere.
        drop(unsafe { (*self.header().join_waker.get()).take() });
        if self.is_complete() {
            // SAFETY: complete; home thread.
            unsafe { (self.header().vtable.drop_output)(self.task) }
        } else {
            None
        }
    }
}

impl<T> Drop for JoinRef<T> {
    fn drop(&mut self) {
        // SAFETY: the handle's reference, dropped once, here.
        unsafe { self.task.drop_ref() }
    }
}

/// # Safety
///
/// `task` is a `TaskBlock<F>`; home thread; not complete; not running.
unsafe fn poll<F: Future>(task: RawTask, cx: &mut Context<'_>) -> bool {
    // SAFETY: the block is a `TaskBlock<F>` (this vtable was made for it), and only the
    // home thread touches the stage, never re-entrantly.
    let stage = unsafe { &mut *task.0.cast::<TaskBlock<F>>().as_ref().stage.get() };
    let Stage::Running(future) = stage else {
        return true;
    };
    if task.is(ABORTED) {
        abort_stage(task, stage);
        return true;
    }
    // SAFETY: the future lives in the block, which never moves, until it is dropped in
    // place; it is never moved out.
    let future = unsafe { Pin::new_unchecked(future) };
    match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
        Ok(Poll::Pending) => false,
        Ok(Poll::Ready(v)) => {
            finish_stage(stage, Ok(v));
            true
        }
        Err(p) => {
            finish_stage(stage, Err(JoinError::panic(task.header().id, p)));
            true
        }
    }
}

/// An aborted task's future is dropped unpolled; the stage then holds `Cancelled` (or
/// the panic of that drop). Out of line: the poll's common path stays small.
#[cold]
#[inline(never)]
fn abort_stage<F: Future>(task: RawTask, stage: &mut Stage<F>) {
    let id = task.header().id;
    let dropped = replace_stage(stage, Stage::Consumed);
    *stage = Stage::Finished(Err(match dropped {
        Ok(()) => JoinError::cancelled(id),
        Err(p) => JoinError::panic(id, p),
    }));
}

/// The future is done: dropped, and its result stored. Out of line (once per task).
#[cold]
#[inline(never)]
fn finish_stage<F: Future>(stage: &mut Stage<F>, result: Result<F::Output, JoinError>) {
    // A panic in the future's drop after it returned is reported by the panic hook and
    // otherwise ignored: the result stands.
    let _ = replace_stage(stage, Stage::Consumed);
    *stage = Stage::Finished(result);
}

/// Replaces the stage, dropping the old one with its panic caught (the stage is valid,
/// `Consumed`, if that drop panics).
fn replace_stage<F: Future>(stage: &mut Stage<F>, new: Stage<F>) -> std::thread::Result<()> {
    let old = std::mem::replace(stage, new);
    catch_unwind(AssertUnwindSafe(move || drop(old)))
}

/// # Safety
///
/// As for [`poll`].
unsafe fn cancel<F: Future>(task: RawTask) {
    // SAFETY: as in `poll`.
    let stage = unsafe { &mut *task.0.cast::<TaskBlock<F>>().as_ref().stage.get() };
    if let Stage::Running(_) = stage {
        let id = task.header().id;
        let dropped = replace_stage(stage, Stage::Consumed);
        *stage = Stage::Finished(Err(match dropped {
            Ok(()) => JoinError::cancelled(id),
            Err(p) => JoinError::panic(id, p),
        }));
    }
}

/// # Safety
///
/// `task` is a complete `TaskBlock<F>`, home thread, and `out` points to an
/// `Option<Result<F::Output, JoinError>>`.
unsafe fn take_output<F: Future>(task: RawTask, out: *mut ()) {
    // SAFETY: as in `poll`; the task is complete, so nothing polls the stage.
    let stage = unsafe { &mut *task.0.cast::<TaskBlock<F>>().as_ref().stage.get() };
    if let Stage::Finished(_) = stage {
        let Stage::Finished(result) = std::mem::replace(stage, Stage::Consumed) else {
            unreachable!("checked above");
        };
        // SAFETY: the caller's `out` has this type.
        unsafe { *out.cast::<Option<Result<F::Output, JoinError>>>() = Some(result) };
    }
}

/// # Safety
///
/// As for [`take_output`].
unsafe fn drop_output<F: Future>(task: RawTask) -> Option<JoinError> {
    // SAFETY: as in `take_output`.
    let stage = unsafe { &mut *task.0.cast::<TaskBlock<F>>().as_ref().stage.get() };
    match std::mem::replace(stage, Stage::Consumed) {
        Stage::Finished(Err(e)) if e.is_panic() => Some(e),
        Stage::Finished(Ok(output)) => {
            // A panic in the output's drop is reported by the panic hook; the worker
            // goes on.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(output)));
            None
        }
        _ => None,
    }
}

/// # Safety
///
/// As for [`take_output`].
unsafe fn output_is_panic<F: Future>(task: RawTask) -> bool {
    // SAFETY: as in `take_output`; only reads.
    let stage = unsafe { &*task.0.cast::<TaskBlock<F>>().as_ref().stage.get() };
    matches!(stage, Stage::Finished(Err(e)) if e.is_panic())
}

/// # Safety
///
/// `task` is a `TaskBlock<F>` with no reference left.
unsafe fn dealloc<F: Future>(task: RawTask) {
    // SAFETY: made by `Box::new` in `RawTask::new` with this type; nobody holds a
    // reference. The stage is `Consumed` or a `Send` cancellation error here (module
    // docs), so dropping it on this thread is sound.
    drop(unsafe { Box::from_raw(task.0.cast::<TaskBlock<F>>().as_ptr()) });
}

/// The waker of every task: its data pointer is the task's header.
static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    // SAFETY: a task waker's data is a live task's header (the waker holds or borrows
    // a reference).
    let task = RawTask(unsafe { NonNull::new_unchecked(data as *mut Header) });
    task.add_ref();
    RawWaker::new(data, &WAKER_VTABLE)
}

unsafe fn waker_wake(data: *const ()) {
    // SAFETY: as in `waker_clone`.
    let task = RawTask(unsafe { NonNull::new_unchecked(data as *mut Header) });
    task.wake();
    // SAFETY: a waker woken by value gives up its reference.
    unsafe { task.drop_ref() };
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    // SAFETY: as in `waker_clone`.
    RawTask(unsafe { NonNull::new_unchecked(data as *mut Header) }).wake();
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: as in `waker_clone`; a dropped waker gives up its reference. (The poll's
    // borrowed waker is never dropped: `RawTask::poll` holds it in a `ManuallyDrop`.)
    unsafe { RawTask(NonNull::new_unchecked(data as *mut Header)).drop_ref() };
}
