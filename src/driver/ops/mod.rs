//! The operations, one file per family. Each implements both faces of
//! [`Operation`](super::Operation).

/// Builds an entry on `$fd` (a [`Fd`](crate::driver::Fd)): by its slot in the
/// registered file table (IOSQE_FIXED_FILE) when it has one, else by number. The body
/// names the target `$t`; it is built once per kind of target.
macro_rules! on_fd {
    ($fd:expr, |$t:ident| $build:expr) => {
        match $fd.fixed_slot() {
            Some(slot) => {
                let $t = io_uring::types::Fixed(slot);
                $build
            }
            None => {
                let $t = io_uring::types::Fd($fd.raw());
                $build
            }
        }
    };
}

mod deadline;
mod detached;
mod eventfd;
mod fs;
mod lookup;
mod multi;
mod net;
mod nop;
mod poll;
mod process;
mod splice;
mod udp;
mod unix;

pub(crate) use deadline::Deadline;
pub(crate) use detached::{AfterSend, DetachedBuf, WriteBehind};
pub(crate) use eventfd::EventfdRead;
pub(crate) use fs::{
    fixed_rw_count, Fallocate, Fsync, OpenAt, PoolCall, ReadAt, ReadvAt, SetLen, Statx, WriteAt,
    WritevAt,
};
pub(crate) use lookup::LookupHost;
pub(crate) use multi::{try_recv_pooled, AcceptMulti, MultiReceive, RecvMulti, RecvPooled};
pub(crate) use net::{
    Accept, Connect, LateAccepts, PeerAddr, Recv, RecvVectored, Send, SendVectored, Shutdown,
};
pub(crate) use nop::Nop;
pub(crate) use poll::{FdReadiness, PollIn};
pub(crate) use process::{
    kill_pid, pidfd_open, pidfd_send_signal, pipe, set_nonblocking, waitid_pid, waitid_pidfd,
    FdKind, WaitPid,
};
pub(crate) use splice::Pipe;
pub(crate) use udp::{
    try_recv_from_pooled, Datagram, DatagramMulti, LateDatagrams, PooledDatagram, RecvFromPooled,
    RecvMsg as RecvDatagram, SendMsg as SendDatagram, POOL_HEADROOM,
};
pub(crate) use unix::{ConnectUnix, RecvMsg, SendMsg, MAX_FDS};
