//! Handlers: each parses its request, calls one function and maps the
//! result to a response. Nothing else happens here.

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use axum::{Extension, Json};
use serde_json::Value;
use steward_domain::{PostId, UserId};
use steward_ml::openai::{ChatCompletionRequest, EmbeddingsRequest, EmbeddingsResponse, ModelList};

use crate::community::{self, PostsParams, ThreadParams};
use steward_auth::{Caller, Permission};

use crate::dto::{
    CreatedKey, EventsAccepted, Health, JobDto, JobList, KeyDto, KeyList, LlmUsageList,
    NewKeyRequest, PageDto, PostSummary, PostThread, Readiness, UserDto,
};
use crate::error::{ApiError, OpenAiError};
use crate::guard::{ErrorShape, RouteSpec};
use crate::jobs::JobsParams;
use crate::{
    AppState, ask as answering, duplicates, events, jobs, keys, kg, openai_api, recsys, search,
};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Every route with the permission it needs; the router serves these and
/// nothing else. A new route goes here, and into the auth matrix test.
pub(crate) fn all() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    use Permission::{
        CheckHealth, ManageKeys, ReadCommunity, ReadJobs, ReadLlmUsage, ReadMembers, RunJobs,
        UseLlm, WriteEvents,
    };
    vec![
        api(Method::GET, "/api/v1/health/live", CheckHealth, live),
        api(Method::GET, "/api/v1/health/ready", CheckHealth, ready),
        api(Method::GET, "/api/v1/stats", ReadCommunity, stats),
        api(Method::GET, "/api/v1/posts", ReadCommunity, posts),
        api(Method::GET, "/api/v1/posts/{id}", ReadCommunity, post),
        api(Method::GET, "/api/v1/users/{id}", ReadCommunity, user),
        api(Method::GET, "/api/v1/search", ReadCommunity, search),
        api(Method::POST, "/api/v1/ask", UseLlm, ask),
        api(
            Method::POST,
            "/api/v1/questions/similar",
            ReadCommunity,
            similar_questions,
        ),
        api(
            Method::GET,
            "/api/v1/users/{id}/profile",
            ReadMembers,
            user_profile,
        ),
        api(
            Method::GET,
            "/api/v1/users/{id}/recommendations",
            ReadMembers,
            user_recommendations,
        ),
        api(
            Method::GET,
            "/api/v1/users/{id}/answerable",
            ReadMembers,
            user_answerable,
        ),
        api(
            Method::GET,
            "/api/v1/posts/{id}/similar",
            ReadCommunity,
            similar_posts,
        ),
        api(
            Method::GET,
            "/api/v1/questions/{id}/experts",
            ReadCommunity,
            question_experts,
        ),
        api(
            Method::GET,
            "/api/v1/kg/entities",
            ReadCommunity,
            kg_entities,
        ),
        api(
            Method::GET,
            "/api/v1/kg/entities/{id}",
            ReadCommunity,
            kg_entity,
        ),
        api(Method::GET, "/api/v1/kg/path", ReadCommunity, kg_path),
        api(
            Method::GET,
            "/api/v1/kg/subgraph",
            ReadCommunity,
            kg_subgraph,
        ),
        api(Method::POST, "/api/v1/events", WriteEvents, events),
        api(Method::GET, "/api/v1/llm/usage", ReadLlmUsage, llm_usage),
        api(Method::GET, "/api/v1/keys", ManageKeys, list_keys),
        api(Method::POST, "/api/v1/keys", ManageKeys, create_key),
        api(Method::DELETE, "/api/v1/keys/{id}", ManageKeys, revoke_key),
        api(Method::GET, "/api/v1/jobs", ReadJobs, list_jobs),
        api(Method::POST, "/api/v1/jobs", RunJobs, enqueue_job),
        api(Method::GET, "/api/v1/jobs/{id}", ReadJobs, job),
        api(
            Method::POST,
            "/api/v1/jobs/{id}/cancel",
            RunJobs,
            cancel_job,
        ),
        openai(
            Method::POST,
            "/v1/chat/completions",
            UseLlm,
            chat_completions,
        ),
        openai(Method::POST, "/v1/embeddings", UseLlm, embeddings),
        openai(Method::GET, "/v1/models", ReadCommunity, models),
    ]
}

