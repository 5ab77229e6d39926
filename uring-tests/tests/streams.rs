//! `StreamWriter` (ASYNCIO.md §5.3) and `open_connection` / `start_server` / `Server`
//! (§5.1) on both drivers: every Check of the spec, a dropped `drain` losing no byte,
//! a panicking handler reported while the server goes on, `close_clients`,
//! `abort_clients`, and accept out of fds backing off until fds free up.

mod support;

use ringio::io::{AsyncReadOwned, StreamReader, StreamWriter};
use ringio::net::{open_connection, start_server, Server, TcpListener, TcpStream};
use ringio::runtime::{Builder, Driver, Runtime};
use ringio::time::{sleep, timeout};
use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{fd_count, pair, poll_once, reset, rt, serial, set_fd_limit};

/// Deterministic bytes: byte `i` of the stream.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A line-echo server: each line comes back, until end of stream.
fn echo_server() -> Server {
    start_server("127.0.0.1:0", |mut reader, mut writer| async move {
        loop {
            match reader.readline().await {
                Ok(line) if line.is_empty() => return,
                Ok(line) => {
                    if writer.write_all(&line).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    })
    .unwrap()
}

/// Writer Check 1: 10 MiB to a peer that does not read leaves `drain` pending until it
/// reads; every byte then arrives in order.
fn drain_waits_for_a_slow_peer(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let (c, s) = pair().await;
        let data = pattern(10 << 20);
        let mut w = StreamWriter::new(c);
        w.write(&data).unwrap();
        assert!(
            timeout(Duration::from_millis(200), w.drain())
                .await
                .is_err(),
            "drain returned while 10 MiB sat unread"
        );
        let reader = ringio::spawn(async move {
            let (res, got) = s.read_exact(vec![0u8; 10 << 20]).await;
            res.unwrap();
            got
        });
        timeout(Duration::from_secs(10), w.drain())
            .await
            .expect("drain never returned")
            .unwrap();
        w.flush().await.unwrap();
        assert_eq!(w.write_buffer_size(), 0);
        assert!(reader.await.unwrap() == data, "bytes lost or reordered");
    });
}

/// Written bytes go out in the background, without `drain` or `flush`: a writer that
/// writes a request in two parts and then waits for the reply is answered, and 8 MiB
/// written at once (more than the socket takes) all arrive while the writer only waits
/// to read.
fn written_bytes_go_out_without_drain(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let (c, s) = pair().await;
        let peer = ringio::spawn(async move {
            let s = Rc::new(s);
            let mut r = StreamReader::new(s.clone());
            let request = r.readexactly(8).await.unwrap();
            let big = r.readexactly(8 << 20).await.unwrap();
            assert!(big == pattern(8 << 20), "bytes lost or reordered");
            let mut w = StreamWriter::new(s);
            w.write_all(&request).await.unwrap();
        });
        let (rd, wr) = c.into_split();
        let mut w = StreamWriter::new(wr);
        w.write(b"head").unwrap();
        w.write(b"body").unwrap();
        w.write(&pattern(8 << 20)).unwrap();
        w.drain().await.ok(); // above the mark: waits down to 16 KiB, not to 0
        let mut r = StreamReader::new(rd);
        let reply = timeout(Duration::from_secs(10), r.readexactly(8))
            .await
            .expect("the request's tail was never sent")
            .unwrap();
        assert_eq!(reply, b"headbody");
        peer.await.unwrap();
    });
}

/// Writer Check 2: a peer reset makes `drain` fail with `ConnectionReset` or
/// `BrokenPipe`, and every later call too.
fn drain_reports_a_peer_reset(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().await.unwrap();
        reset(peer);
        let mut w = StreamWriter::new(s);
        let chunk = pattern(64 * 1024);
        let mut failure = None;
        for _ in 0..1000 {
            if let Err(e) = w.write(&chunk) {
                failure = Some(e);
                break;
            }
            if let Err(e) = w.drain().await {
                failure = Some(e);
                break;
            }
        }
        let e = failure.expect("writes to a reset peer never failed");
        assert!(
            matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
            "{e:?}"
        );
        assert!(w.write(b"x").is_err(), "the error is kept");
    });
}

