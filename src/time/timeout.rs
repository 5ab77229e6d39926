//! [`timeout`] and [`timeout_at`]: bound a future by a deadline.

use super::{sleep_until, Elapsed, Instant};
use std::future::{Future, IntoFuture};
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

/// Runs `fut` for at most `duration`; on expiry drops it and returns [`Elapsed`].
///
/// The future is polled before the deadline is checked, so one that is ready at once
/// returns `Ok` even with a zero duration.
///
/// ```
/// # ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
/// use ringio::time::{sleep, timeout};
/// use std::time::Duration;
/// assert_eq!(timeout(Duration::from_secs(1), async { 7 }).await, Ok(7));
/// assert!(timeout(Duration::from_secs(1), sleep(Duration::from_secs(2))).await.is_err());
/// # });
/// ```
///
/// # Cancel safety
///
/// As cancel-safe as `fut`: on expiry, or when the timeout itself is dropped, `fut` is
/// dropped.
pub async fn timeout<F: IntoFuture>(duration: Duration, fut: F) -> Result<F::Output, Elapsed> {
    let deadline = Instant::now()
        .checked_add(duration)
        .unwrap_or_else(Instant::far_future);
    timeout_at(deadline, fut).await
}

/// Runs `fut` until `deadline`; on expiry drops it and returns [`Elapsed`].
///
/// ```
/// # ringio::Builder::new().start_paused(true).build().unwrap().block_on(async {
/// use ringio::time::{timeout_at, Instant};
/// use std::time::Duration;
/// let at = Instant::now() + Duration::from_millis(10);
/// assert!(timeout_at(at, std::future::pending::<()>()).await.is_err());
/// # });
/// ```
pub async fn timeout_at<F: IntoFuture>(deadline: Instant, fut: F) -> Result<F::Output, Elapsed> {
    let mut fut = pin!(fut.into_future());
    let mut sleep = sleep_until(deadline);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        Pin::new(&mut sleep).poll(cx).map(|()| Err(Elapsed(())))
    })
    .await
}
