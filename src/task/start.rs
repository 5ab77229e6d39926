//! [`start`]: begin a future's I/O now, await its result later.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Polls `future` once now, so the I/O its first poll submits (a send, a write) is on
/// its way, and returns it to be awaited later. Until then its completion wakes
/// nobody: the task is not polled just to learn that a send it is not waiting for has
/// finished. This is how an echo loop makes one poll per message: it starts the reply
/// and goes back to waiting for the next request, awaiting the reply's completion only
/// before the next one.
///
/// The first poll runs with a waker that does nothing; awaiting the returned
/// [`Started`] polls again with the caller's. Anything the future does only when
/// polled (another part of a short write, a retry) waits for that await, so await it
/// before you depend on it. Dropping a `Started` drops the future, with the usual
/// cancellation of its operation.
///
/// ```
/// use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
/// use ringio::net::{TcpListener, TcpStream};
///
/// ringio::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
///     let (server, _) = listener.accept().await.unwrap();
///     // The send is submitted now; the task is free to wait for other things.
///     let sending = ringio::task::start(client.write_all(b"ping".to_vec()));
///     let (res, got) = server.read_exact(vec![0u8; 4]).await;
///     res.unwrap();
///     assert_eq!(&got, b"ping");
///     sending.await.0.unwrap(); // long finished: no wake was spent on it
/// });
/// ```
pub fn start<F: Future + Unpin>(mut future: F) -> Started<F> {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut future).poll(&mut cx) {
        Poll::Ready(out) => Started(State::Done(Some(out))),
        Poll::Pending => Started(State::Running(future)),
    }
}

/// A future [`start`] has polled once; await it for its output.
#[must_use = "a started future's result (an I/O error) is seen only by awaiting it"]
pub struct Started<F: Future>(State<F>);

enum State<F: Future> {
    Running(F),
    /// Finished on the first poll (or since); `None` once the output was taken.
    Done(Option<F::Output>),
}

impl<F: Future> Started<F> {
    /// Whether the output is already here (the first poll finished it).
    pub fn is_done(&self) -> bool {
        matches!(self.0, State::Done(Some(_)))
    }
}

impl<F: Future + Unpin> Future for Started<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        match &mut this.0 {
            State::Running(future) => {
                let out = std::task::ready!(Pin::new(future).poll(cx));
                this.0 = State::Done(None);
                Poll::Ready(out)
            }
            State::Done(out) => Poll::Ready(out.take().expect("Started polled after it finished")),
        }
    }
}

impl<F: Future + Unpin> Unpin for Started<F> {}

impl<F: Future> std::fmt::Debug for Started<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("done", &matches!(self.0, State::Done(_)))
            .finish()
    }
}
