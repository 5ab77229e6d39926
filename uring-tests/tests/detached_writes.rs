//! `write_all_detached` and `flush` on both drivers: bytes keep their order across
//! detached and awaited writes (including sends the kernel takes in parts), pooled
//! buffers go back to their pool when the kernel is done with them, a failed send is
//! reported by the next write and by `flush`, `shutdown_write` waits for the send in
//! flight, and a stream or a whole runtime dropped with a send in flight leaks no fd
//! (the send holds the socket open until it ends or is cancelled).

mod support;

use ringio::buf::BufPool;
use ringio::io::{AsyncReadOwned, AsyncWriteOwned, ShutdownWrite};
use ringio::net::TcpStream;
use ringio::runtime::Driver;
use std::time::Duration;
use support::{fd_count, pair, pool_full, reset, rt, serial, settle, Rng};

/// Chunk `i` of a test stream: `len` bytes, each `(i * 31 + k) % 251`, so any loss,
/// duplication or reordering shows at the first byte that differs.
fn chunk(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|k| ((i * 31 + k) % 251) as u8).collect()
}

/// Reads exactly `want` bytes (or panics after 20 s).
async fn read_all(s: &TcpStream, want: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(want);
    ringio::time::timeout(Duration::from_secs(20), async {
        while got.len() < want {
            let (res, buf) = s.read(vec![0u8; 256 * 1024]).await;
            let n = res.unwrap();
            assert!(n > 0, "end of stream after {} of {want} bytes", got.len());
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the reader stalled");
    got
}

/// Reads exactly `want` bytes, then one more read: what it returned (0 at the end of
/// the stream).
async fn read_then_end(s: TcpStream, want: usize) -> (Vec<u8>, usize) {
    let got = read_all(&s, want).await;
    let (res, _) = s.read(vec![0u8; 16]).await;
    (got, res.unwrap())
}

/// 600 writes of 1 B to 512 KiB, most detached, every fifth an awaited `write_all` and
/// every seventh a `write` of what fits: the reader sees exactly the sequence written.
/// The large ones fill the socket, so detached sends wait for room (and may be taken in
/// parts) while later writes queue behind them.
fn detached_and_awaited_writes_keep_order(d: Driver) {
    let _g = serial(); // the fd-counting tests here see no other test's fds
    rt(d).block_on(async {
        let (c, s) = pair().await;
        let mut rng = Rng::new(12);
        let sizes: Vec<usize> = (0..600)
            .map(|i| match i % 10 {
                0 => 1 + rng.below(512 * 1024) as usize,
                _ => 1 + rng.below(4096) as usize,
            })
            .collect();
        let total: usize = sizes.iter().sum();
        let mut expected = Vec::with_capacity(total);
        for (i, &len) in sizes.iter().enumerate() {
            expected.extend_from_slice(&chunk(i, len));
        }
        let reader = ringio::spawn(async move { read_all(&c, total).await });
        for (i, &len) in sizes.iter().enumerate() {
            let data = chunk(i, len);
            if i % 5 == 0 {
                s.write_all(data).await.0.unwrap();
            } else if i % 7 == 0 {
                let (res, data) = s.write(data).await;
                let n = res.unwrap();
                s.write_all_detached(data[n..].to_vec()).await.unwrap();
            } else {
                s.write_all_detached(data).await.unwrap();
            }
        }
        s.flush().await.unwrap();
        let got = reader.await.unwrap();
        assert_eq!(got.len(), expected.len());
        let first_bad = got.iter().zip(&expected).position(|(a, b)| a != b);
        assert_eq!(first_bad, None, "bytes out of order");
        settle().await;
    });
}

/// An echo that sends back each pooled buffer detached, through a pool of 4 buffers for
/// 16 connections: every message comes back intact, and once the traffic stops every
/// buffer is back in the pool (a detached send gives its buffer back on completion, not
/// at the task's next poll).
fn pooled_echo_returns_every_buffer(d: Driver) {
    let _g = serial(); // the fd-counting tests here see no other test's fds
    rt(d).block_on(async {
        let pool = std::rc::Rc::new(BufPool::new(4, 2048).unwrap());
        let l = ringio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let p = pool.clone();
        let server = ringio::spawn(async move {
            let mut echoes = Vec::new();
            for _ in 0..16 {
                let (conn, _) = l.accept().await.unwrap();
                let p = p.clone();
                echoes.push(ringio::spawn(async move {
                    while let Some(buf) = conn.recv_pooled(&p).await.unwrap() {
                        conn.write_all_detached(buf).await.unwrap();
                    }
                    conn.flush().await.unwrap();
                }));
            }
            for e in echoes {
                e.await.unwrap();
            }
        });
        let mut clients = Vec::new();
        for id in 0..16usize {
            clients.push(ringio::spawn(async move {
                let c = TcpStream::connect(addr).await.unwrap();
                for m in 0..100usize {
                    let msg = chunk(id * 1000 + m, 1 + (id * 37 + m * 11) % 1500);
                    c.write_all(msg.clone()).await.0.unwrap();
                    let (res, back) = c.read_exact(vec![0u8; msg.len()]).await;
                    res.unwrap();
                    assert_eq!(back, msg, "connection {id}, message {m}");
                }
                c.shutdown_write().await.unwrap();
                let (res, _) = c.read(vec![0u8; 16]).await;
                assert_eq!(res.unwrap(), 0, "the server closes after the client");
            }));
        }
        for c in clients {
            c.await.unwrap();
        }
        server.await.unwrap();
        pool_full(&pool).await;
    });
}

/// The peer resets: detached writes go on succeeding until a send fails, and that
/// error comes back from a later write (detached or not) or from `flush`, as a reset
/// or a broken pipe, never lost.
fn a_failed_send_is_reported_by_the_next_call(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let l = ringio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let peer = std::net::TcpStream::connect(addr).unwrap();
        let (s, _) = l.accept().await.unwrap();
        reset(peer);
        let mut reported = None;
        for i in 0..2_000 {
            let res = match i % 3 {
                0 => s.write_all_detached(vec![1u8; 64 * 1024]).await,
                1 => s.write_all(vec![2u8; 1024]).await.0,
                _ => s.flush().await,
            };
            if let Err(e) = res {
                reported = Some(e);
                break;
            }
            ringio::time::sleep(Duration::from_millis(1)).await;
        }
        let e = reported.expect("no error reported in 2,000 writes to a reset peer");
        assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{e:?}"
        );
        // The stream is dead: the next writes fail too, and the runtime still serves.
        assert!(s.write_all_detached(vec![3u8; 10]).await.is_err() || s.flush().await.is_err());
        let (c2, s2) = pair().await;
        s2.write_all_detached(b"still serving".to_vec())
            .await
            .unwrap();
        assert_eq!(read_all(&c2, 13).await, b"still serving");
    });
}