/// Writer Check 3: after `shutdown_write` the peer reads end of stream and the other
/// direction keeps working.
fn shutdown_write_half_closes(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let (c, s) = pair().await;
        let (rd, wr) = c.into_split();
        let mut w = StreamWriter::new(wr);
        w.write(b"last words").unwrap();
        w.shutdown_write().await.unwrap();
        let s = Rc::new(s);
        let mut peer = StreamReader::new(s.clone());
        assert_eq!(peer.read_to_end().await.unwrap(), b"last words");
        let mut back = StreamWriter::new(s);
        back.write_all(b"still here").await.unwrap();
        let mut r = StreamReader::new(rd);
        assert_eq!(r.readexactly(10).await.unwrap(), b"still here");
    });
}

/// Writer Check 4: a write after `close` is `BrokenPipe`; what was written before still
/// arrives.
fn write_after_close_is_broken_pipe(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let (c, s) = pair().await;
        let mut w = StreamWriter::new(c);
        w.write(b"before").unwrap();
        w.close();
        assert!(w.is_closing());
        assert_eq!(w.write(b"after").unwrap_err().kind(), ErrorKind::BrokenPipe);
        w.wait_closed().await.unwrap();
        let mut r = StreamReader::new(s);
        assert_eq!(r.read_to_end().await.unwrap(), b"before");
    });
}

/// `drain` and `flush` dropped at random points while the peer reads slowly: every
/// byte arrives once, in order.
fn dropped_drains_lose_no_bytes(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let (c, s) = pair().await;
        let total = 16 << 20;
        let data = pattern(total);
        let reader = ringio::spawn(async move {
            // Start late, so the socket buffers fill and sends wait.
            sleep(Duration::from_millis(100)).await;
            let mut r = StreamReader::new(s);
            let mut got = Vec::with_capacity(total);
            while got.len() < total {
                let chunk = r.read(100_000).await.unwrap();
                assert!(!chunk.is_empty(), "early end of stream");
                got.extend(chunk);
                ringio::yield_now().await;
            }
            got
        });
        let mut w = StreamWriter::new(c);
        w.set_write_buffer_limits(32 * 1024, 8 * 1024);
        let mut drops = 0;
        for (i, piece) in data.chunks(50_000).enumerate() {
            w.write(piece).unwrap();
            if i % 2 == 0 {
                let mut drain = Box::pin(w.drain());
                if poll_once(&mut drain).is_none() {
                    drops += 1;
                }
            } else {
                let mut flush = Box::pin(w.flush());
                if poll_once(&mut flush).is_none() {
                    drops += 1;
                }
            }
            ringio::yield_now().await;
        }
        w.flush().await.unwrap();
        assert!(drops > 0, "no drain was dropped pending");
        assert!(reader.await.unwrap() == data, "bytes lost or reordered");
    });
}

/// Server Check 1: connecting to a refused port is `ConnectionRefused`.
fn open_connection_refused(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = open_connection(("127.0.0.1", port)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    });
}

/// Server Check 2: connects dropped in flight, in a loop, leak no fd; names resolve.
fn dropped_connects_leak_no_fd(driver: Driver) {
    let _serial = serial();
    let fds = fd_count();
    let rt = rt(driver);
    rt.block_on(async {
        let server = echo_server();
        let port = server.local_addr().port();
        for i in 0..300 {
            let mut connect = Box::pin(open_connection(("127.0.0.1", port)));
            if i % 3 == 0 {
                ringio::yield_now().await;
            }
            let _ = poll_once(&mut connect);
            drop(connect);
        }
        // Still serving, by name too.
        let (mut r, mut w) = open_connection(("localhost", port)).await.unwrap();
        w.write_all(b"hi\n").await.unwrap();
        assert_eq!(r.readline().await.unwrap(), b"hi\n");
        drop((r, w));
        server.close();
        server.close_clients();
        timeout(Duration::from_secs(5), server.wait_closed())
            .await
            .expect("handlers never finished");
    });
    drop(rt);
    assert_eq!(fd_count(), fds, "fds leaked");
}

