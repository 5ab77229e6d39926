//! TCP through the public API: bind, accept, connect, reads and writes of every kind,
//! shutdown, options, halves, and the errors a server meets.

mod support;

use ringio::buf::IoBuf;
use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
use ringio::net::{BindOptions, TcpListener, TcpStream};
use ringio::runtime::Driver;
use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use support::{reset, rt};

async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (server, peer) = l.accept().await.unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    (client, server)
}

fn bind_accept_connect_addresses(d: Driver) {
    rt(d).block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert!(addr.ip().is_loopback() && addr.port() != 0);
        let c = TcpStream::connect(addr).await.unwrap();
        let (s, peer) = l.accept().await.unwrap();
        assert_eq!(c.peer_addr().unwrap(), addr);
        assert_eq!(s.local_addr().unwrap(), addr);
        assert_eq!(s.peer_addr().unwrap(), peer);
        // IPv6 loopback too.
        let l6 = TcpListener::bind("[::1]:0").unwrap();
        let c6 = TcpStream::connect(l6.local_addr().unwrap()).await.unwrap();
        let (_s6, p6) = l6.accept().await.unwrap();
        assert_eq!(p6, c6.local_addr().unwrap());
    });
}

fn read_write_exact_all(d: Driver) {
    rt(d).block_on(async {
        let (c, s) = pair().await;
        let msg: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let expect = msg.clone();
        let writer = ringio::spawn(async move {
            let (res, _buf) = c.write_all(msg).await;
            res.unwrap();
            c
        });
        let (res, buf) = s.read_exact(vec![0u8; 200_000]).await;
        res.unwrap();
        assert_eq!(buf, expect);
        let c = writer.await.unwrap();
        // A plain read returns what is there, up to capacity, as the initialised length.
        c.write_all("xyz").await.0.unwrap();
        let (n, buf) = s.read(Vec::with_capacity(64)).await;
        assert_eq!(n.unwrap(), 3);
        assert_eq!(buf, b"xyz");
        let (n, _) = c.write(b"q".to_vec()).await;
        assert_eq!(n.unwrap(), 1);
    });
}

fn buffer_kinds_and_slices(d: Driver) {
    rt(d).block_on(async {
        let (c, s) = pair().await;
        c.write_all(&b"static-"[..]).await.0.unwrap();
        c.write_all("str-").await.0.unwrap();
        c.write_all(String::from("string-")).await.0.unwrap();
        c.write_all(vec![b'b', b'o', b'x', b'-'].into_boxed_slice())
            .await
            .0
            .unwrap();
        c.write_all(b"0123456789".to_vec().slice(3..6))
            .await
            .0
            .unwrap();
        let (res, buf) = s.read_exact(vec![0u8; 7 + 4 + 7 + 4 + 3]).await;
        res.unwrap();
        assert_eq!(&buf, b"static-str-string-box-345");
        // Reading into a slice fills only its range and gives the whole buffer back.
        c.write_all(b"AB").await.0.unwrap();
        let (res, slice) = s.read_exact(vec![b'.'; 6].slice(2..4)).await;
        res.unwrap();
        assert_eq!(slice.into_inner(), b"..AB..");
        // Box<[u8]> as a read buffer.
        c.write_all(b"xy").await.0.unwrap();
        let (res, b) = s.read_exact(vec![0u8; 2].into_boxed_slice()).await;
        res.unwrap();
        assert_eq!(&*b, b"xy");
    });
}

fn bytes_buffers(d: Driver) {
    rt(d).block_on(async {
        let (c, s) = pair().await;
        c.write_all(bytes::Bytes::from_static(b"frozen-"))
            .await
            .0
            .unwrap();
        let mut m = bytes::BytesMut::with_capacity(16);
        m.extend_from_slice(b"mutable");
        c.write_all(m).await.0.unwrap();
        let (res, got) = s.read_exact(bytes::BytesMut::zeroed(14)).await;
        res.unwrap();
        assert_eq!(&got[..], b"frozen-mutable");
        // Reading into spare capacity sets the initialised length.
        c.write_all(b"cap").await.0.unwrap();
        let (n, got) = s.read(bytes::BytesMut::with_capacity(8)).await;
        assert_eq!(n.unwrap(), 3);
        assert_eq!(&got[..], b"cap");
    });
}

