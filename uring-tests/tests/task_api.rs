//! asyncio's task API (ASYNCIO.md §1, §2, §7.1, §7.4): each "Checks" item, on the
//! paused clock, on both drivers.

mod support;

use ringio::runtime::{Builder, DebugEvent, Driver, PanicKind, TaskState};
use ringio::task::{
    self, as_completed, gather, gather_settled, task_group, wait, GroupClosed, ReturnWhen,
};
use ringio::time::{sleep, timeout, Instant, Timeout};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{paused, rt};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// Sets a flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

// §2.2 eager tasks

fn eager_body_that_never_suspends_is_done_at_once(d: Driver) {
    rt(d).block_on(async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let h = task::spawn_eager(async move { r.set(true) });
        assert!(
            ran.get() && h.is_finished(),
            "finished before the spawner's next await"
        );
        h.await.unwrap();
        // One that suspends is queued and finishes later.
        let h = task::spawn_eager(async {
            ringio::yield_now().await;
            2
        });
        assert!(!h.is_finished());
        assert_eq!(h.await.unwrap(), 2);
    });
}

fn eager_inline_poll_sees_itself_as_current(d: Driver) {
    rt(d).block_on(async {
        let main = task::current().unwrap().id();
        let seen = Rc::new(Cell::new(None));
        let s = seen.clone();
        let h = task::spawn_eager(async move { s.set(Some(task::current().unwrap().id())) });
        assert_eq!(seen.get(), Some(h.id()));
        assert_eq!(
            task::current().unwrap().id(),
            main,
            "the spawner is current again"
        );
    });
}

// §2.4 gather

fn gather_keeps_input_order(d: Driver) {
    paused(d).block_on(async {
        let hs = [3u64, 1, 2].map(|s| {
            ringio::spawn(async move {
                sleep(secs(s)).await;
                s
            })
        });
        assert_eq!(gather(hs.into()).await.unwrap(), [3, 1, 2]);
    });
}

fn gather_fails_fast_and_leaves_siblings_running(d: Driver) {
    paused(d).block_on(async {
        let t0 = Instant::now();
        let c_done = Rc::new(Cell::new(None));
        let c = c_done.clone();
        let a = ringio::spawn(async { sleep(ms(500)).await });
        let b = ringio::spawn(async {
            sleep(secs(1)).await;
            panic!("B fails");
        });
        let c = ringio::spawn(async move {
            sleep(secs(2)).await;
            c.set(Some(Instant::now()));
        });
        let err = gather(vec![a, b, c]).await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(t0.elapsed(), secs(1));
        sleep(secs(5)).await;
        assert_eq!(c_done.get(), Some(t0 + secs(2)), "C still completed at 2 s");
    });
}

fn dropping_gather_aborts_children(d: Driver) {
    paused(d).block_on(async {
        let dropped = Rc::new(Cell::new(0));
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let flag = DropFlag(Rc::new(Cell::new(false)));
                let counter = dropped.clone();
                ringio::spawn(async move {
                    let _f = flag;
                    let _count_on_drop = CountOnDrop(counter);
                    sleep(secs(3600)).await;
                })
            })
            .collect();
        assert!(timeout(secs(1), gather(hs)).await.is_err());
        ringio::yield_now().await;
        assert_eq!(dropped.get(), 3, "every child was aborted");
    });
}

