//! [`StreamReader`]: asyncio's `StreamReader` over a pooled receive.
//!
//! # Implementation
//!
//! The reader owns a byte buffer of what was received and not yet returned
//! (`buf[pos..]`). It asks its source for more only when a call needs more, through the
//! source's pooled receive ([`PooledRead`]): on io_uring a multishot receive stays armed
//! and the kernel takes a pool buffer only when data arrives, so an idle reader pins no
//! receive buffer; each pooled buffer is copied into the reader's buffer in the same
//! poll that received it and goes straight back to the pool. Received bytes therefore
//! belong to the reader, never to the future of a call: dropping a pending `readline`
//! loses nothing, and the next call sees every byte.
//!
//! Every call is a poll function (`poll_*`) over the reader's state plus a scan offset,
//! so the async methods and the [`lines`](StreamReader::lines) stream share one
//! implementation. The buffer grows only as far as a call needs: past `limit` bytes
//! without a separator a `readuntil` stops reading and reports
//! [`ReadError::LimitOverrun`], keeping the bytes.

use super::{PooledRead, RecvCursor};
use crate::buf::BufPool;
use crate::runtime::context;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// asyncio's default stream limit: 64 KiB.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// Why a [`StreamReader`] call returned no data of the shape asked for.
#[derive(Debug)]
pub enum ReadError {
    /// End of stream came first. `partial` holds the bytes that did come (they are
    /// consumed); `expected` is the count asked for (`readexactly`), or `None` for a
    /// separator (`readuntil`). asyncio's `IncompleteReadError`.
    Incomplete {
        /// The bytes read before end of stream.
        partial: Vec<u8>,
        /// How many bytes were asked for, if a count was.
        expected: Option<usize>,
    },
    /// No separator within the reader's limit. Every byte stays buffered (nothing is
    /// consumed): read it with [`read`](StreamReader::read), or skip it.
    /// `consumed` is asyncio's figure: how many buffered bytes the call looked at
    /// (where the separator starts, if one was found past the limit). asyncio's
    /// `LimitOverrunError`.
    LimitOverrun {
        /// Bytes examined; they are all still in the reader's buffer.
        consumed: usize,
    },
    /// The source failed (a reset, say). Bytes buffered before the error stay
    /// buffered.
    Io(io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Incomplete {
                partial,
                expected: Some(n),
            } => write!(f, "end of stream after {} of {n} bytes", partial.len()),
            ReadError::Incomplete { partial, .. } => write!(
                f,
                "end of stream after {} bytes, before the separator",
                partial.len()
            ),
            ReadError::LimitOverrun { consumed } => write!(
                f,
                "no separator within the reader's limit ({consumed} bytes examined; all kept)"
            ),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> io::Error {
        match e {
            ReadError::Io(e) => e,
            ReadError::Incomplete { .. } => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            ReadError::LimitOverrun { .. } => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// Buffered reading of a byte stream, with asyncio's `StreamReader` calls: `read`,
/// `readline`, `readexactly`, `readuntil`, `readuntil_any`, `at_eof` and
/// [`lines`](StreamReader::lines).
///
/// Methods take `&mut self`, so two concurrent reads do not compile (asyncio raises at
/// run time). Received bytes belong to the reader: dropping the future of any call
/// loses none of them, and an idle reader holds no receive buffer (see the module docs).
///
/// ```
/// # ringio::run(async {
/// use ringio::io::{AsyncWriteOwned, StreamReader};
/// use ringio::net::{TcpListener, TcpStream};
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
/// let (server, _) = listener.accept().await.unwrap();
/// client.write_all(&b"hello\nwor"[..]).await.0.unwrap();
/// client.write_all(&b"ld\n"[..]).await.0.unwrap();
/// drop(client);
/// let mut reader = StreamReader::new(server);
/// assert_eq!(reader.readline().await.unwrap(), b"hello\n");
/// assert_eq!(reader.readline().await.unwrap(), b"world\n");
/// assert_eq!(reader.readline().await.unwrap(), b""); // end of stream
/// assert!(reader.at_eof());
/// # });
/// ```
pub struct StreamReader<S> {
    source: S,
    pool: BufPool,
    cursor: RecvCursor,
    /// Received bytes; those not yet returned are `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    limit: usize,
}

impl<S: fmt::Debug> fmt::Debug for StreamReader<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("source", &self.source)
            .field("buffered", &(self.buf.len() - self.pos))
            .field("eof", &self.eof)
            .field("limit", &self.limit)
            .finish()
    }
}

impl<S: PooledRead> StreamReader<S> {
    /// A reader of `source` with the default limit ([`DEFAULT_LIMIT`], 64 KiB),
    /// receiving through the current worker's shared stream pool.
    ///
    /// # Panics
    ///
    /// Outside a runtime.
    pub fn new(source: S) -> StreamReader<S> {
        StreamReader::with_limit(source, DEFAULT_LIMIT)
    }

    /// A reader whose `readuntil` and `readline` look at most `limit` bytes for a
    /// separator (asyncio's `limit`).
    ///
    /// # Panics
    ///
    /// Outside a runtime, or if `limit` is 0.
    pub fn with_limit(source: S, limit: usize) -> StreamReader<S> {
        let pool = context::with_core(|core| core.stream_pool());
        StreamReader::with_pool(source, pool, limit)
    }

    /// A reader that receives through `pool` (a pool of this worker) instead of the
    /// worker's shared one.
    ///
    /// # Panics
    ///
    /// If `limit` is 0.
    pub fn with_pool(source: S, pool: BufPool, limit: usize) -> StreamReader<S> {
        assert!(limit > 0, "StreamReader: the limit must be at least 1 byte");
        StreamReader {
            source,
            pool,
            cursor: RecvCursor::new(),
            buf: Vec::new(),
            pos: 0,
            eof: false,
            limit,
        }
    }

    /// Receives one more chunk into the buffer: `true` if bytes came, `false` at end
    /// of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if self.eof {
            return Poll::Ready(Ok(false));
        }
        let received = ready!(self
            .source
            .poll_recv_pooled(&self.pool, &mut self.cursor, cx))?;
        let Some(chunk) = received else {
            self.eof = true;
            return Poll::Ready(Ok(false));
        };
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > self.buf.len() / 2 {
            // Mostly consumed: move the rest to the front rather than grow.
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(&chunk);
        Poll::Ready(Ok(true))
    }

    /// Takes the first `n` buffered bytes (all of them are there).
    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.consume(n);
        out
    }

