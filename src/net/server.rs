//! asyncio's stream helpers: [`open_connection`], [`start_server`] and [`Server`].
//!
//! # Implementation
//!
//! A server is an accept-loop task plus one task per client, all on the worker that
//! called `start_server`. Their shared state (`Clients`) holds each client's
//! `JoinHandle` and a weak reference to its stream, keyed in a slab; a client's task
//! removes its own entry when it ends, however it ends (a drop guard), so a panic is
//! reported by the dropped `JoinHandle` through the runtime's exception handler, and
//! the worker and the server go on. `close` aborts the accept loop, which closes the
//! listening socket; clients keep running. `wait_closed` is ready once the loop has
//! ended and the last client's task has.

use super::{OwnedReadHalf, OwnedWriteHalf, TcpListener, TcpStream, ToSocketAddrs};
use crate::io::{StreamReader, StreamWriter, DEFAULT_LIMIT};
use crate::task::JoinHandle;
use slab::Slab;
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

/// The reader and writer of one connection, as [`open_connection`] returns them and a
/// [`start_server`] handler receives them.
pub type Streams = (StreamReader<OwnedReadHalf>, StreamWriter<OwnedWriteHalf>);

/// Options of [`start_server_with`].
#[derive(Clone, Debug)]
pub struct ServerOptions {
    limit: usize,
    backlog: i32,
    reuse_port: bool,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            limit: DEFAULT_LIMIT,
            backlog: 100,
            reuse_port: false,
        }
    }
}

impl ServerOptions {
    /// asyncio's defaults: a 64 KiB reader limit, a backlog of 100, no SO_REUSEPORT.
    pub fn new() -> ServerOptions {
        ServerOptions::default()
    }

    /// The limit of each client's [`StreamReader`].
    pub fn limit(mut self, limit: usize) -> ServerOptions {
        self.limit = limit;
        self
    }

    /// The listen backlog.
    pub fn backlog(mut self, backlog: i32) -> ServerOptions {
        self.backlog = backlog;
        self
    }

    /// SO_REUSEPORT on the listening socket, so several workers (or processes) can
    /// listen on the same port and the kernel spreads connections between them.
    pub fn reuse_port(mut self, on: bool) -> ServerOptions {
        self.reuse_port = on;
        self
    }
}

/// Connects to `addr` (an address, or `"host:port"` resolved on the blocking pool) and
/// returns its reader (with the default 64 KiB limit) and writer; TCP_NODELAY is set,
/// as asyncio does.
///
/// ```
/// # ringio::run(async {
/// use ringio::net::{open_connection, start_server};
/// let server = start_server("127.0.0.1:0", |mut reader, mut writer| async move {
///     let line = reader.readline().await.unwrap();
///     writer.write_all(&line).await.unwrap();
/// })
/// .unwrap();
/// let (mut reader, mut writer) = open_connection(server.local_addr()).await.unwrap();
/// writer.write_all(b"echo me\n").await.unwrap();
/// assert_eq!(reader.readline().await.unwrap(), b"echo me\n");
/// # });
/// ```
///
/// # Errors
///
/// As [`TcpStream::connect`]: `ConnectionRefused` when nothing listens.
///
/// # Cancel safety
///
/// Dropping the future abandons the connection; no fd is left behind.
pub async fn open_connection(addr: impl ToSocketAddrs) -> io::Result<Streams> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    Ok((StreamReader::new(read), StreamWriter::new(write)))
}

/// Listens on `addr` and runs `handler(reader, writer)` as a task for each connection,
/// on the current worker: asyncio's `start_server`. See [`Server`] for stopping it.
///
/// Accepting goes on through errors: out of fds (`EMFILE`, `ENFILE`) or memory, the
/// loop reports the error, waits 100 ms and tries again, so the server serves again
/// once fds free up. A handler that panics is reported through the runtime's exception
/// handler (see `Builder::exception_handler`); the server goes on.
///
/// # Errors
///
/// As `bind(2)` and `listen(2)`: `AddrInUse`, for example.
///
/// # Panics
///
/// Outside a runtime.
pub fn start_server<F, Fut>(addr: impl std::net::ToSocketAddrs, handler: F) -> io::Result<Server>
where
    F: Fn(StreamReader<OwnedReadHalf>, StreamWriter<OwnedWriteHalf>) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    start_server_with(addr, &ServerOptions::default(), handler)
}

