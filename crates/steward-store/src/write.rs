//! The write path: a [`WriteBatch`] becomes one transaction of multi-row upserts,
//! chunked below each backend's parameter limit, with no per-row round trips.
//!
//! Within one batch the last record per id wins (as if they were written one
//! after the other); PostgreSQL would otherwise refuse a statement that updates
//! one row twice. Events keep the first record per key, vote counts with the
//! same post and vote type are summed.
//!
//! Every record that a write really changes (an upsert whose values differ
//! from the stored row, a new event, a delete) is logged to the change feed in
//! the same transaction; rewriting identical data logs nothing.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};
use steward_domain::{
    AnonymousVote, Badge, Event, EventTarget, Post, PostId, PostLink, Tag, User, UserId,
};

use crate::error::{Error, Result, database};
use crate::feed::{self, ChangeKey, ChangeOp};
use crate::rows::column;
use crate::sql::{AnyQuery, SqlText};
use crate::{Dialect, Store, WriteBatch, to_millis};

/// What a multi-row insert does when a row with the same key exists.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OnConflict {
    /// Overwrite every other column: an upsert by the source's id.
    UpdateOthers,
    /// Overwrite every other column, but only when one of them differs: a row
    /// rewritten with its stored values is left alone and not returned by
    /// `RETURNING`, so it logs no change.
    UpdateChanged,
    /// Keep the stored row: idempotent events.
    Nothing,
    /// Add the new `count` to the stored one: anonymous vote tallies.
    AddCount,
}

/// How one table is written.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) name: &'static str,
    pub(crate) columns: &'static [&'static str],
    pub(crate) conflict: &'static [&'static str],
    pub(crate) on_conflict: OnConflict,
}

impl Table {
    /// `INSERT INTO t (a, b) VALUES (p, p), ... ON CONFLICT (...) DO ... [RETURNING r]`
    /// for `rows` rows.
    fn insert_sql(&self, dialect: Dialect, rows: usize, returning: Option<&str>) -> String {
        let mut sql = self.insert_sql_without_returning(dialect, rows);
        if let Some(returning) = returning {
            sql.push_str(" RETURNING ");
            sql.push_str(returning);
        }
        sql
    }

    fn insert_sql_without_returning(&self, dialect: Dialect, rows: usize) -> String {
        let mut sql = String::with_capacity(64 + rows * self.columns.len() * 7);
        sql.push_str("INSERT INTO ");
        sql.push_str(self.name);
        sql.push_str(" (");
        sql.push_str(&self.columns.join(", "));
        sql.push_str(") VALUES ");
        dialect.push_value_tuples(&mut sql, 1, rows, self.columns.len());
        if self.conflict.is_empty() {
            return sql;
        }
        sql.push_str(" ON CONFLICT (");
        sql.push_str(&self.conflict.join(", "));
        sql.push_str(") DO ");
        match self.on_conflict {
            OnConflict::Nothing => sql.push_str("NOTHING"),
            OnConflict::AddCount => {
                sql.push_str("UPDATE SET count = ");
                sql.push_str(self.name);
                sql.push_str(".count + excluded.count");
            }
            OnConflict::UpdateOthers | OnConflict::UpdateChanged => {
                sql.push_str("UPDATE SET ");
                let others: Vec<&str> = self
                    .columns
                    .iter()
                    .copied()
                    .filter(|column| !self.conflict.contains(column))
                    .collect();
                let updates: Vec<String> = others
                    .iter()
                    .map(|column| format!("{column} = excluded.{column}"))
                    .collect();
                sql.push_str(&updates.join(", "));
                if let OnConflict::UpdateChanged = self.on_conflict {
                    // `IS DISTINCT FROM` treats two NULLs as equal (SQLite has
                    // it since 3.39; the bundled library is newer).
                    let differs: Vec<String> = others
                        .iter()
                        .map(|column| {
                            format!("{}.{column} IS DISTINCT FROM excluded.{column}", self.name)
                        })
                        .collect();
                    sql.push_str(" WHERE ");
                    sql.push_str(&differs.join(" OR "));
                }
            }
        }
        sql
    }

    pub(crate) fn select_list(&self) -> String {
        self.columns.join(", ")
    }
}

pub(crate) const USERS: Table = Table {
    name: "users",
    columns: &[
        "id",
        "display_name",
        "reputation",
        "created_at",
        "last_access_at",
        "location",
        "about",
        "website",
    ],
    conflict: &["id"],
    on_conflict: OnConflict::UpdateChanged,
};

