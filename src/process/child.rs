//! [`Child`]: a running (or finished) child process, its pipes and its reaping.

use super::reap::{reap_detached, Handle, Waiting};
use super::{ChildStderr, ChildStdin, ChildStdout, ExitStatus, Output};
use crate::buf::{IoBuf, Slice};
use crate::driver::ops::{FdKind, Recv, Send};
use crate::driver::{Fd, Op};
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// How much one read of `communicate` asks for.
const READ_CHUNK: usize = 64 * 1024;

/// A child process started by [`Command::spawn`](super::Command::spawn).
///
/// The child is known by a pidfd, opened right after the spawn, so signals and waits
/// can never reach another process that reused its pid. [`wait`](Child::wait) reaps it
/// through the pidfd (IORING_OP_WAITID on Linux 6.7 and later, a readiness wait on the
/// pidfd before that and on epoll): no SIGCHLD handler, no thread per child. (Where
/// `pidfd_open` is missing, under valgrind or before Linux 5.3, the child is reached by
/// its pid instead: see the [module docs](super).)
///
/// The pipes asked for with [`Stdio::piped`](super::Stdio::piped) are in the
/// public `stdin`, `stdout` and `stderr` fields; take them to use them as streams.
///
/// # Dropping a `Child`
///
/// A child that is still running when its `Child` is dropped is killed with SIGKILL
/// ([`kill_on_drop`](super::Command::kill_on_drop), true by default), and reaped either
/// way, so it leaves no zombie: a task on the current worker waits for it. Outside a
/// runtime (or when the runtime shuts down first) a killed child is reaped by a
/// blocking `waitid` in the drop, which is short: SIGKILL cannot be caught (only a
/// process stuck in uninterruptible sleep delays it). A child left running
/// (`kill_on_drop(false)`) when no runtime is there to reap it stays a zombie after it
/// exits, until this process exits.
///
/// ```
/// # ringio::run(async {
/// use ringio::process::Command;
/// let mut child = Command::new("sleep").arg("10").spawn().unwrap();
/// assert!(child.try_wait().unwrap().is_none());
/// child.kill().unwrap();
/// let status = child.wait().await.unwrap();
/// assert_eq!(status.signal(), Some(9));
/// assert_eq!(child.id(), None); // reaped
/// # });
/// ```
pub struct Child {
    /// Our end of the child's stdin, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// Our end of the child's stdout, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// Our end of the child's stderr, if it was piped.
    pub stderr: Option<ChildStderr>,
    pid: u32,
    /// How the child is reached; `None` once reaped (the pidfd is closed then).
    handle: Option<Handle>,
    status: Option<ExitStatus>,
    kill_on_drop: bool,
    /// The wait in flight, kept across `wait` futures: a dropped `wait` loses nothing,
    /// even where the kernel reaped the child just as the future went away.
    waiting: Waiting,
    /// `communicate`'s progress, kept across its futures.
    talk: Talk,
}

/// What [`Child::communicate`] has done so far.
#[derive(Default)]
struct Talk {
    started: bool,
    /// The input not yet written (the whole buffer; `written` bytes of it are out).
    input: Option<Vec<u8>>,
    written: usize,
    /// The write in flight.
    write: Option<Op<Send<Slice<Vec<u8>>>>>,
    stdout: Collect,
    stderr: Collect,
}

/// One output stream being read to its end.
#[derive(Default)]
struct Collect {
    /// Everything read so far.
    bytes: Vec<u8>,
    /// The read in flight.
    read: Option<Op<Recv<Vec<u8>>>>,
    /// A spare buffer for the next read.
    spare: Option<Vec<u8>>,
}

