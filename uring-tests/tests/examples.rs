//! The examples' own code, exercised through their public functions on both drivers.

mod support;

#[path = "../../examples/chat_server.rs"]
#[allow(dead_code)]
mod chat_server;

#[path = "../../examples/graceful_shutdown.rs"]
#[allow(dead_code)]
mod graceful_shutdown;

#[path = "../../examples/file_copy.rs"]
#[allow(dead_code)]
mod file_copy;

#[path = "../../examples/pipeline.rs"]
#[allow(dead_code)]
mod pipeline;

#[path = "../../examples/tls_echo.rs"]
#[allow(dead_code)]
mod tls_echo;

use ringio::io::{StreamReader, StreamWriter};
use ringio::net::{open_connection, OwnedReadHalf, OwnedWriteHalf};
use ringio::runtime::Driver;
use ringio::time::timeout;
use std::time::Duration;
use support::rt;

type Client = (StreamReader<OwnedReadHalf>, StreamWriter<OwnedWriteHalf>);

async fn line(c: &mut Client) -> Vec<u8> {
    timeout(Duration::from_secs(5), c.0.readline())
        .await
        .expect("no line within 5 s")
        .unwrap()
}

async fn say(c: &mut Client, text: &str) {
    c.1.write_all(text.as_bytes()).await.unwrap();
}

/// Three clients join, talk and leave; an over-long line is refused without dropping
/// the sender; the server stops cleanly with a client still connected.
fn chat_server_broadcasts_and_stops_cleanly(driver: Driver) {
    rt(driver).block_on(async {
        let (server, room) = chat_server::start("127.0.0.1:0").unwrap();
        let addr = server.local_addr();
        let mut ann = open_connection(addr).await.unwrap();
        say(&mut ann, "ann\n").await;
        let mut bob = open_connection(addr).await.unwrap();
        say(&mut bob, "bob\n").await;
        assert_eq!(line(&mut ann).await, b"* bob joined\n");
        let mut cid = open_connection(addr).await.unwrap();
        say(&mut cid, "cid\n").await;
        assert_eq!(line(&mut ann).await, b"* cid joined\n");
        assert_eq!(line(&mut bob).await, b"* cid joined\n");

        say(&mut ann, "hello all\n").await;
        assert_eq!(line(&mut bob).await, b"ann: hello all\n");
        assert_eq!(line(&mut cid).await, b"ann: hello all\n");

        // A line over the 4 KiB limit is refused; the sender stays.
        say(&mut bob, &format!("{}\n", "x".repeat(10_000))).await;
        assert_eq!(line(&mut bob).await, b"* line too long, dropped\n");
        say(&mut bob, "still here\n").await;
        assert_eq!(line(&mut ann).await, b"bob: still here\n");
        assert_eq!(line(&mut cid).await, b"bob: still here\n");

        say(&mut cid, "/quit\n").await;
        assert_eq!(line(&mut cid).await, b"", "the quitter is disconnected");
        assert_eq!(line(&mut ann).await, b"* cid left\n");
        assert_eq!(line(&mut bob).await, b"* cid left\n");
        assert_eq!(room.len(), 2);

        timeout(Duration::from_secs(5), chat_server::stop(&server, &room))
            .await
            .expect("the server did not stop");
        for c in [&mut ann, &mut bob] {
            assert_eq!(line(c).await, b"* server shutting down\n");
        }
        // Each saw the other leave (in either order), then end of stream.
        for c in [&mut ann, &mut bob] {
            loop {
                let l = line(c).await;
                if l.is_empty() {
                    break;
                }
                assert!(l.ends_with(b" left\n"), "{}", String::from_utf8_lossy(&l));
            }
        }
        assert!(room.is_empty());
        assert_eq!(server.clients(), 0);
    });
}

/// SIGTERM stops the server gracefully: a request in progress is answered, an idle
/// client and the busy one read end of stream, new connections are refused, and
/// `serve` returns having aborted nobody. A second run shows a request that outlives
/// the grace period is aborted.
fn graceful_shutdown_answers_running_requests_then_stops(driver: Driver) {
    use ringio::signal::SignalKind;
    use std::cell::Cell;
    use std::rc::Rc;
    let _serial = support::serial();
    rt(driver).block_on(async {
        for (request, grace, aborted) in [(300u64, 10_000u64, 0usize), (60_000, 100, 1)] {
            let addr = Rc::new(Cell::new(None));
            let server = {
                let addr = addr.clone();
                ringio::spawn(async move {
                    graceful_shutdown::serve(
                        "127.0.0.1:0",
                        Duration::from_millis(grace),
                        move |a| addr.set(Some(a)),
                    )
                    .await
                })
            };
            while addr.get().is_none() {
                ringio::task::yield_now().await;
            }
            let addr = addr.get().unwrap();
            let mut busy = open_connection(addr).await.unwrap();
            let mut idle = open_connection(addr).await.unwrap();
            say(&mut busy, "sleep 1\n").await;
            assert_eq!(line(&mut busy).await, b"slept 1\n");
            say(&mut busy, &format!("sleep {request}\n")).await;
            // Let the request start before the signal.
            ringio::time::sleep(Duration::from_millis(50)).await;
            // SAFETY: raise with a valid signal number; `serve` subscribed to it before
            // it reported its address.
            assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);

            assert_eq!(line(&mut idle).await, b"", "the idle client is closed");
            if aborted == 0 {
                assert_eq!(
                    line(&mut busy).await,
                    format!("slept {request}\n").as_bytes()
                );
            }
            assert_eq!(line(&mut busy).await, b"", "then the busy one");
            let report = timeout(Duration::from_secs(10), server)
                .await
                .expect("serve did not return")
                .unwrap()
                .unwrap();
            assert_eq!(report.stopped_by, Some(SignalKind::terminate()));
            assert_eq!(report.aborted, aborted);
            assert_eq!(report.answered, 2 - aborted as u64);
            assert!(
                std::net::TcpStream::connect(addr).is_err(),
                "a new connection is refused"
            );
        }
    });
}

