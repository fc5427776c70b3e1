//! The snapshot of a running job that every observer sees: the CLI draws it,
//! the job row stores it as JSON and `/api/v1/jobs` shows that JSON as is.

use serde::{Deserialize, Serialize};

/// What `done` and `total` count, so that a reader can format them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    #[default]
    Items,
    Bytes,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Items => "items",
            Unit::Bytes => "bytes",
        }
    }
}

/// How far a job is in its current phase. `rate_per_sec` is measured over the
/// last few seconds (not since the start), so a job that slows down or stalls
/// shows it; both it and `eta_secs` are `None` until there is enough to measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// What the job is doing now (a file name, "embedding", "svd"); empty
    /// before the job has said anything.
    pub phase: String,
    pub done: u64,
    /// `None` when the phase cannot know its size in advance.
    pub total: Option<u64>,
    pub unit: Unit,
    pub rate_per_sec: Option<f64>,
    /// Seconds left at the current rate; needs a total and a positive rate.
    pub eta_secs: Option<f64>,
    /// A short line beside the numbers ("120 embedded, 30 unchanged").
    pub message: Option<String>,
}

impl Progress {
    /// `done / total` in [0, 1], when the total is known.
    pub fn fraction(&self) -> Option<f64> {
        match self.total {
            Some(0) => Some(1.0),
            Some(total) => Some((self.done as f64 / total as f64).min(1.0)),
            None => None,
        }
    }
}
