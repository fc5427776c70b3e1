//! The HTTP API, the only crate that speaks HTTP and JSON: community data and
//! live events under `/api/v1`, and OpenAI-compatible endpoints under `/v1`
//! served from Steward's own models. `docs/api.md` documents every route.
//!
//! Handlers parse, call and map; the work lives in [`community`], [`events`],
//! [`openai_api`], [`keys`] and [`jobs`], and in the library crates they call. Every
//! route sits behind the principal guard, which checks the caller's API key
//! against the permission the route declares ([`route_specs`]).

pub mod ask;
pub mod cache;
pub mod community;
mod connections;
pub mod dto;
pub mod duplicates;
pub mod error;
pub mod events;
mod guard;
pub mod jobs;
pub mod keys;
pub mod kg;
pub mod openai_api;
pub mod recsys;
mod routes;
pub mod search;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use steward_auth::{Authenticator, RateLimiter, RateLimits};
use steward_ml::audit::Gateway;
use steward_ml::embed::Embedder;
use steward_store::Store;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, Error, OpenAiError, Result};
pub use guard::{ErrorShape, RouteSpec, route_specs};

/// Limits of the server; plain values, defaults fit a small community.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Largest request body accepted; larger ones get 413 `payload_too_large`.
    pub body_limit_bytes: usize,
    /// Time limit of an `/api` request.
    pub request_timeout: Duration,
    /// Time limit of a `/v1` request until its answer starts: generation on a
    /// CPU takes long. A streamed answer is not cut off once it has started.
    pub llm_timeout: Duration,
    /// Whether callers without a key may read the community (stats, posts,
    /// users, the model list). Writes and model calls always need a key.
    pub public_read: bool,
    /// A connection that has not sent a whole request head within this time
    /// is closed: idle ones (between keep-alive requests too) and ones
    /// sending their head a byte at a time.
    pub header_read_timeout: Duration,
    /// Open connections at most; a new one past it closes the oldest.
    pub max_connections: usize,
    /// How old `/api/v1/stats` and listing totals may get before a refresh
    /// off the request path; zero computes them on every request.
    pub stats_max_age: Duration,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            // Room for a batch of 1000 events or a few hundred texts to embed.
            body_limit_bytes: 2 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            llm_timeout: Duration::from_secs(300),
            public_read: true,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            stats_max_age: Duration::from_secs(5),
        }
    }
}

/// What handlers share; cheap to clone. Models are optional: without them
/// the community endpoints work and the model endpoints answer 503
/// `model_unavailable`.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    /// The chat model behind its quotas and audit log.
    pub llm: Option<Arc<Gateway>>,
    pub embedder: Option<Arc<Embedder>>,
    pub config: ServerConfig,
    /// Checks the API keys callers present. `None`: no key is accepted, the
    /// server serves anonymous callers only (what they may read).
    pub authenticator: Option<Arc<Authenticator>>,
    /// Per-key and per-client request rates.
    pub rate_limiter: Arc<RateLimiter>,
    /// Stats and listing totals, refreshed off the request path.
    pub caches: cache::ReadCaches,
    /// Both search indices over the store; `None`: `/api/v1/search` answers
    /// 503 `search_unavailable`.
    pub searcher: Option<steward_search::searcher::Searcher>,
    /// What a search gets when its request does not say (`[search]`).
    pub search_defaults: search::SearchDefaults,
    /// How `POST /api/v1/ask` retrieves, gates and attributes (`[ask]`).
    pub ask_options: steward_search::answer::AskOptions,
    /// The promoted duplicate calibration of the searcher's model, read
    /// again when a newer version is promoted (`/api/v1/questions/similar`).
    pub duplicate_calibration: Arc<steward_search::duplicates::CalibrationCache>,
    /// The promoted recommender; `None`: the recommendation, profile and
    /// expert routes answer 503 `recommender_unavailable`.
    pub recsys: Option<steward_recsys::service::RecsysService>,
    /// The knowledge graph; `None`: the `/api/v1/kg/...` routes answer 503
    /// `kg_unavailable`.
    pub kg: Option<steward_kg::service::KgService>,
}

impl AppState {
    /// A state with the store only, default limits, and no key accepted:
    /// anonymous callers read, nobody writes.
    pub fn new(store: Store) -> AppState {
        AppState {
            store,
            llm: None,
            embedder: None,
            config: ServerConfig::default(),
            authenticator: None,
            rate_limiter: Arc::new(RateLimiter::new(RateLimits::default())),
            caches: cache::ReadCaches::default(),
            searcher: None,
            search_defaults: search::SearchDefaults::default(),
            ask_options: steward_search::answer::AskOptions::default(),
            duplicate_calibration: Arc::default(),
            recsys: None,
            kg: None,
        }
    }

    /// The same state, accepting the keys `authenticator` checks.
    pub fn with_authenticator(mut self, authenticator: Authenticator) -> AppState {
        self.authenticator = Some(Arc::new(authenticator));
        self
    }
}

/// Every route, each behind the principal guard with the permission it
/// declares (see [`route_specs`]), with body limit, timeouts and request tracing.
pub fn router(state: AppState) -> Router {
    let mut api = Router::new();
    let mut openai = Router::new();
    for (spec, method_router) in routes::all() {
        let (path, shape) = (spec.path, spec.shape);
        let guarded = method_router.route_layer(from_fn_with_state(
            guard::Guard::new(state.clone(), spec),
            guard::guard,
        ));
        match shape {
            ErrorShape::Api => api = api.route(path, guarded),
            ErrorShape::OpenAi => openai = openai.route(path, guarded),
        }
    }
    let api = api.route_layer(from_fn_with_state(
        state.config.request_timeout,
        routes::api_timeout,
    ));
    let openai = openai.route_layer(from_fn_with_state(
        state.config.llm_timeout,
        routes::openai_timeout,
    ));
    api.merge(openai)
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.body_limit_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves, then stops
/// accepting connections and waits for requests in flight (streams included)
/// to finish. Bind port 0 for a free port; `listener.local_addr()` tells which.
/// Connections are limited and timed as `state.config` says (see
/// `connections.rs`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let limits = connections::ConnectionLimits {
        header_read_timeout: state.config.header_read_timeout,
        max_connections: state.config.max_connections,
    };
    connections::serve(listener, router(state), limits, shutdown).await?;
    Ok(())
}
