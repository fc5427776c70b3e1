//! The principal guard in front of every route: who is calling (the
//! `Authorization` header through the [`Authenticator`](steward_auth::Authenticator)),
//! within their rate (the [`RateLimiter`](steward_auth::RateLimiter)), and
//! allowed what the route declares it needs ([`steward_auth::authorize`])?
//! The [`Caller`] then rides in the request's extensions for the handler.
//!
//! A route is added to the router only together with its [`RouteSpec`]
//! (see `routes::all`), so none can be served without a declared permission.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use steward_auth::{Caller, Denied, Permission, RateLimited, authorize};

use crate::AppState;
use crate::error::{ApiError, OpenAiError};

/// Which error body a route answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"error": {"code", "message", ...}}` (`/api`).
    Api,
    /// OpenAI's `{"error": {"message", "type", "param", "code"}}` (`/v1`).
    OpenAi,
}

/// One route: its method and path (as routed, `{id}` for parameters), the
/// permission a caller needs, and its error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub permission: Permission,
    pub shape: ErrorShape,
}

/// Every route the router serves, with what it needs.
pub fn route_specs() -> Vec<RouteSpec> {
    crate::routes::all()
        .into_iter()
        .map(|(spec, _)| spec)
        .collect()
}

/// The guard's state: the app's, and the route it stands in front of.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    state: AppState,
    spec: RouteSpec,
}

impl Guard {
    pub(crate) fn new(state: AppState, spec: RouteSpec) -> Guard {
        Guard { state, spec }
    }

    fn refuse(&self, error: ApiError) -> Response {
        match self.spec.shape {
            ErrorShape::Api => error.into_response(),
            ErrorShape::OpenAi => OpenAiError(error).into_response(),
        }
    }

    /// 401, with the challenge RFC 6750 asks for (`invalid_token` when a key
    /// was sent and refused).
    fn unauthorized(&self, error: &steward_auth::Error, key_sent: bool) -> Response {
        let mut api_error =
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", error.to_string());
        api_error.details.reason = Some(error.reason());
        let mut response = self.refuse(api_error);
        let challenge = if key_sent {
            r#"Bearer realm="steward", error="invalid_token""#
        } else {
            r#"Bearer realm="steward""#
        };
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        response
    }

    fn rate_limited(&self, limited: RateLimited) -> Response {
        let seconds = limited.retry_after_secs();
        let mut response = self.refuse(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; retry after {seconds} s"),
        ));
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
        response
    }
}

/// The middleware: authenticate, rate-limit, authorize, then hand over.
pub(crate) async fn guard(
    State(guard): State<Guard>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    let header = request.headers().get(AUTHORIZATION);
    let key_sent = header.is_some();
    let authenticated = match header.map(|value| value.to_str()) {
        None => Ok(Caller::Anonymous),
        Some(Err(_)) => Err(steward_auth::Error::MalformedKey),
        Some(Ok(text)) => match &guard.state.authenticator {
            Some(authenticator) => authenticator.authenticate(Some(text)).await,
            // No key is accepted here, however well formed.
            None => steward_auth::parse_bearer(text).and(Err(steward_auth::Error::UnknownKey)),
        },
    };
    let caller = match authenticated {
        Ok(caller) => caller,
        Err(error) if error.is_unauthorized() => {
            // A refused key counts against the client's anonymous rate, so
            // guessing keys is as slow as any anonymous traffic.
            if let Err(limited) = guard.state.rate_limiter.check(&Caller::Anonymous, client) {
                return guard.rate_limited(limited);
            }
            tracing::debug!(reason = error.reason(), "refused an API key");
            return guard.unauthorized(&error, key_sent);
        }
        Err(error) => return guard.refuse(ApiError::internal(&error)),
    };
    if let Err(limited) = guard.state.rate_limiter.check(&caller, client) {
        return guard.rate_limited(limited);
    }
    match authorize(
        &caller,
        guard.spec.permission,
        guard.state.config.public_read,
    ) {
        Ok(()) => {}
        Err(Denied::NeedsKey) => {
            return guard.unauthorized(&steward_auth::Error::MissingKey, false);
        }
        Err(Denied::Forbidden) => {
            let role = caller
                .principal()
                .map_or("anonymous", |principal| principal.role.as_str());
            return guard.refuse(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this key ({role}) may not {}: it needs permission `{}`",
                    describe(guard.spec.permission),
                    guard.spec.permission
                ),
            ));
        }
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// What a permission lets one do, for the 403 message.
fn describe(permission: Permission) -> &'static str {
    match permission {
        Permission::CheckHealth => "check the server's health",
        Permission::ReadCommunity => "read the community",
        Permission::ReadMembers => "read members' profiles and recommendations",
        Permission::WriteEvents => "post events",
        Permission::UseLlm => "call the models",
        Permission::ReadLlmUsage => "read LLM usage",
        Permission::ManageKeys => "manage API keys",
        Permission::ReadJobs => "read jobs",
        Permission::RunJobs => "queue or cancel jobs",
    }
}
