//! [`lookup_host`]: name resolution on the blocking pool.

use crate::driver::ops::LookupHost;
use crate::driver::Op;
use std::future::Future;
use std::io;
use std::net::SocketAddr;

/// Resolves `host` — `"name:port"`, `"[v6]:port"` or a literal `"ip:port"` — to the
/// socket addresses it names, as asyncio's `getaddrinfo`.
///
/// The lookup (`getaddrinfo(3)`, which reads `/etc/hosts` and may ask DNS) blocks, and
/// no kernel interface does it asynchronously, so it runs on the runtime's blocking
/// pool, on io_uring and on epoll alike; the worker goes on meanwhile.
///
/// ```
/// # ringio::run(async {
/// let addrs: Vec<_> = ringio::net::lookup_host("localhost:8080").await.unwrap().collect();
/// assert!(addrs.iter().all(|a| a.port() == 8080 && a.ip().is_loopback()));
/// # });
/// ```
///
/// # Errors
///
/// When the name cannot be resolved, or `host` has no port (`InvalidInput`); when the
/// runtime is shutting down and its pool takes no work (`ECANCELED`).
///
/// # Cancel safety
///
/// Dropping the future abandons the lookup: the pool thread finishes it and its answer
/// is discarded.
pub fn lookup_host(
    host: impl Into<String>,
) -> impl Future<Output = io::Result<std::vec::IntoIter<SocketAddr>>> {
    let op = Op::new(LookupHost::new(host.into()));
    async move { op.await.map(Vec::into_iter) }
}
