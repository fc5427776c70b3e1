//! Reads of the community: single records, post listings and cursors, and the
//! summary figures of `steward stats`.

use std::collections::{HashMap, HashSet};

use sqlx::AnyConnection;
use steward_domain::{Event, Post, PostId, PostKind, PostLink, Tag, User, UserId};

use crate::error::{Result, database};
use crate::rows::{self, column};
use crate::sql::SqlText;
use crate::write::{POSTS, TAGS, USERS};
use crate::{Page, PostCursor, PostListing, PostOrder, PostQuery, Stats, Store, from_millis};

/// Page size when a query asks for 0 items per page (`PostQuery::default()`).
pub const DEFAULT_PER_PAGE: u32 = 30;
/// Largest page served: bigger pages are capped, and the page says so in `per_page`.
pub const MAX_PER_PAGE: u32 = 1_000;

pub(crate) async fn post(store: &Store, id: PostId) -> Result<Option<Post>> {
    let mut sql = SqlText::new(store.dialect, "SELECT ");
    sql.push(&POSTS.select_list())
        .push(" FROM posts WHERE id = ")
        .parameter();
    let row = sql
        .query()
        .bind(id.0)
        .fetch_optional(&store.pool)
        .await
        .map_err(database("reading a post"))?;
    row.as_ref().map(rows::post).transpose()
}

pub(crate) async fn posts_by_ids(store: &Store, ids: &[PostId]) -> Result<Vec<Post>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_id: HashMap<PostId, Post> = HashMap::with_capacity(ids.len());
    let mut connection = store
        .pool
        .acquire()
        .await
        .map_err(database("reading posts by id"))?;
    for chunk in ids.chunks(store.dialect.rows_per_statement(1)) {
        let mut sql = SqlText::new(store.dialect, "SELECT ");
        sql.push(&POSTS.select_list())
            .push(" FROM posts WHERE id IN (")
            .parameter_list(chunk.len())
            .push(")");
        let mut query = sql.query();
        for id in chunk {
            query = query.bind(id.0);
        }
        for row in query
            .fetch_all(&mut *connection)
            .await
            .map_err(database("reading posts by id"))?
        {
            let found = rows::post(&row)?;
            by_id.insert(found.id, found);
        }
    }
    // In the caller's order, so results line up with the ids asked for.
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

pub(crate) async fn children(store: &Store, id: PostId) -> Result<Vec<Post>> {
    let mut sql = SqlText::new(store.dialect, "SELECT ");
    sql.push(&POSTS.select_list())
        .push(" FROM posts WHERE parent_id = ")
        .parameter()
        .push(" ORDER BY created_at, id");
    let found = sql
        .query()
        .bind(id.0)
        .fetch_all(&store.pool)
        .await
        .map_err(database("reading the children of a post"))?;
    found.iter().map(rows::post).collect()
}

/// The WHERE clause of a listing (`kind`, `tag`), and its values in order.
struct ListingFilter<'a> {
    query: &'a PostQuery,
}

impl ListingFilter<'_> {
    fn push(&self, sql: &mut SqlText) {
        sql.push(" FROM posts WHERE 1 = 1");
        if self.query.kind.is_some() {
            sql.push(" AND kind = ").parameter();
        }
        if self.query.tag.is_some() {
            sql.push(" AND id IN (SELECT post_id FROM post_tags WHERE tag = ")
                .parameter()
                .push(")");
        }
    }

    fn bind(&self, mut bound: crate::sql::AnyQuery<'static>) -> crate::sql::AnyQuery<'static> {
        if let Some(kind) = self.query.kind {
            bound = bound.bind(kind.as_str());
        }
        if let Some(tag) = &self.query.tag {
            bound = bound.bind(tag.clone());
        }
        bound
    }
}

fn order_by(order: PostOrder) -> &'static str {
    match order {
        PostOrder::Newest => " ORDER BY created_at DESC, id DESC",
        PostOrder::Oldest => " ORDER BY created_at ASC, id ASC",
        PostOrder::Score => " ORDER BY score DESC, created_at DESC, id DESC",
    }
}

