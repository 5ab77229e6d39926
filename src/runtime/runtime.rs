//! [`Runtime`] and [`run`].

use super::affinity::{self, available_cpus};
use super::blocking::BlockingPool;
use super::debug::{self, DebugConfig};
use super::handle::{Handle, RuntimeShared};
use super::metrics::{Metrics, TaskSnapshot};
use super::worker::{Core, Hooks, Shared};
use super::{context, Builder};
use crate::driver::signal::ExitOnSecondSigint;
use crate::driver::{Backend, BlockingSpawner, Driver, DriverConfig, DriverInfo};
use crate::task::JoinHandle;
use crate::time::{Clock, Timers};
use nix::sched::CpuSet;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// A ringio runtime: one or more workers, each an event loop with its own driver and
/// timers, pinned to its CPU when there are several.
///
/// It is asyncio's `Runner`: [`block_on`](Runtime::block_on) may be called again and
/// again, and tasks spawned in one call keep running in the next. The thread that
/// builds the runtime is worker 0; its loop runs inside `block_on`. Dropping the
/// runtime stops every worker, drops every task, cancels and drains each ring, joins
/// the worker threads, and waits for the blocking pool (up to the shutdown timeout).
///
/// ```
/// let rt = ringio::Runtime::new().unwrap();
/// let h = rt.block_on(async { ringio::spawn(async { 5 }) });
/// assert_eq!(rt.block_on(h).unwrap(), 5);
/// ```
pub struct Runtime {
    core: Rc<Core>,
    info: DriverInfo,
    shared: Arc<RuntimeShared>,
    threads: Vec<std::thread::JoinHandle<()>>,
    shutdown_timeout: Duration,
    /// Worker 0's thread affinity before it was pinned.
    old_mask: Option<CpuSet>,
}

/// What a worker thread needs to build its core.
#[derive(Clone)]
struct WorkerConfig {
    driver: Driver,
    driver_config: DriverConfig,
    paused: bool,
    msg_ring: bool,
    busy_poll: Option<Duration>,
    hooks: Hooks,
    /// The runtime's blocking pool, which each driver runs its blocking face on.
    blocking: Arc<BlockingPool>,
}

impl WorkerConfig {
    fn build_core(&self, index: usize) -> io::Result<(Core, DriverInfo)> {
        let spawner: Arc<dyn BlockingSpawner> = self.blocking.clone();
        let (backend, info) = Backend::new(self.driver, &self.driver_config, Some(spawner))?;
        let timers = Timers::new(Clock::new(self.paused));
        Ok((
            Core::new(
                index,
                backend,
                timers,
                self.msg_ring,
                self.busy_poll,
                self.hooks.clone(),
            ),
            info,
        ))
    }
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

