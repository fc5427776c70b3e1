//! Domain model of a technical community: users, posts, tags, links, badges and
//! interaction events. Plain values with stable ids and UTC times; no IO.
//!
//! Every other crate speaks these types. Ids are the source community's own ids
//! (a Stack Exchange `Id`, a JSONL record's `id`), so a re-import updates rows in
//! place instead of duplicating them.

mod event;
mod post;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use event::{AnonymousVote, Event, EventKind, EventTarget};
pub use post::{Post, PostKind, PostLink, PostLinkKind, split_tags};

/// All times in Steward are UTC.
pub type Timestamp = DateTime<Utc>;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A community member; the source's user id.
    UserId
);
id_type!(
    /// A question, answer, article, wiki page or comment; the source's post id.
    ///
    /// Stack Exchange numbers comments apart from posts, so Steward places a dump's
    /// comment `Id` at [`PostId::comment`] to keep both in one stable id space.
    PostId
);
id_type!(
    /// A badge award.
    BadgeId
);

impl PostId {
    /// First id of the range that holds Stack Exchange comments (2^40).
    pub const COMMENT_BASE: i64 = 1 << 40;

    /// The post id of a Stack Exchange comment with the given `Id`.
    pub fn comment(comment_id: i64) -> PostId {
        PostId(PostId::COMMENT_BASE + comment_id)
    }
}

/// A community member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub display_name: String,
    pub reputation: i64,
    pub created_at: Timestamp,
    pub last_access_at: Option<Timestamp>,
    pub location: Option<String>,
    /// Profile text, HTML stripped.
    pub about: Option<String>,
    pub website: Option<String>,
}

/// A tag with its wiki and synonyms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    /// Lower-case tag name, the tag's identity (`python`, `neural-networks`).
    pub name: String,
    /// Number of posts carrying the tag, as the source counted it.
    pub count: i64,
    /// One-paragraph summary from the tag wiki excerpt, plain text.
    pub excerpt: Option<String>,
    /// Full tag wiki, plain text.
    pub wiki: Option<String>,
    /// Other names that mean this tag (`js` for `javascript`).
    pub synonyms: Vec<String>,
}

/// Badge tiers as Stack Exchange numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadgeClass {
    Gold,
    Silver,
    Bronze,
}

impl BadgeClass {
    pub fn from_code(code: i64) -> Option<BadgeClass> {
        match code {
            1 => Some(BadgeClass::Gold),
            2 => Some(BadgeClass::Silver),
            3 => Some(BadgeClass::Bronze),
            _ => None,
        }
    }

    pub fn code(self) -> i64 {
        match self {
            BadgeClass::Gold => 1,
            BadgeClass::Silver => 2,
            BadgeClass::Bronze => 3,
        }
    }
}

/// A badge awarded to a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Badge {
    pub id: BadgeId,
    pub user_id: UserId,
    pub name: String,
    pub class: BadgeClass,
    /// Awarded for activity in one tag (the badge name is then the tag).
    pub tag_based: bool,
    pub awarded_at: Timestamp,
}

/// Errors from parsing domain values out of their textual forms.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A kind name that Steward does not know (post kind, event kind, link kind).
    #[error("unknown {what} `{value}`; expected one of: {expected}")]
    UnknownKind {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One call to a large language model, as the audit log keeps it. Every call
/// writes one, including calls refused by a quota (`outcome = Refused`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmCall {
    /// Unique per call; also sent as the `x-request-id` of remote calls.
    pub request_id: String,
    /// What asked for it: `generate`, `answer_draft`, `digest`, `openai_api`, ...
    pub feature: String,
    /// Who asked for it: `admin`, `moderator`, `member`, `service`.
    pub role: String,
    /// The API key the call was made with; `None` for calls Steward makes on
    /// its own behalf (the CLI, jobs).
    pub key_id: Option<String>,
    /// Model id, e.g. `SmolLM2-135M-Instruct` or `openai:gpt-4o-mini`.
    pub model: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub latency_ms: i64,
    pub outcome: LlmOutcome,
    /// Ids of the community objects the call was about (`post:12`, `tag:rust`).
    pub object_ids: Vec<String>,
    pub at: Timestamp,
}

/// How an LLM call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmOutcome {
    Ok,
    /// A quota or the concurrency limit said no; no tokens were spent.
    Refused,
    Error,
    /// The caller went away and generation stopped early; the tokens spent
    /// until then are recorded (and count against quotas).
    Cancelled,
}

impl LlmOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LlmOutcome::Ok => "ok",
            LlmOutcome::Refused => "refused",
            LlmOutcome::Error => "error",
            LlmOutcome::Cancelled => "cancelled",
        }
    }
}

impl std::str::FromStr for LlmOutcome {
    type Err = Error;

    fn from_str(value: &str) -> Result<LlmOutcome> {
        match value {
            "ok" => Ok(LlmOutcome::Ok),
            "refused" => Ok(LlmOutcome::Refused),
            "error" => Ok(LlmOutcome::Error),
            "cancelled" => Ok(LlmOutcome::Cancelled),
            _ => Err(Error::UnknownKind {
                what: "llm outcome",
                value: value.to_string(),
                expected: "ok, refused, error, cancelled",
            }),
        }
    }
}
