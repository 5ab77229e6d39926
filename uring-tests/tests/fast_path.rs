//! The io_uring fast paths, through the public API, and their epoll emulation:
//! multishot accept, multishot receive into a provided buffer ring (`BufPool` and
//! `recv_pooled`; a plain free list on epoll), pool exhaustion (ENOBUFS), cancel
//! safety, and what is given back when sockets close.

mod support;

use ringio::buf::BufPool;
use ringio::io::AsyncWriteOwned;
use ringio::net::{TcpListener, TcpStream};
use ringio::runtime::{metrics, Driver};
use std::future::Future;
use std::io::ErrorKind;
use std::time::Duration;
use support::{fd_count, pair, pool_full, reset, rt, serial, set_fd_limit, settle, Rng};

/// Polls `fut` once with a no-op waker; `Some` if it finished.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match std::pin::Pin::new(fut).poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// Messages of varying sizes arrive intact and in order, each in a pooled buffer, and
/// every buffer goes back to the pool.
fn pooled_recv_delivers_in_order(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let pool = BufPool::new(8, 256).unwrap();
        assert_eq!((pool.capacity(), pool.buffer_size()), (8, 256));
        let (c, s) = pair().await;
        let mut rng = Rng::new(7);
        let mut sent = Vec::new();
        let mut got = Vec::new();
        for round in 0..200u32 {
            let len = 1 + rng.below(700) as usize;
            let msg: Vec<u8> = (0..len).map(|i| (i as u32 ^ round) as u8).collect();
            sent.extend_from_slice(&msg);
            c.write_all(msg).await.0.unwrap();
            while got.len() < sent.len() {
                let buf = s.recv_pooled(&pool).await.unwrap().expect("data");
                assert!(!buf.is_empty() && buf.len() <= 256);
                got.extend_from_slice(&buf);
            }
        }
        assert_eq!(got, sent);
        // Echo a pooled buffer straight back: it is an IoBuf.
        c.write_all(b"echo".to_vec()).await.0.unwrap();
        let buf = s.recv_pooled(&pool).await.unwrap().unwrap();
        s.write_all(buf).await.0.unwrap();
        let back = c.recv_pooled(&pool).await.unwrap().unwrap();
        assert_eq!(&back[..], b"echo");
        drop(back);
        pool_full(&pool).await;
    });
}

/// Many idle connections, each with a receive waiting, hold no buffer; data on each
/// still gets through a pool much smaller than the number of connections.
fn idle_connections_hold_no_buffers(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let pool = BufPool::new(4, 128).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut clients = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..64u8 {
            clients.push(TcpStream::connect(addr).await.unwrap());
            let (s, _) = l.accept().await.unwrap();
            let pool = pool.clone();
            tasks.push(ringio::spawn(async move {
                let buf = s.recv_pooled(&pool).await.unwrap().expect("data");
                assert_eq!(&buf[..], &[i; 3]);
            }));
        }
        for _ in 0..10 {
            ringio::yield_now().await;
        }
        assert_eq!(pool.available(), 4, "idle connections took buffers");
        for (i, c) in clients.iter().enumerate() {
            c.write_all(vec![i as u8; 3]).await.0.unwrap();
        }
        for t in tasks {
            t.await.unwrap();
        }
        pool_full(&pool).await;
    });
}

/// A pool that runs dry makes receives wait (io_uring: the multishot receive ends with
/// ENOBUFS and is re-armed when a buffer comes back); no byte is lost or reordered.
fn exhausted_pool_waits_and_loses_nothing(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let pool = BufPool::new(2, 64).unwrap();
        let (c, s) = pair().await;
        let data: Vec<u8> = (0..64 * 40).map(|i| (i % 251) as u8).collect();
        let mut got = Vec::new();
        let mut held = Vec::new();
        let mut offset = 0;
        while got.len() < data.len() {
            if offset < data.len() {
                c.write_all(data[offset..offset + 64].to_vec())
                    .await
                    .0
                    .unwrap();
                offset += 64;
            }
            if held.len() == 2 {
                // Both buffers are out: the next receive must wait for one.
                let mut next = Box::pin(s.recv_pooled(&pool));
                assert!(poll_once(&mut next).is_none());
                ringio::time::sleep(Duration::from_millis(2)).await;
                assert!(
                    poll_once(&mut next).is_none(),
                    "received with no buffer free"
                );
                assert_eq!(pool.available(), 0);
                let first: ringio::buf::PooledBuf = held.remove(0);
                got.extend_from_slice(&first);
                drop(first);
                let buf = next.await.unwrap().expect("data");
                held.push(buf);
            } else {
                held.push(s.recv_pooled(&pool).await.unwrap().expect("data"));
            }
            if got.len() + held.iter().map(|b| b.len()).sum::<usize>() >= data.len() {
                for b in held.drain(..) {
                    got.extend_from_slice(&b);
                }
            }
        }
        assert_eq!(got, data);
        pool_full(&pool).await;
    });
}

