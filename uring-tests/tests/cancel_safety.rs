//! Cancellation safety: futures of in-flight operations dropped at varied points, in
//! loops, on both drivers.
//!
//! After every loop: data still flows on the same sockets, the `/proc/self/fd` count is
//! back where it started, the op table has drained, and nothing panicked. The canary
//! test catches the kernel writing into freed memory, which memcheck cannot see; the
//! whole file also runs under valgrind memcheck in `ci/test` (see `ci/memcheck.sh`).
//!
//! The tests of this file take a global lock: fd counts are per process, so no other
//! test may open or close fds while one runs. `RINGIO_CANCEL_ITERS` scales the loops
//! (default 10,000; the memcheck run uses fewer, as valgrind is ~50x slower).

mod support;

use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
use ringio::net::{BindOptions, TcpListener, TcpStream};
use ringio::runtime::{metrics, Driver};
use std::future::{poll_fn, Future};
use std::io::Write;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;
use support::{fd_count, pair, poll_then_drop, rt, Rng};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn iters() -> u64 {
    std::env::var("RINGIO_CANCEL_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Polls `fut` once; `Some(output)` if it finished.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    poll_fn(|cx| {
        Poll::Ready(match Pin::new(&mut *fut).poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}

/// Waits (a bounded number of loop turns) until the driver holds at most `baseline` ops,
/// not counting multishot operations, which stay armed while their socket lives (a
/// listener's accept on io_uring).
async fn settle(baseline: usize) {
    let pending = || {
        let m = metrics();
        m.ops_in_flight - m.multishot_armed
    };
    for _ in 0..100_000 {
        if pending() <= baseline {
            return;
        }
        ringio::yield_now().await;
    }
    panic!("{} ops still in flight (expected {baseline})", pending());
}

async fn assert_flows(a: &TcpStream, b: &TcpStream) {
    let msg = b"still flowing".to_vec();
    a.write_all(msg.clone()).await.0.unwrap();
    let (res, got) = b.read_exact(vec![0u8; msg.len()]).await;
    res.unwrap();
    assert_eq!(got, msg);
}

fn drop_inflight_reads(d: Driver) {
    let _g = serial();
    let before = fd_count();
    rt(d).block_on(async {
        let (c, s) = pair().await;
        let mut rng = Rng::new(1);
        let mut completed = 0;
        for i in 0..iters() {
            if i % 5 == 0 {
                // Some reads race with arriving data.
                c.write_all(vec![i as u8; 1 + rng.below(100) as usize])
                    .await
                    .0
                    .unwrap();
            }
            let polls = rng.below(4);
            if poll_then_drop(s.read(vec![0u8; 64]), polls).await.is_some() {
                completed += 1;
            }
        }
        settle(0).await;
        // Drain what the dropped reads left, then check a fresh message arrives whole.
        s.shutdown(std::net::Shutdown::Read).await.ok();
        let (c2, s2) = pair().await;
        assert_flows(&c2, &s2).await;
        assert_flows(&s2, &c2).await;
        assert!(completed > 0, "some reads should have completed");
    });
    assert_eq!(fd_count(), before);
}

fn drop_inflight_writes(d: Driver) {
    let _g = serial();
    let before = fd_count();
    rt(d).block_on(async {
        let (c, s) = pair().await;
        let mut rng = Rng::new(2);
        for i in 0..iters() {
            // Large writes block once the socket buffers fill; the peer drains now and then.
            let polls = rng.below(4);
            let _ = poll_then_drop(c.write_all(vec![0x77u8; 32 * 1024]), polls).await;
            if i % 8 == 0 {
                let _ = poll_then_drop(s.read(vec![0u8; 256 * 1024]), 2).await;
            }
        }
        settle(0).await;
        // Close the writer; the reader drains to end of stream: data still flows.
        drop(c);
        let mut total = 0usize;
        loop {
            let (n, _) = s.read(vec![0u8; 256 * 1024]).await;
            match n.unwrap() {
                0 => break,
                n => total += n,
            }
        }
        assert!(total > 0);
        let (c2, s2) = pair().await;
        assert_flows(&c2, &s2).await;
    });
    assert_eq!(fd_count(), before);
}

fn drop_inflight_accepts(d: Driver) {
    let _g = serial();
    let before = fd_count();
    rt(d).block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut rng = Rng::new(3);
        let mut clients = Vec::new();
        let mut accepted = 0usize;
        for i in 0..iters() {
            if i % 16 == 0 {
                clients.push(TcpStream::connect(addr).await.unwrap());
            }
            if let Some(res) = poll_then_drop(l.accept(), rng.below(4)).await {
                drop(res.unwrap());
                accepted += 1;
            }
            if clients.len() > 64 {
                clients.clear();
            }
        }
        settle(0).await;
        // Every connection is accepted exactly once: by a live accept, or queued on the
        // listener when its accept had been dropped.
        let total = iters().div_ceil(16) as usize;
        while accepted < total {
            let (conn, _) = ringio::time::timeout(Duration::from_secs(5), l.accept())
                .await
                .expect("a connection was lost")
                .unwrap();
            drop(conn);
            accepted += 1;
        }
        assert!(
            ringio::time::timeout(Duration::from_millis(50), l.accept())
                .await
                .is_err(),
            "accepted twice"
        );
        let c = TcpStream::connect(addr).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        assert_flows(&c, &s).await;
    });
    assert_eq!(fd_count(), before);
}

