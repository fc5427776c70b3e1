//! Reading the community: parameter validation and the store calls behind the
//! `/api/v1` read endpoints, so that handlers only parse, call and map.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use steward_domain::{Post, PostId, PostKind, UserId};
use steward_store::{PostCursor, PostOrder, PostQuery, Store};

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
    /// `next_cursor` of the page before; replaces `page`.
    pub cursor: Option<String>,
}

impl PostsParams {
    pub fn to_query(&self) -> Result<PostQuery, ApiError> {
        if self.page.is_some() && self.cursor.is_some() {
            return Err(ApiError::invalid_parameter(
                "cursor",
                "send either `page` or `cursor`, not both: `cursor` continues where a page ended",
            ));
        }
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
        let cursor = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(decode_cursor("cursor", listing_cursor_tag(order), raw)?),
        };
        Ok(PostQuery {
            kind,
            tag,
            order,
            page,
            per_page,
            cursor,
        })
    }
}

fn listing_cursor_tag(order: PostOrder) -> char {
    match order {
        PostOrder::Newest => 'n',
        PostOrder::Oldest => 'o',
        PostOrder::Score => 's',
    }
}

const ANSWERS_CURSOR: char = 'a';
const COMMENTS_CURSOR: char = 'c';

/// A cursor as sent to clients: opaque to them, `<order>.<score>.<created
/// ms>.<id>` to us. The order letter keeps a cursor of one listing order
/// (or of answers, or comments) from being used with another.
pub fn encode_cursor(tag: char, cursor: PostCursor) -> String {
    format!(
        "{tag}.{}.{}.{}",
        cursor.score, cursor.created_at_millis, cursor.id
    )
}

fn decode_cursor(parameter: &str, tag: char, raw: &str) -> Result<PostCursor, ApiError> {
    let bad = || {
        ApiError::invalid_parameter(
            parameter,
            format!(
                "`{parameter}` is not a cursor of this listing and order: send back the \
                 `next_...cursor` of the page before, unchanged"
            ),
        )
    };
    let mut parts = raw.trim().split('.');
    let mut tag_buffer = [0; 4];
    if parts.next() != Some(&*tag.encode_utf8(&mut tag_buffer)) {
        return Err(bad());
    }
    let mut number = || -> Result<i64, ApiError> {
        parts
            .next()
            .and_then(|part| part.parse::<i64>().ok())
            .ok_or_else(bad)
    };
    let cursor = PostCursor {
        score: number()?,
        created_at_millis: number()?,
        id: number()?,
    };
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(cursor)
}

/// `GET /api/v1/posts/{id}` query: pages of answers and of comments.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ThreadParams {
    pub answers_per_page: Option<String>,
    pub answers_cursor: Option<String>,
    pub comments_per_page: Option<String>,
    pub comments_cursor: Option<String>,
}

pub const DEFAULT_ANSWERS_PER_PAGE: u32 = 30;
pub const DEFAULT_COMMENTS_PER_PAGE: u32 = 20;

/// What a thread request asks for, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadQuery {
    pub answers_per_page: u32,
    pub answers_cursor: Option<PostCursor>,
    /// Comments under the post per page, and under each answer shown.
    pub comments_per_page: u32,
    pub comments_cursor: Option<PostCursor>,
}

