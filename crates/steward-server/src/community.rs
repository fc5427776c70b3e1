//! Reading the community: parameter validation and the store calls behind the
//! `/api/v1` read endpoints, so that handlers only parse, call and map.

use std::time::Duration;

use serde::Deserialize;
use steward_domain::{PostId, PostKind, UserId};
use steward_store::{PostOrder, PostQuery, Stats, Store};

use crate::AppState;
use crate::dto::{
    AnswerDto, LlmUsageDto, LlmUsageList, PageDto, PostDto, PostSummary, PostThread, Readiness,
    UserDto,
};
use crate::error::ApiError;

/// Largest page a client may ask for: bounds the work of one request.
pub const MAX_PER_PAGE: u32 = 100;
pub const DEFAULT_PER_PAGE: u32 = 20;

/// `GET /api/v1/posts` query, as sent: every value a string, so that a bad one
/// is reported by name instead of as a generic deserialization failure.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PostsParams {
    pub page: Option<String>,
    pub per_page: Option<String>,
    pub kind: Option<String>,
    pub tag: Option<String>,
    pub sort: Option<String>,
}

impl PostsParams {
    pub fn to_query(&self) -> Result<PostQuery, ApiError> {
        let page = match &self.page {
            None => 1,
            Some(raw) => parse_in_range("page", raw, 1, u32::MAX)?,
        };
        let per_page = match &self.per_page {
            None => DEFAULT_PER_PAGE,
            Some(raw) => parse_in_range("per_page", raw, 1, MAX_PER_PAGE)?,
        };
        let kind = match self.kind.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(
                raw.parse::<PostKind>()
                    .map_err(|error| ApiError::invalid_parameter("kind", error.to_string()))?,
            ),
        };
        let order = match self.sort.as_deref() {
            None | Some("") | Some("newest") => PostOrder::Newest,
            Some("oldest") => PostOrder::Oldest,
            Some("score") => PostOrder::Score,
            Some(other) => {
                return Err(ApiError::invalid_parameter(
                    "sort",
                    format!("unknown sort `{other}`; expected one of: newest, oldest, score"),
                ));
            }
        };
        let tag = self
            .tag
            .as_deref()
            .map(|tag| tag.trim().to_lowercase())
            .filter(|tag| !tag.is_empty());
        Ok(PostQuery {
            kind,
            tag,
            order,
            page,
            per_page,
        })
    }
}

fn parse_in_range(parameter: &str, raw: &str, min: u32, max: u32) -> Result<u32, ApiError> {
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|value| (min..=max).contains(value))
        .ok_or_else(|| {
            ApiError::invalid_parameter(
                parameter,
                format!("`{parameter}` must be a whole number from {min} to {max}, got `{raw}`"),
            )
        })
}

/// A path id: a whole number.
pub fn parse_id(parameter: &str, raw: &str) -> Result<i64, ApiError> {
    raw.trim().parse::<i64>().map_err(|_| {
        ApiError::invalid_parameter(
            parameter,
            format!("`{parameter}` must be a whole number, got `{raw}`"),
        )
    })
}

pub async fn posts(store: &Store, query: &PostQuery) -> Result<PageDto<PostSummary>, ApiError> {
    let page = store.posts(query).await?;
    Ok(PageDto::of_posts(&page))
}

