//! ringio: an io_uring-first, thread-per-core async runtime for Linux, with an epoll
//! fallback.
//!
//! - **Completion, not readiness.** I/O is submitted to io_uring and finished by its
//!   completions. Where io_uring is missing or forbidden the same API runs on epoll
//!   ([`runtime::Driver`]).
//! - **Owned buffers.** Reads and writes take their buffer by value and give it back
//!   ([`buf::BufResult`]): the kernel owns the memory while an operation is in flight,
//!   and dropping the future never frees memory the kernel still writes to.
//! - **Thread-per-core.** Tasks never leave the thread that spawned them, so
//!   [`spawn`] takes `!Send` futures; wakers may be woken from any thread.
//!
//! ```
//! use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
//! use ringio::net::{TcpListener, TcpStream};
//!
//! ringio::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     ringio::spawn(async move {
//!         let (conn, _) = listener.accept().await.unwrap();
//!         let mut buf = Vec::with_capacity(1024);
//!         loop {
//!             let (n, b) = conn.read(buf).await;
//!             if n.unwrap() == 0 { break; }
//!             let (res, b) = conn.write_all(b).await;
//!             res.unwrap();
//!             buf = b;
//!             buf.clear();
//!         }
//!     });
//!     let client = TcpStream::connect(addr).await.unwrap();
//!     client.write_all(b"echo").await.0.unwrap();
//!     let (res, reply) = client.read_exact(vec![0u8; 4]).await;
//!     res.unwrap();
//!     assert_eq!(&reply, b"echo");
//! });
//! ```
//!
//! # From asyncio
//!
//! ringio's checklist is asyncio's feature set, in Rust idiom: a dropped future is a
//! cancelled one, errors are `Result`s, and what crosses threads says so in its type.
//!
//! | asyncio | ringio |
//! |---|---|
//! | `asyncio.run(main())` | [`run`]`(main())`, or [`Builder`] then [`Runtime::block_on`]; `#[ringio::main]` (feature `macros`) |
//! | `create_task`, `Task.cancel()` | [`spawn`] → [`JoinHandle`], [`JoinHandle::abort`]; dropping a handle detaches |
//! | `gather`, `gather(return_exceptions=True)` | [`task::gather`], [`task::gather_settled`]; [`join!`] / [`try_join!`] for futures not spawned |
//! | `TaskGroup` (and 3.14's `cancel()`) | [`task::task_group`], [`task::TaskGroup::cancel`] |
//! | `wait`, `as_completed`, `shield` | [`task::wait`], [`task::as_completed`], [`task::shield`] |
//! | `sleep`, `timeout`, `wait_for` | [`time::sleep`], [`time::timeout`] / [`time::Timeout`], [`JoinHandle::wait_for`] |
//! | `to_thread`, `run_coroutine_threadsafe` | [`task::to_thread`], [`runtime::Handle`] |
//! | `Lock`, `Event`, `Condition`, `Semaphore`, `BoundedSemaphore`, `Barrier` | [`sync::Lock`], [`sync::Event`], [`sync::Condition`], [`sync::Semaphore`], [`sync::BoundedSemaphore`], [`sync::Barrier`] |
//! | `Queue`, `PriorityQueue`, `LifoQueue` | [`sync::Queue`], [`sync::PriorityQueue`], [`sync::LifoQueue`] |
//! | `open_connection`, `start_server`, `StreamReader`, `StreamWriter` | [`net::open_connection`], [`net::start_server`], [`io::StreamReader`], [`io::StreamWriter`] |
//! | `create_subprocess_exec`, `communicate` | [`process::Command`], [`process::Child::communicate`] |
//! | `add_signal_handler` | [`signal::signal`], [`signal::ctrl_c`] |
//! | `call_soon`, `call_later` | [`runtime::call_soon`], [`runtime::call_later`] |
//! | debug mode | [`Builder::debug`] |
//!
//! A producer and two consumers over a bounded queue, in a task group that fails as a
//! whole, under a timeout (the paused clock makes the sleeps instant):
//!
//! ```
//! use ringio::sync::Queue;
//! use ringio::task::task_group;
//! use std::time::Duration;
//!
//! ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
//!     let queue = Queue::bounded(4);
//!     let total = std::cell::Cell::new(0);
//!     let (q, sum) = (&queue, &total);
//!     let outcome = ringio::time::timeout(Duration::from_secs(60), task_group(|tg| async move {
//!         for _ in 0..2 {
//!             tg.spawn(async move {
//!                 while let Ok(n) = q.get().await {
//!                     ringio::time::sleep(Duration::from_millis(10)).await; // work
//!                     sum.set(sum.get() + n);
//!                     q.task_done().unwrap();
//!                 }
//!                 Ok::<_, String>(())
//!             })
//!             .unwrap();
//!         }
//!         for n in 1..=10 {
//!             q.put(n).await.unwrap(); // waits while the queue is full
//!         }
//!         q.join().await; // every item processed
//!         q.shutdown(false); // consumers' `get` now ends
//!         Ok(())
//!     }))
//!     .await;
//!     assert!(matches!(outcome, Ok(Ok(()))));
//!     assert_eq!(total.get(), 55);
//! });
//! ```
//!
//! # Which runtime for what
//!
//! - **ringio** is for Linux servers that pin one loop per core and care about the
//!   cost per message: it submits I/O to io_uring in batches (a busy worker makes
//!   about one syscall per loop turn), keeps idle connections to about half a KiB, and
//!   runs the same code on epoll where io_uring is forbidden. Its tasks never migrate,
//!   so one slow task delays its own core's work only, and a skewed load stays skewed.
//! - **tokio** is the better choice when you need its ecosystem as-is (axum, tonic, the
//!   many crates that take `tokio::net` types), work-stealing for uneven loads across
//!   cores, or portability beyond Linux. ringio's `compat` adapters (features
//!   `tokio-io`, `futures-io`) cover code written against the I/O traits, at one copy
//!   each way, and feature `hyper` runs hyper 1.x natively; crates that need tokio's
//!   runtime itself do not run here.
//! - **monoio** and **glommio** share ringio's thread-per-core model; ringio adds the
//!   epoll fallback behind one API, asyncio's toolkit (task groups, queues, timeouts,
//!   streams, subprocesses, signals) and drop-safe owned-buffer I/O throughout.

