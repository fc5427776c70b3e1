//! The store's error type.

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is neither a file path, a `sqlite:` URL nor a `postgres://` URL.
    #[error("unsupported database URL `{0}`: use a file path, sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// The database refused or failed a statement.
    #[error("database error while {context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// A stored value could not be turned back into a domain value.
    #[error("corrupt row in {table}: {message}")]
    Corrupt { table: &'static str, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
