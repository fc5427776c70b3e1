//! The crate's one error type.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] steward_store::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
