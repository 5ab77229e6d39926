//! [`Command`] and [`Stdio`].

use super::{Child, ExitStatus, Output};
use crate::driver::ops::pipe;
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// What a child's standard input, output or error is connected to.
///
/// asyncio's PIPE, DEVNULL, None and an fd are [`piped`](Stdio::piped),
/// [`null`](Stdio::null), [`inherit`](Stdio::inherit) and `From<OwnedFd>` /
/// `From<File>`; its STDOUT (stderr into the same place as stdout) is
/// [`Stdio::stdout`]. A pipe of another child (`TryFrom<ChildStdout>`) wires two
/// children together.
pub struct Stdio(Kind);

enum Kind {
    Inherit,
    Null,
    Piped,
    /// Stderr goes where stdout goes.
    Stdout,
    Fd(OwnedFd),
}

impl Stdio {
    /// A new pipe; our end is the [`Child`]'s `stdin`, `stdout` or `stderr` field.
    pub fn piped() -> Stdio {
        Stdio(Kind::Piped)
    }

    /// `/dev/null`.
    pub fn null() -> Stdio {
        Stdio(Kind::Null)
    }

    /// This process's own stream (the default of [`Command::spawn`]).
    pub fn inherit() -> Stdio {
        Stdio(Kind::Inherit)
    }

    /// For stderr only: the same place as stdout (asyncio's STDOUT, `2>&1`). With a
    /// piped stdout both streams arrive, interleaved as written, in `Child::stdout`.
    ///
    /// ```
    /// # ringio::run(async {
    /// use ringio::process::{Command, Stdio};
    /// let out = Command::new("sh")
    ///     .args(["-c", "echo out; echo err >&2"])
    ///     .stdout(Stdio::piped())
    ///     .stderr(Stdio::stdout())
    ///     .output()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out.stdout, b"out\nerr\n");
    /// assert!(out.stderr.is_empty());
    /// # });
    /// ```
    pub fn stdout() -> Stdio {
        Stdio(Kind::Stdout)
    }
}

impl fmt::Debug for Stdio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Inherit => f.write_str("Stdio::inherit()"),
            Kind::Null => f.write_str("Stdio::null()"),
            Kind::Piped => f.write_str("Stdio::piped()"),
            Kind::Stdout => f.write_str("Stdio::stdout()"),
            Kind::Fd(fd) => f.debug_tuple("Stdio").field(fd).finish(),
        }
    }
}

/// The child gets a copy of `fd` (passed as it is: a non-blocking file stays
/// non-blocking for the child). The `Command` keeps `fd` open until it is dropped, as
/// std's does, so a spawned reader of a pipe whose write end this is sees end of file
/// only after the `Command` is gone.
impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Stdio {
        Stdio(Kind::Fd(fd))
    }
}

/// As `From<OwnedFd>`.
impl From<std::fs::File> for Stdio {
    fn from(file: std::fs::File) -> Stdio {
        Stdio(Kind::Fd(file.into()))
    }
}

/// A process to start: program, arguments, environment, working directory and stdio
/// (asyncio's `create_subprocess_exec`; for `create_subprocess_shell` run `sh -c`, and
/// quote arguments yourself).
///
/// It wraps [`std::process::Command`], which starts the child (with `posix_spawn` where
/// it can), reports a program that cannot be run as the spawn's error, and resets the
/// child's signal mask and SIGPIPE's disposition: a child starts with the default
/// signal mask even where the runtime's threads block signals.
///
/// A spawned child is killed (SIGKILL) when its [`Child`] is dropped while it runs,
/// unless [`kill_on_drop(false)`](Command::kill_on_drop): asyncio kills a child whose
/// transport is closed.
///
/// ```
/// # ringio::run(async {
/// use ringio::process::{Command, Stdio};
/// let mut child = Command::new("tr")
///     .arg("a-z")
///     .arg("A-Z")
///     .stdin(Stdio::piped())
///     .stdout(Stdio::piped())
///     .spawn()
///     .unwrap();
/// let out = child.communicate(Some(b"hello".to_vec())).await.unwrap();
/// assert!(out.status.success());
/// assert_eq!(out.stdout, b"HELLO");
/// # });
/// ```
pub struct Command {
    std: std::process::Command,
    stdin: Option<Stdio>,
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
    kill_on_drop: bool,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("command", &self.std)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("kill_on_drop", &self.kill_on_drop)
            .finish()
    }
}

impl From<std::process::Command> for Command {
    /// Takes std's command as it is. Stdio set on it stays, unless this `Command` sets
    /// the same stream or [`output`](Command::output) picks its defaults.
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            stdin: None,
            stdout: None,
            stderr: None,
            kill_on_drop: true,
        }
    }
}

