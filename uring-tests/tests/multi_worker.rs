//! Thread-per-core: several workers, crossing between them, plain threads reaching in,
//! the blocking pool, the cross-core channel, pinning, and shutdown.

mod support;

use ringio::runtime::{Builder, Driver, Handle, SpawnError};
use ringio::sync::mpsc;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{rt, workers};

fn spawn_on_runs_on_the_chosen_worker(d: Driver) {
    let rt = workers(d, 2);
    rt.block_on(async {
        assert_eq!(Handle::current_worker(), Some(0));
        for target in [1, 0, 1] {
            // Built on the target worker, the task may hold !Send state.
            let h = Handle::current()
                .spawn_local_on(target, move || async move {
                    let local = Rc::new(target);
                    ringio::yield_now().await;
                    (
                        *local,
                        Handle::current_worker(),
                        std::thread::current().name().map(str::to_owned),
                    )
                })
                .unwrap();
            let (t, worker, _name) = h.await.unwrap();
            assert_eq!((t, worker), (target, Some(target)));
        }
        let h = ringio::spawn_on(1, async {
            std::thread::current().name().map(str::to_owned)
        });
        assert_eq!(h.await.unwrap().as_deref(), Some("ringio-worker-1"));
    });
}

fn handle_from_plain_threads(d: Driver) {
    let rt = workers(d, 2);
    let handle = rt.handle();
    assert_eq!(handle.workers(), 2);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let handle = handle.clone();
            std::thread::spawn(move || {
                // A Send future, joined by blocking.
                let a = handle
                    .spawn_on(1, async move { i * 10 })
                    .unwrap()
                    .join()
                    .unwrap();
                // A !Send future built on the worker, joined by blocking.
                let b = handle
                    .spawn_local_on(1, move || async move {
                        let rc = Rc::new(i);
                        ringio::time::sleep(Duration::from_millis(1)).await;
                        *rc + 1
                    })
                    .unwrap()
                    .join()
                    .unwrap();
                // call_soon_threadsafe runs on the worker's thread.
                let (tx, rx) = std::sync::mpsc::channel();
                handle
                    .call_soon_threadsafe(1, move || tx.send(Handle::current_worker()).unwrap())
                    .unwrap();
                let w = rx.recv_timeout(Duration::from_secs(10)).unwrap();
                (a, b, w)
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), (i * 10, i + 1, Some(1)));
    }
    assert_eq!(
        handle.spawn_on(2, async {}).unwrap_err(),
        SpawnError::NoSuchWorker(2)
    );
}

fn remote_handle_abort_and_panic(d: Driver) {
    let rt = workers(d, 2);
    rt.block_on(async {
        let h = Handle::current()
            .spawn_local_on(1, || ringio::time::sleep(Duration::from_secs(3600)))
            .unwrap();
        ringio::time::sleep(Duration::from_millis(5)).await;
        assert!(h.abort());
        assert!(h.await.unwrap_err().is_cancelled());
        let h = ringio::spawn_on(1, async { panic!("remote boom") });
        let err = h.await.unwrap_err();
        assert!(
            err.is_panic() && err.to_string().contains("remote boom"),
            "{err}"
        );
        // The worker survived.
        assert_eq!(ringio::spawn_on(1, async { 1 }).await.unwrap(), 1);
    });
}

fn wakes_from_plain_threads_reach_sleeping_workers(d: Driver) {
    let rt = workers(d, 2);
    let (tx, rx) = mpsc::channel::<u64>(1);
    // Worker 1 waits on the channel with no timer: only the wake can free it.
    let consumer = rt.handle().spawn_local_on(1, move || async move {
        let mut rx = rx;
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        got
    });
    let producer = std::thread::spawn(move || {
        for i in 0..200u64 {
            if i % 20 == 0 {
                std::thread::sleep(Duration::from_millis(1)); // let the worker park
            }
            tx.blocking_send(i).unwrap();
        }
    });
    producer.join().unwrap();
    assert_eq!(
        consumer.unwrap().join().unwrap(),
        (0..200).collect::<Vec<_>>()
    );
}

