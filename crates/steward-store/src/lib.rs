//! The community store: the only crate that speaks SQL.
//!
//! SQLite (a file, created and migrated on first use) is the embedded default;
//! a `postgres://` URL selects PostgreSQL with the same code through sqlx's `Any`
//! driver. Writes come in [`WriteBatch`]es, each one transaction, upserting by
//! the source's ids so that importing the same data twice changes nothing.
//!
//! It also keeps what every subsystem builds on: the change feed that indices
//! and models follow (`feed.rs`), the jobs table of long tasks (`jobs.rs`), and
//! the registry of trained artifacts (`artifacts.rs`).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use steward_domain::{
    AnonymousVote, Badge, Event, LlmCall, Post, PostId, PostKind, PostLink, Tag, Timestamp, User,
    UserId,
};

mod answer_log;
mod artifacts;
mod connect;
mod error;
mod feed;
mod interactions;
mod jobs;
mod keys;
mod kg;
mod migrate;
mod ml;
mod read;
mod rows;
mod sql;
mod stats;
mod write;

pub use answer_log::AnswerLogEntry;
pub use artifacts::{ArtifactLocation, ArtifactVersion, INLINE_ARTIFACT_BYTES, NewArtifact};
pub use connect::{DatabaseLocation, database_location};
pub use error::{Error, Result};
pub use feed::{Change, ChangeKey, ChangeOp, MAX_CHANGES_PER_READ};
pub use interactions::{PostMeta, StoredEvent};
pub use jobs::{
    DEFAULT_JOBS_PER_PAGE, Heartbeat, JobFilter, JobRecord, JobState, MAX_JOBS_PER_PAGE, NewJob,
};
pub use kg::{KgEdgeRow, KgEntity, KgEvidence, KgMention, KgPostFacts};
pub use read::{DEFAULT_PER_PAGE, MAX_PER_PAGE};

use error::database;

/// Stored times are whole milliseconds since the Unix epoch, UTC; finer
/// precision is dropped (floored).
pub(crate) fn to_millis(time: Timestamp) -> i64 {
    time.timestamp_millis()
}

pub(crate) fn from_millis(table: &'static str, millis: i64) -> Result<Timestamp> {
    chrono::DateTime::from_timestamp_millis(millis).ok_or_else(|| Error::Corrupt {
        table,
        message: format!("time {millis} ms is out of range"),
    })
}

