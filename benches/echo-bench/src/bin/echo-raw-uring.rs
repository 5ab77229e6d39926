//! A TCP echo server written straight on io_uring, with no runtime: the baseline every
//! runtime in echo-bench is read against ("x of raw").
//!
//! ```text
//! echo-raw-uring --addr 127.0.0.1:7878               # one thread, one ring
//! echo-raw-uring --addr 127.0.0.1:7878 --threads 2   # 2 rings, one SO_REUSEPORT listener each
//! echo-raw-uring --exit-after 257   # exit 0 once 257 connections came and went
//! ```
//!
//! It is a limit, not a product: what an echo costs on io_uring when nothing but the
//! echo runs. Each thread owns one ring (SINGLE_ISSUER and DEFER_TASKRUN where the kernel
//! has them, as ringio's driver sets up; plain otherwise) and one listener with a
//! multishot accept. Each connection owns one 16 KiB buffer (the size the other servers
//! read into) and has exactly one operation in flight: a RECV into the buffer; when it
//! completes with n > 0 bytes, a SEND of those n bytes (a short send is followed by a
//! SEND of the rest); when the send is done, the next RECV. A RECV or SEND that completes
//! with 0 or an error closes the connection. TCP_NODELAY, like every other server. No
//! provided buffers, no registered files, no SQPOLL, no batching beyond what one
//! `io_uring_enter` reaps: the plainest loop a runtime could compile down to.
//!
//! `--exit-after N` has the meaning of ringio's `examples/echo_server` (ci/cost-per-msg.sh
//! relies on it): after N accepted connections the multishot accept is cancelled, the
//! loop waits until the accept's last completion and every connection has closed, and
//! the thread returns, so the process exits 0 and valgrind and strace write their totals.
//!
//! # Safety protocol
//!
//! The kernel reads and writes a connection's buffer while its RECV or SEND is in flight,
//! so:
//!
//! 1. A connection's buffer is a `Box<[u8]>`: its address does not move when the table of
//!    connections grows.
//! 2. A connection has at most one operation in flight, and it leaves the table (buffer
//!    freed, fd closed) only while handling that operation's completion, when none is.
//!    A completion's `user_data` therefore always names a live connection.
//! 3. `inflight` counts submitted operations whose last completion has not been reaped.
//!    The loop returns only when it is 0. If the thread unwinds with operations still
//!    in flight, [`Worker`]'s `Drop` leaks the buffers instead of freeing them.

#![allow(unsafe_code)] // the package denies it; this file is the one exception
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Per-connection buffer (the same size as the other servers').
const BUF_SIZE: usize = 16 * 1024;
/// Submission queue entries per ring (the completion queue has twice as many).
const RING_ENTRIES: u32 = 1024;

/// `user_data` of the multishot accept.
const ACCEPT: u64 = u64::MAX;
/// `user_data` of the cancellation of the accept.
const CANCEL: u64 = u64::MAX - 1;
/// The low bit of a connection's `user_data`: set for a SEND, clear for a RECV; the rest
/// is its index in the table.
const SEND_BIT: u64 = 1;

const USAGE: &str =
    "usage: echo-raw-uring [--addr HOST:PORT] [--threads N] [--exit-after CONNECTIONS]";

/// One connection: its socket, its buffer, and how much of the last receive is echoed.
struct Conn {
    fd: OwnedFd,
    buf: Box<[u8]>,
    /// Bytes the last RECV put in `buf`.
    len: usize,
    /// Bytes of those already sent.
    sent: usize,
}

/// One thread's ring, listener and connections.
struct Worker {
    /// The connections by index; `None` is a free slot (listed in `free`).
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// Operations submitted whose last completion has not been reaped (rule 3).
    inflight: usize,
    ring: IoUring,
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.inflight > 0 {
            // Only on unwinding (the loop returns with nothing in flight): the kernel may
            // still write into these buffers until the ring is torn down, so never free
            // them (rule 3).
            std::mem::forget(std::mem::take(&mut self.conns));
        }
    }
}

impl Worker {
    /// Queues `entry`, submitting what is queued first if the submission queue is full.
    fn push(&mut self, entry: squeue::Entry) {
        self.inflight += 1;
        loop {
            // SAFETY: every entry built in this file points only at memory that outlives
            // the operation: a connection's boxed buffer (rules 1 and 2) or nothing.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return;
            }
            // The queue is full: hand what is queued to the kernel, then retry.
            if let Err(e) = self.ring.submit() {
                if e.raw_os_error() != Some(libc::EINTR) {
                    panic!("io_uring_enter: {e}");
                }
            }
        }
    }

    /// Queues a RECV for connection `i` into its whole buffer.
    fn recv(&mut self, i: usize) {
        let c = self.conns[i].as_mut().expect("live connection");
        let entry = opcode::Recv::new(
            types::Fd(c.fd.as_raw_fd()),
            c.buf.as_mut_ptr(),
            c.buf.len() as u32,
        )
        .build()
        .user_data((i as u64) << 1);
        self.push(entry);
    }

    /// Queues a SEND of what connection `i` received and has not sent yet.
    fn send(&mut self, i: usize) {
        let c = self.conns[i].as_ref().expect("live connection");
        let rest = &c.buf[c.sent..c.len];
        let entry = opcode::Send::new(
            types::Fd(c.fd.as_raw_fd()),
            rest.as_ptr(),
            rest.len() as u32,
        )
        .build()
        .user_data(((i as u64) << 1) | SEND_BIT);
        self.push(entry);
    }

    /// Adds an accepted socket to the table and starts its first RECV.
    fn add(&mut self, fd: RawFd) {
        // SAFETY: a completed accept's result is a new file descriptor that nothing else
        // owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let _ = socket2::SockRef::from(&fd).set_tcp_nodelay(true);
        let conn = Conn {
            fd,
            buf: vec![0u8; BUF_SIZE].into_boxed_slice(),
            len: 0,
            sent: 0,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.conns[i] = Some(conn);
                i
            }
            None => {
                self.conns.push(Some(conn));
                self.conns.len() - 1
            }
        };
        self.recv(i);
    }

    /// Closes connection `i`, which has nothing in flight (rule 2).
    fn close(&mut self, i: usize) {
        self.conns[i] = None;
        self.free.push(i);
    }
}

