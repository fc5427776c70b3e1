//! Steward's configuration: one typed [`Config`], layered from the built-in
//! defaults (`steward.example.toml`, compiled in), the config file, `STEWARD_*`
//! environment variables and command-line flags, with the origin of every value
//! kept so that `steward config show` can say where each one came from.
//!
//! The sections are plain serde structs that deny unknown fields and have no
//! `Default`: every default is written once, in the example file.

mod check;
mod layers;
mod show;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use check::parse_quota;
pub(crate) use check::quota_scope;
pub use layers::ENV_ALIASES;
pub use show::Entry;
pub(crate) use show::mask_url_password;

use crate::{Error, Result};

/// The committed example config: every key, commented, with its default. It is
/// the built-in defaults, so the documentation cannot drift from the code.
pub const EXAMPLE: &str = include_str!("../../../../steward.example.toml");

/// The file looked for in the working directory when `--config` is not given.
pub const DEFAULT_FILE_NAME: &str = "steward.toml";

/// Everything Steward can be configured with; one field per section of
/// `steward.toml`, in the order `config show` prints them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseSettings,
    pub models: ModelsSettings,
    pub llm: LlmSettings,
    pub embedding: EmbeddingSettings,
    pub search: SearchSettings,
    pub ask: AskSettings,
    pub recsys: RecsysSettings,
    /// How much each kind of act counts for the recommender.
    pub interactions: steward_recsys::dataset::InteractionWeights,
    pub kg: KgSettings,
    pub server: ServerSettings,
    pub quotas: Vec<QuotaSettings>,
    pub worker: WorkerSettings,
    pub auth: AuthSettings,
    /// Where each value came from; filled by [`Config::load`].
    #[serde(skip)]
    provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// A SQLite file path, a `sqlite://` URL or a `postgres://` URL.
    pub url: String,
    pub max_connections: u32,
    /// How long a statement waits for another writer's lock before the
    /// server answers 503 `database_busy`.
    pub busy_timeout_ms: u64,
    /// How long a caller waits for a pooled connection (busy past it).
    pub acquire_timeout_secs: u64,
    /// Folder for artifacts bigger than the store keeps inline; unset: beside
    /// a SQLite file (`<file>.blobs/`), in the database for PostgreSQL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob_dir: Option<PathBuf>,
    /// PostgreSQL only: the schema to work in (created if missing); unset:
    /// the server's default search path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsSettings {
    /// Searched before the cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// A leading `~` stands for the home directory (see [`expand_home`]).
    pub cache_dir: String,
    pub hub: String,
    /// The variable holding the hub token: the config names it, never holds it.
    pub hub_token_env: String,
}

/// Where chat completions come from; a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmProvider {
    /// A GGUF model run in-process.
    Local,
    /// An OpenAI-compatible server at `llm.url`.
    OpenaiCompatible,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSettings {
    pub provider: LlmProvider,
    pub model: String,
    /// Required (and checked) when the provider is `openai_compatible`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Variables that may hold the API key; the first one set is used.
    pub api_key_env: Vec<String>,
    pub timeout_secs: u64,
    pub max_retries: u32,
    pub max_context: usize,
    pub prefix_cache_entries: usize,
    /// Calls generating at once, per process (the gateway's slots).
    pub max_concurrent: usize,
    /// Calls waiting for a slot; more are refused (503 with Retry-After).
    pub max_queued: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingSettings {
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSettings {
    /// The lexical index's folder; unset: beside a SQLite file
    /// (`<file>.search/`), `./steward-search/<schema>` for PostgreSQL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_dir: Option<PathBuf>,
    /// `bm25`, `dense` or `hybrid`: what a search runs when the request
    /// does not say.
    pub mode: steward_search::searcher::Mode,
    /// `rrf` or `weighted`: how hybrid merges its lists.
    pub fusion: steward_search::searcher::Fusion,
    /// The dense list's share in weighted fusion, 0 to 1.
    pub dense_weight: f64,
    /// How often `steward serve` brings its indices up to the change feed.
    pub refresh_secs: u64,
}

/// Cited question answering (`steward ask`, `POST /api/v1/ask`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskSettings {
    /// Threads read from the hybrid search.
    pub threads: usize,
    /// Passages kept for the prompt and for citations.
    pub passages: usize,
    /// The evidence gate, 0 to 1: below it the answer is refused.
    pub min_support: f64,
    /// Support a generated sentence needs from some passage to be shown, 0 to 1.
    pub sentence_support: f64,
    /// Share of the draft that must survive attribution, 0 to 1.
    pub min_kept_share: f64,
    /// The draft's token budget.
    pub max_tokens: u32,
    /// Characters of each passage in the prompt.
    pub passage_chars: usize,
}

/// The recommender and expert routing (`steward train`, `/api/v1/users/{id}/recommendations`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecsysSettings {
    /// Latent factors of ALS and BPR.
    pub factors: usize,
    /// ALS alternations.
    pub iterations: usize,
    /// ALS ridge penalty λ.
    pub regularization: f32,
    /// ALS confidence slope: `1 + alpha * weight`.
    pub alpha: f32,
    /// Neighbours kept per item by item-kNN.
    pub neighbours: usize,
    /// Try a few ALS settings on validation and keep the best.
    pub search: bool,
    /// Share of the latest acts held out to choose and score models.
    pub validation_share: f64,
    /// Events since training that make `steward serve` queue a retrain; 0: never.
    pub retrain_after_events: u64,
    /// How often `steward serve` looks for a newly promoted version and new threads.
    pub refresh_secs: u64,
    /// Answers in the last 7 days above which expert routing ranks a member down.
    pub weekly_answer_cap: u32,
}

