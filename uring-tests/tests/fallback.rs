//! The epoll fallback for real: child processes where a seccomp filter makes
//! `io_uring_setup` fail (as Docker's default profile does), and `RINGIO_DRIVER`.
//!
//! These tests are about choosing a backend, so each runs once rather than per driver.

use std::process::Command;

fn child(errno: &str, mode: &str, env: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_seccomp_child"))
        .args([errno, mode])
        .env_remove("RINGIO_DRIVER")
        .envs(env.iter().copied())
        .output()
        .expect("run seccomp_child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "seccomp_child {errno} {mode} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn seccomp_eperm_auto_falls_back_to_epoll_and_round_trips() {
    let out = child("EPERM", "auto", &[]);
    assert!(
        out.contains("driver: epoll: io_uring_setup failed"),
        "{out}"
    );
}

#[test]
fn seccomp_enosys_auto_falls_back_to_epoll_and_round_trips() {
    let out = child("ENOSYS", "auto", &[]);
    assert!(out.contains("ENOSYS"), "{out}");
}

#[test]
fn seccomp_forced_uring_is_an_error_not_a_fallback() {
    child("EPERM", "uring", &[]);
    child("ENOSYS", "uring", &[]);
}

#[test]
fn ringio_driver_env_selects_backend() {
    child(
        "none",
        "env",
        &[("RINGIO_DRIVER", "epoll"), ("RINGIO_EXPECT", "Epoll")],
    );
    child(
        "none",
        "env",
        &[("RINGIO_DRIVER", "uring"), ("RINGIO_EXPECT", "Uring")],
    );
    child(
        "none",
        "env",
        &[("RINGIO_DRIVER", "auto"), ("RINGIO_EXPECT", "Uring")],
    );
    child(
        "none",
        "env",
        &[("RINGIO_DRIVER", "EPOLL"), ("RINGIO_EXPECT", "Epoll")],
    );
    let out = child(
        "none",
        "env",
        &[("RINGIO_DRIVER", "kqueue"), ("RINGIO_EXPECT", "error")],
    );
    assert!(out.contains("expected `auto`, `uring` or `epoll`"), "{out}");
}
