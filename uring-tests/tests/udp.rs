//! UDP through the public API, on both drivers: datagram boundaries (ASYNCIO 7.3 Check
//! 3), connected sockets, truncation, socket options (broadcast, SO_REUSEPORT,
//! multicast on the loopback interface), the pooled receive (an idle socket holds no
//! buffer; a stalled one cannot drain the pool), and cancellation loops that drop
//! sends and receives at random polls while datagrams flow.
//!
//! Loopback only, and every wait is bounded. Datagrams are sent from runtime tasks,
//! never from a second thread, so the file runs under valgrind memcheck too
//! (`ci/memcheck.sh`). The tests take a global lock: fd counts are per process.

mod support;

#[path = "../../examples/udp_echo.rs"]
mod udp_echo;

use ringio::buf::BufPool;
use ringio::net::{DatagramTruncated, UdpBindOptions, UdpSocket};
use ringio::runtime::{metrics, Driver};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::{poll_fn, Future};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;
use support::{fd_count, poll_then_drop, pool_full, rt, serial, settle, Rng};

/// Iterations of the cancellation loops: `RINGIO_CANCEL_ITERS` (as in
/// cancel_safety.rs), default 10,000.
fn iters() -> u64 {
    std::env::var("RINGIO_CANCEL_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

const WAIT: Duration = Duration::from_secs(5);

/// `fut`, or a panic naming `what` after [`WAIT`].
async fn bounded<F: Future>(what: &str, fut: F) -> F::Output {
    ringio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

fn local() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// Polls `fut` once; `Some(output)` if it finished.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    poll_fn(|cx| {
        Poll::Ready(match Pin::new(&mut *fut).poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}

/// ASYNCIO 7.3 Check 3: three datagrams of different sizes arrive as exactly those
/// three, through `recv_from` and through `recv_from_pooled`; an empty datagram is a
/// datagram too, and nothing more arrives.
fn round_trip_keeps_boundaries(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let pool = BufPool::new(8, 2048).unwrap();
        let (a, b) = (local(), local());
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let sizes = [1usize, 700, 1400];
        // Owned buffers first: once `b` receives through the pool, its multishot
        // receive (io_uring) stays armed and would take the datagrams.
        for pooled in [false, true] {
            for (i, &n) in sizes.iter().enumerate() {
                let (res, _) = a.send_to(vec![i as u8 + 1; n], b_addr).await;
                assert_eq!(res.unwrap(), n, "a datagram is sent whole");
            }
            for (i, &n) in sizes.iter().enumerate() {
                let (got, from) = if pooled {
                    let (buf, from) = bounded("pooled", b.recv_from_pooled(&pool)).await.unwrap();
                    (buf.to_vec(), from)
                } else {
                    let (res, buf) = bounded("recv_from", b.recv_from(vec![0u8; 2048])).await;
                    let (len, from) = res.unwrap();
                    (buf[..len].to_vec(), from)
                };
                assert_eq!(got, vec![i as u8 + 1; n], "datagram {i} (pooled: {pooled})");
                assert_eq!(from, a_addr);
            }
            // An empty datagram is one too.
            a.send_to(Vec::new(), b_addr).await.0.unwrap();
            let (len, from) = if pooled {
                let (buf, from) = bounded("empty pooled", b.recv_from_pooled(&pool))
                    .await
                    .unwrap();
                (buf.len(), from)
            } else {
                bounded("empty", b.recv_from(vec![0u8; 16]))
                    .await
                    .0
                    .unwrap()
            };
            assert_eq!(
                (len, from),
                (0, a_addr),
                "an empty datagram (pooled: {pooled})"
            );
        }
        let more = ringio::time::timeout(Duration::from_millis(30), b.recv_from_pooled(&pool));
        assert!(more.await.is_err(), "a fifth datagram appeared");
        pool_full(&pool).await;
    });
}

/// `connect` fixes the peer: `send` and `recv` work without addresses, datagrams from
/// anyone else are filtered out, and a refused datagram comes back as an error.
fn connected_send_recv(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let (a, b, stranger) = (local(), local(), local());
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_eq!(a.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
        let (res, _) = a.send(b"x".to_vec()).await;
        assert!(res.is_err(), "send on an unconnected socket");
        a.connect(b_addr).unwrap();
        b.connect(a_addr).unwrap();
        assert_eq!(a.peer_addr().unwrap(), b_addr);
        stranger.send_to(b"noise".to_vec(), b_addr).await.0.unwrap();
        assert_eq!(a.send(b"hello".to_vec()).await.0.unwrap(), 5);
        let (res, buf) = bounded("recv", b.recv(vec![0u8; 64])).await;
        assert_eq!(
            &buf[..res.unwrap()],
            b"hello",
            "the stranger's datagram is filtered"
        );
        b.send(b"back".to_vec()).await.0.unwrap();
        let (res, buf) = bounded("recv_from", a.recv_from(vec![0u8; 64])).await;
        let (n, from) = res.unwrap();
        assert_eq!((&buf[..n], from), (&b"back"[..], b_addr));
        // A peer that is gone: the port-unreachable reply surfaces on a later call.
        let gone = local();
        let gone_addr = gone.local_addr().unwrap();
        drop(gone);
        let c = local();
        c.connect(gone_addr).unwrap();
        c.send(b"anyone?".to_vec()).await.0.unwrap();
        let (res, _) = bounded("refused", c.recv(vec![0u8; 64])).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::ConnectionRefused);
    });
}