/// [`start_server`] with options: the reader limit, the backlog, SO_REUSEPORT.
///
/// # Errors
///
/// As [`start_server`].
///
/// # Panics
///
/// Outside a runtime.
pub fn start_server_with<F, Fut>(
    addr: impl std::net::ToSocketAddrs,
    options: &ServerOptions,
    handler: F,
) -> io::Result<Server>
where
    F: Fn(StreamReader<OwnedReadHalf>, StreamWriter<OwnedWriteHalf>) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let bind = super::BindOptions::new()
        .backlog(options.backlog)
        .reuse_port(options.reuse_port);
    serve(TcpListener::bind_with(addr, &bind)?, options.limit, handler)
}

/// Runs a server on `listener`, on the current worker.
fn serve<F, Fut>(listener: TcpListener, limit: usize, handler: F) -> io::Result<Server>
where
    F: Fn(StreamReader<OwnedReadHalf>, StreamWriter<OwnedWriteHalf>) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let listener = Rc::new(listener);
    let local_addr = listener.local_addr()?;
    let clients = Rc::new(RefCell::new(Clients::default()));
    let accepting = crate::spawn(accept_loop(
        listener.clone(),
        Rc::downgrade(&clients),
        limit,
        handler,
    ));
    clients.borrow_mut().accepting = Some(accepting);
    Ok(Server {
        clients,
        local_addr,
        listener,
    })
}

/// What a server knows of its clients.
#[derive(Default)]
struct Clients {
    /// Each client's task and stream, by the key its drop guard removes.
    live: Slab<Client>,
    /// The accept loop, until the server closes.
    accepting: Option<JoinHandle<()>>,
    /// `close` was called (or the loop ended).
    closed: bool,
    /// `wait_closed` callers.
    waiters: Vec<Waker>,
}

struct Client {
    /// `None` only for the moment between the slot's creation and the spawn.
    task: Option<JoinHandle<()>>,
    stream: Weak<TcpStream>,
}

impl Clients {
    fn done(&self) -> bool {
        self.closed && self.live.is_empty()
    }

    fn wake_if_done(&mut self) {
        if self.done() {
            self.waiters.drain(..).for_each(Waker::wake);
        }
    }
}

/// Removes a client's entry when its task ends (returns, panics or is aborted).
struct ClientGuard {
    clients: Weak<RefCell<Clients>>,
    key: usize,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        let Some(clients) = self.clients.upgrade() else {
            return;
        };
        // The handle is dropped outside the borrow: dropping it may report a panic,
        // and the report must not find the state borrowed.
        let entry = {
            let Ok(mut c) = clients.try_borrow_mut() else {
                return;
            };
            let entry = c.live.try_remove(self.key);
            c.wake_if_done();
            entry
        };
        drop(entry);
    }
}

async fn accept_loop<F, Fut>(
    listener: Rc<TcpListener>,
    clients: Weak<RefCell<Clients>>,
    limit: usize,
    handler: F,
) where
    F: Fn(StreamReader<OwnedReadHalf>, StreamWriter<OwnedWriteHalf>) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let handler = Rc::new(handler);
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                let closed = clients.upgrade().map_or(true, |c| c.borrow().closed);
                if closed {
                    // `close` shut the listening socket: accepts fail until the abort
                    // lands.
                    return;
                }
                if is_resource_shortage(&e) {
                    crate::runtime::report::warn(format_args!(
                        "server on {:?}: accept failed ({e}); retrying in 100 ms",
                        listener.local_addr().ok()
                    ));
                    crate::time::sleep(Duration::from_millis(100)).await;
                } else if matches!(
                    e.raw_os_error(),
                    Some(libc::EINVAL | libc::EBADF | libc::ENOTSOCK)
                ) {
                    // The listening socket itself is gone (shut down from elsewhere):
                    // retrying would spin.
                    crate::runtime::report::warn(format_args!(
                        "server on {:?}: the listener failed ({e}); it stops accepting",
                        listener.local_addr().ok()
                    ));
                    if let Some(state) = clients.upgrade() {
                        let mut state = state.borrow_mut();
                        state.closed = true;
                        state.wake_if_done();
                    }
                    return;
                } else {
                    // Anything else (a connection reset before it was accepted)
                    // concerns one client only; let other tasks run before retrying.
                    crate::yield_now().await;
                }
                continue;
            }
        };
        let Some(state) = clients.upgrade() else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let stream = Rc::new(stream);
        let key = state.borrow_mut().live.insert(Client {
            task: None,
            stream: Rc::downgrade(&stream),
        });
        let (read, write) = super::split::split_rc(stream);
        let guard = ClientGuard {
            clients: clients.clone(),
            key,
        };
        let handler = handler.clone();
        // The handler is called inside the client's task: a panic in its synchronous
        // part is that task's panic (reported, the entry removed), not the loop's.
        let task = crate::spawn(async move {
            let _guard = guard;
            handler(
                StreamReader::with_limit(read, limit),
                StreamWriter::new(write),
            )
            .await;
        });
        let mut state = state.borrow_mut();
        if let Some(client) = state.live.get_mut(key) {
            client.task = Some(task);
        }
    }
}

