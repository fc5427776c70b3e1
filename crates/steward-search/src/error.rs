//! The crate's one error type: the store failing, the index failing (with what
//! it was doing), an index built by another layout, vectors of the wrong
//! length, a saved vector index that cannot be read, and a cancelled job.

use std::path::PathBuf;

use steward_domain::PostId;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the community from the store failed.
    #[error(transparent)]
    Store(#[from] steward_store::Error),
    #[error(transparent)]
    Ml(#[from] steward_ml::Error),
    #[error("the query is empty: give some words to search for")]
    EmptyQuery,
    #[error("a search thread failed: {0}")]
    WorkerThread(String),
    /// tantivy failed: a damaged or locked index directory, a full disk, or a
    /// bug. `action` says what the search index was doing.
    #[error("search index: {action}: {source}")]
    Index {
        action: &'static str,
        #[source]
        source: tantivy::TantivyError,
    },
    /// The index on disk was written with another schema or analyzer than
    /// this Steward's: its terms would not match the queries' terms. Nothing
    /// was changed; a rebuild replaces it.
    #[error(
        "the search index at {dir} was built by another version of Steward ({detail}): \
         rebuild it with `steward index build`"
    )]
    SchemaMismatch { dir: PathBuf, detail: String },
    /// The index directory could not be created or read.
    #[error("{action} {path}: {source}")]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    /// Duplicate calibration found nothing to learn from: no duplicate or
    /// related links between questions, or none of them among the candidates.
    #[error(
        "nothing to learn duplicates from: {detail}; import a community with duplicate or related \
         links (PostLinks.xml) and build the indices (`steward index build`)"
    )]
    NoLinks { detail: String },
    /// A saved duplicate calibration that cannot be read.
    #[error(
        "duplicate calibration `{name}` v{version} cannot be read: {message}; \
         run `steward dupes --calibrate` again"
    )]
    CorruptCalibration {
        name: String,
        version: i64,
        message: String,
    },
    /// Calibration was cancelled; nothing was saved.
    #[error("duplicate calibration cancelled; nothing was saved, run it again to finish")]
    CalibrationCancelled,
}

impl Error {
    pub(crate) fn worker_thread(error: tokio::task::JoinError) -> Error {
        Error::WorkerThread(error.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Maps a tantivy error into [`Error::Index`] with what was being done:
/// `.map_err(index_failed("committing"))`.
pub(crate) fn index_failed(action: &'static str) -> impl FnOnce(tantivy::TantivyError) -> Error {
    move |source| Error::Index { action, source }
}
