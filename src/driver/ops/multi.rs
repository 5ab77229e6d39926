//! Multishot operations (io_uring) and the pooled receive they share with epoll.
//!
//! - [`RecvMulti`]: one armed multishot receive per connection, with buffers picked by
//!   the kernel from a [`BufPool`](crate::buf::BufPool)'s ring only when data arrives.
//!   Each completion queues (buffer id, length); `recv_pooled` takes from the queue.
//! - [`AcceptMulti`]: one armed multishot accept per listener; each completion queues a
//!   new connection.
//! - [`RecvPooled`]: the single-shot form, an ordinary [`Operation`] that takes a
//!   buffer from the pool's free list just before `recv(2)`: the epoll emulation (and
//!   the io_uring path where the kernel has no buffer rings).
//!
//! Several tasks may wait on one connection's receive (two tasks calling `recv_pooled`
//! on a shared stream): the first waiter's waker is kept across calls, so a steady
//! receiver costs no clone, and any other waiter joins a list; a completion wakes them
//! all, once. Nobody is woken while nothing arrives, so an idle stream costs no polls
//! however many wait on it.
//!
//! A multishot operation stays armed across calls, so dropping a `recv_pooled` or
//! `accept` future loses nothing: what arrives waits in the queue. Its state lives in
//! an `Rc` shared by the socket and the driver's op table; when the socket closes, the
//! state is marked closed, the operation cancelled, and whatever still arrives is given
//! back (buffers) or closed (connections). The state holds its own clone of the fd, so
//! the fd number cannot be reused while the kernel may still use it.

use super::net::CURRENT_POSITION;
use crate::buf::{PoolInner, PooledBuf};
use crate::driver::sys::FdKind;
use crate::driver::{Decision, DriverHandle, Fd, Interest, Multishot, Operation, WeakDriver};
use crate::runtime::context;
use io_uring::{cqueue, opcode, squeue};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A FIFO queue that holds one item inline and allocates only when more wait: an idle
/// connection's receive state then owns no heap memory, and a burst's memory is freed
/// once it drains.
struct InlineQueue<T> {
    first: Option<T>,
    /// Boxed, so an idle queue is one pointer wide (not the four of a `VecDeque`): the
    /// extra allocation happens only in a burst, and this state lives per connection.
    #[allow(clippy::box_collection)]
    rest: Option<Box<VecDeque<T>>>,
}

impl<T> InlineQueue<T> {
    fn new() -> InlineQueue<T> {
        InlineQueue {
            first: None,
            rest: None,
        }
    }

    #[inline(always)]
    fn push_back(&mut self, item: T) {
        match &mut self.rest {
            None if self.first.is_none() => self.first = Some(item),
            _ => self.push_back_more(item),
        }
    }

    /// `push_back` behind a queued item (a burst): out of line.
    #[cold]
    #[inline(never)]
    fn push_back_more(&mut self, item: T) {
        match &mut self.rest {
            Some(rest) => rest.push_back(item),
            None => self.rest = Some(Box::new(VecDeque::from([item]))),
        }
    }

    fn pop_front(&mut self) -> Option<T> {
        if let Some(item) = self.first.take() {
            return Some(item);
        }
        let rest = self.rest.as_mut()?;
        let item = rest.pop_front();
        if rest.is_empty() {
            self.rest = None;
        }
        item
    }

    fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest.is_none()
    }

    fn drain_all(&mut self) -> impl Iterator<Item = T> {
        let first = self.first.take();
        let rest = self.rest.take().map(|r| *r).unwrap_or_default();
        first.into_iter().chain(rest)
    }
}

/// What one multishot receive completion delivered.
enum Received {
    /// Buffer id and byte count.
    Data(u16, u32),
    /// Bytes copied out of the pool, whose buffer went straight back: what arrives
    /// while the queue is at its limit.
    #[allow(clippy::box_collection)] // thin: keeps every connection's queue small
    Spilled(Box<Vec<u8>>),
    /// End of stream.
    Eof,
    /// A negative result, as an errno.
    Error(i32),
}

