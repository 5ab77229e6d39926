//! A TCP echo server: every byte read is written back, until the peer closes.
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7878
//! RINGIO_DRIVER=epoll cargo run --release --example echo_server
//! cargo run --release --example echo_server -- --threads 2   # 2 pinned workers
//! cargo run --release --example echo_server -- --busy-poll 50 # spin 50 µs before sleeping
//! cargo run --release --example echo_server -- --pool-buffers 32 # 32 receive buffers, not 512
//! ```
//!
//! It prints the driver it runs on. Accept errors (such as `EMFILE` when out of fds)
//! are reported and the server goes on after a short pause instead of exiting.

use ringio::buf::BufPool;
use ringio::net::{BindOptions, TcpListener, TcpStream};
use std::time::Duration;

/// Receive buffers per worker by default (`--pool-buffers`), shared by all its
/// connections. A connection holds one only from the moment data arrives until it is
/// echoed, so this bounds the messages in flight per worker, not the connections (when
/// all are out, receives wait).
const POOL_BUFFERS: usize = 512;
/// Bytes per receive buffer.
const BUF_SIZE: usize = 16 * 1024;

fn main() {
    let mut addr = String::from("127.0.0.1:7878");
    let mut threads = 1usize;
    let mut exit_after: Option<u64> = None;
    let mut busy_poll = Duration::ZERO;
    let mut pool_buffers = POOL_BUFFERS;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs HOST:PORT"),
            "--threads" => {
                threads = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| {
                        eprintln!("echo_server: --threads needs a positive number");
                        std::process::exit(2)
                    })
            }
            "--exit-after" => {
                // For measurements (ci/cost-per-msg.sh): stop once this many connections
                // have come and gone, so tools like valgrind see a normal exit.
                exit_after = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .or_else(|| {
                        eprintln!("echo_server: --exit-after needs a positive number");
                        std::process::exit(2)
                    })
            }
            "--busy-poll" => {
                // Spin this many microseconds for completions before sleeping.
                busy_poll = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .map(Duration::from_micros)
                    .unwrap_or_else(|| {
                        eprintln!("echo_server: --busy-poll needs microseconds");
                        std::process::exit(2)
                    })
            }
            "--pool-buffers" => {
                // Receive buffers per worker (the pool's size), for measuring what the
                // pool's memory footprint costs.
                pool_buffers = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| {
                        eprintln!("echo_server: --pool-buffers needs a positive number");
                        std::process::exit(2)
                    })
            }
            "-h" | "--help" => {
                println!(
                    "usage: echo_server [--addr HOST:PORT] [--threads N] [--exit-after CONNECTIONS] [--busy-poll MICROS] [--pool-buffers N]   (RINGIO_DRIVER=auto|uring|epoll)"
                );
                return;
            }
            other => {
                eprintln!("echo_server: unknown argument {other:?} (try --help)");
                std::process::exit(2);
            }
        }
    }
    // One worker per thread, each pinned to its CPU (when N > 1) with its own
    // SO_REUSEPORT listener: the kernel spreads connections across them.
    let rt = ringio::Builder::new()
        .workers(threads)
        .busy_poll(busy_poll)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("echo_server: cannot start the runtime: {e}");
            std::process::exit(1);
        });
    println!("echo_server: {threads} worker(s) with {}", rt.driver_info());
    let addr = std::sync::Arc::new(addr);
    rt.run_on_each(move |worker| {
        let addr = addr.clone();
        async move {
            let opts = BindOptions::new().reuse_port(true).backlog(4096);
            let listener = TcpListener::bind_with(addr.as_str(), &opts).unwrap_or_else(|e| {
                eprintln!("echo_server: worker {worker} cannot listen on {addr}: {e}");
                std::process::exit(1);
            });
            println!(
                "echo_server: worker {worker} listening on {} (CPUs {:?})",
                listener.local_addr().unwrap(),
                ringio::runtime::available_cpus()
            );
            serve(worker, listener, exit_after, pool_buffers).await
        }
    });
}

/// What a worker's connections share: the receive buffers, and the count of closed
/// connections for `--exit-after`.
struct Shared {
    pool: BufPool,
    closed: std::cell::Cell<u64>,
    exit_after: Option<u64>,
    all_closed: ringio::sync::Event,
}

/// Counts a connection as closed when its task ends, however it ends.
struct Closed(std::rc::Rc<Shared>);

impl Drop for Closed {
    fn drop(&mut self) {
        let shared = &self.0;
        shared.closed.set(shared.closed.get() + 1);
        if shared.exit_after.is_some_and(|n| shared.closed.get() >= n) {
            shared.all_closed.set();
        }
    }
}

async fn serve(worker: usize, listener: TcpListener, exit_after: Option<u64>, pool_buffers: usize) {
    let mut accepted = 0u64;
    let shared = std::rc::Rc::new(Shared {
        pool: BufPool::new(pool_buffers, BUF_SIZE).expect("receive buffer pool"),
        closed: std::cell::Cell::new(0),
        exit_after,
        all_closed: ringio::sync::Event::new(),
    });
    loop {
        if exit_after.is_some_and(|n| accepted >= n) {
            // Wait for the last of them to close, then stop this worker.
            shared.all_closed.wait().await;
            return;
        }
        match listener.accept().await {
            Ok((conn, _peer)) => {
                accepted += 1;
                if accepted == 1 || accepted == 256 {
                    println!("echo_server: worker {worker} has accepted {accepted} connection(s)");
                }
                let _ = conn.set_nodelay(true);
                // Detached: the task ends with its connection. The future is `echo`'s
                // own, with nothing wrapped around it: it is what each idle connection
                // costs in memory.
                drop(ringio::spawn(echo(conn, Closed(shared.clone()))));
            }
            Err(e) => {
                eprintln!("echo_server: accept failed: {e}; retrying");
                // Out of fds (EMFILE/ENFILE) clears only as connections close: back off
                // instead of spinning on the same error.
                ringio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn echo(conn: TcpStream, closed: Closed) {
    let pool = &closed.0.pool;
    loop {
        // A buffer from the worker's pool, taken only when data has arrived: an idle
        // connection holds none.
        let buf = match conn.recv_pooled(pool).await {
            Ok(Some(buf)) => buf,
            Ok(None) => return,
            Err(e) => {
                // Resets are ordinary when clients stop abruptly; anything else is news.
                if e.kind() != std::io::ErrorKind::ConnectionReset {
                    eprintln!("echo_server: read failed: {e}");
                }
                return;
            }
        };
        // Echo the very buffer, detached: on io_uring the send's completion wakes no
        // task (one poll per message), and the buffer goes back to the pool when the
        // kernel is done with it. A failed send is reported by the next call.
        if conn.write_all_detached(buf).await.is_err() {
            return;
        }
    }
}
