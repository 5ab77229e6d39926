//! [`StreamWriter`]: asyncio's `StreamWriter` over owned-buffer sends.
//!
//! # Implementation
//!
//! `write` appends to a buffer shared with a send task and returns. The task (spawned
//! when there is something to send and none runs, ending when the buffer is empty)
//! sends the whole buffer as one owned-buffer write, puts a short write's tail back in
//! front, and goes on while bytes remain: bytes written are sent in the background, as
//! asyncio's transport does, whether or not anybody awaits the writer. `drain`,
//! `flush` and `wait_closed` only wait for the task's progress (it wakes them after
//! each send), so dropping any of them loses no byte. A send's error is kept and
//! returned by every later call. Dropping the writer lets the task finish sending what
//! was written; then the sink goes too (for an owned write half, a FIN).

use super::{AsyncWriteOwned, ShutdownWrite};
use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// asyncio's default high-water mark: 64 KiB.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;
/// asyncio's default low-water mark: 16 KiB.
pub const DEFAULT_LOW_WATER: usize = 16 * 1024;

/// What the writer and its send task share.
#[derive(Default)]
struct Sending {
    /// Bytes written and not yet handed to a send.
    buf: Vec<u8>,
    /// Bytes in the send in flight.
    in_flight: usize,
    /// The send task runs.
    running: bool,
    /// The error that ended the connection: kind, errno if any, message.
    error: Option<(io::ErrorKind, Option<i32>, String)>,
    /// `drain` / `flush` callers, woken after each send.
    waiters: Vec<Waker>,
}

impl Sending {
    fn unsent(&self) -> usize {
        self.buf.len() + self.in_flight
    }

    fn lost(&self) -> Option<io::Error> {
        self.error.as_ref().map(|(kind, errno, msg)| match errno {
            Some(code) => io::Error::from_raw_os_error(*code),
            None => io::Error::new(*kind, msg.clone()),
        })
    }

    fn wake_waiters(&mut self) {
        self.waiters.drain(..).for_each(Waker::wake);
    }
}

/// Buffered writing to a byte stream, with asyncio's `StreamWriter` calls: `write`
/// (buffers; a background task sends), `drain` (waits while the buffer is above the
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
    sending: Rc<RefCell<Sending>>,
    high: usize,
    low: usize,
    /// `close` or `shutdown_write` was called: writes are refused.
    closed: bool,
    /// The write direction has been shut down.
    shut: bool,
}

