mod support;
use ringio::buf::IoBuf;
use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
use ringio::runtime::Driver;
use std::time::Duration;

fn echo(d: Driver) {
    support::rt(d).block_on(async {
        let l = ringio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = ringio::spawn(async move {
            let (c, _) = l.accept().await.unwrap();
            let (n, buf) = c.read(vec![0u8; 16]).await;
            let n = n.unwrap();
            c.write_all(buf.slice(..n)).await.0.unwrap();
        });
        let c = ringio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"hello").await.0.unwrap();
        let (r, b) = c.read_exact(vec![0u8; 5]).await;
        r.unwrap();
        assert_eq!(&b, b"hello");
        server.await.unwrap();
        ringio::time::sleep(Duration::from_millis(10)).await;
    });
}
both_drivers!(echo);
