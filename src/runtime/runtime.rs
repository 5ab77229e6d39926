//! [`Runtime`] and [`run`].

use super::worker::Core;
use super::{context, Builder};
use crate::driver::{Backend, DriverConfig, DriverInfo};
use crate::task::JoinHandle;
use crate::time::{Clock, Timers};
use std::future::Future;
use std::io;
use std::panic::Location;
use std::rc::Rc;

/// A single-threaded ringio runtime: one event loop, its driver and timers.
///
/// It is asyncio's `Runner`: [`block_on`](Runtime::block_on) may be called again and
/// again, and tasks spawned in one call keep running in the next. Dropping the runtime
/// drops every task, cancels what the kernel still holds and waits for it.
///
/// ```
/// let rt = ringio::Runtime::new().unwrap();
/// let h = rt.block_on(async { ringio::spawn(async { 5 }) });
/// assert_eq!(rt.block_on(h).unwrap(), 5);
/// ```
pub struct Runtime {
    core: Rc<Core>,
    info: DriverInfo,
}

impl Runtime {
    /// A runtime with the [`Builder`]'s defaults.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    pub(crate) fn from_builder(
        builder: &Builder,
        driver: crate::driver::Driver,
    ) -> io::Result<Runtime> {
        let config = DriverConfig {
            entries: builder.entries,
        };
        let (backend, info) = Backend::new(driver, &config)?;
        let timers = Timers::new(Clock::new(builder.start_paused));
        Ok(Runtime {
            core: Rc::new(Core::new(backend, timers)),
            info,
        })
    }

    /// Runs `future` to completion on this thread, running spawned tasks meanwhile.
    ///
    /// # Panics
    ///
    /// If a ringio runtime is already running on this thread, and if `future` panics.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.core.block_on(future, Location::caller())
    }

    /// Spawns a task that starts at the next `block_on`.
    ///
    /// ```
    /// let rt = ringio::Runtime::new().unwrap();
    /// let h = rt.spawn(async { "hi" });
    /// assert_eq!(rt.block_on(h).unwrap(), "hi");
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future, None, Location::caller())
    }

    /// Which backend runs and with what flags; see [`DriverInfo`].
    pub fn driver_info(&self) -> &DriverInfo {
        &self.info
    }

    /// Tasks spawned on this runtime that have not finished.
    pub fn alive_tasks(&self) -> usize {
        self.core.task_count()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.core.shut_down();
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("driver", &self.info)
            .finish_non_exhaustive()
    }
}

/// Runs `future` on a new single-threaded runtime and returns its output, dropping every
/// task left when it finishes. The backend is chosen by `RINGIO_DRIVER` or
/// automatically (see [`Driver`](crate::runtime::Driver)).
///
/// ```
/// let v = ringio::run(async {
///     let h = ringio::spawn(async { 21 });
///     h.await.unwrap() * 2
/// });
/// assert_eq!(v, 42);
/// ```
///
/// # Panics
///
/// Inside a running ringio runtime (a nested run would block it), if the runtime cannot
/// start, and if `future` panics.
#[track_caller]
pub fn run<F: Future>(future: F) -> F::Output {
    assert!(
        !context::is_entered(),
        "ringio::run cannot be called from inside a running ringio runtime: it would block \
         the running loop. Spawn the future with `ringio::spawn`, or `.await` it, instead"
    );
    let rt =
        Runtime::new().unwrap_or_else(|e| panic!("ringio::run: cannot start the runtime: {e}"));
    rt.block_on(future)
}
