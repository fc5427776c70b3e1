//! One job abstraction for every long task (import, embedding, training,
//! download): the task reports typed [`Progress`] through a [`JobHandle`] and
//! checks it for cooperative cancellation; whoever runs the task (the CLI's
//! progress bar, the worker writing job rows) reads the same handle.
//!
//! Pure: no IO, no clock other than `Instant::now()` when the task reports.

mod handle;
mod progress;
mod rate;

pub use handle::{Cancelled, JobHandle};
pub use progress::{Progress, Unit};