impl Collect {
    /// Reads `pipe` until end of file into `bytes`; `Ready(Ok)` at end of file (the
    /// caller then drops the pipe), or when there is no pipe.
    fn poll_drain(&mut self, pipe: Option<&Fd>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(fd) = pipe else {
            return Poll::Ready(Ok(()));
        };
        loop {
            if let Some(read) = &mut self.read {
                let (res, mut buf) = ready!(Pin::new(read).poll(cx));
                self.read = None;
                match res {
                    Ok(0) => return Poll::Ready(Ok(())),
                    Ok(_) => {
                        self.bytes.extend_from_slice(&buf);
                        buf.clear();
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
                self.spare = Some(buf);
            }
            let buf = self
                .spare
                .take()
                .unwrap_or_else(|| Vec::with_capacity(READ_CHUNK));
            self.read = Some(Op::new(Recv::of_kind(fd.for_op(), buf, FdKind::Pipe)));
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("status", &self.status)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish_non_exhaustive()
    }
}

impl Child {
    /// Takes over a child std just spawned: opens its pidfd and makes its pipes ours.
    /// `merged`: the read end of the pipe we made for stdout and stderr together.
    pub(crate) fn new(
        mut std: std::process::Child,
        merged: Option<OwnedFd>,
        kill_on_drop: bool,
    ) -> io::Result<Child> {
        let pid = std.id();
        let handle = match Handle::open(pid) {
            Ok(handle) => handle,
            Err(e) => {
                // Without a pidfd we cannot reap it later: end it now.
                let _ = std.kill();
                let _ = std.wait();
                return Err(e);
            }
        };
        let mut child = Child {
            stdin: None,
            stdout: None,
            stderr: None,
            pid,
            handle: Some(handle),
            status: None,
            // Until the pipes are set up: a failure below must not leave it running.
            kill_on_drop: true,
            waiting: Waiting::default(),
            talk: Talk::default(),
        };
        // std's `Child` does not wait on drop; from here on the pidfd is how we reach it.
        child.stdin = std
            .stdin
            .take()
            .map(|p| ChildStdin::new(p.into()))
            .transpose()?;
        let stdout = merged.or_else(|| std.stdout.take().map(OwnedFd::from));
        child.stdout = stdout.map(ChildStdout::new).transpose()?;
        child.stderr = std
            .stderr
            .take()
            .map(|p| ChildStderr::new(p.into()))
            .transpose()?;
        child.kill_on_drop = kill_on_drop;
        Ok(child)
    }

    /// The child's pid, or `None` once it has been reaped (the pid may then belong to
    /// another process).
    pub fn id(&self) -> Option<u32> {
        self.handle.as_ref().map(|_| self.pid)
    }

    /// Waits for the child to exit, reaps it, and returns how it ended. Once known, the
    /// status is kept: later calls return it at once.
    ///
    /// Like asyncio's, this waits forever if the child blocks writing to a pipe nobody
    /// reads (a full pipe holds 64 KiB): read the pipes, or use
    /// [`communicate`](Child::communicate).
    ///
    /// # Errors
    ///
    /// If the child was reaped behind ringio's back (`ECHILD`: a `waitpid(-1)`
    /// elsewhere, or SIGCHLD set to SIG_IGN).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the wait in flight stays in the `Child`, and the next call goes on
    /// with it; a status that arrives meanwhile is kept.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        poll_fn(|cx| self.poll_wait(cx)).await
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Some(status) = self.status {
            return Poll::Ready(Ok(status));
        }
        let handle = self
            .handle
            .as_ref()
            .expect("a child not yet reaped has a handle");
        let res = ready!(self.waiting.poll(handle, cx));
        Poll::Ready(res.map(|raw| self.reaped(raw)))
    }

    /// Records the status of the reaped child; the pidfd is no longer needed.
    fn reaped(&mut self, raw: i32) -> ExitStatus {
        let status = ExitStatus::from_raw(raw);
        self.status = Some(status);
        self.handle = None;
        // A wait still in flight (the kernel's WAITID) can only fail now: cancel it.
        self.waiting.clear();
        status
    }

    /// The status if the child has exited (reaping it), `None` if it still runs.
    /// Never waits.
    ///
    /// # Errors
    ///
    /// As [`wait`](Child::wait).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let handle = self
            .handle
            .as_ref()
            .expect("a child not yet reaped has a handle");
        match handle.reap_now(true) {
            Ok(Some(raw)) => Ok(Some(self.reaped(raw))),
            Ok(None) => Ok(None),
            // A kernel WAITID of an earlier `wait` reaped it; its completion, which
            // carries the status, has not been seen yet.
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) && self.waiting.in_flight() => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Sends `signal` to the child, through its pidfd. Once the child has been reaped
    /// this does nothing (and succeeds): its pid may belong to another process by then,
    /// which the pidfd makes sure is never signalled.
    ///
    /// `signal` is a number (`libc::SIGUSR1`) or a
    /// [`SignalKind`](crate::signal::SignalKind).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an invalid signal number; as `pidfd_send_signal(2)` otherwise.
    pub fn send_signal(&self, signal: impl Into<i32>) -> io::Result<()> {
        let signal = signal.into();
        let Some(handle) = &self.handle else {
            return Ok(());
        };
        match handle.send_signal(signal) {
            // It has exited already (and someone else reaped it): nothing to signal.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid signal {signal}"),
            )),
            other => other,
        }
    }