impl ThreadParams {
    pub fn to_query(&self) -> Result<ThreadQuery, ApiError> {
        let per_page = |parameter: &str, raw: &Option<String>, default: u32| match raw {
            None => Ok(default),
            Some(raw) => parse_in_range(parameter, raw, 1, MAX_PER_PAGE),
        };
        let cursor = |parameter: &str, tag: char, raw: &Option<String>| match raw.as_deref() {
            None | Some("") => Ok(None),
            Some(raw) => decode_cursor(parameter, tag, raw).map(Some),
        };
        Ok(ThreadQuery {
            answers_per_page: per_page(
                "answers_per_page",
                &self.answers_per_page,
                DEFAULT_ANSWERS_PER_PAGE,
            )?,
            answers_cursor: cursor("answers_cursor", ANSWERS_CURSOR, &self.answers_cursor)?,
            comments_per_page: per_page(
                "comments_per_page",
                &self.comments_per_page,
                DEFAULT_COMMENTS_PER_PAGE,
            )?,
            comments_cursor: cursor("comments_cursor", COMMENTS_CURSOR, &self.comments_cursor)?,
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

/// A page of a listing. Its `total` comes from the totals cache (at most
/// `totals_max_age` old), so that a page costs its rows, not a count.
pub async fn posts(state: &AppState, query: &PostQuery) -> Result<PageDto<PostSummary>, ApiError> {
    let listing = state.store.post_listing(query).await?;
    let total = state
        .caches
        .total(&state.store, query, state.config.stats_max_age)
        .await?;
    let tag = listing_cursor_tag(query.order);
    Ok(PageDto {
        items: listing.items.iter().map(PostSummary::from).collect(),
        total,
        page: query.cursor.is_none().then_some(query.page),
        per_page: listing.per_page,
        next_cursor: listing.next_cursor.map(|cursor| encode_cursor(tag, cursor)),
    })
}

/// A post with a page of its comments and a page of its answers (the
/// accepted one first, then by score, ties oldest first), each answer with
/// its first comments. Five queries whatever the size of the thread.
pub async fn thread(
    store: &Store,
    id: PostId,
    query: &ThreadQuery,
) -> Result<PostThread, ApiError> {
    let post = store
        .post(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no post with id {id}")))?;
    // One more than asked: whether a next page exists.
    let mut answers = store
        .answers(
            id,
            post.accepted_answer_id,
            query.answers_cursor,
            query.answers_per_page + 1,
        )
        .await?;
    let next_answers_cursor = next_cursor(&mut answers, query.answers_per_page, ANSWERS_CURSOR);
    let mut comments = store
        .comments(id, query.comments_cursor, query.comments_per_page + 1)
        .await?;
    let next_comments_cursor = next_cursor(&mut comments, query.comments_per_page, COMMENTS_CURSOR);
    let answer_ids: Vec<PostId> = answers.iter().map(|answer| answer.id).collect();
    let mut answer_comments: HashMap<PostId, Vec<Post>> = HashMap::new();
    for comment in store
        .first_comments(&answer_ids, query.comments_per_page + 1)
        .await?
    {
        if let Some(parent) = comment.parent_id {
            answer_comments.entry(parent).or_default().push(comment);
        }
    }
    let answers = answers
        .iter()
        .map(|answer| {
            let mut comments = answer_comments.remove(&answer.id).unwrap_or_default();
            let next_comments_cursor =
                next_cursor(&mut comments, query.comments_per_page, COMMENTS_CURSOR);
            AnswerDto {
                post: PostDto::from(answer),
                comments: comments.iter().map(PostDto::from).collect(),
                next_comments_cursor,
            }
        })
        .collect();
    Ok(PostThread {
        post: PostDto::from(&post),
        comments: comments.iter().map(PostDto::from).collect(),
        next_comments_cursor,
        answers,
        next_answers_cursor,
    })
}

/// Trims `items` fetched one past `per_page` and says where the next page starts.
fn next_cursor(items: &mut Vec<Post>, per_page: u32, tag: char) -> Option<String> {
    if items.len() <= per_page as usize {
        return None;
    }
    items.truncate(per_page as usize);
    items
        .last()
        .map(|last| encode_cursor(tag, PostCursor::of(last)))
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

/// How long readiness waits for the database before saying no: a load
/// balancer's probe must get an answer, not a hang.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Ready when the database answers within [`READY_TIMEOUT`] and would take a
/// write: a SQLite file locked by another writer makes the server not ready
/// (503 `not_ready`, with `Retry-After`) for as long as the lock is held.
pub async fn readiness(state: &AppState) -> Result<Readiness, ApiError> {
    let probe = async {
        state.store.checkpoint("steward:ready").await?;
        state.store.check_writable().await
    };
    let not_ready = |message: &str| {
        let mut error = ApiError::not_ready(message);
        error.details.retry_after_secs = Some(1);
        error
    };
    match tokio::time::timeout(READY_TIMEOUT, probe).await {
        Ok(Ok(())) => Ok(Readiness {
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
        Ok(Err(error)) if error.is_busy() => {
            tracing::warn!(%error, "readiness: the database is busy");
            Err(not_ready("the database is busy (locked by another writer)"))
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: the database failed");
            Err(not_ready("the database is not answering"))
        }
        Err(_) => {
            tracing::warn!(?READY_TIMEOUT, "readiness: the database timed out");
            Err(not_ready("the database is not answering (or is locked)"))
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
                "cursor" => params.cursor = value,
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
        check("cursor=o.1.2.3", Err("cursor"));
        check("sort=oldest&cursor=n.1.2.3", Err("cursor"));
        check("cursor=n.1.2", Err("cursor"));
        check("cursor=n.1.2.3.4", Err("cursor"));
        check("page=2&cursor=n.1.2.3", Err("cursor"));
    }

    #[test]
    fn cursors_read_back_what_was_written() {
        let cursor = PostCursor {
            score: -3,
            created_at_millis: 1_704_067_200_000,
            id: 1 << 40,
        };
        for tag in ['n', 'o', 's', ANSWERS_CURSOR, COMMENTS_CURSOR] {
            let text = encode_cursor(tag, cursor);
            assert_eq!(
                decode_cursor("cursor", tag, &text).ok(),
                Some(cursor),
                "{text}"
            );
        }
    }
}