fn vectored_read_and_write(d: Driver) {
    rt(d).block_on(async {
        let (c, s) = pair().await;
        let (n, bufs) = c
            .write_vectored(vec![
                b"hello ".to_vec(),
                b"vectored ".to_vec(),
                b"world".to_vec(),
            ])
            .await;
        assert_eq!(n.unwrap(), 20);
        assert_eq!(bufs.len(), 3);
        let mut got = Vec::new();
        let mut bufs = vec![Vec::with_capacity(4), Vec::with_capacity(30)];
        while got.len() < 20 {
            let (n, b) = s.read_vectored(bufs).await;
            let n = n.unwrap();
            assert!(n > 0);
            assert_eq!(b[0].len() + b[1].len(), n);
            got.extend_from_slice(&b[0]);
            got.extend_from_slice(&b[1]);
            bufs = b
                .into_iter()
                .map(|mut v| {
                    v.clear();
                    v
                })
                .collect();
        }
        assert_eq!(got, b"hello vectored world");
    });
}

fn shutdown_gives_peer_eof(d: Driver) {
    rt(d).block_on(async {
        let (c, s) = pair().await;
        c.write_all(b"bye").await.0.unwrap();
        c.shutdown(Shutdown::Write).await.unwrap();
        let (res, buf) = s.read_exact(vec![0u8; 3]).await;
        res.unwrap();
        assert_eq!(&buf, b"bye");
        let (n, _) = s.read(vec![0u8; 8]).await;
        assert_eq!(n.unwrap(), 0, "end of stream after the peer's shutdown");
        // read_exact across end of stream is UnexpectedEof, with the partial data kept.
        let (c2, s2) = pair().await;
        c2.write_all(b"ab").await.0.unwrap();
        drop(c2);
        let (res, buf) = s2.read_exact(vec![0u8; 5]).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::UnexpectedEof);
        assert_eq!(&buf[..2], b"ab");
    });
}

fn nodelay_option(d: Driver) {
    rt(d).block_on(async {
        let (c, _s) = pair().await;
        c.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
        c.set_nodelay(false).unwrap();
        assert!(!c.nodelay().unwrap());
    });
}

fn connect_refused_is_an_error(d: Driver) {
    rt(d).block_on(async {
        // Bind then drop, so the port is (almost certainly) closed.
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    });
}

fn peer_reset_is_an_io_error(d: Driver) {
    rt(d).block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        // Reset before it is accepted: an error from accept (io_uring's multishot accept
        // learns the peer address afterwards, from a socket that no longer has one) or
        // from the first read; the listener goes on either way.
        reset(std::net::TcpStream::connect(addr).unwrap());
        match l.accept().await {
            Ok((s, _)) => {
                let (res, _) = s.read(vec![0u8; 16]).await;
                assert_eq!(res.unwrap_err().kind(), ErrorKind::ConnectionReset);
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionAborted, "{e}"),
        }
        // Reset after it is accepted.
        let peer = std::net::TcpStream::connect(addr).unwrap();
        let (s, _) = l.accept().await.unwrap();
        reset(peer);
        let (res, _) = s.read(vec![0u8; 16]).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::ConnectionReset);
        // Writing to a reset connection fails with an error, not a signal.
        let mut failed = false;
        for _ in 0..4 {
            if s.write_all(vec![0u8; 1024]).await.0.is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
    });
}

