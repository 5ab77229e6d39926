//! [`ExitStatus`] and [`Output`].

use std::fmt;
use std::os::unix::process::ExitStatusExt;

/// How a child process ended: an exit code, or the signal that killed it.
///
/// asyncio's `returncode` is the code, or −N after death by signal N; here
/// [`code`](ExitStatus::code) and [`signal`](ExitStatus::signal) say which.
///
/// ```
/// # ringio::run(async {
/// use ringio::process::Command;
/// let status = Command::new("sh").args(["-c", "exit 3"]).status().await.unwrap();
/// assert_eq!(status.code(), Some(3));
/// assert_eq!(status.signal(), None);
/// assert!(!status.success());
/// assert_eq!(status.to_string(), "exit status: 3");
/// # });
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus(std::process::ExitStatus);

impl ExitStatus {
    /// From a wait status in `waitpid(2)`'s encoding.
    pub(crate) fn from_raw(raw: i32) -> ExitStatus {
        ExitStatus(std::process::ExitStatus::from_raw(raw))
    }

    /// Whether the process exited with code 0.
    pub fn success(&self) -> bool {
        self.0.success()
    }

    /// The exit code, if the process exited (rather than being killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.0.code()
    }

    /// The signal that killed the process, if one did (asyncio's −N).
    pub fn signal(&self) -> Option<i32> {
        self.0.signal()
    }

    /// Whether the process dumped core when its signal killed it.
    pub fn core_dumped(&self) -> bool {
        self.0.core_dumped()
    }
}

impl fmt::Debug for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code(), self.signal()) {
            (Some(code), _) => f.debug_tuple("ExitStatus").field(&code).finish(),
            (None, Some(sig)) => f.debug_struct("ExitStatus").field("signal", &sig).finish(),
            (None, None) => fmt::Debug::fmt(&self.0, f),
        }
    }
}

/// `"exit status: 3"`, or `"signal: 9 (SIGKILL)"` (std's wording).
impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<ExitStatus> for std::process::ExitStatus {
    fn from(status: ExitStatus) -> std::process::ExitStatus {
        status.0
    }
}

/// What a finished child left: its status and everything it wrote to piped stdout and
/// stderr (see [`Child::communicate`](super::Child::communicate)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// Its standard output (empty unless piped).
    pub stdout: Vec<u8>,
    /// Its standard error (empty unless piped).
    pub stderr: Vec<u8>,
}
