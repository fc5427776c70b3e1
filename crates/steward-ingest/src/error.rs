//! The ingest crate's error type: what stops an import as a whole. Bad records
//! never do; they are skips in the [`crate::report::ImportReport`].

use std::path::PathBuf;

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed (missing directory, permissions, disk full).
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The dump directory has no `Posts.xml`, the one file every import needs.
    #[error(
        "{0} holds no Posts.xml; point the import at the folder of an unpacked Stack Exchange dump"
    )]
    MissingPosts(PathBuf),
    /// The store failed; the batch being written was rolled back and re-running
    /// the import resumes where it stopped.
    #[error("store error: {0}")]
    Store(#[from] steward_store::Error),
    /// The job was cancelled (checked after each batch); everything written
    /// before is kept and a re-run converges to the complete import.
    #[error("import cancelled after {rows_done} rows; run it again to finish")]
    Cancelled { rows_done: u64 },
    /// The background reader thread died (a bug: it should never panic).
    #[error("reader thread for {0} stopped unexpectedly")]
    ReaderStopped(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