/// A socket's multishot receive into a pool (a stream's or a datagram socket's), as
/// the socket keeps it: `net::pooled::MultiSlot`.
pub(crate) trait MultiReceive {
    /// Whether this receive draws from `pool`.
    fn uses(&self, pool: &Rc<PoolInner>) -> bool;
    /// Whether nothing is queued and the kernel holds nothing armed.
    fn is_idle(&self) -> bool;
    /// The socket is closing (or switching pools): stop, and give back what is queued.
    fn close(&self);
}

impl MultiReceive for RecvMulti {
    fn uses(&self, pool: &Rc<PoolInner>) -> bool {
        RecvMulti::uses(self, pool)
    }

    fn is_idle(&self) -> bool {
        RecvMulti::is_idle(self)
    }

    fn close(&self) {
        RecvMulti::close(self)
    }
}

/// The armed multishot receive of one connection.
pub(crate) struct RecvMulti {
    fd: Fd,
    /// The driver it arms on, and cancels on: the one current when it was made.
    driver: WeakDriver,
    pool: Rc<PoolInner>,
    group: u16,
    state: RefCell<RecvState>,
}

struct RecvState {
    queue: InlineQueue<Received>,
    /// The op table slot while the kernel holds the receive armed (32 bits: this state
    /// lives per connection, and `Option<u32>` packs in one word).
    armed: Option<u32>,
    /// The last receiver's waker, kept (not taken) so a steady receiver costs no clone.
    waker: Option<Waker>,
    /// A receiver is waiting: the next completion wakes `waker`.
    waiting: bool,
    /// Other receivers waiting at the same time (other tasks on the same stream), each
    /// once; the next completion wakes and clears them. Boxed: rare, and this state
    /// lives per connection (one pointer, not a `Vec`'s three words).
    #[allow(clippy::box_collection)]
    others: Option<Box<Vec<Waker>>>,
    /// Received data in `queue` nobody has taken yet: pool buffers and spilled copies.
    queued_data: u8,
    /// A pause (cancel) was asked for: its `ECANCELED` ending is no error.
    pausing: bool,
    /// The connection was dropped: give back whatever arrives.
    closed: bool,
}

/// Received buffers a connection may hold unclaimed before its multishot receive is
/// paused (cancelled, re-armed once they are taken): without a limit a connection whose
/// task stops receiving would drain the shared pool and starve every other one. While
/// paused, data waits in the socket and TCP's window pushes back on the peer.
const RECV_QUEUE_LIMIT: u8 = 4;

impl RecvMulti {
    pub(crate) fn new(fd: Fd, pool: Rc<PoolInner>, group: u16) -> Rc<RecvMulti> {
        Rc::new(RecvMulti {
            fd,
            driver: current_driver(),
            pool,
            group,
            state: RefCell::new(RecvState {
                queue: InlineQueue::new(),
                armed: None,
                waker: None,
                waiting: false,
                others: None,
                queued_data: 0,
                pausing: false,
                closed: false,
            }),
        })
    }

    /// Whether this receive draws from `pool`.
    pub(crate) fn uses(&self, pool: &Rc<PoolInner>) -> bool {
        Rc::ptr_eq(&self.pool, pool)
    }

    /// Whether nothing is queued and the kernel holds nothing armed.
    pub(crate) fn is_idle(&self) -> bool {
        let state = self.state.borrow();
        state.queue.is_empty() && state.armed.is_none()
    }

