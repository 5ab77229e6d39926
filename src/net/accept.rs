//! [`Acceptor`]: the accepting half every listener shares (TCP and Unix): a multishot
//! accept on io_uring, single-shot accepts with a queue for late connections elsewhere.

use crate::driver::ops::{Accept, AcceptMulti, LateAccepts, PeerAddr};
use crate::driver::{Fd, Op};
use crate::runtime::context;
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A listening socket's fd and the state its accepts share. `A` is the kind of peer
/// address its connections have.
pub(crate) struct Acceptor<A: PeerAddr> {
    fd: Fd,
    /// Connections accepted after their `accept()` future was dropped.
    late: LateAccepts<A>,
    /// The multishot accept kept armed on io_uring.
    multi: RefCell<Option<Rc<AcceptMulti>>>,
}

impl<A: PeerAddr> Drop for Acceptor<A> {
    fn drop(&mut self) {
        if let Some(multi) = self.multi.get_mut().take() {
            multi.close();
        }
    }
}

impl<A: PeerAddr> Acceptor<A> {
    /// Takes a bound, listening, non-blocking socket.
    pub(crate) fn new(fd: OwnedFd) -> Acceptor<A> {
        Acceptor {
            fd: Fd::new(fd),
            late: Default::default(),
            multi: RefCell::new(None),
        }
    }

    pub(crate) fn fd(&self) -> &Fd {
        &self.fd
    }

    /// Accepts a connection: see `TcpListener::accept` for the contract (cancel-safe; a
    /// connection accepted after the future was dropped is queued for the next call).
    pub(crate) async fn accept(&self) -> io::Result<(OwnedFd, A)> {
        let driver = context::driver();
        let multishot = driver.backend_ref().multishot();
        if multishot {
            let multi = self
                .multi
                .borrow_mut()
                .get_or_insert_with(|| AcceptMulti::new(self.fd.for_op()))
                .clone();
            let fd = std::future::poll_fn(|cx| multi.poll_accept(cx, &driver)).await?;
            let peer = A::of_accepted(&fd)?;
            return Ok((fd, peer));
        }
        let mut op: Option<Op<Accept<A>>> = None;
        std::future::poll_fn(|cx| {
            // A connection another accept left behind goes first; our own op, if any,
            // is dropped with this future and re-queues whatever it gets.
            if let Some(conn) = self.late.borrow_mut().conns.pop_front() {
                return Poll::Ready(Ok(conn));
            }
            let op =
                op.get_or_insert_with(|| Op::new(Accept::new(self.fd.for_op(), self.late.clone())));
            match Pin::new(op).poll(cx) {
                Poll::Ready(res) => Poll::Ready(res),
                Poll::Pending => {
                    let mut q = self.late.borrow_mut();
                    if !q.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                        q.waiters.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }
}

/// A connection being accepted, boxed: one allocation per connection.
pub(crate) type Accepting<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + 'a>>;

/// A listener's `incoming()`: one accept after another, as a never-ending
/// [`Stream`](futures_core::Stream).
pub(crate) struct Incoming<'a, L, T> {
    listener: &'a L,
    accept: fn(&'a L) -> Accepting<'a, T>,
    next: Option<Accepting<'a, T>>,
}

impl<'a, L, T> Incoming<'a, L, T> {
    pub(crate) fn new(listener: &'a L, accept: fn(&'a L) -> Accepting<'a, T>) -> Self {
        Incoming {
            listener,
            accept,
            next: None,
        }
    }
}

impl<L, T> futures_core::Stream for Incoming<'_, L, T> {
    type Item = io::Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let (listener, accept) = (this.listener, this.accept);
        let next = this.next.get_or_insert_with(|| accept(listener));
        match next.as_mut().poll(cx) {
            Poll::Ready(conn) => {
                this.next = None;
                Poll::Ready(Some(conn))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
