//! Entry points: run, Builder, Runtime::block_on, driver_info, nested runs, shutdown.

mod support;

use ringio::runtime::{Builder, Driver};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use support::{paused, rt};

fn block_on_returns_value(d: Driver) {
    assert_eq!(rt(d).block_on(async { 42 }), 42);
}

fn block_on_is_reusable_and_tasks_persist(d: Driver) {
    let rt = paused(d);
    let ticks = Rc::new(Cell::new(0u32));
    let t = ticks.clone();
    rt.block_on(async move {
        drop(ringio::spawn(async move {
            loop {
                ringio::time::sleep(Duration::from_millis(10)).await;
                t.set(t.get() + 1);
            }
        }));
    });
    // The task spawned in call 1 makes progress during call 2.
    rt.block_on(ringio::time::sleep(Duration::from_millis(55)));
    assert_eq!(ticks.get(), 5);
    rt.block_on(ringio::time::sleep(Duration::from_millis(50)));
    assert_eq!(ticks.get(), 10);
}

fn driver_info_names_backend_and_flags(d: Driver) {
    let rt = rt(d);
    let info = rt.driver_info();
    assert_eq!(info.driver(), d);
    let text = info.to_string();
    match d {
        Driver::Uring => {
            assert!(text.starts_with("io_uring"), "{text}");
            assert!(info.entries() >= 256);
            assert!(info.flags().contains(&"NODROP"), "{text}");
            // Kernel 6.x takes the whole ladder's first step.
            assert!(info.flags().contains(&"SINGLE_ISSUER"), "{text}");
            assert!(info.fallback_reason().is_none());
        }
        _ => {
            assert!(text.starts_with("epoll"), "{text}");
            assert!(info.flags().is_empty());
        }
    }
}

fn entries_are_configurable(d: Driver) {
    let rt = Builder::new().driver(d).entries(1000).build().unwrap();
    if d == Driver::Uring {
        assert_eq!(rt.driver_info().entries(), 1024);
    }
    // A tiny queue still runs many ops at once: a full submission queue is submitted,
    // not dropped, and completions beyond the completion queue's 16 slots overflow
    // into the kernel and are flushed, not lost.
    let rt = Builder::new().driver(d).entries(4).build().unwrap();
    rt.block_on(async {
        let handles: Vec<_> = (0..200)
            .map(|_| ringio::spawn(ringio::runtime::nop()))
            .collect();
        for h in handles {
            h.await.unwrap().unwrap();
        }
        let m = ringio::runtime::metrics();
        if d == Driver::Uring {
            assert!(m.sq_full_events > 0, "{m:?}");
            assert!(m.cq_overflows > 0, "{m:?}");
        }
        assert_eq!(m.ops_in_flight, 0);
    });
}

fn nested_run_panics_and_outer_survives(d: Driver) {
    let rt = rt(d);
    rt.block_on(async {
        let err = ringio::spawn(async { ringio::run(async { 1 }) })
            .await
            .unwrap_err();
        assert!(err.is_panic());
        let msg = err.to_string();
        assert!(msg.contains("inside a running ringio runtime"), "{msg}");
        let inner = Builder::new().driver(d).build().unwrap();
        let err = ringio::spawn(async move { inner.block_on(async { 2 }) })
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("from inside a running ringio runtime"),
            "{err}"
        );
        // The outer runtime still works.
        assert_eq!(ringio::spawn(async { 3 }).await.unwrap(), 3);
    });
}

fn detached_tasks_are_dropped_at_shutdown(d: Driver) {
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = Rc::new(Cell::new(false));
    let f = Flag(dropped.clone());
    let rt = paused(d);
    rt.block_on(async move {
        drop(ringio::spawn(async move {
            let _f = f;
            ringio::time::sleep(Duration::from_secs(3600)).await;
        }));
        ringio::yield_now().await;
    });
    assert!(!dropped.get());
    drop(rt);
    assert!(dropped.get(), "a detached task outlived its runtime");
}

fn runtime_spawn_before_block_on(d: Driver) {
    let rt = rt(d);
    let h = rt.spawn(async { ringio::task::current().unwrap().id() });
    let id = h.id();
    assert_eq!(rt.block_on(h).unwrap(), id);
}

fn alive_tasks_counts(d: Driver) {
    let rt = paused(d);
    let h = rt.spawn(ringio::time::sleep(Duration::from_secs(1)));
    assert_eq!(rt.alive_tasks(), 1);
    rt.block_on(h).unwrap();
    assert_eq!(rt.alive_tasks(), 0);
}

fn spawn_outside_runtime_panics_clearly(_d: Driver) {
    let err = std::panic::catch_unwind(|| drop(ringio::spawn(async {}))).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("within a ringio runtime"), "{msg}");
}

/// A task whose operations always complete at once (on epoll: a socket that always has
/// data) still lets other tasks run.
fn busy_task_yields_to_others(d: Driver) {
    use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
    rt(d).block_on(async {
        let l = ringio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = ringio::net::TcpStream::connect(l.local_addr().unwrap())
            .await
            .unwrap();
        let (s, _) = l.accept().await.unwrap();
        c.write_all(vec![7u8; 100_000]).await.0.unwrap();
        let ticks = Rc::new(Cell::new(0u32));
        let t = ticks.clone();
        let ticker = ringio::spawn(async move {
            loop {
                t.set(t.get() + 1);
                ringio::yield_now().await;
            }
        });
        // 10,000 one-byte reads, each of which finds data waiting.
        for _ in 0..10_000 {
            let (n, _) = s.read(Vec::with_capacity(1)).await;
            assert_eq!(n.unwrap(), 1);
        }
        ticker.abort();
        assert!(
            ticks.get() >= 10,
            "the other task ran only {} times",
            ticks.get()
        );
    });
}

both_drivers!(
    busy_task_yields_to_others,
    block_on_returns_value,
    block_on_is_reusable_and_tasks_persist,
    driver_info_names_backend_and_flags,
    entries_are_configurable,
    nested_run_panics_and_outer_survives,
    detached_tasks_are_dropped_at_shutdown,
    runtime_spawn_before_block_on,
    alive_tasks_counts,
    spawn_outside_runtime_panics_clearly,
);

/// `ringio::run` itself (default driver from the environment).
#[test]
fn run_returns_value() {
    assert_eq!(ringio::run(async { 42 }), 42);
}