struct CountOnDrop(Rc<Cell<u32>>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn gather_settled_marks_only_the_aborted_child(d: Driver) {
    paused(d).block_on(async {
        let a = ringio::spawn(async {
            sleep(secs(1)).await;
            1
        });
        let b = ringio::spawn(async {
            sleep(secs(2)).await;
            2
        });
        let c = ringio::spawn(async { 3 });
        b.abort();
        let out = gather_settled(vec![a, b, c]).await;
        assert_eq!(*out[0].as_ref().unwrap(), 1);
        assert!(out[1].as_ref().unwrap_err().is_cancelled());
        assert_eq!(*out[2].as_ref().unwrap(), 3);
    });
}

// §2.5 shield

fn shield_outlives_its_awaiter(d: Driver) {
    paused(d).block_on(async {
        let t0 = Instant::now();
        let inner_done = Rc::new(Cell::new(None));
        let done = inner_done.clone();
        let awaiter = ringio::spawn(async move {
            let inner = task::shield(async move {
                sleep(secs(2)).await;
                done.set(Some(Instant::now()));
            });
            inner.await.unwrap();
        });
        sleep(secs(1)).await;
        awaiter.abort();
        let err = awaiter.await.unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(
            t0.elapsed(),
            secs(1),
            "the awaiter's joiner sees Cancelled at 1 s"
        );
        sleep(secs(2)).await;
        assert_eq!(
            inner_done.get(),
            Some(t0 + secs(2)),
            "the inner task finished at 2 s"
        );
    });
}

// §2.6 timeout scopes

fn timeout_scope_rescheduled_from_inside(d: Driver) {
    paused(d).block_on(async {
        let t0 = Instant::now();
        let scope = Timeout::new(None);
        assert_eq!(scope.deadline(), None);
        let inner = scope.clone();
        let res = scope
            .run(async move {
                inner.reschedule(Some(Instant::now() + secs(1))).unwrap();
                sleep(secs(10)).await;
            })
            .await;
        assert!(res.is_err());
        assert_eq!(t0.elapsed(), secs(1));
        assert!(scope.expired());
        // After the scope, reschedule is an error.
        assert!(scope.reschedule(None).is_err());
    });
}

fn timeout_scope_body_finishing_in_time(d: Driver) {
    paused(d).block_on(async {
        let scope = Timeout::after(secs(1));
        let v = scope
            .run(async {
                sleep(ms(900)).await;
                "in time"
            })
            .await;
        assert_eq!(v, Ok("in time"));
        assert!(!scope.expired());
        assert!(
            scope.reschedule(Some(Instant::now())).is_err(),
            "reschedule after exit fails"
        );
        // Never entered: also an error.
        assert!(Timeout::new(None).reschedule(None).is_err());
    });
}

fn timeout_scopes_nest_and_the_earlier_wins(d: Driver) {
    paused(d).block_on(async {
        let t0 = Instant::now();
        let outer = Timeout::after(secs(1));
        let inner = Timeout::after(secs(2));
        let inner2 = inner.clone();
        let res = outer
            .run(async move { inner2.run(sleep(secs(3))).await })
            .await;
        assert!(res.is_err(), "the outer scope's Elapsed");
        assert!(outer.expired() && !inner.expired());
        assert_eq!(t0.elapsed(), secs(1));
        // Moving a deadline later keeps the body running.
        let scope = Timeout::after(secs(1));
        let s2 = scope.clone();
        let v = scope
            .run(async move {
                s2.reschedule(Some(Instant::now() + secs(5))).unwrap();
                sleep(secs(3)).await;
                7
            })
            .await;
        assert_eq!(v, Ok(7));
    });
}

// §2.7 wait_for

fn wait_for_times_out_and_the_task_is_finished(d: Driver) {
    paused(d).block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let flag = DropFlag(dropped.clone());
        let h = ringio::spawn(async move {
            let _f = flag;
            sleep(secs(3600)).await;
        });
        let t0 = Instant::now();
        assert!(h.wait_for(secs(1)).await.is_err());
        assert_eq!(t0.elapsed(), secs(1));
        assert!(dropped.get(), "the task has already finished");
        // A task that wins the race returns its value.
        let h = ringio::spawn(async {
            sleep(ms(10)).await;
            5
        });
        assert_eq!(h.wait_for(secs(1)).await.unwrap().unwrap(), 5);
    });
}

fn dropping_wait_for_aborts_the_task(d: Driver) {
    paused(d).block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let flag = DropFlag(dropped.clone());
        let h = ringio::spawn(async move {
            let _f = flag;
            sleep(secs(3600)).await;
        });
        // The outer timeout drops the wait_for future first.
        assert!(timeout(ms(100), h.wait_for(secs(10))).await.is_err());
        ringio::yield_now().await;
        assert!(dropped.get());
    });
}

// §2.8 wait / as_completed

fn wait_first_completed(d: Driver) {
    paused(d).block_on(async {
        let hs: Vec<_> = (1..=4u64)
            .map(|s| {
                ringio::spawn(async move {
                    sleep(secs(s)).await;
                    s
                })
            })
            .collect();
        let (done, pending) = wait(hs, ReturnWhen::FirstCompleted, None).await;
        assert_eq!((done.len(), pending.len()), (1, 3));
        let mut first = done.into_iter().next().unwrap();
        assert_eq!(first.try_join().unwrap().unwrap(), 1);
        // A timeout returns what is done so far and cancels nothing.
        let (done, pending) = wait(pending, ReturnWhen::AllCompleted, Some(ms(1500))).await;
        assert_eq!((done.len(), pending.len()), (1, 2));
        let (done, _) = wait(pending, ReturnWhen::AllCompleted, None).await;
        assert_eq!(done.len(), 2);
    });
}

