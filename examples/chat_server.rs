//! A line-based chat server: asyncio's streams on ringio.
//!
//! ```text
//! cargo run --example chat_server -- 127.0.0.1:7000
//! # in other terminals:  nc 127.0.0.1 7000
//! ```
//!
//! Each client first sends its name (one line), then every line it sends is broadcast
//! to the others as `name: line`; `/quit` leaves. Joins and leaves are announced. A
//! client whose unsent backlog passes 1 MiB (it stopped reading) is disconnected rather
//! than let its buffer grow. Ctrl-C stops the server cleanly: it stops accepting, tells
//! everyone, closes every connection once its backlog is flushed, and waits for the
//! handlers.

use ringio::io::{ReadError, StreamReader, StreamWriter};
use ringio::net::{OwnedReadHalf, OwnedWriteHalf, Server};
use std::cell::RefCell;
use std::io;
use std::rc::Rc;

/// Unsent bytes a client may have before it is disconnected.
const MAX_BACKLOG: usize = 1 << 20;
/// The longest line (and name) a client may send.
const MAX_LINE: usize = 4096;

type Writer = Rc<RefCell<StreamWriter<OwnedWriteHalf>>>;

/// The clients in the room, by id.
#[derive(Default)]
pub struct Room {
    members: RefCell<Vec<(u64, String, Writer)>>,
    next_id: std::cell::Cell<u64>,
}

impl Room {
    /// Sends `text` to everyone but `from`, disconnecting members that fell too far
    /// behind. Never waits: a member's bytes go out as its socket takes them.
    fn broadcast(&self, from: Option<u64>, text: &[u8]) {
        let mut members = self.members.borrow_mut();
        members.retain(|(id, _, writer)| {
            if Some(*id) == from {
                return true;
            }
            let mut w = writer.borrow_mut();
            if w.write(text).is_err() || w.write_buffer_size() > MAX_BACKLOG {
                w.close(); // its handler sees the writer closing and ends
                return false;
            }
            true
        });
    }

    /// How many are in the room.
    pub fn len(&self) -> usize {
        self.members.borrow().len()
    }

    /// Whether the room is empty.
    pub fn is_empty(&self) -> bool {
        self.members.borrow().is_empty()
    }

    /// Tells everyone the server stops, and closes their writers (flushed by their
    /// handlers' `wait_closed`).
    pub fn shut_down(&self) {
        self.broadcast(None, b"* server shutting down\n");
        for (_, _, w) in self.members.borrow().iter() {
            w.borrow_mut().close();
        }
    }
}

/// One client's conversation.
async fn chat(
    room: Rc<Room>,
    mut reader: StreamReader<OwnedReadHalf>,
    writer: StreamWriter<OwnedWriteHalf>,
) {
    let writer: Writer = Rc::new(RefCell::new(writer));
    let name = match reader.readline().await {
        Ok(line) if !line.is_empty() => String::from_utf8_lossy(line.trim_ascii()).into_owned(),
        _ => return,
    };
    let id = room.next_id.get();
    room.next_id.set(id + 1);
    room.broadcast(None, format!("* {name} joined\n").as_bytes());
    room.members
        .borrow_mut()
        .push((id, name.clone(), writer.clone()));
    loop {
        if writer.borrow().is_closing() {
            break; // dropped by a broadcast, or the server is stopping
        }
        match reader.readline().await {
            Ok(line) if line.is_empty() || line.trim_ascii() == b"/quit" => break,
            Ok(line) => {
                let mut text = format!("{name}: ").into_bytes();
                text.extend_from_slice(&line);
                room.broadcast(Some(id), &text);
            }
            Err(ReadError::LimitOverrun { .. }) => {
                // Tell the sender, and skip the over-long line: its bytes are kept, so
                // read them out up to the newline.
                let _ = writer.borrow_mut().write(b"* line too long, dropped\n");
                while let Ok(chunk) = reader.read(MAX_LINE).await {
                    if chunk.is_empty() || chunk.ends_with(b"\n") {
                        break;
                    }
                }
            }
            Err(_) => break,
        }
    }
    room.members
        .borrow_mut()
        .retain(|(other, _, _)| *other != id);
    room.broadcast(None, format!("* {name} left\n").as_bytes());
    // Flush what is queued for this client, then FIN. The room no longer holds the
    // writer, so it is ours alone, and no borrow is held across the await.
    if let Ok(writer) = Rc::try_unwrap(writer) {
        let _ = writer.into_inner().wait_closed().await;
    }
}

/// The room's server on `addr`.
pub fn start(addr: &str) -> io::Result<(Server, Rc<Room>)> {
    let room = Rc::new(Room::default());
    let server = {
        let room = room.clone();
        ringio::net::start_server_with(
            addr,
            &ringio::net::ServerOptions::new().limit(MAX_LINE),
            move |reader, writer| chat(room.clone(), reader, writer),
        )?
    };
    Ok((server, room))
}

/// Stops the room cleanly: no new clients, everyone told, every connection closed
/// once what is queued for it is sent, handlers done.
pub async fn stop(server: &Server, room: &Room) {
    server.close();
    room.shut_down();
    // Handlers waiting for a line read end of stream; their writers still flush.
    server.close_clients();
    server.wait_closed().await;
}

#[allow(dead_code)]
fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    let rt = ringio::Runtime::new().expect("runtime");
    println!("chat_server: {}", rt.driver_info());
    let (server, room) = rt
        .block_on(async { start(&addr) })
        .unwrap_or_else(|e| panic!("chat_server: cannot listen on {addr}: {e}"));
    println!("chat_server: listening on {}", server.local_addr());
    match rt.block_on_interruptible(server.serve_forever()) {
        Ok(()) => {}
        Err(_) => println!("chat_server: interrupted, stopping"),
    }
    rt.block_on(stop(&server, &room));
    println!("chat_server: stopped");
}
