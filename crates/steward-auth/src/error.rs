//! The auth error type: the ways a presented key is refused (each a 401 to a
//! client, see [`Error::is_unauthorized`]) and the ways setting auth up fails.

use std::path::PathBuf;

use steward_domain::Timestamp;

/// What can go wrong checking a caller or managing keys and the server secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A route that needs a key was called without one.
    #[error("this endpoint needs an API key: send `Authorization: Bearer KEY`")]
    MissingKey,
    /// The `Authorization` header is not `Bearer stw_<id>_<secret>`.
    #[error("the Authorization header must be `Bearer stw_<id>_<secret>`")]
    MalformedKey,
    /// No key with this id, or the secret does not match it. One error for
    /// both, so that a caller cannot learn which key ids exist.
    #[error("the API key is not valid")]
    UnknownKey,
    #[error("the API key `{id}` was revoked")]
    RevokedKey { id: String },
    #[error("the API key `{id}` expired at {expired_at}")]
    ExpiredKey { id: String, expired_at: Timestamp },
    /// A role name that is none of `admin`, `moderator`, `analyst`, `member`, `service`.
    #[error("unknown role `{0}`: expected one of admin, moderator, analyst, member, service")]
    InvalidRole(String),
    /// A scope that names no permission.
    #[error("unknown scope `{0}`: expected one of {list}", list = crate::Permission::names())]
    InvalidScope(String),
    /// A configured server secret too short to key a hash with.
    #[error(
        "the auth secret (`auth.secret`, STEWARD_AUTH__SECRET) must be at least {min} characters, got {got}"
    )]
    SecretTooShort { min: usize, got: usize },
    /// PostgreSQL without a configured secret: replicas must share one, so
    /// none is made up.
    #[error(
        "no auth secret is configured: set `auth.secret` (or STEWARD_AUTH__SECRET) to a random \
         string of at least 32 characters, the same value on every replica that shares this \
         PostgreSQL database, so that a key made on one is accepted by all"
    )]
    MissingSecret,
    /// The secret file beside a SQLite database could not be read or made.
    #[error("auth secret file {path}: {source}")]
    SecretFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The secret file holds something that is not a secret Steward wrote.
    #[error("auth secret file {path} is corrupt: {message}")]
    CorruptSecretFile { path: PathBuf, message: String },
    /// The operating system's random number generator failed.
    #[error("the OS random number generator failed: {0}")]
    Random(getrandom::Error),
    #[error(transparent)]
    Store(#[from] steward_store::Error),
}

impl Error {
    /// Whether this is the caller's fault with their credentials (HTTP 401), as
    /// opposed to a fault on the server's side.
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            Error::MissingKey
                | Error::MalformedKey
                | Error::UnknownKey
                | Error::RevokedKey { .. }
                | Error::ExpiredKey { .. }
        )
    }

    /// A stable snake_case name for logs and error details.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::MissingKey => "missing_key",
            Error::MalformedKey => "malformed_key",
            Error::UnknownKey => "unknown_key",
            Error::RevokedKey { .. } => "revoked_key",
            Error::ExpiredKey { .. } => "expired_key",
            Error::InvalidRole(_) => "invalid_role",
            Error::InvalidScope(_) => "invalid_scope",
            Error::SecretTooShort { .. } => "secret_too_short",
            Error::MissingSecret => "missing_secret",
            Error::SecretFile { .. } => "secret_file",
            Error::CorruptSecretFile { .. } => "corrupt_secret_file",
            Error::Random(_) => "random",
            Error::Store(_) => "store",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