fn wait_first_exception_ignores_cancellation(d: Driver) {
    paused(d).block_on(async {
        let aborted = ringio::spawn(sleep(secs(3600)));
        let slow = ringio::spawn(sleep(secs(2)));
        aborted.abort();
        let t0 = Instant::now();
        let (done, pending) = wait(vec![aborted, slow], ReturnWhen::FirstException, None).await;
        assert_eq!(
            (done.len(), pending.len()),
            (2, 0),
            "waited for all: no task raised"
        );
        assert_eq!(t0.elapsed(), secs(2));
        // A panic does trigger it.
        let boom = ringio::spawn(async {
            sleep(secs(1)).await;
            panic!("boom")
        });
        let slow = ringio::spawn(sleep(secs(10)));
        let (done, pending) = wait(vec![boom, slow], ReturnWhen::FirstException, None).await;
        assert_eq!((done.len(), pending.len()), (1, 1));
    });
}

fn as_completed_yields_in_completion_order(d: Driver) {
    paused(d).block_on(async {
        let hs = [3u64, 1, 2].map(|s| {
            ringio::spawn(async move {
                sleep(secs(s)).await;
                s
            })
        });
        let mut stream = as_completed(hs.into(), None);
        let mut order = Vec::new();
        while let Some(item) = stream.next().await {
            let (idx, res) = item.unwrap();
            order.push((idx, res.unwrap()));
        }
        assert_eq!(order, [(1, 1), (2, 2), (0, 3)]);
        // With a timeout: the results in time, then one Elapsed.
        let hs = [1u64, 5].map(|s| ringio::spawn(sleep(secs(s))));
        let mut stream = as_completed(hs.into(), Some(secs(2)));
        assert!(stream.next().await.unwrap().is_ok());
        assert!(stream.next().await.unwrap().is_err());
        assert!(stream.next().await.is_none());
    });
}

// §2.4 join! / try_join!: gather over unspawned futures, polled in place

fn join_runs_futures_concurrently_in_place(d: Driver) {
    paused(d)
        .block_on(async {
            ringio::spawn(async {
                let t0 = Instant::now();
                let polls = Cell::new(0u32);
                let local = String::from("borrowed");
                let (a, b, c, (), e) = ringio::join!(
                    async {
                        sleep(secs(3)).await;
                        local.len()
                    },
                    async {
                        sleep(secs(1)).await;
                        "b"
                    },
                    std::future::poll_fn(|_| {
                        polls.set(polls.get() + 1);
                        std::task::Poll::Ready('c')
                    }),
                    async {},
                    async { task::current().map(|t| t.id()) },
                );
                assert_eq!((a, b, c), (8, "b", 'c'));
                assert!(e.is_some());
                assert_eq!(
                    e,
                    task::current().map(|t| t.id()),
                    "polled by this task: no spawn"
                );
                assert_eq!(t0.elapsed(), secs(3), "concurrently");
                assert_eq!(polls.get(), 1, "a finished future is not polled again");
            })
            .await
        })
        .unwrap();
}

fn try_join_returns_the_first_error_and_drops_the_rest(d: Driver) {
    paused(d).block_on(async {
        let t0 = Instant::now();
        let dropped = Rc::new(Cell::new(false));
        let flag = DropFlag(dropped.clone());
        let res: Result<(u8, u8, u8), String> = ringio::try_join!(
            async move {
                let _f = flag;
                sleep(secs(60)).await;
                Ok(1)
            },
            async {
                sleep(secs(2)).await;
                Err("second".to_string())
            },
            async {
                sleep(secs(1)).await;
                Err("first".to_string())
            },
        );
        assert_eq!(res, Err("first".to_string()));
        assert_eq!(t0.elapsed(), secs(1));
        assert!(dropped.get(), "the unfinished sibling was dropped");

        let ok: Result<(u8, &str), String> = ringio::try_join!(async { Ok(1) }, async {
            sleep(secs(1)).await;
            Ok("two")
        });
        assert_eq!(ok, Ok((1, "two")));
    });
}

