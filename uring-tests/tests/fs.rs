//! `ringio::fs` on both drivers: files opened, read and written at offsets, synced,
//! truncated and stat'ed (ring entries on io_uring, blocking-pool jobs on epoll), the
//! path operations, and opens, reads and writes dropped in flight without losing an fd
//! or a slot.

mod support;

use ringio::buf::{AlignedBuf, BufPool, IoBuf};
use ringio::fs::{self, File, OpenOptions};
use ringio::runtime::{metrics, Builder, Driver, Runtime};
use std::future::Future;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use support::{fd_count, pair, poll_once, rt, serial, settle_ops, ticking, Rng};

/// A unique path under the temp directory, removed (file or tree) when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TempPath(
            std::env::temp_dir().join(format!("ringio-fs-test-{}-{tag}-{n}", std::process::id())),
        )
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A directory on a file system that allows `O_DIRECT`: the temp directory, else the
/// test target's scratch directory (tmpfs, a common /tmp, refuses it). `None`, with the
/// reason printed, if neither does.
fn direct_dir() -> Option<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let candidates = [
        std::env::temp_dir(),
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
    ];
    for dir in &candidates {
        let probe = dir.join(format!("ringio-direct-probe-{}", std::process::id()));
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .custom_flags(libc::O_DIRECT)
            .open(&probe);
        let _ = std::fs::remove_file(&probe);
        if opened.is_ok() {
            return Some(dir.clone());
        }
    }
    eprintln!("skipped: no file system here allows O_DIRECT (tried {candidates:?})");
    None
}

/// A runtime on `driver` with a registered buffer table of `slots` (io_uring).
fn rt_fixed(driver: Driver, slots: u16) -> Runtime {
    let rt = Builder::new()
        .driver(driver)
        .fixed_buffers(slots)
        .build()
        .unwrap_or_else(|e| panic!("{driver:?} runtime failed to start: {e}"));
    assert_eq!(rt.driver_info().driver(), driver);
    rt
}

/// `blocks` blocks of `block` bytes, block `i` all bytes `i + 1`.
fn pattern(blocks: usize, block: usize) -> Vec<u8> {
    (0..blocks * block).map(|i| (i / block + 1) as u8).collect()
}

/// An aligned buffer holding `bytes`.
fn aligned_with(bytes: &[u8], align: usize) -> AlignedBuf {
    let mut buf = AlignedBuf::new(bytes.len(), align).unwrap();
    buf.copy_from_slice(bytes);
    buf
}

/// Opens `path` for reading and writing, creating it with `mode` if missing.
async fn open_rw(path: &Path, mode: u32) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(mode)
        .open(path)
        .await
}

fn write_then_read_back_at_offsets(driver: Driver) {
    let _serial = serial();
    let tmp = TempPath::new("rw");
    rt(driver).block_on(async {
        let file = ticking(open_rw(tmp.path(), 0o666)).await.unwrap();
        let (res, _) = ticking(file.write_all_at(b"hello world".to_vec(), 0)).await;
        res.unwrap();
        let (n, _) = ticking(file.write_at(b"WORLD".to_vec(), 6)).await;
        assert_eq!(n.unwrap(), 5);
        let (n, buf) = ticking(file.read_at(Vec::with_capacity(64), 0)).await;
        assert_eq!(n.unwrap(), 11);
        assert_eq!(buf, b"hello WORLD");
        let (n, buf) = ticking(file.read_at(vec![0u8; 3], 2)).await;
        assert_eq!(n.unwrap(), 3);
        assert_eq!(buf, b"llo");
        let (res, buf) = ticking(file.read_exact_at(vec![0u8; 5], 6)).await;
        res.unwrap();
        assert_eq!(buf, b"WORLD");
        // Past the end: 0 bytes, and read_exact_at is UnexpectedEof.
        let (n, _) = ticking(file.read_at(Vec::with_capacity(8), 100)).await;
        assert_eq!(n.unwrap(), 0);
        let (res, _) = ticking(file.read_exact_at(Vec::with_capacity(8), 8)).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::UnexpectedEof);
        // A big write and read, in several pieces if the kernel likes.
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let (res, big) = ticking(file.write_all_at(big, 4096)).await;
        res.unwrap();
        let (res, back) = ticking(file.read_exact_at(vec![0u8; big.len()], 4096)).await;
        res.unwrap();
        assert!(back == big);
        assert_eq!(metrics().ops_in_flight, 0);
    });
    assert_eq!(std::fs::read(tmp.path()).unwrap()[..11], *b"hello WORLD");
}