    /// The next received buffer, `Ok(None)` at end of stream, or the error that ended
    /// the receive (`ENOBUFS` when the pool ran dry: wait for a buffer and call again).
    /// Arms the receive when it is not armed.
    #[inline(always)]
    pub(crate) fn poll_recv(
        self: &Rc<Self>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<PooledBuf>>> {
        let mut state = self.state.borrow_mut();
        if let Some(received) = state.queue.pop_front() {
            if let Received::Data(bid, len) = received {
                state.queued_data -= 1;
                return Poll::Ready(Ok(Some(self.pool.lend(bid, len as usize))));
            }
            if let Received::Spilled(_) = received {
                state.queued_data -= 1;
            }
            return Poll::Ready(Self::deliver_other(received));
        }
        if state.armed.is_none() || state.closed {
            drop(state);
            return self.poll_recv_unarmed(cx);
        }
        match &state.waker {
            Some(w) if w.will_wake(cx.waker()) => {
                state.waiting = true;
                Poll::Pending
            }
            _ => {
                drop(state);
                self.wait_with_new_waker(cx)
            }
        }
    }

    /// What `poll_recv` returns for anything but a pooled buffer.
    #[cold]
    fn deliver_other(received: Received) -> io::Result<Option<PooledBuf>> {
        match received {
            Received::Data(..) => unreachable!("handled by poll_recv"),
            Received::Spilled(bytes) => Ok(Some(PooledBuf::spilled(bytes))),
            Received::Eof => Ok(None),
            Received::Error(errno) => Err(io::Error::from_raw_os_error(errno)),
        }
    }

    /// `poll_recv` with nothing queued and nothing armed: arm (or fail if closed).
    #[cold]
    fn poll_recv_unarmed(
        self: &Rc<Self>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<PooledBuf>>> {
        if self.state.borrow().closed {
            // The stream switched to another pool; this receive is over.
            return Poll::Ready(Err(io::Error::from(io::ErrorKind::NotConnected)));
        }
        let entry = on_fd!(self.fd, |fd| opcode::RecvMulti::new(fd, self.group).build());
        let driver = self.driver.upgrade().unwrap_or_else(context::driver);
        arm(&driver, entry, self.clone(), &self.state, |s| &mut s.armed);
        if !self.state.borrow().queue.is_empty() {
            // It completed while being submitted (the queue was full and flushed).
            return self.poll_recv(cx);
        }
        self.wait_with_new_waker(cx)
    }

    /// Records `cx`'s waker (a receiver's first wait, or a different one) and waits.
    /// A receiver other than the one waiting joins the list of others instead of
    /// displacing it: two receivers that woke each other to take the slot would spin.
    #[cold]
    fn wait_with_new_waker(&self, cx: &mut Context<'_>) -> Poll<io::Result<Option<PooledBuf>>> {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        match &mut state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            Some(_) if state.waiting => {
                let others = state.others.get_or_insert_with(Box::default);
                if !others.iter().any(|w| w.will_wake(cx.waker())) {
                    others.push(cx.waker().clone());
                }
            }
            slot => *slot = Some(cx.waker().clone()),
        }
        state.waiting = true;
        Poll::Pending
    }

    /// The connection is closing: stop the receive and give back queued buffers.
    pub(crate) fn close(&self) {
        let (armed, queued) = {
            let mut state = self.state.borrow_mut();
            state.closed = true;
            state.waker = None;
            state.others = None;
            (state.armed, state.queue.drain_all().collect::<Vec<_>>())
        };
        for received in queued {
            if let Received::Data(bid, _) = received {
                self.pool.give_back(bid);
            }
        }
        if let Some(key) = armed {
            cancel_on(&self.driver, key as usize);
        }
    }
}

impl Multishot for RecvMulti {
    #[inline]
    fn on_completion(&self, result: i32, flags: u32) -> bool {
        // The common case, inline: bytes in a pool buffer, the receive staying armed,
        // open and below its queue limit.
        if let (true, true, Some(bid)) = (
            cqueue::more(flags),
            result > 0,
            cqueue::buffer_select(flags),
        ) {
            let state = self.state.borrow_mut();
            if !state.closed && state.queued_data < RECV_QUEUE_LIMIT {
                if self.pool.taken_by_kernel(bid) {
                    // The pool is low: keep the bytes, give the buffer back.
                    return self.spill(state, bid, result);
                }
                return self.enqueue(state, Received::Data(bid, result as u32));
            }
        }
        self.on_other_completion(result, flags)
    }
}

