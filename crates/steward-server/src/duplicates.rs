//! `POST /api/v1/questions/similar`: a draft question (title, body, tags) to
//! the threads it may duplicate, each with its calibrated probability.

use serde_json::Value;
use steward_search::duplicates::{self, Draft, SimilarResults};

use crate::AppState;
use crate::error::ApiError;

/// Threads returned unless `limit` says.
pub const DEFAULT_LIMIT: usize = 10;
/// Most threads one request may ask for.
pub const MAX_LIMIT: usize = 50;
/// Longest title, in characters (Stack Exchange allows 150).
pub const MAX_TITLE_CHARS: usize = 300;
/// Longest body, in characters (Stack Exchange allows 30,000); only the
/// first [`duplicates::QUERY_BODY_CHARS`] of its text are searched.
pub const MAX_BODY_CHARS: usize = 30_000;
/// Most tags, and the longest tag in characters.
pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_CHARS: usize = 64;

/// Reads the JSON body: `{"title", "body"?, "tags"?, "limit"?}`; every bad
/// or unknown field is named in the error.
pub fn parse(body: &Value) -> Result<(Draft, usize), ApiError> {
    let Some(object) = body.as_object() else {
        return Err(ApiError::bad_request(
            "the body must be a JSON object: {\"title\": \"...\", \"body\": \"...\", \"tags\": [...], \"limit\": 10}",
        ));
    };
    if let Some(unknown) = object
        .keys()
        .find(|key| !["title", "body", "tags", "limit"].contains(&key.as_str()))
    {
        return Err(ApiError::invalid_parameter(
            unknown,
            format!("unknown field `{unknown}`: the fields are title, body, tags and limit"),
        ));
    }
    let title = match object.get("title") {
        Some(Value::String(title)) if !title.trim().is_empty() => title.trim().to_string(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(ApiError::invalid_parameter(
                "title",
                "`title` is required: the draft question's title",
            ));
        }
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "title",
                "`title` must be a string",
            ));
        }
    };
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::invalid_parameter(
            "title",
            format!("`title` is longer than {MAX_TITLE_CHARS} characters"),
        ));
    }
    let body = match object.get("body") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(body)) => body.clone(),
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "body",
                "`body` must be a string (HTML or markdown text)",
            ));
        }
    };
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::invalid_parameter(
            "body",
            format!("`body` is longer than {MAX_BODY_CHARS} characters; send the start of it"),
        ));
    }
    let tags = match object.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            if items.len() > MAX_TAGS {
                return Err(ApiError::invalid_parameter(
                    "tags",
                    format!("`tags` has {} tags; at most {MAX_TAGS}", items.len()),
                ));
            }
            items
                .iter()
                .map(|item| match item.as_str().map(str::trim) {
                    Some(tag) if !tag.is_empty() && tag.chars().count() <= MAX_TAG_CHARS => {
                        Ok(tag.to_lowercase())
                    }
                    _ => Err(ApiError::invalid_parameter(
                        "tags",
                        format!(
                            "every tag must be a non-empty string of at most {MAX_TAG_CHARS} characters, got {item}"
                        ),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "tags",
                "`tags` must be an array of tag names",
            ));
        }
    };
    let limit = match object.get("limit") {
        None | Some(Value::Null) => DEFAULT_LIMIT,
        Some(value) => value
            .as_u64()
            .and_then(|limit| usize::try_from(limit).ok())
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::invalid_parameter(
                    "limit",
                    format!("`limit` must be a whole number from 1 to {MAX_LIMIT}, got {value}"),
                )
            })?,
    };
    Ok((Draft { title, body, tags }, limit))
}

/// The threads `draft` may duplicate, scored with the promoted calibration
/// of the searcher's model (read again when a newer version is promoted);
/// 503 `search_unavailable` without a searcher.
pub async fn similar(
    state: &AppState,
    draft: &Draft,
    limit: usize,
) -> Result<SimilarResults, ApiError> {
    let Some(searcher) = &state.searcher else {
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "search_unavailable",
            "search is not set up on this server; its log says why (run `steward index build`)",
        ));
    };
    let model = duplicates::calibration_model(searcher);
    let calibration = match state
        .duplicate_calibration
        .current(&state.store, &model)
        .await
    {
        Ok(calibration) => calibration,
        Err(steward_search::Error::Store(error)) => return Err(ApiError::from(error)),
        // A damaged calibration leaves the candidates useful: served without
        // probabilities, the notice says why.
        Err(error) => {
            tracing::warn!(%error, "the duplicate calibration cannot be read");
            None
        }
    };
    duplicates::similar(searcher, calibration.as_deref(), draft, limit, None)
        .await
        .map_err(|error| match error {
            steward_search::Error::Store(error) => ApiError::from(error),
            steward_search::Error::EmptyQuery => {
                ApiError::invalid_parameter("title", error.to_string())
            }
            other => ApiError::internal(&other),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_rejected(body: Value, field: Option<&str>) {
        let error = parse(&body).expect_err("rejected");
        assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error.details.parameter.as_deref(), field, "{body}");
    }

    #[test]
    fn a_draft_is_read_and_bad_fields_are_named() {
        let (draft, limit) = parse(&json!({
            "title": "  Undo a git commit ",
            "body": "<p>committed too early</p>",
            "tags": ["Git", " version-control "],
        }))
        .expect("valid");
        assert_eq!(draft.title, "Undo a git commit");
        assert_eq!(draft.tags, ["git", "version-control"]);
        assert_eq!(limit, DEFAULT_LIMIT);
        assert_eq!(
            parse(&json!({"title": "x", "limit": 3})).expect("valid").1,
            3
        );

        check_rejected(json!([1]), None);
        check_rejected(json!({}), Some("title"));
        check_rejected(json!({"title": "   "}), Some("title"));
        check_rejected(json!({"title": 7}), Some("title"));
        check_rejected(json!({"title": "x".repeat(301)}), Some("title"));
        check_rejected(json!({"title": "x", "body": 1}), Some("body"));
        check_rejected(
            json!({"title": "x", "body": "y".repeat(MAX_BODY_CHARS + 1)}),
            Some("body"),
        );
        check_rejected(json!({"title": "x", "tags": "git"}), Some("tags"));
        check_rejected(json!({"title": "x", "tags": [""]}), Some("tags"));
        check_rejected(json!({"title": "x", "limit": 0}), Some("limit"));
        check_rejected(json!({"title": "x", "limit": 51}), Some("limit"));
        check_rejected(json!({"title": "x", "limit": "5"}), Some("limit"));
        check_rejected(json!({"title": "x", "titel": "y"}), Some("titel"));
    }
}
