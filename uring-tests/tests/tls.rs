//! `ringio::tls`: rustls over ringio streams, on both drivers. Certificates (a CA and
//! leaves it signs) are made at test time with rcgen.

mod support;

use ringio::compat::Compat;
use ringio::io::{AsyncReadOwned, AsyncWriteOwned, ShutdownWrite, StreamReader, StreamWriter};
use ringio::net::{open_connection, TcpListener, TcpStream, UnixStream};
use ringio::runtime::Driver;
use ringio::time::timeout;
use ringio::tls::rustls::{self, pki_types::PrivateKeyDer, CertificateError};
use ringio::tls::{TlsAcceptor, TlsConnector, TlsError, TlsStream};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{fd_count, poll_once, rt, serial, Rng};

/// A bound on every test body: a hang fails instead of stalling the run.
const LIMIT: Duration = Duration::from_secs(30);

/// A CA, a server configuration with a leaf for `localhost` it signed (valid from
/// `not_before` to `not_after`), and a client configuration trusting the CA.
struct Pki {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    /// The client's trust: the CA alone.
    roots: rustls::RootCertStore,
}

fn pki_valid(from: (i32, u8, u8), until: (i32, u8, u8)) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "ringio test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    leaf.not_after = rcgen::date_time_ymd(until.0, until.1, until.2);
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();

    let key = PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let server = rustls::ServerConfig::builder() // ring: the only provider built in
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone(), ca_cert.der().clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder() // ring: the only provider built in
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    Pki {
        server: Arc::new(server),
        client: Arc::new(client),
        roots,
    }
}

fn pki() -> Pki {
    pki_valid((2020, 1, 1), (4000, 1, 1))
}

/// A loopback listener that accepts one connection and runs the server handshake on it:
/// its address, and the task giving the handshake's outcome.
fn accept_one(
    config: &Arc<rustls::ServerConfig>,
) -> (
    std::net::SocketAddr,
    ringio::task::JoinHandle<io::Result<TlsStream<TcpStream>>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::new(config.clone());
    let server = ringio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        acceptor.accept(tcp).await
    });
    (addr, server)
}

/// A TLS session over loopback TCP: (client, server).
async fn tls_pair(pki: &Pki) -> (TlsStream<TcpStream>, TlsStream<TcpStream>) {
    let (addr, server) = accept_one(&pki.server);
    let connector = TlsConnector::new(pki.client.clone());
    let client = connector
        .connect("localhost", TcpStream::connect(addr).await.unwrap())
        .await
        .unwrap();
    (client, server.await.unwrap().unwrap())
}

/// Runs `body` on a fresh runtime of driver `d`, one test at a time (fd counts), within
/// [`LIMIT`].
fn bounded(d: Driver, body: impl std::future::Future<Output = ()>) {
    let _serial = serial();
    bounded_unserialized(d, body);
}

/// [`bounded`] for a test that holds the lock itself (to count fds around the runtime).
fn bounded_unserialized(d: Driver, body: impl std::future::Future<Output = ()>) {
    rt(d).block_on(async {
        timeout(LIMIT, body).await.expect("test body within 30 s");
    });
}

/// The rustls error inside an `InvalidData` I/O error.
fn rustls_error(e: &io::Error) -> &rustls::Error {
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>())
        .unwrap_or_else(|| panic!("no TlsError inside {e:?}"));
    let source = std::error::Error::source(e).expect("rustls's error is the source");
    assert!(source.downcast_ref::<rustls::Error>().is_some());
    tls.rustls_error()
}