/// Server Checks 3 and 4: after `close`, new connects fail while an existing connection
/// still echoes; `wait_closed` waits for its handler.
fn close_keeps_clients_and_wait_closed_waits_for_them(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let server = echo_server();
        let addr = server.local_addr();
        let (mut r, mut w) = open_connection(addr).await.unwrap();
        assert_eq!(w.peer_addr().unwrap(), addr);
        w.write_all(b"one\n").await.unwrap();
        assert_eq!(r.readline().await.unwrap(), b"one\n");
        server.close();
        assert!(!server.is_serving());
        let refused = timeout(Duration::from_secs(5), open_connection(addr))
            .await
            .expect("connect hung");
        assert_eq!(refused.unwrap_err().kind(), ErrorKind::ConnectionRefused);
        w.write_all(b"two\n").await.unwrap();
        assert_eq!(
            r.readline().await.unwrap(),
            b"two\n",
            "the client was dropped"
        );
        let waited = Rc::new(Cell::new(false));
        let waiter = {
            let waited = waited.clone();
            let server = Rc::new(server);
            let s = server.clone();
            (
                ringio::spawn(async move {
                    s.wait_closed().await;
                    waited.set(true);
                }),
                server,
            )
        };
        sleep(Duration::from_millis(50)).await;
        assert!(!waited.get(), "wait_closed returned while a handler ran");
        assert_eq!(waiter.1.clients(), 1);
        w.close();
        w.wait_closed().await.unwrap();
        timeout(Duration::from_secs(5), waiter.0)
            .await
            .expect("wait_closed never returned")
            .unwrap();
        assert!(waited.get());
    });
}

