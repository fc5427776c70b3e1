//! How a Steward gets put together: the typed [`Config`] (built-in defaults,
//! `steward.toml`, `STEWARD_*` environment, flags; every value with its origin)
//! and [`build`], the one place that turns a `Config` into a store, models and
//! an LLM gateway; [`jobs`] (what a long task is and the one way to run it)
//! and [`worker`] (the loop that runs queued jobs). Binaries parse argv into
//! config settings and call these.

pub mod ask;
pub mod build;
pub mod config;
pub mod dupes;
mod error;
pub mod jobs;
pub mod kg;
pub mod recsys;
pub mod search;
pub mod worker;

pub use config::Config;
pub use error::{Error, Problem, Result};
