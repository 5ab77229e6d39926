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

pub mod buf;
#[cfg(any(feature = "tokio-io", feature = "futures-io"))]
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