fn split_halves_from_two_tasks(d: Driver) {
    rt(d).block_on(async {
        let (c, s) = pair().await;
        let s = Rc::new(s);
        // Server: echo with a reader task and a writer task sharing the stream.
        let (tx_s, rx_s) = (s.clone(), s.clone());
        let pending = Rc::new(std::cell::RefCell::new(
            std::collections::VecDeque::<Vec<u8>>::new(),
        ));
        let (p1, p2) = (pending.clone(), pending.clone());
        let reader = ringio::spawn(async move {
            let mut total = 0;
            while total < 100 * 64 {
                let (n, b) = rx_s.read(Vec::with_capacity(256)).await;
                total += n.unwrap();
                p1.borrow_mut().push_back(b);
                ringio::yield_now().await;
            }
        });
        let writer = ringio::spawn(async move {
            let mut total = 0;
            while total < 100 * 64 {
                let next = p2.borrow_mut().pop_front();
                match next {
                    Some(b) => {
                        total += b.len();
                        tx_s.write_all(b).await.0.unwrap();
                    }
                    None => ringio::yield_now().await,
                }
            }
        });
        // Client: owned halves in two tasks, sending and receiving at once.
        let (rd, wr) = c.into_split();
        let sender = ringio::spawn(async move {
            for i in 0..100u8 {
                wr.write_all(vec![i; 64]).await.0.unwrap();
            }
            wr
        });
        let receiver = ringio::spawn(async move {
            let (res, buf) = rd.read_exact(vec![0u8; 100 * 64]).await;
            res.unwrap();
            (rd, buf)
        });
        let (rd, buf) = receiver.await.unwrap();
        for (i, chunk) in buf.chunks(64).enumerate() {
            assert!(chunk.iter().all(|&b| b == i as u8));
        }
        let wr = sender.await.unwrap();
        reader.await.unwrap();
        writer.await.unwrap();
        let c = rd.reunite(wr).unwrap();
        // Borrowed halves.
        let (r, w) = c.split();
        w.write_all(b"z").await.0.unwrap();
        let (res, b) = s.read_exact(vec![0u8; 1]).await;
        res.unwrap();
        s.write_all(b).await.0.unwrap();
        let (res, b) = r.read_exact(vec![0u8; 1]).await;
        res.unwrap();
        assert_eq!(&b, b"z");
    });
}

fn reunite_mismatched_halves_fails(d: Driver) {
    rt(d).block_on(async {
        let (a, b) = pair().await;
        let (ra, _wa) = a.into_split();
        let (_rb, wb) = b.into_split();
        let err = ra.reunite(wb).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tried to reunite halves of different streams"
        );
    });
}

fn reuse_port_listeners_share_a_port(d: Driver) {
    rt(d).block_on(async {
        let opts = BindOptions::new().reuse_port(true).backlog(128);
        let a = TcpListener::bind_with("127.0.0.1:0", &opts).unwrap();
        let addr: SocketAddr = a.local_addr().unwrap();
        let b = TcpListener::bind_with(addr, &opts).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
        // Without SO_REUSEPORT the same bind fails.
        let err = TcpListener::bind_with(addr, &BindOptions::new()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
    });
}

fn from_std_types(d: Driver) {
    rt(d).block_on(async {
        let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_l.local_addr().unwrap();
        let l = TcpListener::from_std(std_l).unwrap();
        let std_c = std::net::TcpStream::connect(addr).unwrap();
        let c = TcpStream::from_std(std_c).unwrap();
        let (s, _) = l.accept().await.unwrap();
        c.write_all(b"std").await.0.unwrap();
        let (res, b) = s.read_exact(vec![0u8; 3]).await;
        res.unwrap();
        assert_eq!(&b, b"std");
    });
}

fn late_accept_is_queued_on_the_listener(d: Driver) {
    rt(d).block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        // Start an accept, then drop it while it waits in the kernel.
        let r = ringio::time::timeout(std::time::Duration::from_millis(5), l.accept()).await;
        assert!(r.is_err());
        let c = TcpStream::connect(addr).await.unwrap();
        let (s, peer) = ringio::time::timeout(std::time::Duration::from_secs(5), l.accept())
            .await
            .expect("the connection was not lost")
            .unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        c.write_all(b"!").await.0.unwrap();
        assert_eq!(&s.read_exact(vec![0u8; 1]).await.1, b"!");
    });
}