impl RecvMulti {
    /// Queues what a completion delivered and wakes the receiver; true if the receive
    /// should pause (its queue reached the limit).
    #[inline(always)]
    fn enqueue(&self, mut state: std::cell::RefMut<'_, RecvState>, received: Received) -> bool {
        if let Received::Data(..) | Received::Spilled(_) = received {
            state.queued_data += 1;
        }
        state.queue.push_back(received);
        let pause = state.queued_data >= RECV_QUEUE_LIMIT
            && state.armed.is_some()
            && !std::mem::replace(&mut state.pausing, true);
        self.wake_receiver(state);
        pause
    }

    /// Copies `result` bytes out of buffer `bid` (taken from the ring already), gives
    /// the buffer back and queues the copy.
    #[cold]
    #[inline(never)]
    fn spill(&self, state: std::cell::RefMut<'_, RecvState>, bid: u16, result: i32) -> bool {
        drop(state);
        let bytes = self.pool.copy_out(bid, result as usize);
        let state = self.state.borrow_mut();
        if state.closed {
            return false;
        }
        self.enqueue(state, Received::Spilled(bytes))
    }

    /// `on_completion` past its common case: the receive ending (or pausing), end of
    /// stream, an error, a full queue or a closed receive.
    #[cold]
    #[inline(never)]
    fn on_other_completion(&self, result: i32, flags: u32) -> bool {
        let mut state = self.state.borrow_mut();
        if !cqueue::more(flags) {
            state.armed = None;
            if std::mem::take(&mut state.pausing) && result == -libc::ECANCELED {
                // The pause took effect. A receiver waiting now re-arms.
                return self.wake_receiver(state);
            }
        }
        let received = match cqueue::buffer_select(flags) {
            Some(bid) => {
                let low = self.pool.taken_by_kernel(bid);
                let spill = state.queued_data >= RECV_QUEUE_LIMIT || low;
                if result > 0 && !state.closed && spill {
                    // At the limit (the kernel drained a burst in one go, before the
                    // pause could land), or the pool is nearly dry (connections whose
                    // tasks do not receive must not hold the buffers every other
                    // connection needs): keep the bytes, give the buffer back.
                    return self.spill(state, bid, result);
                } else if result > 0 && !state.closed {
                    Received::Data(bid, result as u32)
                } else {
                    // Nothing to deliver in it (or nobody to deliver to).
                    drop(state);
                    self.pool.give_back(bid);
                    state = self.state.borrow_mut();
                    if result > 0 {
                        return false;
                    }
                    Received::Eof
                }
            }
            None if result == 0 => Received::Eof,
            None if result < 0 => Received::Error(-result),
            None => return false, // A count with no buffer: the kernel posts none.
        };
        if state.closed {
            return false;
        }
        self.enqueue(state, received)
    }
}

impl RecvMulti {
    /// Wakes the waiting receivers, if any; false.
    #[inline]
    fn wake_receiver(&self, mut state: std::cell::RefMut<'_, RecvState>) -> bool {
        if !std::mem::take(&mut state.waiting) {
            return false;
        }
        // By reference: the waker stays for the receiver's next wait. Waking only
        // queues the task (wakers never poll), so the state may stay borrowed.
        if let Some(w) = &state.waker {
            w.wake_by_ref();
        }
        if state.others.is_some() {
            Self::wake_others(state);
        }
        false
    }

    /// Wakes the other receivers (several tasks on one stream: rare).
    #[cold]
    #[inline(never)]
    fn wake_others(mut state: std::cell::RefMut<'_, RecvState>) {
        if let Some(others) = state.others.take() {
            others.into_iter().for_each(Waker::wake);
        }
    }
}

/// The current worker's driver, weakly (none outside a runtime).
pub(super) fn current_driver() -> WeakDriver {
    context::try_with_core(|core| core.driver.downgrade()).unwrap_or_default()
}

