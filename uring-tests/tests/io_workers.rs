//! `Builder::io_workers`: the cap on the kernel's io-wq worker threads per ring. Under
//! 64 concurrent `fsync`s (which io_uring always hands to io-wq) a ring capped at 2 + 2
//! never shows more than 4 `iou-wrk` threads in the process. On epoll the option is
//! ignored and the same load runs on the blocking pool.

mod support;

use support::serial;

use ringio::fs::File;
use ringio::runtime::{Builder, Driver};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// Threads of this process whose name starts with `iou-wrk` (the kernel's io-wq
/// workers), right now.
fn io_wq_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|name| name.starts_with("iou-wrk"))
                })
                .count()
        })
        .unwrap_or(0)
}

fn io_workers_are_capped(driver: Driver) {
    let _serial = serial();
    // io-wq workers of rings dropped by earlier tests exit on their own, soon.
    for _ in 0..200 {
        if io_wq_threads() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let rt = Builder::new()
        .driver(driver)
        .io_workers(2, 2)
        .build()
        .unwrap();
    assert_eq!(rt.driver_info().driver(), driver);
    let capped = rt.driver_info().flags().contains(&"IOWQ_MAX_WORKERS");
    assert_eq!(capped, driver == Driver::Uring, "{}", rt.driver_info());
    let dir = std::env::temp_dir().join(format!("ringio-iowq-{}-{driver:?}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let peak = rt.block_on(async {
        let peak = Rc::new(Cell::new(0usize));
        let done = Rc::new(Cell::new(false));
        let sampler = {
            let (peak, done) = (peak.clone(), done.clone());
            ringio::spawn(async move {
                while !done.get() {
                    peak.set(peak.get().max(io_wq_threads()));
                    ringio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        };
        let writers: Vec<_> = (0..64)
            .map(|i| {
                let path = dir.join(format!("f{i}"));
                ringio::spawn(async move {
                    let file = File::create(&path).await.unwrap();
                    for round in 0..4u64 {
                        let (res, _) = file.write_all_at(vec![i as u8; 4096], round * 4096).await;
                        res.unwrap();
                        file.sync_all().await.unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        done.set(true);
        sampler.await.unwrap();
        peak.get()
    });
    std::fs::remove_dir_all(&dir).unwrap();
    if driver == Driver::Uring {
        assert!(peak <= 4, "{peak} io-wq threads with a cap of 2 + 2");
    } else {
        assert_eq!(peak, 0, "epoll started io-wq threads");
    }
}

both_drivers!(io_workers_are_capped);
