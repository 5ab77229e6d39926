//! [`Builder`]: how a runtime is configured.

use super::Runtime;
use crate::driver::Driver;
use std::io;

/// Configures and builds a [`Runtime`].
///
/// ```
/// use ringio::runtime::{Builder, Driver};
/// let rt = Builder::new()
///     .entries(512)
///     .driver(Driver::Auto)
///     .start_paused(false)
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { 1 }), 1);
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    pub(crate) entries: u32,
    pub(crate) start_paused: bool,
    pub(crate) driver: Option<Driver>,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: 256 submission queue entries, the real clock, and the backend
    /// from `RINGIO_DRIVER` or else [`Driver::Auto`].
    pub fn new() -> Builder {
        Builder {
            entries: 256,
            start_paused: false,
            driver: None,
        }
    }

    /// io_uring submission queue entries (rounded up to a power of two). The completion
    /// queue gets four times as many. More entries mean fewer forced submits under load.
    pub fn entries(&mut self, entries: u32) -> &mut Builder {
        self.entries = entries;
        self
    }

    /// Starts the clock paused: time stands still while any task can run, and jumps to
    /// the next timer's deadline when none can, so tests of time behaviour take no wall
    /// time. Like tokio's auto-advance, this races with I/O that the kernel has not
    /// finished yet; keep it for tests whose I/O is driven by the test itself.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = ringio::Builder::new().start_paused(true).build().unwrap();
    /// let t = std::time::Instant::now();
    /// rt.block_on(ringio::time::sleep(Duration::from_secs(3600)));
    /// assert!(t.elapsed() < Duration::from_secs(60));
    /// ```
    pub fn start_paused(&mut self, paused: bool) -> &mut Builder {
        self.start_paused = paused;
        self
    }

    /// Chooses the backend, overriding the `RINGIO_DRIVER` environment variable.
    pub fn driver(&mut self, driver: Driver) -> &mut Builder {
        self.driver = Some(driver);
        self
    }

    /// Builds the runtime on this thread.
    ///
    /// # Errors
    ///
    /// If `RINGIO_DRIVER` holds something other than `auto`, `uring` or `epoll`; if
    /// io_uring was demanded and cannot start (the error says why); or if the kernel
    /// refuses an eventfd or epoll instance.
    pub fn build(&mut self) -> io::Result<Runtime> {
        let driver = match self.driver {
            Some(d) => d,
            None => driver_from_env()?,
        };
        Runtime::from_builder(self, driver)
    }
}

/// The backend `RINGIO_DRIVER` asks for, `Auto` if it is unset.
fn driver_from_env() -> io::Result<Driver> {
    match std::env::var("RINGIO_DRIVER") {
        Err(std::env::VarError::NotPresent) => Ok(Driver::Auto),
        Ok(v) if v.is_empty() => Ok(Driver::Auto),
        Ok(v) => Driver::parse(&v).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RINGIO_DRIVER={v:?}: expected `auto`, `uring` or `epoll`"),
            )
        }),
        Err(e) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("RINGIO_DRIVER: {e}"),
        )),
    }
}
