//! Synchronisation between tasks and threads.
//!
//! [`mpsc`] is a bounded multi-producer channel that crosses workers and plain threads;
//! its wakes reach a worker asleep in its ring.

pub mod mpsc;