fn open_errors_name_the_path(driver: Driver) {
    let _serial = serial();
    let tmp = TempPath::new("excl");
    std::fs::write(tmp.path(), b"x").unwrap();
    rt(driver).block_on(async {
        let err = ticking(
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(tmp.path()),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
        let shown = tmp.path().display().to_string();
        assert!(err.to_string().contains(&shown), "{err}");
        let missing = tmp.path().with_extension("nope");
        let err = ticking(File::open(&missing)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
        let err = ticking(fs::metadata(&missing)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("nope"), "{err}");
        // Contradictory options, and a NUL in the path.
        let err = ticking(OpenOptions::new().open(tmp.path()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = ticking(File::open("a\0b")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);

        // A directory opened as a file: for writing the open fails (EISDIR, naming
        // the path); read-only it opens, as on every Unix, and the read fails.
        let dir = std::env::temp_dir();
        let err = ticking(OpenOptions::new().write(true).open(&dir))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IsADirectory, "{err}");
        assert!(
            err.to_string().contains(&dir.display().to_string()),
            "{err}"
        );
        let as_file = ticking(File::open(&dir)).await.unwrap();
        let (res, _) = ticking(as_file.read_at(vec![0u8; 16], 0)).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::IsADirectory);
    });
}

fn metadata_sync_and_set_len(driver: Driver) {
    let _serial = serial();
    let tmp = TempPath::new("meta");
    rt(driver).block_on(async {
        let file = ticking(open_rw(tmp.path(), 0o640)).await.unwrap();
        ticking(file.write_all_at(vec![1u8; 1000], 0))
            .await
            .0
            .unwrap();
        ticking(file.sync_all()).await.unwrap();
        ticking(file.sync_data()).await.unwrap();
        let meta = ticking(file.metadata()).await.unwrap();
        assert_eq!(meta.len(), 1000);
        assert!(meta.is_file() && !meta.is_dir() && !meta.is_symlink());
        assert_eq!(meta.permissions_mode() & 0o700, 0o600);
        let age = std::time::SystemTime::now()
            .duration_since(meta.modified())
            .unwrap_or_default();
        assert!(age < Duration::from_secs(600), "modified {age:?} ago");
        ticking(file.set_len(10)).await.unwrap();
        assert_eq!(ticking(file.metadata()).await.unwrap().len(), 10);
        ticking(file.set_len(5000)).await.unwrap();
        let by_path = ticking(fs::metadata(tmp.path())).await.unwrap();
        assert_eq!(by_path.len(), 5000);
        let dir = ticking(fs::metadata(std::env::temp_dir())).await.unwrap();
        assert!(dir.is_dir() && !dir.is_file());
        // A file opened read-only cannot be truncated.
        let ro = ticking(File::open(tmp.path())).await.unwrap();
        assert!(ticking(ro.set_len(0)).await.is_err());
    });
}

fn whole_file_and_path_operations(driver: Driver) {
    let _serial = serial();
    let top = TempPath::new("tree");
    rt(driver).block_on(async {
        let dir = top.path().join("a/b/c");
        ticking(fs::create_dir_all(&dir)).await.unwrap();
        ticking(fs::create_dir_all(&dir)).await.unwrap(); // exists: fine
        let err = ticking(fs::create_dir(&dir)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("a/b/c"), "{err}");
        ticking(fs::create_dir(dir.join("d"))).await.unwrap();
        assert!(ticking(fs::metadata(dir.join("d"))).await.unwrap().is_dir());

        let one = dir.join("one.txt");
        let two = dir.join("two.txt");
        ticking(fs::write(&one, "first line\n")).await.unwrap();
        assert_eq!(ticking(fs::read(&one)).await.unwrap(), b"first line\n");
        ticking(fs::write(&one, "short")).await.unwrap(); // truncates
        assert_eq!(ticking(fs::read_to_string(&one)).await.unwrap(), "short");
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        ticking(fs::write(&one, &big)).await.unwrap();
        assert!(ticking(fs::read(&one)).await.unwrap() == big);
        ticking(fs::write(&one, [0xffu8, 0xfe])).await.unwrap();
        let err = ticking(fs::read_to_string(&one)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        ticking(fs::write(&one, "")).await.unwrap();
        assert!(ticking(fs::read(&one)).await.unwrap().is_empty());

        ticking(fs::rename(&one, &two)).await.unwrap();
        assert_eq!(
            ticking(fs::metadata(&one)).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        let err = ticking(fs::rename(&one, &two)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("one.txt"), "{err}");
        ticking(fs::remove_file(&two)).await.unwrap();
        let err = ticking(fs::remove_file(&two)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("two.txt"), "{err}");
        assert_eq!(metrics().ops_in_flight, 0);
    });
}

/// `err` names `what` (a path, or part of one) in its message.
fn names(err: &std::io::Error, what: &Path) {
    let shown = what.display().to_string();
    assert!(
        err.to_string().contains(&shown),
        "{err} does not name {shown}"
    );
}

/// Every item of `dir`'s listing, through the `Stream`.
async fn listing(dir: &Path) -> Vec<fs::DirEntry> {
    use futures_core::Stream;
    let mut entries = std::pin::pin!(ticking(fs::read_dir(dir)).await.unwrap());
    let mut out = Vec::new();
    while let Some(entry) = std::future::poll_fn(|cx| entries.as_mut().poll_next(cx)).await {
        out.push(entry.unwrap());
    }
    out
}

fn links_copies_and_remove_dir(driver: Driver) {
    let _serial = serial();
    let top = TempPath::new("links");
    rt(driver).block_on(async {
        let dir = top.path();
        ticking(fs::create_dir(dir)).await.unwrap();
        let (a, b, c, l) = (
            dir.join("a.txt"),
            dir.join("b.txt"),
            dir.join("c.txt"),
            dir.join("l.lnk"),
        );
        ticking(fs::write(&a, "content")).await.unwrap();

        ticking(fs::hard_link(&a, &b)).await.unwrap();
        assert_eq!(ticking(fs::read(&b)).await.unwrap(), b"content");
        let err = ticking(fs::hard_link(&a, &b)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
        names(&err, &a);
        names(&err, &b);

        ticking(fs::symlink("a.txt", &l)).await.unwrap();
        assert!(ticking(fs::symlink_metadata(&l))
            .await
            .unwrap()
            .is_symlink());
        assert_eq!(ticking(fs::read(&l)).await.unwrap(), b"content");
        let err = ticking(fs::symlink("a.txt", &l)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
        names(&err, &l);

        let big: Vec<u8> = (0..200_000u32).map(|i| (i * 13) as u8).collect();
        ticking(fs::write(&a, &big)).await.unwrap();
        assert_eq!(ticking(fs::copy(&a, &c)).await.unwrap(), big.len() as u64);
        assert!(ticking(fs::read(&c)).await.unwrap() == big);
        let missing = dir.join("missing.txt");
        let err = ticking(fs::copy(&missing, &c)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        names(&err, &missing);

        let sub = dir.join("sub");
        ticking(fs::create_dir(&sub)).await.unwrap();
        ticking(fs::write(sub.join("f"), "x")).await.unwrap();
        let err = ticking(fs::remove_dir(&sub)).await.unwrap_err(); // not empty
        names(&err, &sub);
        ticking(fs::remove_file(sub.join("f"))).await.unwrap();
        ticking(fs::remove_dir(&sub)).await.unwrap();
        let err = ticking(fs::remove_dir(&sub)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        names(&err, &sub);
        assert_eq!(metrics().ops_in_flight, 0);
    });
}

fn read_dir_lists_exactly_the_entries(driver: Driver) {
    let _serial = serial();
    let top = TempPath::new("readdir");
    rt(driver).block_on(async {
        let dir = top.path();
        ticking(fs::create_dir(dir)).await.unwrap();
        assert!(listing(dir).await.is_empty());
        let mut want = Vec::new();
        for i in 0..40 {
            let name = format!("file-{i}");
            ticking(fs::write(dir.join(&name), "x")).await.unwrap();
            want.push((name, false));
        }
        for name in ["d1", "d2"] {
            ticking(fs::create_dir(dir.join(name))).await.unwrap();
            want.push((name.to_string(), true));
        }
        ticking(fs::symlink("file-0", dir.join("link")))
            .await
            .unwrap();
        want.sort();
        let entries = listing(dir).await;
        let mut got: Vec<(String, bool)> = Vec::new();
        let mut links = 0;
        for e in &entries {
            let name = e.file_name().into_string().unwrap();
            assert_eq!(e.path(), dir.join(&name));
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                assert_eq!(name, "link");
                links += 1;
                continue;
            }
            assert_eq!(ft.is_file(), !ft.is_dir());
            got.push((name, ft.is_dir()));
        }
        got.sort();
        assert_eq!(links, 1);
        assert_eq!(got, want);

        let missing = dir.join("nope");
        let err = ticking(fs::read_dir(&missing)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        names(&err, &missing);
        let file = dir.join("file-1");
        let err = ticking(fs::read_dir(&file)).await.unwrap_err();
        names(&err, &file);
        assert_eq!(metrics().ops_in_flight, 0);
    });
}

fn vectored_round_trip_and_fallocate(driver: Driver) {
    let _serial = serial();
    let tmp = TempPath::new("vec");
    rt(driver).block_on(async {
        let file = ticking(open_rw(tmp.path(), 0o644)).await.unwrap();
        let bufs = vec![
            b"alpha ".to_vec(),
            Vec::new(),
            b"beta ".to_vec(),
            vec![b'g'; 5000],
        ];
        let total: usize = bufs.iter().map(Vec::len).sum();
        let (n, bufs) = ticking(file.write_vectored_at(bufs, 100)).await;
        assert_eq!(n.unwrap(), total);
        assert_eq!(bufs.len(), 4);
        assert_eq!(
            ticking(file.metadata()).await.unwrap().len(),
            100 + total as u64
        );

        let back = vec![
            Vec::with_capacity(3),
            Vec::with_capacity(8),
            Vec::with_capacity(0),
            Vec::with_capacity(10_000),
        ];
        let (n, back) = ticking(file.read_vectored_at(back, 100)).await;
        assert_eq!(n.unwrap(), total);
        assert_eq!(back[0], b"alp");
        assert_eq!(back[1], b"ha beta ");
        assert!(back[2].is_empty());
        assert_eq!(back[3], vec![b'g'; 5000]);
        // At the end of the file: 0 bytes, buffers left empty.
        let (n, back) = ticking(
            file.read_vectored_at(vec![Vec::with_capacity(4), Vec::with_capacity(4)], 1 << 20),
        )
        .await;
        assert_eq!(n.unwrap(), 0);
        assert!(back.iter().all(Vec::is_empty));

        let len = 100 + total as u64;
        ticking(file.fallocate(0, len + 65_536)).await.unwrap();
        assert_eq!(ticking(file.metadata()).await.unwrap().len(), len + 65_536);
        ticking(file.fallocate(0, 10)).await.unwrap(); // inside: no shrink
        assert_eq!(ticking(file.metadata()).await.unwrap().len(), len + 65_536);
        let err = ticking(file.fallocate(0, 0)).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        let ro = ticking(File::open(tmp.path())).await.unwrap();
        assert!(ticking(ro.fallocate(0, 1 << 20)).await.is_err());
        let (res, _) = ticking(ro.write_vectored_at(vec![b"x".to_vec()], 0)).await;
        assert!(res.is_err());
        assert_eq!(metrics().ops_in_flight, 0);
    });
    let bytes = std::fs::read(tmp.path()).unwrap();
    assert_eq!(&bytes[100..111], b"alpha beta ");
}

/// Runs `fut` as `how` says, dropping it at one of the points a cancel can find it: 0
/// before its first poll, 1 queued or running (after one poll), 2 possibly done but not
/// collected (after a poll and a short sleep); 3 awaits it and returns its output.
async fn drop_or_finish<F: Future>(fut: F, how: u64) -> Option<F::Output> {
    let mut fut = Box::pin(fut);
    match how {
        0 => {}
        1 => {
            let _ = poll_once(&mut fut);
        }
        2 => {
            let _ = poll_once(&mut fut);
            ringio::time::sleep(Duration::from_micros(200)).await;
        }
        _ => return Some(ticking(fut).await),
    }
    None
}

/// Opens, reads and writes (plain and vectored), fallocates and directory listings
/// dropped at random points (before their first poll, queued or running, done but not
/// collected), in a loop: no fd and no slot is lost, and the survivors' results are
/// right.
fn file_ops_dropped_in_flight_in_a_loop(driver: Driver) {
    use futures_core::Stream as _;
    let _serial = serial();
    let iters: u64 = std::env::var("RINGIO_CANCEL_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(3000, |n: u64| (n / 5).max(200));
    let tmp = TempPath::new("drops");
    std::fs::write(tmp.path(), vec![b'z'; 8192]).unwrap();
    let dir = TempPath::new("drops-dir");
    std::fs::create_dir(dir.path()).unwrap();
    std::fs::write(dir.path().join("only"), b"").unwrap();
    let fds = fd_count();
    let rt = rt(driver);
    rt.block_on(async {
        let file = ticking(OpenOptions::new().read(true).write(true).open(tmp.path()))
            .await
            .unwrap();
        let mut rng = Rng::new(0xf11e);
        let (mut completed, mut orphaned) = (0, 0);
        for i in 0..iters {
            let how = rng.below(4);
            let offset = rng.below(8192 - 64);
            match rng.below(7) {
                0 => {
                    if let Some(opened) = drop_or_finish(File::open(tmp.path()), how).await {
                        let f = opened.unwrap();
                        let (n, buf) = ticking(f.read_at(vec![0u8; 4], 0)).await;
                        assert_eq!((n.unwrap(), &buf[..]), (4, &b"zzzz"[..]));
                        completed += 1;
                    }
                }
                1 => {
                    let read = file.read_at(vec![0u8; 64], offset);
                    if let Some((n, buf)) = drop_or_finish(read, how).await {
                        assert_eq!(n.unwrap(), 64);
                        assert!(buf.iter().all(|&b| b == b'z'));
                        completed += 1;
                    }
                }
                2 => {
                    let write = file.write_at(vec![b'z'; 64], offset);
                    if let Some((n, _)) = drop_or_finish(write, how).await {
                        assert_eq!(n.unwrap(), 64);
                        completed += 1;
                    }
                }
                3 => {
                    let bufs = vec![vec![0u8; 20], vec![0u8; 44]];
                    let read = file.read_vectored_at(bufs, offset);
                    if let Some((n, bufs)) = drop_or_finish(read, how).await {
                        assert_eq!(n.unwrap(), 64);
                        assert!(bufs.iter().flatten().all(|&b| b == b'z'));
                        completed += 1;
                    }
                }
                4 => {
                    let bufs = vec![vec![b'z'; 40], vec![b'z'; 24]];
                    let write = file.write_vectored_at(bufs, offset);
                    if let Some((n, _)) = drop_or_finish(write, how).await {
                        assert_eq!(n.unwrap(), 64);
                        completed += 1;
                    }
                }
                5 => {
                    // Inside the file: allocates, changes neither length nor bytes.
                    if let Some(res) = drop_or_finish(file.fallocate(offset, 64), how).await {
                        res.unwrap();
                        completed += 1;
                    }
                }
                _ => {
                    if let Some(listed) = drop_or_finish(fs::read_dir(dir.path()), how).await {
                        assert_eq!(listed.unwrap().size_hint(), (1, Some(1)));
                        completed += 1;
                    }
                }
            }
            if metrics().ops_in_flight > 0 {
                orphaned += 1; // dropped in flight: its slot waits for the completion
            }
            if i % 256 == 0 {
                ringio::yield_now().await;
            }
        }
        settle_ops().await;
        assert!(completed > 0);
        assert!(orphaned > 0, "no operation was dropped in flight");
        drop(file);
    });
    drop(rt);
    assert_eq!(fd_count(), fds, "fds leaked");
    let bytes = std::fs::read(tmp.path()).unwrap();
    assert_eq!(bytes.len(), 8192);
    assert!(bytes.iter().all(|&b| b == b'z'));
}

/// A runtime dropped with opens and reads in flight waits for them and closes the
/// files they opened.
fn runtime_drop_with_file_ops_in_flight(driver: Driver) {
    let _serial = serial();
    let tmp = TempPath::new("rtdrop");
    std::fs::write(tmp.path(), b"data").unwrap();
    let fds = fd_count();
    let rt = rt(driver);
    let path = tmp.path().to_path_buf();
    rt.block_on(async move {
        for _ in 0..16 {
            let path = path.clone();
            drop(ringio::spawn(async move {
                if let Ok(f) = ticking(File::open(&path)).await {
                    let _ = ticking(f.read_at(vec![0u8; 4], 0)).await;
                }
            }));
        }
        ringio::yield_now().await;
    });
    drop(rt);
    assert_eq!(fd_count(), fds, "fds leaked");
}

/// A file opened with `direct(true)`: it reports its alignment; aligned buffers
/// (registered or not) round-trip; a misaligned address, offset or length is an
/// `InvalidInput` error naming it, before anything is submitted; and a registered
/// buffer goes through READ_FIXED / WRITE_FIXED on io_uring (counted), with the same
/// bytes as the plain path.
fn direct_io_round_trip_and_misalignment(driver: Driver) {
    let _serial = serial();
    let Some(dir) = direct_dir() else { return };
    let path = dir.join(format!("ringio-fs-direct-{}", std::process::id()));
    let _cleanup = TempPath(path.clone());
    let block = rt_fixed(driver, 4).block_on(async {
        let file = ticking(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .direct(true)
                .open(&path),
        )
        .await
        .unwrap();
        let align = file.direct_io_alignment().expect("opened direct");
        assert!(ticking(File::open(&path))
            .await
            .unwrap()
            .direct_io_alignment()
            .is_none());
        // A block that meets both alignments.
        let block = align.memory().max(align.offset()).max(4096);
        let data = pattern(4, block);
        let fixed_before = metrics().fixed_file_ops;

        // Plain (unregistered) aligned buffers.
        let (res, _) = ticking(file.write_all_at(aligned_with(&data[..2 * block], block), 0)).await;
        res.unwrap();
        let (n, back) =
            ticking(file.read_at(AlignedBuf::with_capacity(2 * block, block).unwrap(), 0)).await;
        assert_eq!(n.unwrap(), 2 * block);
        assert_eq!(&back[..], &data[..2 * block]);
        assert_eq!(
            metrics().fixed_file_ops,
            fixed_before,
            "unregistered: plain path"
        );

        // Registered: WRITE_FIXED then READ_FIXED (whole buffer, then a slice of one).
        let mut out = aligned_with(&data[2 * block..], block);
        let on_uring = driver == Driver::Uring;
        assert_eq!(out.register(), on_uring);
        let (res, _) = ticking(file.write_all_at(out, 2 * block as u64)).await;
        res.unwrap();
        let mut into = AlignedBuf::with_capacity(4 * block, block).unwrap();
        assert_eq!(into.register(), on_uring);
        let (n, into) = ticking(file.read_at(into, 0)).await;
        assert_eq!(n.unwrap(), 4 * block);
        assert_eq!(&into[..], &data[..]);
        let mut whole = AlignedBuf::new(3 * block, block).unwrap();
        whole.register();
        let (n, slice) = ticking(file.read_at(whole.slice(block..3 * block), block as u64)).await;
        assert_eq!(n.unwrap(), 2 * block);
        assert_eq!(&slice[..], &data[block..3 * block]);
        let expect_fixed = if on_uring { 3 } else { 0 };
        assert_eq!(metrics().fixed_file_ops - fixed_before, expect_fixed);
        // A finer alignment the kernel reports (ext4 says 512) is what is checked: an
        // offset and length of that size pass.
        if align.offset() < block {
            let (n, fine) = ticking(file.read_at(
                AlignedBuf::with_capacity(align.offset(), block).unwrap(),
                align.offset() as u64,
            ))
            .await;
            assert_eq!(n.unwrap(), align.offset());
            assert_eq!(&fine[..], &data[align.offset()..2 * align.offset()]);
        }

        // Misaligned: refused before submission, naming what is wrong.
        let sqes = metrics().sqes_submitted;
        let misaligned = AlignedBuf::new(block + 1, block).unwrap().slice(1..);
        let (res, _) = ticking(file.write_at(misaligned, 0)).await;
        let err = res.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("buffer address"), "{err}");
        let (res, _) =
            ticking(file.read_at(AlignedBuf::with_capacity(block, block).unwrap(), 100)).await;
        assert!(res.unwrap_err().to_string().contains("file offset 100"));
        let (res, _) = ticking(file.write_at(AlignedBuf::new(100, block).unwrap(), 0)).await;
        assert!(res.unwrap_err().to_string().contains("length 100"));
        let bufs = vec![
            AlignedBuf::new(block, block).unwrap(),
            AlignedBuf::new(7, block).unwrap(),
        ];
        let (res, _) = ticking(file.write_vectored_at(bufs, 0)).await;
        assert!(res.unwrap_err().to_string().contains("length 7"));
        assert_eq!(
            metrics().sqes_submitted,
            sqes,
            "a refused request reached the ring"
        );
        assert_eq!(metrics().ops_in_flight, 0);
        block
    });
    assert_eq!(std::fs::read(&path).unwrap(), pattern(4, block));
}

/// Where the file system refuses `O_DIRECT` (procfs; tmpfs before Linux 6.6), opening
/// says so and names the path.
fn direct_open_refused_says_why(driver: Driver) {
    let _serial = serial();
    let path = Path::new("/proc/version");
    rt(driver).block_on(async {
        let opts = OpenOptions::new().read(true).direct(true).clone();
        let err = ticking(opts.open(path)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let msg = err.to_string();
        assert!(msg.contains("refuses direct I/O (O_DIRECT)"), "{msg}");
        assert!(msg.starts_with("/proc/version: "), "{msg}");
        // Without `direct` the same file opens.
        ticking(File::open(path)).await.unwrap();
    });
}

/// A received `PooledBuf` of a pool registered in the buffer table is written to a file
/// with WRITE_FIXED on io_uring (plain WRITE on epoll), and the bytes land.
fn pooled_buffer_written_with_write_fixed(driver: Driver) {
    let _serial = serial();
    use ringio::io::AsyncWriteOwned;
    let tmp = TempPath::new("pooled-fixed");
    rt_fixed(driver, 2).block_on(async {
        let pool = BufPool::new(8, 4096).unwrap();
        let (client, server) = pair().await;
        client.write_all(b"from the wire".to_vec()).await.0.unwrap();
        let got = server.recv_pooled(&pool).await.unwrap().expect("data");
        assert_eq!(pool.is_registered(), driver == Driver::Uring);
        let file = ticking(open_rw(tmp.path(), 0o600)).await.unwrap();
        let before = metrics().fixed_file_ops;
        let (res, got) = ticking(file.write_all_at(got, 3)).await;
        res.unwrap();
        drop(got);
        let fixed = metrics().fixed_file_ops - before;
        assert_eq!(fixed, u64::from(driver == Driver::Uring));
    });
    assert_eq!(std::fs::read(tmp.path()).unwrap(), b"\0\0\0from the wire");
}

/// Direct opens and reads into registered and unregistered aligned buffers (and
/// buffered reads into registered ones), dropped at random points in a loop: no fd,
/// slot or registered buffer is lost, and the survivors read the right bytes.
fn direct_and_fixed_reads_dropped_in_flight_in_a_loop(driver: Driver) {
    let _serial = serial();
    let iters: u64 = std::env::var("RINGIO_CANCEL_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(1500, |n: u64| (n / 10).max(100));
    // A direct file where the file system allows it, else a buffered one: the fixed
    // path is exercised either way.
    let dir = direct_dir();
    let direct = dir.is_some();
    let path = dir
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("ringio-fs-direct-drops-{}", std::process::id()));
    let _cleanup = TempPath(path.clone());
    const BLOCK: usize = 4096;
    const BLOCKS: u64 = 16;
    let data = pattern(BLOCKS as usize, BLOCK);
    std::fs::write(&path, &data).unwrap();
    let fds = fd_count();
    let rt = rt_fixed(driver, 4);
    rt.block_on(async {
        let opts = OpenOptions::new().read(true).direct(direct).clone();
        let open = || opts.open(&path);
        let file = ticking(open()).await.unwrap();
        let mut rng = Rng::new(0xd1ec7);
        let (mut completed, mut orphaned, mut fixed_done) = (0, 0, 0);
        for i in 0..iters {
            let how = rng.below(4);
            let block = rng.below(BLOCKS - 1);
            let want = &data[block as usize * BLOCK..][..2 * BLOCK];
            match rng.below(3) {
                0 => {
                    if let Some(opened) = drop_or_finish(open(), how).await {
                        let f = opened.unwrap();
                        assert_eq!(f.direct_io_alignment().is_some(), direct);
                        completed += 1;
                    }
                }
                registered => {
                    let mut buf = AlignedBuf::with_capacity(2 * BLOCK, BLOCK).unwrap();
                    // The table has 4 slots; orphaned reads hold theirs until they
                    // complete, so registration may find it full: the plain path then.
                    let is_fixed = registered == 1 && buf.register();
                    let read = file.read_at(buf, block * BLOCK as u64);
                    if let Some((n, buf)) = drop_or_finish(read, how).await {
                        assert_eq!(n.unwrap(), 2 * BLOCK);
                        assert_eq!(&buf[..], want, "block {block}");
                        completed += 1;
                        fixed_done += u64::from(is_fixed);
                    }
                }
            }
            if metrics().ops_in_flight > 0 {
                orphaned += 1;
            }
            if i % 256 == 0 {
                ringio::yield_now().await;
            }
        }
        settle_ops().await;
        assert!(completed > 0);
        assert!(orphaned > 0, "no operation was dropped in flight");
        if driver == Driver::Uring {
            assert!(fixed_done > 0, "no read took the fixed path");
            assert!(metrics().fixed_file_ops >= fixed_done);
        }
        // Every slot came back: four buffers register again.
        let mut held = Vec::new();
        for _ in 0..4 {
            let mut buf = AlignedBuf::with_capacity(BLOCK, BLOCK).unwrap();
            assert_eq!(
                buf.register(),
                driver == Driver::Uring,
                "a table slot leaked"
            );
            held.push(buf);
        }
        drop(file);
    });
    drop(rt);
    assert_eq!(fd_count(), fds, "fds leaked");
    assert_eq!(std::fs::read(&path).unwrap(), data);
}

both_drivers!(
    direct_io_round_trip_and_misalignment,
    direct_open_refused_says_why,
    pooled_buffer_written_with_write_fixed,
    direct_and_fixed_reads_dropped_in_flight_in_a_loop,
    write_then_read_back_at_offsets,
    open_errors_name_the_path,
    metadata_sync_and_set_len,
    whole_file_and_path_operations,
    file_ops_dropped_in_flight_in_a_loop,
    runtime_drop_with_file_ops_in_flight,
    links_copies_and_remove_dir,
    read_dir_lists_exactly_the_entries,
    vectored_round_trip_and_fallocate,
);
