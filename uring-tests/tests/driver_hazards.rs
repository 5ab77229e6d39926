//! Regression tests for three driver hazards, each run on both backends; every wait is
//! bounded, so a hazard makes its test fail with a message instead of hanging.
//!
//! 1. **Two receivers on one idle stream spin** (io_uring). A stream's multishot
//!    receive keeps a single waker slot: a second task awaiting `recv_pooled` on the
//!    same stream swaps its waker in and wakes the first, which swaps its own back in
//!    and wakes the second, forever, while no data arrives (hundreds of thousands of
//!    polls a second on an idle connection).
//! 2. **A stale epoll registration hangs a reused fd** (epoll). The epoll backend
//!    remembers which fd numbers it registered and is told to forget one when its
//!    socket closes, but only by the driver the fd attached to on its first
//!    operation. An operation built outside any runtime (the fd attaches to none), or
//!    a stream used on a second live runtime, leaves the number marked registered
//!    after the socket closed (and the kernel dropped it from the interest list); a new
//!    socket that reuses the number is then never added, and a read on it waiting for
//!    data never wakes.
//! 3. **The op budget starves pending reads** (epoll). Every poll of an operation
//!    takes a unit of the per-poll budget (128), even a poll that only finds it must
//!    wait. A task polling more than 128 pending reads in a fixed order spends the
//!    whole budget on the first 128 every time: the rest are never tried, so never
//!    registered for readiness, and the task wakes itself and spins (thousands of
//!    polls a second) for as long as the first 128 wait. The rest run only once
//!    enough of the first 128 have completed and are no longer polled.

mod support;

use ringio::buf::BufPool;
use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
use ringio::net::TcpStream;
use ringio::runtime::{metrics, Driver};
use ringio::time::{sleep, timeout};
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};
use support::{rt, serial};

/// A connected loopback pair of std streams, (client, server): the client's fd is
/// opened first, then the server's.
fn std_pair(l: &std::net::TcpListener) -> (std::net::TcpStream, std::net::TcpStream) {
    let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

/// Writes `msg` on `c` from a std thread after `delay`, and hands `c` back at the
/// join, so the caller decides when its fd closes.
///
/// A task of the runtime, not a thread: under valgrind a worker blocked in
/// `io_uring_enter` can keep other threads from running (DESIGN.md), and these tests
/// run under memcheck too. A small write to a loopback socket never blocks.
fn send_later(
    mut c: std::net::TcpStream,
    msg: &'static [u8],
    delay: Duration,
) -> ringio::JoinHandle<std::net::TcpStream> {
    ringio::spawn(async move {
        sleep(delay).await;
        c.write_all(msg).unwrap();
        c
    })
}

/// Hazard 1: two tasks receiving on one idle stream must sleep, not wake each other.
fn two_receivers_on_one_idle_stream_do_not_spin(d: Driver) {
    let _g = serial();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (c, s) = std_pair(&l);
    rt(d).block_on(async {
        let c = TcpStream::from_std(c).unwrap();
        let s = Rc::new(TcpStream::from_std(s).unwrap());
        let pool = BufPool::new(8, 64).unwrap();
        // Everything received, in the order it was taken: each receiver appends a
        // buffer in the same poll that takes it, so the order is the stream's.
        let received = Rc::new(RefCell::new(Vec::<u8>::new()));
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let (s, pool, received) = (s.clone(), pool.clone(), received.clone());
                ringio::spawn(async move {
                    loop {
                        let next = timeout(Duration::from_secs(5), s.recv_pooled(&pool))
                            .await
                            .map_err(|_| "a receive waited 5 s")?;
                        match next {
                            Ok(Some(buf)) => received.borrow_mut().extend_from_slice(&buf),
                            Ok(None) => return Ok::<(), &str>(()),
                            Err(_) => return Err("a receive failed"),
                        }
                    }
                })
            })
            .collect();
        // Both receivers start waiting.
        for _ in 0..10 {
            ringio::yield_now().await;
        }
        sleep(Duration::from_millis(20)).await;

        let before = metrics().polls;
        sleep(Duration::from_millis(300)).await;
        let idle_polls = metrics().polls - before;
        assert!(
            idle_polls < 100,
            "{idle_polls} task polls in 300 ms with two receivers waiting on an idle \
             stream: they keep waking each other"
        );

        // Data still reaches them, every byte once and in order.
        let sent: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        for chunk in sent.chunks(500) {
            c.write_all(chunk.to_vec()).await.0.unwrap();
            sleep(Duration::from_millis(2)).await;
        }
        let start = Instant::now();
        while received.borrow().len() < sent.len() && start.elapsed() < Duration::from_secs(5) {
            sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(
            received.borrow().len(),
            sent.len(),
            "bytes received by the two receivers"
        );
        assert!(*received.borrow() == sent, "data reordered or corrupted");

        // The peer closes: both receivers see end of stream.
        drop(c);
        for r in receivers {
            let ended = r
                .wait_for(Duration::from_secs(5))
                .await
                .expect("a receiver never saw end of stream")
                .expect("a receiver panicked");
            assert_eq!(ended, Ok(()));
        }
    });
}

