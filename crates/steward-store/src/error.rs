//! The store's error type: one enum for every way a store call can fail, so
//! callers can tell bad input, a missing directory and a database fault apart.

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is neither a file path, a `sqlite:` URL nor a `postgres://` URL.
    #[error("unsupported database URL `{0}`: use a file path, sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// SQLite creates the database file but not the directories above it.
    #[error(
        "cannot create the SQLite database `{path}`: its directory `{directory}` does not exist"
    )]
    MissingDirectory { path: String, directory: String },
    /// A PostgreSQL schema name Steward refuses to quote (empty, too long, or with a NUL).
    #[error("invalid PostgreSQL schema name `{0}`: use 1 to 63 characters, no NUL")]
    InvalidSchema(String),
    /// The database was migrated by a newer Steward; this one does not know its schema.
    #[error(
        "the database schema is at version {found}, newer than the {known} this Steward knows: upgrade Steward"
    )]
    SchemaTooNew { found: i64, known: i64 },
    /// A value that no backend can store faithfully (a NUL in text, a non-finite weight).
    /// Checked before anything is written, so that SQLite and PostgreSQL agree.
    #[error("cannot store {table} `{id}`: {message}")]
    InvalidValue {
        table: &'static str,
        id: String,
        message: String,
    },
    /// The database refused or failed a statement.
    #[error("database error while {context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// A stored value could not be turned back into a domain value.
    #[error("corrupt row in {table}: {message}")]
    Corrupt {
        table: &'static str,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches what the store was doing to a sqlx error: `.map_err(database("writing posts"))`.
pub(crate) fn database(context: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Database { context, source }
}