/// Server Check 5: a handler that panics is reported, and the server keeps serving.
fn panicking_handler_is_reported_and_the_server_goes_on(driver: Driver) {
    let _serial = serial();
    let reports = Arc::new(AtomicUsize::new(0));
    let rt: Runtime = {
        let reports = reports.clone();
        Builder::new()
            .driver(driver)
            .exception_handler(move |report| {
                assert!(report.message.contains("handler blew up"), "{report}");
                reports.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap()
    };
    rt.block_on(async {
        let server = start_server("127.0.0.1:0", |mut reader, mut writer| async move {
            let line = reader.readline().await.unwrap();
            if line == b"panic\n" {
                panic!("handler blew up");
            }
            writer.write_all(&line).await.unwrap();
        })
        .unwrap();
        let (_r, mut w) = open_connection(server.local_addr()).await.unwrap();
        w.write_all(b"panic\n").await.unwrap();
        for _ in 0..200 {
            if reports.load(Ordering::SeqCst) > 0 {
                break;
            }
            sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            reports.load(Ordering::SeqCst),
            1,
            "the panic was not reported"
        );
        let (mut r, mut w) = open_connection(server.local_addr()).await.unwrap();
        w.write_all(b"fine\n").await.unwrap();
        assert_eq!(r.readline().await.unwrap(), b"fine\n");

        // A handler whose synchronous part (before its future) panics: the same.
        let calls = Rc::new(Cell::new(0));
        let sync_panics = {
            let calls = calls.clone();
            start_server("127.0.0.1:0", move |mut reader, mut writer| {
                calls.set(calls.get() + 1);
                if calls.get() == 1 {
                    panic!("handler blew up before its future");
                }
                async move {
                    let line = reader.readline().await.unwrap();
                    writer.write_all(&line).await.unwrap();
                }
            })
            .unwrap()
        };
        let _first = open_connection(sync_panics.local_addr()).await.unwrap();
        for _ in 0..200 {
            if reports.load(Ordering::SeqCst) > 1 {
                break;
            }
            sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            reports.load(Ordering::SeqCst),
            2,
            "the panic was not reported"
        );
        let (mut r, mut w) = open_connection(sync_panics.local_addr()).await.unwrap();
        w.write_all(b"still\n").await.unwrap();
        let line = timeout(Duration::from_secs(5), r.readline())
            .await
            .expect("the server stopped accepting after a handler panicked")
            .unwrap();
        assert_eq!(line, b"still\n");
        assert!(sync_panics.is_serving());
        sync_panics.close();
        sync_panics.close_clients();
        timeout(Duration::from_secs(5), sync_panics.wait_closed())
            .await
            .expect("wait_closed hung after a handler panicked");
    });
}

/// Bad input: a client sends a 1 MiB line to a handler reading with the default
/// 64 KiB limit; the handler gets `LimitOverrun` (and answers so), and the server goes
/// on serving another client meanwhile and after.
fn megabyte_line_to_a_server(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let server = start_server("127.0.0.1:0", |mut reader, mut writer| async move {
            loop {
                match reader.readline().await {
                    Ok(line) if line.is_empty() => return,
                    Ok(line) => {
                        if writer.write_all(&line).await.is_err() {
                            return;
                        }
                    }
                    Err(ringio::io::ReadError::LimitOverrun { .. }) => {
                        let _ = writer.write_all(b"too long\n").await;
                        return;
                    }
                    Err(_) => return,
                }
            }
        })
        .unwrap();
        let addr = server.local_addr();
        let (mut good_r, mut good_w) = open_connection(addr).await.unwrap();
        let (mut bad_r, bad_w) = open_connection(addr).await.unwrap();
        let flood = ringio::spawn(async move {
            let mut bad_w = bad_w;
            let line = vec![b'x'; 1 << 20];
            // The server stops reading after the limit: the write may never finish.
            let _ = timeout(Duration::from_secs(2), bad_w.write_all(&line)).await;
            bad_w
        });
        good_w.write_all(b"meanwhile\n").await.unwrap();
        assert_eq!(good_r.readline().await.unwrap(), b"meanwhile\n");
        let answer = timeout(Duration::from_secs(5), bad_r.readline())
            .await
            .expect("no answer to the long line")
            .unwrap();
        assert_eq!(answer, b"too long\n");
        good_w.write_all(b"after\n").await.unwrap();
        assert_eq!(good_r.readline().await.unwrap(), b"after\n");
        drop(flood.await.unwrap());
    });
}

/// `close_clients` ends handlers waiting on a read; `abort_clients` ends handlers
/// that never return.
fn close_clients_and_abort_clients(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let server = echo_server();
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(open_connection(server.local_addr()).await.unwrap());
        }
        for _ in 0..100 {
            if server.clients() == 3 {
                break;
            }
            sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(server.clients(), 3);
        server.close();
        server.close_clients();
        timeout(Duration::from_secs(5), server.wait_closed())
            .await
            .expect("close_clients left handlers running");
        for (r, _) in &mut clients {
            assert_eq!(
                r.readline().await.unwrap(),
                b"",
                "the client saw no end of stream"
            );
        }

        let stubborn = start_server("127.0.0.1:0", |_r, _w| std::future::pending()).unwrap();
        let _c = open_connection(stubborn.local_addr()).await.unwrap();
        for _ in 0..100 {
            if stubborn.clients() == 1 {
                break;
            }
            sleep(Duration::from_millis(2)).await;
        }
        stubborn.close();
        stubborn.abort_clients();
        timeout(Duration::from_secs(5), stubborn.wait_closed())
            .await
            .expect("abort_clients left a handler running");
        assert_eq!(stubborn.clients(), 0);
    });
}

