//! Search over a community: a BM25 index (tantivy, over steward-text's
//! tokenizer) and a vector index over the stored post embeddings, each kept
//! current by following the store's change feed, and their fusion.
//!
//! The unit of retrieval is a thread: a question (or article) with its
//! answers folded into its document.

pub mod analyzer;
pub mod answer;
pub mod document;
pub mod duplicates;
pub mod error;
pub mod eval;
pub mod fusion;
pub mod lexical;
pub mod metrics;
pub mod searcher;
pub mod synonyms;
pub mod vector;

pub use document::ThreadDocument;
pub use error::{Error, Result};
pub use fusion::{reciprocal_rank, weighted};
pub use lexical::{LexicalHit, LexicalIndex, LexicalScores, LexicalStatus, ScoredThread};
pub use metrics::{Aggregate, MetricsSummary, mrr, ndcg_at, recall_at};
pub use synonyms::{Expansion, TagSynonyms};
pub use vector::{
    EXACT_BELOW, VectorHit, VectorIndex, VectorIndexKind, VectorOptions, vector_index_name,
};

use serde::{Deserialize, Serialize};
use steward_domain::{Post, PostKind, Timestamp};

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

/// What one run of an index job did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexReport {
    /// `"rebuild"`: everything read from the store; `"changes"`: only the
    /// change feed after the index's position was applied.
    pub mode: &'static str,
    /// Documents (re)written.
    pub indexed: u64,
    /// Documents removed because their post is gone (or no thread root any
    /// more); 0 for a rebuild, which replaces the index wholesale.
    pub deleted: u64,
    /// The feed seq the index reflects after the run.
    pub position: i64,
}

/// The start (UTC midnight) of a day written `YYYY-MM-DD`, the form the date
/// filters take on the command line and in the API; `None` otherwise.
pub fn parse_day(text: &str) -> Option<Timestamp> {
    let date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

impl Filters {
    /// Whether nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
            && self.created_from.is_none()
            && self.created_to.is_none()
            && self.answered.is_none()
            && self.kinds.is_empty()
    }

    /// Whether the thread rooted at `post` passes: what the lexical index
    /// checks in its query, checked against a stored post (for hits of the
    /// vector index, which keeps vectors only).
    pub fn matches(&self, post: &Post) -> bool {
        let answered = post.answer_count > 0 || post.accepted_answer_id.is_some();
        self.tags
            .iter()
            .all(|tag| post.tags.iter().any(|own| own == tag))
            && self.created_from.is_none_or(|from| post.created_at >= from)
            && self.created_to.is_none_or(|to| post.created_at < to)
            && self.answered.is_none_or(|wanted| wanted == answered)
            && (self.kinds.is_empty() || self.kinds.contains(&post.kind))
    }
}
