//! Unix sockets: request and reply over one Unix stream connection.
//!
//! `unix_pingpong`: a client task writes 64 bytes and reads 64 back, per iteration, from
//! an echo task on the same runtime, over one connected pair of Unix stream sockets.
//! One iteration is a round trip: two sends, two receives, and each task suspended and
//! woken by the driver once or more.
//!
//! # Why the comparison is fair
//!
//! Both variants run the same protocol on the same kind of socket, made the same way
//! (`socketpair(2)` through each runtime's `UnixStream::pair`, so no path and no accept
//! is involved): the same sizes, the same buffers reused from iteration to iteration,
//! the echo task reading up to 64 bytes and writing back what came. ringio reads and
//! writes with owned buffers (the kernel holds them while an operation is in flight),
//! tokio with `AsyncReadExt` and `AsyncWriteExt` over borrowed ones; each is its
//! runtime's own way. The pair is made once per variant, outside the timing: the echo
//! task lives on across `block_on` calls, and each sample times only its round trips.
//! As in `tcp.rs`, tokio runs its current_thread runtime on the thread that calls
//! `block_on`, as ringio does.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "support/pingpong.rs"]
mod pingpong;
mod support;

/// Bytes each way per round trip.
const SIZE: usize = 64;

fn unix_pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("unix_pingpong");
    group.throughput(Throughput::Elements(1));
    {
        let rt = support::ringio();
        let (client, echo) = rt.block_on(async {
            let (client, server) = ringio::net::UnixStream::pair().expect("pair");
            (client, ringio::spawn(pingpong::ringio_echo(server, SIZE)))
        });
        pingpong::ringio_rounds(&mut group, "ringio", &rt, &client, SIZE);
        drop(client);
        rt.block_on(echo).expect("echo task");
    }
    {
        let rt = support::tokio();
        let (mut client, echo) = rt.block_on(async {
            let (client, server) = tokio::net::UnixStream::pair().expect("pair");
            (client, tokio::spawn(pingpong::tokio_echo(server, SIZE)))
        });
        pingpong::tokio_rounds(&mut group, "tokio", &rt, &mut client, SIZE);
        drop(client);
        rt.block_on(echo).expect("echo task");
    }
    group.finish();
}

criterion_group!(benches, unix_pingpong);
criterion_main!(benches);