fn handle_after_shutdown_errors_instead_of_hanging(d: Driver) {
    let rt = workers(d, 2);
    let handle = rt.handle();
    // Work that was running at shutdown completes as cancelled.
    let pending = handle.spawn_on(1, std::future::pending::<()>()).unwrap();
    let blocked = rt
        .handle()
        .spawn_on(0, std::future::pending::<()>())
        .unwrap();
    rt.block_on(ringio::time::sleep(Duration::from_millis(5)));
    drop(rt);
    assert_eq!(
        handle.spawn_on(1, async {}).unwrap_err(),
        SpawnError::Shutdown
    );
    assert_eq!(
        handle.spawn_local_on(0, || async {}).unwrap_err(),
        SpawnError::Shutdown
    );
    assert_eq!(
        handle.call_soon_threadsafe(1, || {}).unwrap_err(),
        SpawnError::Shutdown
    );
    assert_eq!(
        handle.spawn_blocking(|| ()).unwrap_err(),
        SpawnError::Shutdown
    );
    assert!(pending.join().unwrap_err().is_cancelled());
    assert!(blocked.join().unwrap_err().is_cancelled());
}

fn blocking_pool_runs_closures_off_the_loop(d: Driver) {
    let rt = rt(d);
    rt.block_on(async {
        // The closure blocks on a std channel; a task on the same worker sends the value.
        let (tx, rx) = std::sync::mpsc::channel::<u32>();
        let blocked = ringio::task::to_thread(move || rx.recv().unwrap() * 2);
        let sender = ringio::spawn(async move {
            ringio::yield_now().await;
            tx.send(21).unwrap();
        });
        assert_eq!(blocked.await.unwrap(), 42);
        sender.await.unwrap();
        // It runs on a pool thread.
        let name =
            ringio::task::spawn_blocking(|| std::thread::current().name().map(str::to_owned))
                .await
                .unwrap();
        assert!(name.unwrap().starts_with("ringio-blocking-"));
        // A panic arrives as a JoinError.
        let err = ringio::task::spawn_blocking(|| panic!("blocking boom"))
            .await
            .unwrap_err();
        assert!(err.is_panic());
        // Dropping the awaiter does not stop the closure.
        let done = Arc::new(AtomicBool::new(false));
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let d2 = done.clone();
        drop(ringio::task::spawn_blocking(move || {
            go_rx.recv().unwrap();
            d2.store(true, Ordering::SeqCst);
        }));
        go_tx.send(()).unwrap();
        for _ in 0..1000 {
            if done.load(Ordering::SeqCst) {
                break;
            }
            ringio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(done.load(Ordering::SeqCst));
    });
}

fn blocking_pool_is_bounded(d: Driver) {
    let rt = Builder::new()
        .driver(d)
        .blocking_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (running, peak) = (running.clone(), peak.clone());
                ringio::task::spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(50));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(
            peak.load(Ordering::SeqCst),
            2,
            "at most 2 threads ran at once"
        );
    });
}

fn paused_clock_waits_for_blocking_work(d: Driver) {
    let rt = Builder::new().driver(d).start_paused(true).build().unwrap();
    rt.block_on(async {
        let t0 = ringio::time::Instant::now();
        let h = ringio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(20)));
        // The sleep would let a paused clock jump an hour ahead at once; a timeout
        // racing the blocking work must not win by a jump.
        let res = ringio::time::timeout(Duration::from_secs(3600), h).await;
        assert!(res.unwrap().is_ok());
        assert!(t0.elapsed() < Duration::from_secs(3600));
    });
}

fn shutdown_timeout_warns_instead_of_hanging(d: Driver) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rt = Builder::new()
        .driver(d)
        .shutdown_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    rt.block_on(async move {
        drop(ringio::task::spawn_blocking(move || {
            let _ = rx.recv(); // blocks until the test lets it go
        }));
        ringio::yield_now().await;
    });
    let t = std::time::Instant::now();
    drop(rt);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "the runtime's drop waited for the blocking job"
    );
    drop(tx); // let the thread end
}

