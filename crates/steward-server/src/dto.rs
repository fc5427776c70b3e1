//! Response bodies of the `/api` endpoints: explicit serde structs, apart from
//! the domain types, so that the wire format changes only on purpose. Times are
//! RFC 3339 strings in UTC (`2024-05-01T12:00:00Z`).

use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use steward_domain::{Post, Timestamp, User};
use steward_store::{ApiKeyRecord, JobRecord, LlmUsage};

pub fn time(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn optional_time(at: Option<Timestamp>) -> Option<String> {
    at.map(time)
}

/// `GET /api/v1/health/*`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub status: &'static str,
}

/// `GET /api/v1/health/ready`: ready, and which models are being served.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    pub status: &'static str,
    /// Model id of the chat model, `null` when none is loaded.
    pub llm: Option<String>,
    /// Model id of the embedder, `null` when none is loaded.
    pub embedder: Option<String>,
}

/// A post in a listing: no body, an excerpt of its prose instead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostSummary {
    pub id: i64,
    pub kind: &'static str,
    pub parent_id: Option<i64>,
    pub title: Option<String>,
    /// The start of the post's prose (markup and code removed).
    pub excerpt: String,
    pub tags: Vec<String>,
    pub score: i64,
    pub view_count: i64,
    pub answer_count: i64,
    pub comment_count: i64,
    pub accepted_answer_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub created_at: String,
    pub last_activity_at: Option<String>,
    pub closed_at: Option<String>,
}

/// How much prose a listing shows per post.
const EXCERPT_CHARS: usize = 240;

impl From<&Post> for PostSummary {
    fn from(post: &Post) -> PostSummary {
        let text = post.body_text.trim();
        let excerpt = match text.char_indices().nth(EXCERPT_CHARS) {
            Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
            None => text.to_string(),
        };
        PostSummary {
            id: post.id.0,
            kind: post.kind.as_str(),
            parent_id: post.parent_id.map(|id| id.0),
            title: post.title.clone(),
            excerpt,
            tags: post.tags.clone(),
            score: post.score,
            view_count: post.view_count,
            answer_count: post.answer_count,
            comment_count: post.comment_count,
            accepted_answer_id: post.accepted_answer_id.map(|id| id.0),
            owner_id: post.owner_id.map(|id| id.0),
            created_at: time(post.created_at),
            last_activity_at: optional_time(post.last_activity_at),
            closed_at: optional_time(post.closed_at),
        }
    }
}

/// A whole post.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostDto {
    pub id: i64,
    pub kind: &'static str,
    pub parent_id: Option<i64>,
    pub accepted_answer_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub title: Option<String>,
    pub body_html: String,
    pub body_text: String,
    pub code_blocks: Vec<String>,
    pub tags: Vec<String>,
    pub score: i64,
    pub view_count: i64,
    pub answer_count: i64,
    pub comment_count: i64,
    pub favorite_count: i64,
    pub created_at: String,
    pub last_activity_at: Option<String>,
    pub closed_at: Option<String>,
    pub license: Option<String>,
    pub language: Option<String>,
}

impl From<&Post> for PostDto {
    fn from(post: &Post) -> PostDto {
        PostDto {
            id: post.id.0,
            kind: post.kind.as_str(),
            parent_id: post.parent_id.map(|id| id.0),
            accepted_answer_id: post.accepted_answer_id.map(|id| id.0),
            owner_id: post.owner_id.map(|id| id.0),
            title: post.title.clone(),
            body_html: post.body_html.clone(),
            body_text: post.body_text.clone(),
            code_blocks: post.code_blocks.clone(),
            tags: post.tags.clone(),
            score: post.score,
            view_count: post.view_count,
            answer_count: post.answer_count,
            comment_count: post.comment_count,
            favorite_count: post.favorite_count,
            created_at: time(post.created_at),
            last_activity_at: optional_time(post.last_activity_at),
            closed_at: optional_time(post.closed_at),
            license: post.license.clone(),
            language: post.language.clone(),
        }
    }
}

/// An answer with the comments under it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerDto {
    #[serde(flatten)]
    pub post: PostDto,
    /// Its first comments, oldest first (`comments_per_page` of them).
    pub comments: Vec<PostDto>,
    /// More comments: `GET /api/v1/posts/{answer id}?comments_cursor=...`.
    pub next_comments_cursor: Option<String>,
}

/// `GET /api/v1/posts/{id}`: a post, a page of its comments and a page of
/// its answers (accepted first, then by score) with their first comments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostThread {
    pub post: PostDto,
    pub comments: Vec<PostDto>,
    /// Send as `comments_cursor` for the next page of comments; `null`: no more.
    pub next_comments_cursor: Option<String>,
    pub answers: Vec<AnswerDto>,
    /// Send as `answers_cursor` for the next page of answers; `null`: no more.
    pub next_answers_cursor: Option<String>,
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageDto<T> {
    pub items: Vec<T>,
    /// Matches of the filters; may lag new posts by `server.stats_refresh_secs`.
    pub total: i64,
    /// The page number asked for; `null` for a page read by cursor.
    pub page: Option<u32>,
    pub per_page: u32,
    /// Send as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/users/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserDto {
    pub id: i64,
    pub display_name: String,
    pub reputation: i64,
    pub created_at: String,
    pub last_access_at: Option<String>,
    pub location: Option<String>,
    pub about: Option<String>,
    pub website: Option<String>,
}

