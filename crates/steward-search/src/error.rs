//! The crate's one error type.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] steward_store::Error),
    #[error(transparent)]
    Ml(#[from] steward_ml::Error),
    #[error("the query is empty: give some words to search for")]
    EmptyQuery,
    #[error("a search thread failed: {0}")]
    WorkerThread(String),
}

impl Error {
    pub(crate) fn worker_thread(error: tokio::task::JoinError) -> Error {
        Error::WorkerThread(error.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
