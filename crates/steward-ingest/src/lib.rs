//! Importers: Stack Exchange dumps and JSONL files into the store.
//!
//! Importers stream their input in bounded memory, write it to the store in
//! batches (one transaction each) and treat bad records as data: every skipped
//! record is reported with its file, line and reason, and the import goes on.
//! Re-running an import converges: rows are upserted by source id, events carry
//! stable keys and anonymous votes are kept by vote id, counted once each.
//!
//! [`intake`] is the one validation of interaction events, shared with the
//! server's live event endpoint.

mod batch;
mod checks;
mod error;
mod idset;
pub mod intake;
pub mod jsonl;
pub mod report;
mod rows;
pub mod stackexchange;
mod values;

pub use error::{Error, Result};