/// End of stream is `Ok(None)`; a reset is an `io::Error`; both leave the pool whole.
fn pooled_recv_eof_and_reset(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let pool = BufPool::new(4, 64).unwrap();
        let (c, s) = pair().await;
        c.write_all(b"last".to_vec()).await.0.unwrap();
        drop(c);
        assert_eq!(&s.recv_pooled(&pool).await.unwrap().unwrap()[..], b"last");
        assert!(s.recv_pooled(&pool).await.unwrap().is_none());
        assert!(s.recv_pooled(&pool).await.unwrap().is_none(), "EOF again");

        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().await.unwrap();
        let mut pending = Box::pin(s.recv_pooled(&pool));
        assert!(poll_once(&mut pending).is_none());
        reset(peer);
        let err = pending.await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        pool_full(&pool).await;
    });
}

/// Receive futures dropped at random points, thousands of times, while the peer
/// streams a known pattern: every byte is received exactly once, in order; closing
/// the stream with data queued gives every buffer back, the armed receive is
/// cancelled, and no fd is left open.
fn dropped_pooled_recvs_lose_nothing(d: Driver) {
    let _g = serial();
    let before = fd_count();
    rt(d).block_on(async {
        let pool = BufPool::new(16, 100).unwrap();
        let (c, s) = pair().await;
        let armed_before = metrics().multishot_armed;
        let total = 200_000usize;
        let data: Vec<u8> = (0..total).map(|i| (i * 7 % 256) as u8).collect();
        let writer = {
            let data = data.clone();
            ringio::spawn(async move {
                for chunk in data.chunks(997) {
                    c.write_all(chunk.to_vec()).await.0.unwrap();
                    ringio::yield_now().await;
                }
                c
            })
        };
        let mut rng = Rng::new(21);
        let mut got = Vec::new();
        let mut drops = 0;
        while got.len() < total {
            let mut fut = Box::pin(s.recv_pooled(&pool));
            let mut done = None;
            for _ in 0..rng.below(3) {
                if let Some(r) = poll_once(&mut fut) {
                    done = Some(r);
                    break;
                }
                ringio::yield_now().await;
            }
            match done {
                Some(r) => got.extend_from_slice(&r.unwrap().expect("data")),
                None if rng.below(2) == 0 => {
                    drop(fut);
                    drops += 1;
                }
                None => got.extend_from_slice(&fut.await.unwrap().expect("data")),
            }
        }
        assert!(drops > 100, "only {drops} drops");
        assert_eq!(got, data);
        let c = writer.await.unwrap();
        // Data queued in the armed receive when the stream closes goes back to the pool.
        c.write_all(vec![9u8; 300]).await.0.unwrap();
        ringio::time::sleep(Duration::from_millis(5)).await;
        drop(s);
        drop(c);
        pool_full(&pool).await;
        settle().await;
        for _ in 0..1000 {
            if metrics().multishot_armed < armed_before || d == Driver::Epoll {
                break;
            }
            ringio::yield_now().await;
        }
        if d == Driver::Uring {
            assert!(
                metrics().multishot_armed < armed_before,
                "receive not cancelled"
            );
        }
    });
    assert_eq!(fd_count(), before);
}

