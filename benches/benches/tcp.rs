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
use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
use std::net::SocketAddr;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;

/// Bytes each way per round trip.
const SIZE: usize = 64;

/// The loopback address to listen on, with a port the kernel picks.
const LOOPBACK: &str = "127.0.0.1:0";

/// ringio's echo task: reads up to [`SIZE`] bytes and writes back what came, until the
/// peer closes.
async fn ringio_echo(conn: ringio::net::TcpStream) {
    let mut buf = vec![0u8; SIZE];
    loop {
        let (res, b) = conn.read(buf).await;
        if res.expect("echo read") == 0 {
            return;
        }
        let (res, b) = conn.write_all(b).await;
        res.expect("echo write");
        buf = b;
    }
}

/// tokio's echo task, the same as [`ringio_echo`].
async fn tokio_echo(mut conn: tokio::net::TcpStream) {
    let mut buf = [0u8; SIZE];
    loop {
        let n = conn.read(&mut buf).await.expect("echo read");
        if n == 0 {
            return;
        }
        conn.write_all(&buf[..n]).await.expect("echo write");
    }
}

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
            ringio_echo(conn).await;
        });
        let client = ringio::net::TcpStream::connect(addr)
            .await
            .expect("connect");
        client.set_nodelay(true).expect("nodelay");
        (client, echo)
    });
    let mut request = Some(vec![0x5au8; SIZE]);
    let mut reply = Some(vec![0u8; SIZE]);
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
                tokio_echo(conn).await;
            });
            let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
            client.set_nodelay(true).expect("nodelay");
            (client, echo)
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

criterion_group!(benches, tcp_pingpong);
criterion_main!(benches);
