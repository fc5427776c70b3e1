//! The sample generator's error type: why no community was written.

use std::path::PathBuf;

/// Why a sample generation stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Creating or writing a file failed (permissions, disk full).
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A configuration value that cannot work (fewer than 2 users, a share above 1).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
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