fn api<H, T>(
    method: Method,
    path: &'static str,
    permission: Permission,
    handler: H,
) -> (RouteSpec, MethodRouter<AppState>)
where
    H: Handler<T, AppState>,
    T: 'static,
{
    route(method, path, permission, ErrorShape::Api, handler)
}

fn openai<H, T>(
    method: Method,
    path: &'static str,
    permission: Permission,
    handler: H,
) -> (RouteSpec, MethodRouter<AppState>)
where
    H: Handler<T, AppState>,
    T: 'static,
{
    route(method, path, permission, ErrorShape::OpenAi, handler)
}

fn route<H, T>(
    method: Method,
    path: &'static str,
    permission: Permission,
    shape: ErrorShape,
    handler: H,
) -> (RouteSpec, MethodRouter<AppState>)
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("routes use standard methods");
    let spec = RouteSpec {
        method,
        path,
        permission,
        shape,
    };
    (spec, on(filter, handler))
}

pub(crate) async fn live() -> Json<Health> {
    Json(Health { status: "ok" })
}

pub(crate) async fn ready(State(state): State<AppState>) -> ApiResult<Readiness> {
    community::readiness(&state).await.map(Json)
}

/// The store's `Stats` as JSON, served from the stats cache.
pub(crate) async fn stats(State(state): State<AppState>) -> Result<Response, ApiError> {
    let json = state
        .caches
        .stats_json(&state.store, state.config.stats_max_age)
        .await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json,
    )
        .into_response())
}

pub(crate) async fn posts(
    State(state): State<AppState>,
    params: Result<Query<PostsParams>, QueryRejection>,
) -> ApiResult<PageDto<PostSummary>> {
    let Query(params) = params?;
    let query = params.to_query()?;
    community::posts(&state, &query).await.map(Json)
}

pub(crate) async fn post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<ThreadParams>, QueryRejection>,
) -> ApiResult<PostThread> {
    let id = community::parse_id("id", &id)?;
    let Query(params) = params?;
    let query = params.to_query()?;
    community::thread(&state.store, PostId(id), &query)
        .await
        .map(Json)
}

pub(crate) async fn search(
    State(state): State<AppState>,
    params: Result<Query<search::SearchParams>, QueryRejection>,
) -> ApiResult<steward_search::searcher::SearchResults> {
    let Query(params) = params?;
    let request = params.to_request(&state.search_defaults)?;
    search::search(&state, &request).await.map(Json)
}

/// A cited answer as JSON, or as server-sent events when asked for.
pub(crate) async fn ask(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    body: Result<Json<answering::AskBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    answering::ask(&state, &caller, body, &headers).await
}

