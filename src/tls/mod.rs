//! TLS over ringio streams with [rustls] (feature `tls`, on rustls's `ring` crypto
//! provider).
//!
//! [`TlsAcceptor`] (from a `rustls::ServerConfig`) and [`TlsConnector`] (from a
//! `rustls::ClientConfig`) run the handshake over any ringio byte stream (TCP, Unix,
//! their owned halves joined) and give a [`TlsStream`], which has the same I/O traits
//! as a `TcpStream`: [`StreamReader`], [`StreamWriter`] and
//! `ringio::compat::Compat` (features `tokio-io`, `futures-io`) work over it. [`TlsConnector::start_tls`] and
//! [`TlsAcceptor::start_tls`] upgrade a plain connection in place, as asyncio's
//! `StreamWriter.start_tls` does.
//!
//! # Buffer flow
//!
//! rustls is driven through its buffer API (`read_tls`, `process_new_packets`,
//! `reader`, `writer`, `write_tls`); ringio does the I/O with owned buffers:
//!
//! - **Receiving.** Ciphertext comes from the stream's pooled receive (on io_uring a
//!   multishot receive into the worker's shared pool, so an idle session holds no
//!   receive buffer) and is copied into rustls (`read_tls`), which decrypts in place;
//!   the pool's buffer goes back as soon as rustls has taken all of it. The plaintext
//!   is then copied out to the caller's owned buffer (`read`) or to a chunk for a
//!   [`StreamReader`] (`PooledRead`).
//! - **Sending.** `write` hands the caller's bytes to rustls (`writer`), which
//!   encrypts them into its record queue; `write_tls` copies the records into one
//!   owned `Vec<u8>`, reused from send to send, that is sent whole. One send runs at a
//!   time, so records leave in order; rustls's send buffer (64 KiB) bounds how much
//!   one `write` takes.
//! - Messages rustls wants to send while reading (an alert, a key update's answer)
//!   go out from a background task, so a reader never waits on the send side.
//!
//! Ending: [`shutdown_write`](crate::io::ShutdownWrite::shutdown_write) (or
//! `StreamWriter::wait_closed`) sends `close_notify`; the peer's `close_notify` reads
//! as end of stream, and end of stream without one is an
//! [`UnexpectedEof`](std::io::ErrorKind::UnexpectedEof) error (truncation). TLS
//! failures are [`InvalidData`](std::io::ErrorKind::InvalidData) errors carrying a
//! [`TlsError`] (rustls's error is its source); a handshake that does not finish
//! within [`DEFAULT_HANDSHAKE_TIMEOUT`] (60 s, asyncio's `ssl_handshake_timeout`) or
//! the configured time is [`TimedOut`](std::io::ErrorKind::TimedOut).
//!
//! ```
//! # ringio::run(async {
//! use ringio::io::{AsyncReadOwned, AsyncWriteOwned, ShutdownWrite};
//! use ringio::net::{TcpListener, TcpStream};
//! use ringio::tls::rustls::{self, pki_types::PrivateKeyDer};
//! use ringio::tls::{TlsAcceptor, TlsConnector};
//! use std::sync::Arc;
//!
//! // A self-signed certificate for "localhost", trusted by the client.
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! let key = PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
//! let server_config = rustls::ServerConfig::builder()
//!     .with_no_client_auth()
//!     .with_single_cert(vec![cert.cert.der().clone()], key)
//!     .unwrap();
//! let mut roots = rustls::RootCertStore::empty();
//! roots.add(cert.cert.der().clone()).unwrap();
//! let client_config = rustls::ClientConfig::builder()
//!     .with_root_certificates(roots)
//!     .with_no_client_auth();
//!
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! let acceptor = TlsAcceptor::new(Arc::new(server_config));
//! let server = ringio::spawn(async move {
//!     let (tcp, _) = listener.accept().await.unwrap();
//!     let tls = acceptor.accept(tcp).await.unwrap();
//!     let (res, buf) = tls.read(Vec::with_capacity(64)).await;
//!     res.unwrap();
//!     tls.write_all(buf).await.0.unwrap(); // echo
//!     tls.shutdown_write().await.unwrap(); // close_notify
//! });
//! let connector = TlsConnector::new(Arc::new(client_config));
//! let tls = connector
//!     .connect("localhost", TcpStream::connect(addr).await.unwrap())
//!     .await
//!     .unwrap();
//! tls.write_all(b"hello over TLS").await.0.unwrap();
//! let (res, reply) = tls.read_exact(vec![0u8; 14]).await;
//! res.unwrap();
//! assert_eq!(&reply, b"hello over TLS");
//! let (n, _) = tls.read(Vec::with_capacity(8)).await;
//! assert_eq!(n.unwrap(), 0); // the server's close_notify
//! server.await.unwrap();
//! # });
//! ```

