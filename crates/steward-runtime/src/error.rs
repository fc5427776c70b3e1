//! The runtime's error type: configuration problems that name their key, and
//! failures building a part from a valid configuration.

use std::path::PathBuf;

use crate::config::Origin;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong reading a configuration or building from it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--config FILE` names a file that is not there (a missing
    /// `./steward.toml` is fine: the defaults apply).
    #[error(
        "config file {path} does not exist (named by --config); create it (steward.example.toml lists every key) or drop --config"
    )]
    MissingConfigFile { path: PathBuf },
    #[error("reading config file {path}: {source}")]
    ReadConfigFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not TOML at all; the message carries the line and column.
    #[error("config file {path} is not valid TOML: {message}")]
    ParseConfigFile { path: PathBuf, message: String },
    /// Keys or values that are wrong, each naming its key and origin.
    #[error("{}", render_problems(.problems))]
    Invalid { problems: Vec<Problem> },
    /// Opening (creating, migrating) the database named by `database.url`.
    #[error(
        "opening the database `{url}` (database.url, from {origin}): {source}; check --database, STEWARD_DATABASE_URL or database.url in steward.toml: a SQLite file path or a postgres:// URL"
    )]
    OpenStore {
        url: String,
        origin: Origin,
        /// Boxed: the store's error is large and this one is returned often.
        #[source]
        source: Box<steward_store::Error>,
    },
    /// The database is there and the URL is right, but another process held
    /// its lock past the busy timeout (an import writing, say).
    #[error(
        "opening the database `{url}`: it is locked by another process (still locked after database.busy_timeout_ms = {busy_timeout_ms}): {source}; wait for the other command to finish and retry, or raise database.busy_timeout_ms"
    )]
    StoreBusy {
        url: String,
        busy_timeout_ms: u64,
        #[source]
        source: Box<steward_store::Error>,
    },
    /// Finding, downloading or loading a model.
    #[error("{what}: {source}")]
    Model {
        what: String,
        #[source]
        source: Box<steward_ml::Error>,
    },
    /// A blocking loader thread panicked or was cancelled.
    #[error("{what}: the loading thread stopped: {message}")]
    LoaderThread { what: String, message: String },
}

/// One wrong key or value: which key, where it was set, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key (`server.bind`, `quotas[1].scope`), or the environment variable
    /// or flag when no key could be named.
    pub key: String,
    /// Where the offending value came from; `None` for a key that is unset.
    pub origin: Option<Origin>,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.origin {
            Some(origin) => write!(f, "`{}` (from {origin}): {}", self.key, self.message),
            None => write!(f, "`{}`: {}", self.key, self.message),
        }
    }
}

fn render_problems(problems: &[Problem]) -> String {
    match problems {
        [one] => format!("invalid configuration: {one}"),
        many => {
            let mut text = format!("invalid configuration ({} problems):", many.len());
            for problem in many {
                text.push_str("\n  ");
                text.push_str(&problem.to_string());
            }
            text
        }
    }
}