/// Out of fds, the server's accept fails with EMFILE; it backs off and serves the
/// waiting client once fds free up.
fn emfile_on_accept_does_not_stop_the_server(driver: Driver) {
    let _serial = serial();
    rt(driver).block_on(async {
        let server = echo_server();
        let addr = server.local_addr();
        let client = TcpStream::connect(addr).await.unwrap();
        // The connection waits in the backlog; the server cannot accept it.
        let old = set_fd_limit(fd_count() as u64 + 1);
        // Hold the one spare fd so accept has none.
        let spare = std::fs::File::open("/dev/null");
        sleep(Duration::from_millis(300)).await;
        drop(spare);
        set_fd_limit(old);
        let (rd, wr) = client.into_split();
        let mut w = StreamWriter::new(wr);
        let mut r = StreamReader::new(rd);
        w.write_all(b"after EMFILE\n").await.unwrap();
        let line = timeout(Duration::from_secs(5), r.readline())
            .await
            .expect("the server stopped serving after EMFILE")
            .unwrap();
        assert_eq!(line, b"after EMFILE\n");
    });
}

/// One SO_REUSEPORT listener per worker: connections land on both workers, each
/// served there; after `close` new connects are refused while existing clients are
/// served; `close_clients` and `wait_closed` end it.
fn per_worker_servers_spread_connections(driver: Driver) {
    let _serial = serial();
    let rt = support::workers(driver, 2);
    let seen = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let handler_seen = seen.clone();
    rt.block_on(async move {
        let servers = ringio::net::start_server_per_worker(
            "127.0.0.1:0",
            &ringio::net::ServerOptions::new(),
            move |mut reader, mut writer| {
                let seen = handler_seen.clone();
                async move {
                    let worker = ringio::runtime::Handle::current_worker().unwrap();
                    seen.lock().unwrap().insert(worker);
                    while let Ok(line) = reader.readline().await {
                        if line.is_empty() || writer.write_all(&line).await.is_err() {
                            return;
                        }
                    }
                }
            },
        )
        .unwrap();
        assert_eq!(servers.workers(), 2);
        let addr = servers.local_addr();
        let mut clients = Vec::new();
        for i in 0..32 {
            let (mut r, mut w) = open_connection(addr).await.unwrap();
            w.write_all(format!("{i}\n").as_bytes()).await.unwrap();
            assert_eq!(r.readline().await.unwrap(), format!("{i}\n").as_bytes());
            clients.push((r, w));
        }
        assert_eq!(
            seen.lock().unwrap().len(),
            2,
            "32 connections all landed on one worker"
        );
        servers.close();
        let mut refused = false;
        for _ in 0..100 {
            match open_connection(addr).await {
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    refused = true;
                    break;
                }
                _ => sleep(Duration::from_millis(5)).await,
            }
        }
        assert!(refused, "connects still accepted after close");
        for (i, (r, w)) in clients.iter_mut().enumerate() {
            w.write_all(format!("after {i}\n").as_bytes())
                .await
                .unwrap();
            assert_eq!(
                r.readline().await.unwrap(),
                format!("after {i}\n").as_bytes()
            );
        }
        servers.close_clients();
        timeout(Duration::from_secs(5), servers.wait_closed())
            .await
            .expect("the workers' servers never finished");
    });
}

both_drivers!(
    written_bytes_go_out_without_drain,
    per_worker_servers_spread_connections,
    megabyte_line_to_a_server,
    drain_waits_for_a_slow_peer,
    drain_reports_a_peer_reset,
    shutdown_write_half_closes,
    write_after_close_is_broken_pipe,
    dropped_drains_lose_no_bytes,
    open_connection_refused,
    dropped_connects_leak_no_fd,
    close_keeps_clients_and_wait_closed_waits_for_them,
    panicking_handler_is_reported_and_the_server_goes_on,
    close_clients_and_abort_clients,
    emfile_on_accept_does_not_stop_the_server,
);
