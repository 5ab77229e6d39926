//! TLS: request and reply over one loopback TLS 1.3 session.
//!
//! `tls_pingpong`: a client task writes 4 KiB and reads 4 KiB back, per iteration,
//! from an echo task on the same runtime, over TLS on one connection to 127.0.0.1 with
//! `TCP_NODELAY` on both ends: ringio's `tls::TlsStream` against tokio-rustls on
//! tokio's current_thread runtime.
//!
//! # Why the comparison is fair
//!
//! Both use rustls 0.23 with the `ring` provider, the same certificate and the same
//! negotiated suite (rustls's default: TLS 1.3, AES-256-GCM), and the ping-pong loops
//! of `tcp.rs` (`support/pingpong.rs`). The handshake happens once per variant,
//! outside the timing. What differs is each runtime's way of driving rustls: ringio
//! copies ciphertext from its receive pool into rustls and sends records from an owned
//! `Vec`; tokio-rustls reads into and writes from rustls's buffers with readiness I/O.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::net::SocketAddr;
use std::sync::Arc;

#[path = "support/pingpong.rs"]
mod pingpong;
mod support;

/// Bytes each way per round trip.
const SIZE: usize = 4096;

/// The loopback address to listen on, with a port the kernel picks.
const LOOPBACK: &str = "127.0.0.1:0";

/// A self-signed certificate for `localhost`: the server's configuration, and the
/// client's, which trusts it.
fn configs() -> (
    Arc<ringio::tls::rustls::ServerConfig>,
    Arc<ringio::tls::rustls::ClientConfig>,
) {
    use ringio::tls::rustls;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("server config");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

fn tls_pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("tls_pingpong");
    group.throughput(Throughput::Elements(1));
    let (server_config, client_config) = configs();
    {
        let rt = support::ringio();
        let acceptor = ringio::tls::TlsAcceptor::new(server_config.clone());
        let connector = ringio::tls::TlsConnector::new(client_config.clone());
        let (client, echo) = rt.block_on(async {
            let listener = ringio::net::TcpListener::bind(LOOPBACK).expect("bind");
            let addr: SocketAddr = listener.local_addr().expect("local_addr");
            let echo = ringio::spawn(async move {
                let (conn, _) = listener.accept().await.expect("accept");
                conn.set_nodelay(true).expect("nodelay");
                let tls = acceptor.accept(conn).await.expect("handshake");
                pingpong::ringio_echo(tls, SIZE).await;
            });
            let tcp = ringio::net::TcpStream::connect(addr)
                .await
                .expect("connect");
            tcp.set_nodelay(true).expect("nodelay");
            let client = connector
                .connect("localhost", tcp)
                .await
                .expect("handshake");
            (client, echo)
        });
        pingpong::ringio_rounds(&mut group, "ringio", &rt, &client, SIZE);
        rt.block_on(async {
            ringio::io::ShutdownWrite::shutdown_write(&client)
                .await
                .expect("close_notify");
            echo.await.expect("echo task");
        });
    }
    {
        let rt = support::tokio();
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config);
        let connector = tokio_rustls::TlsConnector::from(client_config);
        let (mut client, echo) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind(LOOPBACK).await.expect("bind");
            let addr = listener.local_addr().expect("local_addr");
            let echo = tokio::spawn(async move {
                let (conn, _) = listener.accept().await.expect("accept");
                conn.set_nodelay(true).expect("nodelay");
                let tls = acceptor.accept(conn).await.expect("handshake");
                pingpong::tokio_echo(tls, SIZE).await;
            });
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            tcp.set_nodelay(true).expect("nodelay");
            let name =
                ringio::tls::rustls::pki_types::ServerName::try_from("localhost").expect("name");
            let client = connector.connect(name, tcp).await.expect("handshake");
            (client, echo)
        });
        pingpong::tokio_rounds(&mut group, "tokio", &rt, &mut client, SIZE);
        rt.block_on(async {
            tokio::io::AsyncWriteExt::shutdown(&mut client)
                .await
                .expect("close_notify");
            echo.await.expect("echo task");
        });
    }
    group.finish();
}

criterion_group!(benches, tls_pingpong);
criterion_main!(benches);
