//! The operations, one file per family. Each implements both faces of
//! [`Operation`](super::Operation).

mod multi;
mod net;
mod nop;

pub(crate) use multi::{AcceptMulti, RecvMulti, RecvPooled};
pub(crate) use net::{
    Accept, Connect, LateAccepts, Recv, RecvVectored, Send, SendVectored, SendZc, Shutdown,
};
pub(crate) use nop::Nop;