/// Out of fds or memory: waiting may help.
fn is_resource_shortage(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// A listening server from [`start_server`]: asyncio's `Server`.
///
/// [`close`](Server::close) stops accepting and keeps the clients; [`wait_closed`]
/// waits for their handlers too; [`close_clients`](Server::close_clients) and
/// [`abort_clients`](Server::abort_clients) end them. Dropping the `Server` closes it
/// (clients keep running).
///
/// [`wait_closed`]: Server::wait_closed
pub struct Server {
    clients: Rc<RefCell<Clients>>,
    local_addr: SocketAddr,
    /// The listening socket, shared with the accept loop, so `close` can shut it.
    listener: Rc<TcpListener>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("clients", &self.clients.borrow().live.len())
            .finish()
    }
}

impl Server {
    /// The address it listens on (with the port the kernel picked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether it still accepts connections.
    pub fn is_serving(&self) -> bool {
        !self.clients.borrow().closed
    }

    /// Clients whose handlers are running.
    pub fn clients(&self) -> usize {
        self.clients.borrow().live.len()
    }

    /// Stops accepting: the listening socket closes, so new connections are refused.
    /// Clients already connected keep running.
    pub fn close(&self) {
        let accepting = {
            let mut c = self.clients.borrow_mut();
            c.closed = true;
            c.wake_if_done();
            c.accepting.take()
        };
        // Stop listening now, not when the aborted loop is next run: a connection
        // attempt from here on is refused.
        let _ = socket2::SockRef::from(self.listener.as_ref()).shutdown(Shutdown::Both);
        if let Some(task) = accepting {
            task.abort();
        }
    }

