//! Faults, each on both drivers: peer resets in the middle of a large write and of a
//! `readline`, half-close in each direction, EMFILE on connect (on accept:
//! `fast_path.rs` and `streams.rs`), a flood through a 4-entry submission queue and a
//! tiny pool (ENOBUFS and completion-queue overflow), RLIMIT_MEMLOCK at zero in a user
//! namespace before ring setup, panics in a task, a callback and a connection handler,
//! and a saturated blocking pool. After each fault the runtime still serves: the tests
//! end with a fresh round trip.

mod support;

use ringio::buf::BufPool;
use ringio::io::{AsyncReadOwned, AsyncWriteOwned, ReadError, StreamReader};
use ringio::net::{TcpListener, TcpStream};
use ringio::runtime::Driver;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};
use support::{fd_count, pair, reset, rt, serial, set_fd_limit};

async fn round_trip() {
    let (c, s) = pair().await;
    c.write_all(b"still serving".to_vec()).await.0.unwrap();
    let (res, got) = s.read_exact(vec![0u8; 13]).await;
    res.unwrap();
    assert_eq!(got, b"still serving");
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
    )
}

/// The peer reads a little of a 64 MiB write, then resets: the write ends with an
/// `io::Error`, not a hang or a panic.
fn reset_during_a_large_write(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            s.read_exact(&mut buf).unwrap();
            reset(s);
        });
        let (conn, _) = l.accept().await.unwrap();
        let (res, buf) =
            ringio::time::timeout(Duration::from_secs(20), conn.write_all(vec![7u8; 64 << 20]))
                .await
                .expect("the write hung after the reset");
        let err = res.expect_err("64 MiB cannot all have gone to a peer that reset");
        assert!(is_reset(&err), "{err:?}");
        assert_eq!(buf.len(), 64 << 20, "the buffer comes back");
        peer.join().unwrap();
        round_trip().await;
    });
}

/// The peer sends half a line and resets: `readline` gives the reset as an error, and
/// the half line stays in the reader's buffer.
fn reset_during_a_readline(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"first line\nhalf a li").unwrap();
            go_rx.recv().unwrap();
            reset(s);
        });
        let (conn, _) = l.accept().await.unwrap();
        let mut reader = StreamReader::new(conn);
        assert_eq!(reader.readline().await.unwrap(), b"first line\n");
        // Wait until the half line is buffered, then let the peer reset.
        let mut line = Box::pin(reader.readline());
        assert!(
            std::future::poll_fn(|cx| std::task::Poll::Ready(line.as_mut().poll(cx).is_pending()))
                .await
        );
        drop(line);
        go_tx.send(()).unwrap();
        let res = ringio::time::timeout(Duration::from_secs(10), reader.readline())
            .await
            .expect("readline hung after the reset");
        match res {
            Err(ReadError::Io(e)) => assert!(is_reset(&e), "{e:?}"),
            other => panic!("expected the reset as an io error, got {other:?}"),
        }
        assert_eq!(reader.buffered(), b"half a li", "the half line was lost");
        peer.join().unwrap();
        round_trip().await;
    });
}

use std::future::Future;

/// Each side half-closes in turn; the other still reads to end of stream and can still
/// write back.
fn half_close_in_each_direction(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        for client_first in [true, false] {
            let (c, s) = pair().await;
            let (closer, other) = if client_first { (&c, &s) } else { (&s, &c) };
            closer.write_all(b"request".to_vec()).await.0.unwrap();
            closer.shutdown(std::net::Shutdown::Write).await.unwrap();
            let mut got = Vec::new();
            loop {
                let (res, buf) = other.read(vec![0u8; 64]).await;
                match res.unwrap() {
                    0 => break,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
            assert_eq!(got, b"request");
            // The half-closed side still receives.
            other.write_all(b"reply".to_vec()).await.0.unwrap();
            let (res, buf) = closer.read_exact(vec![0u8; 5]).await;
            res.unwrap();
            assert_eq!(buf, b"reply");
            // And writing on the closed half is an error, not a silent loss.
            let (res, _) = closer.write(b"late".to_vec()).await;
            assert!(res.is_err(), "a write after shutdown(Write) succeeded");
        }
        round_trip().await;
    });
}

/// A connect with no fd left fails with EMFILE; once fds free up, connects and the
/// listener work again. (ENFILE is the system-wide table: the same error path, but it
/// cannot be caused without starving every process on the machine, so it is not.)
fn emfile_on_connect(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let before = fd_count();
        let old = set_fd_limit(lowest_free_fd() as u64);
        let res = TcpStream::connect(addr).await;
        set_fd_limit(old);
        let err = res.expect_err("connect without a free fd");
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
        assert_eq!(fd_count(), before);
        let c = TcpStream::connect(addr).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        c.write_all(b"ok".to_vec()).await.0.unwrap();
        let (res, buf) = s.read_exact(vec![0u8; 2]).await;
        res.unwrap();
        assert_eq!(buf, b"ok");
    });
}

