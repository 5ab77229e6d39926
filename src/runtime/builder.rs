//! [`Builder`]: how a runtime is configured.

use super::blocking::BlockingPool;

/// Kernel worker threads per ring by default: (bounded, unbounded); see
/// [`Builder::io_workers`].
const DEFAULT_IO_WORKERS: [u32; 2] = [8, 64];
use super::debug::{
    default_debug_handler, default_exception_handler, DebugHandler, ExceptionHandler,
};
use super::{available_cpus, Runtime};
use super::{DebugEvent, PanicReport};
use crate::driver::Driver;
use std::io;
use std::sync::Arc;
use std::time::Duration;

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
#[derive(Clone)]
pub struct Builder {
    pub(crate) entries: u32,
    pub(crate) start_paused: bool,
    pub(crate) driver: Option<Driver>,
    pub(crate) workers: usize,
    pub(crate) pin: Option<bool>,
    pub(crate) cpus: Option<Vec<usize>>,
    pub(crate) msg_ring: bool,
    pub(crate) busy_poll: Option<Duration>,
    pub(crate) sqpoll_idle: Option<Duration>,
    pub(crate) fixed_files: u32,
    pub(crate) fixed_buffers: u16,
    pub(crate) io_workers: [u32; 2],
    pub(crate) multishot: bool,
    pub(crate) blocking_threads: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) debug: Option<bool>,
    pub(crate) slow_poll: Duration,
    pub(crate) exception_handler: ExceptionHandler,
    pub(crate) debug_handler: DebugHandler,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("workers", &self.workers)
            .field("entries", &self.entries)
            .field("driver", &self.driver)
            .field("start_paused", &self.start_paused)
            .field("debug", &self.debug)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: one worker (this thread), 256 submission queue entries, the real
    /// clock, and the backend from `RINGIO_DRIVER` or else [`Driver::Auto`].
    pub fn new() -> Builder {
        Builder {
            entries: 256,
            start_paused: false,
            driver: None,
            workers: 1,
            pin: None,
            cpus: None,
            msg_ring: true,
            busy_poll: None,
            sqpoll_idle: None,
            fixed_files: 0,
            fixed_buffers: 0,
            io_workers: DEFAULT_IO_WORKERS,
            multishot: true,
            blocking_threads: BlockingPool::default_size(),
            shutdown_timeout: Duration::from_secs(300),
            debug: None,
            slow_poll: Duration::from_millis(100),
            exception_handler: default_exception_handler(),
            debug_handler: default_debug_handler(),
        }
    }

    /// Debug mode (default: on when `RINGIO_DEBUG=1`): every poll is timed and one
    /// slower than [`slow_poll_threshold`](Builder::slow_poll_threshold) is reported,
    /// and a watchdog thread reports a worker stuck in one poll for over a second,
    /// naming the task. Reports go to [`debug_handler`](Builder::debug_handler).
    /// Off, nothing is timed.
    pub fn debug(&mut self, on: bool) -> &mut Builder {
        self.debug = Some(on);
        self
    }

    /// How long a poll may take before debug mode reports it (default 100 ms, as
    /// asyncio's `slow_callback_duration`).
    pub fn slow_poll_threshold(&mut self, threshold: Duration) -> &mut Builder {
        self.slow_poll = threshold;
        self
    }

    /// Where debug mode's reports go (default: a line on stderr).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// let rt = ringio::Builder::new()
    ///     .debug(true)
    ///     .slow_poll_threshold(std::time::Duration::from_millis(20))
    ///     .debug_handler(move |e| s.lock().unwrap().push(e.to_string()))
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     ringio::task::spawn_named("sleeper", async {
    ///         std::thread::sleep(std::time::Duration::from_millis(30)); // blocks the loop
    ///     })
    ///     .await
    ///     .unwrap();
    /// });
    /// assert!(seen.lock().unwrap()[0].starts_with("slow poll: task=sleeper"));
    /// ```
    pub fn debug_handler(
        &mut self,
        handler: impl Fn(&DebugEvent) + Send + Sync + 'static,
    ) -> &mut Builder {
        self.debug_handler = Arc::new(handler);
        self
    }

    /// Where panics nobody observes go: a detached task's, a callback's, or one left in
    /// a handle dropped unawaited (default: a line on stderr naming the task and where
    /// it was spawned).
    pub fn exception_handler(
        &mut self,
        handler: impl Fn(&PanicReport) + Send + Sync + 'static,
    ) -> &mut Builder {
        self.exception_handler = Arc::new(handler);
        self
    }

    /// One worker per CPU this process may run on (its affinity mask), each pinned to
    /// its CPU: the thread-per-core shape.
    ///
    /// ```
    /// let cpus = ringio::runtime::available_cpus();
    /// let rt = ringio::Builder::new_per_core().build().unwrap();
    /// assert_eq!(rt.workers(), cpus.len());
    /// ```
    pub fn new_per_core() -> Builder {
        let mut b = Builder::new();
        b.workers = available_cpus().len().max(1);
        b
    }

    /// How many workers (event loops, each with its own ring and timers). The thread
    /// that builds the runtime is worker 0 and runs its loop inside
    /// [`Runtime::block_on`]; workers 1.. are threads of their own
    /// (`ringio-worker-N`). Workers are pinned to CPUs by default when there is more
    /// than one.
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    pub fn workers(&mut self, n: usize) -> &mut Builder {
        assert!(n > 0, "a runtime needs at least one worker");
        self.workers = n;
        self
    }

    /// Pins worker `i` to CPU `cpus[i % cpus.len()]` with `sched_setaffinity` (default:
    /// on when there is more than one worker). Worker 0's thread gets its old affinity
    /// back when the runtime is dropped.
    pub fn pin_workers(&mut self, pin: bool) -> &mut Builder {
        self.pin = Some(pin);
        self
    }

    /// The CPUs to pin workers to, in worker order (default: the CPUs of this process's
    /// affinity mask). Implies pinning.
    pub fn cpus(&mut self, cpus: Vec<usize>) -> &mut Builder {
        self.cpus = Some(cpus);
        self.pin = Some(true);
        self
    }

    /// Whether an io_uring worker wakes another with IORING_OP_MSG_RING (default, where
    /// the kernel has it) rather than by writing that worker's eventfd. MSG_RING rides
    /// on the sender's next `io_uring_enter`, so it costs no syscall of its own.
    pub fn msg_ring(&mut self, on: bool) -> &mut Builder {
        self.msg_ring = on;
        self
    }

    /// The most threads the blocking pool starts (default min(32, CPUs + 4)).
    pub fn blocking_threads(&mut self, n: usize) -> &mut Builder {
        self.blocking_threads = n.max(1);
        self
    }

    /// How long dropping the runtime waits for blocking-pool work to finish before it
    /// warns and leaves those threads behind (default 300 s, as asyncio's).
    pub fn shutdown_timeout(&mut self, timeout: Duration) -> &mut Builder {
        self.shutdown_timeout = timeout;
        self
    }

    /// Spin for up to `spin` looking for completions before a worker sleeps, for
    /// latency-sensitive servers: a completion that lands while the worker spins is
    /// handled without the cost of waking a sleeping thread. On io_uring the spin reads
    /// the completion queue and the kernel's task-work flag from shared memory and
    /// enters the kernel only when there is something to reap; on epoll each check is a
    /// non-blocking `epoll_wait`. The CPU is busy while it spins: give each worker its
    /// own core. Off by default; `Duration::ZERO` turns it off.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = ringio::Builder::new().busy_poll(Duration::from_micros(50)).build().unwrap();
    /// rt.block_on(ringio::time::sleep(Duration::from_millis(1)));
    /// ```
    pub fn busy_poll(&mut self, spin: Duration) -> &mut Builder {
        self.busy_poll = (!spin.is_zero()).then_some(spin);
        self
    }

    /// io_uring: a kernel thread polls each worker's submission queue
    /// (IORING_SETUP_SQPOLL), so submitting needs no syscall while the thread is awake;
    /// it sleeps after `idle` without work (rounded to milliseconds). It costs a kernel
    /// thread per worker spinning on a CPU. Where the kernel refuses it, the ring is
    /// built without it and [`DriverInfo::flags`](crate::runtime::DriverInfo::flags)
    /// lacks `"SQPOLL"`. Ignored on epoll.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = ringio::Builder::new().sqpoll(Duration::from_millis(10)).build().unwrap();
    /// println!("{}", rt.driver_info()); // "... SQPOLL ..." on io_uring
    /// ```
    pub fn sqpoll(&mut self, idle: Duration) -> &mut Builder {
        self.sqpoll_idle = Some(idle);
        self
    }

    /// io_uring: give each worker a registered file table of `slots` entries
    /// (IORING_REGISTER_FILES_SPARSE). Each socket is registered in it on its first
    /// operation (one syscall) and cleared when it closes (another), and its operations
    /// then name the slot (IOSQE_FIXED_FILE), so the kernel skips the fd look-up and the
    /// file reference count on each one. Pays for long-lived connections in a
    /// multi-threaded process; when the table is full, sockets are used by number. Off
    /// by default; ignored on epoll. [`DriverInfo::flags`](crate::runtime::DriverInfo::flags)
    /// shows `"FIXED_FILES"` when it took effect.
    ///
    /// ```
    /// let rt = ringio::Builder::new().fixed_files(1024).build().unwrap();
    /// # let _ = rt;
    /// ```
    pub fn fixed_files(&mut self, slots: u32) -> &mut Builder {
        self.fixed_files = slots;
        self
    }

    /// io_uring: give each worker a registered buffer table of `slots` entries
    /// (IORING_REGISTER_BUFFERS2, sparse). Each [`BufPool`](crate::buf::BufPool) first
    /// used on the worker registers its memory in one slot, and
    /// [`TcpStream::send_zc`](crate::net::TcpStream::send_zc) of its buffers then names
    /// the slot, so the kernel pins no pages per send; `File::read_at` and `write_at` of
    /// a buffer in registered memory (a pool's, or an
    /// [`AlignedBuf::register`](crate::buf::AlignedBuf::register)ed one) use
    /// READ_FIXED / WRITE_FIXED. Registered memory counts against
    /// `RLIMIT_MEMLOCK`; a pool the kernel refuses (or that finds the table full) works
    /// as before. Off by default; ignored on epoll. `DriverInfo::flags` shows
    /// `"FIXED_BUFFERS"` when it took effect, and
    /// [`BufPool::is_registered`](crate::buf::BufPool::is_registered) per pool.
    ///
    /// ```
    /// let rt = ringio::Builder::new().fixed_buffers(4).build().unwrap();
    /// # let _ = rt;
    /// ```
    pub fn fixed_buffers(&mut self, slots: u16) -> &mut Builder {
        self.fixed_buffers = slots;
        self
    }

    /// io_uring: the most kernel worker threads (io-wq) each worker's ring may start,
    /// `bounded` for work on regular files and block devices (buffered file I/O,
    /// `fsync`) and `unbounded` for the rest (operations that would block forever).
    /// Without a cap a burst of buffered file I/O can start a thread per operation,
    /// hundreds of them (IORING_REGISTER_IOWQ_MAX_WORKERS, Linux 5.15). The default is
    /// 8 bounded and 64 unbounded; 0 leaves that kind at the kernel's own limit.
    /// `DriverInfo::flags` shows `"IOWQ_MAX_WORKERS"` when it took effect; ignored on
    /// epoll, whose file operations run on the blocking pool (`blocking_threads`).
    ///
    /// ```
    /// let rt = ringio::Builder::new().io_workers(4, 16).build().unwrap();
    /// # let _ = rt;
    /// ```
    pub fn io_workers(&mut self, bounded: u32, unbounded: u32) -> &mut Builder {
        self.io_workers = [bounded, unbounded];
        self
    }

    /// io_uring: use multishot accept and receive and provided buffer rings where the
    /// kernel has them (Linux 6.0; the default). Off, the worker runs as on an older
    /// kernel: one accept submitted per connection, and
    /// [`TcpStream::recv_pooled`](crate::net::TcpStream::recv_pooled) waits for
    /// readiness (POLL_ADD) and then receives into a buffer from the pool's free list,
    /// so an idle connection still holds no buffer. For comparison and for testing that
    /// path; `DriverInfo::flags` lacks `"MULTISHOT"` then.
    pub fn multishot(&mut self, on: bool) -> &mut Builder {
        self.multishot = on;
        self
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
    /// finished yet; keep it for tests whose I/O is driven by the test itself. Each
    /// worker has its own clock and jumps it when *it* is idle, so with several workers
    /// a paused clock does not wait for the others.
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