mod stream;

pub use rustls;
pub use stream::{TlsStream, TlsStreams};

use crate::io::{AsyncWriteOwned, PooledRead, ShutdownWrite, StreamReader, StreamWriter};
use crate::net::{OwnedReadHalf, OwnedWriteHalf};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};
use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

/// How long a handshake may take unless configured otherwise: 60 s, asyncio's
/// `ssl_handshake_timeout`.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// A TLS failure reported by rustls, inside an [`InvalidData`](io::ErrorKind::InvalidData)
/// `io::Error` (find it with `get_ref()?.downcast_ref::<TlsError>()`); rustls's error
/// is its [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct TlsError {
    during: &'static str,
    error: rustls::Error,
}

impl TlsError {
    /// rustls's error (a certificate error, a received alert, a bad record, ...).
    pub fn rustls_error(&self) -> &rustls::Error {
        &self.error
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS {} failed: {}", self.during, self.error)
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// rustls's `error` as an `InvalidData` I/O error.
fn tls_error(during: &'static str, error: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, TlsError { during, error })
}

/// Runs `handshake` within `limit`.
async fn within<T>(
    limit: Duration,
    handshake: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match crate::time::timeout(limit, handshake).await {
        Ok(res) => res,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("TLS handshake timed out: not finished within {limit:?}"),
        )),
    }
}

/// The stream under a plain reader/writer pair, refusing to lose buffered bytes.
async fn plain_stream<S>(
    (reader, writer): (
        StreamReader<OwnedReadHalf<S>>,
        StreamWriter<OwnedWriteHalf<S>>,
    ),
) -> io::Result<(S, usize)>
where
    S: AsFd + PooledRead + AsyncWriteOwned + ShutdownWrite + 'static,
{
    if !reader.buffered().is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "start_tls: the reader holds {} plaintext bytes received before the upgrade \
                 (read them first; the connection is closed)",
                reader.buffered().len()
            ),
        ));
    }
    let limit = reader.limit();
    let (read_half, _) = reader.into_parts();
    let write_half = writer.into_inner().await?;
    let stream = read_half.reunite(write_half).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("start_tls: the reader and the writer are of different connections: {e}"),
        )
    })?;
    Ok((stream, limit))
}

/// The server side of TLS: runs the handshake on accepted streams.
#[derive(Clone, Debug)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    handshake_timeout: Duration,
}

impl From<Arc<ServerConfig>> for TlsAcceptor {
    fn from(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor::new(config)
    }
}

