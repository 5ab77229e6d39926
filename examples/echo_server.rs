//! A TCP echo server: every byte read is written back, until the peer closes.
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7878
//! RINGIO_DRIVER=epoll cargo run --release --example echo_server
//! ```
//!
//! It prints the driver it runs on. Accept errors (such as `EMFILE` when out of fds)
//! are reported and the server goes on after a short pause instead of exiting.

use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
use ringio::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Per-connection buffer: one read's worth, reused for every message.
const BUF_SIZE: usize = 16 * 1024;

fn main() {
    let mut addr = String::from("127.0.0.1:7878");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs HOST:PORT"),
            "-h" | "--help" => {
                println!(
                    "usage: echo_server [--addr HOST:PORT]   (RINGIO_DRIVER=auto|uring|epoll)"
                );
                return;
            }
            other => {
                eprintln!("echo_server: unknown argument {other:?} (try --help)");
                std::process::exit(2);
            }
        }
    }
    let rt = ringio::Runtime::new().unwrap_or_else(|e| {
        eprintln!("echo_server: cannot start the runtime: {e}");
        std::process::exit(1);
    });
    let listener = TcpListener::bind(addr.as_str()).unwrap_or_else(|e| {
        eprintln!("echo_server: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    println!(
        "echo_server: listening on {} with {}",
        listener.local_addr().unwrap(),
        rt.driver_info()
    );
    rt.block_on(serve(listener));
}

async fn serve(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((conn, _peer)) => {
                let _ = conn.set_nodelay(true);
                // Detached: the task ends with its connection.
                drop(ringio::spawn(echo(conn)));
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

async fn echo(conn: TcpStream) {
    let mut buf = Vec::with_capacity(BUF_SIZE);
    loop {
        let (res, b) = conn.read(buf).await;
        let n = match res {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                // Resets are ordinary when clients stop abruptly; anything else is news.
                if e.kind() != std::io::ErrorKind::ConnectionReset {
                    eprintln!("echo_server: read failed: {e}");
                }
                return;
            }
        };
        debug_assert_eq!(b.len(), n);
        let (res, b) = conn.write_all(b).await;
        if res.is_err() {
            return;
        }
        buf = b;
        buf.clear();
    }
}