pub(crate) const POSTS: Table = Table {
    name: "posts",
    columns: &[
        "id",
        "kind",
        "parent_id",
        "accepted_answer_id",
        "owner_id",
        "title",
        "body_html",
        "body_text",
        "code_blocks",
        "tags",
        "score",
        "view_count",
        "answer_count",
        "comment_count",
        "favorite_count",
        "created_at",
        "last_activity_at",
        "closed_at",
        "license",
        "language",
    ],
    conflict: &["id"],
    on_conflict: OnConflict::UpdateChanged,
};

/// Rows are replaced (deleted, then inserted) with their post, so no conflict clause.
const POST_TAGS: Table = Table {
    name: "post_tags",
    columns: &["post_id", "tag", "position"],
    conflict: &[],
    on_conflict: OnConflict::Nothing,
};

pub(crate) const TAGS: Table = Table {
    name: "tags",
    columns: &["name", "count", "excerpt", "wiki", "synonyms"],
    conflict: &["name"],
    on_conflict: OnConflict::UpdateChanged,
};

const POST_LINKS: Table = Table {
    name: "post_links",
    columns: &["id", "post_id", "related_post_id", "kind", "created_at"],
    conflict: &["id"],
    on_conflict: OnConflict::UpdateChanged,
};

const BADGES: Table = Table {
    name: "badges",
    columns: &["id", "user_id", "name", "class", "tag_based", "awarded_at"],
    conflict: &["id"],
    on_conflict: OnConflict::UpdateOthers,
};

const EVENTS: Table = Table {
    name: "events",
    columns: &[
        "key",
        "user_id",
        "kind",
        "target_kind",
        "target_id",
        "target_tag",
        "at",
        "weight",
    ],
    conflict: &["key"],
    on_conflict: OnConflict::Nothing,
};

/// One row per anonymous vote: the set the counts are derived from.
const ANONYMOUS_VOTES: Table = Table {
    name: "anonymous_votes",
    columns: &["id", "post_id", "vote_type"],
    conflict: &["id"],
    on_conflict: OnConflict::Nothing,
};

const VOTE_COUNTS: Table = Table {
    name: "vote_counts",
    columns: &["post_id", "vote_type", "count"],
    conflict: &["post_id", "vote_type"],
    on_conflict: OnConflict::AddCount,
};

pub(crate) const CHECKPOINTS: Table = Table {
    name: "checkpoints",
    columns: &["key", "position"],
    conflict: &["key"],
    on_conflict: OnConflict::UpdateOthers,
};

