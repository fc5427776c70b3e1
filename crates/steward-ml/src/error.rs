//! The ML runtime's error type.

/// What can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No model with this name in the model dir, the cache, or (offline) the hub.
    #[error("model `{name}` not found: {hint}")]
    ModelNotFound { name: String, hint: String },
    /// Model files exist but cannot be used (bad config, unsupported architecture).
    #[error("cannot load model from {path}: {message}")]
    BadModel { path: String, message: String },
    /// A tensor operation failed.
    #[error("model computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A quota refused the call; nothing was sent to the model.
    #[error("LLM quota exceeded for {scope}: {used} of {limit} tokens used in the last {window_secs} s")]
    QuotaExceeded {
        scope: String,
        used: i64,
        limit: i64,
        window_secs: i64,
    },
    /// The remote inference server failed or could not be reached.
    #[error("inference server {url}: {message}")]
    Remote { url: String, message: String },
    #[error(transparent)]
    Store(#[from] steward_store::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