fn channel_100k_from_4_threads_exactly_once_fifo(d: Driver) {
    let rt = workers(d, 2);
    let (tx, rx) = mpsc::channel::<(u32, u32)>(64);
    const PER: u32 = 25_000;
    let producers: Vec<_> = (0..4u32)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..PER {
                    tx.blocking_send((p, i)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let counts = rt
        .handle()
        .spawn_local_on(1, move || async move {
            let mut rx = rx;
            let mut next = [0u32; 4];
            let mut total = 0u32;
            while let Some((p, i)) = rx.recv().await {
                assert_eq!(i, next[p as usize], "producer {p} out of order");
                next[p as usize] += 1;
                total += 1;
            }
            (next, total)
        })
        .unwrap()
        .join()
        .unwrap();
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(counts, ([PER; 4], 4 * PER));
}

fn channel_async_senders_across_workers_and_close(d: Driver) {
    let rt = workers(d, 2);
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel::<u32>(2);
        let tx2 = tx.clone();
        let far = ringio::spawn_on(1, async move {
            for i in 0..1000 {
                tx2.send(i).await.unwrap();
            }
        });
        let near = ringio::spawn(async move {
            for i in 1000..2000 {
                tx.send(i).await.unwrap();
            }
        });
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        far.await.unwrap();
        near.await.unwrap();
        got.sort_unstable();
        assert_eq!(got, (0..2000).collect::<Vec<_>>());

        // Full, then closed: the item comes back.
        let (tx, rx) = mpsc::channel::<String>(1);
        tx.try_send("a".into()).unwrap();
        assert!(matches!(tx.try_send("b".into()), Err(mpsc::TrySendError::Full(s)) if s == "b"));
        let waiting = ringio::spawn(async move { tx.send("c".into()).await.map_err(|e| e.0) });
        ringio::yield_now().await;
        drop(rx);
        assert_eq!(waiting.await.unwrap(), Err("c".to_string()));
        // A receiver sees the end once every sender is gone.
        let (tx, mut rx) = mpsc::channel::<u8>(4);
        tx.try_send(1).unwrap();
        drop(tx);
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
        assert_eq!(rx.recv().await, None);
    });
}

fn channel_dropped_waiting_sender_passes_room_on(d: Driver) {
    rt(d).block_on(async {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let tx = Rc::new(tx);
        tx.try_send(0).unwrap();
        // Two senders wait for room.
        let (a, b) = (tx.clone(), tx.clone());
        let first = ringio::spawn(async move { a.send(1).await });
        let second = ringio::spawn(async move { b.send(2).await });
        ringio::yield_now().await;
        // Room appears and the first waiter is woken, then aborted before it sends.
        assert_eq!(rx.recv().await, Some(0));
        first.abort();
        // The second must get the room the first gave up.
        second.await.unwrap().unwrap();
        assert_eq!(rx.recv().await, Some(2));
    });
}

fn workers_are_pinned_to_distinct_cpus(d: Driver) {
    let cpus = ringio::runtime::available_cpus();
    assert!(cpus.len() >= 2, "this test needs 2 CPUs");
    let before = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let mask = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .unwrap()
            .to_string()
    };
    let rt = Builder::new()
        .driver(d)
        .workers(2)
        .cpus(vec![cpus[0], cpus[1]])
        .build()
        .unwrap();
    // Each worker reads its own thread's status.
    let status = || std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let w1 = rt
        .block_on(async move { ringio::spawn_on(1, async move { status() }).await })
        .unwrap();
    assert!(w1.contains("Name:\tringio-worker-1"), "{w1}");
    assert_eq!(mask(&w1), format!("Cpus_allowed_list:\t{}", cpus[1]));
    let me = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    assert_eq!(mask(&me), format!("Cpus_allowed_list:\t{}", cpus[0]));
    drop(rt);
    // Worker 0's thread gets its old mask back.
    let after = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    assert_eq!(mask(&after), mask(&before));
}