/// Hazard 2, one runtime: the first read on a stream is built outside the runtime and
/// has to wait; the stream closes; a new socket reusing its fd number must still be
/// woken by data.
fn stale_epoll_registration_does_not_hang_a_reused_fd(d: Driver) {
    let _g = serial();
    let rt = rt(d);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (c1, s1) = std_pair(&l);
    let old_fd = s1.as_raw_fd();
    let s1 = TcpStream::from_std(s1).unwrap();
    // Built here, with no runtime running: the operation attaches the fd to no driver.
    let first = s1.read(Vec::with_capacity(16));
    let c1 = read_waiting(&rt, c1, first, b"first");
    drop(s1);
    drop(c1);
    reuse_and_read(&rt, &l, old_fd);
}

/// Hazard 2, two runtimes: a stream attached to runtime A waits for data on runtime B;
/// it closes (A is told, B is not); a new socket reusing its fd number on B must still
/// be woken by data.
fn stale_epoll_registration_does_not_hang_a_reused_fd_across_two_runtimes(d: Driver) {
    let _g = serial();
    let (a, b) = (rt(d), rt(d));
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut c1, s1) = std_pair(&l);
    let old_fd = s1.as_raw_fd();
    let s1 = TcpStream::from_std(s1).unwrap();
    // First used on A: the fd attaches to A's driver.
    c1.write_all(b"on a").unwrap();
    let (res, buf) = a
        .block_on(timeout(Duration::from_secs(5), s1.read_exact(vec![0u8; 4])))
        .expect("the read on runtime A never completed");
    res.unwrap();
    assert_eq!(&buf, b"on a");
    // Then a read that waits, on B.
    let c1 = read_waiting(&b, c1, s1.read(Vec::with_capacity(16)), b"on b");
    drop(s1);
    drop(c1);
    reuse_and_read(&b, &l, old_fd);
    drop((a, b));
}

/// On `rt`, awaits `read`, which must wait until `c` sends `msg` 100 ms later and then
/// get exactly it; hands `c` back.
fn read_waiting(
    rt: &ringio::Runtime,
    c: std::net::TcpStream,
    read: impl Future<Output = (io::Result<usize>, Vec<u8>)>,
    msg: &'static [u8],
) -> std::net::TcpStream {
    let (read, c) = rt.block_on(async {
        let writer = send_later(c, msg, Duration::from_millis(100));
        let read = timeout(Duration::from_secs(5), read).await;
        (read, writer.await.unwrap())
    });
    let (res, buf) = read.expect("a read that had to wait never completed");
    assert_eq!(res.unwrap(), msg.len());
    assert_eq!(buf, msg);
    c
}

/// Opens the same fd numbers again, in the same order, checks the server side got
/// `old_fd` back, and reads on it after a delay on `rt`.
fn reuse_and_read(rt: &ringio::Runtime, l: &std::net::TcpListener, old_fd: i32) {
    let (c2, s2) = std_pair(l);
    assert_eq!(
        s2.as_raw_fd(),
        old_fd,
        "the new socket did not reuse the fd number"
    );
    read_after_delay_on(rt, c2, s2, old_fd);
}

