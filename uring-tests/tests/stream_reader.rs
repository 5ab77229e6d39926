//! `StreamReader` (ASYNCIO.md §5.2) on both drivers: every Check of the spec, the
//! project's deviation (an over-long line keeps its bytes), drops of pending calls at
//! random points with no byte lost, and an idle reader holding no pool buffer.

mod support;

use ringio::buf::BufPool;
use ringio::io::{AsyncWriteOwned, ReadError, StreamReader};
use ringio::net::{TcpListener, TcpStream};
use ringio::runtime::Driver;
use ringio::time::sleep;
use std::io::ErrorKind;
use std::time::Duration;
use support::{pair, poll_once, reset, rt, Rng};

async fn send(c: &TcpStream, bytes: &[u8]) {
    c.write_all(bytes.to_vec()).await.0.unwrap();
}

/// Check 1: "ab" then FIN: `readexactly(3)` is `Incomplete{"ab", 3}`.
fn readexactly_at_eof_is_incomplete(driver: Driver) {
    rt(driver).block_on(async {
        let (c, s) = pair().await;
        send(&c, b"ab").await;
        drop(c);
        let mut r = StreamReader::new(s);
        match r.readexactly(3).await {
            Err(ReadError::Incomplete { partial, expected }) => {
                assert_eq!(partial, b"ab");
                assert_eq!(expected, Some(3));
            }
            other => panic!("expected Incomplete, got {other:?}"),
        }
        assert!(r.at_eof());
    });
}

/// Check 2: limit 8, 20 bytes and no newline: `readuntil` is `LimitOverrun` and every
/// byte is still there for `read(20)`.
fn readuntil_past_the_limit_keeps_the_bytes(driver: Driver) {
    rt(driver).block_on(async {
        let (c, s) = pair().await;
        let bytes: Vec<u8> = (b'a'..b'a' + 20).collect();
        send(&c, &bytes).await;
        let mut r = StreamReader::with_limit(s, 8);
        match r.readuntil(b"\n").await {
            Err(ReadError::LimitOverrun { consumed }) => assert!(consumed > 8, "{consumed}"),
            other => panic!("expected LimitOverrun, got {other:?}"),
        }
        let mut got = r.read(20).await.unwrap();
        while got.len() < 20 {
            got.extend(r.read(20 - got.len()).await.unwrap());
        }
        assert_eq!(got, bytes);
    });
}

/// Check 3: "abc" then EOF: `readline` is "abc", then empty, and `at_eof`.
fn readline_at_eof_returns_the_partial_line_then_empty(driver: Driver) {
    rt(driver).block_on(async {
        let (c, s) = pair().await;
        send(&c, b"abc").await;
        drop(c);
        let mut r = StreamReader::new(s);
        assert!(!r.at_eof());
        assert_eq!(r.readline().await.unwrap(), b"abc");
        assert_eq!(r.readline().await.unwrap(), b"");
        assert!(r.at_eof());
    });
}

/// Check 4: `readuntil_any(["\r\n", "\n"])` on "x\r\n" is "x\r\n"; a separator split
/// across two receives is found; the earliest-ending separator wins.
fn readuntil_any_takes_the_first_separator_to_end(driver: Driver) {
    rt(driver).block_on(async {
        let (c, s) = pair().await;
        let mut r = StreamReader::new(s);
        send(&c, b"x\r\n").await;
        let seps: [&[u8]; 2] = [b"\r\n", b"\n"];
        assert_eq!(r.readuntil_any(&seps).await.unwrap(), b"x\r\n");
        send(&c, b"ab\r").await;
        // The rest of the separator comes in a later receive.
        let c = std::rc::Rc::new(c);
        let later = {
            let c = c.clone();
            ringio::spawn(async move {
                sleep(Duration::from_millis(20)).await;
                send(&c, b"\ncd\n").await;
            })
        };
        assert_eq!(r.readuntil(b"\r\n").await.unwrap(), b"ab\r\n");
        later.await.unwrap();
        assert_eq!(r.readuntil_any(&seps).await.unwrap(), b"cd\n");
        drop(c);
        match r.readuntil(b"!").await {
            Err(ReadError::Incomplete { partial, expected }) => {
                assert!(partial.is_empty());
                assert_eq!(expected, None);
            }
            other => panic!("expected Incomplete, got {other:?}"),
        }
    });
}

