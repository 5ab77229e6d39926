//! An HTTP/1.1 keep-alive "Hello, world!" server: hyper 1.x on ringio, natively (no
//! tokio), one worker per core, each with its own SO_REUSEPORT listener.
//!
//! ```text
//! cargo run --release --features hyper --example http_hello -- --addr 127.0.0.1:8080
//! RINGIO_DRIVER=epoll cargo run --release --features hyper --example http_hello
//! cargo run --release --features hyper --example http_hello -- --threads 2   # 2 pinned workers
//! curl -s http://127.0.0.1:8080/       # Hello, world!
//! ```
//!
//! By default it runs one worker per CPU it may use. Each connection is served by
//! hyper's HTTP/1.1 server over [`Compat`] (hyper's I/O traits on ringio's owned-buffer
//! streams), with [`HyperTimer`] for hyper's 30 s header read timeout. Accept errors
//! (such as `EMFILE`) are reported and the server goes on after a short pause.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use ringio::compat::{Compat, HyperTimer};
use ringio::net::{BindOptions, TcpListener};
use std::convert::Infallible;
use std::time::Duration;

/// The response body.
const HELLO: &[u8] = b"Hello, world!\n";

fn main() {
    let mut addr = String::from("127.0.0.1:8080");
    let mut threads = ringio::runtime::available_cpus().len().max(1);
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
                        eprintln!("http_hello: --threads needs a positive number");
                        std::process::exit(2)
                    })
            }
            "-h" | "--help" => {
                println!(
                    "usage: http_hello [--addr HOST:PORT] [--threads N]   (RINGIO_DRIVER=auto|uring|epoll)"
                );
                return;
            }
            other => {
                eprintln!("http_hello: unknown argument {other:?} (try --help)");
                std::process::exit(2);
            }
        }
    }
    let rt = ringio::Builder::new()
        .workers(threads)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("http_hello: cannot start the runtime: {e}");
            std::process::exit(1);
        });
    println!("http_hello: {threads} worker(s) with {}", rt.driver_info());
    let addr = std::sync::Arc::new(addr);
    rt.run_on_each(move |worker| {
        let addr = addr.clone();
        async move {
            let opts = BindOptions::new().reuse_port(true).backlog(4096);
            let listener = TcpListener::bind_with(addr.as_str(), &opts).unwrap_or_else(|e| {
                eprintln!("http_hello: worker {worker} cannot listen on {addr}: {e}");
                std::process::exit(1);
            });
            println!(
                "http_hello: worker {worker} listening on http://{}",
                listener.local_addr().unwrap()
            );
            serve(listener).await
        }
    });
}

/// Accepts forever; one task per connection, on this worker.
async fn serve(listener: TcpListener) {
    // One builder per worker, cloned into each connection's task.
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(HyperTimer)
        .header_read_timeout(Duration::from_secs(30));
    loop {
        match listener.accept().await {
            Ok((conn, _peer)) => {
                let _ = conn.set_nodelay(true);
                let http = http.clone();
                drop(ringio::spawn(async move {
                    let service = hyper::service::service_fn(hello);
                    // Errors are the client's doing (a reset, a bad request): the
                    // connection ends, the server goes on.
                    let _ = http.serve_connection(Compat::new(conn), service).await;
                }));
            }
            Err(e) => {
                eprintln!("http_hello: accept failed: {e}; retrying");
                ringio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(HELLO))))
}
