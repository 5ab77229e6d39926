//! [`Timeout`]: a deadline scope that can be read and moved while it runs (asyncio's
//! `async with timeout(...)` and its `reschedule`).

use super::{sleep_until, Elapsed, Instant, Sleep};
use std::cell::RefCell;
use std::fmt;
use std::future::{poll_fn, Future, IntoFuture};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Made, not yet running.
    Created,
    /// Running its body.
    Entered,
    /// Its deadline passed and its body was dropped.
    Expired,
    /// Its body finished in time.
    Exited,
}

struct State {
    deadline: Option<Instant>,
    phase: Phase,
    /// The running scope, to wake when the deadline moves.
    waker: Option<Waker>,
}

/// A deadline scope. Clones share the scope, so the body can hold one and move its own
/// deadline.
///
/// ```
/// # ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
/// use ringio::time::{sleep, Instant, Timeout};
/// use std::time::Duration;
///
/// let scope = Timeout::new(None); // no deadline yet
/// let inner = scope.clone();
/// let res = scope
///     .run(async move {
///         inner.reschedule(Some(Instant::now() + Duration::from_secs(1))).unwrap();
///         sleep(Duration::from_secs(5)).await;
///     })
///     .await;
/// assert!(res.is_err());
/// assert!(scope.expired());
/// # });
/// ```
#[derive(Clone)]
pub struct Timeout {
    state: Rc<RefCell<State>>,
}

/// [`Timeout::reschedule`] was called on a scope that is not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutStateError(());

impl fmt::Display for TimeoutStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the timeout scope is not running (never entered, expired or finished)")
    }
}

impl std::error::Error for TimeoutStateError {}

impl Timeout {
    /// A scope with `deadline`, or none (`None`) until [`reschedule`](Timeout::reschedule)d.
    pub fn new(deadline: Option<Instant>) -> Timeout {
        Timeout {
            state: Rc::new(RefCell::new(State {
                deadline,
                phase: Phase::Created,
                waker: None,
            })),
        }
    }

    /// A scope whose deadline is `duration` from now.
    pub fn after(duration: Duration) -> Timeout {
        Timeout::new(Instant::now().checked_add(duration))
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.state.borrow().deadline
    }

    /// Whether the deadline passed and dropped the body.
    pub fn expired(&self) -> bool {
        self.state.borrow().phase == Phase::Expired
    }

    /// Moves the deadline of the running scope (`None` removes it). A deadline already
    /// past expires the scope at its next poll.
    ///
    /// # Errors
    ///
    /// [`TimeoutStateError`] unless the scope is running: before [`run`](Timeout::run)
    /// starts, and after it expired or finished.
    pub fn reschedule(&self, deadline: Option<Instant>) -> Result<(), TimeoutStateError> {
        let waker = {
            let mut st = self.state.borrow_mut();
            if st.phase != Phase::Entered {
                return Err(TimeoutStateError(()));
            }
            st.deadline = deadline;
            st.waker.clone()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Runs `body` under this scope: `Ok(output)` if it finishes first (it is polled
    /// before the deadline is checked), else it is dropped and the result is
    /// [`Elapsed`]. Scopes nest: the earliest deadline wins.
    ///
    /// # Panics
    ///
    /// If the scope has already run.
    ///
    /// # Cancel safety
    ///
    /// As cancel-safe as `body`, which is dropped with the returned future.
    pub async fn run<F: IntoFuture>(&self, body: F) -> Result<F::Output, Elapsed> {
        {
            let mut st = self.state.borrow_mut();
            assert_eq!(st.phase, Phase::Created, "a Timeout scope runs once");
            st.phase = Phase::Entered;
        }
        /// Marks the scope finished if `run` is dropped before it returns.
        struct Leave<'a>(&'a Timeout);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                let mut st = self.0.state.borrow_mut();
                if st.phase == Phase::Entered {
                    st.phase = Phase::Exited;
                }
                st.waker = None;
            }
        }
        let _leave = Leave(self);
        let mut body = Some(Box::pin(body.into_future()));
        let mut armed: Option<(Instant, Sleep)> = None;
        let result = poll_fn(|cx| {
            let b = body.as_mut().expect("polled after completion");
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                self.state.borrow_mut().phase = Phase::Exited;
                return Poll::Ready(Ok(v));
            }
            let deadline = {
                let mut st = self.state.borrow_mut();
                match &st.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => st.waker = Some(cx.waker().clone()),
                }
                st.deadline
            };
            let Some(deadline) = deadline else {
                armed = None;
                return Poll::Pending;
            };
            if armed.as_ref().map(|(at, _)| *at) != Some(deadline) {
                armed = Some((deadline, sleep_until(deadline)));
            }
            let (_, sleep) = armed.as_mut().expect("armed above");
            if Pin::new(sleep).poll(cx).is_ready() {
                body = None;
                self.state.borrow_mut().phase = Phase::Expired;
                return Poll::Ready(Err(Elapsed(())));
            }
            Poll::Pending
        });
        pin!(result).await
    }
}

impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Timeout")
            .field("deadline", &st.deadline)
            .field("phase", &st.phase)
            .finish()
    }
}
