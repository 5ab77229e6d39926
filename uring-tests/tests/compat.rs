//! `ringio::compat::Compat`: ringio streams through tokio's and the futures crates'
//! I/O traits, on both drivers.

mod support;

use ringio::compat::Compat;
use ringio::net::{TcpListener, TcpStream, UnixStream};
use ringio::runtime::Driver;
use std::pin::Pin;
use support::{fd_count, poll_once, rt, serial, Rng};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

async fn tcp_pair() -> (Compat<TcpStream>, Compat<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (Compat::new(client), Compat::new(server))
}

/// tokio's helpers over TCP: 1 MiB each way through `write_all` / `read_exact`, with
/// reads smaller than a receive (the remainder is kept), then `shutdown` reads as end
/// of stream on the other side.
fn tokio_traits_move_a_mebibyte_each_way(d: Driver) {
    let _serial = serial(); // the fd-counting test below must see no other's fds
    rt(d).block_on(async {
        let (mut a, mut b) = tcp_pair().await;
        let mut rng = Rng::new(11);
        let data: Vec<u8> = (0..1 << 20).map(|_| rng.next_u64() as u8).collect();
        let sent = data.clone();
        let writer = ringio::spawn(async move {
            a.write_all(&sent).await.unwrap();
            a.flush().await.unwrap();
            a
        });
        let mut got = Vec::new();
        let mut chunk = [0u8; 1000]; // smaller than most receives
        while got.len() < data.len() {
            let n = b.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&chunk[..n]);
        }
        assert!(got == data, "bytes lost or reordered");
        let mut a = writer.await.unwrap();
        b.write_all(b"back").await.unwrap();
        let mut back = [0u8; 4];
        a.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"back");
        a.shutdown().await.unwrap();
        assert_eq!(
            b.read(&mut chunk).await.unwrap(),
            0,
            "end of stream after shutdown"
        );
    });
}

/// `tokio::io::copy` and `BufReader::lines` over Unix streams: a proxy in the middle
/// moves every byte, lines come out whole.
fn tokio_copy_and_lines_through_a_proxy(d: Driver) {
    let _serial = serial(); // the fd-counting test below must see no other's fds
    rt(d).block_on(async {
        let (client, proxy_in) = UnixStream::pair().unwrap();
        let (proxy_out, server) = UnixStream::pair().unwrap();
        let (mut client, mut proxy_in) = (Compat::new(client), Compat::new(proxy_in));
        let (mut proxy_out, server) = (Compat::new(proxy_out), Compat::new(server));
        let proxy = ringio::spawn(async move {
            let n = tokio::io::copy(&mut proxy_in, &mut proxy_out)
                .await
                .unwrap();
            proxy_out.shutdown().await.unwrap();
            n
        });
        let lines: Vec<String> = (0..2000)
            .map(|i| format!("line {i} {}", "x".repeat(i % 97)))
            .collect();
        let text = lines.join("\n") + "\n";
        client.write_all(text.as_bytes()).await.unwrap();
        client.shutdown().await.unwrap();
        let mut reader = tokio::io::BufReader::new(server).lines();
        let mut got = Vec::new();
        while let Some(line) = reader.next_line().await.unwrap() {
            got.push(line);
        }
        assert_eq!(got, lines);
        assert_eq!(proxy.await.unwrap(), text.len() as u64);
    });
}

/// The futures-io traits, polled directly: a write is ready once its send completed,
/// a read gets the bytes, close shuts the stream down.
fn futures_io_traits_round_trip(d: Driver) {
    use futures_io::{AsyncRead, AsyncWrite};
    let _serial = serial(); // the fd-counting test below must see no other's fds
    rt(d).block_on(async {
        let (mut a, mut b) = tcp_pair().await;
        let n = std::future::poll_fn(|cx| Pin::new(&mut a).poll_write(cx, b"futures"))
            .await
            .unwrap();
        assert_eq!(n, 7);
        std::future::poll_fn(|cx| Pin::new(&mut a).poll_flush(cx))
            .await
            .unwrap();
        let mut buf = [0u8; 16];
        let n = std::future::poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf))
            .await
            .unwrap();
        assert_eq!(&buf[..n], b"futures");
        std::future::poll_fn(|cx| Pin::new(&mut a).poll_close(cx))
            .await
            .unwrap();
        let n = std::future::poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf))
            .await
            .unwrap();
        assert_eq!(n, 0);
    });
}

/// Reads and writes dropped in flight (their futures polled once, then dropped with
/// the adapter) lose nothing for the next adapter on the same kind of stream, and leak
/// no fd: the operations' buffers stay with the driver until the kernel is done.
fn adapters_dropped_in_flight_leak_nothing(d: Driver) {
    let _serial = serial();
    let before = fd_count();
    rt(d).block_on(async {
        for round in 0..200u32 {
            let (mut a, mut b) = tcp_pair().await;
            let mut buf = [0u8; 64];
            {
                let mut read = Box::pin(b.read(&mut buf));
                assert!(poll_once(&mut read).is_none(), "nothing to read yet");
            }
            let big = vec![round as u8; 256 * 1024];
            {
                let mut write = Box::pin(a.write_all(&big));
                let _ = poll_once(&mut write);
            }
            drop((a, b));
        }
        support::settle().await;
    });
    assert_eq!(fd_count(), before);
}

both_drivers!(
    tokio_traits_move_a_mebibyte_each_way,
    tokio_copy_and_lines_through_a_proxy,
    futures_io_traits_round_trip,
    adapters_dropped_in_flight_leak_nothing,
);
