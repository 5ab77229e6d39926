//! hyper 1.x on ringio (feature `hyper`): servers and clients over `Compat`, with
//! `HyperExecutor` and `HyperTimer`, on both drivers.

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::rt::{Executor, Timer};
use hyper::{Request, Response};
use ringio::compat::{Compat, HyperExecutor, HyperSleep, HyperTimer};
use ringio::io::AsyncWriteOwned;
use ringio::net::{TcpListener, TcpStream};
use ringio::runtime::Driver;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use support::{fd_count, paused, rt, serial, Rng};

/// Echoes the request's body, prefixed by its method and path.
async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let head = format!("{} {}\n", req.method(), req.uri().path());
    let body = req.into_body().collect().await?.to_bytes();
    let mut out = head.into_bytes();
    out.extend_from_slice(&body);
    Ok(Response::new(Full::new(Bytes::from(out))))
}

/// Serves HTTP/1.1 on `listener` until aborted, counting accepted connections and the
/// connections still being served.
fn http1_server(
    listener: TcpListener,
    accepted: Rc<Cell<u32>>,
    live: Rc<Cell<u32>>,
) -> ringio::JoinHandle<()> {
    ringio::spawn(async move {
        loop {
            let (conn, _) = listener.accept().await.unwrap();
            accepted.set(accepted.get() + 1);
            live.set(live.get() + 1);
            let live = live.clone();
            drop(ringio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(HyperTimer)
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(Compat::new(conn), hyper::service::service_fn(echo))
                    .await;
                live.set(live.get() - 1);
            }));
        }
    })
}

fn body_of(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| b'a' + rng.below(26) as u8).collect()
}

/// A hyper HTTP/1.1 client on ringio asks a hyper server on ringio 40 requests over
/// one keep-alive connection, bodies from empty to 300 KiB (several receives and
/// partial sends), each echoed back whole and in order.
fn http1_keep_alive_requests_echo_bodies(d: Driver) {
    let _serial = serial(); // the fd-counting test must see no other's fds
    rt(d).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (accepted, live) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let _server = http1_server(listener, accepted.clone(), live.clone());
        let io = Compat::new(TcpStream::connect(addr).await.unwrap());
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        HyperExecutor.execute(async move {
            let _ = conn.await;
        });
        let mut rng = Rng::new(7);
        for i in 0..40usize {
            let len = match i % 4 {
                0 => 0,
                1 => 13,
                2 => 1 + rng.below(20_000) as usize,
                _ => 300 * 1024,
            };
            let body = body_of(&mut rng, len);
            let req = Request::post(format!("/r{i}"))
                .body(Full::new(Bytes::from(body.clone())))
                .unwrap();
            sender.ready().await.unwrap();
            let resp = sender.send_request(req).await.unwrap();
            assert_eq!(resp.status(), 200);
            let got = resp.into_body().collect().await.unwrap().to_bytes();
            let mut want = format!("POST /r{i}\n").into_bytes();
            want.extend_from_slice(&body);
            assert!(
                got == want[..],
                "request {i}: body of {len} bytes not echoed"
            );
        }
        assert_eq!(
            accepted.get(),
            1,
            "every request on one keep-alive connection"
        );
    });
}

/// HTTP/2 with prior knowledge (h2c): hyper's server and client over the same adapters,
/// 24 requests at once on one connection (one stream each, spawned by
/// `HyperExecutor`), every body echoed.
fn http2_prior_knowledge_concurrent_streams(d: Driver) {
    let _serial = serial(); // the fd-counting test must see no other's fds
    rt(d).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ringio::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            hyper::server::conn::http2::Builder::new(HyperExecutor)
                .timer(HyperTimer)
                .serve_connection(Compat::new(conn), hyper::service::service_fn(echo))
                .await
        });
        let io = Compat::new(TcpStream::connect(addr).await.unwrap());
        let (sender, conn) = hyper::client::conn::http2::Builder::new(HyperExecutor)
            .timer(HyperTimer)
            .handshake(io)
            .await
            .unwrap();
        HyperExecutor.execute(async move {
            let _ = conn.await;
        });
        let mut rng = Rng::new(9);
        let mut calls = Vec::new();
        for i in 0..24usize {
            let body = body_of(&mut rng, [0, 5, 70_000][i % 3]);
            let mut sender = sender.clone();
            calls.push(ringio::spawn(async move {
                let req = Request::post(format!("/s{i}"))
                    .body(Full::new(Bytes::from(body.clone())))
                    .unwrap();
                sender.ready().await.unwrap();
                let resp = sender.send_request(req).await.unwrap();
                assert_eq!(resp.version(), hyper::Version::HTTP_2);
                let got = resp.into_body().collect().await.unwrap().to_bytes();
                let mut want = format!("POST /s{i}\n").into_bytes();
                want.extend_from_slice(&body);
                assert!(got == want[..], "stream {i} not echoed");
            }));
        }
        for call in calls {
            call.await.unwrap();
        }
        drop(sender);
        // With the client gone the server's connection ends cleanly.
        let served = ringio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the server's connection ends once the client is gone");
        served.unwrap().unwrap();
    });
}

