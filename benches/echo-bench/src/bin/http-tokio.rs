//! hyper's HTTP/1.1 "Hello, world!" server on tokio, the peer of ringio's
//! `examples/http_hello` in ci/http-bench.sh.
//!
//! ```text
//! http-tokio --addr 127.0.0.1:8080 --threads 2   # 2 current_thread runtimes
//! ```
//!
//! tokio's thread-per-core shape, as `echo-tokio --mode ct`: one current_thread
//! runtime per thread, each with its own SO_REUSEPORT listener. Each connection is
//! served as ringio's example serves it: hyper's http1 server with keep-alive,
//! TCP_NODELAY, a timer (hyper-util's TokioTimer) for the 30 s header read timeout, and
//! the same 14-byte body.

#![forbid(unsafe_code)]

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// The response body (the same as ringio's example).
const HELLO: &[u8] = b"Hello, world!\n";

const USAGE: &str = "usage: http-tokio [--addr HOST:PORT] [--threads N]";

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(HELLO))))
}

/// Accepts forever, one task per connection.
async fn serve(worker: usize, addr: SocketAddr) {
    let listener = echo_bench::peer_server::reuse_port_listener(addr)
        .and_then(TcpListener::from_std)
        .unwrap_or_else(|e| {
            eprintln!("http-tokio: worker {worker} cannot listen on {addr}: {e}");
            std::process::exit(1)
        });
    println!("http-tokio: worker {worker} listening on http://{addr}");
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    loop {
        match listener.accept().await {
            Ok((conn, _)) => {
                let _ = conn.set_nodelay(true);
                let http = http.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(hello);
                    let _ = http.serve_connection(TokioIo::new(conn), service).await;
                });
            }
            Err(e) => {
                eprintln!("http-tokio: accept failed: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn main() {
    let args = echo_bench::peer_server::ServerCli {
        usage: USAGE,
        default_addr: "127.0.0.1:8080",
        default_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        exit_after: false,
        modes: &[],
    }
    .parse();
    let (addr, threads) = (args.addr, args.threads);
    println!("http-tokio: current_thread x{threads} with one SO_REUSEPORT listener each");
    let workers: Vec<_> = (0..threads)
        .map(|w| {
            std::thread::Builder::new()
                .name(format!("http-tokio-{w}"))
                .spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("tokio runtime")
                        .block_on(serve(w, addr))
                })
                .expect("spawn worker")
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
}