/// A ring with SINGLE_ISSUER and DEFER_TASKRUN if the kernel has them (6.1), else a plain
/// one; and the flags it got, for the banner.
fn ring() -> std::io::Result<(IoUring, &'static str)> {
    match IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(RING_ENTRIES)
    {
        Ok(r) => Ok((r, "SINGLE_ISSUER DEFER_TASKRUN")),
        Err(_) => Ok((IoUring::new(RING_ENTRIES)?, "no setup flags")),
    }
}

/// Echoes on one ring until killed; with `exit_after`, until that many connections have
/// come and gone.
fn serve(worker: usize, addr: SocketAddr, exit_after: Option<u64>) {
    let listener = echo_bench::peer_server::reuse_port_listener(addr).unwrap_or_else(|e| {
        eprintln!("echo-raw-uring: worker {worker} cannot listen on {addr}: {e}");
        std::process::exit(1)
    });
    let (ring, flags) = ring().unwrap_or_else(|e| {
        eprintln!("echo-raw-uring: worker {worker} cannot set up io_uring: {e}");
        std::process::exit(1)
    });
    println!("echo-raw-uring: worker {worker} with io_uring ({flags}) listening on {addr}");
    let mut w = Worker {
        conns: Vec::new(),
        free: Vec::new(),
        inflight: 0,
        ring,
    };
    let accept = opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd()))
        .build()
        .user_data(ACCEPT);
    w.push(accept.clone());
    let mut accepting = true;
    let mut accepted = 0u64;
    let mut live = 0usize;
    let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(2 * RING_ENTRIES as usize);
    while w.inflight > 0 {
        match w.ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
            Err(e) => panic!("io_uring_enter: {e}"),
        }
        // Copy the completions out, so that handling them may queue new entries.
        cqes.extend(
            w.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for (data, res, flags) in cqes.drain(..) {
            match data {
                ACCEPT => {
                    if !cqueue::more(flags) {
                        // The multishot accept ended: cancelled, or an error such as EMFILE.
                        w.inflight -= 1;
                        accepting = false;
                    }
                    if res >= 0 {
                        if exit_after.is_some_and(|n| accepted >= n) {
                            // Accepted before the cancellation took hold: not ours to serve.
                            // SAFETY: a new fd nothing else owns; closed at once.
                            drop(unsafe { OwnedFd::from_raw_fd(res) });
                            continue;
                        }
                        accepted += 1;
                        live += 1;
                        w.add(res);
                        if exit_after.is_some_and(|n| accepted >= n) && accepting {
                            let cancel =
                                opcode::AsyncCancel2::new(types::CancelBuilder::user_data(ACCEPT))
                                    .build()
                                    .user_data(CANCEL);
                            w.push(cancel);
                        }
                    } else if res != -libc::ECANCELED {
                        eprintln!(
                            "echo-raw-uring: accept failed: {}; retrying",
                            std::io::Error::from_raw_os_error(-res)
                        );
                    }
                    if !accepting && exit_after.is_none_or(|n| accepted < n) {
                        if res < 0 {
                            // Out of fds clears only as connections close: back off.
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        w.push(accept.clone());
                        accepting = true;
                    }
                }
                CANCEL => w.inflight -= 1,
                _ => {
                    w.inflight -= 1;
                    let i = (data >> 1) as usize;
                    if res <= 0 {
                        // EOF, reset, or a SEND that moved nothing: done with it.
                        w.close(i);
                        live -= 1;
                        continue;
                    }
                    let c = w.conns[i].as_mut().expect("live connection (rule 2)");
                    if data & SEND_BIT == 0 {
                        c.len = res as usize;
                        c.sent = 0;
                        w.send(i);
                    } else {
                        c.sent += res as usize;
                        if c.sent < c.len {
                            w.send(i); // a short send: the rest
                        } else {
                            w.recv(i);
                        }
                    }
                }
            }
        }
        if exit_after.is_some_and(|n| accepted >= n) && live == 0 && w.inflight == 0 {
            break;
        }
    }
    drop(listener);
    println!("echo-raw-uring: worker {worker} served {accepted} connection(s); exiting");
}

fn main() {
    let args = echo_bench::peer_server::ServerCli {
        usage: USAGE,
        default_addr: "127.0.0.1:7878",
        default_threads: 1,
        exit_after: true,
        modes: &[],
    }
    .parse();
    let (addr, threads, exit_after) = (args.addr, args.threads, args.exit_after);
    println!(
        "echo-raw-uring: {threads} thread(s), no runtime, one ring and listener each, one {} KiB \
         buffer per connection",
        BUF_SIZE / 1024
    );
    let workers: Vec<_> = (0..threads)
        .map(|w| {
            std::thread::Builder::new()
                .name(format!("echo-raw-uring-{w}"))
                .spawn(move || serve(w, addr, exit_after))
                .expect("spawn worker")
        })
        .collect();
    let mut failed = false;
    for w in workers {
        failed |= w.join().is_err();
    }
    if failed {
        std::process::exit(1);
    }
}
