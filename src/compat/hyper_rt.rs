//! hyper 1.x on ringio: `hyper::rt::{Read, Write}` for [`Compat`], [`HyperExecutor`]
//! and [`HyperTimer`].

use super::Compat;
use crate::io::{AsyncWriteOwned, PooledRead, ShutdownWrite};
use crate::time::Instant;
use slab::Slab;
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

impl<S> hyper::rt::Read for Compat<S>
where
    S: PooledRead + AsyncWriteOwned + ShutdownWrite + 'static,
{
    /// Copies received bytes straight into hyper's (maybe uninitialised) buffer: the
    /// one copy of the [module docs](super).
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let room = buf.remaining();
        if room == 0 {
            return Poll::Ready(Ok(()));
        }
        let unread = ready!(this.poll_unread(cx))?;
        let n = room.min(unread.len());
        buf.put_slice(&unread[..n]);
        this.consume(n);
        Poll::Ready(Ok(()))
    }
}

impl<S> hyper::rt::Write for Compat<S>
where
    S: PooledRead + AsyncWriteOwned + ShutdownWrite + 'static,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_from(cx, buf)
    }

    /// Gathers the slices into one owned buffer and sends it in one operation.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_gather(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// Waits for the send in flight, if any (nothing is buffered beyond it).
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_writes(cx)
    }

    /// Flushes, then shuts the write direction down (a FIN for a socket).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_shutdown_writes(cx)
    }
}

/// hyper's executor on ringio: [`execute`](hyper::rt::Executor::execute) spawns the
/// future as a task on the current worker ([`crate::spawn`]), detached. The futures
/// need not be `Send`, so hyper's HTTP/2 server and client (which spawn one task per
/// stream and one per connection) run here with `!Send` bodies and services.
///
/// # Panics
///
/// `execute` panics outside a ringio runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperExecutor;

impl<F> hyper::rt::Executor<F> for HyperExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, fut: F) {
        drop(crate::spawn(fut));
    }
}

/// hyper's timer on the worker's timer wheel (header read timeouts, HTTP/2 keep-alive
/// pings), on the runtime's clock (a paused clock included).
///
/// hyper wants its sleeps `Send + Sync`, while a ringio timer belongs to its worker:
/// a [`HyperSleep`] is a key into a per-thread table of [`Sleep`](crate::time::Sleep)s,
/// so it is `Send + Sync` with no lock on its path. `reset` moves the deadline of the
/// same wheel entry (O(1), no allocation), and dropping it removes the entry from the
/// wheel at once. A `HyperSleep` polled or dropped on another thread (hyper never does
/// that on ringio, where tasks stay on their worker) still works: it re-registers on
/// the new thread, and its old entry is released by its home thread the next time
/// that thread makes a sleep.
///
/// A keep-alive HTTP/1.1 server with a header read timeout, and a client:
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use hyper::{body::Incoming, Request, Response};
/// use ringio::compat::{Compat, HyperExecutor, HyperTimer};
/// use ringio::net::{TcpListener, TcpStream};
/// use std::time::Duration;
///
/// ringio::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     ringio::spawn(async move {
///         let (conn, _) = listener.accept().await.unwrap();
///         let service = hyper::service::service_fn(|_req: Request<Incoming>| async {
///             Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello"))))
///         });
///         hyper::server::conn::http1::Builder::new()
///             .timer(HyperTimer)
///             .header_read_timeout(Duration::from_secs(5))
///             .serve_connection(Compat::new(conn), service)
///             .await
///             .unwrap();
///     });
///     let io = Compat::new(TcpStream::connect(addr).await.unwrap());
///     let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
///     hyper::rt::Executor::execute(&HyperExecutor, conn);
///     let req = Request::get("/").body(Full::new(Bytes::new())).unwrap();
///     let body = sender.send_request(req).await.unwrap().into_body();
///     assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperTimer;

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let deadline = Instant::now()
            .checked_add(duration)
            .unwrap_or_else(Instant::far_future);
        Box::pin(HyperSleep::new(deadline))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep::new(Instant::from_std(deadline)))
    }

    /// The runtime's clock (which may be paused).
    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: std::time::Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(ours) => ours.get_mut().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// The sleep of [`HyperTimer`]: `Send + Sync`, its timer on the wheel of the thread
