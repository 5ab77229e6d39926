//! [`TlsStream`]: rustls's buffer API driven over an owned-buffer stream.

use crate::buf::{copy_into, init_bytes, BufPool, BufResult, IoBuf, IoBufMut, PooledBuf};
use crate::io::{
    AsyncReadOwned, AsyncWriteOwned, PeerAddr, PooledRead, RecvCursor, ShutdownWrite, StreamReader,
    StreamWriter,
};
use rustls::Connection;
use std::cell::{Ref, RefCell};
use std::fmt;
use std::future::poll_fn;
use std::io::{self, BufRead, Write};
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};

/// A TLS session over a ringio stream `S` (a [`TcpStream`](crate::net::TcpStream), a
/// [`UnixStream`](crate::net::UnixStream), ...), made by
/// [`TlsAcceptor::accept`](super::TlsAcceptor::accept) or
/// [`TlsConnector::connect`](super::TlsConnector::connect) once the handshake is done.
///
/// It has the stream traits a `TcpStream` has ([`AsyncReadOwned`], [`AsyncWriteOwned`],
/// [`PooledRead`], [`ShutdownWrite`], [`PeerAddr`]), so [`StreamReader`],
/// [`StreamWriter`] and `ringio::compat::Compat` (features `tokio-io`, `futures-io`) work over it. Methods take
/// `&self`: one task may read while another writes (share it through an `Rc`, or use
/// [`into_streams`](TlsStream::into_streams)).
///
/// - Reading: the peer's `close_notify` reads as end of stream; end of the underlying
///   stream without one is an [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) error
///   (a truncation); a record that fails to decrypt or a fatal alert is
///   [`InvalidData`](io::ErrorKind::InvalidData) with a [`TlsError`](super::TlsError).
/// - [`shutdown_write`](ShutdownWrite::shutdown_write) sends `close_notify`, then
///   shuts the underlying write direction. Dropping the stream sends nothing: the peer
///   then sees a truncated stream.
/// - Cancelling a write part-way can leave half a record on the wire: the stream's
///   later writes fail with `BrokenPipe` (a [`StreamWriter`] never cancels its sends).
pub struct TlsStream<S> {
    inner: Rc<Inner<S>>,
}

/// A reader and a writer over one TLS stream, as
/// [`open_connection`](crate::net::open_connection)'s pair is over TCP.
pub type TlsStreams<S> = (
    StreamReader<Rc<TlsStream<S>>>,
    StreamWriter<Rc<TlsStream<S>>>,
);

struct Inner<S> {
    io: S,
    conn: RefCell<Connection>,
    rx: RefCell<Rx>,
    tx: RefCell<Tx>,
}

/// The receiving side: ciphertext from the stream's pooled receive.
struct Rx {
    pool: Option<BufPool>,
    cursor: RecvCursor,
    /// Ciphertext received and not yet taken by rustls, and how much of it was.
    pending: Option<(PooledBuf, usize)>,
    /// The underlying stream has ended.
    eof: bool,
}

/// The sending side: one sender at a time, so records go out in order.
#[derive(Default)]
struct Tx {
    sending: bool,
    waiters: Vec<Waker>,
    /// The ciphertext buffer, kept between sends.
    spare: Vec<u8>,
    /// What ended the sending side: kind and message.
    error: Option<(io::ErrorKind, String)>,
    /// A background flush (for what reading made rustls want to send) is spawned.
    background: bool,
    /// `close_notify` has been queued.
    shut: bool,
}

impl Tx {
    fn check(&self) -> io::Result<()> {
        match &self.error {
            Some((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
            None => Ok(()),
        }
    }
}

/// Holds the send side; lets it go (and wakes the next sender) when dropped. Dropped
/// before `done`, a send was cut short: the stream cannot send again.
struct SendGuard<'a> {
    tx: &'a RefCell<Tx>,
    done: bool,
}

impl Drop for SendGuard<'_> {
    fn drop(&mut self) {
        let mut tx = self.tx.borrow_mut();
        tx.sending = false;
        if !self.done && tx.error.is_none() {
            tx.error = Some((
                io::ErrorKind::BrokenPipe,
                "TLS: a send was cancelled part-way through a record; the stream cannot send"
                    .into(),
            ));
        }
        tx.waiters.drain(..).for_each(Waker::wake);
    }
}

