//! Ctrl-C and `Runtime::block_on_interruptible` (ASYNCIO.md §1.2), in child processes
//! so the signals hit nothing else. Signal delivery does not depend on the driver, so
//! these run once.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn start(mode: &str) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_interrupt_child"))
        .arg(mode)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start interrupt_child");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    (child, out)
}

fn sigint(child: &std::process::Child) {
    // SAFETY: kill with a live child's pid and a valid signal number.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
}

#[test]
fn first_sigint_drops_the_main_future_and_returns_interrupted() {
    let (mut child, mut out) = start("once");
    sigint(&child);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "interrupted: interrupted by SIGINT");
    assert!(child.wait().unwrap().success());
}

#[test]
fn second_sigint_during_a_spin_exits_with_130() {
    let (mut child, _out) = start("spin");
    sigint(&child);
    std::thread::sleep(Duration::from_millis(50));
    sigint(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
}
