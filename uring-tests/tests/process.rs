//! `ringio::process` on both drivers (ASYNCIO.md §6): spawning, exit codes and
//! signals, pipes as owned-buffer streams and with StreamReader / StreamWriter,
//! `communicate` and `wait` dropped in flight without losing output, an fd or a slot,
//! and no zombie left behind by a dropped `Child`.
//!
//! Every wait is bounded: children are short-lived or killed, and loops that wait for
//! the kernel give up after a few seconds.

mod support;

use ringio::io::{AsyncReadOwned, AsyncWriteOwned, StreamReader, StreamWriter};
use ringio::process::{Child, Command, Stdio};
use ringio::runtime::Driver;
use ringio::time::timeout;
use std::io::ErrorKind;
use std::time::Duration;
use support::{fd_count, poll_then_drop, rt, serial, Rng};

/// Children of this process in state Z (exited, not reaped), from /proc.
fn zombies() -> Vec<u32> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Some((state, ppid)) = stat(pid) {
            if state == 'Z' && ppid == me {
                found.push(pid);
            }
        }
    }
    found
}

/// (state, parent pid) of process `pid`, if it exists.
fn stat(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ...": comm may hold spaces and parentheses; split after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether `pid` is (still) a child of this process, running or a zombie.
fn is_our_child(pid: u32) -> bool {
    matches!(stat(pid), Some((_, ppid)) if ppid == std::process::id())
}

/// Waits (bounded, about 5 s of real time) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        ringio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: still not true after 5 s");
}

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    cmd
}

/// Bytes that show a reordering or a loss: a counter pattern.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// ASYNCIO §6 check 1: a child writing 1 MiB to a pipe nobody reads blocks, so `wait`
/// does not finish (the documented deadlock); `communicate` reads it all and finishes.
/// A real clock: a paused one would jump past the deadline while the child runs.
fn communicate_finishes_where_wait_times_out(driver: Driver) {
    rt(driver).block_on(async {
        let mut child = Command::new("head")
            .args(["-c", "1048576", "/dev/zero"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // The pipe holds 64 KiB, so the child cannot finish however long this waits.
        let waited = timeout(Duration::from_millis(300), child.wait()).await;
        assert!(
            waited.is_err(),
            "wait finished with 1 MiB unread: {waited:?}"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child is stuck writing"
        );
        let out = timeout(Duration::from_secs(30), child.communicate(None))
            .await
            .expect("communicate did not finish")
            .unwrap();
        assert!(out.status.success(), "{}", out.status);
        assert_eq!(out.stdout.len(), 1 << 20);
        assert!(out.stdout.iter().all(|&b| b == 0));
        assert!(out.stderr.is_empty());
    });
}

/// ASYNCIO §6 check 2, and SIGTERM.
fn kill_then_wait_reports_the_signal(driver: Driver) {
    rt(driver).block_on(async {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id().expect("running");
        assert!(is_our_child(pid));
        child.kill().unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(9));
        assert_eq!(status.code(), None);
        assert!(!status.success());
        assert_eq!(status.to_string(), "signal: 9 (SIGKILL)");
        assert_eq!(child.id(), None, "reaped");
        assert!(!is_our_child(pid), "reaped, not a zombie");
        // The status is kept.
        assert_eq!(child.wait().await.unwrap(), status);

        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        child.terminate().unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGTERM));
    });
}

/// `cat` with all three streams piped.
fn piped_cat() -> ringio::process::Child {
    Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// ASYNCIO §6 check 3, through `communicate`.
fn cat_round_trips_100_kib_through_communicate(driver: Driver) {
    rt(driver).block_on(async {
        let data = pattern(100 * 1024);
        let mut child = piped_cat();
        let out = child.communicate(Some(data.clone())).await.unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), data.len());
        assert!(out.stdout == data, "cat's output differs from its input");
        assert!(out.stderr.is_empty());
    });
}

