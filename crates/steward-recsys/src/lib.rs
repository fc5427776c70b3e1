//! Recommendation over a community: who will value which thread, and who can
//! answer which question. Models learn from the interaction matrix built from
//! the store's events; each is an immutable value kept in the artifact
//! registry, and a user's factors are folded in online from new events.

pub mod error;

pub mod als;
pub mod bpr;
pub mod bundle;
mod codec;
pub mod content;
pub mod dataset;
pub mod ease;
pub mod experts;
pub mod hybrid;
pub mod knn;
mod linalg;
pub mod matrix;
pub mod metrics;
pub mod model;
pub mod movielens;
pub mod popularity;
pub mod profile;
pub mod recommend;
pub mod service;
pub mod split;
pub mod synthetic;
pub mod train;

pub use error::{Error, Result};
