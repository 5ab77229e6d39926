//! Networking over owned buffers: TCP and Unix-domain listeners and streams, UDP and
//! Unix datagram sockets, asyncio's stream helpers (`open_connection`, `start_server`),
//! and name lookup.
//!
//! ```
//! use ringio::buf::IoBuf;
//! use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
//! use ringio::net::{TcpListener, TcpStream};
//!
//! ringio::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     let server = ringio::spawn(async move {
//!         let (conn, _peer) = listener.accept().await.unwrap();
//!         let (n, buf) = conn.read(vec![0u8; 64]).await;
//!         let n = n.unwrap();
//!         conn.write_all(buf.slice(..n)).await.0.unwrap();
//!     });
//!     let client = TcpStream::connect(addr).await.unwrap();
//!     client.write_all(b"ping").await.0.unwrap();
//!     let (res, buf) = client.read_exact(vec![0u8; 4]).await;
//!     res.unwrap();
//!     assert_eq!(&buf, b"ping");
//!     server.await.unwrap();
//! });
//! ```

mod accept;
mod addr;
mod lookup;
mod pooled;
mod server;
mod socket;
mod split;
mod tcp;
mod udp;
mod unix;

pub use addr::{Target, ToSocketAddrs};
pub use lookup::lookup_host;
pub use server::{
    open_connection, start_server, start_server_per_worker, start_server_with, Server,
    ServerOptions, Streams, WorkerServers,
};
pub use socket::RecvCursor;
pub(crate) use socket::StreamSocket;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use unix::{UCred, UnixDatagram, UnixListener, UnixSocketAddr, UnixStream};

pub use tcp::{BindOptions, TcpListener, TcpStream};
pub use udp::{DatagramTruncated, UdpBindOptions, UdpSocket};