/// The multishot accept stays armed across accepts, accepts every connection once,
/// and closes connections still queued when the listener is dropped.
fn multishot_accept_and_listener_drop(d: Driver) {
    let _g = serial();
    let before = fd_count();
    rt(d).block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let sqes_before = metrics().sqes_submitted;
        let mut conns = Vec::new();
        for _ in 0..50 {
            let c = TcpStream::connect(addr).await.unwrap();
            let (s, peer) = l.accept().await.unwrap();
            assert_eq!(peer, c.local_addr().unwrap());
            conns.push((c, s));
        }
        if d == Driver::Uring {
            assert_eq!(metrics().multishot_armed, 1);
            // 50 connects, and one accept submission for all 50 connections.
            let sqes = metrics().sqes_submitted - sqes_before;
            assert!(sqes <= 55, "{sqes} submissions for 50 connects and accepts");
        }
        let (c, s) = &conns[17];
        c.write_all(b"x".to_vec()).await.0.unwrap();
        let pool = BufPool::new(1, 8).unwrap();
        assert_eq!(&s.recv_pooled(&pool).await.unwrap().unwrap()[..], b"x");
        // Connections the kernel accepts for a listener nobody accepts on any more.
        let late: Vec<_> = (0..5)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        ringio::time::sleep(Duration::from_millis(5)).await;
        drop(l);
        drop(conns); // one of them has a pooled receive armed
        settle().await;
        for _ in 0..1000 {
            if metrics().multishot_armed == 0 {
                break;
            }
            ringio::yield_now().await;
        }
        assert_eq!(metrics().multishot_armed, 0);
        drop(late);
    });
    assert_eq!(fd_count(), before);
}

/// The lowest fd number not in use.
fn lowest_free_fd() -> i32 {
    // SAFETY: dup of stdin's number returns a new fd (or -1), which is closed at once.
    let fd = unsafe { libc::fcntl(0, libc::F_DUPFD, 0) };
    assert!(fd >= 0);
    // SAFETY: closes the fd just made, owned by nobody else.
    unsafe { libc::close(fd) };
    fd
}

/// Out of fds, accept reports EMFILE and the listener goes on: once fds free up, every
/// waiting connection is accepted (io_uring: the multishot accept ends on the error and
/// is re-armed by the next accept).
fn emfile_on_accept_does_not_kill_the_listener(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let clients: Vec<TcpStream> = {
            let mut v = Vec::new();
            for _ in 0..3 {
                v.push(TcpStream::connect(addr).await.unwrap());
            }
            v
        };
        let old = set_fd_limit(lowest_free_fd() as u64);
        let res = ringio::time::timeout(Duration::from_secs(5), l.accept()).await;
        set_fd_limit(old);
        let err = res.expect("accept hung").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
        let mut accepted = Vec::new();
        for _ in 0..3 {
            let (s, _) = ringio::time::timeout(Duration::from_secs(5), l.accept())
                .await
                .expect("a waiting connection was lost")
                .unwrap();
            accepted.push(s);
        }
        for (c, s) in clients.iter().zip(&accepted) {
            c.write_all(b"ok".to_vec()).await.0.unwrap();
            let pool = BufPool::new(1, 8).unwrap();
            assert_eq!(&s.recv_pooled(&pool).await.unwrap().unwrap()[..], b"ok");
        }
    });
}

/// A pool is bound to the worker that first used it.
fn pool_is_per_worker(d: Driver) {
    let _g = serial();
    let pool = BufPool::new(2, 16).unwrap();
    rt(d).block_on(async {
        let (c, s) = pair().await;
        c.write_all(b"a".to_vec()).await.0.unwrap();
        assert_eq!(&s.recv_pooled(&pool).await.unwrap().unwrap()[..], b"a");
    });
    rt(d).block_on(async {
        let (_c, s) = pair().await;
        let err = s.recv_pooled(&pool).await.unwrap_err();
        assert!(err.to_string().contains("one pool per worker"), "{err}");
    });
    assert!(BufPool::new(0, 16).is_err());
    assert!(BufPool::new(ringio::buf::MAX_BUFFERS + 1, 16).is_err());
}

