//! TCP: request and reply over one loopback connection.
//!
//! `tcp_pingpong`: a client task writes 64 bytes and reads 64 back, per iteration, from
//! an echo task on the same runtime, over one connection to 127.0.0.1 with `TCP_NODELAY`
//! on both ends. One iteration is a round trip: two sends, two receives, and each task
//! suspended and woken by the driver once or more.
//!
//! # Why the comparison is fair
//!
//! Both variants run the same protocol on the same kind of socket: the same sizes, the
//! same buffers reused from iteration to iteration, the echo task reading up to 64 bytes
//! and writing back what came. ringio reads and writes with owned buffers (the kernel
//! holds them while an operation is in flight), tokio with `AsyncReadExt` and
//! `AsyncWriteExt` over borrowed ones; each is its runtime's own way. The connection is
//! set up once per variant, outside the timing: the echo task lives on across `block_on`
//! calls, and each sample times only its round trips.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::net::SocketAddr;

#[path = "support/pingpong.rs"]
mod pingpong;
mod support;

/// Bytes each way per round trip.
const SIZE: usize = 64;

/// The loopback address to listen on, with a port the kernel picks.
const LOOPBACK: &str = "127.0.0.1:0";

/// ringio's side of the ping-pong on runtime `rt`, as variant `name`.
fn ringio_pingpong(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    rt: ringio::Runtime,
) {
    let (client, echo) = rt.block_on(async {
        let listener = ringio::net::TcpListener::bind(LOOPBACK).expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("local_addr");
        let echo = ringio::spawn(async move {
            let (conn, _) = listener.accept().await.expect("accept");
            conn.set_nodelay(true).expect("nodelay");
            pingpong::ringio_echo(conn, SIZE).await;
        });
        let client = ringio::net::TcpStream::connect(addr)
            .await
            .expect("connect");
        client.set_nodelay(true).expect("nodelay");
        (client, echo)
    });
    pingpong::ringio_rounds(group, name, &rt, &client, SIZE);
    drop(client);
    rt.block_on(echo).expect("echo task");
}

fn tcp_pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_pingpong");
    group.throughput(Throughput::Elements(1));
    ringio_pingpong(&mut group, "ringio", support::ringio());
    // The same with a registered file table (`Builder::fixed_files`): both sockets
    // are named by slot.
    ringio_pingpong(
        &mut group,
        "ringio_fixed_files",
        support::ringio_from(ringio::Builder::new().fixed_files(64)),
    );
    {
        let rt = support::tokio();
        let (mut client, echo) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind(LOOPBACK).await.expect("bind");
            let addr = listener.local_addr().expect("local_addr");
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
        rt.block_on(echo).expect("echo task");
    }
    group.finish();
}

criterion_group!(benches, tcp_pingpong);
criterion_main!(benches);
