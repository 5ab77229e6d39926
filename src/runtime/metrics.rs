//! [`metrics`]: a snapshot of the current worker's counts.

use super::context;

/// What the current worker holds right now.
///
/// ```
/// # ringio::run(async {
/// let m = ringio::runtime::metrics();
/// assert_eq!(m.timers, 0);
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Tasks spawned and not yet finished.
    pub alive_tasks: usize,
    /// Timers in the wheel (pending, or fired and not yet collected by their sleep).
    pub timers: usize,
    /// On io_uring: operations the kernel still holds, orphans of dropped futures
    /// included. On epoll: operations waiting for readiness.
    pub ops_in_flight: usize,
    /// io_uring: times an operation found the submission queue full, so the queue was
    /// submitted to make room (never dropped).
    pub sq_full_events: u64,
    /// io_uring: times the kernel held completions that overflowed the completion
    /// queue, and the worker flushed them.
    pub cq_overflows: u64,
}

/// A snapshot of the current worker's counts.
///
/// # Panics
///
/// Outside a ringio runtime.
pub fn metrics() -> Metrics {
    context::with_core(|core| {
        let driver = core.driver.borrow();
        let (sq_full_events, cq_overflows) = driver.queue_events();
        Metrics {
            alive_tasks: core.task_count(),
            timers: core.timers.len(),
            ops_in_flight: driver.in_flight(),
            sq_full_events,
            cq_overflows,
        }
    })
}

/// One trip through the driver: a NOP operation on io_uring, an immediate completion
/// on epoll. It measures the driver's own cost per operation.
///
/// ```
/// # ringio::run(async {
/// ringio::runtime::nop().await.unwrap();
/// # });
/// ```
///
/// # Errors
///
/// Only if the kernel fails the NOP, which it does not.
pub async fn nop() -> std::io::Result<()> {
    crate::driver::Op::new(crate::driver::ops::Nop).await
}
