//! `ringio::signal` (ASYNCIO.md §7.2) on both drivers: deliveries as stream items, each
//! subscriber seeing each delivery once, from whichever thread the kernel picks.
//!
//! Signals are process-wide, so every test here holds `serial()`: a delivery raised by
//! one test would otherwise be seen by another's subscribers.

mod support;

use ringio::runtime::Driver;
use ringio::signal::{ctrl_c, signal, Signal, SignalKind};
use ringio::time::timeout;
use std::io;
use std::time::Duration;
use support::{fd_count, paused, poll_once, rt, serial, workers};

fn raise(kind: SignalKind) {
    // SAFETY: raise with a valid signal number.
    assert_eq!(unsafe { libc::raise(kind.as_raw()) }, 0);
}

/// Whether `signal` has its default disposition in this process.
fn is_default(signal: i32) -> bool {
    // SAFETY: reads the current action into a zeroed, live struct.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above; a null new action only queries.
    assert_eq!(
        unsafe { libc::sigaction(signal, std::ptr::null(), &mut action) },
        0
    );
    action.sa_sigaction == libc::SIG_DFL
}

/// Items ready now, without waiting: on the paused clock a zero-length wait for one
/// more runs once every task is idle, so any delivery already counted shows.
async fn ready_items(s: &mut Signal) -> usize {
    let mut n = 0;
    while timeout(Duration::from_millis(1), s.recv()).await.is_ok() {
        n += 1;
        assert!(n < 1000, "a stream that never runs dry");
    }
    n
}

/// ASYNCIO §7.2 Check 1: `raise(SIGUSR1)` yields exactly one item on the worker.
fn raise_yields_exactly_one_item(driver: Driver) {
    let _serial = serial();
    paused(driver).block_on(async {
        let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
        assert_eq!(usr1.kind(), SignalKind::user_defined1());
        assert_eq!(ready_items(&mut usr1).await, 0, "nothing before the raise");
        raise(SignalKind::user_defined1());
        assert_eq!(usr1.recv().await, Some(()));
        assert_eq!(ready_items(&mut usr1).await, 0, "exactly one item");
    });
}

/// ASYNCIO §7.2 Check 2: SIGKILL and SIGSTOP cannot be subscribed to; neither can the
/// synchronous faults nor numbers that are not signals.
fn uncatchable_and_invalid_signals_are_refused(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        for n in [
            libc::SIGKILL,
            libc::SIGSTOP,
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGILL,
            libc::SIGFPE,
            0,
            -1,
            65,
            1000,
        ] {
            let err = signal(SignalKind::from_raw(n)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "signal {n}: {err}");
        }
        assert!(is_default(libc::SIGSTOP) && is_default(libc::SIGUSR1));
    });
}

/// Every subscriber sees every delivery once: two on one worker, one made after the
/// first delivery (which it must not see).
fn each_subscriber_sees_each_delivery_once(driver: Driver) {
    let _serial = serial();
    paused(driver).block_on(async {
        let mut a = signal(SignalKind::user_defined2()).unwrap();
        let mut b = signal(SignalKind::user_defined2()).unwrap();
        raise(SignalKind::user_defined2());
        let mut late = signal(SignalKind::user_defined2()).unwrap();
        raise(SignalKind::user_defined2());
        raise(SignalKind::user_defined2());
        assert_eq!(ready_items(&mut a).await, 3);
        assert_eq!(ready_items(&mut b).await, 3);
        assert_eq!(ready_items(&mut late).await, 2);
    });
}

/// A delivery that arrives while nobody waits is kept, and dropping `recv` futures in
/// flight loses nothing and leaks no fd.
fn deliveries_survive_dropped_receives(driver: Driver) {
    let _serial = serial();
    let fds = fd_count();
    paused(driver).block_on(async {
        let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
        for round in 0..200 {
            {
                // Armed (an eventfd read in flight), then dropped.
                let mut recv = Box::pin(usr1.recv());
                assert!(poll_once(&mut recv).is_none(), "round {round}");
            }
            ringio::task::yield_now().await;
            if round % 10 == 0 {
                raise(SignalKind::user_defined1());
                assert_eq!(usr1.recv().await, Some(()), "round {round}");
            }
        }
        assert_eq!(ready_items(&mut usr1).await, 0);
    });
    assert_eq!(fd_count(), fds, "an fd leaked");
}

/// A signal sent to a thread ringio does not own, with the signal unblocked there,
/// runs the handler in that thread and reaches the worker's subscriber (a signalfd
/// design loses it or dies of it); so does one sent while the worker is parked.
fn delivery_to_a_foreign_thread_reaches_the_worker(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let mut term = signal(SignalKind::terminate()).unwrap();
        let thread = std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            // SAFETY: signals this live thread with a valid signal number.
            unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGTERM) };
        });
        let got = timeout(Duration::from_secs(10), term.recv()).await;
        assert_eq!(
            got,
            Ok(Some(())),
            "SIGTERM to a foreign thread was not seen"
        );
        thread.join().unwrap();
    });
    assert!(is_default(libc::SIGTERM), "SIGTERM's disposition restored");
}

/// Subscribers on other workers see a delivery too; the wake crosses threads.
fn subscribers_on_every_worker_see_it(driver: Driver) {
    let _serial = serial();
    let rt = workers(driver, 2);
    rt.block_on(async {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let remote = ringio::runtime::Handle::current()
            .spawn_local_on(1, move || async move {
                let mut hup = signal(SignalKind::hangup()).unwrap();
                ready_tx.send(()).unwrap();
                timeout(Duration::from_secs(10), hup.recv()).await
            })
            .unwrap();
        let mut hup = signal(SignalKind::hangup()).unwrap();
        ringio::task::to_thread(move || ready_rx.recv().unwrap())
            .await
            .unwrap();
        raise(SignalKind::hangup());
        assert_eq!(hup.recv().await, Some(()));
        assert_eq!(remote.await.unwrap(), Ok(Some(())));
    });
}

/// The first subscriber installs the handler; the last one restores the previous
/// disposition, so an unwatched SIGINT kills again.
fn last_subscriber_restores_the_disposition(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        assert!(is_default(libc::SIGINT));
        let a = ctrl_c().unwrap();
        assert_eq!(a.kind(), SignalKind::interrupt());
        assert!(!is_default(libc::SIGINT));
        let b = ctrl_c().unwrap();
        drop(a);
        assert!(!is_default(libc::SIGINT), "b still listens");
        drop(b);
        assert!(is_default(libc::SIGINT));
    });
}

/// A `Signal` is a `Stream`.
fn signal_is_a_stream(driver: Driver) {
    let _serial = serial();
    paused(driver).block_on(async {
        let mut s = signal(SignalKind::window_change()).unwrap();
        raise(SignalKind::window_change());
        let next = std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(std::pin::Pin::new(&mut s), cx)
        })
        .await;
        assert_eq!(next, Some(()));
        assert_eq!(SignalKind::window_change().to_string(), "SIGWINCH");
    });
}

both_drivers!(
    raise_yields_exactly_one_item,
    uncatchable_and_invalid_signals_are_refused,
    each_subscriber_sees_each_delivery_once,
    deliveries_survive_dropped_receives,
    delivery_to_a_foreign_thread_reaches_the_worker,
    subscribers_on_every_worker_see_it,
    last_subscriber_restores_the_disposition,
    signal_is_a_stream,
);
