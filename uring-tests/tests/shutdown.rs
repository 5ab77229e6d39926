//! Shutdown with everything in flight: a runtime is dropped while `RINGIO_SHUTDOWN_OPS`
//! operations (10,000 by default) of every kind wait in the kernel: TCP reads whose
//! peers keep sending, 1 MiB writes to peers that stopped reading, accepts, connects to
//! a listener that never accepts, UDP receives, pooled Unix receives, readiness polls,
//! child process waits and sleeps.
//!
//! The drop must return within a bounded time (the peers that stopped reading do not
//! hold it up), close every fd it opened, and free no buffer the kernel may still write:
//! std peers outside the runtime keep sending into the reads while the runtime goes
//! down, and canaries of the reads' buffer size, allocated right after the drop, must
//! survive. Under valgrind memcheck (`ci/memcheck.sh`, with fewer operations) the same
//! drop must be clean.

mod support;

use ringio::buf::BufPool;
use ringio::io::{AsyncFd, AsyncReadOwned, AsyncWriteOwned};
use ringio::net::{BindOptions, TcpListener, TcpStream, UdpSocket, UnixStream};
use ringio::process::{Command, Stdio};
use ringio::runtime::{metrics, Driver};
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{fd_count, raise_fd_limit};

static SERIAL: Mutex<()> = Mutex::new(());

const READ_SIZE: usize = 2048;
const CANARY: u8 = 0xC3;