/// `shutdown_write` right after a large detached write: the peer gets every byte, then
/// the end of the stream (the shutdown waited for the send).
fn shutdown_write_waits_for_the_send(d: Driver) {
    let _g = serial(); // the fd-counting tests here see no other test's fds
    rt(d).block_on(async {
        let (c, s) = pair().await;
        let data = chunk(7, 4 << 20);
        let reader = ringio::spawn(read_then_end(c, 4 << 20));
        s.write_all_detached(data.clone()).await.unwrap();
        s.shutdown_write().await.unwrap();
        let (got, after) = reader.await.unwrap();
        assert!(got == data, "the bytes before the shutdown differ");
        assert_eq!(after, 0, "end of stream after the data");
    });
}

/// A stream dropped right after a detached write of 8 MiB: the send goes on, the peer
/// reads all of it and then the end of the stream, and the fd is closed after.
fn dropped_stream_finishes_its_send_then_closes(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let before = fd_count();
        let (c, s) = pair().await;
        let data = chunk(3, 8 << 20);
        let reader = ringio::spawn(read_then_end(c, 8 << 20));
        s.write_all_detached(data.clone()).await.unwrap();
        drop(s);
        let (got, after) = reader.await.unwrap();
        assert!(got == data, "the bytes of the dropped stream differ");
        assert_eq!(after, 0, "end of stream once the send is done");
        settle().await;
        assert_eq!(fd_count(), before, "an fd leaked");
    });
}

/// A runtime dropped while a detached send waits for a peer that never reads: the drop
/// cancels it (no hang), and every fd is closed (the send's hold on its socket ends).
fn runtime_dropped_with_a_send_in_flight(d: Driver) {
    let _g = serial();
    let before = fd_count();
    let peer = {
        let rt = rt(d);
        rt.block_on(async {
            let (c, s) = pair().await;
            // The peer never reads: 16 MiB cannot all fit in the socket buffers. On
            // epoll the write is awaited, so it is given up after a moment.
            let write = s.write_all_detached(vec![9u8; 16 << 20]);
            let _ = ringio::time::timeout(Duration::from_millis(50), write).await;
            ringio::time::sleep(Duration::from_millis(20)).await;
            drop(s);
            c
        })
        // The runtime drops here, with the send in flight on io_uring.
    };
    drop(peer);
    assert_eq!(fd_count(), before, "an fd leaked");
}

both_drivers!(
    detached_and_awaited_writes_keep_order,
    pooled_echo_returns_every_buffer,
    a_failed_send_is_reported_by_the_next_call,
    shutdown_write_waits_for_the_send,
    dropped_stream_finishes_its_send_then_closes,
    runtime_dropped_with_a_send_in_flight,
);
