//! Recommendation over a community: who will value which thread, and who can
//! answer which question. Models learn from the interaction matrix built from
//! the store's events; each is an immutable value kept in the artifact
//! registry, and a user's factors are folded in online from new events.

pub mod error;

pub use error::{Error, Result};
