//! The community store: the only crate that speaks SQL.
//!
//! SQLite (a file, created and migrated on first use) is the embedded default;
//! a `postgres://` URL selects PostgreSQL with the same code through sqlx's `Any`
//! driver. Writes come in [`WriteBatch`]es, each one transaction, upserting by
//! the source's ids so that importing the same data twice changes nothing.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use steward_domain::{
    Badge, Event, LlmCall, Post, PostId, PostKind, PostLink, Tag, Timestamp, User, UserId,
    VoteCount,
};

mod error;

pub use error::{Error, Result};

/// Which SQL database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Where and how to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// A file path (`./steward.db`), a `sqlite:` URL, or a `postgres://` URL.
    pub url: String,
    /// PostgreSQL only: work inside this schema (created if missing). Tests give
    /// each test its own schema so that they can run in parallel on one database.
    pub schema: Option<String>,
    /// Largest number of pooled connections.
    pub max_connections: u32,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> StoreOptions {
        StoreOptions {
            url: url.into(),
            schema: None,
            max_connections: 8,
        }
    }
}

/// Everything one import step writes, committed in one transaction: either all
/// of it is stored, or (on error) none of it.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    pub users: Vec<User>,
    pub posts: Vec<Post>,
    pub tags: Vec<Tag>,
    pub post_links: Vec<PostLink>,
    pub badges: Vec<Badge>,
    /// Inserted unless an event with the same key exists.
    pub events: Vec<Event>,
    /// Added to the stored counts. Only idempotent together with `checkpoint`.
    pub vote_counts: Vec<VoteCount>,
    /// `(key, position)`: how far through a source this batch reaches, written in
    /// the same transaction so that a resumed import knows what is already in.
    pub checkpoint: Option<(String, i64)>,
}

impl WriteBatch {
    pub fn len(&self) -> usize {
        self.users.len()
            + self.posts.len()
            + self.tags.len()
            + self.post_links.len()
            + self.badges.len()
            + self.events.len()
            + self.vote_counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Counts and summary figures of the whole community (`steward stats`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Questions, answers, articles and wiki pages; comments are counted apart.
    pub posts: i64,
    pub questions: i64,
    pub answers: i64,
    pub articles: i64,
    pub wikis: i64,
    pub comments: i64,
    pub users: i64,
    pub tags: i64,
    pub post_links: i64,
    pub duplicate_links: i64,
    pub badges: i64,
    pub events: i64,
    pub events_by_kind: Vec<(String, i64)>,
    /// Sum of anonymous votes (all vote types).
    pub anonymous_votes: i64,
    /// Questions with at least one answer.
    pub answered_questions: i64,
    /// Questions with an accepted answer.
    pub accepted_questions: i64,
    pub first_post_at: Option<Timestamp>,
    pub last_post_at: Option<Timestamp>,
    /// The most used tags with their number of questions, most used first.
    pub top_tags: Vec<(String, i64)>,
}

/// Sort order of a post listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PostOrder {
    #[default]
    Newest,
    Oldest,
    Score,
}

/// A page of posts, filtered.
#[derive(Debug, Clone, Default)]
pub struct PostQuery {
    pub kind: Option<PostKind>,
    pub tag: Option<String>,
    pub order: PostOrder,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

/// One page of results with the total number of matches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// A post's embedding under one model, tagged with the hash of the text it was
/// computed from so that only changed posts are embedded again.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEmbedding {
    pub post_id: PostId,
    pub model: String,
    pub content_hash: i64,
    pub vector: Vec<f32>,
}

/// LLM usage totals for one (feature, model) pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmUsage {
    pub feature: String,
    pub model: String,
    pub calls: i64,
    pub refused: i64,
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_latency_ms: i64,
}

/// Restricts a token sum to one feature and/or one role.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub feature: Option<String>,
    pub role: Option<String>,
    pub since: Option<Timestamp>,
}

/// A handle on the community database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: sqlx::AnyPool,
    dialect: Dialect,
}

#[allow(unused_variables, clippy::unused_async)]
impl Store {
    /// Opens (creating and migrating if needed) the store at `url`.
    pub async fn open(url: &str) -> Result<Store> {
        Store::open_with(StoreOptions::new(url)).await
    }

    pub async fn open_with(options: StoreOptions) -> Result<Store> {
        todo!()
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Writes a batch in one transaction (see [`WriteBatch`]).
    pub async fn write(&self, batch: &WriteBatch) -> Result<()> {
        todo!()
    }

    /// The subset of `ids` that exist as posts.
    pub async fn existing_posts(&self, ids: &[PostId]) -> Result<HashSet<PostId>> {
        todo!()
    }

    /// The position stored under `key` by a batch's checkpoint.
    pub async fn checkpoint(&self, key: &str) -> Result<Option<i64>> {
        todo!()
    }

    pub async fn stats(&self) -> Result<Stats> {
        todo!()
    }

    pub async fn post(&self, id: PostId) -> Result<Option<Post>> {
        todo!()
    }

    /// Answers and comments under `id`, oldest first.
    pub async fn children(&self, id: PostId) -> Result<Vec<Post>> {
        todo!()
    }

    pub async fn posts(&self, query: &PostQuery) -> Result<Page<Post>> {
        todo!()
    }

    /// Posts with `id > after` in id order, at most `limit`: a cursor over the
    /// whole community for batch jobs (embedding, indexing).
    pub async fn posts_after(&self, after: Option<PostId>, limit: u32) -> Result<Vec<Post>> {
        todo!()
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        todo!()
    }

    pub async fn tag(&self, name: &str) -> Result<Option<Tag>> {
        todo!()
    }

    /// Inserts live events; returns how many were new (same key = same event).
    pub async fn insert_events(&self, events: &[Event]) -> Result<u64> {
        todo!()
    }

    /// Content hashes of the stored embeddings of `ids` under `model`.
    pub async fn embedding_hashes(
        &self,
        model: &str,
        ids: &[PostId],
    ) -> Result<HashMap<PostId, i64>> {
        todo!()
    }

    pub async fn put_embeddings(&self, embeddings: &[StoredEmbedding]) -> Result<()> {
        todo!()
    }

    pub async fn embeddings(&self, model: &str, ids: &[PostId]) -> Result<Vec<StoredEmbedding>> {
        todo!()
    }

    /// Stores a named binary artifact (a trained model), replacing any older one.
    pub async fn put_artifact(&self, name: &str, bytes: &[u8]) -> Result<()> {
        todo!()
    }

    pub async fn artifact(&self, name: &str) -> Result<Option<Vec<u8>>> {
        todo!()
    }

    pub async fn record_llm_call(&self, call: &LlmCall) -> Result<()> {
        todo!()
    }

    /// Prompt plus completion tokens of the calls that match `filter`.
    pub async fn llm_tokens(&self, filter: &UsageFilter) -> Result<i64> {
        todo!()
    }

    pub async fn llm_usage(&self) -> Result<Vec<LlmUsage>> {
        todo!()
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