fn lowest_free_fd() -> i32 {
    let f = std::fs::File::open("/dev/null").unwrap();
    f.as_raw_fd()
}

/// A 4-entry submission queue (16 completions), a 4-buffer pool of 256 B, and 64
/// connections sending 200 messages each at once: multishot receives run out of
/// buffers (ENOBUFS) and completions outrun the queue; every byte still comes back, in
/// order.
fn flood_through_a_tiny_ring_and_pool(d: Driver) {
    let _g = serial();
    let rt = ringio::Builder::new()
        .driver(d)
        .workers(1)
        .entries(4)
        .build()
        .unwrap();
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let pool = Rc::new(BufPool::new(4, 256).unwrap());
        let server = ringio::spawn({
            let pool = pool.clone();
            async move {
                let mut echoes = Vec::new();
                for _ in 0..64 {
                    let (conn, _) = l.accept().await.unwrap();
                    let pool = pool.clone();
                    echoes.push(ringio::spawn(async move {
                        while let Some(buf) = conn.recv_pooled(&pool).await.unwrap() {
                            conn.write_all(buf).await.0.unwrap();
                        }
                    }));
                }
                for e in echoes {
                    e.await.unwrap();
                }
            }
        });
        let mut clients = Vec::new();
        for id in 0..64u8 {
            clients.push(ringio::spawn(async move {
                let c = Rc::new(TcpStream::connect(addr).await.unwrap());
                let expected: Vec<u8> = (0..200u32)
                    .flat_map(|m| (0..100u32).map(move |k| (m * 7 + k + id as u32) as u8))
                    .collect();
                let writer = ringio::spawn({
                    let (c, data) = (c.clone(), expected.clone());
                    async move {
                        for msg in data.chunks(100) {
                            c.write_all(msg.to_vec()).await.0.unwrap();
                        }
                        c.shutdown(std::net::Shutdown::Write).await.unwrap();
                    }
                });
                let mut got = Vec::new();
                loop {
                    let (res, buf) = c.read(vec![0u8; 4096]).await;
                    match res.unwrap() {
                        0 => break,
                        n => got.extend_from_slice(&buf[..n]),
                    }
                }
                writer.await.unwrap();
                assert!(got == expected, "connection {id}: echo differs");
            }));
        }
        let all = async {
            for c in clients {
                c.await.unwrap();
            }
            server.await.unwrap();
        };
        ringio::time::timeout(Duration::from_secs(60), all)
            .await
            .expect("the flood stalled");
        assert_eq!(pool.available(), 4, "pool buffers leaked");
        let m = ringio::runtime::metrics();
        println!(
            "RELIABILITY|flood through a 4-entry SQ and a 4-buffer pool ({d:?})|64 connections x 200 messages of 100 B|every byte echoed in order, {} SQ-full flushes, {} CQ overflows survived",
            m.sq_full_events, m.cq_overflows
        );
        if d == Driver::Uring {
            // The point of the test: the queues did overflow, and nothing was lost.
            assert!(m.sq_full_events > 0, "the submission queue never filled");
            assert!(m.cq_overflows > 0, "the completion queue never overflowed");
        }
        round_trip().await;
    });
}

/// Panics in a task, a callback and a connection handler are reported and contained:
/// the worker goes on serving.
fn panics_never_take_a_worker_down(d: Driver) {
    let _g = serial();
    let rt = ringio::Builder::new()
        .driver(d)
        .workers(1)
        .exception_handler(|_| {})
        .build()
        .unwrap();
    rt.block_on(async {
        let task = ringio::spawn(async { panic!("task panics on purpose") });
        let err = task.await.expect_err("the panic is the task's result");
        assert!(err.is_panic(), "{err:?}");

        let ran = Rc::new(std::cell::Cell::new(false));
        ringio::runtime::call_soon(|| panic!("callback panics on purpose"));
        let after = ran.clone();
        ringio::runtime::call_soon(move || after.set(true));
        for _ in 0..4 {
            ringio::yield_now().await;
        }
        assert!(ran.get(), "the callback after a panicking one never ran");

        let server =
            ringio::net::start_server("127.0.0.1:0", |mut reader, mut writer| async move {
                let line = reader.readline().await.unwrap();
                if line == b"panic\n" {
                    panic!("handler panics on purpose");
                }
                writer.write(&line).unwrap();
                writer.drain().await.unwrap();
            })
            .unwrap();
        let addr = server.local_addr();
        for msg in [&b"panic\n"[..], b"hello\n"] {
            let (mut r, mut w) = ringio::net::open_connection(addr).await.unwrap();
            w.write(msg).unwrap();
            w.drain().await.unwrap();
            let got = ringio::time::timeout(Duration::from_secs(5), r.read_to_end())
                .await
                .expect("the server stopped answering");
            if msg == b"hello\n" {
                assert_eq!(got.unwrap(), b"hello\n");
            }
        }
        assert!(server.is_serving());
        server.close();
        round_trip().await;
    });
}