/// ASYNCIO §6 check 3, through the pipes as streams: a StreamWriter on stdin in one
/// task, owned-buffer reads and a StreamReader on stdout.
fn cat_round_trips_100_kib_through_stream_writer_and_reader(driver: Driver) {
    rt(driver).block_on(async {
        let data = pattern(100 * 1024);
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut writer = StreamWriter::new(child.stdin.take().unwrap());
        let feed = data.clone();
        let fed = ringio::spawn(async move {
            for chunk in feed.chunks(7000) {
                writer.write_all(chunk).await?;
            }
            writer.close();
            writer.wait_closed().await
        });
        let mut reader = StreamReader::new(child.stdout.take().unwrap());
        // The first bytes through an owned-buffer read of the reader's source.
        let (n, head) = reader.get_ref().read(Vec::with_capacity(10)).await;
        let n = n.unwrap();
        assert!(n > 0 && n <= 10);
        let rest = timeout(Duration::from_secs(20), reader.read_to_end())
            .await
            .expect("cat did not finish")
            .unwrap();
        fed.await.unwrap().unwrap();
        let mut back = head;
        back.extend_from_slice(&rest);
        assert_eq!(back.len(), data.len());
        assert!(back == data, "cat's output differs from its input");
        assert!(child.wait().await.unwrap().success());
    });
}

/// Owned-buffer writes and vectored reads and writes on the pipes, and a write after
/// `shutdown_write` refused.
fn pipes_read_and_write_owned_buffers(driver: Driver) {
    use ringio::io::ShutdownWrite;
    rt(driver).block_on(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (n, _) = stdin
            .write_vectored(vec![b"ab".to_vec(), b"cd".to_vec()])
            .await;
        assert_eq!(n.unwrap(), 4);
        stdin.write_all(b"ef".to_vec()).await.0.unwrap();
        stdin.shutdown_write().await.unwrap();
        let (res, _) = stdin.write(b"late".to_vec()).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::BrokenPipe);
        let mut got = Vec::new();
        for _ in 0..100 {
            let bufs = vec![Vec::with_capacity(3), Vec::with_capacity(3)];
            let (n, bufs) = stdout.read_vectored(bufs).await;
            if n.unwrap() == 0 {
                break;
            }
            bufs.iter().for_each(|b| got.extend_from_slice(b));
        }
        assert_eq!(got, b"abcdef");
        assert!(child.wait().await.unwrap().success());
    });
}

/// A StreamReader on a child's stdout on every pooled-read path: a READ that picks
/// its buffer from the pool's ring (io_uring), a poll then a read into a free-list
/// buffer (io_uring without buffer rings), a readiness wait and `read(2)` (epoll); the
/// reader's futures are dropped mid-line on the way, and no byte is lost.
fn stdout_lines_on_every_pooled_read_path(driver: Driver) {
    let mut runtimes = vec![rt(driver)];
    if driver == Driver::Uring {
        runtimes.push(
            ringio::Builder::new()
                .driver(driver)
                .multishot(false)
                .build()
                .unwrap(),
        );
    }
    for rt in runtimes {
        rt.block_on(async {
            let mut child = sh("i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut reader = StreamReader::with_limit(child.stdout.take().unwrap(), 64);
            let mut rng = Rng::new(3);
            let mut n = 0;
            for _ in 0..20_000 {
                // Sometimes drop the readline after a poll or two, then read on.
                let line = if rng.below(4) == 0 {
                    match poll_then_drop(reader.readline(), 1 + rng.below(2)).await {
                        Some(line) => line.unwrap(),
                        None => continue,
                    }
                } else {
                    timeout(Duration::from_secs(10), reader.readline())
                        .await
                        .expect("no line")
                        .unwrap()
                };
                if line.is_empty() {
                    break;
                }
                assert_eq!(line, format!("line{n}\n").into_bytes());
                n += 1;
            }
            assert_eq!(n, 2000);
            assert!(child.wait().await.unwrap().success());
        });
    }
}

/// ASYNCIO §6 check 4: a dropped `Child` is killed and reaped; with `kill_on_drop(false)`
/// it runs on and is still reaped when it exits.
fn dropped_child_leaves_no_zombie(driver: Driver) {
    rt(driver).block_on(async {
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id().unwrap();
        drop(child);
        eventually("the dropped child is reaped", || !is_our_child(pid)).await;

        // Long enough to be seen running after the drop, even under valgrind.
        let child = sh("sleep 1").kill_on_drop(false).spawn().unwrap();
        let pid = child.id().unwrap();
        drop(child);
        ringio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            matches!(stat(pid), Some((state, _)) if state != 'Z'),
            "kill_on_drop(false): the child runs on"
        );
        eventually("the detached child is reaped when it exits", || {
            !is_our_child(pid)
        })
        .await;
    });
    // A child dropped with no runtime around is killed and reaped in the drop.
    let child = rt(driver).block_on(async { Command::new("sleep").arg("30").spawn().unwrap() });
    let pid = child.id().unwrap();
    drop(child);
    assert!(!is_our_child(pid), "reaped by the drop itself");
}

