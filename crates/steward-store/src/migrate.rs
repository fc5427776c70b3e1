//! Versioned schema migrations, one DDL text for both backends (type names are
//! filled in per dialect by [`Dialect::ddl`]), recorded in `steward_migrations`.
//!
//! Each migration runs in its own transaction and re-checks, inside it, that it
//! is still pending: on PostgreSQL under a transaction-scoped advisory lock, on
//! SQLite under `BEGIN IMMEDIATE` (the database write lock). Two replicas that
//! start together therefore apply each migration exactly once, and re-opening a
//! migrated store changes nothing.

use sqlx::{AnyConnection, AnyPool, AssertSqlSafe};

use crate::error::{Error, Result, database};
use crate::{Dialect, now_millis};

/// One step of the schema's history. Never edit a released migration: add one.
struct Migration {
    version: i64,
    name: &'static str,
    statements: &'static [&'static str],
    /// Rows to move in Rust after the statements, in the same transaction, for
    /// what SQL cannot compute on both backends (a SHA-256, say).
    data: Option<DataStep>,
}

/// A migration's data step. A closed set: each one is written once and kept.
#[derive(Debug, Clone, Copy)]
enum DataStep {
    /// Version 2: the single-version `artifacts` table becomes version 1 of each
    /// name in the artifact registry, promoted, and is dropped.
    LegacyArtifacts,
}