pub(crate) fn now_millis() -> i64 {
    to_millis(chrono::Utc::now())
}

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
    /// Where artifacts bigger than [`INLINE_ARTIFACT_BYTES`] are kept as files
    /// named by their SHA-256. `None`: beside a SQLite file (`<file>.blobs/`);
    /// inline in the database for PostgreSQL and in-memory SQLite.
    pub blob_dir: Option<PathBuf>,
    /// How long a statement waits for another writer's lock before failing
    /// with an error that [`Error::is_busy`] recognises: SQLite's busy
    /// timeout, PostgreSQL's `lock_timeout`.
    pub busy_timeout: Duration,
    /// How long a caller waits for a pooled connection before failing
    /// (busy, too): shorter than a request's time limit, so that a starved
    /// pool answers "busy, retry" instead of hanging until the request dies.
    pub acquire_timeout: Duration,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> StoreOptions {
        StoreOptions {
            url: url.into(),
            schema: None,
            max_connections: 8,
            blob_dir: None,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
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
    /// Kept once per vote id; only the votes this batch newly stores are added
    /// to the per-post counts, in the same transaction, so re-runs, resumed
    /// runs and concurrent imports count each vote exactly once.
    pub anonymous_votes: Vec<AnonymousVote>,
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
            + self.anonymous_votes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Counts and summary figures of the whole community. Its JSON form (see
/// `stats.rs`) is the one `steward stats --json` and `GET /api/v1/stats` print.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Questions, answers, articles and wiki pages; comments are counted apart.
    pub posts: i64,
    pub questions: i64,
    pub answers: i64,
    pub articles: i64,
    pub wikis: i64,
    pub comments: i64,
    pub users: i64,
    /// Distinct tag names, from the tag table or carried by a post (a JSONL
    /// import has no tag table).
    pub tags: i64,
    pub post_links: i64,
    pub duplicate_links: i64,
    pub badges: i64,
    pub events: i64,
    /// Events per kind name (`view`, `up_vote`, ...), most frequent first.
    pub events_by_kind: Vec<(String, i64)>,
    /// Sum of anonymous votes (all vote types).
    pub anonymous_votes: i64,
    /// Questions with at least one stored answer (the source's `answer_count`
    /// is not trusted: dumps and samples may lack the answers it counts).
    pub answered_questions: i64,
    /// Questions with an accepted answer.
    pub accepted_questions: i64,
    /// Creation time of the first and last post, comments not counted.
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
    /// 1-based; 0 reads as 1.
    pub page: u32,
    /// 0 reads as [`DEFAULT_PER_PAGE`]; more than [`MAX_PER_PAGE`] is capped.
    pub per_page: u32,
    /// Start after this post (a keyset page) instead of at `page`; see
    /// [`Store::post_listing`].
    pub cursor: Option<PostCursor>,
}

/// Where a keyset page starts: the sort keys of the last post of the page
/// before. Stable under inserts (a new post lands before or after it, never
/// shifts the pages that follow); a post whose score changes may move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostCursor {
    pub score: i64,
    pub created_at_millis: i64,
    pub id: i64,
}

impl PostCursor {
    /// The cursor that continues after `post`.
    pub fn of(post: &Post) -> PostCursor {
        PostCursor {
            score: post.score,
            created_at_millis: to_millis(post.created_at),
            id: post.id.0,
        }
    }
}

/// A page of a listing without its total: what a keyset page costs.
#[derive(Debug, Clone, PartialEq)]
pub struct PostListing {
    pub items: Vec<Post>,
    /// The page size served (after capping).
    pub per_page: u32,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<PostCursor>,
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

/// An API key as stored. The key itself is never kept, only `hash`, a keyed
/// hash of its secret part; `steward-auth` makes and checks it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The public part of the key (`stw_<id>_<secret>`), unique.
    pub id: String,
    /// What the key is for, as its creator put it.
    pub name: String,
    /// `admin`, `moderator`, `analyst`, `member` or `service`.
    pub role: String,
    /// Permissions the key is limited to, within its role's; empty: all of the role's.
    pub scopes: Vec<String>,
    pub hash: Vec<u8>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// Updated at most every few minutes by servers, not on every request.
    pub last_used_at: Option<Timestamp>,
}

/// The hash is left out: it has no business in a log line.
impl std::fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("scopes", &self.scopes)
            .field("hash", &format_args!("<{} bytes>", self.hash.len()))
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field("last_used_at", &self.last_used_at)
            .finish()
    }
}

/// A handle on the community database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: sqlx::AnyPool,
    dialect: Dialect,
    /// The PostgreSQL schema, or `""`: advisory lock keys are per schema, so
    /// stores in different schemas of one database never wait on each other.
    lock_namespace: String,
    /// Absolute; `None` keeps every artifact inline.
    blob_dir: Option<PathBuf>,
    /// The SQLite database file; `None` on PostgreSQL and in memory.
    sqlite_file: Option<PathBuf>,
}

impl Store {
    /// Opens (creating and migrating if needed) the store at `url`: a file path
    /// or `sqlite:` URL (the file is created, its directory must exist), or a
    /// `postgres://` / `postgresql://` URL. `:memory:` gives a private SQLite
    /// database on a single connection, for tests.
    pub async fn open(url: &str) -> Result<Store> {
        Store::open_with(StoreOptions::new(url)).await
    }

