//! Search over a community: a BM25 index (tantivy, over steward-text's
//! tokenizer) and a vector index over the stored post embeddings, each kept
//! current by following the store's change feed, and their fusion.
//!
//! The unit of retrieval is a thread: a question (or article) with its
//! answers folded into its document.

pub mod analyzer;
pub mod document;
pub mod error;
pub mod fusion;
pub mod lexical;
pub mod metrics;
pub mod vector;

pub use error::{Error, Result};
pub use fusion::{reciprocal_rank, weighted};
pub use metrics::{Aggregate, MetricsSummary, mrr, ndcg_at, recall_at};
pub use vector::{
    EXACT_BELOW, VectorHit, VectorIndex, VectorIndexKind, VectorOptions, vector_index_name,
};

use serde::{Deserialize, Serialize};
use steward_domain::{PostKind, Timestamp};

/// What a search is narrowed to; every part is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    /// Threads carrying every one of these tags (lower-case names).
    pub tags: Vec<String>,
    /// Created at or after.
    pub created_from: Option<Timestamp>,
    /// Created before.
    pub created_to: Option<Timestamp>,
    /// `Some(true)`: only threads with an answer; `Some(false)`: only unanswered.
    pub answered: Option<bool>,
    /// Only these kinds of thread root (question, article, ...); empty: all.
    pub kinds: Vec<PostKind>,
}

/// What one indexing run did, for the job summary and `--json` output; the
/// same shape for the lexical and the vector index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexReport {
    /// `"rebuild"`: everything read from the store; `"changes"`: the feed followed.
    pub mode: &'static str,
    /// Documents (threads, vectors) written.
    pub indexed: u64,
    /// Documents removed.
    pub deleted: u64,
    /// The change-feed seq the index reflects after the run.
    pub position: i64,
}
