//! [`StreamWriter`]: asyncio's `StreamWriter` over owned-buffer sends.
//!
//! # Implementation
//!
//! `write` appends to the writer's buffer and at once hands what it can to the kernel:
//! one send at a time is in flight, owned by the writer (not by any call's future), with
//! the whole buffer as its payload. The send is started by polling it once with a no-op
//! waker, which submits it on io_uring (the kernel then sends without anyone polling)
//! and tries it at once on epoll. `drain`, `flush` and `write_all` poll the same send
//! with their task's waker until the buffer is down to the low-water mark (or empty),
//! starting the next send as each one completes; a short send puts its unsent tail back
//! in front of the buffer. Dropping any of those futures loses no byte: the bytes are in
//! the buffer or in the writer's send. An error from a send is kept and returned by
//! every later call: the connection is lost.

use super::{AsyncWriteOwned, ShutdownWrite};
use crate::buf::BufResult;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

/// asyncio's default high-water mark: 64 KiB.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;
/// asyncio's default low-water mark: 16 KiB.
pub const DEFAULT_LOW_WATER: usize = 16 * 1024;

/// The send in flight: the writer's own, so a dropped `drain` loses nothing.
type InFlight = Pin<Box<dyn Future<Output = BufResult<usize, Vec<u8>>>>>;

/// Buffered writing to a byte stream, with asyncio's `StreamWriter` calls: `write`
/// (buffers, and starts sending at once), `drain` (waits while the buffer is above the
/// high-water mark, until it is down to the low one), `write_all`, `flush`,
/// `shutdown_write`, `close` and `wait_closed`.
///
/// ```
/// # ringio::run(async {
/// use ringio::io::{AsyncReadOwned, StreamWriter};
/// use ringio::net::{TcpListener, TcpStream};
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
/// let (server, _) = listener.accept().await.unwrap();
/// let mut writer = StreamWriter::new(client);
/// writer.write(b"hello ").unwrap();
/// writer.write(b"world").unwrap();
/// writer.drain().await.unwrap(); // below the high-water mark: returns at once
/// writer.close();
/// writer.wait_closed().await.unwrap(); // every byte sent, then FIN
/// let (res, got) = server.read_exact(vec![0u8; 11]).await;
/// res.unwrap();
/// assert_eq!(&got, b"hello world");
/// # });
/// ```
pub struct StreamWriter<W> {
    sink: Rc<W>,
    /// Bytes written and not yet handed to a send.
    buf: Vec<u8>,
    /// The send in flight and how many bytes it carries.
    in_flight: Option<InFlight>,
    in_flight_len: usize,
    high: usize,
    low: usize,
    /// `close` or `shutdown_write` was called: writes are refused.
    closed: bool,
    /// The write direction has been shut down.
    shut: bool,
    /// The error that ended the connection: (kind, message), repeated to every call.
    error: Option<(io::ErrorKind, String)>,
}