    pub async fn open_with(options: StoreOptions) -> Result<Store> {
        let opened = connect::pool(&options).await?;
        migrate::migrate(&opened.pool, opened.dialect, options.schema.as_deref()).await?;
        let blob_dir = match (&options.blob_dir, &opened.sqlite_file) {
            (Some(directory), _) => {
                Some(
                    std::path::absolute(directory).map_err(|source| Error::File {
                        action: "resolving the blob directory",
                        path: directory.display().to_string(),
                        source,
                    })?,
                )
            }
            (None, Some(file)) => {
                let mut name = file.as_os_str().to_owned();
                name.push(".blobs");
                Some(PathBuf::from(name))
            }
            (None, None) => None,
        };
        Ok(Store {
            pool: opened.pool,
            dialect: opened.dialect,
            lock_namespace: options.schema.unwrap_or_default(),
            blob_dir,
            sqlite_file: opened.sqlite_file,
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The SQLite database file, where files that belong beside the database
    /// (blobs, search indices) go; `None` on PostgreSQL and in memory.
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.sqlite_file.as_deref()
    }

    /// The PostgreSQL schema the store works in, or `""` (the default search
    /// path, and always on SQLite).
    pub fn schema_name(&self) -> &str {
        &self.lock_namespace
    }

    /// Writes a batch in one transaction (see [`WriteBatch`]). Records are
    /// upserted by their source id; within one batch the last record per id
    /// wins, events keep their first record per key, anonymous votes their first
    /// record per vote id, and only votes not stored before add to the counts. Text with a NUL character or a
    /// non-finite event weight is refused up front ([`Error::InvalidValue`]):
    /// PostgreSQL cannot store the one, SQLite would turn the other into NULL.
    pub async fn write(&self, batch: &WriteBatch) -> Result<()> {
        write::write_batch(self, batch).await
    }

    /// The kind of each of `ids` that exists as a post (an importer checks that
    /// an answer's parent is a question, across imports).
    pub async fn post_kinds(&self, ids: &[PostId]) -> Result<HashMap<PostId, PostKind>> {
        read::post_kinds(self, ids).await
    }

    /// The schema migrations recorded as applied, `(version, name)`, oldest
    /// first: each exactly once, however many replicas opened the store.
    pub async fn applied_migrations(&self) -> Result<Vec<(i64, String)>> {
        migrate::applied(&self.pool).await
    }

    /// Every anonymous vote count as `(post, vote type, count)`, ordered by
    /// post and type: one row per voted post and type, for checks and exports.
    pub async fn vote_counts(&self) -> Result<Vec<(PostId, i64, i64)>> {
        read::vote_counts(self).await
    }

    /// The subset of `ids` that exist as posts.
    pub async fn existing_posts(&self, ids: &[PostId]) -> Result<HashSet<PostId>> {
        read::existing_posts(self, ids).await
    }

    /// The position stored under `key` by a batch's checkpoint.
    pub async fn checkpoint(&self, key: &str) -> Result<Option<i64>> {
        read::checkpoint(self, key).await
    }

    pub async fn stats(&self) -> Result<Stats> {
        read::stats(self).await
    }

    pub async fn post(&self, id: PostId) -> Result<Option<Post>> {
        read::post(self, id).await
    }

    /// The posts of `ids` in the order of `ids` (an id asked for twice comes
    /// once, where first asked); posts that do not exist are left out.
    pub async fn posts_by_ids(&self, ids: &[PostId]) -> Result<Vec<Post>> {
        read::posts_by_ids(self, ids).await
    }

    /// Deletes `ids` with their tag rows and embeddings, and records a
    /// [`ChangeOp::Delete`] for each post that existed, in one transaction.
    /// Answers, comments and links of a deleted post stay: callers pass every
    /// id they mean to delete. Returns how many posts were deleted.
    pub async fn delete_posts(&self, ids: &[PostId]) -> Result<u64> {
        write::delete_posts(self, ids).await
    }

    /// Deletes `ids` and records a [`ChangeOp::Delete`] for each user that
    /// existed, in one transaction. Their posts stay, with `owner_id` pointing
    /// at the deleted user (the dumps do the same). Returns how many were deleted.
    pub async fn delete_users(&self, ids: &[UserId]) -> Result<u64> {
        write::delete_users(self, ids).await
    }

    /// Answers and comments under `id`, oldest first.
    pub async fn children(&self, id: PostId) -> Result<Vec<Post>> {
        read::children(self, id).await
    }

    /// Page `query.page` of a listing with the total number of matches
    /// (`query.cursor` is ignored: offset pages only).
    pub async fn posts(&self, query: &PostQuery) -> Result<Page<Post>> {
        read::posts(self, query).await
    }

    /// A page of a listing without counting the matches: after
    /// `query.cursor` when set (keyset, as cheap deep as shallow), else page
    /// `query.page`; with the cursor of the next page.
    pub async fn post_listing(&self, query: &PostQuery) -> Result<PostListing> {
        read::post_listing(self, query).await
    }

    /// How many posts match the filters of `query` (`kind`, `tag`).
    pub async fn count_posts(&self, query: &PostQuery) -> Result<i64> {
        read::count_posts(self, query).await
    }

    /// Answers under `parent` in reading order: `accepted` first, then by
    /// score, ties oldest first; after `after`, at most `limit`.
    pub async fn answers(
        &self,
        parent: PostId,
        accepted: Option<PostId>,
        after: Option<PostCursor>,
        limit: u32,
    ) -> Result<Vec<Post>> {
        read::answers(self, parent, accepted, after, limit).await
    }

    /// The best `per_parent` answers of each of `parents` (the accepted one
    /// first, then by score, as [`Store::answers`] orders them), grouped by
    /// thread in the order of `parents`: one statement for many threads.
    pub async fn top_answers(&self, parents: &[PostId], per_parent: u32) -> Result<Vec<Post>> {
        read::top_answers(self, parents, per_parent).await
    }

    /// Comments under `parent`, oldest first, after `after`, at most `limit`.
    pub async fn comments(
        &self,
        parent: PostId,
        after: Option<PostCursor>,
        limit: u32,
    ) -> Result<Vec<Post>> {
        read::comments(self, parent, after, limit).await
    }

    /// The first `per_parent` comments under each of `parents`, oldest first,
    /// grouped by parent in the order of `parents`: one query, not one per parent.
    pub async fn first_comments(&self, parents: &[PostId], per_parent: u32) -> Result<Vec<Post>> {
        read::first_comments(self, parents, per_parent).await
    }

    /// Whether the database would take a write now: on SQLite, takes and
    /// releases the write lock (waiting at most the busy timeout); on
    /// PostgreSQL, where writers do not lock the database, one round trip.
    pub async fn check_writable(&self) -> Result<()> {
        let transaction = self.begin_write().await?;
        transaction
            .rollback()
            .await
            .map_err(database("checking that the database takes writes"))
    }

    /// Posts with `id > after` in id order, at most `limit`: a cursor over the
    /// whole community for batch jobs (embedding, indexing).
    pub async fn posts_after(&self, after: Option<PostId>, limit: u32) -> Result<Vec<Post>> {
        read::posts_after(self, after, limit).await
    }

    /// Post links with `id > after` in id order, at most `limit`: a cursor
    /// over every duplicate and related link (relevance judgments, dupes).
    pub async fn post_links_after(&self, after: Option<i64>, limit: u32) -> Result<Vec<PostLink>> {
        read::post_links_after(self, after, limit).await
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        read::user(self, id).await
    }

    pub async fn tag(&self, name: &str) -> Result<Option<Tag>> {
        read::tag(self, name).await
    }

    /// Every tag, the most used first.
    pub async fn tags(&self) -> Result<Vec<Tag>> {
        read::tags(self).await
    }

    /// Every tag that has synonyms (for query expansion), by name.
    pub async fn tags_with_synonyms(&self) -> Result<Vec<Tag>> {
        read::tags_with_synonyms(self).await
    }

    /// Inserts live events; returns how many were new (same key = same event).
    pub async fn insert_events(&self, events: &[Event]) -> Result<u64> {
        write::insert_events(self, events).await
    }

    /// The stored events with these keys, in key order; keys not stored are
    /// left out. Lets a client or a test see what an intake path stored.
    pub async fn events_by_keys(&self, keys: &[String]) -> Result<Vec<Event>> {
        read::events_by_keys(self, keys).await
    }

    /// Content hashes of the stored embeddings of `ids` under `model`.
    pub async fn embedding_hashes(
        &self,
        model: &str,
        ids: &[PostId],
    ) -> Result<HashMap<PostId, i64>> {
        ml::embedding_hashes(self, model, ids).await
    }

    pub async fn put_embeddings(&self, embeddings: &[StoredEmbedding]) -> Result<()> {
        ml::put_embeddings(self, embeddings).await
    }

    /// The stored embeddings of `ids` under `model`, in the order of `ids`;
    /// posts without one are left out.
    pub async fn embeddings(&self, model: &str, ids: &[PostId]) -> Result<Vec<StoredEmbedding>> {
        ml::embeddings(self, model, ids).await
    }

    /// Deletes the vectors of `ids` under `model`; returns how many there were.
    /// [`Store::delete_posts`] already drops a deleted post's vectors; an
    /// embedder following the feed calls this for every deletion it reads, so
    /// that a vector written for a post while it was being deleted goes too.
    pub async fn delete_embeddings(&self, model: &str, ids: &[PostId]) -> Result<u64> {
        ml::delete_embeddings(self, model, ids).await
    }

    pub async fn record_llm_call(&self, call: &LlmCall) -> Result<()> {
        ml::record_llm_call(self, call).await
    }

    /// Prompt plus completion tokens of the calls that match `filter`.
    pub async fn llm_tokens(&self, filter: &UsageFilter) -> Result<i64> {
        ml::llm_tokens(self, filter).await
    }

    pub async fn llm_usage(&self) -> Result<Vec<LlmUsage>> {
        ml::llm_usage(self).await
    }

    /// Embeddings under `model` with `post_id > after` in post id order, at most
    /// `limit`: a cursor for building a vector index over every stored vector.
    pub async fn embeddings_after(
        &self,
        model: &str,
        after: Option<PostId>,
        limit: u32,
    ) -> Result<Vec<StoredEmbedding>> {
        ml::embeddings_after(self, model, after, limit).await
    }

    /// The LLM audit log from `since` on, oldest first, at most `limit` entries.
    pub async fn llm_calls_since(&self, since: Timestamp, limit: u32) -> Result<Vec<LlmCall>> {
        ml::llm_calls_since(self, since, limit).await
    }

    /// Stores a new API key; an id that exists already is a database error.
    pub async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        keys::insert_api_key(self, key).await
    }

    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>> {
        keys::api_key(self, id).await
    }

    /// Every key, revoked and expired ones included, oldest first.
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        keys::api_keys(self).await
    }