/// `send_zc` delivers every byte (io_uring: it completes only after the kernel's
/// notification), and send_zc futures dropped in flight, hundreds of times, free
/// nothing the kernel still reads: the stream goes on intact and the op table drains.
fn send_zc_delivers_and_survives_drops(d: Driver) {
    let _g = serial();
    let before = fd_count();
    rt(d).block_on(async {
        use ringio::buf::IoBuf;
        use ringio::io::AsyncReadOwned;
        let (c, s) = pair().await;
        let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 253) as u8).collect();
        let reader = ringio::spawn(async move {
            let (res, got) = s.read_exact(vec![0u8; 1 << 20]).await;
            res.unwrap();
            (s, got)
        });
        let mut buf = data.clone();
        let mut sent = 0;
        while sent < buf.len() {
            let len = buf.len();
            let (res, slice) = c.send_zc(buf.slice(sent..len)).await;
            sent += res.unwrap();
            buf = slice.into_inner();
        }
        let (s, got) = reader.await.unwrap();
        assert!(got == data, "send_zc corrupted the stream");
        // Dropped in flight: whatever was sent is unknown, but nothing is freed early.
        let mut rng = Rng::new(5);
        for _ in 0..300 {
            let mut fut = Box::pin(c.send_zc(vec![0xEE; 8192]));
            for _ in 0..rng.below(3) {
                if poll_once(&mut fut).is_some() {
                    break;
                }
                ringio::yield_now().await;
            }
            drop(fut);
            // Keep the receive side drained so sends do not stall.
            while let Some(Ok(n)) =
                poll_once(&mut Box::pin(s.read(vec![0u8; 1 << 16]))).map(|(r, _)| r)
            {
                if n == 0 {
                    break;
                }
            }
        }
        settle().await;
        drop((c, s));
    });
    assert_eq!(fd_count(), before);
}

/// `Builder::fixed_files`: sockets take slots in the worker's registered file table
/// (more sockets than slots use plain fds), data flows through both kinds, reads dropped
/// in flight leave both intact, and closing a registered socket clears its slot: the
/// peer sees end of stream (the table would otherwise keep the socket open) and the
/// slot serves the next socket.
fn fixed_files_register_and_release(d: Driver) {
    let _g = serial();
    let before = fd_count();
    let rt = ringio::Builder::new()
        .driver(d)
        .fixed_files(4)
        .build()
        .unwrap();
    if d == Driver::Uring {
        assert!(
            rt.driver_info().flags().contains(&"FIXED_FILES"),
            "{}",
            rt.driver_info()
        );
    }
    rt.block_on(async {
        use ringio::io::AsyncReadOwned;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        for round in 0..3u8 {
            // Ten connections, twenty sockets: more than the table's four slots.
            let mut pairs = Vec::new();
            for _ in 0..10 {
                let c = TcpStream::connect(addr).await.unwrap();
                let (s, _) = l.accept().await.unwrap();
                pairs.push((c, s));
            }
            for (i, (c, s)) in pairs.iter().enumerate() {
                let msg = vec![round ^ i as u8; 100];
                c.write_all(msg.clone()).await.0.unwrap();
                let (res, got) = s.read_exact(vec![0u8; 100]).await;
                res.unwrap();
                assert_eq!(got, msg);
                // A read dropped in flight on each.
                let mut pending = Box::pin(c.read(vec![0u8; 16]));
                assert!(poll_once(&mut pending).is_none());
                drop(pending);
            }
            settle().await;
            // Closing each client: its server side must see end of stream.
            for (c, s) in pairs {
                drop(c);
                let (res, _) = ringio::time::timeout(Duration::from_secs(5), s.read(vec![0u8; 16]))
                    .await
                    .expect("the peer never saw the close: its slot still holds it");
                assert_eq!(res.unwrap(), 0);
            }
        }
    });
    drop(rt);
    assert_eq!(fd_count(), before);
}

