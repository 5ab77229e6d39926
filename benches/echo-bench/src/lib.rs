//! The parts of `echo-bench` that more than one executable uses: the load client
//! ([`client`], used by the benchmark itself and by `echo-load`) and its latency
//! histogram ([`hist`]). Neither uses ringio, so a ringio bug cannot flatter ringio.

#![forbid(unsafe_code)]

pub mod client;
pub mod hist;