    /// Revokes key `id` now; `false` when there is no such key or it was
    /// revoked already (the first revocation's time is kept).
    pub async fn revoke_api_key(&self, id: &str) -> Result<bool> {
        keys::revoke_api_key(self, id, chrono::Utc::now()).await
    }

    /// Records that key `id` was used at `at` (never moving the time back).
    pub async fn touch_api_key(&self, id: &str, at: Timestamp) -> Result<()> {
        keys::touch_api_key(self, id, at).await
    }

    /// Logs one answer of `ask` (see [`AnswerLogEntry`]); the same id again
    /// replaces its row.
    pub async fn record_answer(&self, answer: &AnswerLogEntry) -> Result<()> {
        answer_log::record_answer(self, answer).await
    }

    /// The answer log, newest first, at most `limit` entries.
    pub async fn answer_log(&self, limit: u32) -> Result<Vec<AnswerLogEntry>> {
        answer_log::answer_log(self, limit).await
    }

    /// The answer logged under `id`.
    pub async fn logged_answer(&self, id: &str) -> Result<Option<AnswerLogEntry>> {
        answer_log::logged_answer(self, id).await
    }

    /// Writes knowledge-graph entities by key: a known key keeps its id, a new
    /// one gets the next; returns them with their ids, in the order given.
    pub async fn put_kg_entities(&self, entities: &[KgEntity]) -> Result<Vec<KgEntity>> {
        kg::put_kg_entities(self, entities).await
    }

