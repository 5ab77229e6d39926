//! The queue protocol, behind `Queue`, `PriorityQueue`, `LifoQueue` and
//! `shared::Queue`.
//!
//! # Implementation
//!
//! Items in a `VecDeque` (used as a FIFO, a stack, or a binary min-heap), an unfinished
//! count for `task_done`/`join`, a shutdown flag, and three wait lists: getters waiting
//! for an item, putters waiting for room, joiners waiting for the count to reach zero.
//!
//! 1. **Items are never handed to waiters.** A put that adds an item grants the front
//!    getter a *wake-up*, not the item: the item leaves the queue only in the poll
//!    that returns it, so a getter dropped at any point loses nothing. Likewise a get
//!    that frees room grants the front putter a wake-up, and the item enters the queue
//!    only in the poll that returns `Ok`.
//! 2. A woken getter (putter) that finds the item (room) already taken by a newcomer
//!    queues again **at the front**, keeping its place.
//! 3. A woken getter (putter) that is dropped before it runs passes its wake-up to the
//!    next one if there is still an item (room) for it: no wake-up is lost.
//! 4. `shutdown` grants every waiter: putters then fail with their item, getters drain
//!    what is left and then fail. `shutdown(immediate)` also discards the items,
//!    taking them off the unfinished count, which may release the joiners.
//! 5. Joiners are released as an event is set: all at once when the count reaches
//!    zero, whatever is put afterwards.

use super::{StateCell, WaitList, Wakes};
use crate::sync::queue::error::{Shutdown, TaskDoneError, TryGetError, TryPutError};
use std::cmp::Ordering;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Which item `get` takes.
pub(crate) enum Order<T> {
    /// The oldest.
    Fifo,
    /// The newest.
    Lifo,
    /// The least by this comparison (`Ord::cmp`); the items form a binary min-heap.
    Priority(fn(&T, &T) -> Ordering),
}

pub(crate) struct QueueState<T> {
    items: VecDeque<T>,
    order: Order<T>,
    /// The most items held; `usize::MAX` when unbounded.
    capacity: usize,
    /// Items put and not yet marked done by `task_done`.
    unfinished: usize,
    shutdown: bool,
    getters: WaitList<(), ()>,
    putters: WaitList<(), ()>,
    joiners: WaitList<(), ()>,
}

