//! Child processes (asyncio's subprocesses): [`Command`] starts one, [`Child`] waits
//! for it, signals it and talks to it through pipes.
//!
//! ```
//! # ringio::run(async {
//! use ringio::io::StreamReader;
//! use ringio::process::{Command, Stdio};
//! let mut child = Command::new("printf")
//!     .arg("one\ntwo\n")
//!     .stdout(Stdio::piped())
//!     .spawn()
//!     .unwrap();
//! let mut lines = StreamReader::new(child.stdout.take().unwrap());
//! assert_eq!(lines.readline().await.unwrap(), b"one\n");
//! assert_eq!(lines.readline().await.unwrap(), b"two\n");
//! assert!(child.wait().await.unwrap().success());
//! # });
//! ```
//!
//! # Implementation
//!
//! - **Spawning** is std's [`std::process::Command`] (`posix_spawn` or `vfork`, a
//!   program that cannot run reported as the spawn's error, the child's signal mask
//!   emptied and SIGPIPE reset), followed at once by `pidfd_open(2)`: from then on the
//!   child is known by its pidfd, which no other process can ever answer to.
//! - **Reaping** is an operation on the pidfd: IORING_OP_WAITID where the ring has it
//!   (Linux 6.7), otherwise a readiness wait on the pidfd (readable once the child
//!   exits: a POLL_ADD on io_uring, epoll's registration) followed by
//!   `waitid(P_PIDFD, WNOHANG)`. No SIGCHLD handler, no thread per child, and other
//!   code's children are never touched. Where `pidfd_open` is missing (before Linux
//!   5.3, or under valgrind, which does not know it) the child is reached by its pid,
//!   which stays its own until we reap it, and its exit is found by polling
//!   `waitid(P_PID, WNOHANG)` on a timer (1 ms, doubling to 50 ms).
//! - **Pipes** are our ends made non-blocking (the child's ends are separate open file
//!   descriptions and stay blocking). They read and write with IORING_OP_READ / WRITE
//!   on io_uring, readiness and `read(2)` / `write(2)` on epoll: the stream operations
//!   the sockets use, for a pipe. A pipe end handed to another child (a pipeline) is a
//!   copy with `O_NONBLOCK` cleared.
//! - **Cancel safety**: [`Child::wait`] and [`Child::communicate`] keep their
//!   operations in flight and the output read so far inside the `Child`, so dropping
//!   their futures loses nothing (asyncio's `communicate` loses output, gh-139373).

mod child;
mod command;
mod pipe;
mod reap;
mod status;

pub use child::Child;
pub use command::{Command, Stdio};
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use status::{ExitStatus, Output};
