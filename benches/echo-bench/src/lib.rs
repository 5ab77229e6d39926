//! The parts of `echo-bench` that more than one executable uses: the load client
//! ([`client`], used by the benchmark itself and by `echo-load`), its latency histogram
//! ([`hist`]), and the peer servers' command line and listener ([`peer_server`]). None
//! uses ringio, so a ringio bug cannot flatter ringio.

#![forbid(unsafe_code)]

pub mod client;
pub mod hist;
pub mod peer_server;
