//! Helpers shared by the integration tests.
//!
//! Every test body is a function taking a [`Driver`]; [`both_drivers!`] turns it into
//! two tests, `uring::<name>` and `epoll::<name>`, so `cargo test epoll::` runs one
//! backend. A forced driver that cannot start fails the test: nothing passes by
//! returning early.

#![allow(dead_code)]

use ringio::runtime::{Builder, Driver, Runtime};

/// A runtime on `driver`, real clock.
pub fn rt(driver: Driver) -> Runtime {
    let rt = Builder::new()
        .driver(driver)
        .build()
        .unwrap_or_else(|e| panic!("{driver:?} runtime failed to start: {e}"));
    assert_eq!(
        rt.driver_info().driver(),
        driver,
        "asked for {driver:?}, got {}",
        rt.driver_info()
    );
    rt
}

/// A runtime on `driver` whose clock starts paused.
pub fn paused(driver: Driver) -> Runtime {
    let rt = Builder::new()
        .driver(driver)
        .start_paused(true)
        .build()
        .unwrap_or_else(|e| panic!("{driver:?} runtime failed to start: {e}"));
    assert_eq!(rt.driver_info().driver(), driver);
    rt
}

/// Polls `fut` once with a no-op waker; `Some` if it finished.
pub fn poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::Pin::new(fut).poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// Awaits `fut` while a 5 ms timer keeps the worker waking up. A blocking operation
/// completes when a pool thread posts; under valgrind, a worker blocked in
/// `io_uring_enter` with no deadline can keep that thread from ever running (DESIGN.md),
/// so tests that also run under memcheck never wait for the pool without one.
pub async fn ticking<F: std::future::Future>(fut: F) -> F::Output {
    use std::future::Future;
    use std::time::Duration;
    let mut fut = std::pin::pin!(fut);
    let mut tick = Box::pin(ringio::time::sleep(Duration::from_millis(5)));
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(cx) {
            return std::task::Poll::Ready(v);
        }
        while tick.as_mut().poll(cx).is_ready() {
            let next = ringio::time::Instant::now() + Duration::from_millis(5);
            tick.as_mut().reset(next);
        }
        std::task::Poll::Pending
    })
    .await
}

/// Waits (bounded, about 5 s) until no operation holds a slot.
pub async fn settle_ops() {
    for _ in 0..500 {
        if ringio::runtime::metrics().ops_in_flight == 0 {
            return;
        }
        ringio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!(
        "operations still in flight: {:?}",
        ringio::runtime::metrics()
    );
}

/// Entries in /proc/self/fd right now.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// A tiny deterministic random number generator (xorshift64*), so failures repeat.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Emits `uring::<name>` and `epoll::<name>` tests calling `<name>(Driver)`.
#[macro_export]
macro_rules! both_drivers {
    ($($name:ident),* $(,)?) => {
        mod uring {
            $(#[test] fn $name() { super::$name(ringio::runtime::Driver::Uring) })*
        }
        mod epoll {
            $(#[test] fn $name() { super::$name(ringio::runtime::Driver::Epoll) })*
        }
    };
}

/// A runtime on `driver` with `n` workers (pinned, as by default).
pub fn workers(driver: Driver, n: usize) -> Runtime {
    let rt = Builder::new()
        .driver(driver)
        .workers(n)
        .build()
        .unwrap_or_else(|e| panic!("{driver:?} runtime with {n} workers failed to start: {e}"));
    assert_eq!(rt.driver_info().driver(), driver);
    assert_eq!(rt.workers(), n);
    rt
}

/// Closes `s` with SO_LINGER 0, so the kernel sends RST instead of FIN.
pub fn reset(s: std::net::TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: sets SO_LINGER on an open socket from a live struct of the right size.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&s),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    drop(s);
}

/// One test at a time within a test binary: for tests that count the process's fds or
/// threads, or change its fd limit, which the others' runtimes would disturb.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connected loopback TCP pair: (client, server).
pub async fn pair() -> (ringio::net::TcpStream, ringio::net::TcpStream) {
    let l = ringio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = ringio::net::TcpStream::connect(l.local_addr().unwrap())
        .await
        .unwrap();
    let (s, _) = l.accept().await.unwrap();
    (c, s)
}

/// Raises the fd limit (soft, and hard where allowed) to at least `want`.
pub fn raise_fd_limit(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write a live rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur >= want {
            return;
        }
        lim.rlim_cur = want;
        lim.rlim_max = lim.rlim_max.max(want);
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            panic!(
                "cannot raise RLIMIT_NOFILE to {want}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Sets the soft fd limit; returns the old one.
pub fn set_fd_limit(soft: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write a live rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        let old = lim.rlim_cur;
        lim.rlim_cur = soft;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        old
    }
}

/// Waits (bounded, 100,000 loop turns) until no one-shot operation holds a slot: what
/// is left is the multishot operations, armed while their sockets live.
pub async fn settle() {
    for _ in 0..100_000 {
        let m = ringio::runtime::metrics();
        if m.ops_in_flight == m.multishot_armed {
            return;
        }
        ringio::yield_now().await;
    }
    panic!(
        "operations still in flight: {:?}",
        ringio::runtime::metrics()
    );
}

/// Waits (bounded) until `pool` has all its buffers back.
pub async fn pool_full(pool: &ringio::buf::BufPool) {
    for _ in 0..100_000 {
        if pool.available() == pool.capacity() {
            return;
        }
        ringio::yield_now().await;
    }
    panic!("pool has {} of {}", pool.available(), pool.capacity());
}

/// Polls `fut` up to `polls` times with a loop turn (submit + reap) between polls, then
/// drops it. Returns the output if it finished first.
pub async fn poll_then_drop<F: std::future::Future>(fut: F, polls: u64) -> Option<F::Output> {
    let mut fut = Box::pin(fut);
    for _ in 0..polls {
        let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
        if let std::task::Poll::Ready(v) = polled {
            return Some(v);
        }
        ringio::yield_now().await;
    }
    None
}