    /// Sends SIGTERM (asyncio's `terminate`).
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Child::send_signal).
    pub fn terminate(&self) -> io::Result<()> {
        self.send_signal(libc::SIGTERM)
    }

    /// Sends SIGKILL (asyncio's `kill`). It does not wait: call [`wait`](Child::wait).
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Child::send_signal).
    pub fn kill(&self) -> io::Result<()> {
        self.send_signal(libc::SIGKILL)
    }

    /// Writes `input` to the child's stdin and closes it, reads its stdout and stderr
    /// to their ends at the same time, then waits for it: asyncio's `communicate`.
    /// Streams that were not piped (or were taken from the `Child`) give empty output.
    /// A child that closes its stdin before taking all the input is not an error
    /// (`BrokenPipe` is ignored).
    ///
    /// # Errors
    ///
    /// As the reads, the write, and [`wait`](Child::wait).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, unlike asyncio's: the reads and the write in flight and the output
    /// read so far stay in the `Child`, so a dropped `communicate` loses nothing, and
    /// calling it again goes on where it stopped and returns all the output. The input
    /// belongs to the first call; later calls' `input` is ignored.
    pub async fn communicate(&mut self, input: Option<Vec<u8>>) -> io::Result<Output> {
        if !self.talk.started {
            self.talk.started = true;
            self.talk.input = input.filter(|i| !i.is_empty());
        }
        poll_fn(|cx| self.poll_talk(cx)).await?;
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout: std::mem::take(&mut self.talk.stdout.bytes),
            stderr: std::mem::take(&mut self.talk.stderr.bytes),
        })
    }

    /// Moves every stream of `communicate` on; ready when all are done.
    fn poll_talk(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let input = self.poll_input(cx)?;
        let out = self
            .talk
            .stdout
            .poll_drain(self.stdout.as_ref().map(|p| p.fd()), cx)?;
        if out.is_ready() {
            self.stdout = None;
        }
        let err = self
            .talk
            .stderr
            .poll_drain(self.stderr.as_ref().map(|p| p.fd()), cx)?;
        if err.is_ready() {
            self.stderr = None;
        }
        if input.is_ready() && out.is_ready() && err.is_ready() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// Writes the input, then closes stdin.
    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let talk = &mut self.talk;
        loop {
            if let Some(write) = &mut talk.write {
                let (res, slice) = ready!(Pin::new(write).poll(cx));
                talk.write = None;
                talk.input = Some(slice.into_inner());
                match res {
                    Ok(n) => talk.written += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => talk.input = None,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            let Some(stdin) = &self.stdin else {
                return Poll::Ready(Ok(()));
            };
            let rest = match talk.input.take() {
                Some(input) if talk.written < input.len() => input,
                _ => {
                    // All written (or nothing to write): the child reads end of file.
                    self.stdin = None;
                    return Poll::Ready(Ok(()));
                }
            };
            let fd = match stdin.fd_for_op() {
                Ok(fd) => fd,
                // Shut down by the caller already: nothing more can go in.
                Err(_) => {
                    self.stdin = None;
                    return Poll::Ready(Ok(()));
                }
            };
            let end = rest.bytes_init();
            let slice = rest.slice(talk.written..end);
            talk.write = Some(Op::new(Send::of_kind(fd, slice, FdKind::Pipe)));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let Some(handle) = self.handle.take() else {
            return; // reaped
        };
        if self.kill_on_drop {
            let _ = handle.send_signal(libc::SIGKILL);
        }
        reap_detached(handle, std::mem::take(&mut self.waiting), self.kill_on_drop);
    }
}