/// A read shorter than its buffer drains the socket (epoll then waits for the next
/// edge instead of trying again): more data still wakes the reader, and so does an end
/// of stream that came with the last data (no edge of its own), for plain and pooled
/// reads. A short write that filled the send buffer is likewise followed by the rest
/// once the peer reads.
fn short_reads_and_writes_then_more_or_the_end(d: Driver) {
    use std::time::Duration;
    rt(d).block_on(async {
        let pool = ringio::buf::BufPool::new(4, 4096).unwrap();
        for pooled in [false, true] {
            let (c, s) = pair().await;
            // A read that waits (and times out) first, so epoll has the socket
            // registered: only then are short reads acted on.
            let waited = Duration::from_millis(10);
            let early = ringio::time::timeout(waited, recv_some(&s, &pool, pooled)).await;
            assert!(early.is_err(), "nothing was sent yet");
            c.write_all(b"abc".to_vec()).await.0.unwrap();
            let t = Duration::from_secs(5);
            let got = ringio::time::timeout(t, recv_some(&s, &pool, pooled)).await;
            assert_eq!(got.expect("the first read hung"), b"abc");
            // More data after a short read: a new edge wakes the reader.
            c.write_all(b"def".to_vec()).await.0.unwrap();
            let got = ringio::time::timeout(t, recv_some(&s, &pool, pooled)).await;
            assert_eq!(got.expect("a read after a short read hung"), b"def");
            // Data and the end together, both in before the read.
            c.write_all(b"xyz".to_vec()).await.0.unwrap();
            c.shutdown(Shutdown::Write).await.unwrap();
            ringio::time::sleep(Duration::from_millis(20)).await;
            let got = ringio::time::timeout(t, recv_some(&s, &pool, pooled)).await;
            assert_eq!(got.expect("the read before the end hung"), b"xyz");
            let got = ringio::time::timeout(t, recv_some(&s, &pool, pooled)).await;
            assert_eq!(got.expect("the end after a short read hung"), b"");
        }
        // Writes: a 32 MiB write is short (the send buffer fills); the rest goes once
        // the peer reads.
        let (c, s) = pair().await;
        let reader = ringio::spawn(async move {
            ringio::time::sleep(Duration::from_millis(20)).await;
            let mut total = 0usize;
            while total < 32 << 20 {
                let (res, _) = c.read(vec![0u8; 1 << 20]).await;
                let n = res.unwrap();
                assert!(n > 0, "end of stream after {total} bytes");
                total += n;
            }
            total
        });
        let (res, buf) = s.write(vec![5u8; 32 << 20]).await;
        let first = res.unwrap();
        assert!(first < 32 << 20, "a 32 MiB write to loopback is short");
        let rest = buf.slice(first..);
        let done = ringio::time::timeout(Duration::from_secs(20), s.write_all(rest)).await;
        done.expect("the write after a short write hung").0.unwrap();
        assert_eq!(reader.await.unwrap(), 32 << 20);
    });
}

/// One read: plain (into a 64 KiB buffer) or pooled; empty at the end of the stream.
async fn recv_some(s: &TcpStream, pool: &ringio::buf::BufPool, pooled: bool) -> Vec<u8> {
    if pooled {
        match s.recv_pooled(pool).await.unwrap() {
            Some(b) => b.to_vec(),
            None => Vec::new(),
        }
    } else {
        let (res, buf) = s.read(vec![0u8; 64 * 1024]).await;
        let n = res.unwrap();
        buf[..n].to_vec()
    }
}

both_drivers!(
    short_reads_and_writes_then_more_or_the_end,
    bind_accept_connect_addresses,
    read_write_exact_all,
    buffer_kinds_and_slices,
    bytes_buffers,
    vectored_read_and_write,
    shutdown_gives_peer_eof,
    nodelay_option,
    connect_refused_is_an_error,
    peer_reset_is_an_io_error,
    split_halves_from_two_tasks,
    reunite_mismatched_halves_fails,
    reuse_port_listeners_share_a_port,
    from_std_types,
    late_accept_is_queued_on_the_listener,
);