/// Cancels multishot slot `key` on `driver`, if it still runs.
pub(super) fn cancel_on(driver: &WeakDriver, key: usize) {
    if let Some(driver) = driver.upgrade() {
        if let Some(mut backend) = driver.try_backend() {
            if let Some(uring) = backend.as_uring() {
                uring.cancel_multishot(key);
            }
        }
    }
}

/// Key of a multishot op being submitted, before its slot key is known.
const ARMING: u32 = u32::MAX;

/// Submits a multishot `entry` for `sink`, recording its slot in `armed(state)`.
///
/// The state is not borrowed while submitting: a full submission queue is flushed and
/// completions reaped on the spot, and this op's own may be among them. If its final
/// completion came already, `armed` was reset and stays so.
pub(super) fn arm<S: Multishot + 'static, T>(
    driver: &DriverHandle,
    entry: squeue::Entry,
    sink: Rc<S>,
    state: &RefCell<T>,
    armed: impl Fn(&mut T) -> &mut Option<u32>,
) {
    *armed(&mut state.borrow_mut()) = Some(ARMING);
    let key = {
        let mut backend = driver.backend();
        let uring = backend
            .as_uring()
            .expect("a multishot operation on a uring backend");
        // Multishot receive, accept and poll entries point at nothing but memory their
        // sink owns (a multishot RECVMSG's `msghdr`); receive buffers come from the
        // group's ring, which the pool keeps while any receive holds an `Rc` to it.
        // SAFETY: so all the kernel sees lives as long as the slot, which keeps the sink.
        unsafe { uring.submit_multishot(entry, sink) }
    };
    let mut state = state.borrow_mut();
    let slot = armed(&mut state);
    if *slot == Some(ARMING) {
        *slot = Some(u32::try_from(key).expect("fewer than 2^32 op slots"));
    }
}

/// The armed multishot accept of one listener.
pub(crate) struct AcceptMulti {
    fd: Fd,
    /// The driver it arms on, and cancels on: the one current when it was made.
    driver: WeakDriver,
    state: RefCell<AcceptState>,
}

struct AcceptState {
    queue: InlineQueue<io::Result<OwnedFd>>,
    /// Connections in `queue`.
    queued: usize,
    armed: Option<u32>,
    waiters: Vec<Waker>,
    /// A pause (cancel) was asked for: its `ECANCELED` ending is no error.
    pausing: bool,
    closed: bool,
}

/// Connections a listener's multishot accept may queue before it is paused (and
/// re-armed once `accept` has taken them): beyond that they wait in the kernel's listen
/// backlog, as they would for a server that does not accept, instead of using fds.
const ACCEPT_QUEUE_LIMIT: usize = 128;

/// Flags of every accepted socket.
const ACCEPT_FLAGS: i32 = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;

impl AcceptMulti {
    pub(crate) fn new(fd: Fd) -> Rc<AcceptMulti> {
        Rc::new(AcceptMulti {
            fd,
            driver: current_driver(),
            state: RefCell::new(AcceptState {
                queue: InlineQueue::new(),
                queued: 0,
                armed: None,
                waiters: Vec::new(),
                pausing: false,
                closed: false,
            }),
        })
    }