/// Bad input: a program that does not exist fails `spawn` with `NotFound`.
fn missing_program_fails_spawn_with_not_found(driver: Driver) {
    rt(driver).block_on(async {
        let err = Command::new("/nonexistent/ringio-no-such-program")
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        let err = Command::new("ringio-no-such-program-in-path")
            .output()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        let err = Command::new("true")
            .stdout(Stdio::stdout())
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

fn exit_codes_come_back(driver: Driver) {
    rt(driver).block_on(async {
        for code in [0, 1, 7, 255] {
            let status = sh(&format!("exit {code}")).status().await.unwrap();
            assert_eq!(status.code(), Some(code));
            assert_eq!(status.signal(), None);
            assert_eq!(status.success(), code == 0);
        }
        // `status` closes our ends of piped streams: a child writing 1 MiB to one gets
        // EPIPE instead of blocking the wait forever.
        let status = timeout(
            Duration::from_secs(10),
            sh("head -c 1048576 /dev/zero; exit 9")
                .stdout(Stdio::piped())
                .status(),
        )
        .await
        .expect("status waited on a full pipe")
        .unwrap();
        assert_eq!(status.code(), Some(9));
        let status = sh("kill -USR1 $$").status().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGUSR1));
        assert_eq!(status.code(), None);
    });
}

fn env_and_current_dir_reach_the_child(driver: Driver) {
    rt(driver).block_on(async {
        let dir = std::env::temp_dir().canonicalize().unwrap();
        let out = sh("echo \"$RINGIO_A,$RINGIO_B\"; pwd")
            .env("RINGIO_A", "1")
            .envs([("RINGIO_B", "two")])
            .current_dir(&dir)
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        let expected = format!("1,two\n{}\n", dir.display());
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

        // An inherited variable removed (`env` prints the environment it got).
        assert!(
            std::env::var_os("PATH").is_some(),
            "the test inherits a PATH"
        );
        let out = Command::new("/usr/bin/env")
            .env_remove("PATH")
            .env("RINGIO_C", "3")
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.lines().any(|l| l.starts_with("PATH=")), "{text}");
        assert!(text.lines().any(|l| l == "RINGIO_C=3"), "{text}");

        // From std's command, with more set through `as_std_mut`.
        let mut std_cmd = std::process::Command::new("sh");
        std_cmd.arg("-c").env("RINGIO_D", "4");
        let mut cmd = Command::from(std_cmd);
        cmd.as_std_mut().arg("echo $RINGIO_D");
        let out = cmd.output().await.unwrap();
        assert_eq!(out.stdout, b"4\n");

        let out = Command::new("/usr/bin/env")
            .env_clear()
            .env("ONLY", "this")
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"ONLY=this\n");
    });
}

