//! The runtime: [`Builder`], [`Runtime`], and the worker loop.
//!
//! ```
//! let rt = ringio::Builder::new().build().unwrap();
//! println!("running on {}", rt.driver_info());
//! let answer = rt.block_on(async { 40 + 2 });
//! assert_eq!(answer, 42);
//! ```

mod affinity;
mod blocking;
mod builder;
mod callbacks;
pub(crate) mod context;
mod debug;
mod handle;
mod metrics;
pub(crate) mod report;
#[allow(clippy::module_inception)]
mod runtime;
pub(crate) mod worker;

pub use crate::driver::{Driver, DriverInfo};
pub use affinity::available_cpus;
pub use builder::Builder;
pub use callbacks::{call_at, call_later, call_soon, CallbackHandle};
pub use debug::{DebugEvent, PanicKind, PanicReport};
pub use handle::{Handle, SpawnError};
pub use metrics::{current_driver, metrics, nop, tasks, Metrics, TaskSnapshot, TaskState};
pub use runtime::{run, Interrupted, Runtime};