/// `Builder::fixed_buffers`: a pool first used on the worker registers its memory in
/// the ring's buffer table (one slot; a second pool finds it taken and works
/// unregistered; a dropped pool frees it), and `send_zc` of its buffers, whole or
/// sliced, names the slot. Every byte arrives.
fn fixed_buffers_pool_send_zc(d: Driver) {
    let _g = serial();
    let rt = ringio::Builder::new()
        .driver(d)
        .fixed_buffers(1)
        .build()
        .unwrap();
    rt.block_on(async {
        use ringio::buf::IoBuf;
        use ringio::io::AsyncReadOwned;
        let first = BufPool::new(8, 4096).unwrap();
        let second = BufPool::new(8, 4096).unwrap();
        let mut pairs = Vec::new();
        for (pool, registered) in [(&first, d == Driver::Uring), (&second, false)] {
            // A stream receives from one pool at a time: one pair per pool.
            let (c, s) = pair().await;
            for round in 0..20u8 {
                let msg: Vec<u8> = (0..3000).map(|i| (i as u8) ^ round).collect();
                c.write_all(msg.clone()).await.0.unwrap();
                let mut echoed = 0;
                while echoed < msg.len() {
                    let buf = s.recv_pooled(pool).await.unwrap().expect("data");
                    echoed += buf.len();
                    // Half as a slice, half whole.
                    if round % 2 == 0 {
                        let len = buf.len();
                        s.send_zc(buf.slice(0..len)).await.0.unwrap();
                    } else {
                        s.send_zc(buf).await.0.unwrap();
                    }
                }
                let (res, back) = c.read_exact(vec![0u8; msg.len()]).await;
                res.unwrap();
                assert!(back == msg, "send_zc from a registered pool corrupted data");
            }
            assert_eq!(pool.is_registered(), registered);
            pairs.push((c, s));
        }
        // The first pool's slot frees when it goes; the next pool takes it.
        drop(pairs);
        drop(first);
        // The pool lives until the cancelled receives' last completions arrive.
        for _ in 0..10_000 {
            if metrics().multishot_armed == 0 {
                break;
            }
            ringio::yield_now().await;
        }
        assert_eq!(metrics().multishot_armed, 0);
        let (c2, s2) = pair().await;
        let third = BufPool::new(4, 1024).unwrap();
        c2.write_all(b"third".to_vec()).await.0.unwrap();
        let got = s2.recv_pooled(&third).await.unwrap().unwrap();
        assert_eq!(&got[..], b"third");
        assert_eq!(third.is_registered(), d == Driver::Uring);
        drop((c2, s2, got, second));
    });
}

/// Backpressure: a connection whose task stops receiving holds only a few of the shared
/// pool's buffers (io_uring pauses its multishot receive; epoll takes none), so another
/// connection still receives; the first one's data all arrives, in order, once its task
/// receives again.
fn stalled_receiver_cannot_drain_the_pool(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let pool = BufPool::new(16, 64).unwrap();
        let (ca, sa) = pair().await;
        let (cb, sb) = pair().await;
        // A receives once (arming its receive on io_uring), then stalls.
        ca.write_all(b"go".to_vec()).await.0.unwrap();
        assert_eq!(&sa.recv_pooled(&pool).await.unwrap().unwrap()[..], b"go");
        let flood: Vec<u8> = (0..32 * 1024).map(|i: u32| (i % 249) as u8).collect();
        ca.write_all(flood.clone()).await.0.unwrap();
        ringio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            pool.available() >= 8,
            "a stalled connection holds {} of 16 buffers",
            16 - pool.available()
        );
        // B still gets through.
        cb.write_all(b"hello".to_vec()).await.0.unwrap();
        let got = ringio::time::timeout(Duration::from_secs(5), sb.recv_pooled(&pool))
            .await
            .expect("starved by the stalled connection")
            .unwrap()
            .unwrap();
        assert_eq!(&got[..], b"hello");
        drop(got);
        // A resumes: everything, in order.
        let mut received = Vec::new();
        while received.len() < flood.len() {
            let buf = sa.recv_pooled(&pool).await.unwrap().expect("data");
            received.extend_from_slice(&buf);
        }
        assert!(received == flood, "data lost or reordered across the pause");
        drop((ca, cb, sa, sb));
        pool_full(&pool).await;
    });
}

