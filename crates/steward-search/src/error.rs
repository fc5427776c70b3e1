//! The crate's one error type: the store failing, vectors of the wrong
//! length, a saved index that cannot be read, and a cancelled job.

use steward_domain::PostId;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the community from the store failed.
    #[error(transparent)]
    Store(#[from] steward_store::Error),
    /// A stored vector's length differs from the other vectors of its model
    /// (a model id reused for another model): the index cannot compare them.
    #[error(
        "the `{model}` embedding of post {post_id} has {found} dimensions where the others \
         have {expected}: embed again with a model id of its own"
    )]
    Dimensions {
        model: String,
        post_id: PostId,
        expected: usize,
        found: usize,
    },
    /// A query vector's length differs from the index's: it was embedded by
    /// another model than the one the index was built for.
    #[error(
        "the query vector has {found} dimensions, the `{model}` vector index {expected}: \
         embed the query with the index's model"
    )]
    QueryDimensions {
        model: String,
        expected: usize,
        found: usize,
    },
    /// A saved vector index whose bytes or metadata do not make an index
    /// (written by another layout, or damaged past its checksum).
    #[error("vector index `{name}` v{version} cannot be read: {message}; build it again")]
    CorruptIndex {
        name: String,
        version: i64,
        message: String,
    },
    /// The job was cancelled between two pages. A rebuild leaves the index as
    /// it was before; following the feed keeps every page committed so far,
    /// and `position` is where the next run resumes.
    #[error("indexing cancelled at feed position {position}; run it again to finish")]
    Cancelled { position: i64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