/// stderr merged into stdout (asyncio's STDOUT), and kept apart otherwise.
fn stderr_merges_into_stdout(driver: Driver) {
    rt(driver).block_on(async {
        let out = sh("echo out; echo err >&2; echo out2")
            .stdout(Stdio::piped())
            .stderr(Stdio::stdout())
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"out\nerr\nout2\n");
        assert!(out.stderr.is_empty());
        let out = sh("echo out; echo err >&2").output().await.unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");

        // Both into a file given as stdout.
        let path = std::env::temp_dir().join(format!(
            "ringio-process-merge-{}-{driver:?}",
            std::process::id()
        ));
        let file = std::fs::File::create(&path).unwrap();
        let status = sh("echo a; echo b >&2; echo c")
            .stdout(file)
            .stderr(Stdio::stdout())
            .status()
            .await
            .unwrap();
        assert!(status.success());
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(text, "a\nb\nc\n");
    });
}

/// `communicate` dropped after a few polls, again and again, then run to its end:
/// every input byte went in once and every output byte came back (ASYNCIO §0: drop
/// safety; asyncio loses output here, gh-139373).
fn communicate_dropped_mid_flight_then_retried_loses_nothing(driver: Driver) {
    rt(driver).block_on(async {
        let data = pattern(300 * 1024);
        let mut child = piped_cat();
        let mut rng = Rng::new(7);
        let mut input = Some(data.clone());
        let (mut finished, mut dropped) = (None, 0);
        for _ in 0..20 {
            let polls = 1 + rng.below(4);
            let fut = child.communicate(input.take());
            if let Some(out) = poll_then_drop(fut, polls).await {
                finished = Some(out.unwrap());
                break;
            }
            dropped += 1;
        }
        assert!(dropped > 0, "300 KiB went through cat in 4 polls");
        let out = match finished {
            Some(out) => out,
            None => timeout(Duration::from_secs(20), child.communicate(None))
                .await
                .expect("communicate did not finish")
                .unwrap(),
        };
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), data.len());
        assert!(
            out.stdout == data,
            "output lost or reordered across dropped calls"
        );
    });
}

/// Many `wait` futures dropped at random polls (and some children dropped without a
/// wait at all): afterwards no fd, no zombie and no operation is left.
fn dropped_waits_leak_no_fd_and_no_zombie(driver: Driver) {
    let _serial = serial();
    let fds = fd_count();
    let zombies_before = zombies().len();
    rt(driver).block_on(async {
        let mut rng = Rng::new(11);
        for round in 0..30 {
            let mut child: Child = sh("exit 3").stdout(Stdio::piped()).spawn().unwrap();
            if round % 5 == 4 {
                drop(child); // reaped by a task
                continue;
            }
            let mut status = None;
            for _ in 0..50 {
                let polls = rng.below(4);
                if let Some(s) = poll_then_drop(child.wait(), polls).await {
                    status = Some(s.unwrap());
                    break;
                }
            }
            let status = match status {
                Some(s) => s,
                None => timeout(Duration::from_secs(5), child.wait())
                    .await
                    .expect("wait did not finish")
                    .unwrap(),
            };
            assert_eq!(status.code(), Some(3));
            assert_eq!(child.wait().await.unwrap(), status);
        }
        eventually("every child is reaped", || {
            zombies().len() <= zombies_before
        })
        .await;
        support::settle_ops().await;
    });
    assert_eq!(fd_count(), fds, "fds leaked");
    assert_eq!(zombies().len(), zombies_before, "zombies left");
}

