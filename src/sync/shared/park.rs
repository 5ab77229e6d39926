//! Running a future to completion on a plain thread, parking it between polls: how the
//! cross-core primitives offer `blocking_*` forms without a second wait protocol.

use crate::runtime::Handle;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

/// Unparks the blocked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread until it is ready, parking in between. The waiting
/// is the future's own, so a blocking caller queues, is granted and passes grants on
/// exactly as a task does.
///
/// # Panics
///
/// On a ringio worker thread, whose whole loop it would block; `what` names the call.
#[track_caller]
pub(crate) fn block_on<F: Future>(what: &str, future: F) -> F::Output {
    assert!(
        Handle::current_worker().is_none(),
        "{what} called on a ringio worker thread; await the async form instead"
    );
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        // A wake before this park leaves the token set, so park returns at once.
        thread::park();
    }
}