fn dropping_a_join_drops_every_future(d: Driver) {
    paused(d).block_on(async {
        let (a, b) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
        let (fa, fb) = (DropFlag(a.clone()), DropFlag(b.clone()));
        let res = timeout(secs(1), async move {
            ringio::join!(
                async move {
                    let _f = fa;
                    sleep(secs(10)).await;
                },
                async move {
                    let _f = fb;
                },
            )
        })
        .await;
        assert!(res.is_err());
        assert!(a.get() && b.get(), "finished or not, both dropped");
    });
}

// §2.9 TaskGroup

/// `tg.cancel()` from the body (asyncio 3.14's `TaskGroup.cancel`): every child and
/// the body are dropped at the body's next await, new children are refused, and the
/// group returns a cancellation, not an error.
fn group_cancel_from_the_body_drops_everything(d: Driver) {
    paused(d).block_on(async {
        let t0 = Instant::now();
        let (a_dropped, after) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
        let (flag, seen_after) = (DropFlag(a_dropped.clone()), after.clone());
        let res: Result<(), ringio::task::GroupError<String>> = task_group(|tg| async move {
            tg.spawn(async move {
                let _f = flag;
                sleep(secs(10)).await;
                Ok(())
            })
            .unwrap();
            sleep(secs(1)).await;
            assert!(!tg.is_cancelled());
            tg.cancel();
            assert!(tg.is_cancelled());
            assert_eq!(tg.spawn(async { Ok(()) }).unwrap_err(), GroupClosed);
            sleep(secs(1)).await;
            seen_after.set(true);
            Ok(())
        })
        .await;
        let err = res.unwrap_err();
        assert!(err.is_cancelled(), "{err}");
        assert!(err.errors.is_empty());
        assert_eq!(t0.elapsed(), secs(1), "returned at the cancel, not later");
        assert!(a_dropped.get(), "the child was dropped");
        assert!(!after.get(), "the body did not run past its next await");
    });
}

/// `cancel()` from a child after the body returned: the siblings are dropped and the
/// group returns `Ok` with the body's output; an error that came first still counts.
fn group_cancel_from_a_child_returns_the_body_output(d: Driver) {
    paused(d).block_on(async {
        let t0 = Instant::now();
        let res: Result<u32, ringio::task::GroupError<String>> = task_group(|tg| async move {
            for i in 0..4u64 {
                let group = tg.clone();
                tg.spawn(async move {
                    sleep(secs(i + 1)).await;
                    if i == 1 {
                        group.cancel();
                    }
                    Ok(())
                })
                .unwrap();
            }
            Ok(7)
        })
        .await;
        assert_eq!(res.unwrap(), 7);
        assert_eq!(t0.elapsed(), secs(2));

        // A failure in the same turn as the cancel is still reported.
        let res: Result<(), ringio::task::GroupError<&str>> = task_group(|tg| async move {
            let group = tg.clone();
            tg.spawn(async { Err::<(), _>("failed first") }).unwrap();
            tg.spawn(async move {
                group.cancel();
                Ok(())
            })
            .unwrap();
            Ok(())
        })
        .await;
        let err = res.unwrap_err();
        assert!(!err.is_cancelled());
        assert_eq!(err.errors, ["failed first"]);
    });
}

fn group_first_failure_cancels_siblings(d: Driver) {
    paused(d).block_on(async {
        let t0 = Instant::now();
        let b_dropped = Rc::new(Cell::new(false));
        let flag = DropFlag(b_dropped.clone());
        let res: Result<(), _> = task_group(|tg| async move {
            tg.spawn(async {
                sleep(secs(1)).await;
                Err::<(), _>("A failed")
            })
            .unwrap();
            tg.spawn(async move {
                let _f = flag;
                sleep(secs(10)).await;
                Ok(())
            })
            .unwrap();
            Ok(())
        })
        .await;
        let err = res.unwrap_err();
        assert_eq!(err.errors, ["A failed"]);
        assert_eq!(t0.elapsed(), secs(1));
        assert!(b_dropped.get());
    });
}

fn group_failure_interrupts_the_body(d: Driver) {
    paused(d).block_on(async {
        let after = Rc::new(Cell::new(false));
        let a = after.clone();
        let res: Result<(), _> = task_group(|tg| async move {
            tg.spawn(async {
                sleep(secs(1)).await;
                Err::<(), _>(1)
            })
            .unwrap();
            sleep(secs(5)).await;
            a.set(true);
            Ok(())
        })
        .await;
        assert_eq!(res.unwrap_err().errors, [1]);
        assert!(!after.get(), "the code after the body's sleep never ran");
    });
}

