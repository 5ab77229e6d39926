//! Streams: `readline` over 64-byte lines, ringio's `StreamReader` against tokio's
//! `BufReader::read_line`.
//!
//! One iteration is one line read. For each sample a sender task on the same runtime
//! writes exactly as many lines as the sample reads, in batches of [`BATCH`] lines (one
//! prebuilt buffer, written again and again), over one loopback connection, and the
//! reader reads them one `readline` at a time.
//!
//! # Why the comparison is fair
//!
//! Both sides send the same bytes with their runtime's plain `write_all` of the same
//! batch buffer (ringio's owned buffer comes back and is reused: no copy), and read with
//! their runtime's buffered line reader at its default settings: ringio's
//! `StreamReader` (64 KiB limit, the worker's receive pool) returns each line as a new
//! `Vec<u8>`, as asyncio returns new `bytes`; tokio's `BufReader` (8 KiB buffer) appends
//! into one reused `String`, and checks UTF-8. Sender, reader and the loopback both
//! ways run on one thread in both cases.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringio::io::{AsyncWriteOwned, StreamReader};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

mod support;

/// Bytes per line, newline included.
const LINE: usize = 64;
/// Lines per write of the sender.
const BATCH: usize = 1024;

/// `BATCH` lines of `LINE` bytes.
fn batch() -> Vec<u8> {
    let mut line = vec![b'x'; LINE - 1];
    line.push(b'\n');
    line.repeat(BATCH)
}

/// ringio's side, as variant `name`: `readline` (a new `Vec` per line), or with `into`
/// `readline_into` one reused `Vec` (tokio's `read_line` shape).
fn ringio_readline(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    into: bool,
) {
    {
        let rt = support::ringio();
        let (client, server) = rt.block_on(async {
            let listener = ringio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let client = ringio::net::TcpStream::connect(listener.local_addr().unwrap())
                .await
                .expect("connect");
            let (server, _) = listener.accept().await.expect("accept");
            (std::rc::Rc::new(client), server)
        });
        let mut reader = rt.block_on(async { StreamReader::new(server) });
        let mut buf = Some(batch());
        let mut reused = Vec::with_capacity(LINE);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let lines = iters as usize;
                    let sender = {
                        let client = client.clone();
                        let mut buf = buf.take().expect("the batch buffer");
                        ringio::spawn(async move {
                            let mut left = lines;
                            while left > 0 {
                                let n = left.min(BATCH);
                                let (res, slice) = client
                                    .write_all(ringio::buf::IoBuf::slice(buf, ..n * LINE))
                                    .await;
                                res.expect("send");
                                buf = slice.into_inner();
                                left -= n;
                            }
                            buf
                        })
                    };
                    let start = Instant::now();
                    for _ in 0..lines {
                        if into {
                            reused.clear();
                            let n = reader.readline_into(&mut reused).await.expect("readline");
                            debug_assert_eq!(n, LINE);
                            std::hint::black_box(&reused);
                        } else {
                            let line = reader.readline().await.expect("readline");
                            debug_assert_eq!(line.len(), LINE);
                            std::hint::black_box(line);
                        }
                    }
                    let elapsed = start.elapsed();
                    buf = Some(sender.await.expect("sender"));
                    elapsed
                })
            })
        });
    }
}

fn readline(c: &mut Criterion) {
    let mut group = c.benchmark_group("readline_64");
    group.throughput(Throughput::Elements(1));
    ringio_readline(&mut group, "ringio", false);
    ringio_readline(&mut group, "ringio_into", true);
    {
        let rt = support::tokio();
        let (client, server) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
                .await
                .expect("connect");
            let (server, _) = listener.accept().await.expect("accept");
            (client, server)
        });
        let mut writer = Some(client.into_split().1);
        let mut reader = tokio::io::BufReader::new(server);
        let data = std::rc::Rc::new(batch());
        let mut line = String::with_capacity(LINE);
        group.bench_function("tokio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let lines = iters as usize;
                    let local = tokio::task::LocalSet::new();
                    local
                        .run_until(async {
                            let sender = {
                                let data = data.clone();
                                let mut w = writer.take().expect("the writer");
                                tokio::task::spawn_local(async move {
                                    let mut left = lines;
                                    while left > 0 {
                                        let n = left.min(BATCH);
                                        w.write_all(&data[..n * LINE]).await.expect("send");
                                        left -= n;
                                    }
                                    w
                                })
                            };
                            let start = Instant::now();
                            for _ in 0..lines {
                                line.clear();
                                let n = reader.read_line(&mut line).await.expect("read_line");
                                debug_assert_eq!(n, LINE);
                                std::hint::black_box(&line);
                            }
                            let elapsed = start.elapsed();
                            writer = Some(sender.await.expect("sender"));
                            elapsed
                        })
                        .await
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, readline);
criterion_main!(benches);
