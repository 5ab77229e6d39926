//! tokio's multi_thread runtime pinned like ringio's workers, for the cross-core benches
//! (`cross_core.rs`, `sync.rs`), which include this file with `#[path]`.

/// A two-worker tokio multi_thread runtime for cross-core benches. With `pinned`, the
/// calling (`block_on`) thread is pinned to the first CPU and tokio's workers to the
/// second, as ringio's pinned workers are; the caller's affinity comes back when the
/// returned guard drops. Unpinned, the kernel tends to put both ends on one core.
pub fn tokio_two_workers(pinned: bool) -> (tokio::runtime::Runtime, AffinityGuard) {
    let guard = AffinityGuard(
        nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).expect("sched_getaffinity"),
    );
    let cpus = ringio::runtime::available_cpus();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_all();
    if pinned {
        let far = cpus[1 % cpus.len()];
        builder.on_thread_start(move || pin_to(far));
        pin_to(cpus[0]);
    }
    let rt = builder
        .build()
        .unwrap_or_else(|e| panic!("cannot start the tokio runtime: {e}"));
    (rt, guard)
}

/// Restores the calling thread's CPU affinity when dropped.
pub struct AffinityGuard(nix::sched::CpuSet);

impl Drop for AffinityGuard {
    fn drop(&mut self) {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &self.0);
    }
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).expect("cpu index in range");
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).expect("sched_setaffinity");
}