/// Times are BIGINT milliseconds since the Unix epoch (UTC); booleans are
/// SMALLINT 0/1 (sqlx's `Any` cannot decode SQLite booleans); lists are JSON text.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "community",
        statements: &[
            "CREATE TABLE users (
            id {id},
            display_name TEXT NOT NULL,
            reputation BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            last_access_at BIGINT,
            location TEXT,
            about TEXT,
            website TEXT
        )",
            "CREATE TABLE posts (
            id {id},
            kind TEXT NOT NULL,
            parent_id BIGINT,
            accepted_answer_id BIGINT,
            owner_id BIGINT,
            title TEXT,
            body_html TEXT NOT NULL,
            body_text TEXT NOT NULL,
            code_blocks TEXT NOT NULL,
            tags TEXT NOT NULL,
            score BIGINT NOT NULL,
            view_count BIGINT NOT NULL,
            answer_count BIGINT NOT NULL,
            comment_count BIGINT NOT NULL,
            favorite_count BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            last_activity_at BIGINT,
            closed_at BIGINT,
            license TEXT,
            language TEXT
        )",
            "CREATE INDEX posts_by_parent ON posts (parent_id)",
            "CREATE INDEX posts_by_kind_and_time ON posts (kind, created_at)",
            // The tags of each post, one row per distinct tag, for tag filters and
            // tag counts; `posts.tags` keeps the source's list as written.
            "CREATE TABLE post_tags (
            post_id BIGINT NOT NULL,
            tag TEXT NOT NULL CHECK (tag <> ''),
            position BIGINT NOT NULL,
            PRIMARY KEY (post_id, tag)
        ){without_rowid}",
            "CREATE INDEX post_tags_by_tag ON post_tags (tag, post_id)",
            "CREATE TABLE tags (
            name TEXT PRIMARY KEY CHECK (name <> ''),
            count BIGINT NOT NULL,
            excerpt TEXT,
            wiki TEXT,
            synonyms TEXT NOT NULL
        )",
            "CREATE TABLE post_links (
            id {id},
            post_id BIGINT NOT NULL,
            related_post_id BIGINT NOT NULL,
            kind TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )",
            "CREATE TABLE badges (
            id {id},
            user_id BIGINT NOT NULL,
            name TEXT NOT NULL,
            class SMALLINT NOT NULL,
            tag_based SMALLINT NOT NULL,
            awarded_at BIGINT NOT NULL
        )",
            // `id` gives events a stable insertion order for cursors; `key` is the
            // idempotency key that makes re-imports and client retries harmless.
            "CREATE TABLE events (
            id {serial},
            key TEXT NOT NULL UNIQUE,
            user_id BIGINT NOT NULL,
            kind TEXT NOT NULL,
            target_kind TEXT NOT NULL,
            target_id BIGINT,
            target_tag TEXT,
            at BIGINT NOT NULL,
            weight DOUBLE PRECISION NOT NULL
        )",
            "CREATE INDEX events_by_user ON events (user_id)",
            "CREATE INDEX events_by_target ON events (target_kind, target_id)",
            "CREATE TABLE vote_counts (
            post_id BIGINT NOT NULL,
            vote_type BIGINT NOT NULL,
            count BIGINT NOT NULL,
            PRIMARY KEY (post_id, vote_type)
        )",
            "CREATE TABLE checkpoints (
            key TEXT PRIMARY KEY,
            position BIGINT NOT NULL
        )",
            "CREATE TABLE embeddings (
            model TEXT NOT NULL,
            post_id BIGINT NOT NULL,
            content_hash BIGINT NOT NULL,
            dim BIGINT NOT NULL,
            vector {blob} NOT NULL,
            PRIMARY KEY (model, post_id)
        )",
            "CREATE TABLE artifacts (
            name TEXT PRIMARY KEY,
            bytes {blob} NOT NULL,
            updated_at BIGINT NOT NULL
        )",
            "CREATE TABLE llm_calls (
            request_id TEXT PRIMARY KEY,
            feature TEXT NOT NULL,
            role TEXT NOT NULL,
            model TEXT NOT NULL,
            prompt_tokens BIGINT NOT NULL,
            completion_tokens BIGINT NOT NULL,
            latency_ms BIGINT NOT NULL,
            outcome TEXT NOT NULL,
            object_ids TEXT NOT NULL,
            at BIGINT NOT NULL
        )",
            "CREATE INDEX llm_calls_by_time ON llm_calls (at)",
        ],
        data: None,
    },
    Migration {
        version: 2,
        name: "spine",
        statements: &[
            // The change feed: one row per record a write really changed, in
            // commit order (see `feed.rs` for how PostgreSQL keeps that order).
            // `entity_id` keys numeric ids, `entity_name` tags.
            "CREATE TABLE changes (
                seq {sequence},
                entity TEXT NOT NULL,
                entity_id BIGINT,
                entity_name TEXT,
                op TEXT NOT NULL,
                at BIGINT NOT NULL
            )",
            // How far each follower of the feed (an index, a model) has read.
            "CREATE TABLE consumers (
                name TEXT PRIMARY KEY,
                position BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )",
            // Deleting a post drops its vectors; the primary key starts with the model.
            "CREATE INDEX embeddings_by_post ON embeddings (post_id)",
            "CREATE TABLE jobs (
                id {sequence},
                kind TEXT NOT NULL,
                params TEXT NOT NULL,
                state TEXT NOT NULL,
                progress TEXT NOT NULL,
                result TEXT,
                error TEXT,
                worker TEXT,
                attempts BIGINT NOT NULL,
                cancel_requested SMALLINT NOT NULL,
                created_at BIGINT NOT NULL,
                started_at BIGINT,
                finished_at BIGINT,
                heartbeat_at BIGINT
            )",
            "CREATE INDEX jobs_by_state ON jobs (state, id)",
            // A version keeps its bytes either inline (`blob`) or in a file of
            // the blob directory named by `path`, never both.
            "CREATE TABLE artifact_versions (
                name TEXT NOT NULL,
                version BIGINT NOT NULL,
                kind TEXT NOT NULL,
                metadata TEXT NOT NULL,
                metrics TEXT NOT NULL,
                feed_seq BIGINT,
                sha256 TEXT NOT NULL,
                size_bytes BIGINT NOT NULL,
                created_at BIGINT NOT NULL,
                promoted SMALLINT NOT NULL,
                blob {blob},
                path TEXT,
                PRIMARY KEY (name, version),
                CHECK ((blob IS NULL) <> (path IS NULL))
            )",
            // At most one promoted version per name, whatever a caller does.
            "CREATE UNIQUE INDEX artifact_versions_promoted ON artifact_versions (name) \
             WHERE promoted = 1",
            // Every promotion and rollback, oldest first: what `rollback` undoes.
            "CREATE TABLE artifact_promotions (
                id {serial},
                name TEXT NOT NULL,
                version BIGINT NOT NULL,
                action TEXT NOT NULL,
                at BIGINT NOT NULL
            )",
            "CREATE INDEX artifact_promotions_by_name ON artifact_promotions (name, id)",
        ],
        data: Some(DataStep::LegacyArtifacts),
    },
    Migration {
        version: 3,
        name: "api_keys",
        statements: &[
            // `hash` is HMAC-SHA-256(server secret, the key's secret part): the key
            // itself is never stored. `scopes` is a JSON list of permission names.
            "CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            scopes TEXT NOT NULL,
            hash {blob} NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT,
            revoked_at BIGINT,
            last_used_at BIGINT
        )",
            // Which key an LLM call was made with, beside its role; NULL for calls
            // Steward makes itself and for calls recorded before keys existed.
            "ALTER TABLE llm_calls ADD COLUMN key_id TEXT",
        ],
        data: None,
    },
    Migration {
        version: 4,
        name: "anonymous_votes",
        statements: &[
            // Each anonymous vote by its source id. `vote_counts` is derived
            // from it: a write adds to a count only the votes its insert really
            // added, so no order, interruption or concurrency counts one twice.
            "CREATE TABLE anonymous_votes (
            id {id},
            post_id BIGINT NOT NULL,
            vote_type BIGINT NOT NULL
        )",
            // Counts made under the old scheme (a highest-vote-id checkpoint)
            // cannot be tied to vote ids, and may be doubled or short: they go,
            // with the checkpoint, and the next import of the dump counts again.
            "DELETE FROM vote_counts",
            "DELETE FROM checkpoints WHERE key = 'stackexchange/Votes.xml'",
        ],
        data: None,
    },
    Migration {
        version: 5,
        name: "listing_indexes",
        statements: &[
            // One index per listing order, ending in `id`, so that a page (a
            // keyset cursor, or an offset through the index) reads only the
            // rows it returns instead of sorting the table.
            "CREATE INDEX posts_by_time ON posts (created_at, id)",
            "CREATE INDEX posts_by_score ON posts (score, created_at, id)",
            "CREATE INDEX posts_by_kind_time_id ON posts (kind, created_at, id)",
            "CREATE INDEX posts_by_kind_score ON posts (kind, score, created_at, id)",
            // A thread's answers in reading order and its comments by time,
            // covering the sort keys: a question with 20,000 answers pages
            // through the index.
            "CREATE INDEX posts_by_parent_kind ON posts (parent_id, kind, score, created_at, id)",
            "CREATE INDEX posts_by_parent_time ON posts (parent_id, kind, created_at, id)",
        ],
        data: None,
    },
    Migration {
        version: 6,
        name: "answer_log",
        statements: &[
            // Every answer `ask` gave (refusals and extractive answers too),
            // for later evaluation; the LLM call behind a generated one is in
            // `llm_calls` with `answer:<id>` among its object ids. `passages`
            // and `citations` are JSON lists.
            "CREATE TABLE answer_log (
            id TEXT PRIMARY KEY,
            asked_at BIGINT NOT NULL,
            question TEXT NOT NULL,
            language TEXT NOT NULL,
            mode TEXT NOT NULL,
            passages TEXT NOT NULL,
            answer TEXT NOT NULL,
            citations TEXT NOT NULL,
            model TEXT,
            latency_ms BIGINT NOT NULL,
            prompt_tokens BIGINT NOT NULL,
            completion_tokens BIGINT NOT NULL,
            role TEXT NOT NULL,
            key_id TEXT
        )",
            "CREATE INDEX answer_log_by_time ON answer_log (asked_at, id)",
        ],
        data: None,
    },
    Migration {
        version: 7,
        name: "posts_by_owner",
        statements: &[
            // A member's own posts: profiles, expertise and expert routing.
            "CREATE INDEX posts_by_owner ON posts (owner_id, created_at, id)",
        ],
        data: None,
    },
    Migration {
        version: 8,
        name: "knowledge_graph",
        statements: &[
            // Entities: the vocabulary (tags, their synonyms) and names the
            // tagger found; `key` is the normalised surface form that
            // identifies one, `aliases` a JSON list of other surface forms.
            "CREATE TABLE kg_entities (
            id {id},
            key TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            source TEXT NOT NULL,
            tag TEXT,
            aliases TEXT NOT NULL,
            description TEXT,
            updated_at BIGINT NOT NULL
        )",
            // Where each entity is named: rewritten per post when the post
            // changes, removed with it.
            "CREATE TABLE kg_mentions (
            post_id BIGINT NOT NULL,
            entity_id BIGINT NOT NULL,
            start_byte BIGINT NOT NULL,
            end_byte BIGINT NOT NULL,
            surface TEXT NOT NULL,
            extractor TEXT NOT NULL,
            confidence DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (post_id, entity_id, start_byte)
        )",
            "CREATE INDEX kg_mentions_by_entity ON kg_mentions (entity_id, post_id)",
            // One row per (edge, post, extractor): an edge exists while it has
            // evidence, so retracting a post's rows retracts the edges only it
            // supported.
            "CREATE TABLE kg_evidence (
            source_id BIGINT NOT NULL,
            target_id BIGINT NOT NULL,
            relation TEXT NOT NULL,
            post_id BIGINT NOT NULL,
            extractor TEXT NOT NULL,
            sentence TEXT NOT NULL,
            confidence DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (source_id, target_id, relation, post_id, extractor)
        )",
            "CREATE INDEX kg_evidence_by_post ON kg_evidence (post_id)",
            "CREATE INDEX kg_evidence_by_target ON kg_evidence (target_id, source_id)",
        ],
        data: None,
    },
];