impl Command {
    /// A command to run `program`: a path, or a name looked up in `PATH`.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, value);
        self
    }

    /// Sets environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what [`env`](Command::env)
    /// adds afterwards).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// The child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's standard input (inherited by default).
    pub fn stdin(&mut self, stdio: impl Into<Stdio>) -> &mut Command {
        self.stdin = Some(stdio.into());
        self
    }

    /// The child's standard output (inherited by default).
    pub fn stdout(&mut self, stdio: impl Into<Stdio>) -> &mut Command {
        self.stdout = Some(stdio.into());
        self
    }

    /// The child's standard error (inherited by default; [`Stdio::stdout`] merges it
    /// into stdout).
    pub fn stderr(&mut self, stdio: impl Into<Stdio>) -> &mut Command {
        self.stderr = Some(stdio.into());
        self
    }

    /// Whether dropping a [`Child`] that still runs kills it (SIGKILL); true unless
    /// set. Either way the child is reaped (see [`Child`]).
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// std's command, for what this one does not wrap (`uid`, `process_group`,
    /// `pre_exec`, ...). Its stdio is set by this `Command` at each spawn.
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Starts the child. Streams not set are inherited.
    ///
    /// # Errors
    ///
    /// [`NotFound`](io::ErrorKind::NotFound) if the program does not exist,
    /// [`PermissionDenied`](io::ErrorKind::PermissionDenied) if it cannot be run, and
    /// as `fork(2)`, `pipe(2)` and `pidfd_open(2)` (Linux 5.3) otherwise.
    /// `InvalidInput` if [`Stdio::stdout`] was given for stdin or stdout.
    pub fn spawn(&mut self) -> io::Result<Child> {
        self.spawn_with(false)
    }

    /// Runs the child to its end and returns its status. Streams not set are
    /// inherited; our ends of piped ones are closed before the wait, as std's `status`
    /// does (a child writing to one then gets `EPIPE` rather than blocking forever).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Command::spawn) and [`Child::wait`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the [`Child`], which kills it (if `kill_on_drop`).
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn_with(false)?;
        (child.stdin, child.stdout, child.stderr) = (None, None, None);
        child.wait().await
    }

    /// Runs the child to its end and collects its output. Streams not set get std's
    /// defaults for `output`: stdin from `/dev/null`, stdout and stderr piped.
    ///
    /// ```
    /// # ringio::run(async {
    /// use ringio::process::Command;
    /// let out = Command::new("echo").arg("hi").output().await.unwrap();
    /// assert_eq!(out.stdout, b"hi\n");
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// As [`spawn`](Command::spawn) and [`Child::communicate`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the [`Child`], which kills it (if `kill_on_drop`).
    pub async fn output(&mut self) -> io::Result<Output> {
        self.spawn_with(true)?.communicate(None).await
    }

    /// Spawns with this command's stdio; streams it does not set are left to std's
    /// command (inherited), or for `output`, get `output`'s defaults.
    fn spawn_with(&mut self, output: bool) -> io::Result<Child> {
        let (stdio, merged) = self.std_stdio(output)?;
        type Setter =
            fn(&mut std::process::Command, std::process::Stdio) -> &mut std::process::Command;
        const SET: [Setter; 3] = [
            std::process::Command::stdin,
            std::process::Command::stdout,
            std::process::Command::stderr,
        ];
        let touched = stdio.each_ref().map(Option::is_some);
        for (set, stdio) in SET.iter().zip(stdio) {
            if let Some(stdio) = stdio {
                set(&mut self.std, stdio);
            }
        }
        let spawned = self.std.spawn();
        // Our copies of what went to the child close now (a pipe's write end held here
        // would keep its reader from ever seeing end of file); the originals stay in
        // `self`, and the next spawn sets these streams again.
        for (set, touched) in SET.iter().zip(touched) {
            if touched {
                set(&mut self.std, std::process::Stdio::null());
            }
        }
        Child::new(spawned?, merged, self.kill_on_drop)
    }

    /// std's stdio for each stream this spawn sets (`None`: leave std's as it is), and
    /// the read end of the pipe made for a merged stdout and stderr.
    fn std_stdio(
        &self,
        output: bool,
    ) -> io::Result<([Option<std::process::Stdio>; 3], Option<OwnedFd>)> {
        let defaults = if output {
            [
                Some(Stdio::null()),
                Some(Stdio::piped()),
                Some(Stdio::piped()),
            ]
        } else {
            [None, None, None]
        };
        let stdin = self.stdin.as_ref().or(defaults[0].as_ref());
        let stdout = self.stdout.as_ref().or(defaults[1].as_ref());
        let stderr = self.stderr.as_ref().or(defaults[2].as_ref());
        if [stdin, stdout]
            .iter()
            .any(|s| matches!(s, Some(Stdio(Kind::Stdout))))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Stdio::stdout() is for stderr only",
            ));
        }
        let mut merged = None;
        let (stdout, stderr) = match (stdout, stderr) {
            (Some(Stdio(Kind::Piped)), Some(Stdio(Kind::Stdout))) => {
                // One pipe for both: ours to read, two copies of its write end for the
                // child's fds 1 and 2.
                let (read, write) = pipe()?;
                let copy = write.try_clone()?;
                merged = Some(read);
                (Some(write.into()), Some(copy.into()))
            }
            (out, Some(Stdio(Kind::Stdout))) => {
                let err = match out {
                    None | Some(Stdio(Kind::Inherit)) => {
                        io::stdout().as_fd().try_clone_to_owned()?.into()
                    }
                    Some(other) => to_std(other)?,
                };
                (out.map(to_std).transpose()?, Some(err))
            }
            (out, err) => (out.map(to_std).transpose()?, err.map(to_std).transpose()?),
        };
        Ok(([stdin.map(to_std).transpose()?, stdout, stderr], merged))
    }
}

/// std's form of `stdio` (an fd is duplicated: the original stays in the `Command`).
fn to_std(stdio: &Stdio) -> io::Result<std::process::Stdio> {
    Ok(match &stdio.0 {
        Kind::Inherit => std::process::Stdio::inherit(),
        Kind::Null => std::process::Stdio::null(),
        Kind::Piped => std::process::Stdio::piped(),
        Kind::Fd(fd) => fd.try_clone()?.into(),
        Kind::Stdout => unreachable!("resolved by the caller"),
    })
}