impl<T> QueueState<T> {
    /// A queue of at most `capacity` items (`None`: unbounded).
    pub(crate) fn new(capacity: Option<usize>, order: Order<T>) -> QueueState<T> {
        if let Some(c) = capacity {
            assert!(c > 0, "a bounded queue needs room for at least one item");
        }
        QueueState {
            items: VecDeque::with_capacity(capacity.unwrap_or(0).min(1024)),
            order,
            capacity: capacity.unwrap_or(usize::MAX),
            unfinished: 0,
            shutdown: false,
            getters: WaitList::new(),
            putters: WaitList::new(),
            joiners: WaitList::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        (self.capacity != usize::MAX).then_some(self.capacity)
    }

    pub(crate) fn is_full(&self) -> bool {
        self.items.len() >= self.capacity
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown
    }

    pub(crate) fn unfinished(&self) -> usize {
        self.unfinished
    }

    /// Adds `item` (there is room) and wakes the front getter.
    fn push(&mut self, item: T) -> Option<std::task::Waker> {
        self.items.push_back(item);
        if let Order::Priority(cmp) = self.order {
            sift_up(&mut self.items, cmp);
        }
        self.unfinished += 1;
        self.getters.grant_front(())
    }

    /// Takes the next item, if any, and wakes the front putter.
    fn pop(&mut self) -> Option<(T, Option<std::task::Waker>)> {
        let item = match self.order {
            Order::Fifo => self.items.pop_front()?,
            Order::Lifo => self.items.pop_back()?,
            Order::Priority(cmp) => {
                let last = self.items.len().checked_sub(1)?;
                self.items.swap(0, last);
                let item = self.items.pop_back()?;
                sift_down(&mut self.items, cmp);
                item
            }
        };
        Some((item, self.putters.grant_front(())))
    }

    pub(crate) fn try_put(&mut self, item: T) -> Result<Wakes, TryPutError<T>> {
        if self.shutdown {
            Err(TryPutError::Shutdown(item))
        } else if self.is_full() {
            Err(TryPutError::Full(item))
        } else {
            Ok(Wakes::from_one(self.push(item)))
        }
    }

    pub(crate) fn try_get(&mut self) -> Result<(T, Wakes), TryGetError> {
        match self.pop() {
            Some((item, w)) => Ok((item, Wakes::from_one(w))),
            None if self.shutdown => Err(TryGetError::Shutdown),
            None => Err(TryGetError::Empty),
        }
    }

    pub(crate) fn task_done(&mut self) -> Result<Wakes, TaskDoneError> {
        if self.unfinished == 0 {
            return Err(TaskDoneError(()));
        }
        self.unfinished -= 1;
        let mut wakes = Wakes::new();
        if self.unfinished == 0 {
            self.joiners.grant_all(|_| (), &mut wakes);
        }
        Ok(wakes)
    }

    /// Shuts the queue down (step 4). Returns the discarded items, to be dropped by
    /// the caller once the state is unlocked (their `Drop` is user code).
    pub(crate) fn shutdown(&mut self, immediate: bool) -> (VecDeque<T>, Wakes) {
        self.shutdown = true;
        let mut wakes = Wakes::new();
        let discarded = if immediate {
            let items = std::mem::take(&mut self.items);
            self.unfinished = self.unfinished.saturating_sub(items.len());
            if self.unfinished == 0 {
                self.joiners.grant_all(|_| (), &mut wakes);
            }
            items
        } else {
            VecDeque::new()
        };
        self.getters.grant_all(|_| (), &mut wakes);
        self.putters.grant_all(|_| (), &mut wakes);
        (discarded, wakes)
    }

    /// A put's poll: adds the item if there is room, fails with it after shutdown,
    /// else leaves it in `item` and queues.
    fn poll_put(
        &mut self,
        key: &mut Option<usize>,
        item: &mut Option<T>,
        cx: &Context<'_>,
    ) -> Poll<(Result<(), Shutdown<T>>, Wakes)> {
        if self.shutdown || !self.is_full() {
            // Granted or not (a spurious poll may find room), we leave the list.
            if let Some(k) = key.take() {
                self.putters.remove(k);
            }
            let item = item.take().expect("Put polled after completion");
            if self.shutdown {
                return Poll::Ready((Err(Shutdown(item)), Wakes::new()));
            }
            let w = self.push(item);
            return Poll::Ready((Ok(()), Wakes::from_one(w)));
        }
        self.park(key, Side::Put, cx);
        Poll::Pending
    }

    /// A get's poll: takes an item if there is one, fails after shutdown, else queues.
    fn poll_get(
        &mut self,
        key: &mut Option<usize>,
        cx: &Context<'_>,
    ) -> Poll<(Result<T, Shutdown>, Wakes)> {
        if let Some((item, w)) = self.pop() {
            if let Some(k) = key.take() {
                self.getters.remove(k);
            }
            return Poll::Ready((Ok(item), Wakes::from_one(w)));
        }
        if self.shutdown {
            if let Some(k) = key.take() {
                self.getters.remove(k);
            }
            return Poll::Ready((Err(Shutdown(())), Wakes::new()));
        }
        self.park(key, Side::Get, cx);
        Poll::Pending
    }

    /// A join's poll (step 5).
    fn poll_join(&mut self, key: &mut Option<usize>, cx: &Context<'_>) -> Poll<()> {
        let done = match *key {
            None => self.unfinished == 0,
            Some(k) => self.joiners.check(k, cx.waker()).is_some(),
        };
        if done {
            *key = None;
            Poll::Ready(())
        } else {
            if key.is_none() {
                *key = Some(self.joiners.push_back((), cx.waker()));
            }
            Poll::Pending
        }
    }

    /// Queues the waiter (step 2: at the front if it had been woken).
    fn park(&mut self, key: &mut Option<usize>, side: Side, cx: &Context<'_>) {
        let list = match side {
            Side::Get => &mut self.getters,
            Side::Put => &mut self.putters,
        };
        match *key {
            None => *key = Some(list.push_back((), cx.waker())),
            Some(k) if list.is_granted(k) => list.requeue_front(k, (), cx.waker()),
            Some(k) => {
                let _ = list.check(k, cx.waker());
            }
        }
    }

    /// A dropped getter (putter) passes a wake-up it will not use on (step 3).
    fn cancel(&mut self, key: usize, side: Side) -> Wakes {
        let (list, available) = match side {
            Side::Get => (&mut self.getters, !self.items.is_empty()),
            Side::Put => (&mut self.putters, self.items.len() < self.capacity),
        };
        let woken = list.remove(key).is_some();
        if woken && available && !self.shutdown {
            Wakes::from_one(list.grant_front(()))
        } else {
            Wakes::new()
        }
    }
}

#[derive(Clone, Copy)]
enum Side {
    Get,
    Put,
}

/// Restores the heap after a push at the back.
fn sift_up<T>(items: &mut VecDeque<T>, cmp: fn(&T, &T) -> Ordering) {
    let mut i = items.len() - 1;
    while i > 0 {
        let parent = (i - 1) / 2;
        if cmp(&items[i], &items[parent]) == Ordering::Less {
            items.swap(i, parent);
            i = parent;
        } else {
            break;
        }
    }
}

/// Restores the heap after the root was replaced.
fn sift_down<T>(items: &mut VecDeque<T>, cmp: fn(&T, &T) -> Ordering) {
    let len = items.len();
    let mut i = 0;
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut least = i;
        if l < len && cmp(&items[l], &items[least]) == Ordering::Less {
            least = l;
        }
        if r < len && cmp(&items[r], &items[least]) == Ordering::Less {
            least = r;
        }
        if least == i {
            break;
        }
        items.swap(i, least);
        i = least;
    }
}