impl<W: fmt::Debug> fmt::Debug for StreamWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("sink", &self.sink)
            .field("buffered", &(self.buf.len() + self.in_flight_len))
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<W: AsyncWriteOwned + ShutdownWrite + 'static> StreamWriter<W> {
    /// A writer to `sink` with asyncio's water marks (64 KiB high, 16 KiB low).
    pub fn new(sink: W) -> StreamWriter<W> {
        StreamWriter {
            sink: Rc::new(sink),
            buf: Vec::new(),
            in_flight: None,
            in_flight_len: 0,
            high: DEFAULT_HIGH_WATER,
            low: DEFAULT_LOW_WATER,
            closed: false,
            shut: false,
            error: None,
        }
    }

    /// The sink, borrowed (for socket options and addresses).
    pub fn get_ref(&self) -> &W {
        &self.sink
    }

    /// The peer's address (asyncio's `get_extra_info("peername")`), for a writer to
    /// any stream that has one: TCP and Unix streams and their write halves.
    ///
    /// # Errors
    ///
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<W::Addr>
    where
        W: super::PeerAddr,
    {
        self.sink.peer_addr()
    }

    /// Sets the water marks: `drain` waits while more than `high` bytes are unsent,
    /// until at most `low` are.
    ///
    /// # Panics
    ///
    /// If `low > high`.
    pub fn set_write_buffer_limits(&mut self, high: usize, low: usize) {
        assert!(
            low <= high,
            "set_write_buffer_limits: low ({low}) above high ({high})"
        );
        self.high = high;
        self.low = low;
    }

    /// Bytes written and not yet completed by the kernel (asyncio's
    /// `get_write_buffer_size`).
    pub fn write_buffer_size(&self) -> usize {
        self.buf.len() + self.in_flight_len
    }

    fn lost(&self) -> Option<io::Error> {
        self.error
            .as_ref()
            .map(|(kind, msg)| io::Error::new(*kind, msg.clone()))
    }

    /// Buffers `data` and starts sending it. Never waits: await
    /// [`drain`](StreamWriter::drain) now and then so the buffer cannot grow without
    /// bound.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` after [`close`](StreamWriter::close) or
    /// [`shutdown_write`](StreamWriter::shutdown_write); the connection's error once a
    /// send has failed (a reset, say).
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if let Some(e) = self.lost() {
            return Err(e);
        }
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "StreamWriter: write after close",
            ));
        }
        self.buf.extend_from_slice(data);
        self.kick();
        Ok(())
    }

    /// Each of `chunks`, as [`write`](StreamWriter::write) (asyncio's `writelines`).
    ///
    /// # Errors
    ///
    /// As [`write`](StreamWriter::write).
    pub fn writelines<'a>(&mut self, chunks: impl IntoIterator<Item = &'a [u8]>) -> io::Result<()> {
        for chunk in chunks {
            self.write(chunk)?;
        }
        Ok(())
    }

    /// Moves the sending along without waiting: the kernel gets the buffer now rather
    /// than at the next `drain`.
    fn kick(&mut self) {
        let mut cx = Context::from_waker(noop_waker());
        let _ = self.poll_send(&mut cx);
    }

    /// Drives the sends: collects the one in flight when it completes and starts the
    /// next, until one is pending or nothing is left. Ready when nothing is left to send.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if let Some(e) = self.lost() {
                return Poll::Ready(Err(e));
            }
            if let Some(send) = self.in_flight.as_mut() {
                let Poll::Ready((res, mut sent)) = send.as_mut().poll(cx) else {
                    return Poll::Pending;
                };
                self.in_flight = None;
                self.in_flight_len = 0;
                match res {
                    Ok(n) if n < sent.len() => {
                        // A short send: its tail goes out before anything written since.
                        sent.drain(..n);
                        sent.extend_from_slice(&self.buf);
                        self.buf = sent;
                    }
                    Ok(_) => {
                        if self.buf.is_empty() {
                            // Keep the allocation for the next batch.
                            sent.clear();
                            self.buf = sent;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                        sent.extend_from_slice(&self.buf);
                        self.buf = sent;
                    }
                    Err(e) => {
                        self.error = Some((e.kind(), e.to_string()));
                        return Poll::Ready(Err(e));
                    }
                }
            }
            if self.buf.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let batch = std::mem::take(&mut self.buf);
            self.in_flight_len = batch.len();
            let sink = self.sink.clone();
            self.in_flight = Some(Box::pin(async move { sink.write(batch).await }));
        }
    }

    /// Waits until at most `limit` bytes are unsent.
    fn poll_down_to(&mut self, limit: usize, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if let Some(e) = self.lost() {
                return Poll::Ready(Err(e));
            }
            if self.write_buffer_size() <= limit {
                return Poll::Ready(Ok(()));
            }
            match self.poll_send(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    return if self.write_buffer_size() <= limit {
                        Poll::Ready(Ok(()))
                    } else {
                        Poll::Pending
                    };
                }
            }
        }
    }

    /// Flow control: returns at once while at most the high-water mark is unsent;
    /// above it, waits until the kernel has taken enough to leave at most the low-water
    /// mark.
    ///
    /// # Errors
    ///
    /// The connection's error, if a send failed (`ConnectionReset`, `BrokenPipe`).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: unsent bytes stay in the writer.
    pub async fn drain(&mut self) -> io::Result<()> {
        self.kick();
        if let Some(e) = self.lost() {
            return Err(e);
        }
        if self.write_buffer_size() <= self.high {
            return Ok(());
        }
        let low = self.low;
        poll_fn(|cx| self.poll_down_to(low, cx)).await
    }

    /// Waits until every byte written has been taken by the kernel.
    ///
    /// # Errors
    ///
    /// The connection's error, if a send failed.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: unsent bytes stay in the writer.
    pub async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_down_to(0, cx)).await
    }

    /// [`write`](StreamWriter::write) and then [`flush`](StreamWriter::flush): the
    /// call to use when each message must be on its way before going on.
    ///
    /// # Errors
    ///
    /// As `write` and `flush`.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the bytes are in the writer once the call starts, and go out with
    /// the next flush whatever happens to this future.
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.write(data)?;
        self.flush().await
    }

    /// Refuses further writes; what is buffered still goes out with
    /// [`wait_closed`](StreamWriter::wait_closed), which also shuts the write direction.
    pub fn close(&mut self) {
        self.closed = true;
        self.kick();
    }

    /// Whether [`close`](StreamWriter::close) or `shutdown_write` was called.
    pub fn is_closing(&self) -> bool {
        self.closed
    }

    /// After [`close`](StreamWriter::close): sends everything buffered, then shuts the
    /// write direction down (the peer reads end of stream).
    ///
    /// # Errors
    ///
    /// The connection's error, if a send failed, or the shutdown's.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: call it again to finish.
    pub async fn wait_closed(&mut self) -> io::Result<()> {
        self.closed = true;
        self.flush().await?;
        if !self.shut {
            self.sink.shutdown_write().await?;
            self.shut = true;
        }
        Ok(())
    }

    /// Sends everything buffered, then half-closes: the peer reads end of stream, and
    /// the other direction keeps working (asyncio's `write_eof`). Later writes are
    /// refused.
    ///
    /// # Errors
    ///
    /// As [`wait_closed`](StreamWriter::wait_closed).
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        self.wait_closed().await
    }
}

/// A waker that does nothing, for starting a send from the synchronous `write` (the
/// crate supports Rust 1.80, before `Waker::noop`). Made once per process.
fn noop_waker() -> &'static Waker {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    static NOOP: OnceLock<Waker> = OnceLock::new();
    NOOP.get_or_init(|| Waker::from(Arc::new(Noop)))
}
