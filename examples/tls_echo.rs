//! A TLS echo server and a client, with a self-signed certificate made at start-up.
//!
//! ```text
//! cargo run --example tls_echo --features tls
//! # server on 127.0.0.1:PORT; the client sends 3 lines over TLS and prints the echoes
//! ```
//!
//! [`configs`] makes the certificate (rcgen) and both rustls configurations: the
//! client trusts exactly that certificate. [`serve`] accepts TCP connections and, in a
//! task per client, runs the TLS handshake and echoes lines through a
//! `StreamReader`/`StreamWriter` pair over the TLS stream until the client's
//! `close_notify`. [`round_trip`] connects, sends lines, reads each echo, and closes
//! with `close_notify`.

use ringio::net::{TcpListener, TcpStream};
use ringio::tls::rustls::{self, pki_types::PrivateKeyDer};
use ringio::tls::{TlsAcceptor, TlsConnector};
use std::io;
use std::sync::Arc;

/// A server configuration with a fresh self-signed certificate for `localhost`, and a
/// client configuration that trusts it.
pub fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("generate a certificate");
    let key = PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("a valid certificate and key");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(cert.cert.der().clone())
        .expect("a valid certificate");
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// Echoes lines to one client over TLS until its `close_notify`.
async fn echo(acceptor: TlsAcceptor, tcp: TcpStream) -> io::Result<()> {
    let tls = acceptor.accept(tcp).await?;
    let (mut reader, mut writer) = tls.into_streams();
    loop {
        let line = reader.readline().await?;
        if line.is_empty() {
            break; // the client's close_notify
        }
        writer.write(&line)?;
        writer.drain().await?;
    }
    writer.close();
    writer.wait_closed().await // close_notify back
}

/// Accepts clients forever, each in its own task; a client's failure (a failed
/// handshake, say) is printed and ends only that client.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor) -> io::Result<()> {
    loop {
        let (tcp, peer) = listener.accept().await?;
        let acceptor = acceptor.clone();
        drop(ringio::spawn(async move {
            if let Err(e) = echo(acceptor, tcp).await {
                eprintln!("tls_echo: client {peer}: {e}");
            }
        }));
    }
}

/// Connects to `addr` over TLS (checking the certificate for `localhost`), sends each
/// of `lines` (newline-terminated) and returns the echoes.
pub async fn round_trip(
    addr: std::net::SocketAddr,
    connector: &TlsConnector,
    lines: &[&str],
) -> io::Result<Vec<String>> {
    let tls = connector
        .connect("localhost", TcpStream::connect(addr).await?)
        .await?;
    let (mut reader, mut writer) = tls.into_streams();
    let mut echoes = Vec::with_capacity(lines.len());
    for line in lines {
        writer.write_all(format!("{line}\n").as_bytes()).await?;
        let echo = reader.readline().await?;
        echoes.push(String::from_utf8_lossy(&echo).trim_end().to_string());
    }
    writer.close();
    writer.wait_closed().await?; // close_notify
    let rest = reader.read_to_end().await?; // the server's close_notify: end of stream
    assert!(rest.is_empty(), "nothing after the echoes");
    Ok(echoes)
}

fn main() -> io::Result<()> {
    ringio::run(async {
        let (server_config, client_config) = configs();
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        println!("tls_echo: serving on {addr}");
        let server = ringio::spawn(serve(listener, TlsAcceptor::new(server_config)));
        let connector = TlsConnector::new(client_config);
        let echoes = round_trip(addr, &connector, &["hello", "over", "TLS"]).await?;
        for echo in &echoes {
            println!("tls_echo: echoed {echo:?}");
        }
        server.abort();
        Ok(())
    })
}