fn per_page(query: &PostQuery) -> u32 {
    match query.per_page {
        0 => DEFAULT_PER_PAGE,
        requested => requested.min(MAX_PER_PAGE),
    }
}

pub(crate) async fn count_posts(store: &Store, query: &PostQuery) -> Result<i64> {
    let filter = ListingFilter { query };
    let mut sql = SqlText::new(store.dialect, "SELECT COUNT(*) AS total");
    filter.push(&mut sql);
    filter
        .bind(sql.query())
        .fetch_one(&store.pool)
        .await
        .map_err(database("counting posts"))
        .and_then(|row| column(&row, "posts", "total"))
}

/// One page of a listing, without the count. After a cursor: the rows that
/// follow it in the listing's order (a keyset read through the order's
/// index). Else page `query.page` by offset, which walks the index entries
/// before it (ids only) and reads whole rows for the page alone.
pub(crate) async fn post_listing(store: &Store, query: &PostQuery) -> Result<PostListing> {
    let per_page = per_page(query);
    let filter = ListingFilter { query };
    let mut sql = SqlText::new(store.dialect, "SELECT ");
    sql.push(&POSTS.select_list());
    let bound = match query.cursor {
        Some(cursor) => {
            filter.push(&mut sql);
            sql.push(match query.order {
                PostOrder::Newest => " AND (created_at, id) < (",
                PostOrder::Oldest => " AND (created_at, id) > (",
                PostOrder::Score => " AND (score, created_at, id) < (",
            });
            if query.order == PostOrder::Score {
                sql.parameter().push(", ");
            }
            sql.parameter().push(", ").parameter().push(")");
            sql.push(order_by(query.order)).push(" LIMIT ").parameter();
            let mut bound = filter.bind(sql.query());
            if query.order == PostOrder::Score {
                bound = bound.bind(cursor.score);
            }
            bound
                .bind(cursor.created_at_millis)
                .bind(cursor.id)
                .bind(i64::from(per_page) + 1)
        }
        None => {
            sql.push(" FROM posts WHERE id IN (SELECT id");
            filter.push(&mut sql);
            sql.push(order_by(query.order))
                .push(" LIMIT ")
                .parameter()
                .push(" OFFSET ")
                .parameter()
                .push(")")
                .push(order_by(query.order));
            let offset = i64::from(query.page.max(1) - 1) * i64::from(per_page);
            filter
                .bind(sql.query())
                .bind(i64::from(per_page) + 1)
                .bind(offset)
        }
    };
    let found = bound
        .fetch_all(&store.pool)
        .await
        .map_err(database("listing posts"))?;
    let mut items = found.iter().map(rows::post).collect::<Result<Vec<_>>>()?;
    let more = items.len() > per_page as usize;
    items.truncate(per_page as usize);
    let next_cursor = if more {
        items.last().map(PostCursor::of)
    } else {
        None
    };
    Ok(PostListing {
        items,
        per_page,
        next_cursor,
    })
}

pub(crate) async fn posts(store: &Store, query: &PostQuery) -> Result<Page<Post>> {
    let query = PostQuery {
        cursor: None,
        ..query.clone()
    };
    let total = count_posts(store, &query).await?;
    let listing = post_listing(store, &query).await?;
    Ok(Page {
        items: listing.items,
        total,
        page: query.page.max(1),
        per_page: listing.per_page,
    })
}