/// Writes `rows` with as few statements as the parameter limit allows; returns
/// the number of rows the database reports as inserted or changed.
pub(crate) async fn insert_rows<T>(
    connection: &mut AnyConnection,
    dialect: Dialect,
    table: &Table,
    rows: &[T],
    bind_row: impl Fn(AnyQuery<'static>, &T) -> AnyQuery<'static>,
    context: &'static str,
) -> Result<u64> {
    write_rows(
        connection,
        dialect,
        table,
        rows,
        bind_row,
        None,
        context,
        |_| Ok(()),
    )
    .await
}

/// [`insert_rows`], returning the `returning` column of every row inserted or
/// changed (not of rows an `ON CONFLICT` left alone).
pub(crate) async fn insert_rows_returning<T, K>(
    connection: &mut AnyConnection,
    dialect: Dialect,
    table: &Table,
    rows: &[T],
    bind_row: impl Fn(AnyQuery<'static>, &T) -> AnyQuery<'static>,
    returning: &'static str,
    context: &'static str,
) -> Result<Vec<K>>
where
    K: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    let mut keys = Vec::new();
    write_rows(
        connection,
        dialect,
        table,
        rows,
        bind_row,
        Some(returning),
        context,
        |row| {
            keys.push(column(row, table.name, returning)?);
            Ok(())
        },
    )
    .await?;
    Ok(keys)
}

#[allow(clippy::too_many_arguments)] // private: the two callers above name them
async fn write_rows<T>(
    connection: &mut AnyConnection,
    dialect: Dialect,
    table: &Table,
    rows: &[T],
    bind_row: impl Fn(AnyQuery<'static>, &T) -> AnyQuery<'static>,
    returning: Option<&'static str>,
    context: &'static str,
    mut each_returned: impl FnMut(&AnyRow) -> Result<()>,
) -> Result<u64> {
    let rows_per_statement = dialect.rows_per_statement(table.columns.len());
    // Every full chunk has the same text, so the driver's statement cache
    // prepares it once per connection, not once per batch.
    let mut full_chunk_sql: Option<String> = None;
    let mut affected = 0;
    for chunk in rows.chunks(rows_per_statement) {
        let sql = if chunk.len() == rows_per_statement {
            full_chunk_sql
                .get_or_insert_with(|| table.insert_sql(dialect, rows_per_statement, returning))
                .clone()
        } else {
            table.insert_sql(dialect, chunk.len(), returning)
        };
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            query = bind_row(query, row);
        }
        if returning.is_some() {
            let returned = query
                .fetch_all(&mut *connection)
                .await
                .map_err(database(context))?;
            for row in &returned {
                each_returned(row)?;
            }
            affected += u64::try_from(returned.len()).expect("a statement returns < 2^64 rows");
        } else {
            affected += query
                .execute(&mut *connection)
                .await
                .map_err(database(context))?
                .rows_affected();
        }
    }
    Ok(affected)
}

/// `DELETE FROM {table} WHERE {column} IN (...)` over `ids` in chunks; returns
/// the `returning` column of the deleted rows when asked, else nothing.
pub(crate) async fn delete_in(
    connection: &mut AnyConnection,
    dialect: Dialect,
    table: &'static str,
    column_name: &str,
    ids: &[i64],
    returning: Option<&'static str>,
    context: &'static str,
) -> Result<Vec<i64>> {
    let mut deleted = Vec::new();
    for chunk in ids.chunks(dialect.rows_per_statement(1)) {
        let mut sql = SqlText::new(dialect, "DELETE FROM ");
        sql.push(table)
            .push(" WHERE ")
            .push(column_name)
            .push(" IN (")
            .parameter_list(chunk.len())
            .push(")");
        if let Some(returning) = returning {
            sql.push(" RETURNING ").push(returning);
        }
        let mut query = sql.query();
        for id in chunk {
            query = query.bind(*id);
        }
        if let Some(returning) = returning {
            for row in query
                .fetch_all(&mut *connection)
                .await
                .map_err(database(context))?
            {
                deleted.push(column(&row, table, returning)?);
            }
        } else {
            query
                .execute(&mut *connection)
                .await
                .map_err(database(context))?;
        }
    }
    Ok(deleted)
}

/// The rows of `records` to write, keeping the last record of each key.
/// Returns everything in input order when keys are distinct (the common case).
fn last_per_key<T, K: Hash + Eq>(records: &[T], key: impl Fn(&T) -> K) -> Vec<&T> {
    let mut last_index: HashMap<K, usize> = HashMap::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        last_index.insert(key(record), index);
    }
    if last_index.len() == records.len() {
        return records.iter().collect();
    }
    records
        .iter()
        .enumerate()
        .filter(|(index, record)| last_index.get(&key(record)) == Some(index))
        .map(|(_, record)| record)
        .collect()
}

