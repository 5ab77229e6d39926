//! A server that SIGTERM (or Ctrl-C) stops gracefully, as a service manager or a
//! container runtime expects.
//!
//! ```text
//! cargo run --example graceful_shutdown -- 127.0.0.1:7001
//! # in another terminal:  printf 'sleep 3000\n' | nc 127.0.0.1 7001 &  kill -TERM <pid>
//! ```
//!
//! The protocol is one request per line: `sleep MS` answers `slept MS` after MS
//! milliseconds. On SIGTERM or SIGINT the server stops accepting (new connections are
//! refused), lets every client finish the request it is being served, closes idle
//! connections, and waits for its handlers; whatever is still running after the grace
//! period is aborted. The signal streams are subscribed before the server listens, so
//! no signal can arrive in a window where it would still kill the process.

use ringio::io::{StreamReader, StreamWriter};
use ringio::net::{OwnedReadHalf, OwnedWriteHalf};
use ringio::signal::{signal, SignalKind};
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

/// What a run of [`serve`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Requests answered.
    pub answered: u64,
    /// Clients whose handlers were still running after the grace period, and aborted.
    pub aborted: usize,
    /// The signal that stopped the server.
    pub stopped_by: Option<SignalKind>,
}

/// One client: answers `sleep MS` lines until end of stream.
async fn client(
    answered: Rc<Cell<u64>>,
    mut reader: StreamReader<OwnedReadHalf>,
    mut writer: StreamWriter<OwnedWriteHalf>,
) {
    while let Ok(line) = reader.readline().await {
        if line.is_empty() {
            break; // end of stream: the client left, or the server closed its reading
        }
        let text = String::from_utf8_lossy(line.trim_ascii()).into_owned();
        let reply = match text.strip_prefix("sleep ").map(str::parse::<u64>) {
            Some(Ok(ms)) => {
                ringio::time::sleep(Duration::from_millis(ms)).await;
                format!("slept {ms}\n")
            }
            _ => format!("error: unknown request {text:?}\n"),
        };
        if writer.write_all(reply.as_bytes()).await.is_err() {
            break;
        }
        answered.set(answered.get() + 1);
    }
    let _ = writer.wait_closed().await;
}

/// Serves on `addr` until SIGTERM or SIGINT, then shuts down gracefully, giving
/// running requests up to `grace`. `on_ready` is told the address once the server
/// listens and the signals are watched.
pub async fn serve(
    addr: &str,
    grace: Duration,
    on_ready: impl FnOnce(SocketAddr),
) -> io::Result<Report> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let answered = Rc::new(Cell::new(0));
    let server = {
        let answered = answered.clone();
        ringio::net::start_server(addr, move |r, w| client(answered.clone(), r, w))?
    };
    on_ready(server.local_addr());

    let stopped_by = std::future::poll_fn(|cx| {
        if term.poll_recv(cx).is_ready() {
            return std::task::Poll::Ready(SignalKind::terminate());
        }
        if int.poll_recv(cx).is_ready() {
            return std::task::Poll::Ready(SignalKind::interrupt());
        }
        std::task::Poll::Pending
    })
    .await;

    // No new connections; each handler reads end of stream after its current request.
    server.close();
    server.close_clients();
    let mut aborted = 0;
    if ringio::time::timeout(grace, server.wait_closed())
        .await
        .is_err()
    {
        aborted = server.clients();
        server.abort_clients();
        server.wait_closed().await;
    }
    Ok(Report {
        answered: answered.get(),
        aborted,
        stopped_by: Some(stopped_by),
    })
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7001".into());
    let report = ringio::run(serve(&addr, Duration::from_secs(10), |a| {
        println!(
            "listening on {a} (pid {}); SIGTERM or Ctrl-C stops",
            std::process::id()
        )
    }))?;
    println!(
        "stopped by {}: {} requests answered, {} clients aborted",
        report
            .stopped_by
            .map_or("nothing".into(), |s| s.to_string()),
        report.answered,
        report.aborted
    );
    Ok(())
}