fn drop_inflight_connects(d: Driver) {
    let _g = serial();
    let before = fd_count();
    rt(d).block_on(async {
        // A listener that never accepts, with a tiny backlog: once it is full, new
        // connects wait in SYN_SENT, in flight.
        let l = TcpListener::bind_with("127.0.0.1:0", &BindOptions::new().backlog(1)).unwrap();
        let addr = l.local_addr().unwrap();
        let mut rng = Rng::new(4);
        let mut done = Vec::new();
        for _ in 0..iters() {
            if let Some(Ok(s)) = poll_then_drop(TcpStream::connect(addr), rng.below(4)).await {
                done.push(s);
            }
        }
        settle(0).await;
        drop(done);
        drop(l);
        let (c, s) = pair().await;
        assert_flows(&c, &s).await;
    });
    assert_eq!(fd_count(), before);
}

fn drop_inflight_sleeps(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let mut rng = Rng::new(5);
        for _ in 0..iters() {
            let dur = Duration::from_micros(rng.below(3000));
            let _ = poll_then_drop(ringio::time::sleep(dur), rng.below(4)).await;
        }
        assert_eq!(metrics().timers, 0, "dropped sleeps left timers behind");
        let t = std::time::Instant::now();
        ringio::time::sleep(Duration::from_millis(5)).await;
        assert!(t.elapsed() >= Duration::from_millis(5));
    });
}

/// Mixed, randomised: every kind of drop at once, several seeds.
fn drop_mixed_randomised(d: Driver) {
    let _g = serial();
    let before = fd_count();
    for seed in [11u64, 12, 13] {
        rt(d).block_on(async move {
            let (c, s) = pair().await;
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let mut rng = Rng::new(seed);
            let mut conns = Vec::new();
            for _ in 0..iters() / 4 {
                let polls = rng.below(5);
                match rng.below(6) {
                    0 => drop(poll_then_drop(s.read(vec![0u8; 128]), polls).await),
                    1 => drop(poll_then_drop(c.write_all(vec![1u8; 4096]), polls).await),
                    2 => drop(poll_then_drop(l.accept(), polls).await),
                    3 => {
                        if let Some(Ok(conn)) =
                            poll_then_drop(TcpStream::connect(addr), polls).await
                        {
                            conns.push(conn);
                        }
                    }
                    4 => drop(
                        poll_then_drop(
                            ringio::time::sleep(Duration::from_micros(rng.below(500))),
                            polls,
                        )
                        .await,
                    ),
                    _ => conns.clear(),
                }
            }
            settle(0).await;
            assert_eq!(metrics().timers, 0);
            let (c2, s2) = pair().await;
            assert_flows(&c2, &s2).await;
        });
    }
    assert_eq!(fd_count(), before);
}

/// The runtime is dropped while reads, accepts, connects and sleeps are in flight; it
/// must cancel and drain them before freeing their buffers, and close every fd.
fn runtime_dropped_with_ops_in_flight(d: Driver) {
    let _g = serial();
    let before = fd_count();
    for _ in 0..20 {
        let rt = rt(d);
        rt.block_on(async {
            let l = std::rc::Rc::new(
                TcpListener::bind_with("127.0.0.1:0", &BindOptions::new().backlog(1)).unwrap(),
            );
            let addr = l.local_addr().unwrap();
            let (c, s) = pair().await;
            let (c, s) = (std::rc::Rc::new(c), std::rc::Rc::new(s));
            for _ in 0..8 {
                let s = s.clone();
                drop(ringio::spawn(async move { s.read(vec![0u8; 4096]).await }));
                let c = c.clone();
                drop(ringio::spawn(async move {
                    c.write_all(vec![0u8; 1 << 20]).await
                }));
                let l = l.clone();
                drop(ringio::spawn(async move { l.accept().await.map(drop) }));
                drop(ringio::spawn(async move {
                    TcpStream::connect(addr).await.map(drop)
                }));
                drop(ringio::spawn(ringio::time::sleep(Duration::from_secs(
                    3600,
                ))));
            }
            for _ in 0..4 {
                ringio::yield_now().await;
            }
            assert!(metrics().ops_in_flight > 0);
        });
        drop(rt);
    }
    assert_eq!(fd_count(), before);
}