/// A datagram larger than the buffer is an error carrying its real length and sender
/// (with the part that fit in the buffer), on every receive; the next datagram is
/// received whole.
fn truncation_is_reported(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let pool = BufPool::new(4, UdpSocket::POOL_HEADROOM + 16).unwrap();
        let (a, b) = (local(), local());
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let big: Vec<u8> = (0..100u8).collect();

        a.send_to(big.clone(), b_addr).await.0.unwrap();
        let (res, buf) = bounded("recv_from", b.recv_from(Vec::with_capacity(10))).await;
        let err = res.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        let t = DatagramTruncated::from_io(&err).expect("a DatagramTruncated");
        assert_eq!((t.len(), t.received(), t.peer()), (100, 10, a_addr));
        assert_eq!(buf, &big[..10], "the part that fit");
        assert!(err.to_string().contains("truncated"), "{err}");

        a.send_to(big.clone(), b_addr).await.0.unwrap();
        let err = bounded("pooled", b.recv_from_pooled(&pool))
            .await
            .unwrap_err();
        let t = DatagramTruncated::from_io(&err).expect("a DatagramTruncated");
        assert_eq!((t.len(), t.received(), t.peer()), (100, 16, a_addr));
        // 16 bytes fit exactly.
        a.send_to(big[..16].to_vec(), b_addr).await.0.unwrap();
        let (buf, _) = bounded("pooled fit", b.recv_from_pooled(&pool))
            .await
            .unwrap();
        assert_eq!(&buf[..], &big[..16]);
        drop(buf);

        // A fresh socket: `b`'s multishot receive (io_uring) stays armed.
        let c = local();
        let c_addr = c.local_addr().unwrap();
        c.connect(a_addr).unwrap();
        a.send_to(big.clone(), c_addr).await.0.unwrap();
        a.send_to(b"small".to_vec(), c_addr).await.0.unwrap();
        let (res, _) = bounded("recv", c.recv(Vec::with_capacity(50))).await;
        let err = res.unwrap_err();
        let t = DatagramTruncated::from_io(&err).unwrap();
        assert_eq!((t.len(), t.received(), t.peer()), (100, 50, a_addr));
        let (res, buf) = bounded("recv after", c.recv(Vec::with_capacity(50))).await;
        assert_eq!(&buf[..res.unwrap()], b"small", "the next datagram is whole");
        pool_full(&pool).await;
    });
}

