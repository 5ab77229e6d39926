//! `#[ringio::main]` and `#[ringio::test]`, through the attributes themselves.

use std::time::Duration;

/// The default: run as `runs_on_each_driver::uring` and `::epoll`, on the paused
/// clock only when asked.
#[ringio::test]
async fn runs_on_each_driver() {
    // libtest names each test's thread after the test: `runs_on_each_driver::uring`
    // must run on io_uring, `::epoll` on epoll.
    let thread = std::thread::current().name().unwrap_or_default().to_owned();
    let expected = match ringio::runtime::current_driver() {
        ringio::runtime::Driver::Uring => "::uring",
        _ => "::epoll",
    };
    assert!(thread.ends_with(expected), "{thread} ran on {expected}");
    // A real socket round trip, so the driver does work.
    let (a, b) = ringio::net::UnixStream::pair().unwrap();
    use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
    a.write_all(b"hi".to_vec()).await.0.unwrap();
    let (res, got) = b.read_exact(vec![0u8; 2]).await;
    res.unwrap();
    assert_eq!(&got, b"hi");
}

#[ringio::test(start_paused = true)]
async fn paused_clock_takes_no_wall_time() {
    let wall = std::time::Instant::now();
    ringio::time::sleep(Duration::from_secs(3600)).await;
    assert!(wall.elapsed() < Duration::from_secs(60));
}

#[ringio::test(driver = "epoll")]
async fn one_driver_is_one_plain_test() {
    assert_eq!(
        ringio::runtime::current_driver(),
        ringio::runtime::Driver::Epoll
    );
}

#[ringio::test(driver = "uring", workers = 2)]
async fn workers_argument_reaches_the_builder() -> Result<(), String> {
    let on_one = ringio::spawn_on(1, async { ringio::runtime::Handle::current_worker() })
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(on_one, Some(1));
    Ok(())
}

#[ringio::test]
#[should_panic(expected = "boom")]
async fn other_attributes_apply_to_each_test() {
    panic!("boom");
}

mod entry_point {
    #[ringio::main(workers = 1, driver = "epoll")]
    pub async fn main() -> u32 {
        assert_eq!(
            ringio::runtime::current_driver(),
            ringio::runtime::Driver::Epoll
        );
        ringio::spawn(async { 41 }).await.unwrap() + 1
    }
}

#[test]
fn main_builds_a_runtime_and_returns_the_body_output() {
    assert_eq!(entry_point::main(), 42);
}
