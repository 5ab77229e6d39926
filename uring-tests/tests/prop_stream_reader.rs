//! Property test of `StreamReader` (ASYNCIO.md §5.2) against a reference model, on
//! both drivers.
//!
//! A case is a random byte stream over a small alphabet (so separators turn up), cut
//! into random chunks that a writer task sends over a real socket pair (TCP with
//! NODELAY, or a Unix stream pair), yielding a random number of turns between chunks
//! and before the end of stream (so the reader sees the chunks apart, separators
//! straddle chunk boundaries, and EOF lands at random points of a pending call); a
//! random limit (1..=16); and a random sequence of calls: `readline`, `readuntil` and
//! `readuntil_any` with random 1–3-byte separators, `readexactly(n)`, `read(n)`,
//! one in five cancelled (polled once and dropped: if it was pending, nothing may be
//! consumed), ending with `read_to_end`.
//!
//! The model is the unread rest of the stream. Every result is independent of how
//! the stream was chunked, and is checked exactly:
//! - `readuntil` / `readline`: the bytes through the separator that ends first (ties
//!   to the longer); `LimitOverrun` when that separator starts past the limit, or
//!   when none comes and more than `limit + len(longest) - 1` bytes are left, with
//!   nothing consumed (the next calls still see every byte; `consumed` is only
//!   checked to lie past the limit, since how far the scan got depends on the
//!   chunks); at end of stream `Incomplete` with every byte left (`readline`: the
//!   partial line, possibly empty, as `Ok`).
//! - `readexactly(n)`: `n` bytes, or `Incomplete { partial: the rest, expected: n }`.
//! - `read(n)`: a non-empty prefix of at most `n` bytes (how many depends on the
//!   chunks), empty only at end of stream or for `n == 0`.
//!
//! 1024 cases per driver by default; `PROPTEST_CASES` sets the count.

mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use ringio::io::{AsyncWriteOwned, PooledRead, ReadError, StreamReader};
use ringio::net::UnixStream;
use ringio::runtime::Driver;
use ringio::time::timeout;
use ringio::yield_now;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

const ALPHABET: &[u8] = b"ab\n\r";

#[derive(Clone, Debug)]
enum Call {
    Readline,
    Readuntil(Vec<u8>),
    ReaduntilAny(Vec<u8>, Vec<u8>),
    Readexactly(usize),
    Read(usize),
}

fn bytes(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(proptest::sample::select(ALPHABET), len)
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        3 => Just(Call::Readline),
        3 => bytes(1..=3).prop_map(Call::Readuntil),
        1 => (bytes(1..=3), bytes(1..=3)).prop_map(|(a, b)| Call::ReaduntilAny(a, b)),
        2 => (0usize..12).prop_map(Call::Readexactly),
        2 => (0usize..12).prop_map(Call::Read),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    data: Vec<u8>,
    /// Chunk sizes (cycled) and the turns yielded after each chunk (cycled).
    chunks: Vec<usize>,
    pauses: Vec<u8>,
    /// Turns yielded before the end of stream.
    eof_pause: u8,
    limit: usize,
    /// Each call, and whether it is cancelled (polled once, then dropped).
    calls: Vec<(Call, bool)>,
    tcp: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        bytes(0..=80),
        proptest::collection::vec(1usize..=8, 1..8),
        proptest::collection::vec(0u8..4, 1..8),
        0u8..6,
        1usize..=16,
        // One call in five is cancelled: polled once, then dropped.
        proptest::collection::vec((call(), proptest::bool::weighted(0.2)), 1..16),
        any::<bool>(),
    )
        .prop_map(
            |(data, chunks, pauses, eof_pause, limit, calls, tcp)| Case {
                data,
                chunks,
                pauses,
                eof_pause,
                limit,
                calls,
                tcp,
            },
        )
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// What the model expects of a separator search over `rest`: `Ok(end)` for a
/// separator ending at `end`, `Err(true)` for a limit overrun, `Err(false)` for end
/// of stream without one.
fn model_scan(rest: &[u8], seps: &[&[u8]], limit: usize) -> Result<usize, bool> {
    let found = seps
        .iter()
        .filter_map(|sep| {
            let start = rest.windows(sep.len()).position(|w| w == *sep)?;
            Some((start, start + sep.len()))
        })
        .min_by_key(|&(start, end)| (end, std::cmp::Reverse(end - start)));
    let longest = seps.iter().map(|s| s.len()).max().unwrap();
    match found {
        Some((start, _)) if start > limit => Err(true),
        Some((_, end)) => Ok(end),
        None if (rest.len() + 1).saturating_sub(longest) > limit => Err(true),
        None => Err(false),
    }
}

/// The reader's answer, reduced to what the model predicts.
#[derive(Debug, PartialEq)]
enum Got {
    Bytes(Vec<u8>),
    Incomplete(Vec<u8>, Option<usize>),
    Overrun,
}

fn reduce(r: Result<Vec<u8>, ReadError>, limit: usize, left: usize) -> Result<Got, TestCaseError> {
    Ok(match r {
        Ok(b) => Got::Bytes(b),
        Err(ReadError::Incomplete { partial, expected }) => Got::Incomplete(partial, expected),
        Err(ReadError::LimitOverrun { consumed }) => {
            prop_assert!(
                consumed > limit && consumed <= left,
                "LimitOverrun consumed {} with limit {} and {} bytes left",
                consumed,
                limit,
                left
            );
            Got::Overrun
        }
        Err(ReadError::Io(e)) => return Err(TestCaseError::fail(format!("I/O error: {e}"))),
    })
}

