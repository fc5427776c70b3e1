//! Handlers: each parses its request, calls one function and maps the
//! result to a response. Nothing else happens here.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use steward_domain::{PostId, UserId};
use steward_ml::openai::{ChatCompletionRequest, EmbeddingsRequest, EmbeddingsResponse, ModelList};
use steward_store::Stats;

use crate::community::{self, PostsParams};
use crate::dto::{EventsAccepted, Health, PageDto, PostSummary, PostThread, Readiness, UserDto};
use crate::error::{ApiError, OpenAiError};
use crate::{AppState, events, openai_api};

type ApiResult<T> = Result<Json<T>, ApiError>;

pub(crate) async fn live() -> Json<Health> {
    Json(Health { status: "ok" })
}

pub(crate) async fn ready(State(state): State<AppState>) -> ApiResult<Readiness> {
    community::readiness(&state).await.map(Json)
}

pub(crate) async fn stats(State(state): State<AppState>) -> ApiResult<Stats> {
    community::stats(&state.store).await.map(Json)
}

pub(crate) async fn posts(
    State(state): State<AppState>,
    params: Result<Query<PostsParams>, QueryRejection>,
) -> ApiResult<PageDto<PostSummary>> {
    let Query(params) = params?;
    let query = params.to_query()?;
    community::posts(&state.store, &query).await.map(Json)
}

pub(crate) async fn post(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<PostThread> {
    let id = community::parse_id("id", &id)?;
    community::thread(&state.store, PostId(id)).await.map(Json)
}

pub(crate) async fn user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<UserDto> {
    let id = community::parse_id("id", &id)?;
    community::user(&state.store, UserId(id)).await.map(Json)
}

pub(crate) async fn events(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<EventsAccepted> {
    let Json(body) = body?;
    events::ingest(&state.store, &body, chrono::Utc::now())
        .await
        .map(Json)
}

pub(crate) async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<ChatCompletionRequest>, JsonRejection>,
) -> Result<Response, OpenAiError> {
    let Json(request) = body?;
    let role = openai_api::role(&headers)?;
    openai_api::chat(&state, role, request).await
}

pub(crate) async fn embeddings(
    State(state): State<AppState>,
    body: Result<Json<EmbeddingsRequest>, JsonRejection>,
) -> Result<Json<EmbeddingsResponse>, OpenAiError> {
    let Json(request) = body?;
    Ok(Json(openai_api::embeddings(&state, request).await?))
}

pub(crate) async fn models(State(state): State<AppState>) -> Json<ModelList> {
    Json(openai_api::models(&state))
}

pub(crate) async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route for {} {}",
        request.method(),
        request.uri().path()
    ))
}

pub(crate) async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

pub(crate) async fn api_timeout(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::timeout(limit).into_response(),
    }
}

pub(crate) async fn openai_timeout(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => OpenAiError(ApiError::timeout(limit)).into_response(),
    }
}
