//! Unix-domain sockets (`UnixListener`, `UnixStream`, `UnixDatagram`) on both drivers:
//! echo over a path and an abstract name, pairs, `StreamReader` over a Unix stream,
//! peer credentials, fd passing, the path rules (too long, in use, removed on drop only
//! when ours), datagram boundaries, and drops at random polls of connect + accept and
//! of `recv_with_fds` with fds in flight, with the process's fd count checked.
//!
//! Every test takes one lock (fd counts are per process), bounds each wait with a
//! timeout, and sends from runtime tasks, never from a second thread, so the file also
//! runs under valgrind memcheck (`ci/memcheck.sh`; DESIGN.md on valgrind and
//! `io_uring_enter`). `RINGIO_CANCEL_ITERS` scales the drop loops (default 3,000).

mod support;

use futures_core::Stream;
use ringio::buf::BufPool;
use ringio::io::{AsyncReadOwned, AsyncWriteOwned, StreamReader};
use ringio::net::{UnixDatagram, UnixListener, UnixSocketAddr, UnixStream};
use ringio::runtime::Driver;
use std::future::{poll_fn, Future};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{fd_count, poll_then_drop, rt, serial, settle, Rng};

fn iters() -> u64 {
    std::env::var("RINGIO_CANCEL_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

/// A socket path under the temp directory, unique to this process and call, removed
/// (if still there) when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("ringio-{}-{tag}-{n}.sock", std::process::id());
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&path);
        TempPath(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An abstract name unique to this process and call.
fn abstract_name(tag: &str) -> Vec<u8> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("ringio-{}-{tag}-{n}", std::process::id()).into_bytes()
}

/// `fut`, or a panic after 10 s.
async fn bounded<F: Future>(fut: F) -> F::Output {
    ringio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("timed out")
}

/// Echoes one connection until end of stream.
async fn echo(conn: UnixStream) {
    let mut buf = Vec::with_capacity(256);
    loop {
        let (res, b) = conn.read(buf).await;
        let n = res.expect("echo read");
        if n == 0 {
            return;
        }
        let (res, b) = conn.write_all(b).await;
        res.expect("echo write");
        buf = b;
        buf.clear();
    }
}

async fn round_trip(client: &UnixStream, msg: &[u8]) {
    client.write_all(msg.to_vec()).await.0.unwrap();
    let (res, got) = client.read_exact(vec![0u8; msg.len()]).await;
    res.unwrap();
    assert_eq!(got, msg);
}

/// Accepts one connection and echoes it, while the client makes two round trips.
async fn echo_through(listener: UnixListener, client: UnixStream) {
    let server = ringio::spawn(async move {
        let (conn, peer) = listener.accept().await.unwrap();
        assert!(peer.is_unnamed(), "{peer:?}");
        echo(conn).await;
        listener
    });
    round_trip(&client, b"hello over a unix socket").await;
    round_trip(&client, &[7u8; 200]).await;
    drop(client);
    drop(server.await.unwrap());
}

fn echo_over_a_path_socket(d: Driver) {
    let _g = serial();
    let tmp = TempPath::new("echo");
    rt(d).block_on(bounded(async {
        let listener = UnixListener::bind(tmp.path()).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(tmp.path())
        );
        let client = UnixStream::connect(tmp.path()).await.unwrap();
        assert_eq!(client.peer_addr().unwrap().as_pathname(), Some(tmp.path()));
        assert!(client.local_addr().unwrap().is_unnamed());
        echo_through(listener, client).await;
    }));
    assert!(!tmp.path().exists(), "the listener removes its socket file");
}

fn echo_over_an_abstract_socket(d: Driver) {
    let _g = serial();
    let name = abstract_name("echo");
    rt(d).block_on(bounded(async {
        let listener = UnixListener::bind_abstract(&name).unwrap();
        let local = listener.local_addr().unwrap();
        assert_eq!(local.as_abstract_name(), Some(&name[..]));
        assert_eq!(local.as_pathname(), None);
        let client = UnixStream::connect_abstract(&name).await.unwrap();
        assert_eq!(client.peer_addr().unwrap(), local);
        echo_through(listener, client).await;
        // The name went with the listener: at once on epoll; on io_uring once the
        // cancel of its multishot accept has completed (which holds the socket open
        // until then, so that its fd number is not reused under the kernel).
        let mut refused = false;
        for _ in 0..1000 {
            match UnixStream::connect_abstract(&name).await {
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => refused = true,
                Err(e) => panic!("{e}"),
                Ok(_) => ringio::yield_now().await,
            }
            if refused {
                break;
            }
        }
        assert!(refused, "the abstract name outlived its listener");
    }));
}