/// SO_BROADCAST: off by default, set and read back, and required to send to a
/// broadcast address (refused here before anything leaves the host).
fn broadcast_option(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let s = local();
        assert!(!s.broadcast().unwrap());
        let bcast: SocketAddr = "255.255.255.255:9".parse().unwrap();
        let (res, _) = s.send_to(b"x".to_vec(), bcast).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::PermissionDenied);
        s.set_broadcast(true).unwrap();
        assert!(s.broadcast().unwrap());
        s.set_broadcast(false).unwrap();
        assert!(!s.broadcast().unwrap());
        let opts = UdpBindOptions::new().broadcast(true);
        let s2 = UdpSocket::bind_with("127.0.0.1:0", &opts).unwrap();
        assert!(s2.broadcast().unwrap());
        s.set_ttl(17).unwrap();
        assert_eq!(s.ttl().unwrap(), 17);
    });
}

/// SO_REUSEPORT: two sockets bind one port (without it the second bind fails), and
/// every datagram sent to the port reaches one of them.
fn reuse_port_shares_a_port(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let opts = UdpBindOptions::new().reuse_port(true);
        let first = UdpSocket::bind_with("127.0.0.1:0", &opts).unwrap();
        let addr = first.local_addr().unwrap();
        let second = UdpSocket::bind_with(addr, &opts).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        let err = UdpSocket::bind(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);

        let got = Rc::new(Cell::new(0usize));
        let per_socket = Rc::new(RefCell::new([0usize; 2]));
        let mut tasks = Vec::new();
        for (i, s) in [first, second].into_iter().enumerate() {
            let (got, per_socket) = (got.clone(), per_socket.clone());
            tasks.push(ringio::spawn(async move {
                loop {
                    let (res, buf) = s.recv_from(vec![0u8; 16]).await;
                    let (n, _) = res.unwrap();
                    if &buf[..n] == b"stop" {
                        return;
                    }
                    got.set(got.get() + 1);
                    per_socket.borrow_mut()[i] += 1;
                }
            }));
        }
        let senders: Vec<UdpSocket> = (0..16).map(|_| local()).collect();
        for s in &senders {
            s.send_to(b"hi".to_vec(), addr).await.0.unwrap();
        }
        bounded("all datagrams", async {
            while got.get() < senders.len() {
                ringio::yield_now().await;
            }
        })
        .await;
        // Stop both receivers: keep sending from new sources until each has stopped.
        for t in tasks {
            let mut t = Box::pin(t);
            bounded("receiver stops", async {
                loop {
                    local().send_to(b"stop".to_vec(), addr).await.0.unwrap();
                    if let Some(res) = poll_then_drop_ref(&mut t, 3).await {
                        return res.unwrap();
                    }
                }
            })
            .await;
        }
        assert_eq!(got.get(), 16, "{:?}", per_socket.borrow());
    });
}

/// Polls a pinned future up to `polls` times (a loop turn between polls) without
/// dropping it.
async fn poll_then_drop_ref<F: Future + Unpin>(fut: &mut F, polls: u64) -> Option<F::Output> {
    for _ in 0..polls {
        if let Some(v) = poll_once(fut).await {
            return Some(v);
        }
        ringio::yield_now().await;
    }
    None
}

/// Sets IP_MULTICAST_IF, so a group datagram leaves by the loopback interface (this
/// crate's API has no setter for it; tokio's neither).
fn multicast_out_of(s: &UdpSocket, interface: Ipv4Addr) {
    let addr = libc::in_addr {
        s_addr: u32::from(interface).to_be(),
    };
    // SAFETY: sets IP_MULTICAST_IF on an open socket from a live struct of its size.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(s),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&addr as *const libc::in_addr).cast(),
            std::mem::size_of::<libc::in_addr>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}

