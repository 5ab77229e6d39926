//! [`ToSocketAddrs`]: what [`TcpStream::connect`](crate::net::TcpStream::connect) and
//! [`open_connection`](crate::net::open_connection) accept.

use super::lookup_host;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Something that names one or more socket addresses: a `SocketAddr`, an `(ip, port)`
/// pair, or a `"host:port"` string (or `(host, port)`), whose name is resolved on the
/// blocking pool ([`lookup_host`]) without blocking the worker. Literal addresses are
/// parsed in place, with no lookup.
///
/// Like tokio's trait of the same name; implemented here for the usual types only.
pub trait ToSocketAddrs {
    /// The addresses, or the name to resolve.
    #[doc(hidden)]
    fn to_target(&self) -> Target;
}

/// What a [`ToSocketAddrs`] names: addresses, or a name to resolve. Opaque.
#[doc(hidden)]
#[derive(Debug)]
pub struct Target(TargetKind);

#[derive(Debug)]
enum TargetKind {
    Addrs(Vec<SocketAddr>),
    Name(String),
}

impl Target {
    /// Resolves the target: at once for addresses, on the blocking pool for a name.
    pub(crate) async fn resolve(self) -> io::Result<Vec<SocketAddr>> {
        match self.0 {
            TargetKind::Addrs(addrs) => Ok(addrs),
            TargetKind::Name(name) => Ok(lookup_host(name).await?.collect()),
        }
    }
}

fn addrs(addrs: impl IntoIterator<Item = SocketAddr>) -> Target {
    Target(TargetKind::Addrs(addrs.into_iter().collect()))
}

/// A `host:port` string: parsed in place if the host is a literal address.
fn host_port(s: &str) -> Target {
    match s.parse::<SocketAddr>() {
        Ok(addr) => addrs([addr]),
        Err(_) => Target(TargetKind::Name(s.to_string())),
    }
}

/// A `(host, port)` pair: parsed in place if the host is a literal address.
fn host_and_port(host: &str, port: u16) -> Target {
    match host.parse::<IpAddr>() {
        Ok(ip) => addrs([SocketAddr::new(ip, port)]),
        // Brackets make an IPv6 name parse as host:port too.
        Err(_) if host.contains(':') => Target(TargetKind::Name(format!("[{host}]:{port}"))),
        Err(_) => Target(TargetKind::Name(format!("{host}:{port}"))),
    }
}

impl ToSocketAddrs for SocketAddr {
    fn to_target(&self) -> Target {
        addrs([*self])
    }
}

impl ToSocketAddrs for SocketAddrV4 {
    fn to_target(&self) -> Target {
        addrs([SocketAddr::V4(*self)])
    }
}

impl ToSocketAddrs for SocketAddrV6 {
    fn to_target(&self) -> Target {
        addrs([SocketAddr::V6(*self)])
    }
}

impl ToSocketAddrs for (IpAddr, u16) {
    fn to_target(&self) -> Target {
        addrs([SocketAddr::new(self.0, self.1)])
    }
}

impl ToSocketAddrs for (Ipv4Addr, u16) {
    fn to_target(&self) -> Target {
        addrs([SocketAddr::new(self.0.into(), self.1)])
    }
}

impl ToSocketAddrs for (Ipv6Addr, u16) {
    fn to_target(&self) -> Target {
        addrs([SocketAddr::new(self.0.into(), self.1)])
    }
}

impl ToSocketAddrs for [SocketAddr] {
    fn to_target(&self) -> Target {
        addrs(self.iter().copied())
    }
}

impl ToSocketAddrs for str {
    fn to_target(&self) -> Target {
        host_port(self)
    }
}

impl ToSocketAddrs for String {
    fn to_target(&self) -> Target {
        host_port(self)
    }
}

impl ToSocketAddrs for (&str, u16) {
    fn to_target(&self) -> Target {
        host_and_port(self.0, self.1)
    }
}

impl ToSocketAddrs for (String, u16) {
    fn to_target(&self) -> Target {
        host_and_port(&self.0, self.1)
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_target(&self) -> Target {
        (**self).to_target()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(t: &impl ToSocketAddrs) -> Option<Vec<SocketAddr>> {
        match t.to_target().0 {
            TargetKind::Addrs(a) => Some(a),
            TargetKind::Name(_) => None,
        }
    }

    #[test]
    fn literals_need_no_lookup_and_names_do() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(parsed(&"127.0.0.1:80"), Some(vec![v4]));
        assert_eq!(parsed(&("127.0.0.1", 80)), Some(vec![v4]));
        assert_eq!(
            parsed(&("::1", 80)),
            Some(vec!["[::1]:80".parse().unwrap()])
        );
        assert_eq!(parsed(&v4), Some(vec![v4]));
        assert_eq!(parsed(&"localhost:80"), None);
        assert_eq!(parsed(&("localhost", 80)), None);
        match ("example.invalid", 7).to_target().0 {
            TargetKind::Name(n) => assert_eq!(n, "example.invalid:7"),
            other => panic!("{other:?}"),
        }
    }
}