/// Puts an item, waiting for room (step 1, 2, 3).
pub(crate) struct PutOp<'a, T, C: StateCell<QueueState<T>>> {
    cell: &'a C,
    item: Option<T>,
    key: Option<usize>,
}

impl<'a, T, C: StateCell<QueueState<T>>> PutOp<'a, T, C> {
    pub(crate) fn new(cell: &'a C, item: T) -> PutOp<'a, T, C> {
        PutOp {
            cell,
            item: Some(item),
            key: None,
        }
    }
}

impl<T, C: StateCell<QueueState<T>>> Unpin for PutOp<'_, T, C> {}

impl<T, C: StateCell<QueueState<T>>> Future for PutOp<'_, T, C> {
    type Output = Result<(), Shutdown<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (key, item) = (&mut this.key, &mut this.item);
        match this.cell.with(|st| st.poll_put(key, item, cx)) {
            Poll::Ready((res, wakes)) => {
                wakes.wake();
                Poll::Ready(res)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, C: StateCell<QueueState<T>>> Drop for PutOp<'_, T, C> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.cell.with(|st| st.cancel(key, Side::Put)).wake();
        }
        // The unsent item, if any, is dropped with `self.item`, outside the state.
    }
}

/// Gets an item, waiting for one (step 1, 2, 3).
pub(crate) struct GetOp<'a, T, C: StateCell<QueueState<T>>> {
    cell: &'a C,
    key: Option<usize>,
    _item: std::marker::PhantomData<fn() -> T>,
}

impl<'a, T, C: StateCell<QueueState<T>>> GetOp<'a, T, C> {
    pub(crate) fn new(cell: &'a C) -> GetOp<'a, T, C> {
        GetOp {
            cell,
            key: None,
            _item: std::marker::PhantomData,
        }
    }
}

impl<T, C: StateCell<QueueState<T>>> Future for GetOp<'_, T, C> {
    type Output = Result<T, Shutdown>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let key = &mut this.key;
        match this.cell.with(|st| st.poll_get(key, cx)) {
            Poll::Ready((res, wakes)) => {
                wakes.wake();
                Poll::Ready(res)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, C: StateCell<QueueState<T>>> Drop for GetOp<'_, T, C> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.cell.with(|st| st.cancel(key, Side::Get)).wake();
        }
    }
}

/// Waits until every item put has been marked done (step 5).
pub(crate) struct JoinOp<'a, T, C: StateCell<QueueState<T>>> {
    cell: &'a C,
    key: Option<usize>,
    _item: std::marker::PhantomData<fn() -> T>,
}

impl<'a, T, C: StateCell<QueueState<T>>> JoinOp<'a, T, C> {
    pub(crate) fn new(cell: &'a C) -> JoinOp<'a, T, C> {
        JoinOp {
            cell,
            key: None,
            _item: std::marker::PhantomData,
        }
    }
}

impl<T, C: StateCell<QueueState<T>>> Future for JoinOp<'_, T, C> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let key = &mut this.key;
        this.cell.with(|st| st.poll_join(key, cx))
    }
}

impl<T, C: StateCell<QueueState<T>>> Drop for JoinOp<'_, T, C> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.cell.with(|st| st.joiners.remove(key));
        }
    }
}
