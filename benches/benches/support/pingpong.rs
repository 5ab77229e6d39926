//! The echo tasks and the timed loop of the ping-pong benches (`tcp.rs`, `unix.rs`, which
//! include this file with `#[path]`): the client writes `size` bytes and reads `size`
//! back per iteration, from an echo task on the same runtime. Each sample is one
//! `block_on` that times only its round trips; the buffers are reused across samples.

use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// ringio's echo task: reads up to `size` bytes and writes back what came, until the
/// peer closes.
pub async fn ringio_echo<S: AsyncReadOwned + AsyncWriteOwned>(conn: S, size: usize) {
    let mut buf = Vec::with_capacity(size);
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
pub async fn tokio_echo<S: AsyncRead + AsyncWrite + Unpin>(mut conn: S, size: usize) {
    let mut buf = vec![0u8; size];
    loop {
        let n = conn.read(&mut buf).await.expect("echo read");
        if n == 0 {
            return;
        }
        conn.write_all(&buf[..n]).await.expect("echo write");
    }
}

/// ringio's client side, as variant `name`: owned buffers, handed to the kernel and back.
pub fn ringio_rounds<S: AsyncReadOwned + AsyncWriteOwned>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    rt: &ringio::Runtime,
    client: &S,
    size: usize,
) {
    let mut request = Some(vec![0x5au8; size]);
    let mut reply = Some(vec![0u8; size]);
    group.bench_function(name, |b| {
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
}

/// tokio's client side, as variant `name`: `AsyncWriteExt` and `AsyncReadExt` over
/// borrowed buffers.
pub fn tokio_rounds<S: AsyncRead + AsyncWrite + Unpin>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    rt: &tokio::runtime::Runtime,
    client: &mut S,
    size: usize,
) {
    let request = vec![0x5au8; size];
    let mut reply = vec![0u8; size];
    group.bench_function(name, |b| {
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
}
