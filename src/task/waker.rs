//! The waker of the future given to `block_on`. Task wakers are raw wakers made by
//! the task cell (`raw.rs`).

use crate::runtime::context;
use crate::runtime::worker::Shared;
use std::sync::Arc;
use std::task::Wake;

/// The waker of the future passed to `block_on`.
pub(crate) struct MainWaker {
    pub(crate) shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let local = context::try_with_core(|core| Arc::ptr_eq(&core.shared, &self.shared));
        self.shared.wake_main(local == Some(true));
    }
}
