//! The server's errors: [`Error`] for starting and running the server, and
//! [`ApiError`], the one error every `/api` handler answers with.
//!
//! An [`ApiError`] carries a stable snake_case `code` that clients match on, an
//! HTTP status and a human message. Server-side failures (5xx) are logged in
//! full and answered with a generic message: internals never leak to clients.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// What can go wrong serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listener failed while serving.
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error answer: `{"error": {"code", "message", ...details}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, snake_case: `not_found`, `invalid_parameter`, ...
    pub code: &'static str,
    pub message: String,
    /// Boxed: most errors have none, and an `ApiError` travels in every
    /// handler's `Result`.
    pub details: Box<ErrorDetails>,
}

/// Where in the request the problem is, when it is in one place.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ErrorDetails {
    /// The query or path parameter at fault (`invalid_parameter`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// The position of the bad event in the posted batch (`invalid_event`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The bad field of that event, dotted (`target.id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why a key was refused (`unauthorized`): `missing_key`, `malformed_key`,
    /// `unknown_key`, `revoked_key` or `expired_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// Seconds after which a retry may succeed: sent as the `Retry-After`
    /// header (503 `database_busy`, `not_ready`), not in the body.
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorFields<'a>,
}

#[derive(Serialize)]
struct ErrorFields<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(flatten)]
    details: &'a ErrorDetails,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Box::default(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn invalid_parameter(parameter: &str, message: impl Into<String>) -> ApiError {
        let mut error = ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", message);
        error.details.parameter = Some(parameter.to_string());
        error
    }

    /// Event `index` of a batch is bad in `field` (`None`: the event as a whole).
    pub fn invalid_event(
        index: usize,
        field: Option<&str>,
        problem: impl Into<String>,
    ) -> ApiError {
        let problem = problem.into();
        let message = match field {
            Some(field) => format!("event {index}, field `{field}`: {problem}"),
            None => format!("event {index}: {problem}"),
        };
        let mut error = ApiError::new(StatusCode::BAD_REQUEST, "invalid_event", message);
        error.details.index = Some(index);
        error.details.field = field.map(str::to_string);
        error
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The request names a model this server does not serve (`param` says
    /// which field: `model`).
    pub fn model_not_found(param: &str, model: &str) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!(
                "The model `{model}` does not exist or is not served here; GET /v1/models lists the models"
            ),
        );
        error.details.parameter = Some(param.to_string());
        error
    }

    pub fn model_unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "model_unavailable",
            message,
        )
    }

    pub fn not_ready(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", message)
    }

    /// The database is held by another writer, or every pooled connection is
    /// in use: nothing is wrong, a retry in a moment should succeed.
    pub fn database_busy() -> ApiError {
        let mut error = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_busy",
            "the database is busy; retry after the time in Retry-After",
        );
        error.details.retry_after_secs = Some(1);
        error
    }

    /// The `Retry-After` header this error asks for, if any.
    pub fn timeout(limit: std::time::Duration) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the request took longer than {} s", limit.as_secs_f64()),
        )
    }

    /// A failure on our side: `detail` goes to the log, the client gets a
    /// generic message.
    pub fn internal(detail: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorFields {
                code: self.code,
                message: &self.message,
                details: &self.details,
            },
        };
        with_retry_after(
            (self.status, Json(body)).into_response(),
            self.details.retry_after_secs,
        )
    }
}

fn with_retry_after(mut response: Response, seconds: Option<u64>) -> Response {
    if let Some(seconds) = seconds {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(seconds),
        );
    }
    response
}

impl From<steward_store::Error> for ApiError {
    fn from(error: steward_store::Error) -> ApiError {
        if error.is_busy() {
            tracing::warn!(%error, "database busy");
            return ApiError::database_busy();
        }
        match error {
            // A value the client sent that no backend can store.
            steward_store::Error::InvalidValue { .. } => ApiError::bad_request(error.to_string()),
            other => ApiError::internal(&other),
        }
    }
}

impl From<steward_ml::Error> for ApiError {
    fn from(error: steward_ml::Error) -> ApiError {
        use steward_ml::Error as Ml;
        match error {
            Ml::QuotaExceeded { .. } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "quota_exceeded",
                error.to_string(),
            ),
            Ml::Busy {
                retry_after_secs, ..
            } => {
                let mut busy = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    error.to_string(),
                );
                busy.details.retry_after_secs = Some(retry_after_secs);
                busy
            }
            // Only seen by a caller that is gone; logged like a client error.
            Ml::CallCancelled { .. } => ApiError::new(
                StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
                "cancelled",
                error.to_string(),
            ),
            Ml::InvalidRequest(message) => ApiError::bad_request(message),
            Ml::PromptTooLong { .. } => ApiError::bad_request(error.to_string()),
            Ml::ModelNotFound { .. } | Ml::Remote { .. } | Ml::RemoteStatus { .. } => {
                tracing::error!(%error, "model call failed");
                ApiError::model_unavailable(
                    "the model is unavailable; the server log has the details",
                )
            }
            other => ApiError::internal(&other),
        }
    }
}

/// Body rejections in the common shape: an oversized body is 413
/// `payload_too_large`, anything else (bad JSON, wrong content type, a field
/// of the wrong type) is 400 `bad_request` with serde's description of where.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than the server accepts",
            );
        }
        ApiError::bad_request(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::bad_request(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::bad_request(rejection.body_text())
    }
}

/// The same error in OpenAI's shape, `{"error": {"message", "type", "param",
/// "code"}}`, for the `/v1` endpoints that OpenAI clients call.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiError(pub ApiError);

impl OpenAiError {
    /// OpenAI's error `type` for our status.
    fn kind(&self) -> &'static str {
        match self.0.status {
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            status if status.is_server_error() => "server_error",
            _ => "invalid_request_error",
        }
    }

    /// The body, also sent as the last event of a stream that failed midway.
    pub fn body(&self) -> steward_ml::openai::ErrorResponse {
        steward_ml::openai::ErrorResponse {
            error: steward_ml::openai::ErrorObject {
                message: self.0.message.clone(),
                kind: self.kind().to_string(),
                param: self.0.details.parameter.clone(),
                code: Some(self.0.code.to_string()),
            },
        }
    }
}

impl From<ApiError> for OpenAiError {
    fn from(error: ApiError) -> OpenAiError {
        OpenAiError(error)
    }
}

impl From<steward_ml::Error> for OpenAiError {
    fn from(error: steward_ml::Error) -> OpenAiError {
        OpenAiError(error.into())
    }
}

impl From<JsonRejection> for OpenAiError {
    fn from(rejection: JsonRejection) -> OpenAiError {
        OpenAiError(rejection.into())
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        with_retry_after(
            (self.0.status, Json(self.body())).into_response(),
            self.0.details.retry_after_secs,
        )
    }
}
