//! [`LookupHost`]: name resolution (`getaddrinfo`) on the blocking pool.
//!
//! No kernel interface resolves names without blocking, on io_uring or epoll, so this
//! operation has no io_uring form and always takes the decision face's
//! [`Decision::Blocking`]: the job runs `getaddrinfo` on a pool thread and leaves the
//! addresses in memory the operation shares with it.

use crate::driver::{Decision, Operation};
use io_uring::squeue;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};

/// What the job leaves for [`Operation::complete`].
type Answer = Arc<Mutex<Option<io::Result<Vec<SocketAddr>>>>>;

/// Resolves `host:port` (or a literal address) to socket addresses.
pub(crate) struct LookupHost {
    /// Moved into the job when it starts.
    host: Option<String>,
    answer: Answer,
}

impl LookupHost {
    pub(crate) fn new(host: String) -> LookupHost {
        LookupHost {
            host: Some(host),
            answer: Answer::default(),
        }
    }
}

// SAFETY: there is no io_uring entry, and the job captures no pointer: it owns the
// host name and a reference-counted handle to the answer.
unsafe impl Operation for LookupHost {
    type Output = io::Result<Vec<SocketAddr>>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        None
    }

    fn decide(&mut self) -> Decision<'_> {
        let host = self.host.take().unwrap_or_default();
        let answer = self.answer.clone();
        Decision::Blocking(Box::new(move || {
            let addrs = host.as_str().to_socket_addrs().map(Iterator::collect);
            let code = match &addrs {
                Ok(_) => 0,
                Err(_) => -libc::EIO, // the detail travels in the answer
            };
            *answer.lock().unwrap_or_else(|e| e.into_inner()) = Some(addrs);
            code
        }))
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let answer = self.answer.lock().unwrap_or_else(|e| e.into_inner()).take();
        match (answer, result) {
            (Some(addrs), _) => addrs,
            // The pool refused the job (the runtime is shutting down).
            (None, Err(e)) => Err(e),
            (None, Ok(_)) => Err(io::Error::other("name lookup finished without an answer")),
        }
    }
}
