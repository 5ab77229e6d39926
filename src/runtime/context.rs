//! The thread-local context: which worker, if any, runs on this thread right now.

use super::worker::Core;
use crate::driver::{DriverHandle, DriverScope};
use std::cell::RefCell;
use std::rc::Rc;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

const NOT_IN_RUNTIME: &str = "this function must be called from within a ringio runtime \
     (inside `ringio::run` or `Runtime::block_on`)";

/// Restores the previous context when dropped.
pub(crate) struct EnterGuard {
    prev: Option<Rc<Core>>,
    /// The entered worker's driver as the thread's current driver (restored after
    /// `CURRENT`, in `Drop`'s field order).
    _driver: DriverScope,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

/// Makes `core` current for a `block_on`.
///
/// # Panics
///
/// If a runtime is already running on this thread: a nested `block_on` would stall the
/// outer loop for as long as it runs.
pub(crate) fn enter(core: Rc<Core>) -> EnterGuard {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        assert!(
            c.is_none(),
            "ringio: cannot start a runtime (`ringio::run` / `Runtime::block_on`) from inside a \
             running ringio runtime: it would block the running loop. Spawn the future with \
             `ringio::spawn`, or `.await` it, instead"
        );
        *c = Some(core.clone());
    });
    EnterGuard {
        prev: None,
        _driver: DriverHandle::make_current(Some(&core.driver)),
    }
}

/// Makes `core` current for its own shutdown, whatever was current before.
pub(crate) fn enter_for_shutdown(core: Rc<Core>) -> EnterGuard {
    let driver = DriverHandle::make_current(Some(&core.driver));
    let prev = CURRENT.with(|c| c.borrow_mut().replace(core));
    EnterGuard {
        prev,
        _driver: driver,
    }
}

/// Whether a runtime is running on this thread.
pub(crate) fn is_entered() -> bool {
    CURRENT.try_with(|c| c.borrow().is_some()).unwrap_or(false)
}

/// Runs `f` with the current worker.
///
/// # Panics
///
/// Outside a runtime.
#[track_caller]
pub(crate) fn with_core<R>(f: impl FnOnce(&Rc<Core>) -> R) -> R {
    CURRENT.with(|c| match &*c.borrow() {
        Some(core) => f(core),
        None => panic!("{NOT_IN_RUNTIME}"),
    })
}

/// Runs `f` with the current worker, or returns `None` outside a runtime (or while the
/// thread is being torn down).
pub(crate) fn try_with_core<R>(f: impl FnOnce(&Rc<Core>) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| c.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

/// The current worker's driver.
#[track_caller]
#[inline]
pub(crate) fn driver() -> DriverHandle {
    match DriverHandle::current() {
        Some(driver) => driver,
        None => not_in_runtime(),
    }
}

#[cold]
#[track_caller]
fn not_in_runtime() -> ! {
    panic!("{NOT_IN_RUNTIME}")
}
