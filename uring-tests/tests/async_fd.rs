//! `io::AsyncFd` (ASYNCIO.md §7.3) on both drivers: a pipe write makes `readable()`
//! ready, cleared readiness waits for a new event, `writable()` on a full pipe, two
//! waiters, waits dropped at random points, and a dropped `AsyncFd` leaving no
//! completion or slot behind.

mod support;

use ringio::io::AsyncFd;
use ringio::runtime::Driver;
use ringio::time::{sleep, timeout};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;
use support::{fd_count, poll_once, rt, serial, settle_ops, Rng};

/// A non-blocking pipe: (read end, write end).
fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into a live array of two.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    // SAFETY: both fds were just created and are owned by nobody else.
    unsafe {
        (
            File::from(OwnedFd::from_raw_fd(fds[0])),
            File::from(OwnedFd::from_raw_fd(fds[1])),
        )
    }
}

/// Reads everything the pipe holds through `fd`, clearing readiness at `WouldBlock`.
async fn drain(fd: &AsyncFd<File>) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        let mut guard = fd.readable().await.unwrap();
        let mut buf = [0u8; 4096];
        match guard.try_io(|f| f.get_ref().read(&mut buf)) {
            Some(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                if n < buf.len() {
                    return got;
                }
            }
            Some(Err(e)) => panic!("read: {e}"),
            None => return got,
        }
    }
}

/// Check 1: a write to a pipe makes `readable()` ready; after the pipe is drained and
/// readiness cleared, `readable()` waits for the next write.
fn pipe_write_makes_readable(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let (rx, mut tx) = pipe();
        let rx = AsyncFd::new(rx).unwrap();
        let writer = ringio::spawn(async move {
            sleep(Duration::from_millis(20)).await;
            tx.write_all(b"hello").unwrap();
            tx
        });
        timeout(Duration::from_secs(5), rx.readable())
            .await
            .expect("readable() missed the write")
            .unwrap();
        assert_eq!(drain(&rx).await, b"hello");
        let mut tx = writer.await.unwrap();
        // Drained and cleared: no event, so readable() waits.
        {
            let mut guard = rx.readable().await.unwrap();
            let mut buf = [0u8; 8];
            assert!(guard.try_io(|f| f.get_ref().read(&mut buf)).is_none());
        }
        assert!(
            timeout(Duration::from_millis(50), rx.readable())
                .await
                .is_err(),
            "readable() after clear_ready without a new write"
        );
        tx.write_all(b"again").unwrap();
        timeout(Duration::from_secs(5), rx.readable())
            .await
            .expect("readable() missed the second write")
            .unwrap();
        assert_eq!(drain(&rx).await, b"again");
    });
}

/// `writable()` is ready on an empty pipe, waits once it is full and readiness was
/// cleared, and is ready again when the reader takes bytes.
fn writable_waits_for_room(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let (mut rx, tx) = pipe();
        let tx = AsyncFd::new(tx).unwrap();
        let chunk = vec![7u8; 65536];
        let mut written = 0;
        loop {
            let mut guard = tx.writable().await.unwrap();
            match guard.try_io(|f| f.get_ref().write(&chunk)) {
                Some(Ok(n)) => written += n,
                Some(Err(e)) => panic!("write: {e}"),
                None => break, // full
            }
        }
        assert!(written > 0);
        assert!(
            timeout(Duration::from_millis(50), tx.writable())
                .await
                .is_err(),
            "writable() on a full pipe"
        );
        let mut buf = vec![0u8; written];
        let n = rx.read(&mut buf).unwrap();
        assert!(n > 0);
        timeout(Duration::from_secs(5), tx.writable())
            .await
            .expect("writable() missed the room made")
            .unwrap();
    });
}

/// Two tasks waiting on one `AsyncFd` are both woken by one write.
fn two_waiters_are_both_woken(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let (rx, mut tx) = pipe();
        let rx = Rc::new(AsyncFd::new(rx).unwrap());
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                ringio::spawn(async move {
                    timeout(Duration::from_secs(5), rx.readable())
                        .await
                        .map(|r| r.map(drop))
                })
            })
            .collect();
        sleep(Duration::from_millis(20)).await;
        tx.write_all(b"x").unwrap();
        for w in waiters {
            w.await.unwrap().expect("a waiter was not woken").unwrap();
        }
    });
}

/// Check 2: dropping an `AsyncFd` (with its watch armed) leaves no completion or slot
/// behind and no fd open, in a loop, with writes landing after the drop.
fn dropped_async_fd_leaves_nothing_behind(driver: Driver) {
    let _serial = serial();
    let fds = fd_count();
    rt(driver).block_on(async {
        for i in 0..200 {
            let (rx, mut tx) = pipe();
            let rx = AsyncFd::new(rx).unwrap();
            if i % 2 == 0 {
                tx.write_all(b"x").unwrap();
                rx.readable().await.unwrap();
            } else {
                let mut wait = Box::pin(rx.readable());
                assert!(poll_once(&mut wait).is_none());
            }
            drop(rx);
            let _ = tx.write_all(b"late");
            ringio::yield_now().await;
        }
        settle_ops().await;
    });
    assert_eq!(fd_count(), fds, "fds leaked");
}

/// `readable()` futures dropped at random polls while writes land: the data is all
/// read in the end, and no slot is left.
fn readable_waits_dropped_at_random(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let (rx, tx) = pipe();
        let rx = AsyncFd::new(rx).unwrap();
        let total = 2000usize;
        let writer = ringio::spawn(async move {
            let mut tx = tx;
            for i in 0..total {
                tx.write_all(&[(i % 256) as u8]).unwrap();
                if i % 7 == 0 {
                    ringio::yield_now().await;
                }
            }
        });
        let mut rng = Rng::new(5);
        let mut got = Vec::new();
        let mut drops = 0;
        while got.len() < total {
            let mut wait = Box::pin(rx.readable());
            if rng.below(2) == 0 {
                if poll_once(&mut wait).is_none() {
                    drops += 1;
                    drop(wait);
                    ringio::yield_now().await;
                    continue;
                }
            } else {
                timeout(Duration::from_secs(5), wait)
                    .await
                    .expect("readable() hung")
                    .unwrap();
            }
            let mut buf = [0u8; 64];
            match rx.get_ref().read(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    rx.readable().await.unwrap().clear_ready();
                }
                Err(e) => panic!("read: {e}"),
            }
        }
        writer.await.unwrap();
        assert!(drops > 0);
        let want: Vec<u8> = (0..total).map(|i| (i % 256) as u8).collect();
        assert_eq!(got, want);
        drop(rx);
        settle_ops().await;
    });
}

both_drivers!(
    pipe_write_makes_readable,
    writable_waits_for_room,
    two_waiters_are_both_woken,
    dropped_async_fd_leaves_nothing_behind,
    readable_waits_dropped_at_random,
);