fn group_reports_failures_of_the_same_turn(d: Driver) {
    paused(d).block_on(async {
        let res: Result<(), _> = task_group(|tg| async move {
            for e in ["x", "y"] {
                tg.spawn(async move {
                    sleep(secs(1)).await;
                    Err::<(), _>(e)
                })
                .unwrap();
            }
            Ok(())
        })
        .await;
        let mut errors = res.unwrap_err().errors;
        errors.sort_unstable();
        assert_eq!(errors, ["x", "y"]);
    });
}

fn group_refuses_spawn_once_finished(d: Driver) {
    paused(d).block_on(async {
        let keep = Rc::new(RefCell::new(None));
        let k = keep.clone();
        let out: Result<u32, ringio::task::GroupError<()>> = task_group(|tg| async move {
            *k.borrow_mut() = Some(tg.clone());
            let child = tg.spawn(async { Ok(20) }).unwrap();
            Ok(child.await.unwrap() + 1)
        })
        .await;
        assert_eq!(out.unwrap(), 21);
        let polled = Rc::new(Cell::new(false));
        let p = polled.clone();
        let tg = keep.borrow_mut().take().unwrap();
        let refused = tg.spawn(async move {
            p.set(true);
            Ok(())
        });
        assert!(matches!(refused, Err(GroupClosed)));
        ringio::yield_now().await;
        assert!(!polled.get(), "a refused future is never polled");
    });
}

fn group_panic_aborts_siblings_then_propagates(d: Driver) {
    paused(d).block_on(async {
        let sibling_dropped = Rc::new(Cell::new(false));
        let flag = DropFlag(sibling_dropped.clone());
        let h = ringio::spawn(async move {
            let _: Result<(), ringio::task::GroupError<()>> = task_group(|tg| async move {
                tg.spawn(async move {
                    let _f = flag;
                    sleep(secs(10)).await;
                    Ok(())
                })
                .unwrap();
                tg.spawn::<()>(async {
                    sleep(secs(1)).await;
                    panic!("child panic");
                })
                .unwrap();
                Ok(())
            })
            .await;
        });
        let err = h.await.unwrap_err();
        assert!(
            err.is_panic() && err.to_string().contains("child panic"),
            "{err}"
        );
        assert!(sibling_dropped.get());
    });
}

fn group_children_borrow_locals_and_spawn_more(d: Driver) {
    paused(d).block_on(async {
        let total = Cell::new(0u32);
        let total_ref = &total;
        let res: Result<(), ringio::task::GroupError<String>> = task_group(|tg| async move {
            let tg2 = tg.clone();
            tg.spawn(async move {
                sleep(secs(1)).await;
                // A child adds a sibling while the group waits.
                tg2.spawn(async move {
                    sleep(secs(1)).await;
                    total_ref.set(total_ref.get() + 10);
                    Ok(())
                })
                .unwrap();
                total_ref.set(total_ref.get() + 1);
                Ok(())
            })
            .unwrap();
            Ok(())
        })
        .await;
        res.unwrap();
        assert_eq!(total.get(), 11);
    });
}

// §2.12 current task / all tasks

fn current_task_matches_handle_and_tasks_snapshot(d: Driver) {
    paused(d).block_on(async {
        let h = task::spawn_named("sleeper", sleep(secs(60)));
        let me = ringio::spawn(async { task::current().unwrap().id() });
        let me_id = me.id();
        assert_eq!(me.await.unwrap(), me_id);
        let all = ringio::runtime::tasks();
        let sleeper = all
            .iter()
            .find(|t| t.info().name() == Some("sleeper"))
            .expect("listed");
        assert_eq!(sleeper.state(), TaskState::Waiting);
        assert_eq!(sleeper.polls(), 1);
        assert!(
            sleeper.last_poll().is_none(),
            "nothing is timed with debug off"
        );
        h.abort();
    });
    assert!(task::current().is_none());
}

// task-locals

ringio::task_local! {
    static REQUEST: u32;
}