/// Writes one batch in one transaction.
pub(crate) async fn write_batch(store: &Store, batch: &WriteBatch) -> Result<()> {
    validate_batch(batch)?;
    let dialect = store.dialect;
    let users = last_per_key(&batch.users, |user| user.id);
    let posts = last_per_key(&batch.posts, |post| post.id);
    let tags = last_per_key(&batch.tags, |tag| tag.name.clone());
    let post_links = last_per_key(&batch.post_links, |link| link.id);
    let badges = last_per_key(&batch.badges, |badge| badge.id);
    let events = first_per_key(&batch.events);
    let anonymous_votes = first_per_vote_id(&batch.anonymous_votes);

    let mut transaction = store.begin_write().await?;
    let connection: &mut AnyConnection = &mut transaction;
    // Keys of the records this batch really changed, for the change feed.
    let mut changed: Vec<ChangeKey> = Vec::new();
    if !users.is_empty() {
        let mut ids: Vec<i64> = insert_rows_returning(
            connection,
            dialect,
            &USERS,
            &users,
            bind_user,
            "id",
            "writing users",
        )
        .await?;
        ids.sort_unstable();
        changed.extend(ids.into_iter().map(|id| ChangeKey::User(UserId(id))));
    }
    if !posts.is_empty() {
        let mut ids: Vec<i64> = insert_rows_returning(
            connection,
            dialect,
            &POSTS,
            &posts,
            bind_post,
            "id",
            "writing posts",
        )
        .await?;
        ids.sort_unstable();
        // An unchanged post has unchanged tags: its `post_tags` rows stay.
        let changed_ids: HashSet<i64> = ids.iter().copied().collect();
        let changed_posts: Vec<&Post> = posts
            .iter()
            .copied()
            .filter(|post| changed_ids.contains(&post.id.0))
            .collect();
        replace_post_tags(connection, dialect, &changed_posts).await?;
        changed.extend(ids.into_iter().map(|id| ChangeKey::Post(PostId(id))));
    }
    if !tags.is_empty() {
        let mut names: Vec<String> = insert_rows_returning(
            connection,
            dialect,
            &TAGS,
            &tags,
            bind_tag,
            "name",
            "writing tags",
        )
        .await?;
        names.sort_unstable();
        changed.extend(names.into_iter().map(ChangeKey::Tag));
    }
    if !post_links.is_empty() {
        let mut ids: Vec<i64> = insert_rows_returning(
            connection,
            dialect,
            &POST_LINKS,
            &post_links,
            bind_post_link,
            "id",
            "writing post links",
        )
        .await?;
        ids.sort_unstable();
        changed.extend(ids.into_iter().map(ChangeKey::PostLink));
    }
    if !badges.is_empty() {
        insert_rows(
            connection,
            dialect,
            &BADGES,
            &badges,
            bind_badge,
            "writing badges",
        )
        .await?;
    }
    if !events.is_empty() {
        let mut ids: Vec<i64> = insert_rows_returning(
            connection,
            dialect,
            &EVENTS,
            &events,
            bind_event,
            "id",
            "writing events",
        )
        .await?;
        ids.sort_unstable();
        changed.extend(ids.into_iter().map(ChangeKey::Event));
    }
    if !anonymous_votes.is_empty() {
        // Only the votes this insert really added (not those another run
        // stored first) come back, and only they are counted.
        let mut new_votes: Vec<(i64, i64)> = Vec::new();
        write_rows(
            connection,
            dialect,
            &ANONYMOUS_VOTES,
            &anonymous_votes,
            bind_anonymous_vote,
            Some("post_id, vote_type"),
            "writing anonymous votes",
            |row| {
                new_votes.push((
                    column(row, "anonymous_votes", "post_id")?,
                    column(row, "anonymous_votes", "vote_type")?,
                ));
                Ok(())
            },
        )
        .await?;
        let vote_counts = counts_of(&new_votes);
        insert_rows(
            connection,
            dialect,
            &VOTE_COUNTS,
            &vote_counts,
            |query, (post_id, vote_type, count)| query.bind(*post_id).bind(*vote_type).bind(*count),
            "writing vote counts",
        )
        .await?;
    }
    if let Some((key, position)) = &batch.checkpoint {
        let checkpoint = [(key.as_str(), *position)];
        insert_rows(
            connection,
            dialect,
            &CHECKPOINTS,
            &checkpoint,
            |query, (key, position)| query.bind(key.to_string()).bind(*position),
            "writing the checkpoint",
        )
        .await?;
    }
    // Last, right before the commit: see `feed::record` for why.
    feed::record(connection, store, ChangeOp::Upsert, &changed).await?;
    transaction
        .commit()
        .await
        .map_err(database("committing a write batch"))
}

/// Inserts events that are not stored yet; returns how many were new.
pub(crate) async fn insert_events(store: &Store, events: &[Event]) -> Result<u64> {
    for event in events {
        validate_event(event)?;
    }
    let events = first_per_key(events);
    if events.is_empty() {
        return Ok(0);
    }
    let mut transaction = store.begin_write().await?;
    let mut ids: Vec<i64> = insert_rows_returning(
        &mut transaction,
        store.dialect,
        &EVENTS,
        &events,
        bind_event,
        "id",
        "inserting events",
    )
    .await?;
    ids.sort_unstable();
    let changed: Vec<ChangeKey> = ids.iter().copied().map(ChangeKey::Event).collect();
    feed::record(&mut transaction, store, ChangeOp::Upsert, &changed).await?;
    transaction
        .commit()
        .await
        .map_err(database("committing events"))?;
    Ok(u64::try_from(ids.len()).expect("fewer than 2^64 events"))
}