/// Several messages each way, a 1 MiB payload echoed while it is still being sent
/// (the server through `StreamReader`/`StreamWriter`), then `close_notify` each way:
/// both sides read a clean end of stream.
fn round_trip_messages_mebibyte_and_close_notify(d: Driver) {
    bounded(d, async {
        let (client, server) = tls_pair(&pki()).await;
        assert!(client.connection().protocol_version().is_some());
        let echo = ringio::spawn(async move {
            let (mut reader, mut writer) = server.into_streams();
            let mut total = 0;
            loop {
                let chunk = reader.read(64 * 1024).await.unwrap();
                if chunk.is_empty() {
                    break; // the client's close_notify
                }
                total += chunk.len();
                writer.write(&chunk).unwrap();
                writer.drain().await.unwrap();
            }
            assert!(reader.at_eof());
            writer.close();
            writer.wait_closed().await.unwrap(); // close_notify back
            total
        });
        let client = Rc::new(client);
        let mut sent = 0;
        for i in 0..20 {
            let msg = format!("message {i} {}", "x".repeat(i * 37));
            client.write_all(msg.clone().into_bytes()).await.0.unwrap();
            let (res, back) = client.read_exact(vec![0u8; msg.len()]).await;
            res.unwrap();
            assert_eq!(back, msg.as_bytes());
            sent += msg.len();
        }
        let mut rng = Rng::new(7);
        let big: Vec<u8> = (0..1 << 20).map(|_| rng.next_u64() as u8).collect();
        let sender = ringio::spawn({
            let client = client.clone();
            let big = big.clone();
            async move { client.write_all(big).await.0.unwrap() }
        });
        let mut got = Vec::with_capacity(big.len());
        while got.len() < big.len() {
            let (res, buf) = client.read(Vec::with_capacity(10_000)).await;
            assert!(res.unwrap() > 0, "end of stream after {} bytes", got.len());
            got.extend_from_slice(&buf);
        }
        assert!(got == big, "bytes lost or reordered");
        sender.await.unwrap();
        sent += big.len();
        client.shutdown_write().await.unwrap();
        let (n, _) = client.read(Vec::with_capacity(16)).await;
        assert_eq!(n.unwrap(), 0, "the server's close_notify is end of stream");
        assert_eq!(echo.await.unwrap(), sent);
        // Writing after close_notify is refused.
        let (res, _) = client.write(&b"late"[..]).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    });
}

/// A peer that closes the TCP connection without `close_notify`: the reader gets
/// `UnexpectedEof` (a truncation), not a clean end of stream.
fn truncated_stream_is_unexpected_eof(d: Driver) {
    bounded(d, async {
        let (client, server) = tls_pair(&pki()).await;
        server.write_all(&b"partial"[..]).await.0.unwrap();
        drop(server); // no close_notify
        let (res, buf) = client.read_exact(vec![0u8; 7]).await;
        res.unwrap();
        assert_eq!(&buf, b"partial");
        let (res, _) = client.read(Vec::with_capacity(16)).await;
        let e = res.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
        assert!(e.to_string().contains("close_notify"), "{e}");
    });
}

/// The server's certificate is for `localhost`; a client asking for another name
/// fails the handshake with InvalidData naming the problem, and so does the server
/// (the client's alert).
fn wrong_hostname_is_invalid_data(d: Driver) {
    bounded(d, async {
        let pki = pki();
        let (addr, server) = accept_one(&pki.server);
        let tcp = TcpStream::connect(addr).await.unwrap();
        let e = TlsConnector::new(pki.client.clone())
            .connect("wrong.example", tcp)
            .await
            .unwrap_err();
        match rustls_error(&e) {
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => {}
            other => panic!("expected a name mismatch, got {other:?}"),
        }
        let msg = e.to_string();
        assert!(msg.contains("TLS handshake failed"), "{msg}");
        assert!(msg.contains("not valid for name"), "{msg}");
        let e = server.await.unwrap().unwrap_err();
        assert!(
            matches!(rustls_error(&e), rustls::Error::AlertReceived(_)),
            "{e}"
        );
    });
}

/// A leaf whose `not_after` has passed: InvalidData, certificate expired.
fn expired_certificate_is_invalid_data(d: Driver) {
    bounded(d, async {
        let pki = pki_valid((2020, 1, 1), (2021, 1, 1));
        let (addr, server) = accept_one(&pki.server);
        let tcp = TcpStream::connect(addr).await.unwrap();
        let e = TlsConnector::new(pki.client.clone())
            .connect("localhost", tcp)
            .await
            .unwrap_err();
        match rustls_error(&e) {
            rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. },
            ) => {}
            other => panic!("expected an expired certificate, got {other:?}"),
        }
        assert!(e.to_string().contains("expired"), "{e}");
        assert!(server.await.unwrap().is_err());
    });
}

