//! Where the runtime's own reports go: with the `tracing` feature and a subscriber in
//! place, `tracing` events (target `ringio`, with fields a subscriber can filter on);
//! otherwise a line on standard error.

use super::debug::{DebugEvent, PanicReport};
use std::fmt;

/// Whether a `tracing` subscriber will take the event (feature `tracing` only).
#[cfg(feature = "tracing")]
fn has_subscriber() -> bool {
    tracing::dispatcher::get_default(|d| !d.is::<tracing::subscriber::NoSubscriber>())
}

/// Something a person running the program should see (a leak at shutdown, a server
/// that could not start).
pub(crate) fn warn(message: fmt::Arguments<'_>) {
    #[cfg(feature = "tracing")]
    if has_subscriber() {
        tracing::warn!(target: "ringio", "{message}");
        return;
    }
    eprintln!("ringio: {message}");
}

/// The default exception handler: a panic nobody will see otherwise.
pub(crate) fn panic(report: &PanicReport) {
    #[cfg(feature = "tracing")]
    if has_subscriber() {
        tracing::error!(
            target: "ringio",
            kind = ?report.kind,
            task_id = report.task.id().as_u64(),
            task_name = report.task.name(),
            spawned_at = %report.task.location(),
            panic = %report.message,
            "{report}"
        );
        return;
    }
    eprintln!("ringio: {report}");
}

/// The default debug handler: what debug mode noticed.
pub(crate) fn debug_event(event: &DebugEvent) {
    #[cfg(feature = "tracing")]
    if has_subscriber() {
        match event {
            DebugEvent::SlowPoll { task, took } => tracing::warn!(
                target: "ringio",
                task_id = task.id().as_u64(),
                task_name = task.name(),
                spawned_at = %task.location(),
                took_ms = took.as_secs_f64() * 1e3,
                "{event}"
            ),
            DebugEvent::StalledWorker {
                worker,
                task,
                stalled_for,
            } => tracing::warn!(
                target: "ringio",
                worker = *worker,
                task_id = task.as_ref().map(|t| t.id().as_u64()),
                task_name = task.as_ref().and_then(|t| t.name()),
                stalled_ms = stalled_for.as_secs_f64() * 1e3,
                "{event}"
            ),
        }
        return;
    }
    eprintln!("ringio: {event}");
}

/// The driver a runtime chose, when `Auto` had to fall back to epoll (an event only:
/// without the `tracing` feature this is `Runtime::driver_info`'s to tell).
pub(crate) fn driver_fallback(_reason: &str) {
    #[cfg(feature = "tracing")]
    tracing::info!(target: "ringio", reason = _reason, "io_uring unavailable; running on epoll");
}
