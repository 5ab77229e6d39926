//! Unix sockets: request and reply over one Unix stream connection.
//!
//! `unix_pingpong`: a client task writes 64 bytes and reads 64 back, per iteration, from
//! an echo task on the same runtime, over one connected pair of Unix stream sockets.
//! One iteration is a round trip: two sends, two receives, and each task suspended and
//! woken by the driver once or more.
//!
//! # Why the comparison is fair
//!
//! Both variants run the same protocol on the same kind of socket, made the same way
//! (`socketpair(2)` through each runtime's `UnixStream::pair`, so no path and no accept
//! is involved): the same sizes, the same buffers reused from iteration to iteration,
//! the echo task reading up to 64 bytes and writing back what came. ringio reads and
//! writes with owned buffers (the kernel holds them while an operation is in flight),
//! tokio with `AsyncReadExt` and `AsyncWriteExt` over borrowed ones; each is its
//! runtime's own way. The pair is made once per variant, outside the timing: the echo
//! task lives on across `block_on` calls, and each sample times only its round trips.
//! As in `tcp.rs`, tokio runs its current_thread runtime on the thread that calls
//! `block_on`, as ringio does.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;

/// Bytes each way per round trip.
const SIZE: usize = 64;

/// ringio's echo task: reads up to [`SIZE`] bytes and writes back what came, until the
/// peer closes.
async fn ringio_echo(conn: ringio::net::UnixStream) {
    let mut buf = Vec::with_capacity(SIZE);
    loop {
        let (res, b) = conn.read(buf).await;
        if res.expect("echo read") == 0 {
            return;
        }
        let (res, mut b) = conn.write_all(b).await;
        res.expect("echo write");
        b.clear();
        buf = b;
    }
}

/// tokio's echo task, the same as [`ringio_echo`].
async fn tokio_echo(mut conn: tokio::net::UnixStream) {
    let mut buf = [0u8; SIZE];
    loop {
        let n = conn.read(&mut buf).await.expect("echo read");
        if n == 0 {
            return;
        }
        conn.write_all(&buf[..n]).await.expect("echo write");
    }
}

fn unix_pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("unix_pingpong");
    group.throughput(Throughput::Elements(1));
    {
        let rt = support::ringio();
        let (client, echo) = rt.block_on(async {
            let (client, server) = ringio::net::UnixStream::pair().expect("pair");
            (client, ringio::spawn(ringio_echo(server)))
        });
        let mut request = Some(vec![0x5au8; SIZE]);
        let mut reply = Some(vec![0u8; SIZE]);
        group.bench_function("ringio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let (mut req, mut rep) = (request.take().unwrap(), reply.take().unwrap());
                    let start = Instant::now();
                    for _ in 0..iters {
                        let (res, b) = client.write_all(req).await;
                        res.expect("write");
                        req = b;
                        let (res, b) = client.read_exact(rep).await;
                        res.expect("read");
                        rep = b;
                    }
                    let elapsed = start.elapsed();
                    assert_eq!(req, rep, "the echo changed the bytes");
                    (request, reply) = (Some(req), Some(rep));
                    elapsed
                })
            })
        });
        drop(client);
        rt.block_on(echo).expect("echo task");
    }
    {
        let rt = support::tokio();
        let (mut client, echo) = rt.block_on(async {
            let (client, server) = tokio::net::UnixStream::pair().expect("pair");
            (client, tokio::spawn(tokio_echo(server)))
        });
        let request = [0x5au8; SIZE];
        let mut reply = [0u8; SIZE];
        group.bench_function("tokio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        client.write_all(&request).await.expect("write");
                        client.read_exact(&mut reply).await.expect("read");
                    }
                    let elapsed = start.elapsed();
                    assert_eq!(request, reply, "the echo changed the bytes");
                    elapsed
                })
            })
        });
        drop(client);
        rt.block_on(echo).expect("echo task");
    }
    group.finish();
}

criterion_group!(benches, unix_pingpong);
criterion_main!(benches);