impl<S> Inner<S>
where
    S: PooledRead + AsyncWriteOwned + 'static,
{
    /// Receives ciphertext (or end of stream) and hands it to rustls: `Ok(true)` if
    /// bytes went in, `Ok(false)` at end of stream.
    fn poll_ingest(&self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut rx = self.rx.borrow_mut();
        let rx = &mut *rx;
        if rx.pending.is_none() && !rx.eof {
            let pool = rx
                .pool
                .get_or_insert_with(|| crate::runtime::context::with_core(|c| c.stream_pool()));
            match ready!(self.io.poll_recv_pooled(pool, &mut rx.cursor, cx))? {
                Some(buf) => rx.pending = Some((buf, 0)),
                None => rx.eof = true,
            }
        }
        let mut conn = self.conn.borrow_mut();
        let fed = match rx.pending.as_mut() {
            Some((buf, at)) => {
                let n = conn.read_tls(&mut &buf[*at..])?;
                *at += n;
                // Ok(0) with bytes left: close_notify came, the rest is ignored.
                if *at == buf.len() || n == 0 {
                    rx.pending = None; // the pool's buffer goes back now
                }
                true
            }
            None => {
                conn.read_tls(&mut io::empty())?; // tells rustls the stream ended
                false
            }
        };
        if let Err(e) = conn.process_new_packets() {
            let during = if conn.is_handshaking() {
                "handshake"
            } else {
                "receive"
            };
            return Poll::Ready(Err(super::tls_error(during, e)));
        }
        Poll::Ready(Ok(fed))
    }

    /// The next plaintext, through `take` (which returns how many bytes it used):
    /// `None` after the peer's `close_notify`.
    fn poll_read_with<R>(
        self: &Rc<Self>,
        cx: &mut Context<'_>,
        mut take: impl FnMut(&[u8]) -> (usize, R),
    ) -> Poll<io::Result<Option<R>>> {
        loop {
            {
                let mut conn = self.conn.borrow_mut();
                let mut reader = conn.reader();
                match reader.fill_buf() {
                    Ok([]) => return Poll::Ready(Ok(None)),
                    Ok(chunk) => {
                        let (n, r) = take(chunk);
                        reader.consume(n);
                        return Poll::Ready(Ok(Some(r)));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            let ingested = ready!(self.poll_ingest(cx));
            // An alert after an error, a key update's answer, a session ticket: sent
            // by a background task, so a reader never waits for the send side.
            if self.conn.borrow().wants_write() {
                self.flush_in_background();
            }
            ingested?;
        }
    }

    fn flush_in_background(self: &Rc<Self>) {
        {
            let mut tx = self.tx.borrow_mut();
            if tx.background || tx.error.is_some() {
                return;
            }
            tx.background = true;
        }
        let me = self.clone();
        drop(crate::spawn(async move {
            let _ = me.flush().await; // an error stays in `tx` for the next write
            me.tx.borrow_mut().background = false;
        }));
    }

    /// Waits for the send side.
    async fn lock_send(&self) -> io::Result<SendGuard<'_>> {
        poll_fn(|cx| -> Poll<io::Result<()>> {
            let mut tx = self.tx.borrow_mut();
            tx.check()?;
            if tx.sending {
                if !tx.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    tx.waiters.push(cx.waker().clone());
                }
                return Poll::Pending;
            }
            tx.sending = true;
            Poll::Ready(Ok(()))
        })
        .await?;
        Ok(SendGuard {
            tx: &self.tx,
            done: false,
        })
    }

    /// Sends every TLS record rustls has queued, in owned buffers reused from send to
    /// send.
    async fn flush(&self) -> io::Result<()> {
        let mut guard = self.lock_send().await?;
        loop {
            let mut out = std::mem::take(&mut self.tx.borrow_mut().spare);
            out.clear();
            {
                let mut conn = self.conn.borrow_mut();
                while conn.wants_write() {
                    conn.write_tls(&mut out)?; // into a Vec: never fails, never short
                }
            }
            if out.is_empty() {
                self.tx.borrow_mut().spare = out;
                break;
            }
            let (res, out) = self.io.write_all(out).await;
            self.tx.borrow_mut().spare = out;
            if let Err(e) = res {
                self.tx.borrow_mut().error = Some((e.kind(), e.to_string()));
                return Err(e);
            }
        }
        guard.done = true;
        Ok(())
    }

    /// Runs the handshake to its end: sends what rustls queues, receives what it
    /// wants.
    async fn handshake(&self) -> io::Result<()> {
        loop {
            self.flush().await?;
            if !self.conn.borrow().is_handshaking() {
                return Ok(());
            }
            match poll_fn(|cx| self.poll_ingest(cx)).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "TLS handshake failed: the peer closed the connection first",
                    ))
                }
                Err(e) => {
                    // rustls has queued an alert telling the peer why; best effort.
                    let _ = self.flush().await;
                    return Err(e);
                }
            }
        }
    }

    /// Encrypts (a prefix of) `data` and sends it: how many bytes were taken.
    async fn write_plain(&self, data: &[u8]) -> io::Result<usize> {
        {
            let tx = self.tx.borrow();
            tx.check()?;
            if tx.shut {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "TLS: write after shutdown_write (close_notify was sent)",
                ));
            }
        }
        if data.is_empty() {
            return Ok(0);
        }
        let mut n = self.conn.borrow_mut().writer().write(data)?;
        if n == 0 {
            // rustls's send buffer is full: empty it first.
            self.flush().await?;
            n = self.conn.borrow_mut().writer().write(data)?;
        }
        self.flush().await?;
        Ok(n)
    }
}