fn per_core_listeners_accept_on_every_worker(d: Driver) {
    let rt = workers(d, 2);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // Clients: 64 connections from a plain thread, each sending one byte.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let clients = std::thread::spawn(move || {
        ready_rx.recv().unwrap();
        ready_rx.recv().unwrap();
        for _ in 0..64 {
            use std::io::Write;
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"x").unwrap();
        }
    });
    let ready_tx = Arc::new(std::sync::Mutex::new(ready_tx));
    let accepted = Arc::new(AtomicUsize::new(0));
    let per_worker = rt.run_on_each(move |_worker| {
        let ready_tx = ready_tx.clone();
        let accepted = accepted.clone();
        async move {
            use ringio::io::AsyncReadOwned;
            let opts = ringio::net::BindOptions::new().reuse_port(true);
            let listener = ringio::net::TcpListener::bind_with(addr, &opts).unwrap();
            ready_tx.lock().unwrap().send(()).unwrap();
            let mut mine = 0;
            while accepted.load(Ordering::SeqCst) < 64 {
                let accept =
                    ringio::time::timeout(Duration::from_millis(50), listener.accept()).await;
                if let Ok(Ok((conn, _))) = accept {
                    let (n, _) = conn.read(vec![0u8; 1]).await;
                    assert_eq!(n.unwrap(), 1);
                    accepted.fetch_add(1, Ordering::SeqCst);
                    mine += 1;
                }
            }
            mine
        }
    });
    clients.join().unwrap();
    assert_eq!(per_worker.iter().sum::<usize>(), 64);
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "SO_REUSEPORT spread: {per_worker:?}"
    );
}

/// Two workers that wake each other by MSG_RING (on io_uring) or by eventfd.
fn two_workers(d: Driver, msg_ring: bool) -> ringio::Runtime {
    Builder::new()
        .driver(d)
        .workers(2)
        .msg_ring(msg_ring)
        .build()
        .unwrap()
}

fn msg_ring_and_eventfd_wakes_both_work(d: Driver) {
    for msg_ring in [true, false] {
        let rt = two_workers(d, msg_ring);
        if d == Driver::Uring {
            assert_eq!(rt.driver_info().flags().contains(&"MSG_RING"), msg_ring);
        }
        rt.block_on(async {
            // Ping-pong between a task on worker 0 and one on worker 1 through two
            // channels: every hop is a cross-worker wake of a parked worker.
            let (to_far, mut far_rx) = mpsc::channel::<u32>(1);
            let (to_near, mut near_rx) = mpsc::channel::<u32>(1);
            let far = ringio::spawn_on(1, async move {
                while let Some(v) = far_rx.recv().await {
                    to_near.send(v + 1).await.unwrap();
                }
            });
            let mut v = 0;
            for _ in 0..2000 {
                to_far.send(v).await.unwrap();
                v = near_rx.recv().await.unwrap();
            }
            assert_eq!(v, 2000);
            drop(to_far);
            far.await.unwrap();
        });
    }
}

/// A cross-core wake leaves at the end of the poll that made it, not at the end of the
/// waking worker's batch: on worker 1, task A wakes worker 0's main future, then task
/// B (already queued) spins until worker 0 has run. If the wake waited for worker 1's
/// next park, B's poll would never end (a MSG_RING is submitted with the next
/// io_uring_enter), and the test fails at its 10 s bound instead of hanging.
fn cross_core_wake_leaves_before_the_next_task_runs(d: Driver) {
    for msg_ring in [true, false] {
        two_workers(d, msg_ring).block_on(async {
            let (tx, mut rx) = mpsc::channel::<()>(1);
            let seen = Arc::new(AtomicBool::new(false));
            let seen_far = seen.clone();
            let far = Handle::current()
                .spawn_local_on(1, move || async move {
                    let spinner = ringio::spawn(async move {
                        let deadline = std::time::Instant::now() + Duration::from_secs(10);
                        while !seen_far.load(Ordering::Acquire) {
                            assert!(
                                std::time::Instant::now() < deadline,
                                "the wake did not leave worker 1 during the next poll"
                            );
                            std::hint::spin_loop();
                        }
                    });
                    // The spinner is queued; this send wakes worker 0, then this
                    // poll ends and the spinner's begins.
                    tx.try_send(()).unwrap();
                    spinner.await.unwrap();
                })
                .unwrap();
            rx.recv().await.unwrap();
            seen.store(true, Ordering::Release);
            far.await.unwrap();
        });
    }
}