/// Answers under `parent` in reading order (the accepted one first, then by
/// score, ties oldest first), after `after`, at most `limit`. The order is
/// read from the covering index `posts_by_parent_kind`, whole rows for the
/// page only.
pub(crate) async fn answers(
    store: &Store,
    parent: PostId,
    accepted: Option<PostId>,
    after: Option<PostCursor>,
    limit: u32,
) -> Result<Vec<Post>> {
    // An id no post has when nothing is accepted.
    let accepted = accepted.map_or(i64::MIN, |id| id.0);
    let mut sql = SqlText::new(store.dialect, "SELECT id FROM posts WHERE parent_id = ");
    sql.parameter().push(" AND kind = 'answer'");
    if after.is_some() {
        sql.push(" AND (CASE WHEN id = ")
            .parameter()
            .push(" THEN 0 ELSE 1 END, 0 - score, created_at, id) > (")
            .parameter()
            .push(", ")
            .parameter()
            .push(", ")
            .parameter()
            .push(", ")
            .parameter()
            .push(")");
    }
    sql.push(" ORDER BY CASE WHEN id = ")
        .parameter()
        .push(" THEN 0 ELSE 1 END, score DESC, created_at, id LIMIT ")
        .parameter();
    let mut bound = sql.query().bind(parent.0);
    if let Some(after) = after {
        bound = bound
            .bind(accepted)
            .bind(i64::from(after.id != accepted))
            .bind(-after.score)
            .bind(after.created_at_millis)
            .bind(after.id);
    }
    let ids = bound
        .bind(accepted)
        .bind(i64::from(limit))
        .fetch_all(&store.pool)
        .await
        .map_err(database("listing the answers of a post"))?
        .iter()
        .map(|row| column(row, "posts", "id").map(PostId))
        .collect::<Result<Vec<_>>>()?;
    posts_by_ids(store, &ids).await
}

/// Comments under `parent`, oldest first, after `after`, at most `limit`.
pub(crate) async fn comments(
    store: &Store,
    parent: PostId,
    after: Option<PostCursor>,
    limit: u32,
) -> Result<Vec<Post>> {
    let mut sql = SqlText::new(store.dialect, "SELECT ");
    sql.push(&POSTS.select_list())
        .push(" FROM posts WHERE parent_id = ")
        .parameter()
        .push(" AND kind = 'comment'");
    if after.is_some() {
        sql.push(" AND (created_at, id) > (")
            .parameter()
            .push(", ")
            .parameter()
            .push(")");
    }
    sql.push(" ORDER BY created_at, id LIMIT ").parameter();
    let mut bound = sql.query().bind(parent.0);
    if let Some(after) = after {
        bound = bound.bind(after.created_at_millis).bind(after.id);
    }
    let found = bound
        .bind(i64::from(limit))
        .fetch_all(&store.pool)
        .await
        .map_err(database("listing the comments of a post"))?;
    found.iter().map(rows::post).collect()
}

/// The first `per_parent` comments (oldest first) under each of `parents`, in
/// one statement per chunk of parents, grouped by parent in `parents` order.
pub(crate) async fn first_comments(
    store: &Store,
    parents: &[PostId],
    per_parent: u32,
) -> Result<Vec<Post>> {
    first_children(
        store,
        parents,
        per_parent,
        "comment",
        "created_at, id",
        "reading the comments of answers",
    )
    .await
}

/// The best `per_parent` answers of each of `parents` in one statement per
/// chunk, each thread's in the order [`answers`] gives (the accepted one
/// first, then by score); threads in the order of `parents`.
pub(crate) async fn top_answers(
    store: &Store,
    parents: &[PostId],
    per_parent: u32,
) -> Result<Vec<Post>> {
    first_children(
        store,
        parents,
        per_parent,
        "answer",
        "CASE WHEN id = (SELECT thread.accepted_answer_id FROM posts AS thread \
         WHERE thread.id = posts.parent_id) THEN 0 ELSE 1 END, score DESC, created_at, id",
        "reading the answers of threads",
    )
    .await
}

/// The first `per_parent` posts of `kind` under each of `parents` in
/// `order` (SQL over the `posts` columns), one statement per chunk of
/// parents; grouped by parent in the order of `parents`, each group in
/// `order`.
async fn first_children(
    store: &Store,
    parents: &[PostId],
    per_parent: u32,
    kind: &'static str,
    order: &'static str,
    what: &'static str,
) -> Result<Vec<Post>> {
    let mut found = Vec::new();
    for chunk in parents.chunks(store.dialect.rows_per_statement(1).saturating_sub(1).max(1)) {
        let mut sql = SqlText::new(store.dialect, "SELECT ");
        sql.push(&POSTS.select_list())
            .push(" FROM (SELECT ")
            .push(&POSTS.select_list())
            .push(", ROW_NUMBER() OVER (PARTITION BY parent_id ORDER BY ")
            .push(order)
            .push(") AS child_rank FROM posts WHERE kind = '")
            .push(kind)
            .push("' AND parent_id IN (")
            .parameter_list(chunk.len())
            .push(")) AS numbered WHERE child_rank <= ")
            .parameter()
            .push(" ORDER BY parent_id, child_rank");
        let mut query = sql.query();
        for id in chunk {
            query = query.bind(id.0);
        }
        for row in query
            .bind(i64::from(per_parent))
            .fetch_all(&store.pool)
            .await
            .map_err(database(what))?
        {
            found.push(rows::post(&row)?);
        }
    }
    let rank: HashMap<PostId, usize> = parents
        .iter()
        .enumerate()
        .map(|(index, id)| (*id, index))
        .collect();
    // Stable: each parent's posts keep their order.
    found.sort_by_key(|post| {
        post.parent_id
            .and_then(|parent| rank.get(&parent).copied())
            .unwrap_or(usize::MAX)
    });
    Ok(found)
}