    /// Waits until the server is closed and every client's handler has finished.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn wait_closed(&self) {
        poll_fn(|cx| {
            let mut c = self.clients.borrow_mut();
            if c.done() {
                return Poll::Ready(());
            }
            if !c.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                c.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Serves until the future is dropped, which closes the server (asyncio's
    /// `serve_forever`, whose cancellation closes it).
    pub async fn serve_forever(&self) {
        struct CloseOnDrop<'a>(&'a Server);
        impl Drop for CloseOnDrop<'_> {
            fn drop(&mut self) {
                self.0.close();
            }
        }
        let _close = CloseOnDrop(self);
        std::future::pending::<()>().await
    }

    /// Closes every client gracefully (asyncio's `close_clients`): their connections
    /// stop reading, so each handler reads end of stream and finishes, while what it
    /// writes still goes out; its connection closes when its handler is done.
    pub fn close_clients(&self) {
        let streams: Vec<Rc<TcpStream>> = self
            .clients
            .borrow()
            .live
            .iter()
            .filter_map(|(_, c)| c.stream.upgrade())
            .collect();
        for stream in streams {
            let _ = socket2::SockRef::from(&*stream).shutdown(Shutdown::Read);
        }
    }

    /// Aborts every client's handler at once; their connections close with whatever
    /// was not yet sent (asyncio's `abort_clients`).
    pub fn abort_clients(&self) {
        for (_, client) in self.clients.borrow().live.iter() {
            if let Some(task) = &client.task {
                task.abort();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.close();
    }
}

/// What a [`WorkerServers`] tells each worker's part.
enum Command {
    Close,
    CloseClients,
    AbortClients,
}

/// [`start_server`] on every worker of a multi-worker runtime: one SO_REUSEPORT
/// listener per worker on the same address (the kernel spreads connections between
/// them), each with its own accept loop and its clients' tasks on that worker, so a
/// connection never leaves the core that accepted it. The thread-per-core server.
///
/// `handler` is cloned to every worker (so it must be `Send + Sync + Clone`); the
/// futures it makes stay on their worker and need not be `Send`. With port 0 the kernel
/// picks one port, and every worker listens on it.
///
/// ```
/// let rt = ringio::Builder::new().workers(2).build().unwrap();
/// rt.block_on(async {
///     use ringio::net::{open_connection, start_server_per_worker, ServerOptions};
///     let servers = start_server_per_worker("127.0.0.1:0", &ServerOptions::new(), |mut r, mut w| async move {
///         let line = r.readline().await.unwrap();
///         w.write_all(&line).await.unwrap();
///     })
///     .unwrap();
///     let (mut r, mut w) = open_connection(servers.local_addr()).await.unwrap();
///     w.write_all(b"hi\n").await.unwrap();
///     assert_eq!(r.readline().await.unwrap(), b"hi\n");
///     servers.close();
///     servers.wait_closed().await;
/// });
/// ```
///
/// # Errors
///
/// As `bind(2)` for any worker's listener.
///
/// # Panics
///
/// Outside a runtime.
pub fn start_server_per_worker<F, Fut>(
    addr: impl std::net::ToSocketAddrs,
    options: &ServerOptions,
    handler: F,
) -> io::Result<WorkerServers>
where
    F: Fn(StreamReader<OwnedReadHalf>, StreamWriter<OwnedWriteHalf>) -> Fut
        + Clone
        + Send
        + Sync
        + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let handle = crate::runtime::Handle::current();
    let bind = super::BindOptions::new()
        .backlog(options.backlog)
        .reuse_port(true);
    // Every listener is bound here, so a bind error comes back at once, and port 0
    // resolves to one port for all of them. A listener is a plain fd until its worker
    // first accepts on it.
    let first = std::net::TcpListener::from(TcpListener::bind_fd(addr, &bind)?);
    let local_addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..handle.workers() {
        listeners.push(TcpListener::bind_fd(local_addr, &bind)?.into());
    }
    let mut controls = Vec::new();
    let mut parts = Vec::new();
    for (worker, listener) in listeners.into_iter().enumerate() {
        let (tx, rx) = crate::sync::mpsc::channel(8);
        let (limit, handler) = (options.limit, handler.clone());
        let part = handle
            .spawn_local_on(worker, move || worker_part(listener, rx, limit, handler))
            .map_err(|e| io::Error::other(e.to_string()))?;
        controls.push(tx);
        parts.push(part);
    }
    Ok(WorkerServers {
        controls,
        parts: std::sync::Mutex::new(parts),
        local_addr,
    })
}

/// One worker's share of a [`WorkerServers`]: a [`Server`] on its listener, run until
/// it is closed (by a command, or by the `WorkerServers` going away) and its last
/// client is done.
async fn worker_part<F, Fut>(
    listener: std::net::TcpListener,
    mut commands: crate::sync::mpsc::Receiver<Command>,
    limit: usize,
    handler: F,
) where
    F: Fn(StreamReader<OwnedReadHalf>, StreamWriter<OwnedWriteHalf>) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let server = match TcpListener::from_std(listener).and_then(|l| serve(l, limit, handler)) {
        Ok(server) => server,
        Err(e) => {
            crate::runtime::report::warn(format_args!("a worker's server could not start: {e}"));
            return;
        }
    };
    let mut closed = std::pin::pin!(server.wait_closed());
    let mut commands_open = true;
    poll_fn(|cx| {
        while commands_open {
            match commands.poll_recv(cx) {
                Poll::Ready(Some(Command::Close)) => server.close(),
                Poll::Ready(Some(Command::CloseClients)) => server.close_clients(),
                Poll::Ready(Some(Command::AbortClients)) => server.abort_clients(),
                Poll::Ready(None) => {
                    // The `WorkerServers` is gone: stop accepting, keep the clients.
                    commands_open = false;
                    server.close();
                }
                Poll::Pending => break,
            }
        }
        closed.as_mut().poll(cx)
    })
    .await;
}

/// The servers of [`start_server_per_worker`], one per worker. `Send + Sync`: it may be
/// driven from any thread. Dropping it closes every worker's listener (clients keep
/// running).
pub struct WorkerServers {
    controls: Vec<crate::sync::mpsc::Sender<Command>>,
    parts: std::sync::Mutex<Vec<crate::task::RemoteJoinHandle<()>>>,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for WorkerServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerServers")
            .field("local_addr", &self.local_addr)
            .field("workers", &self.controls.len())
            .finish()
    }
}

impl WorkerServers {
    /// The address every worker listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many workers serve.
    pub fn workers(&self) -> usize {
        self.controls.len()
    }

    fn tell(&self, command: impl Fn() -> Command) {
        for control in &self.controls {
            // A full queue already holds commands the worker will act on; a closed one
            // belongs to a worker whose server is done.
            let _ = control.try_send(command());
        }
    }

    /// [`Server::close`] on every worker.
    pub fn close(&self) {
        self.tell(|| Command::Close);
    }

    /// [`Server::close_clients`] on every worker.
    pub fn close_clients(&self) {
        self.tell(|| Command::CloseClients);
    }

    /// [`Server::abort_clients`] on every worker.
    pub fn abort_clients(&self) {
        self.tell(|| Command::AbortClients);
    }

    /// Waits until every worker's server is closed and its clients are done.
    pub async fn wait_closed(&self) {
        let parts = std::mem::take(&mut *self.parts.lock().unwrap_or_else(|e| e.into_inner()));
        for part in parts {
            let _ = part.await;
        }
    }
}