/// The knowledge graph (`steward kg build`, `/api/v1/kg/...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KgSettings {
    /// Run the sequence tagger over posts to find names the tags lack.
    pub ner: bool,
    /// The CoNLL file the tagger is trained on when no `ner` artifact is
    /// stored; empty: `stackoverflow-ner/train.txt` under `STEWARD_DATA_DIR`.
    pub ner_corpus: String,
    /// Posts a found name must be in to become an entity.
    pub min_ner_posts: u64,
    /// Posts naming both ends that a co-occurrence edge needs.
    pub min_cooccurrence: i64,
    /// Entities per post paired for co-occurrence.
    pub max_cooccurring: usize,
    /// GraphSAGE training epochs; 0: no node embeddings.
    pub gnn_epochs: usize,
    /// How often `steward serve` applies new and edited posts to the graph; 0: never.
    pub update_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// `HOST:PORT`; checked at load.
    pub bind: String,
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    pub llm_timeout_secs: u64,
    pub header_read_timeout_secs: u64,
    pub max_connections: usize,
    pub stats_refresh_secs: u64,
    pub load_models: bool,
    pub run_worker: bool,
}

/// One LLM token quota as written in the config; [`crate::build::quotas`]
/// turns it into the gateway's `Quota` (the scope is checked at load).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSettings {
    /// `feature:NAME` or `role:NAME`.
    pub scope: String,
    pub tokens: i64,
    pub window_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Jobs one worker runs at once; forced to 1 on SQLite (one writer).
    pub concurrency: u32,
    pub poll_interval_ms: u64,
    pub heartbeat_secs: u64,
    pub stale_after_secs: u64,
    /// The name a worker claims jobs under; unset: `hostname:pid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    pub public_read: bool,
    /// Requests per second per client address for callers without a key.
    pub anonymous_requests_per_second: u32,
    /// Requests such a caller may send at once before the rate applies.
    pub anonymous_burst: u32,
}

/// A value that must not be printed: `Debug` masks it and `config show` masks
/// its key. [`Secret::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(********)")
    }
}

/// Where a value came from, most specific last in layering order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum Origin {
    /// The built-in default (`steward.example.toml`).
    Default,
    /// A command's own default, e.g. `steward demo` uses `./steward-demo.db`.
    CommandDefault { command: String },
    /// The config file at this path.
    File(PathBuf),
    /// This environment variable.
    Env(String),
    /// This command-line flag (`--bind`).
    Flag(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::CommandDefault { command } => write!(f, "default of `steward {command}`"),
            Origin::File(path) => write!(f, "file {}", path.display()),
            Origin::Env(name) => write!(f, "env {name}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

impl From<Origin> for String {
    fn from(origin: Origin) -> String {
        origin.to_string()
    }
}

/// Which file was read and where each dotted key's value came from. A key that
/// is unset (an optional key nobody set) has no entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Provenance {
    file: Option<PathBuf>,
    origins: BTreeMap<String, Origin>,
}

/// One value set by a flag or a command's default, before layering.
#[derive(Debug, Clone)]
pub struct Setting {
    key: String,
    /// An error when the value cannot be written as TOML (reported at load,
    /// naming the flag).
    value: std::result::Result<toml::Value, String>,
    origin: Origin,
}

impl Setting {
    /// `key` set by the command-line flag `flag` (as the user typed it, `--bind`).
    pub fn flag(flag: &str, key: &str, value: impl Serialize) -> Setting {
        Setting::new(key, value, Origin::Flag(flag.to_string()))
    }

    /// `key`'s default for one command; file, environment and flags override it.
    pub fn command_default(command: &str, key: &str, value: impl Serialize) -> Setting {
        Setting::new(
            key,
            value,
            Origin::CommandDefault {
                command: command.to_string(),
            },
        )
    }

    fn new(key: &str, value: impl Serialize, origin: Origin) -> Setting {
        Setting {
            key: key.to_string(),
            value: toml::Value::try_from(value).map_err(|error| error.to_string()),
            origin,
        }
    }
}

/// Collects the flags a command was given; flags left out set nothing.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    settings: Vec<Setting>,
}