    /// Drops the first `n` buffered bytes (all of them are there).
    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.buf.len() {
            // Fully consumed: an idle reader keeps no bytes of memory beyond a small
            // buffer for the next message.
            self.pos = 0;
            self.buf.clear();
            if self.buf.capacity() > 64 * 1024 {
                self.buf = Vec::new();
            }
        }
    }

    /// The bytes received and not yet returned.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Whether the buffer is empty and end of stream has been seen.
    pub fn at_eof(&self) -> bool {
        self.eof && self.pos == self.buf.len()
    }

    /// The limit given at construction.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The source, borrowed.
    pub fn get_ref(&self) -> &S {
        &self.source
    }

    /// The source, and the bytes buffered and not yet returned.
    pub fn into_parts(self) -> (S, Vec<u8>) {
        let rest = self.buf[self.pos..].to_vec();
        (self.source, rest)
    }

    fn poll_read(&mut self, n: usize, cx: &mut Context<'_>) -> Poll<io::Result<Vec<u8>>> {
        if n == 0 {
            return Poll::Ready(Ok(Vec::new()));
        }
        while self.buffered().is_empty() {
            if !ready!(self.poll_fill(cx))? {
                return Poll::Ready(Ok(Vec::new()));
            }
        }
        let take = n.min(self.buffered().len());
        Poll::Ready(Ok(self.take(take)))
    }

    /// Up to `n` bytes: as soon as any are available, 1 to `n` of them; empty at end of
    /// stream, or when `n` is 0.
    ///
    /// # Errors
    ///
    /// As the source's receive (a reset, say).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: received bytes stay in the reader.
    pub async fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        poll_fn(|cx| self.poll_read(n, cx)).await
    }

    /// Everything up to end of stream (asyncio's `read(-1)`).
    ///
    /// # Errors
    ///
    /// As the source's receive; the bytes read so far stay buffered.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: received bytes stay in the reader.
    pub async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        poll_fn(|cx| {
            while ready!(self.poll_fill(cx))? {}
            let all = self.buffered().len();
            Poll::Ready(Ok(self.take(all)))
        })
        .await
    }

    fn poll_readexactly(
        &mut self,
        n: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Vec<u8>, ReadError>> {
        while self.buffered().len() < n {
            if !ready!(self.poll_fill(cx))? {
                let partial = self.take(self.buffered().len());
                return Poll::Ready(Err(ReadError::Incomplete {
                    partial,
                    expected: Some(n),
                }));
            }
        }
        Poll::Ready(Ok(self.take(n)))
    }

    /// Exactly `n` bytes.
    ///
    /// # Errors
    ///
    /// [`ReadError::Incomplete`] if the stream ends first (with the bytes that came);
    /// [`ReadError::Io`] if the source fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: received bytes stay in the reader.
    pub async fn readexactly(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        poll_fn(|cx| self.poll_readexactly(n, cx)).await
    }

    /// The core of `readuntil`: ready with [`Scan::Found`] once a separator is
    /// buffered, or [`Scan::Eof`] when the stream ends without one. `scanned` is how far
    /// earlier polls of this call looked, so a long search does not rescan what it has
    /// seen.
    fn poll_scan(
        &mut self,
        separators: &[&[u8]],
        scanned: &mut usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Scan, ReadError>> {
        assert!(
            separators.iter().all(|s| !s.is_empty()),
            "readuntil: a separator must not be empty"
        );
        let longest = separators.iter().map(|s| s.len()).max().unwrap_or(0);
        loop {
            let data = self.buffered();
            // A separator may straddle the old end: look back by its length.
            let from = scanned.saturating_sub(longest.saturating_sub(1));
            if let Some((start, end)) = earliest(data, separators, from) {
                if start > self.limit {
                    return Poll::Ready(Err(ReadError::LimitOverrun { consumed: start }));
                }
                return Poll::Ready(Ok(Scan::Found(end)));
            }
            *scanned = data.len();
            // asyncio's test: the bytes that could still begin a line exceed the limit.
            let offset = (data.len() + 1).saturating_sub(longest);
            if offset > self.limit {
                return Poll::Ready(Err(ReadError::LimitOverrun { consumed: offset }));
            }
            if !ready!(self.poll_fill(cx))? {
                return Poll::Ready(Ok(Scan::Eof));
            }
        }
    }

    fn poll_readuntil_any(
        &mut self,
        separators: &[&[u8]],
        scanned: &mut usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Vec<u8>, ReadError>> {
        Poll::Ready(match ready!(self.poll_scan(separators, scanned, cx))? {
            Scan::Found(end) => Ok(self.take(end)),
            Scan::Eof => Err(ReadError::Incomplete {
                partial: self.take(self.buffered().len()),
                expected: None,
            }),
        })
    }

    /// The bytes up to and including `separator`.
    ///
    /// # Errors
    ///
    /// [`ReadError::LimitOverrun`] when no separator comes within the limit: every byte
    /// stays buffered. [`ReadError::Incomplete`] when the stream ends first: the bytes
    /// that came are in it, consumed. [`ReadError::Io`] if the source fails.
    ///
    /// # Panics
    ///
    /// If `separator` is empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: received bytes stay in the reader.
    pub async fn readuntil(&mut self, separator: &[u8]) -> Result<Vec<u8>, ReadError> {
        self.readuntil_any(&[separator]).await
    }

    /// The bytes up to and including the first of `separators` to end in the stream
    /// (the shortest result wins, as in asyncio 3.13's tuple form).
    ///
    /// ```
    /// # ringio::run(async {
    /// # use ringio::io::{AsyncWriteOwned, StreamReader};
    /// # use ringio::net::{TcpListener, TcpStream};
    /// # let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    /// # let (server, _) = listener.accept().await.unwrap();
    /// client.write_all(&b"x\r\ny\n"[..]).await.0.unwrap();
    /// let mut reader = StreamReader::new(server);
    /// assert_eq!(reader.readuntil_any(&[b"\r\n", b"\n"]).await.unwrap(), b"x\r\n");
    /// assert_eq!(reader.readuntil_any(&[b"\r\n", b"\n"]).await.unwrap(), b"y\n");
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// As [`readuntil`](StreamReader::readuntil).
    ///
    /// # Panics
    ///
    /// If a separator is empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: received bytes stay in the reader.
    pub async fn readuntil_any(&mut self, separators: &[&[u8]]) -> Result<Vec<u8>, ReadError> {
        let mut scanned = 0;
        poll_fn(|cx| self.poll_readuntil_any(separators, &mut scanned, cx)).await
    }

    fn poll_readline(
        &mut self,
        scanned: &mut usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Vec<u8>, ReadError>> {
        Poll::Ready(match ready!(self.poll_scan(&[b"\n"], scanned, cx))? {
            Scan::Found(end) => Ok(self.take(end)),
            // At end of stream a line is what is left, possibly nothing.
            Scan::Eof => Ok(self.take(self.buffered().len())),
        })
    }

    /// [`readline`](StreamReader::readline) into a buffer of the caller's: the line is
    /// appended to `line`, and its length returned (0 at end of stream). Reusing one
    /// buffer saves the allocation a new `Vec` per line costs (tokio's `read_line`
    /// shape).
    ///
    /// # Errors
    ///
    /// As [`readline`](StreamReader::readline); `line` is left as it was.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: received bytes stay in the reader until a line is appended whole.
    pub async fn readline_into(&mut self, line: &mut Vec<u8>) -> Result<usize, ReadError> {
        let mut scanned = 0;
        poll_fn(|cx| {
            let end = match ready!(self.poll_scan(&[b"\n"], &mut scanned, cx))? {
                Scan::Found(end) => end,
                Scan::Eof => self.buffered().len(),
            };
            line.extend_from_slice(&self.buffered()[..end]);
            self.consume(end);
            Poll::Ready(Ok(end))
        })
        .await
    }

    /// One line, up to and including `\n`; at end of stream the partial last line, and
    /// then empty.
    ///
    /// # Errors
    ///
    /// [`ReadError::LimitOverrun`] for a line longer than the limit: every byte stays
    /// buffered (asyncio discards them; ringio loses nothing). [`ReadError::Io`] if the
    /// source fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: received bytes stay in the reader.
    pub async fn readline(&mut self) -> Result<Vec<u8>, ReadError> {
        let mut scanned = 0;
        poll_fn(|cx| self.poll_readline(&mut scanned, cx)).await
    }

    /// The lines of the stream as a [`Stream`](futures_core::Stream), each as
    /// [`readline`](StreamReader::readline) returns it; it ends at end of stream (and
    /// after an error).
    ///
    /// ```
    /// # ringio::run(async {
    /// # use ringio::io::{AsyncWriteOwned, StreamReader};
    /// # use ringio::net::{TcpListener, TcpStream};
    /// # let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    /// # let (server, _) = listener.accept().await.unwrap();
    /// use futures_core::Stream;
    /// client.write_all(&b"a\nb\nc"[..]).await.0.unwrap();
    /// drop(client);
    /// let mut reader = StreamReader::new(server);
    /// let mut lines = std::pin::pin!(reader.lines());
    /// let mut got = Vec::new();
    /// while let Some(line) = std::future::poll_fn(|cx| lines.as_mut().poll_next(cx)).await {
    ///     got.push(line.unwrap());
    /// }
    /// assert_eq!(got, [&b"a\n"[..], b"b\n", b"c"]);
    /// # });
    /// ```
    pub fn lines(&mut self) -> Lines<'_, S> {
        Lines {
            reader: self,
            scanned: 0,
            done: false,
        }
    }
}

/// What [`StreamReader::poll_scan`] found.
enum Scan {
    /// A separator ends at this offset of the buffered bytes.
    Found(usize),
    /// The stream ended without one; every buffered byte is the partial line.
    Eof,
}

/// [`StreamReader::lines`].
pub struct Lines<'a, S> {
    reader: &'a mut StreamReader<S>,
    scanned: usize,
    done: bool,
}

impl<S: PooledRead> futures_core::Stream for Lines<'_, S> {
    type Item = Result<Vec<u8>, ReadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let line = ready!(this.reader.poll_readline(&mut this.scanned, cx));
        this.scanned = 0;
        match line {
            Ok(line) if line.is_empty() => {
                this.done = true;
                Poll::Ready(None)
            }
            Ok(line) => Poll::Ready(Some(Ok(line))),
            Err(e) => {
                this.done = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

/// The separator that ends first in `data`, searching ends from `from` on: its (start,
/// end). Ties (two separators ending at the same byte) go to the longer one, which is
/// what "ends first" sees first in a stream.
fn earliest(data: &[u8], separators: &[&[u8]], from: usize) -> Option<(usize, usize)> {
    if let [sep] = separators {
        // The common case (one separator, a newline): no ranking to do.
        let start = find(&data[from.min(data.len())..], sep)? + from;
        return Some((start, start + sep.len()));
    }
    separators
        .iter()
        .filter_map(|sep| {
            let start = find(&data[from.min(data.len())..], sep)? + from;
            Some((start, start + sep.len()))
        })
        .min_by_key(|&(start, end)| (end, std::cmp::Reverse(end - start)))
}

/// The first index of `needle` in `haystack` (SIMD-accelerated).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [byte] => memchr::memchr(*byte, haystack),
        _ => memchr::memmem::find(haystack, needle),
    }
}

#[cfg(test)]
mod tests {
    use super::{earliest, find};

    #[test]
    fn find_and_earliest() {
        assert_eq!(find(b"abc\n", b"\n"), Some(3));
        assert_eq!(find(b"abc", b"bc"), Some(1));
        assert_eq!(find(b"ab", b"abc"), None);
        let seps: [&[u8]; 2] = [b"\r\n", b"\n"];
        assert_eq!(earliest(b"x\r\n", &seps, 0), Some((1, 3)));
        assert_eq!(earliest(b"x\ny\r\n", &seps, 0), Some((1, 2)));
        assert_eq!(earliest(b"abcabc", &[b"cab", b"ca"], 0), Some((2, 4)));
        assert_eq!(earliest(b"a\nb\n", &[b"\n"], 2), Some((3, 4)));
        assert_eq!(earliest(b"", &seps, 0), None);
    }
}
