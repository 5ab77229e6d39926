//! I/O deadlines on both drivers: `read_timeout` / `write_timeout` of TCP and Unix
//! streams (a linked timeout on io_uring, a timer on epoll) and UDP's
//! `recv_from_timeout` / `recv_timeout` (a cancel on io_uring, a dropped wait on
//! epoll). A deadline that passes gives `TimedOut` with the buffer back and leaves the
//! socket usable; one that does not pass changes nothing; timed operations dropped in
//! flight leave no slot and no fd behind.

mod support;

use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
use ringio::net::{UdpSocket, UnixStream};
use ringio::runtime::Driver;
use ringio::time::{sleep, Instant};
use std::io::ErrorKind;
use std::time::Duration;
use support::{fd_count, pair, poll_once, rt, serial, settle, Rng};

/// No data: `TimedOut` after about the deadline, the buffer back, and the stream
/// still reads what comes next.
fn read_timeout_passes(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let (c, s) = pair().await;
        let start = Instant::now();
        let (res, buf) = s
            .read_timeout(vec![0u8; 32], Duration::from_millis(30))
            .await;
        let took = start.elapsed();
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
        assert!(
            took >= Duration::from_millis(25),
            "timed out early: {took:?}"
        );
        assert!(took < Duration::from_secs(5), "timed out late: {took:?}");
        assert_eq!(buf.capacity(), 32, "the buffer did not come back");
        c.write_all(b"after".to_vec()).await.0.unwrap();
        let (res, buf) = s.read_timeout(buf, Duration::from_secs(5)).await;
        assert_eq!(&buf[..res.unwrap()], b"after");
        settle().await;
    });
}

/// Data before the deadline: the read completes normally.
fn read_within_the_deadline(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let (c, s) = pair().await;
        let writer = ringio::spawn(async move {
            sleep(Duration::from_millis(10)).await;
            c.write_all(b"in time".to_vec()).await.0.unwrap();
            c
        });
        let (res, buf) = s.read_timeout(vec![0u8; 32], Duration::from_secs(5)).await;
        assert_eq!(&buf[..res.unwrap()], b"in time");
        drop(writer.await.unwrap());
        settle().await;
    });
}

/// A peer that does not read: once the socket is full, a timed write is `TimedOut`
/// with its buffer back.
fn write_timeout_on_a_full_socket(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let (c, _s) = pair().await;
        let mut buf = vec![1u8; 1 << 20];
        let mut timed_out = false;
        for _ in 0..200 {
            let (res, b) = c.write_timeout(buf, Duration::from_millis(30)).await;
            buf = b;
            match res {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::TimedOut => {
                    timed_out = true;
                    break;
                }
                Err(e) => panic!("write: {e}"),
            }
        }
        assert!(
            timed_out,
            "a peer that never reads did not make a write time out"
        );
        assert_eq!(buf.len(), 1 << 20, "the buffer did not come back whole");
        settle().await;
    });
}

/// Timed reads dropped at random polls, some after their deadline: no slot is left
/// (on io_uring both the read and its linked timeout complete), and the stream still
/// works.
fn timed_reads_dropped_in_flight(driver: Driver) {
    let _serial = serial();
    let iters: u64 = std::env::var("RINGIO_CANCEL_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(2_000, |n: u64| (n / 5).max(200));
    let fds = fd_count();
    rt(driver).block_on(async move {
        let (c, s) = pair().await;
        let mut rng = Rng::new(3);
        for _ in 0..iters {
            let timeout = Duration::from_micros(rng.below(2_000));
            let mut read = Box::pin(s.read_timeout(vec![0u8; 16], timeout));
            let _ = poll_once(&mut read);
            if rng.below(4) == 0 {
                ringio::yield_now().await;
            }
            drop(read);
        }
        settle().await;
        c.write_all(b"alive".to_vec()).await.0.unwrap();
        let (res, buf) = s.read(vec![0u8; 16]).await;
        assert_eq!(&buf[..res.unwrap()], b"alive");
    });
    assert_eq!(fd_count(), fds, "fds leaked");
}

/// The same deadline on a Unix stream.
fn unix_read_timeout(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (res, buf) = b
            .read_timeout(vec![0u8; 8], Duration::from_millis(20))
            .await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
        a.write_all(b"unix".to_vec()).await.0.unwrap();
        let (res, buf) = b.read_timeout(buf, Duration::from_secs(5)).await;
        assert_eq!(&buf[..res.unwrap()], b"unix");
    });
}

/// UDP: no datagram is `TimedOut` with the buffer back; a datagram within the deadline
/// is received; timed receives dropped at random polls lose no datagram that arrives.
fn udp_recv_timeout(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let start = Instant::now();
        let (res, buf) = rx
            .recv_from_timeout(vec![0u8; 32], Duration::from_millis(30))
            .await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(25));
        assert_eq!(buf.capacity(), 32);
        tx.send_to(b"dgram".to_vec(), rx.local_addr().unwrap())
            .await
            .0
            .unwrap();
        let (res, buf) = rx.recv_from_timeout(buf, Duration::from_secs(5)).await;
        let (n, from) = res.unwrap();
        assert_eq!((&buf[..n], from), (&b"dgram"[..], tx.local_addr().unwrap()));
        tx.connect(rx.local_addr().unwrap()).unwrap();
        rx.connect(tx.local_addr().unwrap()).unwrap();
        let mut rng = Rng::new(9);
        for i in 0..200u32 {
            let mut recv =
                Box::pin(rx.recv_timeout(vec![0u8; 8], Duration::from_micros(rng.below(500))));
            let _ = poll_once(&mut recv);
            drop(recv);
            tx.send(i.to_le_bytes().to_vec()).await.0.unwrap();
            let (res, buf) = rx.recv_timeout(vec![0u8; 8], Duration::from_secs(5)).await;
            assert_eq!(&buf[..res.unwrap()], &i.to_le_bytes(), "datagram {i}");
        }
        settle().await;
    });
}

both_drivers!(
    read_timeout_passes,
    read_within_the_deadline,
    write_timeout_on_a_full_socket,
    timed_reads_dropped_in_flight,
    unix_read_timeout,
    udp_recv_timeout,
);
