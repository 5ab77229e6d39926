//! What a stream socket and a UDP socket share about receiving into a [`BufPool`]: the
//! multishot receive kept per socket (made on first use, replaced when the socket is
//! used with another pool) and the choice of how a pooled receive runs on this worker.

use crate::buf::{BufPool, PoolMode};
use crate::driver::ops::MultiReceive;
use crate::runtime::context;
use std::cell::RefCell;
use std::io;
use std::rc::Rc;

/// How a pooled receive runs on the current worker.
pub(crate) enum PoolPath {
    /// io_uring with buffer rings: the socket's multishot receive on buffer group `.0`.
    Ring(u16),
    /// io_uring without buffer rings: a receive armed in the kernel would hold its
    /// buffer while it waits, so wait for readiness first, then receive.
    PollThenReceive,
    /// epoll: one receive into a free-list buffer, retried on readiness.
    FreeList,
}

/// Binds `pool` to the current worker (on first use) and says how to receive from it.
///
/// # Errors
///
/// If the pool belongs to another worker, or its ring cannot be registered.
pub(crate) fn pool_path(pool: &BufPool) -> io::Result<PoolPath> {
    let driver = context::driver();
    Ok(match pool.inner().bind(&driver)? {
        PoolMode::Ring(group) => PoolPath::Ring(group),
        PoolMode::FreeList if driver.backend_ref().is_uring() => PoolPath::PollThenReceive,
        PoolMode::FreeList => PoolPath::FreeList,
    })
}

/// A socket's multishot receive (`RecvMulti` or `DatagramMulti`), if it has one.
pub(crate) struct MultiSlot<M: MultiReceive>(RefCell<Option<Rc<M>>>);

impl<M: MultiReceive> MultiSlot<M> {
    pub(crate) fn new() -> MultiSlot<M> {
        MultiSlot(RefCell::new(None))
    }

    /// The receive on `pool`, if it exists already (the hot path).
    #[inline]
    pub(crate) fn on(&self, pool: &BufPool) -> Option<Rc<M>> {
        match &*self.0.borrow() {
            Some(multi) if multi.uses(pool.inner()) => Some(multi.clone()),
            _ => None,
        }
    }

    /// The receive on `pool`, if it exists already (the hot path), borrowed where the
    /// socket keeps it: no reference is taken. Hold the borrow only to poll it: only
    /// [`get_or_make`](MultiSlot::get_or_make) and the socket's drop change the slot,
    /// and neither runs inside a receive's poll.
    #[inline(always)]
    pub(crate) fn find(&self, pool: &BufPool) -> Option<std::cell::Ref<'_, Rc<M>>> {
        std::cell::Ref::filter_map(self.0.borrow(), |slot| {
            slot.as_ref().filter(|multi| multi.uses(pool.inner()))
        })
        .ok()
    }

    /// The receive on `pool`, made with `make` on first use. A receive on another pool
    /// is closed first, unless it still holds data: then `InvalidInput` (`what` names
    /// the call in the message).
    pub(crate) fn get_or_make(
        &self,
        pool: &BufPool,
        what: &str,
        make: impl FnOnce() -> Rc<M>,
    ) -> io::Result<Rc<M>> {
        let mut slot = self.0.borrow_mut();
        if let Some(multi) = &*slot {
            if multi.uses(pool.inner()) {
                return Ok(multi.clone());
            }
            if !multi.is_idle() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{what}: another pool's receive still holds data for this socket"),
                ));
            }
            multi.close();
        }
        let multi = make();
        *slot = Some(multi.clone());
        Ok(multi)
    }
}

impl<M: MultiReceive> Drop for MultiSlot<M> {
    /// The socket is closing: stop its receive and give back what it queued.
    fn drop(&mut self) {
        if let Some(multi) = self.0.get_mut().take() {
            multi.close();
        }
    }
}
