//! What can go wrong while building data, training, loading or serving a model.

/// Errors of the recommender.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the store failed.
    #[error(transparent)]
    Store(#[from] steward_store::Error),
    /// A file (a MovieLens folder, say) could not be read or parsed.
    #[error("{path}: {message}")]
    Data { path: String, message: String },
    /// The bytes of a stored model are not a model this version can read.
    #[error("model artifact is unreadable: {0}")]
    Codec(String),
    /// There is nothing to learn from (no interactions, no users).
    #[error("{0}")]
    Empty(String),
    /// A parameter is outside what the model accepts.
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParameter { name: &'static str, message: String },
    /// No recommender has been trained (and promoted) yet.
    #[error(
        "no recommender is trained yet: run `steward train` (or queue the `train-recsys` job) after importing a community"
    )]
    NotTrained,
    /// The served bundle holds no model of this kind (content needs
    /// embeddings, EASE a small catalogue).
    #[error(
        "the served recommender has no `{0}` model; leave `model` out for the default, or retrain"
    )]
    ModelNotTrained(crate::model::ModelKind),
    /// The post does not exist.
    #[error("post {0} does not exist")]
    UnknownPost(steward_domain::PostId),
    /// Expert routing is for questions.
    #[error("post {0} is not a question")]
    NotAQuestion(steward_domain::PostId),
    /// The job was cancelled before the model was stored.
    #[error("cancelled")]
    Cancelled,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