/// 200 jobs on a 2-thread blocking pool: they queue, and every result arrives. Then a
/// runtime whose only blocking thread is stuck, with work queued behind it, is dropped:
/// the drop returns after its shutdown timeout, not after the stuck job.
fn saturated_blocking_pool(d: Driver) {
    let _g = serial();
    let rt = ringio::Builder::new()
        .driver(d)
        .workers(1)
        .blocking_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let jobs: Vec<_> = (0..200u64)
            .map(|i| {
                ringio::task::spawn_blocking(move || {
                    std::thread::sleep(Duration::from_micros(200));
                    i * i
                })
            })
            .collect();
        for (i, job) in jobs.into_iter().enumerate() {
            assert_eq!(job.await.unwrap(), (i * i) as u64);
        }
        round_trip().await;
    });
    drop(rt);

    let rt = ringio::Builder::new()
        .driver(d)
        .workers(1)
        .blocking_threads(1)
        .shutdown_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    rt.block_on(async move {
        drop(ringio::task::spawn_blocking(move || {
            let _ = release_rx.recv_timeout(Duration::from_secs(30));
        }));
        for _ in 0..10 {
            drop(ringio::task::spawn_blocking(|| ()));
        }
    });
    let t = Instant::now();
    drop(rt);
    let took = t.elapsed();
    release_tx.send(()).ok();
    assert!(
        took < Duration::from_secs(10),
        "dropping the runtime waited {took:?} for a stuck blocking job"
    );
}

/// RLIMIT_MEMLOCK at zero and at 32 KiB, in a user namespace (so that even root lacks CAP_IPC_LOCK
/// in the init namespace and the kernel accounts pinned memory), before the runtime sets
/// up its ring: at zero no ring fits and the runtime starts on epoll, saying why
/// (ENOMEM); at 32 KiB it starts on a smaller ring and says so; forced to epoll it needs
/// no pinned memory. A round trip with pooled receives works each time. Each case runs
/// in a child process.
#[test]
fn memlock_limit_before_ring_setup() {
    use std::os::unix::process::CommandExt;
    // Running a child opens pipes: not while another test counts fds.
    let _g = serial();
    // (limit in KiB, RINGIO_DRIVER, what the driver line must say)
    let cases = [
        (0, "auto", "epoll: io_uring_setup failed"),
        (32, "auto", "SMALLER_RING_FOR_MEMLOCK"),
        (0, "epoll", "driver epoll"),
    ];
    for (limit_kib, driver, expect) in cases {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "memlock_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RINGIO_MEMLOCK_CHILD", "1")
        .env("RINGIO_DRIVER", driver);
        // SAFETY: between fork and exec the closure calls only async-signal-safe
        // functions (unshare, setrlimit) on memory it owns.
        unsafe {
            cmd.pre_exec(move || {
                if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let limit = libc::rlimit {
                    rlim_cur: limit_kib * 1024,
                    rlim_max: limit_kib * 1024,
                };
                if libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = cmd.output().expect("run the memlock child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("memlock child: round trip ok"),
            "memlock child ({driver}) failed: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let at = stdout.find("memlock child: driver").unwrap();
        let line = stdout[at..].lines().next().unwrap();
        assert!(line.contains(expect), "{line}");
        println!(
            "RELIABILITY|RLIMIT_MEMLOCK {limit_kib} KiB in a user namespace ({driver})|ring setup, pooled round trip|starts: {}", line.trim_start_matches("memlock child: ")
        );
    }
}

/// The child of `memlock_limit_before_ring_setup`; does nothing in a normal run.
#[test]
fn memlock_child() {
    if std::env::var_os("RINGIO_MEMLOCK_CHILD").is_none() {
        return;
    }
    let rt = ringio::Builder::new().workers(1).build().unwrap();
    println!("memlock child: driver {}", rt.driver_info());
    rt.block_on(async {
        let (c, s) = pair().await;
        let pool = BufPool::new(8, 4096).unwrap();
        c.write_all(b"pinned nothing".to_vec()).await.0.unwrap();
        let mut got = Vec::new();
        while got.len() < 14 {
            got.extend_from_slice(&s.recv_pooled(&pool).await.unwrap().unwrap());
        }
        assert_eq!(got, b"pinned nothing");
    });
    println!("memlock child: round trip ok");
}

both_drivers!(
    reset_during_a_large_write,
    reset_during_a_readline,
    half_close_in_each_direction,
    emfile_on_connect,
    flood_through_a_tiny_ring_and_pool,
    panics_never_take_a_worker_down,
    saturated_blocking_pool,
);