pub(crate) async fn posts_after(
    store: &Store,
    after: Option<PostId>,
    limit: u32,
) -> Result<Vec<Post>> {
    let mut sql = SqlText::new(store.dialect, "SELECT ");
    sql.push(&POSTS.select_list())
        .push(" FROM posts WHERE id > ")
        .parameter()
        .push(" ORDER BY id LIMIT ")
        .parameter();
    let found = sql
        .query()
        .bind(after.map_or(i64::MIN, |id| id.0))
        .bind(i64::from(limit))
        .fetch_all(&store.pool)
        .await
        .map_err(database("reading posts by id"))?;
    found.iter().map(rows::post).collect()
}

pub(crate) async fn post_links_after(
    store: &Store,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<PostLink>> {
    let mut sql = SqlText::new(
        store.dialect,
        "SELECT id, post_id, related_post_id, kind, created_at FROM post_links WHERE id > ",
    );
    sql.parameter().push(" ORDER BY id LIMIT ").parameter();
    let found = sql
        .query()
        .bind(after.unwrap_or(i64::MIN))
        .bind(i64::from(limit))
        .fetch_all(&store.pool)
        .await
        .map_err(database("reading post links"))?;
    found.iter().map(rows::post_link).collect()
}

pub(crate) async fn user(store: &Store, id: UserId) -> Result<Option<User>> {
    let mut sql = SqlText::new(store.dialect, "SELECT ");
    sql.push(&USERS.select_list())
        .push(" FROM users WHERE id = ")
        .parameter();
    let row = sql
        .query()
        .bind(id.0)
        .fetch_optional(&store.pool)
        .await
        .map_err(database("reading a user"))?;
    row.as_ref().map(rows::user).transpose()
}

pub(crate) async fn tag(store: &Store, name: &str) -> Result<Option<Tag>> {
    let mut sql = SqlText::new(store.dialect, "SELECT ");
    sql.push(&TAGS.select_list())
        .push(" FROM tags WHERE name = ")
        .parameter();
    let row = sql
        .query()
        .bind(name.to_string())
        .fetch_optional(&store.pool)
        .await
        .map_err(database("reading a tag"))?;
    row.as_ref().map(rows::tag).transpose()
}

/// Every tag that has synonyms, by name. Tags change rarely and are few, so
/// readers (query expansion) take them whole.
pub(crate) async fn tags_with_synonyms(store: &Store) -> Result<Vec<Tag>> {
    let mut sql = SqlText::new(store.dialect, "SELECT ");
    sql.push(&TAGS.select_list())
        .push(" FROM tags WHERE synonyms <> '[]' ORDER BY name");
    let rows = sql
        .query()
        .fetch_all(&store.pool)
        .await
        .map_err(database("reading tag synonyms"))?;
    rows.iter().map(rows::tag).collect()
}

/// Every tag, the most used first (then by name).
pub(crate) async fn tags(store: &Store) -> Result<Vec<Tag>> {
    let mut sql = SqlText::new(store.dialect, "SELECT ");
    sql.push(&TAGS.select_list())
        .push(" FROM tags ORDER BY count DESC, name");
    let rows = sql
        .query()
        .fetch_all(&store.pool)
        .await
        .map_err(database("reading tags"))?;
    rows.iter().map(rows::tag).collect()
}

pub(crate) async fn existing_posts(store: &Store, ids: &[PostId]) -> Result<HashSet<PostId>> {
    Ok(post_kinds(store, ids).await?.into_keys().collect())
}

/// The kind of each of `ids` that exists as a post.
pub(crate) async fn post_kinds(store: &Store, ids: &[PostId]) -> Result<HashMap<PostId, PostKind>> {
    let mut kinds = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(kinds);
    }
    let mut connection = store
        .pool
        .acquire()
        .await
        .map_err(database("reading the kinds of posts"))?;
    for chunk in ids.chunks(store.dialect.rows_per_statement(1)) {
        let mut sql = SqlText::new(store.dialect, "SELECT id, kind FROM posts WHERE id IN (");
        sql.parameter_list(chunk.len()).push(")");
        let mut query = sql.query();
        for id in chunk {
            query = query.bind(id.0);
        }
        for row in query
            .fetch_all(&mut *connection)
            .await
            .map_err(database("reading the kinds of posts"))?
        {
            let kind: String = column(&row, "posts", "kind")?;
            let kind: PostKind = rows::parse("posts", &kind)?;
            kinds.insert(PostId(column(&row, "posts", "id")?), kind);
        }
    }
    Ok(kinds)
}

