//! The recommender's routes: a member's profile, recommendations and the
//! open questions they could answer, threads like a thread, and the members
//! a question should go to. Parameters are read and checked here; the work
//! is `steward_recsys::service`'s.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use steward_domain::{PostId, UserId};
use steward_recsys::model::ModelKind;
use steward_recsys::profile::UserProfile;
use steward_recsys::recommend::Recommendations;
use steward_recsys::service::{Answerable, QuestionExperts, RecsysService, SimilarPosts};

use crate::AppState;
use crate::error::ApiError;

/// Items returned unless `n` says.
pub const DEFAULT_N: usize = 10;
/// Most items one request may ask for.
pub const MAX_N: usize = 100;

/// `?n=&model=&explain=`, every one optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendParams {
    pub n: Option<String>,
    pub model: Option<String>,
    pub explain: Option<String>,
}

/// `?n=` only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountParams {
    pub n: Option<String>,
    pub model: Option<String>,
}

/// `GET /api/v1/users/{id}/recommendations`: the list, and the bundle version behind it.
#[derive(Debug, Serialize)]
pub struct RecommendationsDto {
    pub version: i64,
    #[serde(flatten)]
    pub recommendations: Recommendations,
}

/// `GET /api/v1/users/{id}/answerable`.
#[derive(Debug, Serialize)]
pub struct AnswerableDto {
    pub user_id: UserId,
    pub questions: Vec<Answerable>,
}

pub fn parse_n(value: Option<&str>) -> Result<usize, ApiError> {
    match value {
        None => Ok(DEFAULT_N),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_N).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid_parameter(
                "n",
                format!("`n` must be a whole number from 1 to {MAX_N}, not `{text}`"),
            )),
        },
    }
}

pub fn parse_model(value: Option<&str>) -> Result<Option<ModelKind>, ApiError> {
    value
        .map(|text| {
            text.parse::<ModelKind>().map_err(|_| {
                let names: Vec<&str> = ModelKind::ALL.iter().map(|kind| kind.as_str()).collect();
                ApiError::invalid_parameter(
                    "model",
                    format!("unknown model `{text}`: one of {}", names.join(", ")),
                )
            })
        })
        .transpose()
}

fn parse_bool(name: &str, value: Option<&str>) -> Result<bool, ApiError> {
    match value {
        None => Ok(false),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(ApiError::invalid_parameter(
            name,
            format!("`{name}` must be true or false, not `{other}`"),
        )),
    }
}

fn service(state: &AppState) -> Result<&RecsysService, ApiError> {
    state.recsys.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "recommender_unavailable",
            "the recommender is not set up on this server; its log says why",
        )
    })
}

impl From<steward_recsys::Error> for ApiError {
    fn from(error: steward_recsys::Error) -> ApiError {
        use steward_recsys::Error as Recsys;
        match error {
            Recsys::Store(error) => ApiError::from(error),
            Recsys::NotTrained => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "recommender_unavailable",
                error.to_string(),
            ),
            Recsys::ModelNotTrained(_) => ApiError::invalid_parameter("model", error.to_string()),
            Recsys::UnknownPost(_) => ApiError::not_found(error.to_string()),
            Recsys::NotAQuestion(_) => ApiError::invalid_parameter("id", error.to_string()),
            other => ApiError::internal(&other),
        }
    }
}

pub async fn recommendations(
    state: &AppState,
    user: UserId,
    params: &RecommendParams,
) -> Result<RecommendationsDto, ApiError> {
    let n = parse_n(params.n.as_deref())?;
    let model = parse_model(params.model.as_deref())?;
    let explain = parse_bool("explain", params.explain.as_deref())?;
    let (version, recommendations) = service(state)?.recommend(user, n, model, explain).await?;
    Ok(RecommendationsDto {
        version,
        recommendations,
    })
}

pub async fn profile(state: &AppState, user: UserId) -> Result<UserProfile, ApiError> {
    service(state)?
        .profile(user, chrono::Utc::now())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {} does not exist", user.0)))
}

pub async fn similar(
    state: &AppState,
    post: PostId,
    params: &CountParams,
) -> Result<SimilarPosts, ApiError> {
    let n = parse_n(params.n.as_deref())?;
    let model = parse_model(params.model.as_deref())?;
    Ok(service(state)?.similar(post, n, model).await?)
}

pub async fn experts(
    state: &AppState,
    question: PostId,
    params: &CountParams,
) -> Result<QuestionExperts, ApiError> {
    let n = parse_n(params.n.as_deref())?;
    if params.model.is_some() {
        return Err(ApiError::invalid_parameter(
            "model",
            "expert routing has one model; leave `model` out",
        ));
    }
    Ok(service(state)?.experts(question, n).await?)
}

pub async fn answerable(
    state: &AppState,
    user: UserId,
    params: &CountParams,
) -> Result<AnswerableDto, ApiError> {
    let n = parse_n(params.n.as_deref())?;
    if params.model.is_some() {
        return Err(ApiError::invalid_parameter(
            "model",
            "expert routing has one model; leave `model` out",
        ));
    }
    Ok(AnswerableDto {
        user_id: user,
        questions: service(state)?.answerable(user, n).await?,
    })
}