pub mod buf;
#[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
pub mod compat;
mod driver;
pub mod fs;
pub mod io;
pub mod net;
pub mod process;
pub mod runtime;
pub mod signal;
pub mod sync;
pub mod task;
pub mod time;
#[cfg(feature = "tls")]
pub mod tls;

pub use runtime::{run, Builder, Runtime};

/// The traits most programs need in scope: owned-buffer reads and writes, and
/// [`IoBuf::slice`](buf::IoBuf::slice).
///
/// ```
/// use ringio::prelude::*;
/// let tail = b"hello world".to_vec().slice(6..);
/// assert_eq!(&tail[..], b"world");
/// ```
pub mod prelude {
    pub use crate::buf::{IoBuf, IoBufMut};
    pub use crate::io::{AsyncReadOwned, AsyncWriteOwned};
}
pub use task::{spawn, spawn_on, yield_now, JoinHandle};

/// `#[ringio::main]`: runs an `async fn main` on a ringio runtime (feature `macros`).
///
/// ```
/// #[ringio::main(workers = 1)]
/// async fn main() {
///     let answer = ringio::spawn(async { 6 * 7 }).await.unwrap();
///     assert_eq!(answer, 42);
/// }
/// ```
///
/// Arguments: `workers = N`, `driver = "uring" | "epoll" | "auto"`, `pin = bool`; see
/// [`Builder`] for what each means.
#[cfg(feature = "macros")]
pub use ringio_macros::main;

/// `#[ringio::test]`: an `async fn` test on a ringio runtime, by default run twice, on
/// io_uring and on epoll, as `name::uring` and `name::epoll` (feature `macros`).
///
/// ```
/// #[ringio::test(start_paused = true)]
/// async fn a_day_passes_at_once() {
///     let start = ringio::time::Instant::now();
///     ringio::time::sleep(std::time::Duration::from_secs(86_400)).await;
///     assert!(start.elapsed() >= std::time::Duration::from_secs(86_400));
/// }
/// ```
///
/// (`uring-tests/tests/macros.rs` runs such tests; a doc test cannot, as `#[test]`
/// functions exist only in test builds.)
///
/// Arguments: `driver = "uring" | "epoll" | "auto" | "both"` (default `both`; one
/// plain test otherwise), `start_paused = bool`, `workers = N`, `pin = bool`.
#[cfg(feature = "macros")]
pub use ringio_macros::test;

/// The README's examples, compiled and run as doc tests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