    /// The next accepted connection (or accept error), arming the accept if needed.
    pub(crate) fn poll_accept(
        self: &Rc<Self>,
        cx: &mut Context<'_>,
        driver: &DriverHandle,
    ) -> Poll<io::Result<OwnedFd>> {
        let mut state = self.state.borrow_mut();
        if let Some(conn) = state.queue.pop_front() {
            state.queued -= 1;
            return Poll::Ready(conn);
        }
        if state.armed.is_none() {
            let entry = on_fd!(self.fd, |fd| opcode::AcceptMulti::new(fd)
                .flags(ACCEPT_FLAGS)
                .build());
            drop(state);
            arm(driver, entry, self.clone(), &self.state, |s| &mut s.armed);
            state = self.state.borrow_mut();
            if let Some(conn) = state.queue.pop_front() {
                state.queued -= 1;
                return Poll::Ready(conn);
            }
        }
        if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            state.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The listener is closing: stop accepting and close queued connections.
    pub(crate) fn close(&self) {
        let (armed, queued) = {
            let mut state = self.state.borrow_mut();
            state.closed = true;
            state.waiters.clear();
            (state.armed, state.queue.drain_all().collect::<Vec<_>>())
        };
        drop(queued);
        if let Some(key) = armed {
            cancel_on(&self.driver, key as usize);
        }
    }
}

impl Multishot for AcceptMulti {
    fn on_completion(&self, result: i32, flags: u32) -> bool {
        let mut state = self.state.borrow_mut();
        if !cqueue::more(flags) {
            state.armed = None;
            if std::mem::take(&mut state.pausing) && result == -libc::ECANCELED {
                // The pause took effect; an acceptor waiting now re-arms.
                let waiters = std::mem::take(&mut state.waiters);
                drop(state);
                waiters.into_iter().for_each(Waker::wake);
                return false;
            }
        }
        let conn = if result >= 0 {
            // SAFETY: the kernel just created this fd for us and nobody else has it.
            Ok(unsafe { OwnedFd::from_raw_fd(result as RawFd) })
        } else {
            Err(io::Error::from_raw_os_error(-result))
        };
        if state.closed {
            return false; // A connection that arrived too late is closed here.
        }
        state.queue.push_back(conn);
        state.queued += 1;
        let pause = state.queued >= ACCEPT_QUEUE_LIMIT
            && state.armed.is_some()
            && !std::mem::replace(&mut state.pausing, true);
        let waiters = std::mem::take(&mut state.waiters);
        drop(state);
        for w in waiters {
            w.wake();
        }
        pause
    }
}

/// One receive into a buffer taken from a pool's free list: the readiness face of
/// `recv_pooled`, and its io_uring face where the kernel lacks buffer rings.
///
/// On a pipe ([`FdKind::Pipe`]), `read(2)` (IORING_OP_READ). A pipe has no multishot
/// receive; with a pool bound to a buffer ring (`select`), the io_uring face is one
/// READ with IOSQE_BUFFER_SELECT, for which the kernel picks a buffer from the ring only
/// once data has arrived, so a waiting read holds none.
pub(crate) struct RecvPooled {
    fd: Fd,
    pool: Rc<PoolInner>,
    /// The buffer while the kernel may write into it.
    bid: Option<u16>,
    kind: FdKind,
    /// The pool's buffer group, for a READ that selects its buffer from the ring.
    select: Option<u16>,
}

impl RecvPooled {
    /// A pooled receive on an fd of `kind`; `select`: the pool's buffer group, if it is
    /// bound to a ring (pipes only: sockets have their multishot receive).
    pub(crate) fn of_kind(
        fd: Fd,
        pool: Rc<PoolInner>,
        kind: FdKind,
        select: Option<u16>,
    ) -> RecvPooled {
        RecvPooled {
            fd,
            pool,
            bid: None,
            kind,
            select,
        }
    }

