//! The HTTP API, the only crate that speaks HTTP and JSON: community data and
//! live events under `/api/v1`, and OpenAI-compatible endpoints under `/v1`
//! served from Steward's own models. `docs/api.md` documents every route.
//!
//! Handlers parse, call and map; the work lives in [`community`], [`events`]
//! and [`openai_api`], and in the library crates they call.

pub mod community;
pub mod dto;
pub mod error;
pub mod events;
pub mod openai_api;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use steward_ml::audit::Gateway;
use steward_ml::embed::Embedder;
use steward_store::Store;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, Error, OpenAiError, Result};

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
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            // Room for a batch of 1000 events or a few hundred texts to embed.
            body_limit_bytes: 2 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            llm_timeout: Duration::from_secs(300),
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
}

impl AppState {
    /// A state with the store only and default limits.
    pub fn new(store: Store) -> AppState {
        AppState {
            store,
            llm: None,
            embedder: None,
            config: ServerConfig::default(),
        }
    }
}

/// Every route, with body limit, timeouts and request tracing.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/v1/health/live", get(routes::live))
        .route("/api/v1/health/ready", get(routes::ready))
        .route("/api/v1/stats", get(routes::stats))
        .route("/api/v1/posts", get(routes::posts))
        .route("/api/v1/posts/{id}", get(routes::post))
        .route("/api/v1/users/{id}", get(routes::user))
        .route("/api/v1/events", post(routes::events))
        .route_layer(from_fn_with_state(
            state.config.request_timeout,
            routes::api_timeout,
        ));
    let openai = Router::new()
        .route("/v1/chat/completions", post(routes::chat_completions))
        .route("/v1/embeddings", post(routes::embeddings))
        .route("/v1/models", get(routes::models))
        .route_layer(from_fn_with_state(
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
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