/// Every anonymous vote count as `(post, vote type, count)`, in key order.
pub(crate) async fn vote_counts(store: &Store) -> Result<Vec<(PostId, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT post_id, vote_type, count FROM vote_counts ORDER BY post_id, vote_type",
    )
    .fetch_all(&store.pool)
    .await
    .map_err(database("reading vote counts"))?;
    rows.iter()
        .map(|row| {
            Ok((
                PostId(column(row, "vote_counts", "post_id")?),
                column(row, "vote_counts", "vote_type")?,
                column(row, "vote_counts", "count")?,
            ))
        })
        .collect()
}

pub(crate) async fn events_by_keys(store: &Store, keys: &[String]) -> Result<Vec<Event>> {
    let mut events = Vec::with_capacity(keys.len());
    let mut connection = store
        .pool
        .acquire()
        .await
        .map_err(database("reading events"))?;
    for chunk in keys.chunks(store.dialect.rows_per_statement(1)) {
        let mut sql = SqlText::new(
            store.dialect,
            "SELECT key, user_id, kind, target_kind, target_id, target_tag, at, weight \
             FROM events WHERE key IN (",
        );
        sql.parameter_list(chunk.len()).push(")");
        let mut query = sql.query();
        for key in chunk {
            query = query.bind(key.clone());
        }
        for row in query
            .fetch_all(&mut *connection)
            .await
            .map_err(database("reading events"))?
        {
            events.push(rows::event(&row)?);
        }
    }
    events.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(events)
}

pub(crate) async fn checkpoint(store: &Store, key: &str) -> Result<Option<i64>> {
    let mut sql = SqlText::new(
        store.dialect,
        "SELECT position FROM checkpoints WHERE key = ",
    );
    sql.parameter();
    let row = sql
        .query()
        .bind(key.to_string())
        .fetch_optional(&store.pool)
        .await
        .map_err(database("reading a checkpoint"))?;
    row.map(|row| column(&row, "checkpoints", "position"))
        .transpose()
}

/// One integer from a query without parameters.
async fn count(
    connection: &mut AnyConnection,
    sql: &'static str,
    context: &'static str,
) -> Result<i64> {
    let row = sqlx::query(sql)
        .fetch_one(connection)
        .await
        .map_err(database(context))?;
    column(&row, "stats", "n")
}

/// `(name, count)` pairs from a query without parameters.
async fn counted_names(
    connection: &mut AnyConnection,
    sql: &'static str,
    context: &'static str,
) -> Result<Vec<(String, i64)>> {
    let found = sqlx::query(sql)
        .fetch_all(connection)
        .await
        .map_err(database(context))?;
    found
        .iter()
        .map(|row| Ok((column(row, "stats", "name")?, column(row, "stats", "n")?)))
        .collect()
}