fn incoming_and_recv_pooled(d: Driver) {
    let _g = serial();
    let name = abstract_name("incoming");
    rt(d).block_on(bounded(async {
        let listener = UnixListener::bind_abstract(&name).unwrap();
        let client = UnixStream::connect_abstract(&name).await.unwrap();
        let mut incoming = std::pin::pin!(listener.incoming());
        let next = poll_fn(|cx| incoming.as_mut().poll_next(cx)).await;
        let (server, _) = next.unwrap().unwrap();
        let pool = BufPool::new(4, 64).unwrap();
        client.write_all(vec![3u8; 300]).await.0.unwrap();
        drop(client);
        let mut got = Vec::new();
        while let Some(buf) = server.recv_pooled(&pool).await.unwrap() {
            got.extend_from_slice(&buf);
        }
        assert_eq!(got, vec![3u8; 300]);
        assert_eq!(pool.available(), 4);
    }));
}

fn pair_round_trip(d: Driver) {
    let _g = serial();
    rt(d).block_on(bounded(async {
        let (a, b) = UnixStream::pair().unwrap();
        assert!(a.local_addr().unwrap().is_unnamed());
        assert!(a.peer_addr().unwrap().is_unnamed());
        a.write_all(b"ping".to_vec()).await.0.unwrap();
        let (res, buf) = b.read_exact(vec![0u8; 4]).await;
        res.unwrap();
        assert_eq!(buf, b"ping");
        b.write_all(b"pong".to_vec()).await.0.unwrap();
        let (res, buf) = a.read_exact(vec![0u8; 4]).await;
        res.unwrap();
        assert_eq!(buf, b"pong");
        a.shutdown(std::net::Shutdown::Write).await.unwrap();
        let (n, _) = b.read(vec![0u8; 8]).await;
        assert_eq!(n.unwrap(), 0, "end of stream after the peer's shutdown");
    }));
}

fn stream_reader_reads_lines(d: Driver) {
    let _g = serial();
    rt(d).block_on(bounded(async {
        let (a, b) = UnixStream::pair().unwrap();
        let writer = ringio::spawn(async move {
            for part in [&b"first li"[..], b"ne\nsecond", b" line\nno newline"] {
                a.write_all(part.to_vec()).await.0.unwrap();
                ringio::yield_now().await;
            }
        });
        let mut reader = StreamReader::new(b);
        assert_eq!(reader.readline().await.unwrap(), b"first line\n");
        assert_eq!(reader.readline().await.unwrap(), b"second line\n");
        writer.await.unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"no newline");
        assert_eq!(reader.readline().await.unwrap(), b"");
        assert!(reader.at_eof());
    }));
}

fn peer_cred_is_our_process(d: Driver) {
    let _g = serial();
    let tmp = TempPath::new("cred");
    rt(d).block_on(bounded(async {
        // SAFETY: getuid and getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let (a, _b) = UnixStream::pair().unwrap();
        let cred = a.peer_cred().unwrap();
        assert_eq!(cred.pid(), std::process::id() as i32);
        assert_eq!((cred.uid(), cred.gid()), (uid, gid));
        let listener = UnixListener::bind(tmp.path()).unwrap();
        let client = UnixStream::connect(tmp.path()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        for s in [&client, &server] {
            let cred = s.peer_cred().unwrap();
            assert_eq!(cred.pid(), std::process::id() as i32);
            assert_eq!(cred.uid(), uid);
        }
    }));
}

fn split_halves_and_reunite(d: Driver) {
    let _g = serial();
    rt(d).block_on(bounded(async {
        let (a, b) = UnixStream::pair().unwrap();
        {
            let (rd, wr) = a.split();
            wr.write_all(b"to b".to_vec()).await.0.unwrap();
            let (res, got) = b.read_exact(vec![0u8; 4]).await;
            res.unwrap();
            assert_eq!(got, b"to b");
            b.write_all(b"to a".to_vec()).await.0.unwrap();
            let (res, got) = rd.read_exact(vec![0u8; 4]).await;
            res.unwrap();
            assert_eq!(got, b"to a");
        }
        let (rd, wr) = a.into_split();
        let reader = ringio::spawn(async move {
            let mut r = StreamReader::new(rd);
            let line = r.readline().await.unwrap();
            (line, r.into_parts().0)
        });
        b.write_all(b"a line\n".to_vec()).await.0.unwrap();
        let (line, rd) = reader.await.unwrap();
        assert_eq!(line, b"a line\n");
        let a = rd.reunite(wr).unwrap();
        a.write_all(b"whole".to_vec()).await.0.unwrap();
        let (res, got) = b.read_exact(vec![0u8; 5]).await;
        res.unwrap();
        assert_eq!(got, b"whole");
        // Dropping an owned write half shuts the write side: the peer reads EOF.
        let (_rd, wr) = a.into_split();
        drop(wr);
        let (n, _) = b.read(vec![0u8; 8]).await;
        assert_eq!(n.unwrap(), 0);
    }));
}

/// A pipe: (read end, write end), close-on-exec.
fn pipe() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array on success.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just created and are owned by nobody else.
    unsafe {
        (
            std::fs::File::from(OwnedFd::from_raw_fd(fds[0])),
            std::fs::File::from(OwnedFd::from_raw_fd(fds[1])),
        )
    }
}