/// A post with its comments and answers, each answer with its comments.
/// Answers come as a reader expects them: the accepted one first, then by
/// score, ties oldest first.
pub async fn thread(store: &Store, id: PostId) -> Result<PostThread, ApiError> {
    let post = store
        .post(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no post with id {id}")))?;
    let children = store.children(id).await?;
    let (mut answers, comments): (Vec<_>, Vec<_>) = children
        .into_iter()
        .partition(|child| child.kind == PostKind::Answer);
    answers.sort_by_key(|answer| {
        let accepted = post.accepted_answer_id == Some(answer.id);
        (
            !accepted,
            std::cmp::Reverse(answer.score),
            answer.created_at,
            answer.id,
        )
    });
    let mut answer_dtos = Vec::with_capacity(answers.len());
    for answer in &answers {
        let answer_comments = store.children(answer.id).await?;
        answer_dtos.push(AnswerDto {
            post: PostDto::from(answer),
            comments: answer_comments
                .iter()
                .filter(|child| child.kind == PostKind::Comment)
                .map(PostDto::from)
                .collect(),
        });
    }
    Ok(PostThread {
        post: PostDto::from(&post),
        comments: comments
            .iter()
            .filter(|child| child.kind == PostKind::Comment)
            .map(PostDto::from)
            .collect(),
        answers: answer_dtos,
    })
}

pub async fn user(store: &Store, id: UserId) -> Result<UserDto, ApiError> {
    let user = store
        .user(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user with id {id}")))?;
    Ok(UserDto::from(&user))
}

/// LLM usage totals per feature and model, from the audit log.
pub async fn llm_usage(store: &Store) -> Result<LlmUsageList, ApiError> {
    let usage = store.llm_usage().await?;
    Ok(LlmUsageList {
        items: usage.iter().map(LlmUsageDto::from).collect(),
    })
}

pub async fn stats(store: &Store) -> Result<Stats, ApiError> {
    Ok(store.stats().await?)
}

/// How long readiness waits for the database before saying no: a load
/// balancer's probe must get an answer, not a hang.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Ready when the database answers one cheap query (a checkpoint lookup by
/// key, one indexed row) within [`READY_TIMEOUT`].
pub async fn readiness(state: &AppState) -> Result<Readiness, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, state.store.checkpoint("steward:ready")).await {
        Ok(Ok(_)) => Ok(Readiness {
            status: "ready",
            llm: state
                .llm
                .as_ref()
                .map(|gateway| gateway.llm.model_id().to_string()),
            embedder: state
                .embedder
                .as_ref()
                .map(|embedder| embedder.model_id().to_string()),
        }),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: the database failed");
            Err(ApiError::not_ready("the database is not answering"))
        }
        Err(_) => {
            tracing::warn!(?READY_TIMEOUT, "readiness: the database timed out");
            Err(ApiError::not_ready("the database is not answering"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, expected: Result<(u32, u32, Option<PostKind>, PostOrder), &str>) {
        let params: PostsParams = serde_urlencoded_like(query);
        match (params.to_query(), expected) {
            (Ok(got), Ok((page, per_page, kind, order))) => {
                assert_eq!(
                    (got.page, got.per_page, got.kind, got.order),
                    (page, per_page, kind, order),
                    "{query}"
                );
            }
            (Err(error), Err(parameter)) => {
                assert_eq!(error.code, "invalid_parameter", "{query}");
                assert_eq!(
                    error.details.parameter.as_deref(),
                    Some(parameter),
                    "{query}"
                );
                assert!(
                    error.message.contains(parameter),
                    "{query}: {}",
                    error.message
                );
            }
            (got, expected) => panic!("{query}: got {got:?}, expected {expected:?}"),
        }
    }

    /// Minimal `a=b&c=d` parsing for the table below (no escapes needed).
    fn serde_urlencoded_like(query: &str) -> PostsParams {
        let mut params = PostsParams::default();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = Some(value.to_string());
            match key {
                "page" => params.page = value,
                "per_page" => params.per_page = value,
                "kind" => params.kind = value,
                "tag" => params.tag = value,
                "sort" => params.sort = value,
                _ => {}
            }
        }
        params
    }

    #[test]
    fn listing_parameters_are_validated_by_name() {
        check("", Ok((1, DEFAULT_PER_PAGE, None, PostOrder::Newest)));
        check(
            "page=3&per_page=100&kind=answer&sort=score",
            Ok((3, 100, Some(PostKind::Answer), PostOrder::Score)),
        );
        check(
            "sort=oldest&per_page=1",
            Ok((1, 1, None, PostOrder::Oldest)),
        );
        check("page=0", Err("page"));
        check("page=-1", Err("page"));
        check("page=two", Err("page"));
        check("per_page=0", Err("per_page"));
        check("per_page=101", Err("per_page"));
        check("kind=poll", Err("kind"));
        check("sort=hot", Err("sort"));
    }
}