/// `read(n)`: 0 is empty at once; otherwise 1..=n bytes as soon as any arrive; empty at
/// end of stream. `read_to_end` takes the rest.
fn read_returns_what_is_there(driver: Driver) {
    rt(driver).block_on(async {
        let (c, s) = pair().await;
        let mut r = StreamReader::new(s);
        assert_eq!(r.read(0).await.unwrap(), b"");
        send(&c, b"hello world").await;
        let first = r.read(5).await.unwrap();
        assert_eq!(first, b"hello");
        send(&c, b"!!").await;
        drop(c);
        assert_eq!(r.read_to_end().await.unwrap(), b" world!!");
        assert_eq!(r.read(10).await.unwrap(), b"");
        assert!(r.at_eof());
    });
}

/// `readline_into` appends each line to the caller's buffer; 0 at end of stream.
fn readline_into_appends(driver: Driver) {
    rt(driver).block_on(async {
        let (c, s) = pair().await;
        send(&c, b"one\ntwo\nthr").await;
        drop(c);
        let mut r = StreamReader::new(s);
        let mut out = b">".to_vec();
        assert_eq!(r.readline_into(&mut out).await.unwrap(), 4);
        assert_eq!(r.readline_into(&mut out).await.unwrap(), 4);
        assert_eq!(r.readline_into(&mut out).await.unwrap(), 3);
        assert_eq!(r.readline_into(&mut out).await.unwrap(), 0);
        assert_eq!(out, b">one\ntwo\nthr");
    });
}

/// `lines()` yields each line and ends at end of stream.
fn lines_stream_yields_every_line(driver: Driver) {
    rt(driver).block_on(async {
        let (c, s) = pair().await;
        let sender = ringio::spawn(async move {
            for i in 0..100 {
                send(&c, format!("line {i}\n").as_bytes()).await;
            }
        });
        let mut r = StreamReader::new(s);
        let mut lines = std::pin::pin!(r.lines());
        let mut n = 0;
        while let Some(line) =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(lines.as_mut(), cx)).await
        {
            assert_eq!(line.unwrap(), format!("line {n}\n").as_bytes());
            n += 1;
            if n == 100 {
                break;
            }
        }
        assert_eq!(n, 100);
        sender.await.unwrap();
    });
}

/// Bad input: a 1 MiB line against the default 64 KiB limit is `LimitOverrun`, no
/// byte is lost, and the reader goes on to the next line.
fn megabyte_line_overruns_and_loses_nothing(driver: Driver) {
    rt(driver).block_on(async {
        let (c, s) = pair().await;
        let long: Vec<u8> = (0..1 << 20).map(|i| b'a' + (i % 26) as u8).collect();
        let sender = {
            let long = long.clone();
            ringio::spawn(async move {
                send(&c, &long).await;
                send(&c, b"\nnext\n").await;
                c
            })
        };
        let mut r = StreamReader::new(s);
        match r.readline().await {
            Err(ReadError::LimitOverrun { consumed }) => {
                assert!(consumed > 64 * 1024);
                assert!(r.buffered().len() >= 64 * 1024, "the bytes were kept");
            }
            other => panic!("expected LimitOverrun, got {:?}", other.map(|l| l.len())),
        }
        // Skip the long line by reading it out in pieces: every byte is there.
        let mut skipped = Vec::with_capacity(long.len());
        while skipped.len() < long.len() {
            let want = long.len() - skipped.len();
            skipped.extend(r.read(want.min(100_000)).await.unwrap());
        }
        assert!(skipped == long, "bytes of the long line lost or reordered");
        assert_eq!(r.readline().await.unwrap(), b"\n");
        assert_eq!(r.readline().await.unwrap(), b"next\n");
        drop(sender.await.unwrap());
    });
}

/// A peer reset is an `Io` error, not a panic or a hang.
fn peer_reset_is_an_io_error(driver: Driver) {
    rt(driver).block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().await.unwrap();
        let mut r = StreamReader::new(s);
        reset(c);
        match r.readline().await {
            Err(ReadError::Io(e)) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
            other => panic!("expected an Io error, got {other:?}"),
        }
    });
}