impl<S> TlsStream<S>
where
    S: PooledRead + AsyncWriteOwned + 'static,
{
    /// Runs the handshake of `conn` over `io`.
    pub(super) async fn handshake(io: S, conn: Connection) -> io::Result<TlsStream<S>> {
        let inner = Rc::new(Inner {
            io,
            conn: RefCell::new(conn),
            rx: RefCell::new(Rx {
                pool: None,
                cursor: RecvCursor::new(),
                pending: None,
                eof: false,
            }),
            tx: RefCell::default(),
        });
        inner.handshake().await?;
        Ok(TlsStream { inner })
    }

    /// A [`StreamReader`] and a [`StreamWriter`] over this stream (asyncio's pair).
    /// [`StreamWriter::wait_closed`] sends `close_notify`.
    ///
    /// # Panics
    ///
    /// Outside a runtime.
    pub fn into_streams(self) -> TlsStreams<S>
    where
        S: ShutdownWrite,
    {
        let shared = Rc::new(self);
        (StreamReader::new(shared.clone()), StreamWriter::new(shared))
    }
}

impl<S> TlsStream<S> {
    /// The stream underneath, borrowed (for socket options and addresses). Reading or
    /// writing it directly breaks the session.
    pub fn get_ref(&self) -> &S {
        &self.inner.io
    }

    /// rustls's connection state: the negotiated protocol version and cipher suite,
    /// ALPN protocol, peer certificates, SNI name. Do not hold it across an `.await`
    /// (reads and writes borrow it mutably).
    pub fn connection(&self) -> Ref<'_, Connection> {
        self.inner.conn.borrow()
    }
}

