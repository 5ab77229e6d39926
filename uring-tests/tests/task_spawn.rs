//! Tasks: spawn, JoinHandle, abort, JoinError, yield_now, current, cross-thread wakes.

mod support;

use ringio::runtime::Driver;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use support::{paused, rt};

fn spawn_accepts_non_send_futures(d: Driver) {
    rt(d).block_on(async {
        let shared = Rc::new(RefCell::new(Vec::new()));
        let s = shared.clone();
        ringio::spawn(async move { s.borrow_mut().push(1) })
            .await
            .unwrap();
        assert_eq!(*shared.borrow(), vec![1]);
    });
}

fn dropped_handle_task_still_finishes(d: Driver) {
    paused(d).block_on(async {
        let done = Rc::new(Cell::new(false));
        let f = done.clone();
        drop(ringio::spawn(async move {
            ringio::time::sleep(Duration::from_millis(5)).await;
            f.set(true);
        }));
        ringio::time::sleep(Duration::from_millis(10)).await;
        assert!(done.get());
    });
}

fn abort_finished_returns_false_and_keeps_output(d: Driver) {
    rt(d).block_on(async {
        let h = ringio::spawn(async { 7 });
        ringio::yield_now().await;
        assert!(h.is_finished());
        assert!(!h.abort());
        assert_eq!(h.await.unwrap(), 7);
    });
}

fn abort_during_sleep_cancels_within_a_turn(d: Driver) {
    struct Local(Rc<Cell<bool>>);
    impl Drop for Local {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    paused(d).block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let l = Local(dropped.clone());
        let h = ringio::spawn(async move {
            let _l = l;
            ringio::time::sleep(Duration::from_secs(3600)).await;
        });
        ringio::yield_now().await; // let it start sleeping
        let t0 = ringio::time::Instant::now();
        assert!(h.abort());
        assert!(
            !h.is_finished(),
            "the future is dropped at the next turn, not inside abort()"
        );
        let err = h.await.unwrap_err();
        assert!(err.is_cancelled() && !err.is_panic());
        assert!(dropped.get(), "the task's locals were dropped");
        assert_eq!(ringio::time::Instant::now(), t0, "no time passed");
        assert_eq!(ringio::runtime::metrics().timers, 0);
    });
}

fn aborted_before_first_poll_never_runs(d: Driver) {
    rt(d).block_on(async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let h = ringio::spawn(async move { r.set(true) });
        assert!(h.abort());
        assert!(h.await.unwrap_err().is_cancelled());
        assert!(!ran.get());
    });
}

fn panic_is_a_join_error_and_worker_survives(d: Driver) {
    rt(d).block_on(async {
        let err = ringio::spawn(async { panic!("boom {}", 7) })
            .await
            .unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().ends_with("panicked: boom 7"), "{err}");
        let payload = err.into_panic();
        // A literal argument is folded into the format string, so the payload may be
        // a `&'static str` or a `String`.
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned());
        assert_eq!(msg.as_deref(), Some("boom 7"));
        // A detached panicking task does not take the worker down either.
        drop(ringio::spawn(async { panic!("detached") }));
        ringio::yield_now().await;
        assert_eq!(ringio::spawn(async { 1 }).await.unwrap(), 1);
    });
}

fn join_handle_ids_and_try_join(d: Driver) {
    rt(d).block_on(async {
        let mut a = ringio::spawn(async { "a" });
        let b = ringio::spawn(async { "b" });
        assert_ne!(a.id(), b.id());
        assert!(a.try_join().is_none());
        ringio::yield_now().await;
        assert_eq!(a.try_join().unwrap().unwrap(), "a");
        assert_eq!(b.await.unwrap(), "b");
    });
}

fn yield_now_lets_other_tasks_run_first(d: Driver) {
    rt(d).block_on(async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let (o1, o2) = (order.clone(), order.clone());
        let a = ringio::spawn(async move {
            o1.borrow_mut().push("a1");
            ringio::yield_now().await;
            o1.borrow_mut().push("a2");
        });
        let b = ringio::spawn(async move {
            o2.borrow_mut().push("b1");
        });
        a.await.unwrap();
        b.await.unwrap();
        assert_eq!(*order.borrow(), ["a1", "b1", "a2"]);
    });
}

fn current_task_id_name_location(d: Driver) {
    rt(d).block_on(async {
        let main = ringio::task::current().expect("block_on's future is a task");
        assert_eq!(main.name(), Some("main"));
        let line = line!() + 1;
        let h = ringio::task::spawn_named("worker", async {
            let me = ringio::task::current().unwrap();
            (
                me.id(),
                me.name().map(str::to_owned),
                me.location().file().to_owned(),
                me.location().line(),
            )
        });
        let id = h.id();
        let (got_id, name, file, got_line) = h.await.unwrap();
        assert_eq!(got_id, id);
        assert_eq!(name.as_deref(), Some("worker"));
        assert!(file.ends_with("task_spawn.rs"), "{file}");
        assert_eq!(got_line, line);
        let unnamed = ringio::spawn(async { ringio::task::current().unwrap().name().is_none() });
        assert!(unnamed.await.unwrap());
    });
    assert!(ringio::task::current().is_none());
}

/// A one-shot flag that a plain OS thread sets and wakes.
struct Remote {
    done: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

struct RemoteWait(Arc<Remote>);

impl Future for RemoteWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.wakers.lock().unwrap().push(cx.waker().clone());
        if self.0.done.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn wake_from_another_thread_reaches_sleeping_worker(d: Driver) {
    rt(d).block_on(async {
        for round in 0..50 {
            let remote = Arc::new(Remote {
                done: AtomicBool::new(false),
                wakers: Mutex::new(Vec::new()),
            });
            let r = remote.clone();
            // The wait runs in a spawned task (inbox path) on even rounds and as the
            // main future on odd ones.
            let waiter = ringio::spawn(RemoteWait(remote.clone()));
            ringio::yield_now().await;
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(1));
                r.done.store(true, Ordering::Release);
                for w in r.wakers.lock().unwrap().drain(..) {
                    w.wake();
                }
            });
            if round % 2 == 0 {
                // The worker parks in the kernel with no timer: only the wake frees it.
                waiter.await.unwrap();
            } else {
                RemoteWait(remote).await;
                waiter.await.unwrap();
            }
            t.join().unwrap();
        }
    });
}

fn wakers_are_send_and_sync(_d: Driver) {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    rt(_d).block_on(async {
        std::future::poll_fn(|cx| {
            assert_send_sync(cx.waker());
            Poll::Ready(())
        })
        .await
    });
}

fn many_tasks_spawn_and_join(d: Driver) {
    rt(d).block_on(async {
        let handles: Vec<_> = (0..10_000u64)
            .map(|i| ringio::spawn(async move { i * 2 }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        assert_eq!(sum, 10_000 * 9_999);
        assert_eq!(ringio::runtime::metrics().alive_tasks, 0);
    });
}

both_drivers!(
    spawn_accepts_non_send_futures,
    dropped_handle_task_still_finishes,
    abort_finished_returns_false_and_keeps_output,
    abort_during_sleep_cancels_within_a_turn,
    aborted_before_first_poll_never_runs,
    panic_is_a_join_error_and_worker_survives,
    join_handle_ids_and_try_join,
    yield_now_lets_other_tasks_run_first,
    current_task_id_name_location,
    wake_from_another_thread_reaches_sleeping_worker,
    wakers_are_send_and_sync,
    many_tasks_spawn_and_join,
);
