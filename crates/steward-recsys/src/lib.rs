//! Recommendation over a community: who will value which thread, and who can
//! answer which question. Models learn from the interaction matrix built from
//! the store's events; each is an immutable value kept in the artifact
//! registry, and a user's factors are folded in online from new events.

pub mod error;

pub mod als;
pub mod bpr;
mod codec;
pub mod content;
pub mod ease;
pub mod hybrid;
pub mod knn;
mod linalg;
pub mod matrix;
pub mod metrics;
pub mod model;
pub mod movielens;
pub mod popularity;
pub mod split;
pub mod synthetic;

pub use error::{Error, Result};
