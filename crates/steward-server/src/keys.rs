//! API key management over HTTP (`/api/v1/keys`, admin only): list, create,
//! revoke. The request is checked here; keys are made by `steward-auth`.

use std::time::Duration;

use steward_auth::{Authenticator, Permission, Role, create_key};

use crate::AppState;
use crate::dto::{CreatedKey, KeyDto, KeyList, NewKeyRequest};
use crate::error::ApiError;

/// Longest key name accepted.
const MAX_NAME_CHARS: usize = 200;

/// Longest lifetime a key may be given: a hundred years is "never" said twice.
const MAX_EXPIRES_IN_DAYS: u32 = 36_500;

fn authenticator(state: &AppState) -> Result<&Authenticator, ApiError> {
    // Unreachable in practice: without an authenticator no key, so no admin,
    // gets this far.
    state
        .authenticator
        .as_deref()
        .ok_or_else(|| ApiError::not_found("this server manages no API keys"))
}

pub async fn list(state: &AppState) -> Result<KeyList, ApiError> {
    let now = chrono::Utc::now();
    let records = state.store.api_keys().await?;
    Ok(KeyList {
        items: records
            .iter()
            .map(|record| KeyDto::of(record, now))
            .collect(),
    })
}

pub async fn create(state: &AppState, request: &NewKeyRequest) -> Result<CreatedKey, ApiError> {
    let authenticator = authenticator(state)?;
    let role: Role = request.role.parse().map_err(|error: steward_auth::Error| {
        ApiError::invalid_parameter("role", error.to_string())
    })?;
    let scopes = request
        .scopes
        .iter()
        .map(|scope| scope.parse::<Permission>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| ApiError::invalid_parameter("scopes", error.to_string()))?;
    let name = match request.name.as_deref().map(str::trim) {
        None | Some("") => format!("{role} key"),
        Some(name) if name.chars().count() > MAX_NAME_CHARS => {
            return Err(ApiError::invalid_parameter(
                "name",
                format!("a key name has at most {MAX_NAME_CHARS} characters"),
            ));
        }
        Some(name) => name.to_string(),
    };
    let expires_in = match request.expires_in_days {
        None => None,
        Some(days @ 1..=MAX_EXPIRES_IN_DAYS) => Some(Duration::from_secs(u64::from(days) * 86_400)),
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "expires_in_days",
                format!("expires_in_days must be 1 to {MAX_EXPIRES_IN_DAYS}"),
            ));
        }
    };
    let (key, record) = create_key(
        authenticator.store(),
        authenticator.secret(),
        &name,
        role,
        &scopes,
        expires_in,
    )
    .await
    .map_err(|error| ApiError::internal(&error))?;
    tracing::info!(key_id = %record.id, %role, "API key created over HTTP");
    Ok(CreatedKey {
        key,
        info: KeyDto::of(&record, chrono::Utc::now()),
    })
}

/// Revokes key `id`, effective at once on this server (on other replicas
/// within their key cache's lifetime). Revoking a revoked key is not an error.
pub async fn revoke(state: &AppState, id: &str) -> Result<KeyDto, ApiError> {
    let authenticator = authenticator(state)?;
    authenticator.store().revoke_api_key(id).await?;
    authenticator.forget(id);
    let record = authenticator
        .store()
        .api_key(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no API key `{id}`")))?;
    tracing::info!(key_id = %id, "API key revoked over HTTP");
    Ok(KeyDto::of(&record, chrono::Utc::now()))
}