fn task_locals_are_per_task(d: Driver) {
    rt(d).block_on(async {
        let a = ringio::spawn(REQUEST.scope(1, async {
            ringio::yield_now().await;
            REQUEST.get()
        }));
        let b = ringio::spawn(REQUEST.scope(2, async {
            ringio::yield_now().await;
            REQUEST.with(|v| *v)
        }));
        assert_eq!((a.await.unwrap(), b.await.unwrap()), (1, 2));
        assert!(REQUEST.try_with(|_| ()).is_err());
    });
}

// §7.1 callbacks

fn callbacks_run_fifo_and_cancel(d: Driver) {
    paused(d).block_on(async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut handles = Vec::new();
        for i in 0..5 {
            let log = log.clone();
            handles.push(ringio::runtime::call_soon(move || log.borrow_mut().push(i)));
        }
        assert!(handles[2].cancel(), "cancelled before it ran");
        ringio::yield_now().await;
        assert_eq!(*log.borrow(), [0, 1, 3, 4]);
        assert!(!handles[0].cancel(), "cancel does nothing once it ran");
        // call_later / call_at on the runtime's clock; a past time runs next turn.
        let t0 = Instant::now();
        let at = Rc::new(RefCell::new(Vec::new()));
        let (a1, a2, a3) = (at.clone(), at.clone(), at.clone());
        ringio::runtime::call_later(secs(2), move || {
            a1.borrow_mut().push(("later", t0.elapsed()))
        });
        ringio::runtime::call_at(t0 + secs(1), move || {
            a2.borrow_mut().push(("at", t0.elapsed()))
        });
        ringio::runtime::call_at(t0 - ms(1), move || {
            a3.borrow_mut().push(("past", t0.elapsed()))
        });
        ringio::yield_now().await;
        assert_eq!(*at.borrow(), [("past", Duration::ZERO)]);
        sleep(secs(3)).await;
        assert_eq!(
            *at.borrow(),
            [
                ("past", Duration::ZERO),
                ("at", secs(1)),
                ("later", secs(2))
            ]
        );
    });
}

fn panics_nobody_observes_go_to_the_exception_handler(d: Driver) {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let r = reports.clone();
    let rt = Builder::new()
        .driver(d)
        .start_paused(true)
        .exception_handler(move |rep| {
            r.lock().unwrap().push((
                rep.kind,
                rep.task.name().map(str::to_owned),
                rep.message.clone(),
            ))
        })
        .build()
        .unwrap();
    rt.block_on(async {
        // Detached, then panics.
        drop(task::spawn_named("detached", async {
            sleep(secs(1)).await;
            panic!("lost 1")
        }));
        // Panics, then its handle is dropped unawaited.
        let h = task::spawn_named("unawaited", async { panic!("lost 2") });
        ringio::yield_now().await;
        drop(h);
        // A callback panics.
        ringio::runtime::call_soon(|| panic!("lost 3"));
        // Awaited: observed, not reported.
        let _ = ringio::spawn(async { panic!("seen") }).await;
        sleep(secs(2)).await;
    });
    let mut got = reports.lock().unwrap().clone();
    got.sort_by(|a, b| a.2.cmp(&b.2));
    assert_eq!(
        got,
        [
            (
                PanicKind::DetachedTask,
                Some("detached".into()),
                "lost 1".into()
            ),
            (
                PanicKind::Unobserved,
                Some("unawaited".into()),
                "lost 2".into()
            ),
            (
                PanicKind::Callback,
                Some("callback".into()),
                "lost 3".into()
            ),
        ]
    );
}

// §7.4 debug mode

fn debug_runtime(d: Driver, on: bool, events: Arc<Mutex<Vec<DebugEvent>>>) -> ringio::Runtime {
    Builder::new()
        .driver(d)
        .debug(on)
        .slow_poll_threshold(ms(100))
        .debug_handler(move |e| events.lock().unwrap().push(e.clone()))
        .build()
        .unwrap()
}