    pub(crate) fn from_builder(builder: &Builder, driver: Driver) -> io::Result<Runtime> {
        let n = builder.workers.max(1);
        let cpus = builder.cpus.clone().unwrap_or_else(available_cpus);
        let pin = builder.pin.unwrap_or(n > 1);
        if pin && cpus.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no CPU to pin workers to",
            ));
        }
        let debug = builder
            .debug
            .unwrap_or_else(|| std::env::var("RINGIO_DEBUG").is_ok_and(|v| v == "1"));
        let hooks = Hooks {
            exception: builder.exception_handler.clone(),
            debug: debug.then(|| DebugConfig {
                slow_poll: builder.slow_poll,
                handler: builder.debug_handler.clone(),
            }),
        };
        let config = WorkerConfig {
            driver,
            driver_config: DriverConfig {
                entries: builder.entries,
                fixed_files: builder.fixed_files,
                fixed_buffers: builder.fixed_buffers,
                multishot: builder.multishot,
                io_workers: builder.io_workers,
                sqpoll_idle: builder
                    .sqpoll_idle
                    .map(|d| d.as_millis().min(u32::MAX as u128) as u32),
            },
            paused: builder.start_paused,
            msg_ring: builder.msg_ring,
            busy_poll: builder.busy_poll,
            hooks,
            blocking: BlockingPool::new(builder.blocking_threads),
        };
        let old_mask = if pin { affinity::current_mask() } else { None };
        if pin {
            affinity::pin_current_thread(cpus[0])?;
        }
        let (core, mut info) = match config.build_core(0) {
            Ok(c) => c,
            Err(e) => {
                if let Some(mask) = &old_mask {
                    affinity::restore_mask(mask);
                }
                return Err(e);
            }
        };
        if let Some(reason) = info.fallback_reason() {
            super::report::driver_fallback(reason);
        }
        if !builder.msg_ring {
            // The kernel has it, but this runtime does not use it.
            info.flags.retain(|f| *f != "MSG_RING");
        }
        let mut workers = vec![core.shared.clone()];
        let mut threads = Vec::new();
        let mut go = Vec::new();
        for index in 1..n {
            let (ready_tx, ready_rx) = mpsc::channel();
            let (go_tx, go_rx) = mpsc::channel();
            let cpu = pin.then(|| cpus[index % cpus.len()]);
            let config = config.clone();
            let thread = std::thread::Builder::new()
                .name(format!("ringio-worker-{index}"))
                .spawn(move || worker_thread(index, cpu, config, ready_tx, go_rx))?;
            threads.push(thread);
            match ready_rx.recv() {
                Ok(Ok(shared)) => workers.push(shared),
                failed => {
                    // Dropping the `go` senders makes the started workers exit.
                    drop(go);
                    for t in threads {
                        let _ = t.join();
                    }
                    if let Some(mask) = &old_mask {
                        affinity::restore_mask(mask);
                    }
                    return Err(match failed {
                        Ok(Err(e)) => e,
                        _ => io::Error::other(format!("worker {index} died while starting")),
                    });
                }
            }
            go.push(go_tx);
        }
        let shared = Arc::new(RuntimeShared::new(workers, config.blocking.clone()));
        core.runtime
            .set(shared.clone())
            .ok()
            .expect("a new core has no runtime yet");
        for g in go {
            // A worker that already exited has nothing to start.
            let _ = g.send(shared.clone());
        }
        if let Some(dbg) = &config.hooks.debug {
            let watches = shared.workers.iter().map(|w| w.watch.clone()).collect();
            let rt = shared.clone();
            let handler = dbg.handler.clone();
            let watchdog = std::thread::Builder::new()
                .name("ringio-watchdog".into())
                .spawn(move || debug::watchdog(watches, || rt.is_closed(), handler))?;
            threads.push(watchdog);
        }
        Ok(Runtime {
            core: Rc::new(core),
            info,
            shared,
            threads,
            shutdown_timeout: builder.shutdown_timeout,
            old_mask,
        })
    }

    /// Runs `future` to completion on this thread (worker 0), running worker 0's tasks
    /// meanwhile. The other workers run on their own threads all along.
    ///
    /// # Panics
    ///
    /// If a ringio runtime is already running on this thread, and if `future` panics.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.core.block_on(future, Location::caller())
    }

    /// Spawns a task on worker 0 that starts at the next `block_on`.
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

    /// Runs `make(i)` on every worker `i` (the future is built there, so it may be
    /// `!Send`) and waits for all of them: the shape of "one listener per core".
    /// Worker 0's share runs on this thread.
    ///
    /// # Panics
    ///
    /// If any worker's future panics (the first panic is resumed here).
    ///
    /// ```
    /// let rt = ringio::Builder::new().workers(2).build().unwrap();
    /// let ids = rt.run_on_each(|i| async move { (i, ringio::runtime::Handle::current_worker()) });
    /// assert_eq!(ids, vec![(0, Some(0)), (1, Some(1))]);
    /// ```
    #[track_caller]
    pub fn run_on_each<F, Fut>(&self, make: F) -> Vec<Fut::Output>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let make = Arc::new(make);
        let handle = self.handle();
        self.block_on(async move {
            let joins: Vec<_> = (0..handle.workers())
                .map(|i| {
                    let make = make.clone();
                    handle
                        .spawn_local_on(i, move || make(i))
                        .expect("the runtime is running")
                })
                .collect();
            let mut outputs = Vec::with_capacity(joins.len());
            for join in joins {
                match join.await {
                    Ok(v) => outputs.push(v),
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => panic!("run_on_each: {e}"),
                }
            }
            outputs
        })
    }

    /// A handle for reaching this runtime's workers from any thread.
    pub fn handle(&self) -> Handle {
        Handle::new(self.shared.clone())
    }

    /// How many workers the runtime has.
    pub fn workers(&self) -> usize {
        self.shared.workers.len()
    }

    /// Which backend runs and with what flags; see [`DriverInfo`].
    pub fn driver_info(&self) -> &DriverInfo {
        &self.info
    }

    /// Tasks spawned on worker 0 that have not finished.
    pub fn alive_tasks(&self) -> usize {
        self.core.task_count()
    }

    /// Every worker's counters: worker 0's as of now, the others' as of their last
    /// loop turn that ended in a wait.
    ///
    /// ```
    /// let rt = ringio::Builder::new().workers(2).build().unwrap();
    /// let m = rt.metrics();
    /// assert_eq!((m[0].worker, m[1].worker), (0, 1));
    /// ```
    pub fn metrics(&self) -> Vec<Metrics> {
        let mut all: Vec<Metrics> = self
            .shared
            .workers
            .iter()
            .map(|w| *w.published.lock().unwrap_or_else(|e| e.into_inner()))
            .collect();
        all[0] = self.core.metrics();
        for (i, m) in all.iter_mut().enumerate() {
            m.worker = i;
        }
        all
    }

    /// The unfinished tasks of worker 0; see [`tasks`](crate::runtime::tasks) for the
    /// current worker's from inside.
    pub fn tasks(&self) -> Vec<TaskSnapshot> {
        self.core.task_snapshots()
    }

    /// [`block_on`](Runtime::block_on) that Ctrl-C can stop: the first SIGINT drops
    /// `future` and returns [`Interrupted`]; a second one exits the process with
    /// status 130, which also stops a loop that never yields. Built on
    /// [`signal::ctrl_c`](crate::signal::ctrl_c): the previous SIGINT disposition is
    /// restored afterwards, unless other subscribers still listen.
    ///
    /// # Panics
    ///
    /// As [`block_on`](Runtime::block_on), and if the SIGINT handler cannot be
    /// installed.
    #[track_caller]
    pub fn block_on_interruptible<F: Future>(&self, future: F) -> Result<F::Output, Interrupted> {
        let mut ctrl_c = crate::signal::ctrl_c().expect("cannot install a SIGINT handler");
        let _exit_on_second = ExitOnSecondSigint::arm();
        let mut future = std::pin::pin!(future);
        self.block_on(std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(v) = future.as_mut().poll(cx) {
                return std::task::Poll::Ready(Ok(v));
            }
            if ctrl_c.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(Err(Interrupted(())));
            }
            std::task::Poll::Pending
        }))
    }
}