impl TlsAcceptor {
    /// An acceptor with `config` and the default handshake timeout (60 s).
    pub fn new(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor {
            config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// How long a handshake may take before it fails with `TimedOut`.
    pub fn handshake_timeout(mut self, limit: Duration) -> TlsAcceptor {
        self.handshake_timeout = limit;
        self
    }

    /// The server configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Runs the server handshake over `stream`.
    ///
    /// # Errors
    ///
    /// `InvalidData` with a [`TlsError`] if the handshake fails (no common protocol, a
    /// bad client certificate, a fatal alert from the client); `TimedOut` past the
    /// handshake timeout; `UnexpectedEof` if the client closes first; the stream's
    /// errors.
    pub async fn accept<S>(&self, stream: S) -> io::Result<TlsStream<S>>
    where
        S: PooledRead + AsyncWriteOwned + 'static,
    {
        let conn =
            ServerConnection::new(self.config.clone()).map_err(|e| tls_error("server setup", e))?;
        within(
            self.handshake_timeout,
            TlsStream::handshake(stream, Connection::Server(conn)),
        )
        .await
    }

    /// Upgrades a plain server-side connection to TLS in place (asyncio's
    /// `StreamWriter.start_tls` on the server side): what was written is sent first,
    /// then the handshake runs and a reader and a writer over TLS come back, the
    /// reader with the same limit.
    ///
    /// # Errors
    ///
    /// `InvalidData` if the reader holds bytes not yet read (they were received in
    /// plaintext and would be lost: the protocol must have the peer wait for the
    /// go-ahead before its handshake); the writer's error; as
    /// [`accept`](TlsAcceptor::accept). The connection is closed on error.
    pub async fn start_tls<S>(
        &self,
        streams: (
            StreamReader<OwnedReadHalf<S>>,
            StreamWriter<OwnedWriteHalf<S>>,
        ),
    ) -> io::Result<TlsStreams<S>>
    where
        S: AsFd + PooledRead + AsyncWriteOwned + ShutdownWrite + 'static,
    {
        let (stream, limit) = plain_stream(streams).await?;
        let tls = std::rc::Rc::new(self.accept(stream).await?);
        Ok((
            StreamReader::with_limit(tls.clone(), limit),
            StreamWriter::new(tls),
        ))
    }
}

/// The client side of TLS: runs the handshake on connected streams.
#[derive(Clone, Debug)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    handshake_timeout: Duration,
}

impl From<Arc<ClientConfig>> for TlsConnector {
    fn from(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector::new(config)
    }
}

impl TlsConnector {
    /// A connector with `config` and the default handshake timeout (60 s).
    pub fn new(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector {
            config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// How long a handshake may take before it fails with `TimedOut`.
    pub fn handshake_timeout(mut self, limit: Duration) -> TlsConnector {
        self.handshake_timeout = limit;
        self
    }

    /// The client configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Runs the client handshake over `stream`, checking that the server's
    /// certificate is valid for `server_name` (a DNS name or an IP address; also sent
    /// as SNI when it is a name).
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `server_name` is neither; `InvalidData` with a [`TlsError`]
    /// if the handshake fails (a certificate not valid for the name, expired, or from
    /// an unknown issuer; a fatal alert from the server); `TimedOut` past the handshake
    /// timeout; `UnexpectedEof` if the server closes first; the stream's errors.
    pub async fn connect<S>(&self, server_name: &str, stream: S) -> io::Result<TlsStream<S>>
    where
        S: PooledRead + AsyncWriteOwned + 'static,
    {
        let name = ServerName::try_from(server_name.to_owned()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("TLS: {server_name:?} is not a valid server name: {e}"),
            )
        })?;
        let conn = ClientConnection::new(self.config.clone(), name)
            .map_err(|e| tls_error("client setup", e))?;
        within(
            self.handshake_timeout,
            TlsStream::handshake(stream, Connection::Client(conn)),
        )
        .await
    }

    /// Upgrades a plain client connection (say from
    /// [`open_connection`](crate::net::open_connection)) to TLS in place (asyncio's
    /// `StreamWriter.start_tls`): what was written is sent first, then the handshake
    /// runs and a reader and a writer over TLS come back, the reader with the same
    /// limit.
    ///
    /// # Errors
    ///
    /// `InvalidData` if the reader holds bytes not yet read (they would be lost); the
    /// writer's error; as [`connect`](TlsConnector::connect). The connection is closed
    /// on error.
    pub async fn start_tls<S>(
        &self,
        streams: (
            StreamReader<OwnedReadHalf<S>>,
            StreamWriter<OwnedWriteHalf<S>>,
        ),
        server_name: &str,
    ) -> io::Result<TlsStreams<S>>
    where
        S: AsFd + PooledRead + AsyncWriteOwned + ShutdownWrite + 'static,
    {
        let (stream, limit) = plain_stream(streams).await?;
        let tls = std::rc::Rc::new(self.connect(server_name, stream).await?);
        Ok((
            StreamReader::with_limit(tls.clone(), limit),
            StreamWriter::new(tls),
        ))
    }
}