pub(crate) async fn similar_questions(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<steward_search::duplicates::SimilarResults> {
    let Json(body) = body?;
    let (draft, limit) = duplicates::parse(&body)?;
    duplicates::similar(&state, &draft, limit).await.map(Json)
}

pub(crate) async fn user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<UserDto> {
    let id = community::parse_id("id", &id)?;
    community::user(&state.store, UserId(id)).await.map(Json)
}

pub(crate) async fn user_profile(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<steward_recsys::profile::UserProfile> {
    let id = community::parse_id("id", &id)?;
    recsys::profile(&state, UserId(id)).await.map(Json)
}

pub(crate) async fn user_recommendations(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<recsys::RecommendParams>, QueryRejection>,
) -> ApiResult<recsys::RecommendationsDto> {
    let id = community::parse_id("id", &id)?;
    let Query(params) = params?;
    recsys::recommendations(&state, UserId(id), &params)
        .await
        .map(Json)
}

pub(crate) async fn user_answerable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<recsys::CountParams>, QueryRejection>,
) -> ApiResult<recsys::AnswerableDto> {
    let id = community::parse_id("id", &id)?;
    let Query(params) = params?;
    recsys::answerable(&state, UserId(id), &params)
        .await
        .map(Json)
}

pub(crate) async fn similar_posts(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<recsys::CountParams>, QueryRejection>,
) -> ApiResult<steward_recsys::service::SimilarPosts> {
    let id = community::parse_id("id", &id)?;
    let Query(params) = params?;
    recsys::similar(&state, PostId(id), &params).await.map(Json)
}

pub(crate) async fn question_experts(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<recsys::CountParams>, QueryRejection>,
) -> ApiResult<steward_recsys::service::QuestionExperts> {
    let id = community::parse_id("id", &id)?;
    let Query(params) = params?;
    recsys::experts(&state, PostId(id), &params).await.map(Json)
}

pub(crate) async fn kg_entities(
    State(state): State<AppState>,
    params: Result<Query<kg::EntityParams>, QueryRejection>,
) -> ApiResult<kg::EntityList> {
    let Query(params) = params?;
    kg::entities(&state, &params).await.map(Json)
}

pub(crate) async fn kg_entity(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<steward_kg::service::EntityPage> {
    kg::entity(&state, &id).await.map(Json)
}

pub(crate) async fn kg_path(
    State(state): State<AppState>,
    params: Result<Query<kg::PathParams>, QueryRejection>,
) -> ApiResult<kg::PathDto> {
    let Query(params) = params?;
    kg::path(&state, &params).await.map(Json)
}

pub(crate) async fn kg_subgraph(
    State(state): State<AppState>,
    params: Result<Query<kg::SubgraphParams>, QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let Query(params) = params?;
    Ok(match kg::subgraph(&state, &params).await? {
        kg::Subgraph::Json(value) => Json(value).into_response(),
        kg::Subgraph::Graphml(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/graphml+xml; charset=utf-8",
            )],
            text,
        )
            .into_response(),
    })
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

pub(crate) async fn llm_usage(State(state): State<AppState>) -> ApiResult<LlmUsageList> {
    community::llm_usage(&state.store).await.map(Json)
}

pub(crate) async fn list_keys(State(state): State<AppState>) -> ApiResult<KeyList> {
    keys::list(&state).await.map(Json)
}

pub(crate) async fn create_key(
    State(state): State<AppState>,
    body: Result<Json<NewKeyRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let Json(request) = body?;
    let created = keys::create(&state, &request).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub(crate) async fn revoke_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<KeyDto> {
    keys::revoke(&state, &id).await.map(Json)
}

pub(crate) async fn list_jobs(
    State(state): State<AppState>,
    params: Result<Query<JobsParams>, QueryRejection>,
) -> ApiResult<JobList> {
    let Query(params) = params?;
    let filter = params.to_filter()?;
    jobs::list(&state.store, &filter).await.map(Json)
}

pub(crate) async fn job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<JobDto> {
    jobs::get(&state.store, &id).await.map(Json)
}

/// 202 Accepted: the job is queued, a worker runs it; `Location` is where to
/// watch it.
pub(crate) async fn enqueue_job(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let job = jobs::enqueue(&state.store, body).await?;
    let location = format!("/api/v1/jobs/{}", job.id);
    Ok((
        StatusCode::ACCEPTED,
        [(axum::http::header::LOCATION, location)],
        Json(job),
    )
        .into_response())
}

pub(crate) async fn cancel_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<JobDto> {
    jobs::cancel(&state.store, &id).await.map(Json)
}

pub(crate) async fn chat_completions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<ChatCompletionRequest>, JsonRejection>,
) -> Result<Response, OpenAiError> {
    let Json(request) = body?;
    openai_api::chat(&state, &caller, request).await
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
        StatusCode::METHOD_NOT_ALLOWED,
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