fn worker_thread(
    index: usize,
    cpu: Option<usize>,
    config: WorkerConfig,
    ready: mpsc::Sender<io::Result<Arc<Shared>>>,
    go: mpsc::Receiver<Arc<RuntimeShared>>,
) {
    if let Some(cpu) = cpu {
        if let Err(e) = affinity::pin_current_thread(cpu) {
            let _ = ready.send(Err(e));
            return;
        }
    }
    let core = match config.build_core(index) {
        Ok((core, _)) => Rc::new(core),
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if ready.send(Ok(core.shared.clone())).is_err() {
        return;
    }
    let Ok(runtime) = go.recv() else {
        core.shut_down();
        return;
    };
    core.runtime
        .set(runtime.clone())
        .ok()
        .expect("a new core has no runtime yet");
    core.run_until_closed(&runtime, Location::caller());
    core.shut_down();
    // Dropping the core drains its ring.
}

/// Ctrl-C (SIGINT) stopped [`Runtime::block_on_interruptible`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted(());

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted by SIGINT")
    }
}

impl std::error::Error for Interrupted {}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shared.close();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.core.shut_down();
        let left = self.shared.blocking.shut_down(self.shutdown_timeout);
        if left > 0 {
            super::report::warn(format_args!(
                "{left} blocking-pool thread(s) still busy after the {:?} shutdown timeout; \
                 leaving them behind",
                self.shutdown_timeout
            ));
        }
        if let Some(mask) = &self.old_mask {
            affinity::restore_mask(mask);
        }
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("driver", &self.info)
            .field("workers", &self.workers())
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