/// Memcheck cannot see the kernel writing into memory the program has freed. So: drop an
/// in-flight recv, fill fresh allocations of the same size with a pattern (a freed
/// buffer would be handed straight back by the allocator), make the peer send, let the
/// kernel finish, and check every pattern survived.
fn canary_survives_late_kernel_writes(d: Driver) {
    let _g = serial();
    const SIZE: usize = 4096;
    const CANARY: u8 = 0xA5;
    rt(d).block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        // A std peer sends synchronously, so the data lands while the dropped recv is
        // still armed in the kernel, before the async-cancel is even submitted.
        let mut peer = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().await.unwrap();
        let rounds = (iters() / 10).max(100);
        for round in 0..rounds {
            let data_first = round % 2 == 0;
            if data_first {
                // The data is there before the recv is submitted: the kernel completes
                // it inline at the next submit, after the future below is dropped. This
                // late write happens every time.
                peer.write_all(&[0x5A; SIZE]).unwrap();
            }
            let mut read = Box::pin(s.read(vec![0u8; SIZE]));
            assert!(data_first || poll_once(&mut read).await.is_none());
            if data_first {
                // Queued, not yet submitted.
                let polled = poll_once(&mut read).await;
                assert!(polled.is_none() || d == Driver::Epoll);
            } else {
                ringio::yield_now().await; // submitted; the kernel arms its poll
            }
            drop(read);
            let canaries: Vec<Vec<u8>> = (0..8).map(|_| vec![CANARY; SIZE]).collect();
            if !data_first {
                peer.write_all(&[0x5A; SIZE]).unwrap();
            }
            settle(0).await; // the orphaned recv completes (data or cancelled)
            for c in &canaries {
                assert!(
                    c.iter().all(|&b| b == CANARY),
                    "the kernel wrote into freed memory"
                );
            }
            drop(canaries);
            // Drain whatever the orphan did not take, without blocking.
            while let Some((Ok(n), _)) = poll_then_drop(s.read(vec![0u8; SIZE]), 2).await {
                if n == 0 {
                    break;
                }
            }
            settle(0).await;
        }
    });
}

/// ASYNCIO.md §1.1 check 5: runtimes come and go, with sockets, and the fd count is
/// back where it started.
fn fd_count_unchanged_after_runtimes(d: Driver) {
    let _g = serial();
    let before = fd_count();
    for workers in [1, 2] {
        for _ in 0..10 {
            let rt = ringio::Builder::new()
                .driver(d)
                .workers(workers)
                .build()
                .unwrap();
            rt.block_on(async {
                let (c, s) = pair().await;
                assert_flows(&c, &s).await;
                ringio::task::spawn_blocking(|| ()).await.unwrap();
            });
        }
    }
    assert_eq!(fd_count(), before);
}

/// A write queued but not yet submitted is dropped, then its socket: the fd number must
/// not be reused while the orphaned write can still reach the kernel, or the bytes would
/// go to whatever connection gets that number next.
fn orphaned_write_never_reaches_a_reused_fd(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let other_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let other_addr = other_listener.local_addr().unwrap();
        for _ in 0..50 {
            let (c, _s) = pair().await;
            // Polled once (queued), then dropped by the zero timeout.
            let _ = ringio::time::timeout(Duration::ZERO, c.write(b"secret".to_vec())).await;
            drop(c);
            // A new socket takes the lowest free fd number: c's, if it was closed.
            let other = std::net::TcpStream::connect(other_addr).unwrap();
            let (srv, _) = other_listener.accept().await.unwrap();
            let got =
                ringio::time::timeout(Duration::from_millis(20), srv.read(vec![0u8; 64])).await;
            if let Ok((Ok(n), buf)) = got {
                panic!("{n} bytes reached the wrong connection: {:?}", &buf[..n]);
            }
            drop(other);
            settle(0).await;
        }
    });
}

both_drivers!(
    orphaned_write_never_reaches_a_reused_fd,
    fd_count_unchanged_after_runtimes,
    drop_inflight_reads,
    drop_inflight_writes,
    drop_inflight_accepts,
    drop_inflight_connects,
    drop_inflight_sleeps,
    drop_mixed_randomised,
    runtime_dropped_with_ops_in_flight,
    canary_survives_late_kernel_writes,
);