/// Every figure from one snapshot (one read transaction), so they add up even
/// while an import is writing. Sums are cast to BIGINT: PostgreSQL's SUM of a
/// BIGINT is NUMERIC, which the `Any` driver cannot decode.
pub(crate) async fn stats(store: &Store) -> Result<Stats> {
    let mut transaction = store.begin_read().await?;
    let connection: &mut AnyConnection = &mut transaction;

    let by_kind = counted_names(
        connection,
        "SELECT kind AS name, COUNT(*) AS n FROM posts GROUP BY kind",
        "counting posts by kind",
    )
    .await?;
    let kind_count = |kind: &str| {
        by_kind
            .iter()
            .find(|(name, _)| name == kind)
            .map_or(0, |(_, n)| *n)
    };
    let questions = kind_count("question");
    let answers = kind_count("answer");
    let articles = kind_count("article");
    let wikis = kind_count("wiki");
    let comments = kind_count("comment");

    let users = count(
        connection,
        "SELECT COUNT(*) AS n FROM users",
        "counting users",
    )
    .await?;
    // Tags named in the tag table or carried by a post: a JSONL import has no tag table.
    let tags = count(
        connection,
        "SELECT COUNT(*) AS n FROM (SELECT name FROM tags UNION SELECT tag FROM post_tags) AS every_tag",
        "counting tags",
    )
    .await?;
    let post_links = count(
        connection,
        "SELECT COUNT(*) AS n FROM post_links",
        "counting links",
    )
    .await?;
    let duplicate_links = count(
        connection,
        "SELECT COUNT(*) AS n FROM post_links WHERE kind = 'duplicate'",
        "counting duplicate links",
    )
    .await?;
    let badges = count(
        connection,
        "SELECT COUNT(*) AS n FROM badges",
        "counting badges",
    )
    .await?;
    let events_by_kind = counted_names(
        connection,
        "SELECT kind AS name, COUNT(*) AS n FROM events GROUP BY kind ORDER BY n DESC, kind",
        "counting events by kind",
    )
    .await?;
    let events = events_by_kind.iter().map(|(_, n)| n).sum();
    let anonymous_votes = count(
        connection,
        "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) AS n FROM vote_counts",
        "summing anonymous votes",
    )
    .await?;
    let answered_questions = count(
        connection,
        "SELECT COUNT(*) AS n FROM posts AS question WHERE question.kind = 'question' \
         AND EXISTS (SELECT 1 FROM posts AS answer \
                     WHERE answer.parent_id = question.id AND answer.kind = 'answer')",
        "counting answered questions",
    )
    .await?;
    let accepted_questions = count(
        connection,
        "SELECT COUNT(*) AS n FROM posts WHERE kind = 'question' AND accepted_answer_id IS NOT NULL",
        "counting questions with an accepted answer",
    )
    .await?;
    let span = sqlx::query(
        "SELECT MIN(created_at) AS first_at, MAX(created_at) AS last_at FROM posts \
         WHERE kind <> 'comment'",
    )
    .fetch_one(&mut *connection)
    .await
    .map_err(database("finding the first and last post"))?;
    let first_post_at = column::<Option<i64>>(&span, "posts", "first_at")?
        .map(|millis| from_millis("posts", millis))
        .transpose()?;
    let last_post_at = column::<Option<i64>>(&span, "posts", "last_at")?
        .map(|millis| from_millis("posts", millis))
        .transpose()?;
    let top_tags = counted_names(
        connection,
        "SELECT post_tags.tag AS name, COUNT(*) AS n FROM post_tags \
         JOIN posts ON posts.id = post_tags.post_id WHERE posts.kind = 'question' \
         GROUP BY post_tags.tag ORDER BY n DESC, post_tags.tag LIMIT 10",
        "counting the most used tags",
    )
    .await?;
    transaction
        .commit()
        .await
        .map_err(database("reading stats"))?;

    Ok(Stats {
        posts: questions + answers + articles + wikis,
        questions,
        answers,
        articles,
        wikis,
        comments,
        users,
        tags,
        post_links,
        duplicate_links,
        badges,
        events,
        events_by_kind,
        anonymous_votes,
        answered_questions,
        accepted_questions,
        first_post_at,
        last_post_at,
        top_tags,
    })
}
