//! A monoio TCP echo server on its io_uring driver, the thread-per-core io_uring peer
//! ringio is compared with.
//!
//! ```text
//! echo-monoio --addr 127.0.0.1:7878 --threads 2   # 2 runtimes, one SO_REUSEPORT listener each
//! echo-monoio --exit-after 257   # exit 0 once 257 connections came and went
//! ```
//!
//! One monoio runtime per thread, each with its own SO_REUSEPORT listener (monoio's own
//! thread-per-core shape). Each connection echoes with one reused 16 KiB owned buffer
//! and TCP_NODELAY, until EOF. The harness waits for one "listening on" line per thread.
//!
//! `--exit-after N` is for measurements under valgrind or strace (ci/cost-per-msg.sh),
//! with the meaning of ringio's `examples/echo_server`: each runtime's accept loop stops
//! accepting after N connections, waits until all of them have closed and returns, so
//! the process exits normally (status 0) and the tools write their totals; no signal is
//! needed. Without it the server runs until killed, as before.

#![forbid(unsafe_code)]

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{ListenerOpts, TcpListener, TcpStream};
use std::net::SocketAddr;

/// Per-connection buffer, reused for every message (the same size as ringio's example).
const BUF_SIZE: usize = 16 * 1024;

const USAGE: &str =
    "usage: echo-monoio [--addr HOST:PORT] [--threads N] [--exit-after CONNECTIONS]";

/// Accepts forever, one task per connection; with `exit_after`, only that many, and
/// returns once they have all closed.
async fn serve(worker: usize, addr: SocketAddr, exit_after: Option<u64>) {
    let opts = ListenerOpts::new().reuse_port(true).backlog(4096);
    let listener = TcpListener::bind_with_config(addr, &opts).unwrap_or_else(|e| {
        eprintln!("echo-monoio: worker {worker} cannot listen on {addr}: {e}");
        std::process::exit(1)
    });
    println!("echo-monoio: worker {worker} listening on {addr}");
    // With --exit-after: the connections' tasks, awaited once the last one is accepted.
    let mut tasks = Vec::new();
    let mut accepted = 0u64;
    while exit_after.is_none_or(|n| accepted < n) {
        match listener.accept().await {
            Ok((conn, _)) => {
                accepted += 1;
                let _ = conn.set_nodelay(true);
                let task = monoio::spawn(echo(conn));
                if exit_after.is_some() {
                    tasks.push(task);
                }
            }
            Err(e) => {
                // Out of fds clears only as connections close; monoio has no timer here
                // (the driver is built without one), so back off by yielding the thread.
                eprintln!("echo-monoio: accept failed: {e}; retrying");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
    // Only with --exit-after: stop accepting and wait for every connection to close.
    drop(listener);
    for task in tasks {
        task.await;
    }
    println!("echo-monoio: worker {worker} served {accepted} connection(s); exiting");
}

/// Echoes until EOF with one reused owned buffer.
async fn echo(mut conn: TcpStream) {
    let mut buf = Vec::with_capacity(BUF_SIZE);
    loop {
        let (res, b) = conn.read(buf).await;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (res, mut b) = conn.write_all(b).await;
        if res.is_err() {
            return;
        }
        b.clear();
        buf = b;
    }
}

fn main() {
    let args = echo_bench::peer_server::ServerCli {
        usage: USAGE,
        default_addr: "127.0.0.1:7878",
        default_threads: 1,
        exit_after: true,
        modes: &[],
    }
    .parse();
    let (addr, threads, exit_after) = (args.addr, args.threads, args.exit_after);
    println!("echo-monoio: {threads} runtime(s) with the io_uring driver");
    let workers: Vec<_> = (0..threads)
        .map(|w| {
            std::thread::Builder::new()
                .name(format!("echo-monoio-{w}"))
                .spawn(move || {
                    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                        .build()
                        .unwrap_or_else(|e| {
                            eprintln!("echo-monoio: cannot start the io_uring runtime: {e}");
                            std::process::exit(1)
                        });
                    rt.block_on(serve(w, addr, exit_after))
                })
                .expect("spawn worker")
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
}
