//! Copies a file with `ringio::fs`, keeping a window of reads and writes in flight, and
//! prints the rate.
//!
//! ```text
//! cargo run --release --example file_copy -- SRC DST
//! cargo run --release --example file_copy -- SRC DST --chunk 1048576 --window 8
//! RINGIO_DRIVER=epoll cargo run --release --example file_copy -- SRC DST
//! ```
//!
//! The file is cut into chunks; `window` tasks on one worker each take every
//! `window`-th chunk, read it with `File::read_exact_at` and write it at the same
//! offset with `File::write_all_at`, reusing one buffer. So up to `window` reads or
//! writes are in flight at once: on io_uring they are ring entries submitted together,
//! on epoll blocking-pool jobs running side by side. It prints the driver, the bytes
//! copied and the rate.
//!
//! `uring-tests/tests/examples.rs` (`file_copy_copies_exactly`) includes this file and
//! runs [`copy`] on both drivers.

use ringio::buf::IoBuf;
use ringio::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

/// Bytes per read and write, unless `--chunk` says otherwise.
const CHUNK: usize = 1 << 20;
/// Chunks in flight at once, unless `--window` says otherwise.
const WINDOW: usize = 8;

#[allow(dead_code)] // a test includes this file for `copy`
fn main() {
    let mut paths = Vec::new();
    let (mut chunk, mut window) = (CHUNK, WINDOW);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> usize {
            match args.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => n,
                _ => usage(&format!("{what} needs a positive number")),
            }
        };
        match arg.as_str() {
            "--chunk" => chunk = number("--chunk"),
            "--window" => window = number("--window"),
            _ if arg.starts_with("--") => usage(&format!("unknown option {arg}")),
            _ => paths.push(arg),
        }
    }
    let [from, to] = &paths[..] else {
        usage("need SRC and DST");
    };
    let rt = ringio::Runtime::new().unwrap_or_else(|e| {
        eprintln!("file_copy: runtime failed to start: {e}");
        std::process::exit(1)
    });
    let info = rt.driver_info().to_string();
    let started = Instant::now();
    match rt.block_on(copy(Path::new(from), Path::new(to), chunk, window)) {
        Ok(bytes) => {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "copied {bytes} bytes in {secs:.3} s: {:.1} MiB/s ({} KiB chunks, window {window}; {info})",
                bytes as f64 / secs.max(1e-9) / (1 << 20) as f64,
                chunk / 1024,
            );
        }
        Err(e) => {
            eprintln!("file_copy: {e}");
            std::process::exit(1);
        }
    }
}

fn usage(why: &str) -> ! {
    eprintln!("file_copy: {why}\nusage: file_copy SRC DST [--chunk BYTES] [--window N]");
    std::process::exit(2)
}

/// Copies the file `from` to `to` (created or truncated), `chunk` bytes per read and
/// write with up to `window` chunks in flight, and returns the bytes copied.
///
/// # Errors
///
/// Opening either file, or any read or write; the first error stops the copy.
pub async fn copy(from: &Path, to: &Path, chunk: usize, window: usize) -> io::Result<u64> {
    let src = File::open(from).await?;
    let len = src.metadata().await?.len();
    let dst = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(to)
        .await?;
    let (src, dst) = (Rc::new(src), Rc::new(dst));
    let chunks = len.div_ceil(chunk as u64);
    let lanes: Vec<_> = (0..window as u64)
        .map(|lane| {
            let (src, dst) = (src.clone(), dst.clone());
            ringio::spawn(async move {
                let mut buf = Vec::with_capacity(chunk);
                for index in (lane..chunks).step_by(window) {
                    let offset = index * chunk as u64;
                    let size = (len - offset).min(chunk as u64) as usize;
                    buf.clear();
                    let (res, slice) = src.read_exact_at(buf.slice(0..size), offset).await;
                    res?;
                    let (res, slice) = dst.write_all_at(slice, offset).await;
                    res?;
                    buf = slice.into_inner();
                }
                io::Result::Ok(())
            })
        })
        .collect();
    for lane in lanes {
        lane.await.map_err(io::Error::other)??;
    }
    Ok(len)
}