/// IPv4 multicast on the loopback interface: a member receives a group datagram,
/// stops after leaving, and leaving twice or joining a unicast address is an error.
/// IPv6: join and leave on `lo` (index 1) return sensibly.
fn multicast_join_leave(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let group = Ipv4Addr::new(239, 255, 77, 77);
        let lo = Ipv4Addr::LOCALHOST;
        // Bound to the group address: only the group's datagrams arrive.
        let member = UdpSocket::bind((group, 0)).unwrap();
        let dest = SocketAddr::from((group, member.local_addr().unwrap().port()));
        member.join_multicast_v4(group, lo).unwrap();
        let sender = local();
        multicast_out_of(&sender, lo);
        assert!(sender.multicast_loop_v4().unwrap());
        sender
            .send_to(b"to the group".to_vec(), dest)
            .await
            .0
            .unwrap();
        let (res, buf) = bounded("group datagram", member.recv_from(vec![0u8; 64])).await;
        let (n, from) = res.unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"to the group"[..], sender.local_addr().unwrap())
        );

        // IP_MULTICAST_LOOP only stops the extra local copy: a datagram sent out of
        // `lo` comes back in through it whatever the flag, so only set and get here.
        sender.set_multicast_loop_v4(false).unwrap();
        assert!(!sender.multicast_loop_v4().unwrap());
        sender.set_multicast_loop_v4(true).unwrap();
        member.leave_multicast_v4(group, lo).unwrap();
        sender
            .send_to(b"after leave".to_vec(), dest)
            .await
            .0
            .unwrap();
        let late =
            ringio::time::timeout(Duration::from_millis(50), member.recv_from(vec![0u8; 64]));
        if let Ok((res, buf)) = late.await {
            panic!("received {:?} after leaving", &buf[..res.unwrap().0]);
        }

        let err = member.leave_multicast_v4(group, lo).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EADDRNOTAVAIL), "{err}");
        let err = member.join_multicast_v4(lo, lo).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");

        let v6 = UdpSocket::bind("[::1]:0").unwrap();
        let group6: Ipv6Addr = "ff02::1:77".parse().unwrap();
        v6.join_multicast_v6(group6, 1).unwrap();
        v6.leave_multicast_v6(group6, 1).unwrap();
        assert!(v6.leave_multicast_v6(group6, 1).is_err());
    });
}

/// Many sockets, each with a pooled receive waiting, hold no buffer; a datagram to
/// each still gets through a pool smaller than the number of sockets.
fn idle_sockets_hold_no_buffers(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let pool = BufPool::new(4, 256).unwrap();
        let mut addrs = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..32u8 {
            let s = local();
            addrs.push(s.local_addr().unwrap());
            let pool = pool.clone();
            tasks.push(ringio::spawn(async move {
                let (buf, _) = s.recv_from_pooled(&pool).await.unwrap();
                assert_eq!(&buf[..], &[i; 3]);
            }));
        }
        for _ in 0..10 {
            ringio::yield_now().await;
        }
        assert_eq!(pool.available(), 4, "idle sockets took buffers");
        let sender = local();
        for (i, addr) in addrs.iter().enumerate() {
            sender.send_to(vec![i as u8; 3], *addr).await.0.unwrap();
        }
        for t in tasks {
            bounded("receiver", t).await.unwrap();
        }
        pool_full(&pool).await;
        settle().await;
    });
}

