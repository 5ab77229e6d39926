//! Set-up shared by the bench files: the two runtimes, built the same way everywhere.
//!
//! Every bench times its loop itself with `Bencher::iter_custom` inside one `block_on`
//! per sample, so neither runtime's start-up, nor entering and leaving `block_on`, is in
//! the figures; only the per-iteration work is.

use std::sync::Once;

/// A ringio runtime on the backend `RINGIO_DRIVER` names (`auto` if unset). The backend
/// is printed once per bench binary, so a run's log says what was measured.
pub fn ringio() -> ringio::Runtime {
    ringio_from(&mut ringio::Builder::new())
}

/// [`ringio`] from a builder set up by the caller (more workers, MSG_RING off, ...); the
/// backend still comes from `RINGIO_DRIVER` unless the builder names one.
pub fn ringio_from(builder: &mut ringio::Builder) -> ringio::Runtime {
    let rt = builder
        .build()
        .unwrap_or_else(|e| panic!("cannot start the ringio runtime: {e}"));
    static SHOWN: Once = Once::new();
    SHOWN.call_once(|| eprintln!("ringio driver: {}", rt.driver_info()));
    rt
}

/// tokio's single-threaded runtime, with its I/O and time drivers: ringio's peer.
pub fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start the tokio runtime: {e}"))
}