/// A pool's provided-buffer ring holds 64 buffers at first (the kernel cycles through
/// the ring's buffers in order, so a smaller ring keeps fewer in the cache); when more
/// are in use at once than it holds, receives find it empty (ENOBUFS), and it deepens
/// from the buffers waiting beyond it. 150 connections each hold one received buffer,
/// 150 of 256 at once: every one arrives intact, twice over, and all come back.
fn ring_deepens_for_more_buffers_in_use_than_it_holds(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let pool = BufPool::new(256, 64).unwrap();
        let mut pairs = Vec::new();
        for _ in 0..150 {
            pairs.push(pair().await);
        }
        for round in 0..2u8 {
            for (i, (c, _)) in pairs.iter().enumerate() {
                c.write_all(vec![round, i as u8, (i >> 8) as u8])
                    .await
                    .0
                    .unwrap();
            }
            let mut held = Vec::new();
            for (i, (_, s)) in pairs.iter().enumerate() {
                let buf = ringio::time::timeout(Duration::from_secs(10), s.recv_pooled(&pool))
                    .await
                    .expect("a receive starved with buffers to spare")
                    .unwrap()
                    .expect("data");
                assert_eq!(&buf[..], &[round, i as u8, (i >> 8) as u8][..]);
                held.push(buf);
            }
            assert_eq!(pool.available(), 256 - 150, "round {round}");
            drop(held);
        }
        drop(pairs);
        pool_full(&pool).await;
    });
}

/// `Builder::multishot(false)`, the path of kernels before 6.0: accepts are one-shot,
/// and pooled receives wait for readiness before taking a buffer, so idle connections
/// still hold none; every byte arrives in order, through a pool smaller than the
/// number of connections.
fn pooled_recv_without_multishot(d: Driver) {
    let _g = serial();
    let rt = ringio::Builder::new()
        .driver(d)
        .multishot(false)
        .build()
        .unwrap();
    assert!(!rt.driver_info().flags().contains(&"MULTISHOT"));
    rt.block_on(async {
        let pool = BufPool::new(4, 32).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut clients = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..24u8 {
            clients.push(TcpStream::connect(addr).await.unwrap());
            let (s, _) = l.accept().await.unwrap();
            let pool = pool.clone();
            tasks.push(ringio::spawn(async move {
                let mut got = Vec::new();
                while got.len() < 100 {
                    let buf = s.recv_pooled(&pool).await.unwrap().expect("data");
                    got.extend_from_slice(&buf);
                }
                assert_eq!(got, vec![i; 100]);
            }));
        }
        for _ in 0..10 {
            ringio::yield_now().await;
        }
        assert_eq!(pool.available(), 4, "idle connections took buffers");
        assert_eq!(metrics().multishot_armed, 0);
        for (i, c) in clients.iter().enumerate() {
            c.write_all(vec![i as u8; 100]).await.0.unwrap();
        }
        for t in tasks {
            t.await.unwrap();
        }
        pool_full(&pool).await;
    });
}

/// The multishot operations as streams: `TcpListener::incoming` yields every
/// connection, and `TcpStream::pooled_stream` every received buffer, then ends at end of
/// stream.
fn incoming_and_pooled_streams(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        use futures_core::Stream;
        use std::future::poll_fn;
        let pool = BufPool::new(8, 256).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let clients = ringio::spawn(async move {
            for i in 0..5u8 {
                let c = TcpStream::connect(addr).await.unwrap();
                c.write_all(vec![i; 1000]).await.0.unwrap();
            } // each client closes as it goes
        });
        let mut incoming = std::pin::pin!(l.incoming());
        for _ in 0..5 {
            let (conn, _) = poll_fn(|cx| incoming.as_mut().poll_next(cx))
                .await
                .expect("incoming never ends")
                .unwrap();
            let mut bufs = std::pin::pin!(conn.pooled_stream(&pool));
            let mut got = Vec::new();
            while let Some(buf) = poll_fn(|cx| bufs.as_mut().poll_next(cx)).await {
                got.extend_from_slice(&buf.unwrap());
            }
            assert_eq!(got.len(), 1000);
            assert!(got.iter().all(|&b| b == got[0]));
            // Ended: it stays ended.
            assert!(poll_fn(|cx| bufs.as_mut().poll_next(cx)).await.is_none());
        }
        clients.await.unwrap();
        pool_full(&pool).await;
    });
}