/// On `rt`, a read on `s` (fd `fd`) that starts waiting before `c` sends; it must
/// complete with the data.
fn read_after_delay_on(
    rt: &ringio::Runtime,
    c: std::net::TcpStream,
    s: std::net::TcpStream,
    fd: i32,
) {
    rt.block_on(async {
        let writer = send_later(c, b"reused", Duration::from_millis(100));
        let s = TcpStream::from_std(s).unwrap();
        let start = Instant::now();
        let read = timeout(Duration::from_secs(5), s.read(Vec::with_capacity(16))).await;
        // `timeout` polls the read once more at its deadline, which finds the data: a
        // read that was never woken still ends `Ok`, at the deadline.
        let waited = start.elapsed();
        assert!(
            read.is_ok() && waited < Duration::from_secs(2),
            "a read on reused fd {fd} was not woken by data sent after 100 ms (it ended \
             after {waited:?}, at the 5 s timeout): a stale registration of the closed \
             socket that had the number"
        );
        let (res, buf) = read.unwrap();
        assert_eq!(res.unwrap(), 6);
        assert_eq!(&buf, b"reused");
        drop(writer.await.unwrap());
    });
}

/// Hazard 3: one task polling 140 pending reads in a fixed order must get them all,
/// without spinning while they wait.
fn op_budget_does_not_starve_pending_reads(d: Driver) {
    const N: usize = 140;
    let _g = serial();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (clients, servers): (Vec<_>, Vec<_>) = (0..N).map(|_| std_pair(&l)).unzip();
    rt(d).block_on(async {
        let servers: Vec<TcpStream> = servers
            .into_iter()
            .map(|s| TcpStream::from_std(s).unwrap())
            .collect();
        let mut reads: Vec<_> = servers
            .iter()
            .map(|s| Some(Box::pin(s.read(Vec::with_capacity(8)))))
            .collect();
        let mut results: Vec<Option<(io::Result<usize>, Vec<u8>)>> = (0..N).map(|_| None).collect();
        // A task, not a thread: see `send_later`.
        let writer = ringio::spawn(async move {
            sleep(Duration::from_millis(500)).await;
            for (i, mut c) in clients.iter().enumerate() {
                c.write_all(&(i as u32).to_le_bytes()).unwrap();
            }
            clients
        });
        let before = metrics().polls;
        // Operations waiting after the first poll (for the failure message).
        let mut waiting_after_first_poll = None;
        // A hand-written join: every poll tries each unfinished read, 0 to N - 1.
        let joined = timeout(
            Duration::from_secs(5),
            poll_fn(|cx| {
                let mut pending = 0;
                for (slot, out) in reads.iter_mut().zip(results.iter_mut()) {
                    if let Some(read) = slot {
                        match read.as_mut().poll(cx) {
                            Poll::Ready(r) => {
                                *out = Some(r);
                                *slot = None;
                            }
                            Poll::Pending => pending += 1,
                        }
                    }
                }
                waiting_after_first_poll.get_or_insert(metrics().ops_in_flight);
                if pending == 0 {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }),
        )
        .await;
        let polls = metrics().polls - before;
        let clients = writer.await.unwrap();
        let done = results.iter().filter(|r| r.is_some()).count();
        assert!(
            joined.is_ok(),
            "{done} of {N} reads completed in 5 s ({polls} polls); the first missing is \
             read {}",
            results.iter().position(|r| r.is_none()).unwrap_or(N)
        );
        for (i, r) in results.into_iter().enumerate() {
            let (res, buf) = r.unwrap();
            assert_eq!(res.unwrap(), 4, "read {i}");
            assert_eq!(buf, (i as u32).to_le_bytes(), "read {i}");
        }
        assert!(
            polls < 1000,
            "{polls} polls of one task waiting ~500 ms for {N} reads: it spins (after its \
             first poll {} operations were waiting)",
            waiting_after_first_poll.unwrap_or(0)
        );
        drop(clients);
    });
}

both_drivers!(
    two_receivers_on_one_idle_stream_do_not_spin,
    stale_epoll_registration_does_not_hang_a_reused_fd,
    stale_epoll_registration_does_not_hang_a_reused_fd_across_two_runtimes,
    op_budget_does_not_starve_pending_reads,
);