/// `HyperTimer` on the paused clock: a sleep ends at its deadline, `reset` moves the
/// same entry (earlier, then later), dropping a pending sleep takes its timer off the
/// wheel, and a sleep dropped on another thread is released by its home thread.
fn hyper_timer_sleep_reset_drop(d: Driver) {
    let _serial = serial(); // the fd-counting test must see no other's fds
    paused(d).block_on(async {
        let base = ringio::runtime::metrics().timers;
        let t = ringio::time::Instant::now();
        HyperTimer.sleep(Duration::from_millis(250)).await;
        assert!(t.elapsed() >= Duration::from_millis(250));
        assert!(t.elapsed() < Duration::from_millis(300));

        // Reset earlier: ends at the new deadline, not the old.
        let t = ringio::time::Instant::now();
        let mut s = HyperTimer.sleep(Duration::from_secs(100));
        assert!(support::poll_once(&mut s).is_none());
        assert_eq!(ringio::runtime::metrics().timers, base + 1);
        HyperTimer.reset(&mut s, HyperTimer.now() + Duration::from_millis(40));
        assert!(s.as_mut().downcast_mut_pin::<HyperSleep>().is_some());
        s.await;
        assert!(t.elapsed() >= Duration::from_millis(40));
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "the old deadline was kept"
        );

        // Reset later, after it ended: re-armed.
        let t = ringio::time::Instant::now();
        let mut s = HyperTimer.sleep(Duration::ZERO);
        (&mut s).await;
        HyperTimer.reset(&mut s, HyperTimer.now() + Duration::from_secs(3));
        s.await;
        assert!(t.elapsed() >= Duration::from_secs(3));

        // Dropped while pending: the wheel entry goes at once.
        let mut s = HyperTimer.sleep(Duration::from_secs(60));
        assert!(support::poll_once(&mut s).is_none());
        assert_eq!(ringio::runtime::metrics().timers, base + 1);
        drop(s);
        assert_eq!(ringio::runtime::metrics().timers, base);

        // Dropped on another thread (it is Send): released by the next sleep made here.
        let mut s = HyperTimer.sleep(Duration::from_secs(60));
        assert!(support::poll_once(&mut s).is_none());
        std::thread::spawn(move || drop(s)).join().unwrap();
        assert_eq!(
            ringio::runtime::metrics().timers,
            base + 1,
            "still registered"
        );
        HyperTimer.sleep(Duration::ZERO).await;
        assert_eq!(ringio::runtime::metrics().timers, base, "orphan released");
    });
}

/// hyper's header read timeout runs on `HyperTimer`: a client that sends half a
/// request head and stops is disconnected after the timeout (real clock, 200 ms).
fn header_read_timeout_disconnects_a_stalled_client(d: Driver) {
    let _serial = serial(); // the fd-counting test must see no other's fds
    rt(d).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ringio::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            hyper::server::conn::http1::Builder::new()
                .timer(HyperTimer)
                .header_read_timeout(Duration::from_millis(200))
                .serve_connection(Compat::new(conn), hyper::service::service_fn(echo))
                .await
        });
        let client = TcpStream::connect(addr).await.unwrap();
        let t = std::time::Instant::now();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec())
            .await
            .0
            .unwrap();
        let res = ringio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the server gives up on the stalled head")
            .unwrap();
        let err = res.expect_err("a timed-out head is an error");
        assert!(err.is_timeout(), "not a timeout: {err}");
        assert!(t.elapsed() >= Duration::from_millis(190));
        // And the client sees the connection closed.
        let mut got = Vec::new();
        loop {
            let (n, buf) = ringio::io::AsyncReadOwned::read(&client, vec![0u8; 1024]).await;
            match n {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        assert!(got.len() < 1024, "no more than an error response");
    });
}

/// Connections dropped mid-request (half a head, a head and half a body, a client
/// request future dropped in flight, a reset) end their server tasks and leak no fd.
fn connections_dropped_mid_request_leak_no_fd(d: Driver) {
    let _serial = serial();
    let before = fd_count();
    rt(d).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (accepted, live) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let server = http1_server(listener, accepted.clone(), live.clone());
        for round in 0..30u32 {
            let conn = TcpStream::connect(addr).await.unwrap();
            let partial: &[u8] = match round % 3 {
                0 => b"GET /half HTTP/1.1\r\nHo",
                1 => b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly some",
                _ => b"",
            };
            if !partial.is_empty() {
                conn.write_all(partial.to_vec()).await.0.unwrap();
            }
            if round % 3 == 2 {
                // A hyper client whose request is dropped while its body is unsent.
                let (mut sender, conn) = hyper::client::conn::http1::handshake(Compat::new(conn))
                    .await
                    .unwrap();
                let driver = ringio::spawn(conn);
                let req = Request::post("/big")
                    .body(Full::new(Bytes::from(vec![b'x'; 4 << 20])))
                    .unwrap();
                let mut call = Box::pin(sender.send_request(req));
                let _ = support::poll_once(&mut call);
                ringio::yield_now().await;
                drop(call);
                drop(sender);
                driver.abort();
            } else {
                ringio::yield_now().await;
                drop(conn);
            }
        }
        // Every server task ends (bounded wait).
        let t = std::time::Instant::now();
        while live.get() > 0 {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{} connection(s) still served",
                live.get()
            );
            ringio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(accepted.get(), 30);
        server.abort();
        let _ = server.await;
        support::settle().await;
    });
    assert_eq!(fd_count(), before, "fds leaked");
}

both_drivers!(
    http1_keep_alive_requests_echo_bodies,
    http2_prior_knowledge_concurrent_streams,
    hyper_timer_sleep_reset_drop,
    header_read_timeout_disconnects_a_stalled_client,
    connections_dropped_mid_request_leak_no_fd,
);