/// The newest schema version this build knows.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |migration| migration.version)
}

/// Brings the schema up to [`latest_version`]; a no-op when it is there already.
pub(crate) async fn migrate(pool: &AnyPool, dialect: Dialect, schema: Option<&str>) -> Result<()> {
    let lock_key = advisory_lock_key(schema.unwrap_or(""));
    let mut connection = pool
        .acquire()
        .await
        .map_err(database("connecting to run migrations"))?;

    // The bookkeeping table (and the schema) come first, under the same lock,
    // because `CREATE ... IF NOT EXISTS` itself races on PostgreSQL.
    {
        let mut transaction = begin_locked(&mut connection, dialect, lock_key).await?;
        if let (Dialect::Postgres, Some(schema)) = (dialect, schema) {
            let create_schema = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_identifier(schema));
            sqlx::query(AssertSqlSafe(create_schema))
                .execute(&mut *transaction)
                .await
                .map_err(database("creating the schema"))?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS steward_migrations (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at BIGINT NOT NULL
            )",
        )
        .execute(&mut *transaction)
        .await
        .map_err(database("creating the migrations table"))?;
        transaction
            .commit()
            .await
            .map_err(database("creating the migrations table"))?;
    }

    for migration in MIGRATIONS {
        let mut transaction = begin_locked(&mut connection, dialect, lock_key).await?;
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM steward_migrations")
                .fetch_one(&mut *transaction)
                .await
                .map_err(database("reading the schema version"))?;
        let applied = applied.unwrap_or(0);
        if applied > latest_version() {
            return Err(Error::SchemaTooNew {
                found: applied,
                known: latest_version(),
            });
        }
        if applied >= migration.version {
            continue;
        }
        for statement in migration.statements {
            sqlx::query(AssertSqlSafe(dialect.ddl(statement)))
                .execute(&mut *transaction)
                .await
                .map_err(database("applying a schema migration"))?;
        }
        match migration.data {
            None => {}
            Some(DataStep::LegacyArtifacts) => {
                crate::artifacts::migrate_legacy_artifacts(&mut transaction, dialect).await?;
            }
        }
        let record = match dialect {
            Dialect::Sqlite => {
                "INSERT INTO steward_migrations (version, name, applied_at) VALUES (?, ?, ?)"
            }
            Dialect::Postgres => {
                "INSERT INTO steward_migrations (version, name, applied_at) VALUES ($1, $2, $3)"
            }
        };
        sqlx::query(record)
            .bind(migration.version)
            .bind(migration.name)
            .bind(now_millis())
            .execute(&mut *transaction)
            .await
            .map_err(database("recording a schema migration"))?;
        transaction
            .commit()
            .await
            .map_err(database("committing a schema migration"))?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied schema migration"
        );
    }
    Ok(())
}

