//! Jobs over HTTP (`/api/v1/jobs`): list, read, queue and cancel. A job is
//! only queued here (its spec checked by `steward_runtime::jobs`); a worker
//! runs it, never the request.

use axum::http::StatusCode;
use serde::Deserialize;
use steward_runtime::jobs::JobSpec;
use steward_store::{JobFilter, JobState, MAX_JOBS_PER_PAGE, Store};

use crate::community::parse_id;
use crate::dto::{JobDto, JobList};
use crate::error::ApiError;

/// `GET /api/v1/jobs` query, every value a string so that a bad one is
/// reported by name.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct JobsParams {
    pub state: Option<String>,
    pub kind: Option<String>,
    pub limit: Option<String>,
    pub before_id: Option<String>,
}

impl JobsParams {
    pub fn to_filter(&self) -> Result<JobFilter, ApiError> {
        let state = match self.state.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(
                raw.parse::<JobState>()
                    .map_err(|error| ApiError::invalid_parameter("state", error.to_string()))?,
            ),
        };
        let kind = match self.kind.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) if JobSpec::KINDS.contains(&raw) => Some(raw.to_string()),
            Some(raw) => {
                return Err(ApiError::invalid_parameter(
                    "kind",
                    format!(
                        "unknown job kind `{raw}`; expected one of: {}",
                        JobSpec::KINDS.join(", ")
                    ),
                ));
            }
        };
        let limit = match self.limit.as_deref() {
            None => 0,
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|limit| (1..=MAX_JOBS_PER_PAGE).contains(limit))
                .ok_or_else(|| {
                    ApiError::invalid_parameter(
                        "limit",
                        format!(
                            "`limit` must be a whole number from 1 to {MAX_JOBS_PER_PAGE}, got `{raw}`"
                        ),
                    )
                })?,
        };
        let before_id = self
            .before_id
            .as_deref()
            .map(|raw| parse_id("before_id", raw))
            .transpose()?;
        Ok(JobFilter {
            state,
            kind,
            limit,
            before_id,
        })
    }
}

pub async fn list(store: &Store, filter: &JobFilter) -> Result<JobList, ApiError> {
    let jobs = store.jobs(filter).await?;
    let limit = match filter.limit {
        0 => steward_store::DEFAULT_JOBS_PER_PAGE,
        limit => limit,
    };
    let next_before_id = if jobs.len() as u64 == u64::from(limit) {
        jobs.last().map(|job| job.id)
    } else {
        None
    };
    Ok(JobList {
        items: jobs.iter().map(JobDto::from).collect(),
        next_before_id,
    })
}

pub async fn get(store: &Store, id: &str) -> Result<JobDto, ApiError> {
    let id = parse_id("id", id)?;
    store
        .job(id)
        .await?
        .map(|job| JobDto::from(&job))
        .ok_or_else(|| no_job(id))
}

/// Queues the job `body` describes; 400 `invalid_job_spec` naming the field
/// when it cannot run.
pub async fn enqueue(store: &Store, body: serde_json::Value) -> Result<JobDto, ApiError> {
    let spec = JobSpec::from_json(body).map_err(|error| match error {
        steward_runtime::Error::InvalidJobSpec { field, message } => {
            let mut api_error = ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_job_spec",
                format!("field `{field}`: {message}"),
            );
            api_error.details.field = Some(field);
            api_error
        }
        other => ApiError::internal(&other),
    })?;
    let job = store.enqueue_job(&spec.new_job()).await?;
    tracing::info!(job = job.id, kind = %job.kind, "job queued over HTTP");
    Ok(JobDto::from(&job))
}

/// Cancels job `id`: a queued one at once, a running one at its worker's
/// next heartbeat. 409 `job_finished` when there is nothing left to cancel.
pub async fn cancel(store: &Store, id: &str) -> Result<JobDto, ApiError> {
    let id = parse_id("id", id)?;
    let before = store.job(id).await?.ok_or_else(|| no_job(id))?;
    if before.state.is_final() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "job_finished",
            format!(
                "job {id} is already {}; only queued or running jobs can be cancelled",
                before.state.as_str()
            ),
        ));
    }
    let after = store.cancel_job(id).await?.ok_or_else(|| no_job(id))?;
    Ok(JobDto::from(&after))
}

fn no_job(id: i64) -> ApiError {
    ApiError::not_found(format!("no job {id}"))
}