/// A socket whose task stops receiving holds only a few of the shared pool's buffers
/// (io_uring pauses its multishot receive; epoll takes none), another socket still
/// receives, and the first one's datagrams all arrive, in order, once it receives again.
fn stalled_receiver_cannot_drain_the_pool(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let pool = BufPool::new(16, 128).unwrap();
        let (a, b, sender) = (local(), local(), local());
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        sender.send_to(b"go".to_vec(), a_addr).await.0.unwrap();
        let (buf, _) = bounded("first", a.recv_from_pooled(&pool)).await.unwrap();
        assert_eq!(&buf[..], b"go");
        drop(buf);
        for i in 0..40u32 {
            sender
                .send_to(i.to_le_bytes().to_vec(), a_addr)
                .await
                .0
                .unwrap();
        }
        ringio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            pool.available() >= 8,
            "a stalled socket holds {} of 16 buffers",
            16 - pool.available()
        );
        sender.send_to(b"hello".to_vec(), b_addr).await.0.unwrap();
        let (got, _) = bounded("starved", b.recv_from_pooled(&pool)).await.unwrap();
        assert_eq!(&got[..], b"hello");
        drop(got);
        for i in 0..40u32 {
            let (buf, _) = bounded("resume", a.recv_from_pooled(&pool)).await.unwrap();
            assert_eq!(
                &buf[..],
                i.to_le_bytes(),
                "lost or reordered across the pause"
            );
        }
        drop((a, b));
        pool_full(&pool).await;
        settle().await;
    });
}

/// `Builder::multishot(false)` (kernels before 6.0): pooled receives wait for
/// readiness before taking a buffer, so idle sockets still hold none.
fn pooled_recv_without_multishot(d: Driver) {
    let _g = serial();
    let rt = ringio::Builder::new()
        .driver(d)
        .multishot(false)
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = BufPool::new(2, 128).unwrap();
        let mut addrs = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..8u8 {
            let s = local();
            addrs.push(s.local_addr().unwrap());
            let pool = pool.clone();
            tasks.push(ringio::spawn(async move {
                for round in 0..3u8 {
                    let (buf, _) = s.recv_from_pooled(&pool).await.unwrap();
                    assert_eq!(&buf[..], &[i, round]);
                }
            }));
        }
        for _ in 0..10 {
            ringio::yield_now().await;
        }
        assert_eq!(pool.available(), 2, "idle sockets took buffers");
        assert_eq!(metrics().multishot_armed, 0);
        let sender = local();
        for round in 0..3u8 {
            for (i, addr) in addrs.iter().enumerate() {
                sender.send_to(vec![i as u8, round], *addr).await.0.unwrap();
            }
        }
        for t in tasks {
            bounded("receiver", t).await.unwrap();
        }
        pool_full(&pool).await;
    });
}

/// A receive dropped after the kernel took a datagram for it hands the datagram on:
/// to the next receive, or to a receive already waiting in the kernel (which cancels
/// its own operation to take it), so no datagram is lost to a dropped future.
fn dropped_receive_hands_its_datagram_on(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let (a, b) = (local(), local());
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        for round in 0..60u8 {
            a.send_to(vec![round; 7], b_addr).await.0.unwrap();
            // Submitted (on io_uring) and dropped before the loop turn that runs it:
            // the kernel still gives it the waiting datagram. Every third round the
            // dropped receive is a `recv`, which must leave the sender's address too.
            let done = if round % 3 == 2 {
                let mut first = Box::pin(b.recv(vec![0u8; 64]));
                poll_once(&mut first)
                    .await
                    .map(|(res, buf)| buf[..res.unwrap()].to_vec())
            } else {
                let mut first = Box::pin(b.recv_from(vec![0u8; 64]));
                poll_once(&mut first)
                    .await
                    .map(|(res, buf)| buf[..res.unwrap().0].to_vec())
            };
            let got = match done {
                Some(got) => got, // epoll: at once
                None if round % 2 == 0 => {
                    // The next receive takes it.
                    let (res, buf) = bounded("next receive", b.recv_from(vec![0u8; 64])).await;
                    let (n, from) = res.unwrap();
                    assert_eq!(from, a_addr);
                    buf[..n].to_vec()
                }
                None => {
                    // A receive submitted alongside waits in the kernel; the late
                    // datagram reaches it anyway.
                    let (res, buf) = bounded("waiting receive", b.recv(vec![0u8; 64])).await;
                    buf[..res.unwrap()].to_vec()
                }
            };
            assert_eq!(got, vec![round; 7]);
        }
        let more = ringio::time::timeout(Duration::from_millis(30), b.recv_from(vec![0u8; 16]));
        assert!(more.await.is_err(), "a datagram was delivered twice");
        settle().await;
    });
}