/// Every migration recorded as applied, `(version, name)`, oldest first.
pub(crate) async fn applied(pool: &AnyPool) -> Result<Vec<(i64, String)>> {
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, name FROM steward_migrations ORDER BY version")
            .fetch_all(pool)
            .await
            .map_err(database("reading the applied migrations"))?;
    Ok(rows)
}

/// Begins a transaction that holds the migration lock until it ends.
async fn begin_locked(
    connection: &mut AnyConnection,
    dialect: Dialect,
    lock_key: i64,
) -> Result<sqlx::Transaction<'_, sqlx::Any>> {
    use sqlx::Connection;
    match dialect {
        Dialect::Sqlite => connection
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(database("locking the database for migrations")),
        Dialect::Postgres => {
            let mut transaction = connection
                .begin()
                .await
                .map_err(database("beginning a migration"))?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(lock_key)
                .execute(&mut *transaction)
                .await
                .map_err(database("taking the migration lock"))?;
            Ok(transaction)
        }
    }
}

/// A stable 64-bit key per schema (FNV-1a), so that tests migrating their own
/// schemas in parallel do not wait on each other.
fn advisory_lock_key(schema: &str) -> i64 {
    advisory_key(&[&format!("steward_migrations:{schema}")])
}

/// A PostgreSQL advisory lock key (FNV-1a over `parts`, a NUL between two
/// parts): stable across processes and releases, so every replica takes the
/// same lock for the same purpose, schema and name.
pub(crate) fn advisory_key(parts: &[&str]) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (index, part) in parts.iter().enumerate() {
        let separator = (index > 0).then_some(0u8);
        for byte in separator.into_iter().chain(part.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// `"name"`, with embedded quotes doubled: safe for any NUL-free name.
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_and_every_statement_fills_its_tokens() {
        let mut previous = 0;
        for migration in MIGRATIONS {
            assert!(migration.version > previous, "{}", migration.name);
            previous = migration.version;
            for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                for statement in migration.statements {
                    assert!(!dialect.ddl(statement).contains('{'), "{statement}");
                }
            }
        }
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("test_1"), "\"test_1\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
        assert_ne!(advisory_lock_key("a"), advisory_lock_key("b"));
        assert_ne!(advisory_key(&["a", "bc"]), advisory_key(&["ab", "c"]));
    }
}
