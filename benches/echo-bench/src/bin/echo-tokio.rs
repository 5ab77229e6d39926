//! A tokio TCP echo server, the peer ringio is compared with.
//!
//! ```text
//! echo-tokio --addr 127.0.0.1:7878 --mode ct --threads 2   # 2 current_thread runtimes
//! echo-tokio --addr 127.0.0.1:7878 --mode mt --threads 2   # 1 multi_thread runtime, 2 workers
//! echo-tokio --mode ct --exit-after 257   # exit 0 once 257 connections came and went
//! ```
//!
//! `ct` is tokio's thread-per-core shape, the closest to ringio's: one current_thread
//! runtime per thread, each with its own SO_REUSEPORT listener so the kernel spreads
//! connections across them. `mt` is what most tokio programs run: one listener, tasks
//! stolen between workers. Each connection echoes with one reused 16 KiB buffer (as
//! ringio's example does) and TCP_NODELAY, until EOF. The harness waits for one
//! "listening on" line per listener.
//!
//! `--exit-after N` is for measurements under valgrind or strace (ci/cost-per-msg.sh),
//! with the meaning of ringio's `examples/echo_server`: each accept loop (one per
//! listener) stops accepting after N connections, waits until all of them have closed
//! and returns, so the process exits normally (status 0) and the tools write their
//! totals; no signal is needed. Without it the server runs until killed, as before.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Per-connection buffer, reused for every message (the same size as ringio's example).
const BUF_SIZE: usize = 16 * 1024;

const USAGE: &str =
    "usage: echo-tokio [--addr HOST:PORT] [--mode ct|mt] [--threads N] [--exit-after CONNECTIONS]";

/// Accepts forever, one task per connection; with `exit_after`, only that many, and
/// returns once they have all closed.
async fn serve(worker: usize, addr: SocketAddr, exit_after: Option<u64>) {
    let listener = echo_bench::peer_server::reuse_port_listener(addr)
        .and_then(TcpListener::from_std)
        .unwrap_or_else(|e| {
            eprintln!("echo-tokio: worker {worker} cannot listen on {addr}: {e}");
            std::process::exit(1)
        });
    println!("echo-tokio: worker {worker} listening on {addr}");
    // With --exit-after: the connections' tasks, awaited once the last one is accepted.
    let mut tasks = Vec::new();
    let mut accepted = 0u64;
    while exit_after.is_none_or(|n| accepted < n) {
        match listener.accept().await {
            Ok((conn, _)) => {
                accepted += 1;
                let _ = conn.set_nodelay(true);
                let task = tokio::spawn(echo(conn));
                if exit_after.is_some() {
                    tasks.push(task);
                }
            }
            Err(e) => {
                eprintln!("echo-tokio: accept failed: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    // Only with --exit-after: stop accepting and wait for every connection to close.
    drop(listener);
    for task in tasks {
        let _ = task.await;
    }
    println!("echo-tokio: worker {worker} served {accepted} connection(s); exiting");
}

/// Echoes until EOF with one reused buffer.
async fn echo(mut conn: TcpStream) {
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if conn.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn main() {
    let args = echo_bench::peer_server::ServerCli {
        usage: USAGE,
        default_addr: "127.0.0.1:7878",
        default_threads: 1,
        exit_after: true,
        modes: &["ct", "mt"],
    }
    .parse();
    if args.mode.as_deref() == Some("mt") {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
            .expect("tokio runtime");
        println!("echo-tokio: multi_thread with {} worker(s)", args.threads);
        // The accept loop is a task too, so all work runs on the worker threads.
        rt.block_on(async move { tokio::spawn(serve(0, args.addr, args.exit_after)).await })
            .expect("accept loop");
    } else {
        println!(
            "echo-tokio: current_thread x{} with one SO_REUSEPORT listener each",
            args.threads
        );
        let workers: Vec<_> = (0..args.threads)
            .map(|w| {
                std::thread::Builder::new()
                    .name(format!("echo-tokio-{w}"))
                    .spawn(move || {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("tokio runtime")
                            .block_on(serve(w, args.addr, args.exit_after))
                    })
                    .expect("spawn worker")
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
    }
}