/// A test datagram: sequence number, length, then bytes that depend on both.
fn datagram(seq: u32, len: usize) -> Vec<u8> {
    let mut d = Vec::with_capacity(len);
    d.extend_from_slice(&seq.to_le_bytes());
    d.extend_from_slice(&(len as u16).to_le_bytes());
    d.extend((6..len).map(|j| (seq as usize * 31 + j) as u8));
    d
}

/// Checks a received test datagram is intact; returns its sequence number.
fn check(d: &[u8]) -> u32 {
    assert!(d.len() >= 6, "short datagram {d:?}");
    let seq = u32::from_le_bytes(d[..4].try_into().unwrap());
    let len = u16::from_le_bytes(d[4..6].try_into().unwrap()) as usize;
    assert_eq!(d, datagram(seq, len), "datagram {seq} damaged");
    seq
}

/// Records a received test datagram, checking it is intact and new.
fn record(got: &mut HashSet<u32>, bytes: &[u8]) {
    let seq = check(bytes);
    assert!(got.insert(seq), "datagram {seq} received twice");
}

/// Thousands of `send_to`, `recv_from` and `recv_from_pooled` futures dropped at random
/// polls while datagrams flow to two sockets (one read with owned buffers, one through a
/// pool): every datagram received is intact and received once, every datagram whose
/// send completed arrives, the op table drains to the armed multishot receives, every
/// pool buffer comes back, and no fd is left open.
fn cancellation_loop(d: Driver) {
    let _g = serial();
    let before = fd_count();
    rt(d).block_on(async {
        let pool = BufPool::new(32, 256).unwrap();
        let tx = local();
        let owned_rx = local();
        let pooled_rx = local();
        let targets = [
            owned_rx.local_addr().unwrap(),
            pooled_rx.local_addr().unwrap(),
        ];
        let mut rng = Rng::new(13);
        // Per receiver: sequence numbers whose send completed, and those received.
        let mut sent = [HashSet::new(), HashSet::new()];
        let mut got = [HashSet::new(), HashSet::new()];
        let (mut drops, mut completed) = (0u64, 0u64);
        for i in 0..iters() {
            let to = (i % 2) as usize;
            let seq = i as u32;
            let msg = datagram(seq, 6 + rng.below(200) as usize);
            match poll_then_drop(tx.send_to(msg, targets[to]), rng.below(3)).await {
                Some((res, _)) => {
                    res.unwrap();
                    sent[to].insert(seq);
                }
                None => drops += 1,
            }
            let polls = rng.below(4);
            if let Some((res, buf)) =
                poll_then_drop(owned_rx.recv_from(vec![0u8; 256]), polls).await
            {
                let (n, _) = res.unwrap();
                record(&mut got[0], &buf[..n]);
                completed += 1;
            } else {
                drops += 1;
            }
            let polls = rng.below(4);
            if let Some(res) = poll_then_drop(pooled_rx.recv_from_pooled(&pool), polls).await {
                let (buf, _) = res.unwrap();
                record(&mut got[1], &buf);
                completed += 1;
            } else {
                drops += 1;
            }
            // Keep the backlog well inside the sockets' receive buffers, so the kernel
            // drops nothing.
            for r in 0..2 {
                while sent[r].len().saturating_sub(got[r].len()) > 32 {
                    if r == 0 {
                        let (res, buf) =
                            bounded("drain owned", owned_rx.recv_from(vec![0u8; 256])).await;
                        record(&mut got[0], &buf[..res.unwrap().0]);
                    } else {
                        let (buf, _) = bounded("drain pooled", pooled_rx.recv_from_pooled(&pool))
                            .await
                            .unwrap();
                        record(&mut got[1], &buf);
                    }
                }
            }
        }
        // Drain what is left: everything sent arrives (and maybe some whose send was
        // dropped after the kernel took it).
        loop {
            let next = ringio::time::timeout(
                Duration::from_millis(100),
                owned_rx.recv_from(vec![0u8; 256]),
            );
            let Ok((res, buf)) = next.await else { break };
            record(&mut got[0], &buf[..res.unwrap().0]);
        }
        loop {
            let next = ringio::time::timeout(
                Duration::from_millis(100),
                pooled_rx.recv_from_pooled(&pool),
            );
            let Ok(res) = next.await else { break };
            record(&mut got[1], &res.unwrap().0);
        }
        for r in 0..2 {
            let lost: Vec<_> = sent[r].difference(&got[r]).collect();
            assert!(
                lost.is_empty(),
                "receiver {r} lost {} datagrams: {lost:?}",
                lost.len()
            );
        }
        assert!(drops > iters() / 2, "only {drops} drops");
        assert!(completed > 0);
        settle().await;
        pool_full(&pool).await;
        // Still usable both ways after it all.
        tx.send_to(datagram(u32::MAX, 40), targets[1])
            .await
            .0
            .unwrap();
        let (buf, from) = bounded("after", pooled_rx.recv_from_pooled(&pool))
            .await
            .unwrap();
        assert_eq!((check(&buf), from), (u32::MAX, tx.local_addr().unwrap()));
        drop(buf);
        let armed = metrics().multishot_armed;
        drop(pooled_rx);
        for _ in 0..1000 {
            if metrics().multishot_armed < armed || d == Driver::Epoll {
                break;
            }
            ringio::yield_now().await;
        }
        if d == Driver::Uring {
            assert!(metrics().multishot_armed < armed, "receive not cancelled");
        }
        settle().await;
        pool_full(&pool).await;
    });
    assert_eq!(fd_count(), before);
}