/// that made it.
///
/// # Cancel safety
///
/// Dropping it removes its timer from the wheel (at once on its own thread).
#[must_use = "a sleep does nothing unless awaited"]
#[derive(Debug)]
pub struct HyperSleep {
    /// The table its timer is in.
    home: Arc<Home>,
    key: usize,
    deadline: Instant,
}

/// What other threads may see of a thread's table: where to leave the keys of sleeps
/// dropped away from home.
#[derive(Debug, Default)]
struct Home {
    has_orphans: AtomicBool,
    orphans: Mutex<Vec<usize>>,
}

/// A thread's sleeps.
struct Table {
    home: Arc<Home>,
    sleeps: RefCell<Slab<crate::time::Sleep>>,
}

thread_local! {
    static TABLE: Table = Table {
        home: Arc::new(Home::default()),
        sleeps: RefCell::new(Slab::new()),
    };
}

impl Table {
    /// Registers a sleep until `deadline` here (releasing orphans first).
    fn insert(&self, deadline: Instant) -> usize {
        let released = if self.home.has_orphans.swap(false, Ordering::Acquire) {
            let keys =
                std::mem::take(&mut *self.home.orphans.lock().unwrap_or_else(|e| e.into_inner()));
            let mut sleeps = self.sleeps.borrow_mut();
            keys.into_iter()
                .filter_map(|key| sleeps.try_remove(key))
                .collect()
        } else {
            Vec::new()
        };
        // Their timers leave the wheel outside the table's borrow.
        drop(released);
        self.sleeps
            .borrow_mut()
            .insert(crate::time::sleep_until(deadline))
    }
}

impl HyperSleep {
    fn new(deadline: Instant) -> HyperSleep {
        TABLE.with(|table| HyperSleep {
            home: table.home.clone(),
            key: table.insert(deadline),
            deadline,
        })
    }

    /// When it ends.
    pub fn deadline(&self) -> std::time::Instant {
        self.deadline.into_std()
    }

    /// Moves the deadline of the same timer entry, re-arming it even if it had ended.
    pub fn reset(&mut self, deadline: std::time::Instant) {
        let deadline = Instant::from_std(deadline);
        self.deadline = deadline;
        TABLE.with(|table| {
            if Arc::ptr_eq(&table.home, &self.home) {
                if let Some(sleep) = table.sleeps.borrow_mut().get_mut(self.key) {
                    sleep.reset(deadline);
                }
            } else {
                self.move_to(table);
            }
        });
    }

    /// Re-registers on `table`'s thread, leaving the old entry to its home to release.
    fn move_to(&mut self, table: &Table) {
        self.leave_home();
        self.home = table.home.clone();
        self.key = table.insert(self.deadline);
    }

    /// Hands the entry to its home thread's orphans.
    fn leave_home(&self) {
        self.home
            .orphans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.key);
        self.home.has_orphans.store(true, Ordering::Release);
    }
}

impl Future for HyperSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        TABLE.with(|table| {
            if !Arc::ptr_eq(&table.home, &this.home) {
                this.move_to(table);
            }
            let mut sleeps = table.sleeps.borrow_mut();
            match sleeps.get_mut(this.key) {
                Some(sleep) => Pin::new(sleep).poll(cx),
                // Not reachable: the entry lives as long as this.
                None => Poll::Ready(()),
            }
        })
    }
}

impl hyper::rt::Sleep for HyperSleep {}

impl Drop for HyperSleep {
    fn drop(&mut self) {
        // During the thread's teardown the table is gone, and its timers with it.
        let _ = TABLE.try_with(|table| {
            if Arc::ptr_eq(&table.home, &self.home) {
                let removed = table.sleeps.borrow_mut().try_remove(self.key);
                // The timer leaves the wheel outside the table's borrow.
                drop(removed);
            } else {
                self.leave_home();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn sleep_is_send_and_sync() {
        assert_send_sync::<HyperSleep>();
        assert_send_sync::<HyperTimer>();
    }
}