impl<W: fmt::Debug> fmt::Debug for StreamWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("sink", &self.sink)
            .field("buffered", &self.sending.borrow().unsent())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<W: AsyncWriteOwned + ShutdownWrite + 'static> StreamWriter<W> {
    /// A writer to `sink` with asyncio's water marks (64 KiB high, 16 KiB low).
    pub fn new(sink: W) -> StreamWriter<W> {
        StreamWriter {
            sink: Rc::new(sink),
            sending: Rc::default(),
            high: DEFAULT_HIGH_WATER,
            low: DEFAULT_LOW_WATER,
            closed: false,
            shut: false,
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
        self.sending.borrow().unsent()
    }

    /// Buffers `data`; a background task sends it. Never waits: await
    /// [`drain`](StreamWriter::drain) now and then so the buffer cannot grow without
    /// bound.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` after [`close`](StreamWriter::close) or
    /// [`shutdown_write`](StreamWriter::shutdown_write); the connection's error once a
    /// send has failed (a reset, say).
    ///
    /// # Panics
    ///
    /// Outside a runtime (the send task is spawned on the current worker).
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let start = {
            let mut sending = self.sending.borrow_mut();
            if let Some(e) = sending.lost() {
                return Err(e);
            }
            if self.closed {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "StreamWriter: write after close",
                ));
            }
            sending.buf.extend_from_slice(data);
            !std::mem::replace(&mut sending.running, true)
        };
        if start {
            let task = crate::spawn(send_task(self.sink.clone(), self.sending.clone()));
            drop(task); // detached: it ends when the buffer is empty
        }
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

    /// Waits until at most `limit` bytes are unsent.
    async fn down_to(&self, limit: usize) -> io::Result<()> {
        poll_fn(|cx| {
            let mut sending = self.sending.borrow_mut();
            if let Some(e) = sending.lost() {
                return Poll::Ready(Err(e));
            }
            if sending.unsent() <= limit {
                return Poll::Ready(Ok(()));
            }
            if !sending.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                sending.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
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
    /// Cancel-safe: unsent bytes stay in the writer, and go out anyway.
    pub async fn drain(&mut self) -> io::Result<()> {
        let unsent = {
            let sending = self.sending.borrow();
            if let Some(e) = sending.lost() {
                return Err(e);
            }
            sending.unsent()
        };
        if unsent <= self.high {
            return Ok(());
        }
        self.down_to(self.low).await
    }

    /// Waits until every byte written has been taken by the kernel.
    ///
    /// # Errors
    ///
    /// The connection's error, if a send failed.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: unsent bytes stay in the writer, and go out anyway.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.down_to(0).await
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
    /// Cancel-safe: the bytes are in the writer once the call starts, and go out
    /// whatever happens to this future.
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.write(data)?;
        self.flush().await
    }

    /// Refuses further writes; what is buffered still goes out, and
    /// [`wait_closed`](StreamWriter::wait_closed) then shuts the write direction.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Whether [`close`](StreamWriter::close) or `shutdown_write` was called.
    pub fn is_closing(&self) -> bool {
        self.closed
    }

    /// After [`close`](StreamWriter::close): waits until everything buffered is sent,
    /// then shuts the write direction down (the peer reads end of stream).
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

    /// Waits until every byte written has been taken by the kernel, then gives the
    /// sink back, its write direction still open: to hand the connection to another
    /// layer (TLS's `start_tls`).
    ///
    /// # Errors
    ///
    /// The connection's error, if a send failed; `BrokenPipe` after
    /// [`close`](StreamWriter::close) or `shutdown_write`. The sink is dropped then.
    pub async fn into_inner(mut self) -> io::Result<W> {
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "StreamWriter::into_inner: the writer was closed",
            ));
        }
        self.flush().await?;
        // The send task lets go of its reference when it returns, just after its last
        // wake-up; give it a few turns to get there.
        for _ in 0..1000 {
            match Rc::try_unwrap(self.sink) {
                Ok(sink) => return Ok(sink),
                Err(shared) => self.sink = shared,
            }
            crate::task::yield_now().await;
        }
        Err(io::Error::other(
            "StreamWriter::into_inner: the sink is still shared with the send task",
        ))
    }
}

/// Sends what is buffered, batch after batch, until the buffer is empty or a send
/// fails; wakes the writer's waiters after each send.
async fn send_task<W: AsyncWriteOwned>(sink: Rc<W>, sending: Rc<RefCell<Sending>>) {
    let mut spare = Vec::new();
    loop {
        let batch = {
            let mut s = sending.borrow_mut();
            if s.buf.is_empty() || s.error.is_some() {
                s.running = false;
                s.wake_waiters();
                return;
            }
            // The buffer goes out whole; writes meanwhile fill the spare.
            let batch = std::mem::replace(&mut s.buf, std::mem::take(&mut spare));
            s.in_flight = batch.len();
            batch
        };
        let (res, mut sent) = sink.write(batch).await;
        let mut s = sending.borrow_mut();
        s.in_flight = 0;
        match res {
            Ok(0) => {
                let e = io::Error::from(io::ErrorKind::WriteZero);
                s.error = Some((e.kind(), None, "the stream took no byte".into()));
            }
            Ok(n) if n < sent.len() => {
                // A short send: its tail goes out before anything written since.
                sent.drain(..n);
                sent.extend_from_slice(&s.buf);
                s.buf = sent;
            }
            Ok(_) => {
                sent.clear();
                spare = sent; // keep the allocation for the next batch
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                sent.extend_from_slice(&s.buf);
                s.buf = sent;
            }
            Err(e) => s.error = Some((e.kind(), e.raw_os_error(), e.to_string())),
        }
        s.wake_waiters();
    }
}
