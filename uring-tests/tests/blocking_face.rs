//! The driver's blocking face, through `net::lookup_host`, on both drivers: an
//! operation with no io_uring form and no readiness form runs on the blocking pool and
//! posts its result into its op-table slot. Dropping it in flight must leave the slot
//! (and the operation's memory) in place until the pool posts, lose no fd, and leave
//! the worker fully usable.

mod support;

use ringio::net::lookup_host;
use ringio::runtime::{metrics, Builder, Driver, Runtime};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;
use support::{fd_count, poll_once, rt, serial, settle_ops, ticking, Rng};

/// A runtime whose blocking pool has one thread, so a job can be held up behind
/// another.
fn one_pool_thread(driver: Driver) -> Runtime {
    let rt = Builder::new()
        .driver(driver)
        .blocking_threads(1)
        .build()
        .unwrap_or_else(|e| panic!("{driver:?} runtime failed to start: {e}"));
    assert_eq!(rt.driver_info().driver(), driver);
    rt
}

fn lookup_host_resolves_names_and_literals(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let v4: Vec<SocketAddr> = ticking(lookup_host("127.0.0.1:80"))
            .await
            .unwrap()
            .collect();
        assert_eq!(v4, vec!["127.0.0.1:80".parse().unwrap()]);
        let v6: Vec<SocketAddr> = ticking(lookup_host("[::1]:443")).await.unwrap().collect();
        assert_eq!(v6, vec!["[::1]:443".parse().unwrap()]);
        let named: Vec<SocketAddr> = ticking(lookup_host("localhost:7")).await.unwrap().collect();
        assert!(!named.is_empty());
        assert!(named.iter().all(|a| a.ip().is_loopback() && a.port() == 7));
        assert_eq!(metrics().ops_in_flight, 0, "the slot is freed by the post");
    });
}

fn lookup_host_reports_bad_input(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let err = ticking(lookup_host("no port here")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    });
}

/// Many lookups in flight at once from one task all complete, each with its own answer.
fn concurrent_lookups_each_get_their_answer(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let tasks: Vec<_> = (1..=64u16)
            .map(|port| {
                ringio::spawn(async move {
                    let got: Vec<SocketAddr> =
                        ticking(lookup_host(format!("127.0.0.{}:{port}", port % 8 + 1)))
                            .await
                            .unwrap()
                            .collect();
                    (port, got)
                })
            })
            .collect();
        for t in tasks {
            let (port, got) = ticking(t).await.unwrap();
            let want: SocketAddr = format!("127.0.0.{}:{port}", port % 8 + 1).parse().unwrap();
            assert_eq!(got, vec![want]);
        }
    });
}

/// The op-table invariant for the blocking face: a lookup dropped while its job waits
/// on the pool keeps its slot until the job has run and posted, then frees it.
fn dropped_blocking_op_keeps_its_slot_until_the_pool_posts(driver: Driver) {
    let _serial = serial();
    let rt = one_pool_thread(driver);
    rt.block_on(async {
        // Hold the only pool thread.
        let (release, held) = mpsc::channel::<()>();
        let blocker = ringio::task::spawn_blocking(move || {
            let _ = held.recv_timeout(Duration::from_secs(10));
        });
        let mut lookup = Box::pin(lookup_host("127.0.0.1:1"));
        assert!(
            poll_once(&mut lookup).is_none(),
            "queued behind the blocker"
        );
        assert_eq!(metrics().ops_in_flight, 1);
        drop(lookup);
        // Orphaned, not freed: the job is still queued and will run.
        assert_eq!(
            metrics().ops_in_flight,
            1,
            "the slot went before the pool posted"
        );
        ringio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(metrics().ops_in_flight, 1);
        release.send(()).unwrap();
        ticking(blocker).await.unwrap();
        settle_ops().await;
        // The worker is fine: a new lookup goes through.
        let addrs: Vec<_> = ticking(lookup_host("127.0.0.1:2")).await.unwrap().collect();
        assert_eq!(addrs.len(), 1);
    });
}

/// Lookups dropped at random points (before the first poll, queued, running, done but
/// not collected), in a loop: no slot and no fd is lost, and every survivor's answer
/// is right.
fn lookups_dropped_in_flight_in_a_loop(driver: Driver) {
    let _serial = serial();
    let iters: u64 = std::env::var("RINGIO_CANCEL_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(400, |n: u64| (n / 25).max(40));
    let fds = fd_count();
    let rt = rt(driver);
    rt.block_on(async move {
        let mut rng = Rng::new(0xb10c);
        let mut completed = 0;
        for i in 0..iters {
            let port = (i % 60_000 + 1) as u16;
            let mut lookup = Box::pin(lookup_host(format!("127.0.0.1:{port}")));
            match rng.below(4) {
                0 => {} // dropped before it was ever polled
                1 => {
                    let _ = poll_once(&mut lookup); // dropped queued or running
                }
                2 => {
                    // Dropped after its post arrived but before it was collected.
                    let _ = poll_once(&mut lookup);
                    ringio::time::sleep(Duration::from_millis(1)).await;
                }
                _ => {
                    let got: Vec<SocketAddr> = ticking(lookup).await.unwrap().collect();
                    assert_eq!(got, vec![SocketAddr::from(([127, 0, 0, 1], port))]);
                    completed += 1;
                    continue;
                }
            }
            drop(lookup);
        }
        settle_ops().await;
        assert!(completed > 0);
    });
    drop(rt);
    assert_eq!(fd_count(), fds, "fds leaked");
}

/// A runtime dropped with blocking operations in flight waits for their posts (the
/// pool finishes them) and shuts down cleanly.
fn runtime_drop_with_blocking_ops_in_flight(driver: Driver) {
    let _serial = serial();
    let fds = fd_count();
    let rt = one_pool_thread(driver);
    rt.block_on(async {
        let _blocker =
            ringio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(100)));
        for port in 1..=8u16 {
            // Detached: the runtime's drop cancels it.
            drop(ringio::spawn(async move {
                let _ = ticking(lookup_host(format!("127.0.0.1:{port}"))).await;
            }));
        }
        ringio::yield_now().await;
        ringio::yield_now().await;
        assert!(metrics().ops_in_flight >= 1);
    });
    drop(rt);
    assert_eq!(fd_count(), fds, "fds leaked");
}

both_drivers!(
    lookup_host_resolves_names_and_literals,
    lookup_host_reports_bad_input,
    concurrent_lookups_each_get_their_answer,
    dropped_blocking_op_keeps_its_slot_until_the_pool_posts,
    lookups_dropped_in_flight_in_a_loop,
    runtime_drop_with_blocking_ops_in_flight,
);
