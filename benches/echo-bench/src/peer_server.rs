//! What the peer servers (`echo-tokio`, `echo-monoio`, `echo-raw-uring`, `http-tokio`)
//! share: their command line and their SO_REUSEPORT listener.

use std::net::SocketAddr;

/// The flags every peer server takes.
#[derive(Debug)]
pub struct ServerArgs {
    /// `--addr HOST:PORT`.
    pub addr: SocketAddr,
    /// `--threads N` (N > 0).
    pub threads: usize,
    /// `--exit-after CONNECTIONS`, where the server takes it: stop once that many
    /// connections per listener have come and gone.
    pub exit_after: Option<u64>,
    /// `--mode M`, where the server takes it: one of the modes it names.
    pub mode: Option<String>,
}

/// How a server's command line looks: its usage line, defaults, and which optional
/// flags it takes.
pub struct ServerCli<'a> {
    /// Printed on a bad command line (which exits with status 2).
    pub usage: &'a str,
    /// `--addr` when not given.
    pub default_addr: &'a str,
    /// `--threads` when not given.
    pub default_threads: usize,
    /// Whether `--exit-after` is accepted.
    pub exit_after: bool,
    /// The values `--mode` accepts; empty: no `--mode`.
    pub modes: &'a [&'a str],
}

impl ServerCli<'_> {
    /// Parses the process's arguments.
    pub fn parse(&self) -> ServerArgs {
        self.parse_from(std::env::args().skip(1))
            .unwrap_or_else(|| {
                eprintln!("{}", self.usage);
                std::process::exit(2)
            })
    }

    /// Parses `args`; `None` for a bad command line.
    pub fn parse_from(&self, args: impl IntoIterator<Item = String>) -> Option<ServerArgs> {
        let mut parsed = ServerArgs {
            addr: self.default_addr.parse().ok()?,
            threads: self.default_threads,
            exit_after: None,
            mode: None,
        };
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let value = it.next()?;
            match arg.as_str() {
                "--addr" => parsed.addr = value.parse().ok()?,
                "--threads" => parsed.threads = value.parse().ok().filter(|&n| n > 0)?,
                "--exit-after" if self.exit_after => {
                    parsed.exit_after = Some(value.parse().ok().filter(|&n| n > 0)?)
                }
                "--mode" if self.modes.contains(&value.as_str()) => parsed.mode = Some(value),
                _ => return None,
            }
        }
        Some(parsed)
    }
}

/// A nonblocking SO_REUSEPORT listener (so that one per thread can share the port) with a
/// deep backlog.
pub fn reuse_port_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.bind(&addr.into())?;
    s.listen(4096)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::ServerCli;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_and_refuses() {
        let cli = ServerCli {
            usage: "usage",
            default_addr: "127.0.0.1:7878",
            default_threads: 1,
            exit_after: true,
            modes: &["ct", "mt"],
        };
        let a = cli
            .parse_from(args("--threads 3 --mode mt --exit-after 9"))
            .unwrap();
        assert_eq!(
            (a.threads, a.mode.as_deref(), a.exit_after),
            (3, Some("mt"), Some(9))
        );
        assert_eq!(a.addr.port(), 7878);
        for bad in [
            "--threads 0",
            "--mode xx",
            "--addr nowhere",
            "--threads",
            "--what 1",
        ] {
            assert!(cli.parse_from(args(bad)).is_none(), "{bad}");
        }
        let plain = ServerCli {
            exit_after: false,
            modes: &[],
            ..cli
        };
        assert!(plain.parse_from(args("--exit-after 3")).is_none());
        assert!(plain.parse_from(args("--mode ct")).is_none());
    }
}
