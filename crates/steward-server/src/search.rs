//! `GET /api/v1/search`: query parameters to a [`SearchRequest`], the
//! searcher's results as JSON.

use serde::Deserialize;
use steward_domain::{PostKind, Timestamp};
use steward_search::Filters;
use steward_search::searcher::{Fusion, Mode, SearchRequest, SearchResults};

use crate::AppState;
use crate::error::ApiError;

/// Hits per page unless `per_page` says.
const DEFAULT_PER_PAGE: usize = 10;
/// Most hits one page may ask for.
const MAX_PER_PAGE: usize = 100;
/// Deepest hit a page may reach: fusion reads the retrievers this deep.
const MAX_DEPTH: usize = 1_000;
/// Longest query, in characters.
const MAX_QUERY_CHARS: usize = 1_000;

/// The query string, every value as text so that a bad one is named.
#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    pub q: Option<String>,
    pub mode: Option<String>,
    pub fusion: Option<String>,
    pub dense_weight: Option<String>,
    /// Comma-separated; every tag must match.
    pub tags: Option<String>,
    /// `true`: only answered threads; `false`: only unanswered.
    pub answered: Option<String>,
    /// `YYYY-MM-DD`: asked on or after.
    pub since: Option<String>,
    /// `YYYY-MM-DD`: asked before.
    pub until: Option<String>,
    /// Comma-separated post kinds.
    pub kind: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

impl SearchParams {
    /// The request these parameters ask for; defaults from `[search]`.
    pub fn to_request(&self, defaults: &SearchDefaults) -> Result<SearchRequest, ApiError> {
        let query = self.q.as_deref().map(str::trim).unwrap_or_default();
        if query.is_empty() {
            return Err(ApiError::invalid_parameter(
                "q",
                "`q` is required: the words to search for",
            ));
        }
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(ApiError::invalid_parameter(
                "q",
                format!("`q` is longer than {MAX_QUERY_CHARS} characters"),
            ));
        }
        let mode = match non_empty(&self.mode) {
            None => defaults.mode,
            Some(raw) => raw
                .parse::<Mode>()
                .map_err(|message| ApiError::invalid_parameter("mode", message))?,
        };
        let fusion = match non_empty(&self.fusion) {
            None => defaults.fusion,
            Some(raw) => raw
                .parse::<Fusion>()
                .map_err(|message| ApiError::invalid_parameter("fusion", message))?,
        };
        let dense_weight = match non_empty(&self.dense_weight) {
            None => defaults.dense_weight,
            Some(raw) => raw
                .parse::<f32>()
                .ok()
                .filter(|weight| (0.0..=1.0).contains(weight))
                .ok_or_else(|| {
                    ApiError::invalid_parameter(
                        "dense_weight",
                        format!("`dense_weight` must be a number from 0 to 1, got `{raw}`"),
                    )
                })?,
        };
        let answered = match non_empty(&self.answered) {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(raw) => {
                return Err(ApiError::invalid_parameter(
                    "answered",
                    format!("`answered` must be true or false, got `{raw}`"),
                ));
            }
        };
        let kinds = list(&self.kind)
            .map(|raw| {
                raw.parse::<PostKind>()
                    .map_err(|error| ApiError::invalid_parameter("kind", error.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let page = number("page", &self.page, 1, usize::MAX)?.unwrap_or(1);
        let per_page =
            number("per_page", &self.per_page, 1, MAX_PER_PAGE)?.unwrap_or(DEFAULT_PER_PAGE);
        let offset = (page - 1).saturating_mul(per_page);
        if offset + per_page > MAX_DEPTH {
            return Err(ApiError::invalid_parameter(
                "page",
                format!(
                    "search reads at most {MAX_DEPTH} hits deep; ask for an earlier page or narrow the query"
                ),
            ));
        }
        Ok(SearchRequest {
            query: query.to_string(),
            mode,
            fusion,
            dense_weight,
            filters: Filters {
                tags: list(&self.tags).map(str::to_lowercase).collect(),
                created_from: day("since", &self.since)?,
                created_to: day("until", &self.until)?,
                answered,
                kinds,
            },
            limit: per_page,
            offset,
        })
    }
}

/// What a request gets when it does not say (`[search]` of the config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchDefaults {
    pub mode: Mode,
    pub fusion: Fusion,
    pub dense_weight: f32,
}

impl Default for SearchDefaults {
    fn default() -> SearchDefaults {
        SearchDefaults {
            mode: Mode::Hybrid,
            fusion: Fusion::Rrf,
            dense_weight: 0.5,
        }
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

fn list(value: &Option<String>) -> impl Iterator<Item = &str> {
    value
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

fn number(
    parameter: &str,
    value: &Option<String>,
    min: usize,
    max: usize,
) -> Result<Option<usize>, ApiError> {
    non_empty(value)
        .map(|raw| {
            raw.parse::<usize>()
                .ok()
                .filter(|number| (min..=max).contains(number))
                .ok_or_else(|| {
                    ApiError::invalid_parameter(
                        parameter,
                        format!(
                            "`{parameter}` must be a whole number from {min} to {max}, got `{raw}`"
                        ),
                    )
                })
        })
        .transpose()
}

fn day(parameter: &str, value: &Option<String>) -> Result<Option<Timestamp>, ApiError> {
    non_empty(value)
        .map(|raw| {
            steward_search::parse_day(raw).ok_or_else(|| {
                ApiError::invalid_parameter(
                    parameter,
                    format!("`{parameter}` must be a day as YYYY-MM-DD, got `{raw}`"),
                )
            })
        })
        .transpose()
}

/// Runs the search, or says why this server cannot.
pub async fn search(state: &AppState, request: &SearchRequest) -> Result<SearchResults, ApiError> {
    let Some(searcher) = &state.searcher else {
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "search_unavailable",
            "search is not set up on this server; its log says why (run `steward index build`)",
        ));
    };
    searcher.search(request).await.map_err(|error| match error {
        steward_search::Error::Store(error) => ApiError::from(error),
        steward_search::Error::EmptyQuery => ApiError::invalid_parameter("q", error.to_string()),
        other => ApiError::internal(&other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> SearchParams {
        let uri: axum::http::Uri = format!("/api/v1/search?{query}").parse().expect("a URI");
        axum::extract::Query::<SearchParams>::try_from_uri(&uri)
            .expect("a query string")
            .0
    }

    #[test]
    fn parameters_become_a_request_and_bad_ones_are_named() {
        let request = params("q=tokio%3A%3Aselect!&mode=bm25&tags=rust,Async&answered=false&since=2024-01-01&page=2&per_page=5")
            .to_request(&SearchDefaults::default())
            .expect("valid");
        assert_eq!(request.query, "tokio::select!");
        assert_eq!(request.mode, Mode::Bm25);
        assert_eq!(request.filters.tags, ["rust", "async"]);
        assert_eq!(request.filters.answered, Some(false));
        assert_eq!(request.offset, 5);
        assert_eq!(request.limit, 5);
        for (query, parameter) in [
            ("q=", "q"),
            ("q=x&mode=fuzzy", "mode"),
            ("q=x&dense_weight=2", "dense_weight"),
            ("q=x&answered=maybe", "answered"),
            ("q=x&since=yesterday", "since"),
            ("q=x&kind=poem", "kind"),
            ("q=x&per_page=0", "per_page"),
            ("q=x&page=500&per_page=100", "page"),
        ] {
            let error = params(query)
                .to_request(&SearchDefaults::default())
                .expect_err(query);
            assert_eq!(
                error.details.parameter.as_deref(),
                Some(parameter),
                "{query}"
            );
        }
    }
}