/// Deletes posts with their tag rows and embeddings; logs one `Delete` change
/// per post that existed.
pub(crate) async fn delete_posts(store: &Store, ids: &[PostId]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let dialect = store.dialect;
    let mut transaction = store.begin_write().await?;
    let connection: &mut AnyConnection = &mut transaction;
    let mut deleted = delete_in(
        connection,
        dialect,
        "posts",
        "id",
        &ids,
        Some("id"),
        "deleting posts",
    )
    .await?;
    delete_in(
        connection,
        dialect,
        "post_tags",
        "post_id",
        &deleted,
        None,
        "deleting the tags of posts",
    )
    .await?;
    delete_in(
        connection,
        dialect,
        "embeddings",
        "post_id",
        &deleted,
        None,
        "deleting the embeddings of posts",
    )
    .await?;
    crate::kg::delete_kg_rows(connection, dialect, &deleted).await?;
    deleted.sort_unstable();
    let changed: Vec<ChangeKey> = deleted
        .iter()
        .map(|id| ChangeKey::Post(PostId(*id)))
        .collect();
    feed::record(connection, store, ChangeOp::Delete, &changed).await?;
    transaction
        .commit()
        .await
        .map_err(database("committing deleted posts"))?;
    Ok(u64::try_from(deleted.len()).expect("fewer than 2^64 posts"))
}

/// Deletes users; logs one `Delete` change per user that existed.
pub(crate) async fn delete_users(store: &Store, ids: &[UserId]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let mut transaction = store.begin_write().await?;
    let mut deleted = delete_in(
        &mut transaction,
        store.dialect,
        "users",
        "id",
        &ids,
        Some("id"),
        "deleting users",
    )
    .await?;
    deleted.sort_unstable();
    let changed: Vec<ChangeKey> = deleted
        .iter()
        .map(|id| ChangeKey::User(UserId(*id)))
        .collect();
    feed::record(&mut transaction, store, ChangeOp::Delete, &changed).await?;
    transaction
        .commit()
        .await
        .map_err(database("committing deleted users"))?;
    Ok(u64::try_from(deleted.len()).expect("fewer than 2^64 users"))
}

/// Events keep their first record per key: an event happened once, and the
/// stored one wins over later copies too (`ON CONFLICT DO NOTHING`).
fn first_per_key(events: &[Event]) -> Vec<&Event> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(events.len());
    events
        .iter()
        .filter(|event| seen.insert(event.key.as_str()))
        .collect()
}

/// Anonymous votes keep their first record per id, sorted by id: two imports
/// racing on PostgreSQL then take the row locks in the same order and wait
/// for each other instead of deadlocking.
fn first_per_vote_id(votes: &[AnonymousVote]) -> Vec<&AnonymousVote> {
    let mut seen: HashSet<i64> = HashSet::with_capacity(votes.len());
    let mut kept: Vec<&AnonymousVote> = votes.iter().filter(|vote| seen.insert(vote.id)).collect();
    kept.sort_unstable_by_key(|vote| vote.id);
    kept
}

/// `(post_id, vote_type, count)` of `votes`, in key order (the lock order, as above).
fn counts_of(votes: &[(i64, i64)]) -> Vec<(i64, i64, i64)> {
    let mut counts: std::collections::BTreeMap<(i64, i64), i64> = Default::default();
    for key in votes {
        *counts.entry(*key).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((post_id, vote_type), count)| (post_id, vote_type, count))
        .collect()
}

/// Replaces the `post_tags` rows of `posts`: a re-imported post may have lost a tag.
async fn replace_post_tags(
    connection: &mut AnyConnection,
    dialect: Dialect,
    posts: &[&Post],
) -> Result<()> {
    if posts.is_empty() {
        return Ok(());
    }
    for chunk in posts.chunks(dialect.rows_per_statement(1)) {
        let mut sql = crate::sql::SqlText::new(dialect, "DELETE FROM post_tags WHERE post_id IN (");
        sql.parameter_list(chunk.len()).push(")");
        let mut query = sql.query();
        for post in chunk {
            query = query.bind(post.id.0);
        }
        query
            .execute(&mut *connection)
            .await
            .map_err(database("replacing post tags"))?;
    }
    let mut rows: Vec<(i64, &str, i64)> = Vec::with_capacity(posts.len() * 3);
    for post in posts {
        for (position, tag) in post.tags.iter().enumerate() {
            let already_listed = post.tags[..position].contains(tag);
            if !already_listed {
                let position =
                    i64::try_from(position).expect("a post has far fewer than 2^63 tags");
                rows.push((post.id.0, tag.as_str(), position));
            }
        }
    }
    insert_rows(
        connection,
        dialect,
        &POST_TAGS,
        &rows,
        |query, (post_id, tag, position)| {
            query.bind(*post_id).bind(tag.to_string()).bind(*position)
        },
        "writing post tags",
    )
    .await?;
    Ok(())
}