async fn run_case(c: Case) -> Result<(), TestCaseError> {
    let (tx, rx): (Box<dyn Writer>, _) = if c.tcp {
        let (a, b) = support::pair().await;
        a.set_nodelay(true).unwrap();
        (Box::new(a), Source::Tcp(b))
    } else {
        let (a, b) = UnixStream::pair().unwrap();
        (Box::new(a), Source::Unix(b))
    };
    let writer = {
        let c = c.clone();
        ringio::spawn(async move {
            let (mut at, mut i) = (0, 0);
            while at < c.data.len() {
                let n = c.chunks[i % c.chunks.len()].min(c.data.len() - at);
                if !tx.send(c.data[at..at + n].to_vec()).await {
                    // The reader failed the case and went: nothing more to send.
                    return;
                }
                at += n;
                for _ in 0..c.pauses[i % c.pauses.len()] {
                    yield_now().await;
                }
                i += 1;
            }
            for _ in 0..c.eof_pause {
                yield_now().await;
            }
            drop(tx); // end of stream
        })
    };
    match rx {
        Source::Tcp(s) => check(StreamReader::with_limit(s, c.limit), &c).await?,
        Source::Unix(s) => check(StreamReader::with_limit(s, c.limit), &c).await?,
    }
    writer.await.unwrap();
    Ok(())
}

/// Runs `call` on the reader: awaited, or (`cancel`) polled once and dropped, `None`
/// if it was still pending then (a cancelled call consumes nothing).
async fn perform<S: PooledRead>(
    r: &mut StreamReader<S>,
    call: &Call,
    cancel: bool,
) -> Option<Result<Vec<u8>, ReadError>> {
    let fut = async {
        match call {
            Call::Readline => r.readline().await,
            Call::Readuntil(sep) => r.readuntil(sep).await,
            Call::ReaduntilAny(a, b) => r.readuntil_any(&[a.as_slice(), b.as_slice()]).await,
            Call::Readexactly(n) => r.readexactly(*n).await,
            Call::Read(n) => r.read(*n).await.map_err(ReadError::Io),
        }
    };
    if !cancel {
        return Some(fut.await);
    }
    let mut fut = pin!(fut);
    poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(v) => Poll::Ready(Some(v)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

async fn check<S: PooledRead>(mut r: StreamReader<S>, c: &Case) -> Result<(), TestCaseError> {
    let limit = c.limit;
    let mut rest: &[u8] = &c.data;
    for (i, (call, cancel)) in c.calls.iter().enumerate() {
        let left = rest.len();
        let Some(res) = perform(&mut r, call, *cancel).await else {
            continue;
        };
        let scan = |seps: &[&[u8]]| model_scan(rest, seps, limit);
        let (want, took) = match call {
            Call::Readline => match scan(&[b"\n"]) {
                Ok(end) => (Got::Bytes(rest[..end].to_vec()), end),
                Err(true) => (Got::Overrun, 0),
                Err(false) => (Got::Bytes(rest.to_vec()), left),
            },
            Call::Readuntil(sep) => match scan(&[sep]) {
                Ok(end) => (Got::Bytes(rest[..end].to_vec()), end),
                Err(true) => (Got::Overrun, 0),
                Err(false) => (Got::Incomplete(rest.to_vec(), None), left),
            },
            Call::ReaduntilAny(a, b) => match scan(&[a, b]) {
                Ok(end) => (Got::Bytes(rest[..end].to_vec()), end),
                Err(true) => (Got::Overrun, 0),
                Err(false) => (Got::Incomplete(rest.to_vec(), None), left),
            },
            Call::Readexactly(n) if left >= *n => (Got::Bytes(rest[..*n].to_vec()), *n),
            Call::Readexactly(n) => (Got::Incomplete(rest.to_vec(), Some(*n)), left),
            Call::Read(n) => {
                // How much comes depends on the chunks: any non-empty prefix of at most
                // n bytes, empty only at end of stream or for n == 0.
                let k = res.as_ref().map_or(0, |b| b.len());
                prop_assert!(k <= *n && k <= left, "call {}: read({}) gave {}", i, n, k);
                prop_assert!(
                    k > 0 || *n == 0 || left == 0,
                    "call {}: read({}) gave nothing with {} bytes left",
                    i,
                    n,
                    left
                );
                (Got::Bytes(rest[..k].to_vec()), k)
            }
        };
        let got = reduce(res, limit, left)?;
        prop_assert_eq!(
            got,
            want,
            "call {}: {:?} (cancel {}), limit {}",
            i,
            call,
            cancel,
            limit
        );
        rest = &rest[took..];
    }
    // Nothing lost or duplicated: the rest of the stream is what the model has left.
    let tail = r
        .read_to_end()
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&tail[..], rest, "read_to_end");
    prop_assert!(r.at_eof());
    Ok(())
}

enum Source {
    Tcp(ringio::net::TcpStream),
    Unix(UnixStream),
}

/// A boxed future of `Writer::send`: whether the bytes went.
type Sending<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + 'a>>;

/// The writing end, TCP or Unix.
trait Writer {
    fn send(&self, b: Vec<u8>) -> Sending<'_>;
}

impl Writer for ringio::net::TcpStream {
    fn send(&self, b: Vec<u8>) -> Sending<'_> {
        Box::pin(async move { self.write_all(b).await.0.is_ok() })
    }
}

impl Writer for UnixStream {
    fn send(&self, b: Vec<u8>) -> Sending<'_> {
        Box::pin(async move { self.write_all(b).await.0.is_ok() })
    }
}

fn stream_reader_matches_model(d: Driver) {
    let rt = support::rt(d);
    TestRunner::new(config())
        .run(&case(), |c| {
            rt.block_on(async {
                timeout(Duration::from_secs(10), run_case(c))
                    .await
                    .unwrap_or_else(|_| Err(TestCaseError::fail("stalled")))
            })
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

both_drivers!(stream_reader_matches_model);
