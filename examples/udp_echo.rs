//! A UDP echo server: every datagram received is sent straight back to its sender.
//!
//! ```text
//! cargo run --release --example udp_echo -- 127.0.0.1:7879
//! cargo run --release --example udp_echo -- 127.0.0.1:7879 --driver epoll
//! RINGIO_DRIVER=epoll cargo run --release --example udp_echo -- 127.0.0.1:7879
//! cargo run --release --example udp_echo -- 127.0.0.1:0 --count 1000   # exit after 1000
//! ```
//!
//! Try it with `nc -u 127.0.0.1 7879` (type a line, get it back). Each datagram is
//! received into a buffer of a shared pool (`UdpSocket::recv_from_pooled`: on io_uring
//! a multishot receive that takes a buffer only when a datagram arrives) and that same
//! buffer is sent back with `send_to`, then returns to the pool. A datagram larger
//! than a buffer is reported and not echoed: a prefix of it would be a different
//! datagram. It prints the driver it runs on and the address it is bound to.
//!
//! `uring-tests/tests/udp.rs` (`udp_echo_example_serves_clients`) includes this file
//! and runs [`serve`] against clients, on both drivers.

use ringio::buf::BufPool;
use ringio::net::{DatagramTruncated, UdpSocket};
use ringio::runtime::Driver;

/// Receive buffers shared by the socket's datagrams in flight.
const POOL_BUFFERS: usize = 256;
/// Bytes per buffer: the largest datagram echoed is this less
/// `UdpSocket::POOL_HEADROOM`.
const BUF_SIZE: usize = 2048;

#[allow(dead_code)] // a test includes this file for `serve`
fn main() {
    let mut addr: Option<String> = None;
    let mut driver: Option<Driver> = None;
    let mut count: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--driver" => {
                driver = match args.next().as_deref() {
                    Some("uring") => Some(Driver::Uring),
                    Some("epoll") => Some(Driver::Epoll),
                    Some("auto") => Some(Driver::Auto),
                    other => usage(&format!(
                        "--driver needs uring, epoll or auto, not {other:?}"
                    )),
                }
            }
            "--count" => {
                count = args.next().and_then(|v| v.parse().ok()).filter(|&n| n > 0);
                if count.is_none() {
                    usage("--count needs a positive number");
                }
            }
            "-h" | "--help" => {
                println!("usage: udp_echo ADDRESS [--driver uring|epoll|auto] [--count DATAGRAMS]   (or RINGIO_DRIVER=...)");
                return;
            }
            other if addr.is_none() && !other.starts_with('-') => addr = Some(other.to_string()),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let addr = addr.unwrap_or_else(|| usage("an address to bind is needed, e.g. 127.0.0.1:7879"));
    let mut builder = ringio::Builder::new();
    if let Some(driver) = driver {
        builder.driver(driver); // else RINGIO_DRIVER, else auto
    }
    let rt = builder.build().unwrap_or_else(|e| {
        eprintln!("udp_echo: cannot start the runtime: {e}");
        std::process::exit(1);
    });
    let info = rt.driver_info();
    rt.block_on(async {
        let socket = UdpSocket::bind(addr.as_str()).unwrap_or_else(|e| {
            eprintln!("udp_echo: cannot bind {addr}: {e}");
            std::process::exit(1);
        });
        let pool = BufPool::new(POOL_BUFFERS, BUF_SIZE).expect("receive buffer pool");
        println!("udp_echo: {} on {info}", socket.local_addr().unwrap());
        let served = serve(&socket, &pool, count).await;
        println!("udp_echo: served {served} datagram(s)");
    });
}

/// Echoes datagrams until `max_datagrams` have been received (forever if `None`);
/// returns how many were.
pub async fn serve(socket: &UdpSocket, pool: &BufPool, max_datagrams: Option<u64>) -> u64 {
    let mut served = 0u64;
    while !matches!(max_datagrams, Some(max) if served >= max) {
        match socket.recv_from_pooled(pool).await {
            Ok((buf, peer)) => {
                // The very buffer goes back out; it returns to the pool once sent.
                let (res, _buf) = socket.send_to(buf, peer).await;
                if let Err(e) = res {
                    // A peer that went away, say: the server goes on.
                    eprintln!("udp_echo: send to {peer}: {e}");
                }
            }
            Err(e) if DatagramTruncated::from_io(&e).is_some() => eprintln!("udp_echo: {e}"),
            Err(e) => eprintln!("udp_echo: receive failed: {e}"),
        }
        served += 1;
    }
    served
}

#[allow(dead_code)]
fn usage(msg: &str) -> ! {
    eprintln!("udp_echo: {msg} (try --help)");
    std::process::exit(2);
}
