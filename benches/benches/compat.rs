//! The tokio-io compatibility adapter: request and reply over one loopback connection,
//! 4 KiB each way per iteration, from an echo task on the same runtime.
//!
//! - `ringio-compat`: `ringio::compat::Compat<TcpStream>` driven through tokio's
//!   `AsyncWriteExt::write_all` / `AsyncReadExt::read_exact` on a ringio runtime, with
//!   the echo task written against tokio's traits too (what a codec or protocol crate
//!   written for tokio costs on ringio: one copy each way, see `ringio::compat`);
//! - `ringio-owned`: the same loop with ringio's own owned-buffer calls (the adapter's
//!   overhead is the difference);
//! - `tokio`: tokio's `TcpStream` on tokio's current_thread runtime.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/pingpong.rs"]
mod pingpong;
mod support;

const SIZE: usize = 4096;
const LOOPBACK: &str = "127.0.0.1:0";

/// A connected client and the server end, nodelay on both.
fn ringio_pair(rt: &ringio::Runtime) -> (ringio::net::TcpStream, ringio::net::TcpStream) {
    rt.block_on(async {
        let listener = ringio::net::TcpListener::bind(LOOPBACK).expect("bind");
        let client = ringio::net::TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        client.set_nodelay(true).expect("nodelay");
        server.set_nodelay(true).expect("nodelay");
        (client, server)
    })
}

fn compat_pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("compat_pingpong");
    group.throughput(Throughput::Elements(1));
    {
        let rt = support::ringio();
        let (client, server) = ringio_pair(&rt);
        let echo = rt.spawn(pingpong::tokio_echo(
            ringio::compat::Compat::new(server),
            SIZE,
        ));
        let mut client = ringio::compat::Compat::new(client);
        let request = vec![0x5au8; SIZE];
        let mut reply = vec![0u8; SIZE];
        group.bench_function("ringio-compat", |b| {
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
        rt.block_on(async {
            client.shutdown().await.expect("shutdown");
            echo.await.expect("echo task");
        });
    }
    {
        let rt = support::ringio();
        let (client, server) = ringio_pair(&rt);
        let echo = rt.spawn(pingpong::ringio_echo(server, SIZE));
        pingpong::ringio_rounds(&mut group, "ringio-owned", &rt, &client, SIZE);
        drop(client);
        rt.block_on(async { echo.await.expect("echo task") });
    }
    {
        let rt = support::tokio();
        let (mut client, echo) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind(LOOPBACK).await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let echo = tokio::spawn(async move {
                let (conn, _) = listener.accept().await.expect("accept");
                conn.set_nodelay(true).expect("nodelay");
                pingpong::tokio_echo(conn, SIZE).await;
            });
            let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
            client.set_nodelay(true).expect("nodelay");
            (client, echo)
        });
        pingpong::tokio_rounds(&mut group, "tokio", &rt, &mut client, SIZE);
        drop(client);
        rt.block_on(async { echo.await.expect("echo task") });
    }
    group.finish();
}

criterion_group!(benches, compat_pingpong);
criterion_main!(benches);