impl<S: fmt::Debug> fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let conn = self.inner.conn.borrow();
        f.debug_struct("TlsStream")
            .field("io", &self.inner.io)
            .field("version", &conn.protocol_version())
            .field("suite", &conn.negotiated_cipher_suite().map(|s| s.suite()))
            .finish_non_exhaustive()
    }
}

/// Plaintext received, as pooled-receive chunks: what a [`StreamReader`] reads. The
/// `pool` and `cursor` given are not used: the ciphertext is received through the
/// stream's own (the worker's shared stream pool), and each chunk of plaintext comes
/// in a buffer of its own.
impl<S> PooledRead for TlsStream<S>
where
    S: PooledRead + AsyncWriteOwned + 'static,
{
    fn poll_recv_pooled(
        &self,
        _pool: &BufPool,
        _cursor: &mut RecvCursor,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<PooledBuf>>> {
        self.inner.poll_read_with(cx, |chunk| {
            (chunk.len(), PooledBuf::spilled(Box::new(chunk.to_vec())))
        })
    }
}

impl<S> AsyncReadOwned for TlsStream<S>
where
    S: PooledRead + AsyncWriteOwned + 'static,
{
    /// Decrypted bytes into `buf`; 0 after the peer's `close_notify`.
    async fn read<B: IoBufMut>(&self, mut buf: B) -> BufResult<usize, B> {
        if buf.bytes_total() == 0 {
            return (Ok(0), buf);
        }
        let res = poll_fn(|cx| {
            self.inner.poll_read_with(cx, |chunk| {
                let n = copy_into(&mut buf, chunk);
                (n, n)
            })
        })
        .await;
        (res.map(Option::unwrap_or_default), buf)
    }

    async fn read_vectored<B: IoBufMut>(&self, mut bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        if bufs.iter().all(|b| b.bytes_total() == 0) {
            return (Ok(0), bufs);
        }
        let res = poll_fn(|cx| {
            self.inner.poll_read_with(cx, |mut chunk| {
                let mut total = 0;
                for buf in bufs.iter_mut() {
                    if chunk.is_empty() {
                        break;
                    }
                    let n = copy_into(buf, chunk);
                    chunk = &chunk[n..];
                    total += n;
                }
                (total, total)
            })
        })
        .await;
        (res.map(Option::unwrap_or_default), bufs)
    }
}

impl<S> AsyncWriteOwned for TlsStream<S>
where
    S: PooledRead + AsyncWriteOwned + 'static,
{
    /// Encrypts some of `buf` (up to rustls's 64 KiB send buffer) and sends it; the
    /// count is of plaintext bytes.
    async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        let res = self.inner.write_plain(init_bytes(&buf)).await;
        (res, buf)
    }

    async fn write_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        let mut total = 0;
        for buf in &bufs {
            let bytes = init_bytes(buf);
            if bytes.is_empty() {
                continue;
            }
            match self.inner.write_plain(bytes).await {
                Ok(n) => {
                    total += n;
                    if n < bytes.len() {
                        break;
                    }
                }
                Err(e) if total == 0 => return (Err(e), bufs),
                Err(_) => break, // what went is reported; the error comes next call
            }
        }
        (Ok(total), bufs)
    }
}

impl<S> ShutdownWrite for TlsStream<S>
where
    S: PooledRead + AsyncWriteOwned + ShutdownWrite + 'static,
{
    /// Sends `close_notify`, then shuts down the underlying write direction. Reading
    /// goes on.
    async fn shutdown_write(&self) -> io::Result<()> {
        {
            let mut tx = self.inner.tx.borrow_mut();
            if !tx.shut {
                tx.shut = true;
                self.inner.conn.borrow_mut().send_close_notify();
            }
        }
        self.inner.flush().await?;
        self.inner.io.shutdown_write().await
    }
}

impl<S: PeerAddr> PeerAddr for TlsStream<S> {
    type Addr = S::Addr;

    fn peer_addr(&self) -> io::Result<S::Addr> {
        self.inner.io.peer_addr()
    }
}
