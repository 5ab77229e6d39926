//! `send_file` of `TcpStream` and `UnixStream` on both drivers: file bytes spliced to a
//! socket (file → pipe → socket) arrive intact, ranges past the end of the file are
//! cut short, a file that cannot be spliced is copied instead, and calls dropped in
//! flight leave no fd behind and no stale bytes in the worker's pipe.

mod support;

use ringio::fs::File;
use ringio::io::AsyncReadOwned;
use ringio::net::UnixStream;
use ringio::runtime::Driver;
use std::path::{Path, PathBuf};
use support::{fd_count, pair, poll_then_drop, rt, serial, settle_ops, ticking, Rng};

/// A file of `len` pseudo-random bytes under the temp directory, removed when dropped.
struct TempFile {
    path: PathBuf,
    data: Vec<u8>,
}

impl TempFile {
    fn new(tag: &str, len: usize, seed: u64) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("ringio-send-file-{}-{tag}", std::process::id()));
        let mut rng = Rng::new(seed);
        let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        std::fs::write(&path, &data).unwrap();
        TempFile { path, data }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Everything `stream` yields until end of stream.
async fn read_to_end(stream: impl AsyncReadOwned) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        buf.clear();
        let (n, back) = stream.read(buf).await;
        buf = back;
        match n.unwrap() {
            0 => return all,
            _ => all.extend_from_slice(&buf),
        }
    }
}

/// 5 MiB and a bit through a TCP connection in two calls (the whole file, then a range
/// from an odd offset), read concurrently by a task: every byte arrives, in order.
fn tcp_send_file_arrives_intact(driver: Driver) {
    let _serial = serial();
    let file = TempFile::new("tcp", (5 << 20) + 123, 1);
    rt(driver).block_on(async {
        let (client, server) = pair().await;
        let reader = ringio::spawn(read_to_end(client));
        let f = ticking(File::open(file.path())).await.unwrap();
        let len = file.data.len();
        assert_eq!(ticking(server.send_file(&f, 0, len)).await.unwrap(), len);
        let sent = ticking(server.send_file(&f, 1001, 2 << 20)).await.unwrap();
        assert_eq!(sent, 2 << 20);
        drop(server);
        let got = ticking(reader).await.unwrap();
        assert_eq!(got.len(), len + (2 << 20));
        assert!(got[..len] == file.data[..], "the whole file differs");
        assert!(
            got[len..] == file.data[1001..1001 + (2 << 20)],
            "the range differs"
        );
        settle_ops().await;
    });
}

/// The same through a Unix stream, with a range that runs past the end of the file.
fn unix_send_file_arrives_intact(driver: Driver) {
    let _serial = serial();
    let file = TempFile::new("unix", (3 << 20) + 7, 2);
    rt(driver).block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let reader = ringio::spawn(read_to_end(b));
        let f = ticking(File::open(file.path())).await.unwrap();
        let len = file.data.len();
        assert_eq!(ticking(a.send_file(&f, 0, len)).await.unwrap(), len);
        let from = len as u64 - 5000;
        assert_eq!(ticking(a.send_file(&f, from, 1 << 20)).await.unwrap(), 5000);
        drop(a);
        let got = ticking(reader).await.unwrap();
        assert_eq!(got.len(), len + 5000);
        assert!(got[..len] == file.data[..]);
        assert!(got[len..] == file.data[len - 5000..]);
    });
}

/// Offsets at and past the end of the file send nothing; a length of 0 sends nothing;
/// a range across the end sends up to the end.
fn send_file_at_and_past_the_end(driver: Driver) {
    let _serial = serial();
    let file = TempFile::new("eof", 10_000, 3);
    rt(driver).block_on(async {
        let (client, server) = pair().await;
        let f = ticking(File::open(file.path())).await.unwrap();
        assert_eq!(ticking(server.send_file(&f, 10_000, 100)).await.unwrap(), 0);
        assert_eq!(
            ticking(server.send_file(&f, 1 << 40, 100)).await.unwrap(),
            0
        );
        assert_eq!(ticking(server.send_file(&f, 0, 0)).await.unwrap(), 0);
        assert_eq!(ticking(server.send_file(&f, 9_990, 100)).await.unwrap(), 10);
        drop(server);
        assert_eq!(ticking(read_to_end(client)).await, &file.data[9_990..]);
    });
}

/// /proc/self/environ cannot be spliced (EINVAL): its bytes are read and written
/// instead, and arrive as they are.
fn send_file_copies_what_cannot_be_spliced(driver: Driver) {
    let _serial = serial();
    let path = Path::new("/proc/self/environ");
    let want = std::fs::read(path).unwrap();
    rt(driver).block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let f = ticking(File::open(path)).await.unwrap();
        let sent = ticking(a.send_file(&f, 0, 1 << 20)).await.unwrap();
        assert_eq!(sent, want.len());
        drop(a);
        assert_eq!(ticking(read_to_end(b)).await, want);
    });
}

/// `send_file`s of 4 MiB into a socket nobody reads (so they wait for room) dropped
/// after a random number of polls, in a loop; after each, a `send_file` on a fresh
/// connection sends exactly its own range, never bytes a dropped call left in the
/// worker's pipe. No fd is lost (the worker's one spare pipe closes with it).
fn send_file_dropped_in_flight_in_a_loop(driver: Driver) {
    let _serial = serial();
    let iters: u64 = std::env::var("RINGIO_CANCEL_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(150, |n: u64| (n / 50).max(30));
    let file = TempFile::new("drops", 4 << 20, 4);
    let fds = fd_count();
    let rt = rt(driver);
    rt.block_on(async {
        let f = ticking(File::open(file.path())).await.unwrap();
        let mut rng = Rng::new(0x5e9d);
        let mut dropped = 0;
        for _ in 0..iters {
            let (a, _b) = UnixStream::pair().unwrap();
            let offset = rng.below(1 << 20);
            let polls = rng.below(8);
            if poll_then_drop(a.send_file(&f, offset, 4 << 20), polls)
                .await
                .is_none()
            {
                dropped += 1;
            }
            let (c, d) = UnixStream::pair().unwrap();
            let at = rng.below(4 << 20) as usize;
            let len = 1 + rng.below(100_000) as usize;
            let sent = ticking(c.send_file(&f, at as u64, len)).await.unwrap();
            let end = (at + len).min(file.data.len());
            assert_eq!(sent, end - at);
            drop(c);
            let got = ticking(read_to_end(d)).await;
            assert!(
                got == file.data[at..end],
                "stale or wrong bytes at {at}+{len}"
            );
        }
        assert!(dropped > 0, "no send_file was dropped in flight");
        settle_ops().await;
    });
    drop(rt);
    assert_eq!(fd_count(), fds, "fds leaked");
}

both_drivers!(
    tcp_send_file_arrives_intact,
    unix_send_file_arrives_intact,
    send_file_at_and_past_the_end,
    send_file_copies_what_cannot_be_spliced,
    send_file_dropped_in_flight_in_a_loop,
);