fn passes_a_pipe_write_end(d: Driver) {
    let _g = serial();
    let before = fd_count();
    rt(d).block_on(bounded(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut rd, wr) = pipe();
        let (res, _) = a.send_with_fds(b"x".to_vec(), &[wr.as_fd()]).await;
        assert_eq!(res.unwrap(), 1);
        drop(wr); // ours; the peer gets its own
        let (res, buf) = b.recv_with_fds(vec![0u8; 8], 4).await;
        let (n, mut fds) = res.unwrap();
        assert_eq!(&buf[..n], b"x");
        assert_eq!(fds.len(), 1);
        let mut received = std::fs::File::from(fds.pop().unwrap());
        received.write_all(b"through the passed fd").unwrap();
        drop(received);
        let mut got = String::new();
        rd.read_to_string(&mut got).unwrap(); // EOF: the last write end is closed
        assert_eq!(got, "through the passed fd");
        // Bytes with no fds read as ever.
        a.write_all(b"plain".to_vec()).await.0.unwrap();
        let (res, buf) = b.recv_with_fds(vec![0u8; 8], 4).await;
        let (n, fds) = res.unwrap();
        assert_eq!((&buf[..n], fds.len()), (&b"plain"[..], 0));
        // Invalid requests.
        let (res, _) = a.send_with_fds(Vec::new(), &[rd.as_fd()]).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        let many = vec![rd.as_fd(); 254];
        let (res, _) = a.send_with_fds(b"x".to_vec(), &many).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
    }));
    assert_eq!(fd_count(), before);
}

fn too_many_fds_is_an_error_and_leaks_none(d: Driver) {
    let _g = serial();
    let before = fd_count();
    rt(d).block_on(bounded(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (rd, wr) = pipe();
        let (res, _) = a
            .send_with_fds(b"three".to_vec(), &[rd.as_fd(), wr.as_fd(), rd.as_fd()])
            .await;
        res.unwrap();
        let (res, buf) = b.recv_with_fds(vec![0u8; 8], 1).await;
        let err = res.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert!(err.to_string().contains("MSG_CTRUNC"), "{err}");
        assert_eq!(&buf[..5], b"three", "the bytes are in the buffer");
    }));
    assert_eq!(fd_count(), before);
}

fn path_too_long_is_invalid_input(d: Driver) {
    let _g = serial();
    rt(d).block_on(bounded(async {
        let long = std::env::temp_dir().join("x".repeat(120));
        let err = UnixListener::bind(&long).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("sun_path"), "{err}");
        let err = UnixStream::connect(&long).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = UnixDatagram::bind(&long).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let sock = UnixDatagram::unbound().unwrap();
        let (res, _) = sock.send_to(b"x".to_vec(), &long).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        let err = UnixListener::bind_abstract(vec![b'n'; 108]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        // The longest that fits: 107 bytes.
        let base = std::env::temp_dir().join(format!("rg{}-", std::process::id()));
        let fill = 107 - base.as_os_str().len();
        let longest = PathBuf::from(format!("{}{}", base.display(), "y".repeat(fill)));
        let tmp = TempPath(longest);
        let listener = UnixListener::bind(tmp.path()).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(tmp.path())
        );
        UnixStream::connect(tmp.path()).await.unwrap();
    }));
}

