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
    /// Opening, updating or saving a search index.
    #[error("{what}: {source}")]
    Search {
        what: String,
        #[source]
        source: Box<steward_search::Error>,
    },
    /// Training, loading or serving the recommender.
    #[error("{what}: {source}")]
    Recsys {
        what: String,
        #[source]
        source: Box<steward_recsys::Error>,
    },
    /// Building, updating or querying the knowledge graph.
    #[error("{what}: {source}")]
    Kg {
        what: String,
        #[source]
        source: Box<steward_kg::Error>,
    },
    /// Reading the tagger's training corpus, or its stored artifact.
    #[error("{what}: {message}")]
    Ner { what: String, message: String },
    /// A blocking loader thread panicked or was cancelled.
    #[error("{what}: the loading thread stopped: {message}")]
    LoaderThread { what: String, message: String },
    /// A job spec that cannot run: an unknown kind, a missing, unknown or
    /// out-of-range field (named by its dotted path).
    #[error("invalid job spec: `{field}`: {message}")]
    InvalidJobSpec { field: String, message: String },
    /// The job was asked to stop and did, with everything it wrote consistent
    /// (whole batches); running it again finishes it.
    #[error(
        "cancelled on request; everything done so far is kept, and running the job again finishes it"
    )]
    Cancelled,
    /// A `strict` import skipped records.
    #[error("{} records were skipped and strict is set; fix them in the source (the report lists file and line) or import without strict", .report.total_skipped)]
    StrictSkips {
        /// The whole report, to show what was skipped where.
        report: Box<steward_ingest::report::ImportReport>,
    },
    /// An import stopped (a missing file, a store failure); what was written
    /// is kept and running it again resumes.
    #[error("importing {path}: {source}")]
    Import {
        path: PathBuf,
        #[source]
        source: Box<steward_ingest::Error>,
    },
    /// Embedding or training failed.
    #[error("{what}: {source}")]
    Task {
        what: String,
        #[source]
        source: Box<steward_ml::Error>,
    },
    /// The task running job `id` panicked (a bug) or was aborted.
    #[error("job {id}: its task stopped unexpectedly: {message}")]
    JobTask { id: i64, message: String },
    /// A store call outside a task failed.
    #[error("{what}: {source}")]
    Store {
        what: String,
        #[source]
        source: Box<steward_store::Error>,
    },
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
