//! [`Op<T>`]: the future that drives one [`Operation`] on the runtime's backend.

use super::{Backend, Operation, Readiness};
use crate::runtime::context;
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Drives an operation to completion. Nothing happens until the first poll.
///
/// # Cancel safety
///
/// Dropping an `Op` never frees memory the kernel may still use: on io_uring an
/// in-flight operation's box moves into the op table as an orphan until its completion
/// arrives (see the module docs of `driver`). Whatever the operation had done by then
/// is lost, except that fds it produced are closed.
#[must_use = "an operation does nothing until it is awaited"]
pub(crate) struct Op<T: Operation> {
    /// The operation, held inline: no allocation per operation. `None` once the output
    /// has been produced or the operation handed to the driver as an orphan. Moving it
    /// is sound because the [`Operation`] contract keeps every pointer the kernel sees
    /// in heap memory the operation owns, never in the operation's own bytes.
    data: Option<T>,
    state: State,
}

enum State {
    Unsubmitted,
    /// Submitted to io_uring; `key` is the op table slot.
    Uring {
        driver: Rc<RefCell<Backend>>,
        key: usize,
    },
    /// Waiting for readiness on epoll; `waiter` identifies the registration.
    Epoll {
        driver: Rc<RefCell<Backend>>,
        waiter: Option<u64>,
    },
    Done,
}

impl<T: Operation> Op<T> {
    pub(crate) fn new(data: T) -> Op<T> {
        Op {
            data: Some(data),
            state: State::Unsubmitted,
        }
    }

    fn finish(&mut self, result: io::Result<u32>, flags: u32) -> T::Output {
        self.state = State::Done;
        let data = self.data.take().expect("op polled after completion");
        data.complete(result, flags)
    }

    /// One readiness-face step: attempt, and on `WouldBlock` (re)register interest.
    fn poll_epoll(&mut self, cx: &mut Context<'_>) -> Poll<T::Output> {
        if context::try_with_core(|core| core.take_op_budget()) == Some(false) {
            // This poll has completed enough operations without waiting: yield.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let data = self.data.as_mut().expect("op polled after completion");
        loop {
            let result = data.attempt();
            match result {
                Err(ref e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let Readiness::Fd(fd, interest) = data.readiness() else {
                        // An immediate op has no readiness to wait for.
                        return Poll::Ready(self.finish(result, 0));
                    };
                    let State::Epoll { driver, waiter } = &mut self.state else {
                        unreachable!("poll_epoll in a non-epoll state")
                    };
                    let mut backend = driver.borrow_mut();
                    let Backend::Epoll(epoll) = &mut *backend else {
                        unreachable!("epoll op on a uring backend")
                    };
                    match epoll.wait_for(fd, interest, waiter, cx.waker()) {
                        Ok(()) => return Poll::Pending,
                        Err(e) => {
                            drop(backend);
                            return Poll::Ready(self.finish(Err(e), 0));
                        }
                    }
                }
                _ => {
                    self.cancel_epoll_wait();
                    return Poll::Ready(self.finish(result, 0));
                }
            }
        }
    }

    fn cancel_epoll_wait(&mut self) {
        let State::Epoll { driver, waiter } = &mut self.state else {
            return;
        };
        let (Some(id), Some(data)) = (waiter.take(), self.data.as_ref()) else {
            return;
        };
        if let Readiness::Fd(fd, interest) = data.readiness() {
            if let Ok(mut backend) = driver.try_borrow_mut() {
                if let Backend::Epoll(epoll) = &mut *backend {
                    epoll.cancel_wait(fd, interest, id);
                }
            }
        }
    }
}

// Nothing relies on an `Op` staying put: the kernel sees only heap memory the operation
// owns (the `Operation` contract), so the future may move between polls.
impl<T: Operation> Unpin for Op<T> {}

impl<T: Operation> Future for Op<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        match &this.state {
            State::Unsubmitted => {
                let driver = context::driver();
                let mut backend = driver.borrow_mut();
                if let Backend::Uring(uring) = &mut *backend {
                    let data = this.data.as_mut().expect("op polled after completion");
                    let key = uring.submit(data.uring_entry(), cx.waker());
                    drop(backend);
                    this.state = State::Uring { driver, key };
                    Poll::Pending
                } else {
                    drop(backend);
                    this.state = State::Epoll {
                        driver,
                        waiter: None,
                    };
                    this.poll_epoll(cx)
                }
            }
            State::Uring { driver, key } => {
                let key = *key;
                let polled = {
                    let mut backend = driver.borrow_mut();
                    let Backend::Uring(uring) = &mut *backend else {
                        unreachable!()
                    };
                    uring.poll_op(key, cx.waker())
                };
                match polled {
                    // Only an op the kernel punted to a worker thread can see EAGAIN on
                    // a non-blocking socket; submitting again arms the kernel's poll.
                    Poll::Ready((Err(e), _)) if e.raw_os_error() == Some(libc::EAGAIN) => {
                        let data = this.data.as_mut().expect("op polled after completion");
                        let entry = data.uring_entry();
                        let mut backend = driver.borrow_mut();
                        let Backend::Uring(uring) = &mut *backend else {
                            unreachable!()
                        };
                        let key = uring.submit(entry, cx.waker());
                        drop(backend);
                        if let State::Uring { key: k, .. } = &mut this.state {
                            *k = key;
                        }
                        Poll::Pending
                    }
                    Poll::Ready((res, flags)) => Poll::Ready(this.finish(res, flags)),
                    Poll::Pending => Poll::Pending,
                }
            }
            State::Epoll { .. } => this.poll_epoll(cx),
            State::Done => panic!("ringio: an I/O operation was polled after it completed"),
        }
    }
}

impl<T: Operation> Drop for Op<T> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Uring { driver, key } => {
                let data = self.data.take().expect("in-flight op without its data");
                match driver.try_borrow_mut() {
                    Ok(mut backend) => {
                        let Backend::Uring(uring) = &mut *backend else {
                            unreachable!()
                        };
                        // Boxed only now, on the rare drop-in-flight path.
                        uring.orphan(key, Box::new(data));
                    }
                    // The driver is busy higher up this very stack (a waker or a drop
                    // inside a completion). Freeing the box could hand the kernel freed
                    // memory, so leak it: a bounded, visible cost instead of a
                    // use-after-free. The driver is never borrowed while tasks run, so
                    // this is not expected to happen.
                    Err(_) => std::mem::forget(data),
                }
            }
            state @ State::Epoll { .. } => {
                self.state = state;
                self.cancel_epoll_wait();
            }
            _ => {}
        }
    }
}
