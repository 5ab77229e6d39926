//! Loop callbacks: [`call_soon`], [`call_later`], [`call_at`].

use super::context;
use super::debug::{PanicKind, PanicReport};
use crate::task::{panic_message, JoinHandle};
use crate::time::{sleep_until, Instant};
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::time::Duration;

/// A scheduled callback. Dropping it does not cancel the callback; [`cancel`] does.
///
/// [`cancel`]: CallbackHandle::cancel
#[derive(Debug)]
pub struct CallbackHandle {
    task: JoinHandle<()>,
}

impl CallbackHandle {
    /// Cancels the callback if it has not run yet; returns whether it was still
    /// pending. Does nothing once it has run.
    pub fn cancel(&self) -> bool {
        self.task.abort()
    }

    /// Whether the callback has run (or was cancelled).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Runs `f` on this worker at its next turn. Callbacks run in the order scheduled;
/// a panic goes to the exception handler.
///
/// ```
/// # ringio::run(async {
/// use std::{cell::RefCell, rc::Rc};
/// let log = Rc::new(RefCell::new(Vec::new()));
/// for i in 0..3 {
///     let log = log.clone();
///     ringio::runtime::call_soon(move || log.borrow_mut().push(i));
/// }
/// ringio::yield_now().await;
/// assert_eq!(*log.borrow(), [0, 1, 2]);
/// # });
/// ```
///
/// # Panics
///
/// Outside a ringio runtime.
#[track_caller]
pub fn call_soon(f: impl FnOnce() + 'static) -> CallbackHandle {
    schedule(None, f, Location::caller())
}

/// Runs `f` on this worker after `delay` (on the runtime's clock).
///
/// # Panics
///
/// Outside a ringio runtime.
#[track_caller]
pub fn call_later(delay: Duration, f: impl FnOnce() + 'static) -> CallbackHandle {
    let at = Instant::now()
        .checked_add(delay)
        .unwrap_or_else(Instant::far_future);
    schedule(Some(at), f, Location::caller())
}

/// Runs `f` on this worker at `at`; a time already past runs it at the next turn.
///
/// # Panics
///
/// Outside a ringio runtime.
#[track_caller]
pub fn call_at(at: Instant, f: impl FnOnce() + 'static) -> CallbackHandle {
    schedule(Some(at), f, Location::caller())
}

fn schedule(
    at: Option<Instant>,
    f: impl FnOnce() + 'static,
    location: &'static Location<'static>,
) -> CallbackHandle {
    let body = async move {
        if let Some(at) = at {
            sleep_until(at).await;
        }
        if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
            let message = panic_message(&*payload).unwrap_or("").to_string();
            context::with_core(|core| {
                let task = core.current_task().expect("a callback runs as a task");
                core.report_panic(&PanicReport {
                    kind: PanicKind::Callback,
                    task,
                    message,
                });
            });
        }
    };
    let task = context::with_core(|core| core.spawn(body, Some("callback".into()), location));
    CallbackHandle { task }
}