    /// Removes entities with every mention of them and every edge they are in.
    pub async fn delete_kg_entities(&self, ids: &[i64]) -> Result<u64> {
        kg::delete_kg_entities(self, ids).await
    }

    /// Every entity, by id.
    pub async fn kg_entities(&self) -> Result<Vec<KgEntity>> {
        kg::kg_entities(self).await
    }

    /// One entity.
    pub async fn kg_entity(&self, id: i64) -> Result<Option<KgEntity>> {
        kg::kg_entity(self, id).await
    }

    /// Replaces the mentions and edge evidence of each post in `facts`, in one
    /// transaction: an edge only those posts supported goes with them.
    pub async fn replace_kg_posts(&self, facts: &[KgPostFacts]) -> Result<()> {
        kg::replace_kg_posts(self, facts).await
    }

    /// Forgets every mention and edge (before a full rebuild); entities and
    /// their ids stay.
    pub async fn clear_kg_facts(&self) -> Result<()> {
        kg::clear_kg_facts(self).await
    }

    /// Every edge, its evidence summed.
    pub async fn kg_edges(&self) -> Result<Vec<KgEdgeRow>> {
        kg::kg_edges(self).await
    }

    /// `(entity, posts naming it)` for every mentioned entity.
    pub async fn kg_entity_post_counts(&self) -> Result<Vec<(i64, i64)>> {
        kg::kg_entity_post_counts(self).await
    }

    /// The provenance of the edges between two entities (of one relation, if
    /// given), most confident first.
    pub async fn kg_evidence_between(
        &self,
        a: i64,
        b: i64,
        relation: Option<&str>,
        limit: u32,
    ) -> Result<Vec<KgEvidence>> {
        kg::kg_evidence_between(self, a, b, relation, limit).await
    }

    /// The posts naming `entity` most often, with how often.
    pub async fn kg_entity_posts(&self, entity: i64, limit: u32) -> Result<Vec<(PostId, i64)>> {
        kg::kg_entity_posts(self, entity, limit).await
    }

    /// One post's entity mentions, in text order.
    pub async fn kg_post_mentions(&self, post: PostId) -> Result<Vec<KgMention>> {
        kg::kg_post_mentions(self, post).await
    }

    /// A transaction that writes: on SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of
    /// one failing when it upgrades a read lock.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.pool.begin().await,
        }
        .map_err(database("beginning a write transaction"))
    }

    /// A transaction that only reads: one consistent snapshot for several queries.
    pub(crate) async fn begin_read(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        self.pool
            .begin()
            .await
            .map_err(database("beginning a read transaction"))
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
