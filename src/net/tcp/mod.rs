//! TCP: [`TcpListener`] and [`TcpStream`].

mod listener;
mod stream;

pub use listener::{BindOptions, TcpListener};
pub use stream::TcpStream;
