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
    /// A model's chat template does not compile or raised an error for these messages.
    #[error("chat template: {0}")]
    Template(String),
    /// The prompt does not fit the model's context window; nothing was generated.
    #[error("prompt is {prompt_tokens} tokens, the model's context holds {context_length}")]
    PromptTooLong {
        prompt_tokens: usize,
        context_length: usize,
    },
    /// A quota refused the call; nothing was sent to the model.
    #[error(
        "LLM quota exceeded for {scope}: {used} of {limit} tokens used in the last {window_secs} s"
    )]
    QuotaExceeded {
        scope: String,
        used: i64,
        limit: i64,
        window_secs: i64,
    },
    /// Every generation slot is taken and the wait queue is full (`llm.max_concurrent`,
    /// `llm.max_queued`); nothing was sent to the model. Try again after `retry_after_secs`.
    #[error(
        "the model is busy: {running} calls running and {queued} waiting; try again in {retry_after_secs} s"
    )]
    Busy {
        running: usize,
        queued: usize,
        retry_after_secs: u64,
    },
    /// The caller went away (a client disconnected, a request was dropped) and
    /// generation stopped early; the tokens already spent are counted.
    #[error("the call was cancelled after {completion_tokens} generated tokens")]
    CallCancelled {
        prompt_tokens: u32,
        completion_tokens: u32,
    },
    /// The remote inference server failed or could not be reached.
    #[error("inference server {url}: {message}")]
    Remote { url: String, message: String },
    /// The remote inference server answered with an error status; `status` lets
    /// callers tell a retryable 429/5xx from a request that will never succeed.
    #[error("inference server {url} answered {status}: {message}")]
    RemoteStatus {
        url: String,
        status: u16,
        message: String,
    },
    /// The request cannot be served as asked (no messages, an unknown chat role,
    /// an empty embedding input); the caller must change it.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A downloaded model file does not hash to the SHA-256 Steward pins for
    /// it; it was deleted. A proxy, a mirror or a damaged transfer is likely.
    #[error(
        "downloaded `{file}` has SHA-256 {actual}, expected {expected}; it was deleted. \
         Check HF_ENDPOINT / your proxy and run the command again, or put the model in --model-dir"
    )]
    ChecksumMismatch {
        file: String,
        expected: String,
        actual: String,
    },
    #[error(transparent)]
    Store(#[from] steward_store::Error),
    /// The job running this (a download, LSA training) was cancelled; nothing
    /// half-done was kept (a partial download is removed, no model is stored).
    #[error("{0}")]
    Cancelled(#[from] steward_jobs::Cancelled),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