fn try_wait_before_and_after_exit(driver: Driver) {
    rt(driver).block_on(async {
        let mut child = sh("read line; exit 5")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        assert!(child.try_wait().unwrap().is_none());
        assert!(child.id().is_some());
        drop(child.stdin.take()); // end of file: `read` returns and the shell exits
        let mut status = None;
        for _ in 0..500 {
            if let Some(s) = child.try_wait().unwrap() {
                status = Some(s);
                break;
            }
            ringio::time::sleep(Duration::from_millis(10)).await;
        }
        let status = status.expect("try_wait never saw the exit");
        assert_eq!(status.code(), Some(5));
        assert_eq!(child.id(), None);
        assert_eq!(child.try_wait().unwrap(), Some(status));
        assert_eq!(child.wait().await.unwrap(), status);
    });
}

/// After the child is reaped its pid may be reused: signals are then no-ops.
fn send_signal_after_reap_is_harmless(driver: Driver) {
    rt(driver).block_on(async {
        let mut child = Command::new("true").spawn().unwrap();
        assert!(child.wait().await.unwrap().success());
        child.send_signal(libc::SIGTERM).unwrap();
        child.terminate().unwrap();
        child.kill().unwrap();
        assert!(child.wait().await.unwrap().success());

        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let err = child.send_signal(-1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        child.kill().unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(9));

        // A SignalKind goes where a number does.
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        child
            .send_signal(ringio::signal::SignalKind::user_defined1())
            .unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGUSR1));
    });
}

/// The blocked-signal mask (`SigBlk`) in a /proc status text.
fn sig_blk(status: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with("SigBlk:"))
        .expect("a SigBlk line");
    u64::from_str_radix(line["SigBlk:".len()..].trim(), 16).unwrap()
}

/// DESIGN.md, signals: a child starts with the default (empty) signal mask even when
/// the thread that spawns it blocks signals.
fn children_start_with_an_empty_signal_mask(driver: Driver) {
    // SAFETY: sigset operations on a local set, and pthread_sigmask on this thread
    // (restored below).
    let old = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        assert_eq!(libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old), 0);
        old
    };
    let ours = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let out =
        rt(driver).block_on(async { sh("grep SigBlk /proc/self/status").output().await.unwrap() });
    // SAFETY: restores this thread's mask from the copy taken above.
    unsafe {
        assert_eq!(
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()),
            0
        );
    }
    let usr1 = 1u64 << (libc::SIGUSR1 - 1);
    assert_ne!(sig_blk(&ours) & usr1, 0, "the test thread blocked SIGUSR1");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(sig_blk(&text), 0, "the child's mask: {text}");
}

/// io_uring reaps with IORING_OP_WAITID exactly where the kernel has it (6.7); epoll
/// has no ring flags at all.
fn waitid_is_used_where_the_kernel_has_it(driver: Driver) {
    let rt = rt(driver);
    let flags = rt.driver_info().flags().to_vec();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().unwrap().parse().unwrap();
    let minor: u32 = parts.next().unwrap().parse().unwrap();
    let expected = driver == Driver::Uring && (major, minor) >= (6, 7);
    assert_eq!(
        flags.contains(&"WAITID"),
        expected,
        "{flags:?} on {release}"
    );
    let status = rt.block_on(async { sh("exit 4").status().await.unwrap() });
    assert_eq!(status.code(), Some(4));
}

both_drivers!(
    waitid_is_used_where_the_kernel_has_it,
    communicate_finishes_where_wait_times_out,
    kill_then_wait_reports_the_signal,
    cat_round_trips_100_kib_through_communicate,
    cat_round_trips_100_kib_through_stream_writer_and_reader,
    pipes_read_and_write_owned_buffers,
    stdout_lines_on_every_pooled_read_path,
    dropped_child_leaves_no_zombie,
    missing_program_fails_spawn_with_not_found,
    exit_codes_come_back,
    env_and_current_dir_reach_the_child,
    stderr_merges_into_stdout,
    communicate_dropped_mid_flight_then_retried_loses_nothing,
    dropped_waits_leak_no_fd_and_no_zombie,
    try_wait_before_and_after_exit,
    send_signal_after_reap_is_harmless,
    children_start_with_an_empty_signal_mask,
);