/// Peers that go silent mid-handshake: a server that accepts TCP and never answers
/// the ClientHello, and a client that sends part of a ClientHello and stops. The
/// configured handshake timeout fires on both sides with TimedOut.
fn silent_peer_times_out_the_handshake(d: Driver) {
    bounded(d, async {
        let pki = pki();
        let limit = Duration::from_millis(300);

        // Client side: the server accepts and says nothing.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (silent, _) = listener.accept().await.unwrap();
        let start = Instant::now();
        let e = TlsConnector::new(pki.client.clone())
            .handshake_timeout(limit)
            .connect("localhost", tcp)
            .await
            .unwrap_err();
        let took = start.elapsed();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(e.to_string().contains("TLS handshake timed out"), "{e}");
        assert!(took >= limit * 4 / 5, "timed out after {took:?}");
        assert!(took < Duration::from_secs(10), "took {took:?}");
        // The ClientHello did go out.
        let (n, hello) = silent.read(Vec::with_capacity(4096)).await;
        assert!(n.unwrap() > 5);
        assert_eq!(hello[0], 0x16, "a handshake record");
        drop(silent);

        // Server side: the client sends a record header and stops.
        let tcp = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        tcp.write_all(&[0x16u8, 0x03, 0x01, 0x00, 0x80][..])
            .await
            .0
            .unwrap();
        let start = Instant::now();
        let e = TlsAcceptor::new(pki.server.clone())
            .handshake_timeout(limit)
            .accept(accepted)
            .await
            .unwrap_err();
        let took = start.elapsed();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(
            took >= limit * 4 / 5 && took < Duration::from_secs(10),
            "{took:?}"
        );
        drop(tcp);
    });
}

/// asyncio's `start_tls`: a plain line protocol upgraded in place on both sides, the
/// reader keeping its limit; and an upgrade refused while the reader holds unread
/// plaintext.
fn start_tls_upgrades_a_plain_connection(d: Driver) {
    bounded(d, async {
        let pki = pki();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::new(pki.server.clone());
        let server = ringio::spawn(async move {
            // 1: a well-behaved upgrade.
            let (tcp, _) = listener.accept().await.unwrap();
            let (rd, wr) = tcp.into_split();
            let (mut reader, mut writer) =
                (StreamReader::with_limit(rd, 1000), StreamWriter::new(wr));
            assert_eq!(reader.readline().await.unwrap(), b"STARTTLS\n");
            writer.write_all(b"GO\n").await.unwrap();
            let (mut reader, mut writer) = acceptor.start_tls((reader, writer)).await.unwrap();
            assert_eq!(reader.limit(), 1000);
            let line = reader.readline().await.unwrap();
            writer.write_all(&line).await.unwrap();
            assert_eq!(reader.readline().await.unwrap(), b"", "close_notify");
            writer.close();
            writer.wait_closed().await.unwrap();
            // 2: the go-ahead comes with more plaintext the client never reads.
            let (tcp, _) = listener.accept().await.unwrap();
            tcp.write_all(&b"GO\nEXTRA"[..]).await.0.unwrap();
            let (n, _) = tcp.read(Vec::with_capacity(64)).await;
            n.unwrap(); // end of stream: the client gave up
        });
        let connector = TlsConnector::new(pki.client.clone());

        let (mut reader, mut writer) = open_connection(addr).await.unwrap();
        writer.write_all(b"STARTTLS\n").await.unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"GO\n");
        let (mut reader, mut writer) = connector
            .start_tls((reader, writer), "localhost")
            .await
            .unwrap();
        writer.write_all(b"secret\n").await.unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"secret\n");
        assert!(writer.peer_addr().is_ok());
        writer.close();
        writer.wait_closed().await.unwrap(); // close_notify
        assert_eq!(reader.readline().await.unwrap(), b"", "close_notify back");
        assert!(reader.at_eof());

        let (mut reader, writer) = open_connection(addr).await.unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"GO\n");
        // One 8-byte send on loopback arrives in one receive: the rest is buffered.
        assert_eq!(reader.buffered(), b"EXTRA");
        let e = connector
            .start_tls((reader, writer), "localhost")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        assert!(e.to_string().contains("5 plaintext bytes"), "{e}");
        server.await.unwrap();
    });
}