fn json_list(values: &[String]) -> String {
    serde_json::to_string(values).expect("a list of strings always serializes to JSON")
}

fn bind_user(query: AnyQuery<'static>, user: &&User) -> AnyQuery<'static> {
    query
        .bind(user.id.0)
        .bind(user.display_name.clone())
        .bind(user.reputation)
        .bind(to_millis(user.created_at))
        .bind(user.last_access_at.map(to_millis))
        .bind(user.location.clone())
        .bind(user.about.clone())
        .bind(user.website.clone())
}

fn bind_post(query: AnyQuery<'static>, post: &&Post) -> AnyQuery<'static> {
    query
        .bind(post.id.0)
        .bind(post.kind.as_str())
        .bind(post.parent_id.map(|id| id.0))
        .bind(post.accepted_answer_id.map(|id| id.0))
        .bind(post.owner_id.map(|id| id.0))
        .bind(post.title.clone())
        .bind(post.body_html.as_str())
        .bind(post.body_text.as_str())
        .bind(json_list(&post.code_blocks))
        .bind(json_list(&post.tags))
        .bind(post.score)
        .bind(post.view_count)
        .bind(post.answer_count)
        .bind(post.comment_count)
        .bind(post.favorite_count)
        .bind(to_millis(post.created_at))
        .bind(post.last_activity_at.map(to_millis))
        .bind(post.closed_at.map(to_millis))
        .bind(post.license.clone())
        .bind(post.language.clone())
}

fn bind_tag(query: AnyQuery<'static>, tag: &&Tag) -> AnyQuery<'static> {
    query
        .bind(tag.name.as_str())
        .bind(tag.count)
        .bind(tag.excerpt.clone())
        .bind(tag.wiki.clone())
        .bind(json_list(&tag.synonyms))
}

fn bind_post_link(query: AnyQuery<'static>, link: &&PostLink) -> AnyQuery<'static> {
    query
        .bind(link.id)
        .bind(link.post_id.0)
        .bind(link.related_post_id.0)
        .bind(link.kind.as_str())
        .bind(to_millis(link.created_at))
}

fn bind_badge(query: AnyQuery<'static>, badge: &&Badge) -> AnyQuery<'static> {
    query
        .bind(badge.id.0)
        .bind(badge.user_id.0)
        .bind(badge.name.as_str())
        .bind(badge.class.code())
        .bind(i64::from(badge.tag_based))
        .bind(to_millis(badge.awarded_at))
}

fn bind_event(query: AnyQuery<'static>, event: &&Event) -> AnyQuery<'static> {
    let (target_kind, target_id, target_tag) = match &event.target {
        EventTarget::Post(post_id) => ("post", Some(post_id.0), None),
        EventTarget::User(user_id) => ("user", Some(user_id.0), None),
        EventTarget::Tag(name) => ("tag", None, Some(name.clone())),
    };
    query
        .bind(event.key.as_str())
        .bind(event.user_id.0)
        .bind(event.kind.as_str())
        .bind(target_kind)
        .bind(target_id)
        .bind(target_tag)
        .bind(to_millis(event.at))
        .bind(event.weight)
}

fn bind_anonymous_vote(query: AnyQuery<'static>, vote: &&AnonymousVote) -> AnyQuery<'static> {
    query
        .bind(vote.id)
        .bind(vote.post_id.0)
        .bind(vote.vote_type)
}

/// Rejects, before anything is written, the values one backend would store and
/// the other refuse: PostgreSQL text cannot hold NUL, SQLite turns NaN into NULL.
fn validate_batch(batch: &WriteBatch) -> Result<()> {
    for user in &batch.users {
        let id = || user.id.to_string();
        check_text("user", &id, &user.display_name)?;
        for text in [&user.location, &user.about, &user.website]
            .into_iter()
            .flatten()
        {
            check_text("user", &id, text)?;
        }
    }
    for post in &batch.posts {
        let id = || post.id.to_string();
        for text in [&post.body_html, &post.body_text] {
            check_text("post", &id, text)?;
        }
        for text in [&post.title, &post.license, &post.language]
            .into_iter()
            .flatten()
        {
            check_text("post", &id, text)?;
        }
        for text in post.tags.iter().chain(&post.code_blocks) {
            check_text("post", &id, text)?;
        }
        if post.tags.iter().any(|tag| tag.trim().is_empty()) {
            return Err(Error::InvalidValue {
                table: "post",
                id: id(),
                message: "a tag is empty".to_string(),
            });
        }
    }
    for tag in &batch.tags {
        let id = || tag.name.clone();
        check_text("tag", &id, &tag.name)?;
        for text in [&tag.excerpt, &tag.wiki]
            .into_iter()
            .flatten()
            .chain(&tag.synonyms)
        {
            check_text("tag", &id, text)?;
        }
    }
    for badge in &batch.badges {
        check_text("badge", &|| badge.id.to_string(), &badge.name)?;
    }
    for event in &batch.events {
        validate_event(event)?;
    }
    if let Some((key, _)) = &batch.checkpoint {
        check_text("checkpoint", &|| key.clone(), key)?;
    }
    Ok(())
}

fn validate_event(event: &Event) -> Result<()> {
    let id = || event.key.clone();
    check_text("event", &id, &event.key)?;
    if let EventTarget::Tag(name) = &event.target {
        check_text("event", &id, name)?;
    }
    if !event.weight.is_finite() {
        return Err(Error::InvalidValue {
            table: "event",
            id: id(),
            message: format!("weight {} is not a finite number", event.weight),
        });
    }
    Ok(())
}

pub(crate) fn check_text(table: &'static str, id: &dyn Fn() -> String, text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(Error::InvalidValue {
            table,
            id: id(),
            message: "text contains a NUL character, which PostgreSQL cannot store".to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_update_every_column_but_the_key() {
        let sql = CHECKPOINTS.insert_sql(Dialect::Postgres, 2, None);
        assert_eq!(
            sql,
            "INSERT INTO checkpoints (key, position) VALUES ($1, $2), ($3, $4) \
             ON CONFLICT (key) DO UPDATE SET position = excluded.position"
        );
        let sql = VOTE_COUNTS.insert_sql(Dialect::Sqlite, 1, None);
        assert!(
            sql.ends_with("DO UPDATE SET count = vote_counts.count + excluded.count"),
            "{sql}"
        );
        assert!(
            POST_TAGS
                .insert_sql(Dialect::Sqlite, 1, None)
                .ends_with("VALUES (?, ?, ?)")
        );
    }

    #[test]
    fn tracked_upserts_skip_identical_rows_and_return_the_changed_keys() {
        let sql = TAGS.insert_sql(Dialect::Postgres, 1, Some("name"));
        assert_eq!(
            sql,
            "INSERT INTO tags (name, count, excerpt, wiki, synonyms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET count = excluded.count, excerpt = excluded.excerpt, \
             wiki = excluded.wiki, synonyms = excluded.synonyms \
             WHERE tags.count IS DISTINCT FROM excluded.count \
             OR tags.excerpt IS DISTINCT FROM excluded.excerpt \
             OR tags.wiki IS DISTINCT FROM excluded.wiki \
             OR tags.synonyms IS DISTINCT FROM excluded.synonyms RETURNING name"
        );
        assert!(
            EVENTS
                .insert_sql(Dialect::Sqlite, 1, Some("id"))
                .ends_with("ON CONFLICT (key) DO NOTHING RETURNING id")
        );
    }

    #[test]
    fn the_last_record_per_key_wins_in_input_order() {
        let check = |records: &[(i64, &str)], expected: &[(i64, &str)]| {
            let kept: Vec<(i64, &str)> = last_per_key(records, |record| record.0)
                .into_iter()
                .copied()
                .collect();
            assert_eq!(kept, expected, "{records:?}");
        };
        check(&[(1, "a"), (2, "b")], &[(1, "a"), (2, "b")]);
        check(&[(1, "a"), (2, "b"), (1, "c")], &[(2, "b"), (1, "c")]);
        check(&[], &[]);
    }
}