/// `examples/udp_echo.rs`'s own `serve`: several clients, each its own socket, get
/// their own datagrams back, one per send; an oversized one is skipped, not echoed in
/// part.
fn udp_echo_example_serves_clients(d: Driver) {
    let _g = serial();
    rt(d).block_on(async {
        let pool = BufPool::new(16, 512).unwrap();
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let clients: Vec<UdpSocket> = (0..4).map(|_| local()).collect();
        let rounds = 20u64;
        let total = rounds * clients.len() as u64 + 1;
        let serving = {
            let pool = pool.clone();
            ringio::spawn(async move { udp_echo::serve(&server, &pool, Some(total)).await })
        };
        let oversized = vec![0u8; 512];
        clients[0].send_to(oversized, addr).await.0.unwrap();
        for round in 0..rounds {
            for (i, c) in clients.iter().enumerate() {
                let msg = datagram((round * 100 + i as u64) as u32, 10 + i * 50);
                c.send_to(msg.clone(), addr).await.0.unwrap();
                let (res, buf) = bounded("echo", c.recv_from(vec![0u8; 512])).await;
                let (n, from) = res.unwrap();
                assert_eq!((&buf[..n], from), (&msg[..], addr));
            }
        }
        assert_eq!(bounded("server", serving).await.unwrap(), total);
        pool_full(&pool).await;
    });
}

both_drivers!(
    round_trip_keeps_boundaries,
    connected_send_recv,
    truncation_is_reported,
    broadcast_option,
    reuse_port_shares_a_port,
    multicast_join_leave,
    idle_sockets_hold_no_buffers,
    stalled_receiver_cannot_drain_the_pool,
    pooled_recv_without_multishot,
    dropped_receive_hands_its_datagram_on,
    cancellation_loop,
    udp_echo_example_serves_clients,
);