/// tokio's traits over a TLS stream through `Compat`.
fn compat_works_over_tls(d: Driver) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    bounded(d, async {
        let (client, server) = tls_pair(&pki()).await;
        let (mut client, mut server) = (Compat::new(client), Compat::new(server));
        client.write_all(b"through tokio's traits").await.unwrap();
        let mut got = [0u8; 22];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"through tokio's traits");
        server.shutdown().await.unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    });
}

/// A client that speaks only TLS 1.2 (a different handshake: the server's Finished
/// comes last): the session is TLS 1.2 and carries data both ways.
fn tls12_session_round_trips(d: Driver) {
    bounded(d, async {
        let pki = pki();
        let client_config =
            rustls::ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS12])
                .with_root_certificates(pki.roots.clone())
                .with_no_client_auth();
        let pki = Pki {
            client: Arc::new(client_config),
            ..pki
        };
        let (client, server) = tls_pair(&pki).await;
        assert_eq!(
            client.connection().protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_2)
        );
        client.write_all(&b"twelve"[..]).await.0.unwrap();
        let (res, got) = server.read_exact(vec![0u8; 6]).await;
        res.unwrap();
        server.write_all(got).await.0.unwrap();
        server.shutdown_write().await.unwrap();
        let (res, back) = client.read_exact(vec![0u8; 6]).await;
        res.unwrap();
        assert_eq!(&back, b"twelve");
        let (n, _) = client.read(Vec::with_capacity(8)).await;
        assert_eq!(n.unwrap(), 0);
    });
}

/// TLS over a Unix stream pair: the handshake and a line each way through
/// `into_streams`, `peer_addr` passed through.
fn unix_stream_carries_tls(d: Driver) {
    bounded(d, async {
        let pki = pki();
        let (a, b) = UnixStream::pair().unwrap();
        let acceptor = TlsAcceptor::new(pki.server.clone());
        let server = ringio::spawn(async move {
            let (mut reader, mut writer) = acceptor.accept(b).await.unwrap().into_streams();
            let line = reader.readline().await.unwrap();
            writer.write_all(&line.to_ascii_uppercase()).await.unwrap();
            writer.close();
            writer.wait_closed().await.unwrap();
        });
        let tls = TlsConnector::new(pki.client.clone())
            .connect("localhost", a)
            .await
            .unwrap();
        assert!(ringio::io::PeerAddr::peer_addr(&tls).is_ok());
        let (mut reader, mut writer) = tls.into_streams();
        writer.write_all(b"over unix\n").await.unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"OVER UNIX\n");
        assert_eq!(reader.read_to_end().await.unwrap(), b"");
        server.await.unwrap();
    });
}

/// TLS streams dropped with a read pending or a large write half-sent, over and over,
/// leave no fd behind.
fn dropped_tls_streams_leak_no_fd(d: Driver) {
    let _serial = serial();
    let before = fd_count();
    bounded_unserialized(d, async {
        let pki = pki();
        for round in 0..20u8 {
            let (client, server) = tls_pair(&pki).await;
            {
                let mut read = Box::pin(client.read(Vec::with_capacity(64)));
                assert!(poll_once(&mut read).is_none(), "nothing to read yet");
            }
            {
                let mut write = Box::pin(server.write_all(vec![round; 512 * 1024]));
                let _ = poll_once(&mut write);
            }
            if round % 2 == 0 {
                drop(server);
                drop(client);
            } else {
                drop(client);
                drop(server);
            }
        }
        support::settle().await;
    });
    assert_eq!(fd_count(), before);
}

both_drivers!(
    round_trip_messages_mebibyte_and_close_notify,
    truncated_stream_is_unexpected_eof,
    wrong_hostname_is_invalid_data,
    expired_certificate_is_invalid_data,
    silent_peer_times_out_the_handshake,
    start_tls_upgrades_a_plain_connection,
    compat_works_over_tls,
    tls12_session_round_trips,
    unix_stream_carries_tls,
    dropped_tls_streams_leak_no_fd,
);