impl Flags {
    pub fn new() -> Flags {
        Flags::default()
    }

    /// Sets `key` from `flag` when the flag was given (`Some`).
    pub fn set<T: Serialize>(&mut self, flag: &str, key: &str, value: Option<T>) -> &mut Flags {
        if let Some(value) = value {
            self.settings.push(Setting::flag(flag, key, value));
        }
        self
    }

    pub fn into_settings(self) -> Vec<Setting> {
        self.settings
    }
}

/// Everything a configuration is layered from, so that tests can give their
/// own environment and working directory.
#[derive(Debug, Clone)]
pub struct Sources {
    /// `--config FILE`: must exist.
    pub config_file: Option<PathBuf>,
    /// Where `steward.toml` is looked for when `config_file` is `None`; `None`
    /// looks nowhere.
    pub working_dir: Option<PathBuf>,
    /// The environment; only the variables [`Config::load`] documents are read.
    pub env: Vec<(String, String)>,
    /// A command's own defaults, layered right above the built-in ones.
    pub command_defaults: Vec<Setting>,
    /// Command-line flags, layered last.
    pub flags: Vec<Setting>,
}

impl Sources {
    /// The process's environment and working directory. Variables whose name or
    /// value is not UTF-8 are skipped, unless they look like Steward's (then the
    /// load reports them).
    pub fn from_process(config_file: Option<PathBuf>) -> Sources {
        let env = std::env::vars_os()
            .filter_map(|(name, value)| {
                let name = name.into_string().ok()?;
                match value.into_string() {
                    Ok(value) => Some((name, value)),
                    // Seen by the env layer, which names it as not UTF-8 (the
                    // marker holds NULs, which no real variable can).
                    Err(_) if layers::is_steward_variable(&name) => {
                        Some((name, layers::NOT_UTF8.to_string()))
                    }
                    Err(_) => None,
                }
            })
            .collect();
        Sources {
            config_file,
            working_dir: Some(PathBuf::from(".")),
            env,
            command_defaults: Vec::new(),
            flags: Vec::new(),
        }
    }

    /// No file, no environment, no flags: the built-in defaults only.
    pub fn none() -> Sources {
        Sources {
            config_file: None,
            working_dir: None,
            env: Vec::new(),
            command_defaults: Vec::new(),
            flags: Vec::new(),
        }
    }
}

impl Config {
    /// Layers defaults, file, environment and flags (later wins), then checks
    /// every key and value; each problem names its key and where it was set.
    pub fn load(sources: &Sources) -> Result<Config> {
        let layered = layers::layer(sources)?;
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(
            layered.table,
        ))
        .map_err(|error| {
            let key = error.path().to_string();
            let origin = layered.provenance.origin_of(&key).cloned();
            Error::Invalid {
                problems: vec![crate::Problem {
                    key,
                    origin,
                    message: error.into_inner().message().trim().to_string(),
                }],
            }
        })?;
        config.provenance = layered.provenance;
        let problems = check::check(&config);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(Error::Invalid { problems })
        }
    }

    /// The built-in defaults alone, as if no file, variable or flag were set.
    pub fn defaults() -> Config {
        Config::load(&Sources::none())
            .expect("steward.example.toml is a valid config: a unit test loads it")
    }

    /// Where `key` (dotted: `server.bind`) got its value; `None` for an unset
    /// optional key or a key that does not exist.
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.provenance.origins.get(key)
    }

    /// The config file that was read, if any.
    pub fn file(&self) -> Option<&Path> {
        self.provenance.file.as_deref()
    }
}

impl Provenance {
    /// The origin of a dotted key, or of the list holding it (`quotas[2].scope`
    /// came from wherever `quotas` came from).
    fn origin_of(&self, key: &str) -> Option<&Origin> {
        self.origins.get(key).or_else(|| {
            let list = key.split(['[', '.']).next()?;
            self.origins.get(list)
        })
    }
}

/// `~` or `~/...` with the home directory in front; anything else unchanged.
/// Without `HOME` the path is left as written.
pub fn expand_home(path: &str) -> PathBuf {
    let home = std::env::var_os("HOME").filter(|home| !home.is_empty());
    match (path, home) {
        ("~", Some(home)) => PathBuf::from(home),
        (path, Some(home)) if path.starts_with("~/") => PathBuf::from(home).join(&path[2..]),
        (path, _) => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests;
