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
    /// A stored value could not be turned back into a domain value, or stored
    /// bytes no longer match their checksum.
    #[error("corrupt row in {table}: {message}")]
    Corrupt {
        table: &'static str,
        message: String,
    },
    /// A record asked for by its key does not exist (an artifact version to
    /// promote or read).
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    /// `rollback_artifact` on a name whose promotion history holds no earlier version.
    #[error(
        "artifact `{name}` has no earlier promoted version to roll back to: \
         promote a specific version instead"
    )]
    NothingToRollBack { name: String },
    /// An artifact stored as a file, read from a store that has no blob directory.
    #[error(
        "artifact `{name}` version {version} is kept in a file, but this store has no blob \
         directory: open it with `blob_dir` set to the directory that holds `{file}`"
    )]
    NoBlobDirectory {
        name: String,
        version: i64,
        file: String,
    },
    /// A file of the blob directory could not be read or written.
    #[error("{action} `{path}`: {source}")]
    File {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A job state name Steward does not know (a filter from a client, say).
    #[error("unknown job state `{0}`: use queued, running, succeeded, failed or cancelled")]
    UnknownJobState(String),
    /// A job may only be finished with a final state (succeeded, failed, cancelled).
    #[error("job {id} cannot be finished as `{state}`: use succeeded, failed or cancelled")]
    NotAFinalState { id: i64, state: &'static str },
}

impl Error {
    /// Whether the database refused a value of the batch (a constraint, a
    /// value out of range, a NUL) rather than failed as a whole (a lost
    /// connection, a full disk): an importer then splits the batch to find the
    /// record, where for a failure it stops and keeps what it has written.
    pub fn is_rejected_value(&self) -> bool {
        let Error::Database { source, .. } = self else {
            return matches!(self, Error::InvalidValue { .. });
        };
        let sqlx::Error::Database(database_error) = source else {
            return false;
        };
        if !matches!(database_error.kind(), sqlx::error::ErrorKind::Other) {
            return true;
        }
        let Some(code) = database_error.code() else {
            return false;
        };
        // PostgreSQL SQLSTATE classes 22 (data exception) and 23 (integrity
        // constraint); SQLite primary codes 18 (too big), 19 (constraint) and
        // 20 (type mismatch), which extended codes keep in their low byte.
        code.starts_with("22")
            || code.starts_with("23")
            || code
                .parse::<i64>()
                .is_ok_and(|code| matches!(code & 0xff, 18..=20))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the database was too busy to answer rather than broken: another
    /// writer held a lock past the busy timeout (SQLite `SQLITE_BUSY` /
    /// `SQLITE_LOCKED`, PostgreSQL `lock_timeout`), or no pooled connection
    /// came free within the acquire timeout. Worth retrying a moment later.
    pub fn is_busy(&self) -> bool {
        match self {
            Error::Database { source, .. } => is_busy(source),
            _ => false,
        }
    }
}

fn is_busy(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(database) => {
            let code = database.code();
            let code = code.as_deref().unwrap_or("");
            // SQLite reports (extended) result codes as numbers: the low byte
            // is the primary code, 5 BUSY and 6 LOCKED.
            let sqlite_busy = code
                .parse::<i64>()
                .is_ok_and(|number| matches!(number & 0xff, 5 | 6));
            // PostgreSQL: lock_not_available (lock_timeout), too_many_connections,
            // cannot_connect_now (starting up or shutting down).
            let postgres_busy = matches!(code, "55P03" | "53300" | "57P03");
            sqlite_busy || postgres_busy || database.message().contains("database is locked")
        }
        _ => false,
    }
}

/// Attaches what the store was doing to a sqlx error: `.map_err(database("writing posts"))`.
pub(crate) fn database(context: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Database { context, source }
}
