//! CPU affinity: which CPUs this process may use, and pinning a thread to one.

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use std::io;

/// The CPUs the calling thread may run on (its affinity mask), in increasing order.
/// While a multi-worker runtime built on this thread is alive, the thread is pinned to
/// one CPU, so call this before building.
///
/// ```
/// assert!(!ringio::runtime::available_cpus().is_empty());
/// ```
pub fn available_cpus() -> Vec<usize> {
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1))
            .collect(),
    }
}

/// The calling thread's affinity mask, to restore later.
pub(crate) fn current_mask() -> Option<CpuSet> {
    sched_getaffinity(Pid::from_raw(0)).ok()
}

pub(crate) fn restore_mask(mask: &CpuSet) {
    let _ = sched_setaffinity(Pid::from_raw(0), mask);
}

/// Pins the calling thread to `cpu`.
pub(crate) fn pin_current_thread(cpu: usize) -> io::Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("CPU {cpu}: {e}")))?;
    sched_setaffinity(Pid::from_raw(0), &set)
        .map_err(|e| io::Error::from_raw_os_error(e as i32))
        .map_err(|e| io::Error::new(e.kind(), format!("cannot pin to CPU {cpu}: {e}")))
}
