//! Task-local values: [`task_local!`](crate::task_local) and [`LocalKey`].
//!
//! # Implementation
//!
//! A key is a thread-local slot. [`LocalKey::scope`] moves its value into the slot for
//! the length of each poll of the wrapped future and back out after, so the value is
//! seen by that future (and what it awaits) and by nothing else polled on the thread.

use std::cell::RefCell;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::pin;

/// Declares task-local keys, like `thread_local!`, each a [`LocalKey`].
///
/// ```
/// ringio::task_local! {
///     static REQUEST_ID: u64;
/// }
/// # ringio::run(async {
/// REQUEST_ID.scope(7, async {
///     assert_eq!(REQUEST_ID.get(), 7);
///     ringio::yield_now().await; // other tasks run meanwhile and see nothing
///     assert_eq!(REQUEST_ID.get(), 7);
/// }).await;
/// assert!(REQUEST_ID.try_with(|_| ()).is_err());
/// # });
/// ```
#[macro_export]
macro_rules! task_local {
    ($($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty;)+) => {$(
        $(#[$attr])*
        $vis static $name: $crate::task::LocalKey<$t> = {
            ::std::thread_local! {
                static __RINGIO_TASK_LOCAL: ::std::cell::RefCell<::std::option::Option<$t>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }
            $crate::task::LocalKey::__new(&__RINGIO_TASK_LOCAL)
        };
    )+};
}

/// A task-local key, declared with [`task_local!`](crate::task_local).
pub struct LocalKey<T: 'static> {
    slot: &'static std::thread::LocalKey<RefCell<Option<T>>>,
}

/// The key has no value in the current task (outside any [`LocalKey::scope`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessError;

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task-local value not set in this task")
    }
}

impl std::error::Error for AccessError {}

/// Puts the value back in the future's keeping when a poll ends, even by panic.
struct Restore<'a, T: 'static> {
    key: &'static std::thread::LocalKey<RefCell<Option<T>>>,
    value: &'a mut Option<T>,
}

impl<T: 'static> Drop for Restore<'_, T> {
    fn drop(&mut self) {
        self.key
            .with(|c| std::mem::swap(&mut *c.borrow_mut(), self.value));
    }
}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    pub const fn __new(slot: &'static std::thread::LocalKey<RefCell<Option<T>>>) -> LocalKey<T> {
        LocalKey { slot }
    }

    /// Runs `future` with the key set to `value`.
    ///
    /// # Cancel safety
    ///
    /// As cancel-safe as `future`; the value is dropped with it.
    pub async fn scope<F: Future>(&'static self, value: T, future: F) -> F::Output {
        let mut value = Some(value);
        let mut future = pin!(future);
        poll_fn(|cx| {
            self.slot
                .with(|c| std::mem::swap(&mut *c.borrow_mut(), &mut value));
            let _restore = Restore {
                key: self.slot,
                value: &mut value,
            };
            future.as_mut().poll(cx)
        })
        .await
    }

    /// Runs `f` with the current task's value.
    ///
    /// # Panics
    ///
    /// Outside a [`scope`](LocalKey::scope) of this key.
    #[track_caller]
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        self.try_with(f)
            .expect("task-local value not set in this task (use LocalKey::scope)")
    }

    /// Runs `f` with the current task's value, if it has one.
    ///
    /// # Errors
    ///
    /// [`AccessError`] outside a [`scope`](LocalKey::scope) of this key.
    pub fn try_with<R>(&'static self, f: impl FnOnce(&T) -> R) -> Result<R, AccessError> {
        self.slot
            .with(|c| c.borrow().as_ref().map(f).ok_or(AccessError))
    }

    /// A copy of the current task's value.
    ///
    /// # Panics
    ///
    /// Outside a [`scope`](LocalKey::scope) of this key.
    #[track_caller]
    pub fn get(&'static self) -> T
    where
        T: Clone,
    {
        self.with(T::clone)
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalKey { .. }")
    }
}