    fn no_buffer() -> io::Error {
        io::Error::from_raw_os_error(libc::ENOBUFS)
    }
}

impl Drop for RecvPooled {
    fn drop(&mut self) {
        // Runs only once the kernel is done (the driver's contract for orphans).
        if let Some(bid) = self.bid.take() {
            self.pool.give_back(bid);
        }
    }
}

// SAFETY: the entry points into the pool's buffer `bid`, heap memory the op keeps
// alive (an `Rc` to the pool) and owns (taken from the free list, given back on drop).
// A buffer-select READ carries no pointer: the kernel writes into a buffer of the
// pool's ring, memory the same `Rc` keeps alive, and names it in the completion.
unsafe impl Operation for RecvPooled {
    type Output = io::Result<Option<PooledBuf>>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        if let Some(group) = self.select {
            let len = self.pool.buf_size().min(u32::MAX as usize) as u32;
            return Some(on_fd!(self.fd, |fd| opcode::Read::new(
                fd,
                std::ptr::null_mut(),
                len
            )
            .offset(CURRENT_POSITION)
            .buf_group(group)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT)));
        }
        if self.bid.is_none() {
            self.bid = self.pool.take_free();
        }
        Some(match self.bid {
            Some(bid) => {
                let (ptr, len) = self.pool.raw_buf(bid);
                match self.kind {
                    FdKind::Socket => {
                        on_fd!(self.fd, |fd| opcode::Recv::new(fd, ptr, len as u32).build())
                    }
                    FdKind::Pipe => on_fd!(self.fd, |fd| opcode::Read::new(fd, ptr, len as u32)
                        .offset(CURRENT_POSITION)
                        .build()),
                }
            }
            // No buffer: complete at once; `complete` reports ENOBUFS.
            None => opcode::Nop::new().build(),
        })
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Wait(&self.fd, Interest::Read)
    }

    fn attempt(&mut self) -> io::Result<u32> {
        let bid = self.pool.take_free().ok_or_else(Self::no_buffer)?;
        let (ptr, len) = self.pool.raw_buf(bid);
        // SAFETY: buffer `bid` is `len` writable bytes this op owns until given back.
        let res = match self.kind {
            FdKind::Socket => crate::driver::sys::syscall!(recv(self.fd.raw(), ptr.cast(), len, 0)),
            FdKind::Pipe => crate::driver::sys::syscall!(read(self.fd.raw(), ptr.cast(), len)),
        };
        match res {
            Ok(n) => {
                self.bid = Some(bid);
                Ok(n as u32)
            }
            Err(e) => {
                // Give the buffer back at once: an idle connection holds none.
                self.pool.give_back(bid);
                Err(e)
            }
        }
    }

    fn exhausts(&self, result: u32) -> bool {
        // Pooled receives are on byte streams (stream sockets and pipes) only.
        result > 0 && (result as usize) < self.pool.buf_size()
    }

    fn release_orphan(mut self: Box<Self>, _result: io::Result<u32>, flags: u32) {
        // A buffer the kernel selected for a read nobody will take goes back (one taken
        // from the free list goes back in `Drop`).
        if let Some(bid) = cqueue::buffer_select(flags) {
            self.pool.taken_by_kernel(bid);
            self.bid = Some(bid);
        }
    }

    fn complete(mut self, result: io::Result<u32>, flags: u32) -> Self::Output {
        if let Some(bid) = cqueue::buffer_select(flags) {
            // A READ that selected its buffer from the ring (a pipe on a ring-bound
            // pool): the buffer is ours now, whatever the result.
            self.pool.taken_by_kernel(bid);
            self.bid = Some(bid);
        }
        let n = result?;
        let Some(bid) = self.bid.take() else {
            return Err(Self::no_buffer());
        };
        if n == 0 {
            self.pool.give_back(bid);
            return Ok(None);
        }
        Ok(Some(self.pool.lend(bid, n as usize)))
    }
}

/// One non-blocking `recv(2)` (`read(2)` on a pipe) into a buffer taken from `pool`'s
/// free list, now: `WouldBlock` when there is no data (the buffer goes back), `ENOBUFS`
/// when the pool has no free buffer.
pub(crate) fn try_recv_pooled(
    fd: &Fd,
    pool: &Rc<PoolInner>,
    kind: FdKind,
) -> io::Result<Option<PooledBuf>> {
    let mut op = RecvPooled::of_kind(fd.clone(), pool.clone(), kind, None);
    let result = op.attempt();
    if matches!(&result, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
        return Err(io::Error::from(io::ErrorKind::WouldBlock));
    }
    op.complete(result, 0)
}

#[cfg(test)]
mod size_tests {
    /// Every connection that has received through a pool keeps one of these (in an
    /// `Rc`): at 104 bytes the allocation is 128 with malloc's header, 16 less than the
    /// 112 bytes it was with a word-wide slot key.
    #[test]
    fn per_connection_receive_state_stays_small() {
        assert_eq!(std::mem::size_of::<super::RecvMulti>(), 104);
    }
}
