//! Zero-copy send: `TcpStream::send_zc` (IORING_OP_SEND_ZC) against a plain `write`
//! (IORING_OP_SEND), each streaming `SIZE`-byte buffers over one loopback connection to
//! a reader task on the same runtime. One iteration sends one buffer and waits until
//! the reader has it all, so the figure is the cost of one buffer's trip.
//!
//! This bench decides where ringio uses SEND_ZC: only if it measures faster. On
//! loopback the kernel copies the bytes anyway and SEND_ZC adds a notification
//! completion, so expect it to lose here; it pays on real NICs with large buffers.
//! Groups: `send_zc_16k` and `send_zc_256k`, variants `send` and `send_zc` (no tokio:
//! tokio has no zero-copy send); and `send_zc_echo_64k`, an echo server sending pooled
//! receive buffers back with `write`, `send_zc`, or `send_zc` from a pool registered as
//! a fixed buffer (`send_zc_fixed`: no page pinning per send). ringio's backend is `RINGIO_DRIVER`'s (on epoll both
//! are a plain `send(2)`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
use std::time::Instant;

/// Sends `buf` whole, with send_zc or write.
async fn send_all(conn: &ringio::net::TcpStream, mut buf: Vec<u8>, zc: bool) -> Vec<u8> {
    use ringio::buf::IoBuf;
    let len = buf.len();
    let mut sent = 0;
    while sent < len {
        let (res, slice) = if zc {
            conn.send_zc(buf.slice(sent..len)).await
        } else {
            conn.write(buf.slice(sent..len)).await
        };
        sent += res.expect("send");
        buf = slice.into_inner();
    }
    buf
}

fn bench_size(c: &mut Criterion, name: &str, size: usize) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(size as u64));
    let rt = ringio::Runtime::new().expect("runtime");
    let (client, done) = rt.block_on(async move {
        let listener = ringio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = ringio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        // The reader reports each whole buffer it has read.
        let done = std::rc::Rc::new(ringio::sync::Queue::unbounded());
        let tx = done.clone();
        // Detached: it lives on across block_on calls until the client closes.
        drop(ringio::spawn(async move {
            let mut buf = vec![0u8; size];
            loop {
                let (res, b) = server.read_exact(buf).await;
                if res.is_err() {
                    return;
                }
                buf = b;
                tx.put(()).await.unwrap();
            }
        }));
        (client, done)
    });
    let client = std::rc::Rc::new(client);
    for (variant, zc) in [("send", false), ("send_zc", true)] {
        let (client, done) = (client.clone(), done.clone());
        group.bench_function(variant, |b| {
            b.iter_custom(|iters| {
                let (client, done) = (client.clone(), done.clone());
                rt.block_on(async move {
                    let mut buf = vec![1u8; size];
                    let start = Instant::now();
                    for _ in 0..iters {
                        buf = send_all(&client, buf, zc).await;
                        done.get().await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

/// How the echo server sends back what it received.
#[derive(Clone, Copy)]
enum EchoSend {
    Write,
    SendZc,
}

/// Echo of `size`-byte messages through a server that receives into a `BufPool` and
/// sends the pooled buffers back: with `write`, with `send_zc`, and with `send_zc` from
/// a pool registered as a fixed buffer (`Builder::fixed_buffers`), each on its own
/// runtime. One iteration is one message's round trip.
fn bench_echo(c: &mut Criterion, name: &str, size: usize) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(size as u64));
    let variants = [
        ("write", EchoSend::Write, 0u16),
        ("send_zc", EchoSend::SendZc, 0),
        ("send_zc_fixed", EchoSend::SendZc, 1),
    ];
    for (variant, how, fixed) in variants {
        let rt = ringio::Builder::new()
            .fixed_buffers(fixed)
            .build()
            .expect("runtime");
        let client = rt.block_on(async move {
            let listener = ringio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let client = ringio::net::TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (server, _) = listener.accept().await.unwrap();
            // Detached: it lives on across block_on calls until the client closes.
            drop(ringio::spawn(async move {
                let pool = ringio::buf::BufPool::new(64, 64 * 1024).unwrap();
                let mut told = false;
                while let Ok(Some(buf)) = server.recv_pooled(&pool).await {
                    if !told {
                        told = true;
                        eprintln!(
                            "send_zc_echo: pool registered as a fixed buffer: {}",
                            pool.is_registered()
                        );
                    }
                    let res = match how {
                        EchoSend::Write => server.write_all(buf).await.0,
                        EchoSend::SendZc => {
                            use ringio::buf::IoBuf;
                            let len = buf.len();
                            let mut slice = buf.slice(0..len);
                            let mut sent = 0;
                            loop {
                                let (res, s) = server.send_zc(slice).await;
                                match res {
                                    Ok(n) => sent += n,
                                    Err(e) => break Err(e),
                                }
                                if sent == len {
                                    break Ok(());
                                }
                                slice = s.into_inner().slice(sent..len);
                            }
                        }
                    };
                    if res.is_err() {
                        return;
                    }
                }
            }));
            client
        });
        let client = std::rc::Rc::new(client);
        group.bench_function(variant, |b| {
            let client = client.clone();
            b.iter_custom(|iters| {
                let client = client.clone();
                rt.block_on(async move {
                    let (mut out, mut back) = (vec![3u8; size], vec![0u8; size]);
                    let start = Instant::now();
                    for _ in 0..iters {
                        let (res, o) = client.write_all(out).await;
                        res.expect("write");
                        out = o;
                        let (res, b) = client.read_exact(back).await;
                        res.expect("read");
                        back = b;
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

fn send_zc(c: &mut Criterion) {
    bench_size(c, "send_zc_16k", 16 * 1024);
    bench_size(c, "send_zc_256k", 256 * 1024);
    bench_echo(c, "send_zc_echo_64k", 64 * 1024);
}

criterion_group!(benches, send_zc);
criterion_main!(benches);
