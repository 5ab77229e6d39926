//! Time under the paused clock: sleep, sleep_until, interval, timeout, the wheel.

mod support;

use ringio::runtime::{metrics, Driver};
use ringio::time::{
    interval, sleep, sleep_until, timeout, timeout_at, Instant, MissedTickBehavior,
};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;
use support::{paused, rt};

fn sleep_ends_at_deadline_never_earlier(d: Driver) {
    paused(d).block_on(async {
        let wall = std::time::Instant::now();
        let t0 = Instant::now();
        sleep(Duration::from_secs(5)).await;
        let slept = t0.elapsed();
        assert!(slept >= Duration::from_secs(5), "woke early: {slept:?}");
        assert!(
            slept < Duration::from_secs(5) + Duration::from_millis(2),
            "woke late: {slept:?}"
        );
        assert!(
            wall.elapsed() < Duration::from_secs(2),
            "the paused clock should jump"
        );
        // Sub-millisecond deadlines are never early either.
        for micros in [1u64, 999, 1001, 1500, 2_000_001] {
            let t = Instant::now();
            sleep(Duration::from_micros(micros)).await;
            assert!(t.elapsed() >= Duration::from_micros(micros));
        }
    });
}

fn sleep_until_and_deadline(d: Driver) {
    paused(d).block_on(async {
        let at = Instant::now() + Duration::from_millis(1234);
        let s = sleep_until(at);
        assert_eq!(s.deadline(), at);
        assert!(!s.is_elapsed());
        s.await;
        assert!(Instant::now() >= at);
        // A deadline in the past completes at once.
        sleep_until(at - Duration::from_secs(1)).await;
    });
}

fn dropping_a_pending_sleep_empties_the_wheel(d: Driver) {
    paused(d).block_on(async {
        {
            let mut s = pin!(sleep(Duration::from_secs(3600)));
            std::future::poll_fn(|cx| {
                assert!(s.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            assert_eq!(metrics().timers, 1);
        }
        assert_eq!(metrics().timers, 0);
        // Also for a sleep inside an aborted task.
        let h = ringio::spawn(sleep(Duration::from_secs(3600)));
        ringio::yield_now().await;
        assert_eq!(metrics().timers, 1);
        h.abort();
        let _ = h.await;
        assert_eq!(metrics().timers, 0);
    });
}

fn ten_thousand_sleeps_with_one_deadline(d: Driver) {
    paused(d).block_on(async {
        let at = Instant::now() + Duration::from_millis(500);
        let done = Rc::new(Cell::new(0u32));
        let handles: Vec<_> = (0..10_000)
            .map(|_| {
                let done = done.clone();
                ringio::spawn(async move {
                    sleep_until(at).await;
                    done.set(done.get() + 1);
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(done.get(), 10_000);
        assert!(Instant::now() >= at);
        assert_eq!(metrics().timers, 0);
    });
}

fn sleeps_fire_in_deadline_order(d: Driver) {
    paused(d).block_on(async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut handles = Vec::new();
        for ms in [300u64, 10, 5000, 70, 1, 64 * 64 + 3, 64 * 64 * 64 * 2] {
            let order = order.clone();
            handles.push(ringio::spawn(async move {
                sleep(Duration::from_millis(ms)).await;
                order.borrow_mut().push(ms);
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(
            *order.borrow(),
            vec![1, 10, 70, 300, 64 * 64 + 3, 5000, 64 * 64 * 64 * 2]
        );
    });
}

fn zero_sleep_yields(d: Driver) {
    rt(d).block_on(async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let _h = ringio::spawn(async move { r.set(true) });
        sleep(Duration::ZERO).await;
        assert!(ran.get(), "sleep(0) let the other task run");
    });
}

fn timeout_expires_and_drops_inner(d: Driver) {
    struct Dropped(Rc<Cell<bool>>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    paused(d).block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let guard = Dropped(dropped.clone());
        let t0 = Instant::now();
        let res = timeout(Duration::from_secs(1), async move {
            let _g = guard;
            sleep(Duration::from_secs(2)).await;
        })
        .await;
        assert!(res.is_err());
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
        assert!(dropped.get());
        assert_eq!(metrics().timers, 0);
    });
}

fn timeout_passes_through_ready_value(d: Driver) {
    paused(d).block_on(async {
        assert_eq!(timeout(Duration::ZERO, async { 5 }).await, Ok(5));
        let t0 = Instant::now();
        let v = timeout(Duration::from_secs(1), async {
            sleep(Duration::from_millis(900)).await;
            9
        })
        .await;
        assert_eq!(v, Ok(9));
        assert_eq!(t0.elapsed(), Duration::from_millis(900));
        let at = Instant::now() + Duration::from_secs(1);
        assert!(timeout_at(at, sleep(Duration::from_secs(2))).await.is_err());
        assert_eq!(Instant::now(), at);
        // Nested: the outer, earlier deadline wins.
        let t0 = Instant::now();
        let outer = timeout(
            Duration::from_secs(1),
            timeout(Duration::from_secs(2), sleep(Duration::from_secs(3))),
        )
        .await;
        assert!(outer.is_err());
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
        assert_eq!(metrics().timers, 0);
    });
}

fn interval_ticks_on_period(d: Driver) {
    paused(d).block_on(async {
        let start = Instant::now();
        let mut iv = interval(Duration::from_millis(100));
        assert_eq!(iv.tick().await, start, "the first tick is immediate");
        for k in 1..=5u32 {
            let t = iv.tick().await;
            assert_eq!(t, start + Duration::from_millis(100) * k);
            assert_eq!(Instant::now(), t);
        }
        // Missed ticks burst by default...
        sleep(Duration::from_millis(350)).await;
        let now = Instant::now();
        assert_eq!(iv.tick().await, start + Duration::from_millis(600));
        assert_eq!(iv.tick().await, start + Duration::from_millis(700));
        assert_eq!(Instant::now(), now, "burst ticks come at once");
        // ...or are skipped.
        iv.set_missed_tick_behavior(MissedTickBehavior::Skip);
        assert_eq!(iv.tick().await, start + Duration::from_millis(800));
        assert_eq!(Instant::now(), now);
        assert_eq!(iv.tick().await, start + Duration::from_millis(900));
        assert_eq!(Instant::now(), start + Duration::from_millis(900));
    });
}

fn real_clock_sleep_is_not_early(d: Driver) {
    rt(d).block_on(async {
        let t = std::time::Instant::now();
        sleep(Duration::from_millis(20)).await;
        assert!(t.elapsed() >= Duration::from_millis(20));
    });
}

both_drivers!(
    sleep_ends_at_deadline_never_earlier,
    sleep_until_and_deadline,
    dropping_a_pending_sleep_empties_the_wheel,
    ten_thousand_sleeps_with_one_deadline,
    sleeps_fire_in_deadline_order,
    zero_sleep_yields,
    timeout_expires_and_drops_inner,
    timeout_passes_through_ready_value,
    interval_ticks_on_period,
    real_clock_sleep_is_not_early,
);