fn debug_mode_reports_a_slow_poll_once(d: Driver) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let rt = debug_runtime(d, true, events.clone());
    let line = rt.block_on(async {
        let line = line!() + 1;
        let h = task::spawn_named("blocker", async {
            std::thread::sleep(ms(200)); // blocks the loop
            ringio::yield_now().await;
        });
        h.await.unwrap();
        line
    });
    // Only the blocker's polls count: on a loaded machine another poll could be slow too.
    let got: Vec<DebugEvent> = events
        .lock()
        .unwrap()
        .iter()
        .filter(
            |e| matches!(e, DebugEvent::SlowPoll { task, .. } if task.name() == Some("blocker")),
        )
        .cloned()
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");
    let text = got[0].to_string();
    assert!(text.starts_with("slow poll: task=blocker at "), "{text}");
    assert!(text.contains(&format!("task_api.rs:{line}")), "{text}");
    match &got[0] {
        DebugEvent::SlowPoll { took, .. } => assert!(*took >= ms(200)),
        other => panic!("{other:?}"),
    }
    // Snapshots carry the last poll time in debug mode.
    rt.block_on(async {
        let h = ringio::spawn(std::future::pending::<()>());
        ringio::yield_now().await;
        assert!(ringio::runtime::tasks()
            .iter()
            .all(|t| t.last_poll().is_some()));
        h.abort();
    });
}

fn debug_off_reports_nothing(d: Driver) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let rt = debug_runtime(d, false, events.clone());
    rt.block_on(async {
        ringio::spawn(async { std::thread::sleep(ms(200)) })
            .await
            .unwrap();
    });
    assert!(events.lock().unwrap().is_empty());
}

fn watchdog_names_a_stalled_worker(d: Driver) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let rt = debug_runtime(d, true, events.clone());
    rt.block_on(async {
        task::spawn_named("stuck", async { std::thread::sleep(ms(1800)) })
            .await
            .unwrap();
    });
    drop(rt);
    let got = events.lock().unwrap().clone();
    let stall = got
        .iter()
        .find_map(|e| match e {
            DebugEvent::StalledWorker { worker, task, .. } => Some((
                *worker,
                task.as_ref().and_then(|t| t.name().map(str::to_owned)),
            )),
            _ => None,
        })
        .expect("the watchdog reported the stall");
    assert_eq!(stall, (0, Some("stuck".to_string())));
}

// Metrics

fn metrics_count_work(d: Driver) {
    let rt = Builder::new().driver(d).workers(2).build().unwrap();
    rt.block_on(async {
        for _ in 0..10 {
            ringio::runtime::nop().await.unwrap();
            ringio::spawn(async {}).await.unwrap();
        }
        let m = ringio::runtime::metrics();
        assert_eq!(m.worker, 0);
        assert!(m.polls >= 10);
        if d == Driver::Uring {
            assert!(
                m.sqes_submitted >= 10 && m.cqes_reaped >= 10 && m.enters >= 10,
                "{m:?}"
            );
        }
        ringio::spawn_on(1, async {}).await.unwrap();
    });
    let all = rt.metrics();
    assert_eq!(all.len(), 2);
    assert!(all[1].tasks_spawned >= 1, "{:?}", all[1]);
    assert!(
        all[0].tasks_spawned == 10 && all[0].polls >= 21,
        "{:?}",
        all[0]
    );
}

both_drivers!(
    eager_body_that_never_suspends_is_done_at_once,
    eager_inline_poll_sees_itself_as_current,
    gather_keeps_input_order,
    join_runs_futures_concurrently_in_place,
    try_join_returns_the_first_error_and_drops_the_rest,
    dropping_a_join_drops_every_future,
    gather_fails_fast_and_leaves_siblings_running,
    dropping_gather_aborts_children,
    gather_settled_marks_only_the_aborted_child,
    shield_outlives_its_awaiter,
    timeout_scope_rescheduled_from_inside,
    timeout_scope_body_finishing_in_time,
    timeout_scopes_nest_and_the_earlier_wins,
    wait_for_times_out_and_the_task_is_finished,
    dropping_wait_for_aborts_the_task,
    wait_first_completed,
    wait_first_exception_ignores_cancellation,
    as_completed_yields_in_completion_order,
    group_first_failure_cancels_siblings,
    group_failure_interrupts_the_body,
    group_reports_failures_of_the_same_turn,
    group_refuses_spawn_once_finished,
    group_panic_aborts_siblings_then_propagates,
    group_children_borrow_locals_and_spawn_more,
    group_cancel_from_the_body_drops_everything,
    group_cancel_from_a_child_returns_the_body_output,
    current_task_matches_handle_and_tasks_snapshot,
    task_locals_are_per_task,
    callbacks_run_fifo_and_cancel,
    panics_nobody_observes_go_to_the_exception_handler,
    debug_mode_reports_a_slow_poll_once,
    debug_off_reports_nothing,
    watchdog_names_a_stalled_worker,
    metrics_count_work,
);
