//! UDP: request and reply datagrams over loopback.
//!
//! `udp_pingpong`: a client task sends a 64-byte datagram to an echo task on the same
//! runtime and receives the echo, per iteration, both sockets on 127.0.0.1. One
//! iteration is a round trip: two sends, two receives, and each task suspended and
//! woken by the driver once or more.
//!
//! # Why the comparison is fair
//!
//! Both variants run the same protocol on the same kind of socket: unconnected sockets,
//! `send_to` and `recv_from` on both sides, the same sizes, the client's buffers reused
//! from iteration to iteration, the echo task receiving into a 64-byte buffer and
//! sending back what came to whoever sent it. ringio sends and receives with owned
//! buffers (the kernel holds them while an operation is in flight: SENDMSG and RECVMSG
//! on io_uring), tokio with borrowed ones on readiness; each is its runtime's own way.
//! `ringio_pooled` is the same with the echo task receiving through a `BufPool`
//! (`recv_from_pooled`: a multishot RECVMSG on io_uring) and sending the pooled buffer
//! back. The sockets are set up once per variant, outside the timing: the echo task
//! lives on across `block_on` calls, and each sample times only its round trips.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::net::SocketAddr;
use std::time::Instant;

mod support;

/// Bytes each way per round trip.
const SIZE: usize = 64;

/// The loopback address to bind, with a port the kernel picks.
const LOOPBACK: &str = "127.0.0.1:0";

/// ringio's echo task: sends each datagram back to its sender, until an empty one.
async fn ringio_echo(socket: ringio::net::UdpSocket) {
    let mut buf = vec![0u8; SIZE];
    loop {
        let (res, b) = socket.recv_from(buf).await;
        let (n, peer) = res.expect("echo recv");
        if n == 0 {
            return;
        }
        let (res, b) = socket.send_to(b, peer).await;
        res.expect("echo send");
        buf = b;
    }
}

/// [`ringio_echo`] receiving into a pool's buffers.
async fn ringio_echo_pooled(socket: ringio::net::UdpSocket) {
    let pool =
        ringio::buf::BufPool::new(16, SIZE + ringio::net::UdpSocket::POOL_HEADROOM).expect("pool");
    loop {
        let (buf, peer) = socket.recv_from_pooled(&pool).await.expect("echo recv");
        if buf.is_empty() {
            return;
        }
        socket.send_to(buf, peer).await.0.expect("echo send");
    }
}

/// tokio's echo task, the same as [`ringio_echo`].
async fn tokio_echo(socket: tokio::net::UdpSocket) {
    let mut buf = [0u8; SIZE];
    loop {
        let (n, peer) = socket.recv_from(&mut buf).await.expect("echo recv");
        if n == 0 {
            return;
        }
        socket.send_to(&buf[..n], peer).await.expect("echo send");
    }
}

/// ringio's side of the ping-pong on runtime `rt`, as variant `name`, with `pooled`
/// choosing the echo task.
fn ringio_pingpong(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    rt: ringio::Runtime,
    pooled: bool,
) {
    let (client, server, echo) = rt.block_on(async {
        let server = ringio::net::UdpSocket::bind(LOOPBACK).expect("bind");
        let addr: SocketAddr = server.local_addr().expect("local_addr");
        let echo = ringio::spawn(async move {
            if pooled {
                ringio_echo_pooled(server).await
            } else {
                ringio_echo(server).await
            }
        });
        let client = ringio::net::UdpSocket::bind(LOOPBACK).expect("bind");
        (client, addr, echo)
    });
    let mut request = Some(vec![0x5au8; SIZE]);
    let mut reply = Some(vec![0u8; SIZE]);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let (mut req, mut rep) = (request.take().unwrap(), reply.take().unwrap());
                let start = Instant::now();
                for _ in 0..iters {
                    let (res, b) = client.send_to(req, server).await;
                    res.expect("send");
                    req = b;
                    let (res, b) = client.recv_from(rep).await;
                    assert_eq!(res.expect("recv").0, SIZE);
                    rep = b;
                }
                let elapsed = start.elapsed();
                assert_eq!(req, rep, "the echo changed the bytes");
                (request, reply) = (Some(req), Some(rep));
                elapsed
            })
        })
    });
    rt.block_on(async {
        client.send_to(Vec::new(), server).await.0.expect("stop");
        echo.await.expect("echo task");
    });
}

fn udp_pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("udp_pingpong");
    group.throughput(Throughput::Elements(1));
    ringio_pingpong(&mut group, "ringio", support::ringio(), false);
    ringio_pingpong(&mut group, "ringio_pooled", support::ringio(), true);
    {
        let rt = support::tokio();
        let (client, server, echo) = rt.block_on(async {
            let server = tokio::net::UdpSocket::bind(LOOPBACK).await.expect("bind");
            let addr = server.local_addr().expect("local_addr");
            let echo = tokio::spawn(tokio_echo(server));
            let client = tokio::net::UdpSocket::bind(LOOPBACK).await.expect("bind");
            (client, addr, echo)
        });
        let request = [0x5au8; SIZE];
        let mut reply = [0u8; SIZE];
        group.bench_function("tokio", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        client.send_to(&request, server).await.expect("send");
                        let (n, _) = client.recv_from(&mut reply).await.expect("recv");
                        assert_eq!(n, SIZE);
                    }
                    let elapsed = start.elapsed();
                    assert_eq!(request, reply, "the echo changed the bytes");
                    elapsed
                })
            })
        });
        rt.block_on(async {
            client.send_to(&[], server).await.expect("stop");
            echo.await.expect("echo task");
        });
    }
    group.finish();
}

criterion_group!(benches, udp_pingpong);
criterion_main!(benches);