impl From<&User> for UserDto {
    fn from(user: &User) -> UserDto {
        UserDto {
            id: user.id.0,
            display_name: user.display_name.clone(),
            reputation: user.reputation,
            created_at: time(user.created_at),
            last_access_at: optional_time(user.last_access_at),
            location: user.location.clone(),
            about: user.about.clone(),
            website: user.website.clone(),
        }
    }
}

// `GET /api/v1/stats` is `steward_store::Stats` itself: its JSON form is the
// one shape the CLI's `stats --json` prints too.

/// `POST /api/v1/events`: how many events were new and how many were already
/// stored under the same key (resent, or repeated within the batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EventsAccepted {
    pub accepted: u64,
    pub duplicates: u64,
}

/// LLM usage totals of one (feature, model) pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmUsageDto {
    pub feature: String,
    pub model: String,
    pub calls: i64,
    pub refused: i64,
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_latency_ms: i64,
}

impl From<&LlmUsage> for LlmUsageDto {
    fn from(usage: &LlmUsage) -> LlmUsageDto {
        LlmUsageDto {
            feature: usage.feature.clone(),
            model: usage.model.clone(),
            calls: usage.calls,
            refused: usage.refused,
            errors: usage.errors,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_latency_ms: usage.total_latency_ms,
        }
    }
}

/// `GET /api/v1/llm/usage`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmUsageList {
    pub items: Vec<LlmUsageDto>,
}

/// An API key as listed (`GET /api/v1/keys`, `steward keys list --json`):
/// never its secret, never its hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyDto {
    pub id: String,
    pub name: String,
    pub role: String,
    pub scopes: Vec<String>,
    /// `active`, `revoked` or `expired`.
    pub state: &'static str,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

impl KeyDto {
    /// The key as it stands at `now` (which decides `expired`).
    pub fn of(record: &ApiKeyRecord, now: Timestamp) -> KeyDto {
        let state = if record.revoked_at.is_some() {
            "revoked"
        } else if record
            .expires_at
            .is_some_and(|expires_at| expires_at <= now)
        {
            "expired"
        } else {
            "active"
        };
        KeyDto {
            id: record.id.clone(),
            name: record.name.clone(),
            role: record.role.clone(),
            scopes: record.scopes.clone(),
            state,
            created_at: time(record.created_at),
            expires_at: optional_time(record.expires_at),
            revoked_at: optional_time(record.revoked_at),
            last_used_at: optional_time(record.last_used_at),
        }
    }
}

/// `GET /api/v1/keys`, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyList {
    pub items: Vec<KeyDto>,
}

/// `POST /api/v1/keys` body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    pub role: String,
    pub name: Option<String>,
    /// Permission names the key is limited to; absent or empty: all of its role's.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Whole days until the key expires; absent: never.
    pub expires_in_days: Option<u32>,
}

/// A new key (`POST /api/v1/keys`, `steward keys create --json`): the only
/// time `key` is shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreatedKey {
    /// The whole key, `stw_<id>_<secret>`; send it as `Authorization: Bearer KEY`.
    pub key: String,
    #[serde(flatten)]
    pub info: KeyDto,
}

/// A job: `GET /api/v1/jobs/{id}`, an item of `GET /api/v1/jobs`, and
/// `steward jobs show --json`. `progress` is the job's last reported
/// `Progress` (`null` before its first heartbeat).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobDto {
    pub id: i64,
    pub kind: String,
    pub params: serde_json::Value,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: &'static str,
    pub progress: serde_json::Value,
    /// The result summary of a finished job (an import report, embed counts).
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub worker: Option<String>,
    pub attempts: i64,
    pub cancel_requested: bool,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub heartbeat_at: Option<String>,
}

impl From<&JobRecord> for JobDto {
    fn from(job: &JobRecord) -> JobDto {
        JobDto {
            id: job.id,
            kind: job.kind.clone(),
            params: job.params.clone(),
            state: job.state.as_str(),
            progress: job.progress.clone(),
            result: job.result.clone(),
            error: job.error.clone(),
            worker: job.worker.clone(),
            attempts: job.attempts,
            cancel_requested: job.cancel_requested,
            created_at: time(job.created_at),
            started_at: optional_time(job.started_at),
            finished_at: optional_time(job.finished_at),
            heartbeat_at: optional_time(job.heartbeat_at),
        }
    }
}

/// `GET /api/v1/jobs`: newest first; `next_before_id` asks for the next page
/// (`null` on the last one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobList {
    pub items: Vec<JobDto>,
    pub next_before_id: Option<i64>,
}