/// ASYNCIO.md §2.11 check 4: 100k callbacks from 4 threads each run exactly once, in
/// per-thread FIFO order.
fn call_soon_threadsafe_100k_from_4_threads(d: Driver) {
    let rt = workers(d, 2);
    let handle = rt.handle();
    let seen = Arc::new(std::sync::Mutex::new(vec![Vec::new(); 4]));
    let threads: Vec<_> = (0..4usize)
        .map(|t| {
            let (handle, seen) = (handle.clone(), seen.clone());
            std::thread::spawn(move || {
                for i in 0..25_000u32 {
                    let seen = seen.clone();
                    handle
                        .call_soon_threadsafe(1, move || {
                            assert_eq!(Handle::current_worker(), Some(1));
                            seen.lock().unwrap()[t].push(i);
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // A last callback behind all of them (FIFO), to know they all ran.
    let (tx, rx) = std::sync::mpsc::channel();
    handle
        .call_soon_threadsafe(1, move || tx.send(()).unwrap())
        .unwrap();
    rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let seen = seen.lock().unwrap();
    for per_thread in seen.iter() {
        assert_eq!(*per_thread, (0..25_000).collect::<Vec<_>>());
    }
    drop(rt);
}

/// A wake queued for another worker just before `block_on` returns must still go out
/// (MSG_RING rides on the sender's next submit, and there may be no next turn).
// The handle is returned un-awaited on purpose: the spawn's wake must outlive the loop.
#[allow(clippy::async_yields_async)]
fn wake_sent_as_block_on_returns_is_not_lost(d: Driver) {
    let rt = workers(d, 2);
    for _ in 0..20 {
        let h = rt.block_on(async { ringio::spawn_on(1, async { 42 }) });
        let got = h
            .join_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("the wake was lost"));
        assert_eq!(got.unwrap(), 42);
    }
}

/// Dropping a multi-worker runtime from inside another runtime's task must not wait
/// forever for a wake that would only be submitted by the blocked thread itself.
fn runtime_dropped_inside_a_task_shuts_down(d: Driver) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let outer = support::rt(d);
        outer.block_on(async move {
            let inner = workers(d, 2);
            drop(inner);
        });
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the inner runtime's drop hung");
}

both_drivers!(
    cross_core_wake_leaves_before_the_next_task_runs,
    wake_sent_as_block_on_returns_is_not_lost,
    runtime_dropped_inside_a_task_shuts_down,
    call_soon_threadsafe_100k_from_4_threads,
    spawn_on_runs_on_the_chosen_worker,
    handle_from_plain_threads,
    remote_handle_abort_and_panic,
    wakes_from_plain_threads_reach_sleeping_workers,
    handle_after_shutdown_errors_instead_of_hanging,
    blocking_pool_runs_closures_off_the_loop,
    blocking_pool_is_bounded,
    paused_clock_waits_for_blocking_work,
    shutdown_timeout_warns_instead_of_hanging,
    channel_100k_from_4_threads_exactly_once_fifo,
    channel_async_senders_across_workers_and_close,
    channel_dropped_waiting_sender_passes_room_on,
    workers_are_pinned_to_distinct_cpus,
    per_core_listeners_accept_on_every_worker,
    msg_ring_and_eventfd_wakes_both_work,
);