fn total_ops() -> usize {
    std::env::var("RINGIO_SHUTDOWN_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn dropped_with_ops_in_flight(d: Driver) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = total_ops();
    raise_fd_limit(8192 + n as u64);
    let fds_before = fd_count();
    // Shares of the total: reads and writes each get a fifth (one TCP pair carries one of
    // each), accepts a tenth, connects a twentieth, UDP receives, pooled receives and polls
    // a tenth each, sleeps the rest; a few child waits.
    let pairs = n / 5;
    let accepts = n / 10;
    let connects = n / 20;
    let udp_recvs = n / 10;
    let unix_recvs = n / 10;
    let polls = n / 10;
    let children = 4;
    let sleeps = n - 2 * pairs - accepts - connects - udp_recvs - unix_recvs - polls - children;

    let rt = ringio::Builder::new()
        .driver(d)
        .workers(1)
        .entries(1024)
        .build()
        .unwrap();
    // std peers of the reading sockets, which keep sending while the runtime goes down.
    let peers: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
    let in_flight = rt.block_on({
        let peers = peers.clone();
        async move {
            let l =
                TcpListener::bind_with("127.0.0.1:0", &BindOptions::new().backlog(4096)).unwrap();
            let addr = l.local_addr().unwrap();
            let l = Rc::new(l);
            for i in 0..pairs {
                let peer = std::net::TcpStream::connect(addr).unwrap();
                let (conn, _) = l.accept().await.unwrap();
                let conn = Rc::new(conn);
                let reader = conn.clone();
                drop(ringio::spawn(async move {
                    let _ = reader.read(vec![0u8; READ_SIZE]).await;
                }));
                // The peer never reads: the write fills both socket buffers and waits.
                drop(ringio::spawn(async move {
                    let _ = conn.write_all(vec![i as u8; 1 << 20]).await;
                }));
                peers.lock().unwrap().push(peer);
            }
            for _ in 0..accepts {
                let l = l.clone();
                drop(ringio::spawn(async move {
                    let _ = l.accept().await;
                }));
            }
            let never =
                TcpListener::bind_with("127.0.0.1:0", &BindOptions::new().backlog(1)).unwrap();
            let never_addr = never.local_addr().unwrap();
            let never = Rc::new(never);
            for _ in 0..connects {
                let keep = never.clone();
                drop(ringio::spawn(async move {
                    let _conn = TcpStream::connect(never_addr).await;
                    drop(keep);
                }));
            }
            let udp: Vec<Rc<UdpSocket>> = (0..udp_recvs.div_ceil(16))
                .map(|_| Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap()))
                .collect();
            for i in 0..udp_recvs {
                let s = udp[i % udp.len()].clone();
                drop(ringio::spawn(async move {
                    let _ = s.recv(vec![0u8; READ_SIZE]).await;
                }));
            }
            let pool = Rc::new(BufPool::new(64, READ_SIZE).unwrap());
            for _ in 0..unix_recvs {
                let (a, b) = UnixStream::pair().unwrap();
                let pool = pool.clone();
                drop(ringio::spawn(async move {
                    let _keep = a;
                    let _ = b.recv_pooled(&pool).await;
                }));
            }
            // The peer stays open until the runtime is gone, so the polls keep waiting.
            let (poll_peer, poll_end) = std::os::unix::net::UnixStream::pair().unwrap();
            poll_end.set_nonblocking(true).unwrap();
            let poll_fd = Rc::new(AsyncFd::new(poll_end).unwrap());
            for _ in 0..polls {
                let fd = poll_fd.clone();
                drop(ringio::spawn(async move {
                    let _ = fd.readable().await;
                }));
            }
            for _ in 0..children {
                let mut child = Command::new("sleep")
                    .arg("30")
                    .stdin(Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .unwrap();
                drop(ringio::spawn(async move {
                    let _ = child.wait().await;
                }));
            }
            for _ in 0..sleeps {
                drop(ringio::spawn(ringio::time::sleep(Duration::from_secs(
                    3600,
                ))));
            }
            // Let every task reach its operation.
            for _ in 0..8 {
                ringio::yield_now().await;
            }
            let m = metrics();
            (m.alive_tasks, m.ops_in_flight, poll_peer)
        }
    });
    // Every operation's task is still waiting, but for writes that loopback's socket
    // buffers took whole and the connects the never-accepting listener's backlog took
    // (operations on one socket may share a kernel request: the accepts one multishot
    // accept, the polls one poll).
    let (waiting, in_flight, poll_peer) = in_flight;
    assert!(
        waiting >= n - pairs - 8,
        "only {waiting} of {n} operations were still waiting"
    );
    assert!(
        in_flight > n / 4,
        "only {in_flight} kernel requests in flight"
    );

    // The peers send into the reads while the runtime goes down, and after.
    let sending = Arc::new(AtomicBool::new(true));
    let sender = {
        let (peers, sending) = (peers.clone(), sending.clone());
        std::thread::spawn(move || {
            let mut peers = std::mem::take(&mut *peers.lock().unwrap());
            while sending.load(Ordering::Acquire) {
                for p in &mut peers {
                    let _ = p.set_nonblocking(true);
                    let _ = p.write(&[0x5A; READ_SIZE]);
                }
            }
            drop(peers);
        })
    };
    let started = Instant::now();
    drop(rt);
    let took = started.elapsed();
    drop(poll_peer);
    let canaries: Vec<Vec<u8>> = (0..256).map(|_| vec![CANARY; READ_SIZE]).collect();
    std::thread::sleep(Duration::from_millis(50));
    sending.store(false, Ordering::Release);
    sender.join().unwrap();
    for c in &canaries {
        assert!(
            c.iter().all(|&b| b == CANARY),
            "the kernel wrote into a buffer freed by the shutdown"
        );
    }
    // Children killed on drop are reaped in the background.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fd_count() != fds_before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let leaked = fd_count() as i64 - fds_before as i64;
    println!(
        "RELIABILITY|shutdown with ops in flight ({d:?})|{waiting} waiting operations ({in_flight} kernel requests), peers that stop reading|dropped in {:.0} ms, {leaked} fds leaked, canaries intact",
        took.as_secs_f64() * 1000.0
    );
    assert_eq!(leaked, 0, "fds leaked by the shutdown");
    assert!(
        took < Duration::from_secs(20),
        "dropping the runtime took {took:?}"
    );
}

both_drivers!(dropped_with_ops_in_flight);
