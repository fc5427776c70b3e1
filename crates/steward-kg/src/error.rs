//! What can go wrong while building, updating, loading or querying the graph.

/// Errors of the knowledge graph.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the store failed.
    #[error(transparent)]
    Store(#[from] steward_store::Error),
    /// The stored graph snapshot is not one this version can read.
    #[error("knowledge-graph artifact is unreadable: {0}")]
    Codec(String),
    /// Embedding entity descriptions failed.
    #[error("embedding entity descriptions: {0}")]
    Embedding(String),
    /// Nothing to build from.
    #[error("{0}")]
    Empty(String),
    /// No graph has been built yet.
    #[error(
        "no knowledge graph is built yet: run `steward kg build` (or queue the `build-kg` job) after importing a community"
    )]
    NotBuilt,
    /// An entity id, key or name that is not in the graph.
    #[error(
        "no entity `{0}` in the knowledge graph; `steward kg show --search TEXT` lists matching names"
    )]
    UnknownEntity(String),
    /// The job was cancelled; what was stored so far is consistent.
    #[error("cancelled")]
    Cancelled,
}

impl From<steward_jobs::Cancelled> for Error {
    fn from(_: steward_jobs::Cancelled) -> Error {
        Error::Cancelled
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