/// The file copy example copies byte for byte: a file of several chunks and a ragged
/// end through a window smaller and larger than the chunk count, an empty file, and a
/// missing source is an error naming it.
fn file_copy_copies_exactly(driver: Driver) {
    let dir = std::env::temp_dir();
    let tag = format!("{}-{driver:?}", std::process::id());
    let (from, to) = (
        dir.join(format!("ringio-example-copy-src-{tag}")),
        dir.join(format!("ringio-example-copy-dst-{tag}")),
    );
    let mut rng = support::Rng::new(7);
    let data: Vec<u8> = (0..(3 << 20) + 4321)
        .map(|_| rng.next_u64() as u8)
        .collect();
    std::fs::write(&from, &data).unwrap();
    rt(driver).block_on(async {
        for (chunk, window) in [(64 << 10, 4), (1 << 20, 8), (1 << 20, 1)] {
            let copied = file_copy::copy(&from, &to, chunk, window).await.unwrap();
            assert_eq!(copied, data.len() as u64);
            assert!(
                std::fs::read(&to).unwrap() == data,
                "chunk {chunk}, window {window}"
            );
        }
        std::fs::write(&from, b"").unwrap();
        assert_eq!(file_copy::copy(&from, &to, 4096, 4).await.unwrap(), 0);
        assert!(std::fs::read(&to).unwrap().is_empty());
        std::fs::remove_file(&from).unwrap();
        let err = file_copy::copy(&from, &to, 4096, 4).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(err.to_string().contains(&*from.to_string_lossy()), "{err}");
    });
    let _ = std::fs::remove_file(&to);
}

/// `printf | grep | wc -l` wired child to child, then 20,000 lines (well past a pipe's
/// 64 KiB) fed from Rust through `cat | grep -v | wc -l`.
fn pipeline_wires_children_together(driver: Driver) {
    rt(driver).block_on(async {
        let out = timeout(
            Duration::from_secs(10),
            pipeline::run(
                &[
                    &["printf", "apple\nbanana\ncherry\navocado\n"],
                    &["grep", "a"],
                    &["wc", "-l"],
                ],
                None,
            ),
        )
        .await
        .expect("the pipeline did not finish")
        .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");
        assert_eq!(out.statuses.len(), 3);
        assert!(
            out.statuses.iter().all(|s| s.success()),
            "{:?}",
            out.statuses
        );

        let input: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        let expected = (0..20_000).filter(|i| !i.to_string().contains('7')).count();
        let out = timeout(
            Duration::from_secs(20),
            pipeline::run(
                &[&["cat"], &["grep", "-v", "7"], &["wc", "-l"]],
                Some(input.into_bytes()),
            ),
        )
        .await
        .expect("the pipeline did not finish")
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            expected.to_string()
        );
        assert!(
            out.statuses.iter().all(|s| s.success()),
            "{:?}",
            out.statuses
        );
    });
}

/// Lines fed to `grep` through a StreamWriter and read back through a StreamReader.
fn pipeline_greps_lines_streamed_from_rust(driver: Driver) {
    rt(driver).block_on(async {
        let input: String = (0..5_000).map(|i| format!("n{i}\n")).collect();
        let lines = timeout(
            Duration::from_secs(10),
            pipeline::grep_lines(input.into_bytes(), "99"),
        )
        .await
        .expect("grep did not finish")
        .unwrap();
        let expected: Vec<String> = (0..5_000)
            .map(|i| format!("n{i}"))
            .filter(|l| l.contains("99"))
            .collect();
        assert_eq!(lines, expected);
        let none = pipeline::grep_lines(b"a\nb\n".to_vec(), "zzz")
            .await
            .unwrap();
        assert!(none.is_empty());
    });
}

/// The TLS echo example: two clients in turn get their lines back over TLS, and a
/// client that does not trust the server's certificate is refused (the server goes
/// on).
fn tls_echo_round_trips(driver: Driver) {
    rt(driver).block_on(async {
        let (server_config, client_config) = tls_echo::configs();
        let listener = ringio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ringio::spawn(tls_echo::serve(
            listener,
            ringio::tls::TlsAcceptor::new(server_config),
        ));
        let connector = ringio::tls::TlsConnector::new(client_config);
        for round in 0..2 {
            let lines = [format!("round {round}"), "x".repeat(5000), String::new()];
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            let echoes = timeout(
                Duration::from_secs(10),
                tls_echo::round_trip(addr, &connector, &lines),
            )
            .await
            .expect("no echo within 10 s")
            .unwrap();
            assert_eq!(echoes, lines);
        }
        // Another self-signed certificate: the server's is not trusted.
        let (_, stranger) = tls_echo::configs();
        let err = tls_echo::round_trip(addr, &ringio::tls::TlsConnector::new(stranger), &["x"])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
        assert!(err.to_string().contains("certificate"), "{err}");
        let echoes = tls_echo::round_trip(addr, &connector, &["still serving"])
            .await
            .unwrap();
        assert_eq!(echoes, ["still serving"]);
        server.abort();
    });
}

both_drivers!(
    chat_server_broadcasts_and_stops_cleanly,
    graceful_shutdown_answers_running_requests_then_stops,
    file_copy_copies_exactly,
    pipeline_wires_children_together,
    pipeline_greps_lines_streamed_from_rust,
    tls_echo_round_trips,
);