both_drivers!(
    pooled_recv_delivers_in_order,
    ring_deepens_for_more_buffers_in_use_than_it_holds,
    idle_connections_hold_no_buffers,
    exhausted_pool_waits_and_loses_nothing,
    pooled_recv_eof_and_reset,
    dropped_pooled_recvs_lose_nothing,
    multishot_accept_and_listener_drop,
    emfile_on_accept_does_not_kill_the_listener,
    pool_is_per_worker,
    busy_poll_round_trips_and_timers,
    sqpoll_round_trips,
    registered_ring_slots_are_freed,
    idle_turns_make_no_syscall,
    send_zc_delivers_and_survives_drops,
    fixed_files_register_and_release,
    fixed_buffers_pool_send_zc,
    stalled_receiver_cannot_drain_the_pool,
    pooled_recv_without_multishot,
    incoming_and_pooled_streams,
);

/// One TCP ping-pong of `rounds` messages of `size` bytes, checked.
async fn ping_pong(rounds: usize, size: usize) {
    let pool = BufPool::new(8, size.max(64)).unwrap();
    let (c, s) = pair().await;
    let server = ringio::spawn(async move {
        while let Some(buf) = s.recv_pooled(&pool).await.unwrap() {
            s.write_all(buf).await.0.unwrap();
        }
    });
    for round in 0..rounds {
        let msg = vec![round as u8; size];
        c.write_all(msg.clone()).await.0.unwrap();
        let (res, back) = ringio::io::AsyncReadOwned::read_exact(&c, vec![0u8; size]).await;
        res.unwrap();
        assert_eq!(back, msg);
    }
    drop(c);
    server.await.unwrap();
}

/// `Builder::busy_poll`: the worker spins for completions before sleeping; I/O and
/// timers behave as without it.
fn busy_poll_round_trips_and_timers(d: Driver) {
    let _g = serial();
    let rt = ringio::Builder::new()
        .driver(d)
        .busy_poll(Duration::from_micros(200))
        .build()
        .unwrap();
    rt.block_on(async {
        ping_pong(2000, 64).await;
        let start = std::time::Instant::now();
        ringio::time::sleep(Duration::from_millis(5)).await;
        assert!(start.elapsed() >= Duration::from_millis(5));
    });
}

/// `Builder::sqpoll`: a kernel thread takes the submissions; I/O works the same.
fn sqpoll_round_trips(d: Driver) {
    let _g = serial();
    let rt = ringio::Builder::new()
        .driver(d)
        .sqpoll(Duration::from_millis(5))
        .build()
        .unwrap();
    if d == Driver::Uring {
        assert!(
            rt.driver_info().flags().contains(&"SQPOLL"),
            "{}",
            rt.driver_info()
        );
    }
    rt.block_on(async {
        ping_pong(500, 1000).await;
        // Idle past the SQ thread's idle time, so it sleeps and must be woken.
        ringio::time::sleep(Duration::from_millis(20)).await;
        ping_pong(50, 10).await;
    });
}

/// io_uring registers each ring's fd (16 slots per thread) and frees the slot when the
/// runtime goes: twenty runtimes in turn on one thread all get one.
fn registered_ring_slots_are_freed(d: Driver) {
    let _g = serial();
    for _ in 0..20 {
        let rt = rt(d);
        if d == Driver::Uring {
            assert!(
                rt.driver_info().flags().contains(&"REGISTERED_RING"),
                "{}",
                rt.driver_info()
            );
        }
        rt.block_on(ping_pong(10, 32));
    }
}

/// A loop turn with nothing to submit and no completion pending makes no syscall
/// (io_uring with TASKRUN_FLAG reads the kernel's task-work flag instead).
fn idle_turns_make_no_syscall(d: Driver) {
    let _g = serial();
    let rt = rt(d);
    let taskrun_flag = rt.driver_info().flags().contains(&"TASKRUN_FLAG");
    rt.block_on(async {
        let before = metrics().enters;
        for _ in 0..1000 {
            ringio::yield_now().await;
        }
        let enters = metrics().enters - before;
        if taskrun_flag {
            assert!(enters < 50, "{enters} enters for 1000 yields");
        } else {
            // Without the flag every turn enters to run the kernel's task work.
            assert!(enters >= 1000 || d == Driver::Epoll, "{enters}");
        }
    });
}
