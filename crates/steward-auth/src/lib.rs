//! Who is calling, and may they? Roles and permissions ([`Role`],
//! [`Permission`], [`allows`], [`authorize`]), API keys (`stw_<id>_<secret>`,
//! stored as a keyed hash: [`create_key`], [`Authenticator`]), the server
//! secret that keys that hash ([`auth_secret`]) and per-caller rate limits
//! ([`RateLimiter`]).
//!
//! The server turns an `Authorization` header into a [`Caller`] with an
//! [`Authenticator`], then asks [`authorize`] whether that caller may do what
//! the route declares it needs. Nothing here knows HTTP.

mod access;
mod authenticator;
mod error;
mod key;
mod rate_limit;
mod secret;

pub use access::{Caller, Denied, Permission, Principal, Role, allows, authorize};
pub use authenticator::{Authenticator, DEFAULT_CACHE_TTL, TOUCH_INTERVAL};
pub use error::{Error, Result};
pub use key::{KEY_PREFIX, PresentedKey, create_key, parse_bearer, parse_key};
pub use rate_limit::{Rate, RateLimited, RateLimiter, RateLimits};
pub use secret::{MIN_SECRET_CHARS, ServerSecret, auth_secret, secret_file_path};
