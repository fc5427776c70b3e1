//! Shared test fixtures for every Steward crate (a dev-dependency only): the
//! shared data and model folders that tests skip without (and fail without
//! under `CI=true`), temporary SQLite and PostgreSQL stores that leave nothing
//! behind, and a small hand-made community.
//!
//! Tests panic rather than return errors here: a fixture that cannot be set up
//! is a failed test, with a message saying what to fix.

pub mod dumps;
pub mod fixtures;
mod shared;
mod test_db;

pub use shared::{shared_data_dir, shared_model_dir};
pub use test_db::{TestDb, on_every_backend};

/// The shared data folder `name` (see [`shared_data_dir`]), or `return` from
/// the calling test, which is then skipped: `let dir = require_shared!(data "se-ai-2017");`.
/// `model` instead of `data` looks in the shared model folder.
#[macro_export]
macro_rules! require_shared {
    (data $name:expr) => {
        match $crate::shared_data_dir($name) {
            Some(dir) => dir,
            None => return,
        }
    };
    (model $name:expr) => {
        match $crate::shared_model_dir($name) {
            Some(dir) => dir,
            None => return,
        }
    };
}

/// Whether the tests run in CI (`CI=true`), where nothing may be skipped.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// Skips (prints why, returns `None`) outside CI; fails the test under
/// `CI=true`, where a skipped test would pass without having run.
fn skip_or_fail<T>(reason: &str) -> Option<T> {
    if in_ci() {
        panic!("CI=true and {reason}: CI must run every test");
    }
    eprintln!("skipping: {reason}");
    None
}