fn bind_over_a_live_path_is_addr_in_use(d: Driver) {
    let _g = serial();
    let tmp = TempPath::new("inuse");
    rt(d).block_on(bounded(async {
        let first = UnixListener::bind(tmp.path()).unwrap();
        let err = UnixListener::bind(tmp.path()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        // The failed bind left the live listener's file alone.
        let _c = UnixStream::connect(tmp.path()).await.unwrap();
        first.accept().await.unwrap();
        let name = abstract_name("inuse");
        let _held = UnixListener::bind_abstract(&name).unwrap();
        let err = UnixListener::bind_abstract(&name).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        // A stale socket file (its socket closed, the file left) is AddrInUse too.
        let stale = TempPath::new("stale");
        let std_listener = std::os::unix::net::UnixListener::bind(stale.path()).unwrap();
        drop(std_listener);
        assert!(stale.path().exists());
        let err = UnixListener::bind(stale.path()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        let err = UnixStream::connect(stale.path()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    }));
}

fn listener_removes_only_its_own_path(d: Driver) {
    let _g = serial();
    rt(d).block_on(bounded(async {
        // Ours, untouched: removed.
        let tmp = TempPath::new("own");
        drop(UnixListener::bind(tmp.path()).unwrap());
        assert!(!tmp.path().exists());
        // Replaced by another file while we listened: left alone.
        let listener = UnixListener::bind(tmp.path()).unwrap();
        std::fs::remove_file(tmp.path()).unwrap();
        std::fs::write(tmp.path(), b"someone else's").unwrap();
        drop(listener);
        assert_eq!(std::fs::read(tmp.path()).unwrap(), b"someone else's");
        std::fs::remove_file(tmp.path()).unwrap();
        // Replaced by another server's socket: left alone, and that server still works.
        let listener = UnixListener::bind(tmp.path()).unwrap();
        std::fs::remove_file(tmp.path()).unwrap();
        let other = UnixListener::bind(tmp.path()).unwrap();
        drop(listener);
        assert!(tmp.path().exists());
        let _c = UnixStream::connect(tmp.path()).await.unwrap();
        other.accept().await.unwrap();
        drop(other);
        assert!(!tmp.path().exists());
        // Bound by someone else (std) and wrapped: not ours to remove.
        let std_listener = std::os::unix::net::UnixListener::bind(tmp.path()).unwrap();
        drop(UnixListener::from_std(std_listener).unwrap());
        assert!(tmp.path().exists());
        // A datagram socket bound by path removes its file the same way.
        let dg = TempPath::new("own-dgram");
        drop(UnixDatagram::bind(dg.path()).unwrap());
        assert!(!dg.path().exists());
    }));
}

fn datagram_round_trip_keeps_boundaries(d: Driver) {
    let _g = serial();
    let (pa, pb) = (TempPath::new("dga"), TempPath::new("dgb"));
    rt(d).block_on(bounded(async {
        let a = UnixDatagram::bind(pa.path()).unwrap();
        let b = UnixDatagram::bind(pb.path()).unwrap();
        for msg in [&b"one"[..], b"", b"three three"] {
            let (res, _) = a.send_to(msg.to_vec(), pb.path()).await;
            assert_eq!(res.unwrap(), msg.len());
        }
        for msg in [&b"one"[..], b"", b"three three"] {
            let (res, buf) = b.recv_from(vec![0u8; 64]).await;
            let (n, from) = res.unwrap();
            assert_eq!(&buf[..n], msg);
            assert_eq!(from.as_pathname(), Some(pa.path()));
        }
        // Connected: send and recv; a short buffer truncates one datagram only.
        b.connect(pa.path()).unwrap();
        assert_eq!(b.peer_addr().unwrap().as_pathname(), Some(pa.path()));
        b.send(b"0123456789".to_vec()).await.0.unwrap();
        b.send(b"next".to_vec()).await.0.unwrap();
        let (n, buf) = a.recv(vec![0u8; 4]).await;
        assert_eq!(&buf[..n.unwrap()], b"0123");
        let (n, buf) = a.recv(vec![0u8; 16]).await;
        assert_eq!(&buf[..n.unwrap()], b"next");
        // Unbound sender to an abstract name: the receiver sees an unnamed address.
        let name = abstract_name("dgram");
        let server = UnixDatagram::bind_abstract(&name).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        let to = UnixSocketAddr::from_abstract_name(&name).unwrap();
        client.send_to_addr(b"hi".to_vec(), &to).await.0.unwrap();
        let (res, buf) = server.recv_from(vec![0u8; 8]).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"hi");
        assert!(from.is_unnamed(), "{from:?}");
        // Pairs.
        let (x, y) = UnixDatagram::pair().unwrap();
        x.send(b"ab".to_vec()).await.0.unwrap();
        x.send(b"cd".to_vec()).await.0.unwrap();
        let (n, buf) = y.recv(vec![0u8; 8]).await;
        assert_eq!(&buf[..n.unwrap()], b"ab");
        let (n, buf) = y.recv(vec![0u8; 8]).await;
        assert_eq!(&buf[..n.unwrap()], b"cd");
    }));
}

/// Connects and accepts dropped at random polls: every connection is accepted exactly
/// once (a late accept is queued on the listener), and no fd is left behind.
fn drop_inflight_connects_and_accepts(d: Driver) {
    let _g = serial();
    let before = fd_count();
    let tmp = TempPath::new("cancel");
    rt(d).block_on(async {
        let listener = UnixListener::bind(tmp.path()).unwrap();
        let mut rng = Rng::new(11);
        let (mut connected, mut accepted) = (0usize, 0usize);
        let mut clients = Vec::new();
        for _ in 0..iters() {
            if rng.below(2) == 0 {
                let connect = UnixStream::connect(tmp.path());
                if let Some(res) = poll_then_drop(connect, rng.below(3)).await {
                    clients.push(res.unwrap());
                    connected += 1;
                }
            }
            if let Some(res) = poll_then_drop(listener.accept(), rng.below(4)).await {
                drop(res.unwrap());
                accepted += 1;
            }
            if clients.len() > 32 {
                clients.clear();
            }
        }
        settle().await;
        while accepted < connected {
            let res = ringio::time::timeout(Duration::from_secs(5), listener.accept()).await;
            drop(res.expect("a connection was lost").unwrap());
            accepted += 1;
        }
        let extra = ringio::time::timeout(Duration::from_millis(50), listener.accept()).await;
        assert!(extra.is_err(), "accepted twice");
        assert!(connected > 0);
        drop(clients);
        let client = UnixStream::connect(tmp.path()).await.unwrap();
        bounded(echo_through(listener, client)).await;
    });
    assert_eq!(fd_count(), before);
}

/// `recv_with_fds` dropped at random polls while a sender task keeps messages with fds
/// coming: a receive that completes after its future was dropped closes the fds it
/// brought, so the fd count ends where it started.
fn drop_inflight_recv_with_fds(d: Driver) {
    let _g = serial();
    let before = fd_count();
    rt(d).block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (rd, wr) = pipe();
        let total = iters();
        let sender = ringio::spawn(async move {
            let mut rng = Rng::new(12);
            for i in 0..total {
                let fds = [rd.as_fd(), wr.as_fd()];
                let k = 1 + rng.below(2) as usize;
                let (res, _) = a.send_with_fds(vec![i as u8], &fds[..k]).await;
                res.unwrap();
                for _ in 0..rng.below(3) {
                    ringio::yield_now().await;
                }
            }
            a
        });
        let mut rng = Rng::new(13);
        let (mut got, mut fds_got) = (0u64, 0usize);
        while !sender.is_finished() {
            let recv = b.recv_with_fds(vec![0u8; 1], 2);
            if let Some((res, _)) = poll_then_drop(recv, rng.below(4)).await {
                let (n, fds) = res.unwrap();
                got += n as u64;
                fds_got += fds.len();
            }
        }
        let a = sender.await.unwrap();
        settle().await;
        drop(a);
        // Drain what is left: every message not lost to a dropped receive.
        loop {
            let (res, _) = bounded(b.recv_with_fds(vec![0u8; 1], 2)).await;
            let (n, fds) = res.unwrap();
            if n == 0 {
                break;
            }
            got += n as u64;
            fds_got += fds.len();
        }
        assert!(got > 0 && fds_got > 0);
        assert!(got <= total);
    });
    assert_eq!(fd_count(), before);
}

both_drivers!(
    echo_over_a_path_socket,
    echo_over_an_abstract_socket,
    incoming_and_recv_pooled,
    pair_round_trip,
    stream_reader_reads_lines,
    split_halves_and_reunite,
    peer_cred_is_our_process,
    passes_a_pipe_write_end,
    too_many_fds_is_an_error_and_leaks_none,
    path_too_long_is_invalid_input,
    bind_over_a_live_path_is_addr_in_use,
    listener_removes_only_its_own_path,
    datagram_round_trip_keeps_boundaries,
    drop_inflight_connects_and_accepts,
    drop_inflight_recv_with_fds,
);