/// Check 5, in a loop: `readline` dropped at random points while lines arrive in random
/// fragments; every line is read once, in order, intact.
fn dropped_readlines_lose_no_bytes(driver: Driver) {
    let lines: usize = std::env::var("RINGIO_CANCEL_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(2_000, |n: usize| (n / 5).max(200));
    rt(driver).block_on(async move {
        let (c, s) = pair().await;
        let mut text = Vec::new();
        for i in 0..lines {
            text.extend_from_slice(format!("{i}:{}\n", "x".repeat(i % 50)).as_bytes());
        }
        let sender = {
            let text = text.clone();
            ringio::spawn(async move {
                let mut rng = Rng::new(7);
                let mut at = 0;
                while at < text.len() {
                    let n = (1 + rng.below(40) as usize).min(text.len() - at);
                    send(&c, &text[at..at + n]).await;
                    at += n;
                    if rng.below(4) == 0 {
                        ringio::yield_now().await;
                    }
                    if rng.below(64) == 0 {
                        // Let the reader catch up and find nothing to read, so some of
                        // its readlines are dropped while pending whatever the
                        // scheduling (a reader that only ever finds lines buffered
                        // would test nothing here).
                        ringio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                }
                c
            })
        };
        let mut r = StreamReader::new(s);
        let mut rng = Rng::new(11);
        let mut got = 0;
        let mut drops = 0;
        while got < lines {
            let mut line = Box::pin(r.readline());
            let line = match rng.below(3) {
                0 => {
                    let polled = poll_once(&mut line);
                    if polled.is_none() {
                        drops += 1;
                        drop(line);
                        ringio::yield_now().await;
                        continue;
                    }
                    polled.unwrap()
                }
                _ => line.await,
            };
            let line = line.unwrap();
            assert_eq!(
                line,
                format!("{got}:{}\n", "x".repeat(got % 50)).as_bytes(),
                "line {got}"
            );
            got += 1;
        }
        assert!(drops > 0, "no readline was dropped pending");
        drop(sender.await.unwrap());
        assert_eq!(r.readline().await.unwrap(), b"");
    });
}

/// Idle readers hold no receive buffer: 16 of them waiting on a 4-buffer pool leave all
/// 4 available, and data still reaches each of them.
fn idle_readers_hold_no_pool_buffer(driver: Driver) {
    rt(driver).block_on(async {
        let pool = BufPool::new(4, 1024).unwrap();
        let mut clients = Vec::new();
        let mut readers = Vec::new();
        for i in 0..16 {
            let (c, s) = pair().await;
            clients.push(c);
            let pool = pool.clone();
            readers.push(ringio::spawn(async move {
                let mut r = StreamReader::with_pool(s, pool, 1024);
                let line = r.readline().await.unwrap();
                assert_eq!(line, format!("to {i}\n").as_bytes());
            }));
        }
        sleep(Duration::from_millis(20)).await;
        assert_eq!(pool.available(), 4, "an idle reader holds a buffer");
        for (i, c) in clients.iter().enumerate() {
            send(c, format!("to {i}\n").as_bytes()).await;
        }
        for r in readers {
            r.await.unwrap();
        }
    });
}

/// Readers whose tasks stop receiving cannot starve the others of a shared pool: 24
/// connections flood a 64-buffer pool while their readers are never polled again, and
/// a 25th reader on the same pool still gets its line (without the pool's reserve, on
/// io_uring 24 x 4 queued buffers would hold all 64).
fn stuck_readers_do_not_starve_a_shared_pool(driver: Driver) {
    rt(driver).block_on(async {
        let pool = BufPool::new(64, 1024).unwrap();
        let mut stuck = Vec::new();
        let mut flooders = Vec::new();
        for _ in 0..24 {
            let (c, s) = pair().await;
            let mut r = StreamReader::with_pool(s, pool.clone(), 1024);
            // Arm its receive, then never poll it again.
            let mut first = Box::pin(r.readline());
            assert!(poll_once(&mut first).is_none());
            drop(first);
            stuck.push(r);
            flooders.push(ringio::spawn(async move {
                let _ = c.write_all(vec![b'x'; 16 * 1024]).await;
                c
            }));
        }
        sleep(Duration::from_millis(50)).await;
        let (c, s) = pair().await;
        let mut r = StreamReader::with_pool(s, pool.clone(), 1024);
        send(&c, b"still served\n").await;
        let line = ringio::time::timeout(Duration::from_secs(5), r.readline())
            .await
            .expect("a reader starved: the stuck connections hold the shared pool")
            .unwrap();
        assert_eq!(line, b"still served\n");
        // The stuck readers lost nothing: each still has its 16 KiB.
        for r in &mut stuck {
            let got = r
                .readexactly(16 * 1024)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(got.iter().all(|&b| b == b'x'));
        }
        for f in flooders {
            drop(f.await.unwrap());
        }
    });
}

both_drivers!(
    readexactly_at_eof_is_incomplete,
    readuntil_past_the_limit_keeps_the_bytes,
    readline_at_eof_returns_the_partial_line_then_empty,
    readuntil_any_takes_the_first_separator_to_end,
    read_returns_what_is_there,
    lines_stream_yields_every_line,
    readline_into_appends,
    megabyte_line_overruns_and_loses_nothing,
    peer_reset_is_an_io_error,
    dropped_readlines_lose_no_bytes,
    idle_readers_hold_no_pool_buffer,
    stuck_readers_do_not_starve_a_shared_pool,
);
