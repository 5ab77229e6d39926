//! Networking: TCP listeners and streams, and UDP sockets, over owned buffers.
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

mod lookup;
mod tcp;
mod udp;

pub use lookup::lookup_host;

pub use tcp::{
    BindOptions, OwnedReadHalf, OwnedWriteHalf, ReadHalf, RecvCursor, ReuniteError, TcpListener,
    TcpStream, WriteHalf,
};
pub use udp::{DatagramTruncated, UdpBindOptions, UdpSocket};
