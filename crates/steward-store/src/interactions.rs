//! What the recommender reads: every event in insertion order (a training
//! scan), events by id (the change feed names them), one user's events (a
//! fold-in or a profile), and a lean row per post (thread, owner, tags, time)
//! without the bodies a training scan does not need.

use sqlx::any::AnyRow;
use steward_domain::{Event, PostId, PostKind, Timestamp, UserId};

use crate::error::{Result, database};
use crate::rows::{self, column, json_list};
use crate::sql::SqlText;
use crate::{Store, from_millis};

/// An event with its `events.id`: insertion order, and the key the change
/// feed logs it under.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: i64,
    pub event: Event,
}

/// A post without its text: what interaction data and profiles need.
#[derive(Debug, Clone, PartialEq)]
pub struct PostMeta {
    pub id: PostId,
    pub kind: PostKind,
    pub parent_id: Option<PostId>,
    pub accepted_answer_id: Option<PostId>,
    pub owner_id: Option<UserId>,
    pub tags: Vec<String>,
    pub score: i64,
    pub answer_count: i64,
    pub created_at: Timestamp,
    pub closed_at: Option<Timestamp>,
}

const EVENT_COLUMNS: &str =
    "id, key, user_id, kind, target_kind, target_id, target_tag, at, weight";
const META_COLUMNS: &str = "id, kind, parent_id, accepted_answer_id, owner_id, tags, score, \
                            answer_count, created_at, closed_at";

fn stored_event(row: &AnyRow) -> Result<StoredEvent> {
    Ok(StoredEvent {
        id: column(row, "events", "id")?,
        event: rows::event(row)?,
    })
}

fn post_meta(row: &AnyRow) -> Result<PostMeta> {
    const TABLE: &str = "posts";
    let kind: String = column(row, TABLE, "kind")?;
    let optional_post = |name: &str| -> Result<Option<PostId>> {
        Ok(column::<Option<i64>>(row, TABLE, name)?.map(PostId))
    };
    Ok(PostMeta {
        id: PostId(column(row, TABLE, "id")?),
        kind: rows::parse(TABLE, &kind)?,
        parent_id: optional_post("parent_id")?,
        accepted_answer_id: optional_post("accepted_answer_id")?,
        owner_id: column::<Option<i64>>(row, TABLE, "owner_id")?.map(UserId),
        tags: json_list(row, TABLE, "tags")?,
        score: column(row, TABLE, "score")?,
        answer_count: column(row, TABLE, "answer_count")?,
        created_at: from_millis(TABLE, column(row, TABLE, "created_at")?)?,
        closed_at: column::<Option<i64>>(row, TABLE, "closed_at")?
            .map(|millis| from_millis(TABLE, millis))
            .transpose()?,
    })
}

impl Store {
    /// Events with an id above `after`, in id (insertion) order, at most `limit`.
    pub async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>> {
        let mut sql = SqlText::new(self.dialect, "SELECT ");
        sql.push(EVENT_COLUMNS)
            .push(" FROM events WHERE id > ")
            .parameter()
            .push(" ORDER BY id LIMIT ")
            .parameter();
        let found = sql
            .query()
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(database("reading events"))?;
        found.iter().map(stored_event).collect()
    }

    /// The events with these ids (those that still exist), in id order.
    pub async fn events_by_ids(&self, ids: &[i64]) -> Result<Vec<StoredEvent>> {
        let mut events = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(self.dialect.rows_per_statement(1)) {
            let mut sql = SqlText::new(self.dialect, "SELECT ");
            sql.push(EVENT_COLUMNS).push(" FROM events WHERE id IN (");
            sql.parameter_list(chunk.len()).push(")");
            let mut query = sql.query();
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query
                .fetch_all(&self.pool)
                .await
                .map_err(database("reading events by id"))?
            {
                events.push(stored_event(&row)?);
            }
        }
        events.sort_by_key(|event| event.id);
        Ok(events)
    }

    /// A user's events, oldest first, at most the `limit` most recent.
    pub async fn user_events(&self, user: UserId, limit: u32) -> Result<Vec<StoredEvent>> {
        let mut sql = SqlText::new(self.dialect, "SELECT ");
        sql.push(EVENT_COLUMNS)
            .push(" FROM events WHERE user_id = ")
            .parameter()
            .push(" ORDER BY id DESC LIMIT ")
            .parameter();
        let found = sql
            .query()
            .bind(user.0)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(database("reading a user's events"))?;
        let mut events = found.iter().map(stored_event).collect::<Result<Vec<_>>>()?;
        events.reverse();
        Ok(events)
    }

    /// Questions, answers and articles (no comments) with an id above
    /// `after`, in id order, without their text.
    pub async fn post_meta_after(
        &self,
        after: Option<PostId>,
        limit: u32,
    ) -> Result<Vec<PostMeta>> {
        let mut sql = SqlText::new(self.dialect, "SELECT ");
        sql.push(META_COLUMNS)
            .push(" FROM posts WHERE id > ")
            .parameter()
            .push(" AND kind IN ('question', 'answer', 'article') ORDER BY id LIMIT ")
            .parameter();
        let found = sql
            .query()
            .bind(after.map_or(i64::MIN, |id| id.0))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(database("reading post metadata"))?;
        found.iter().map(post_meta).collect()
    }

    /// The posts with these ids (those that exist), without their text, in id order.
    pub async fn post_meta_by_ids(&self, ids: &[PostId]) -> Result<Vec<PostMeta>> {
        let mut posts = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(self.dialect.rows_per_statement(1)) {
            let mut sql = SqlText::new(self.dialect, "SELECT ");
            sql.push(META_COLUMNS).push(" FROM posts WHERE id IN (");
            sql.parameter_list(chunk.len()).push(")");
            let mut query = sql.query();
            for id in chunk {
                query = query.bind(id.0);
            }
            for row in query
                .fetch_all(&self.pool)
                .await
                .map_err(database("reading post metadata"))?
            {
                posts.push(post_meta(&row)?);
            }
        }
        posts.sort_by_key(|post| post.id);
        Ok(posts)
    }

    /// A user's questions, answers and articles, oldest first, at most the
    /// `limit` most recent.
    pub async fn posts_by_owner(&self, owner: UserId, limit: u32) -> Result<Vec<PostMeta>> {
        let mut sql = SqlText::new(self.dialect, "SELECT ");
        sql.push(META_COLUMNS)
            .push(" FROM posts WHERE owner_id = ")
            .parameter()
            .push(" AND kind IN ('question', 'answer', 'article') ORDER BY created_at DESC, id DESC LIMIT ")
            .parameter();
        let found = sql
            .query()
            .bind(owner.0)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(database("reading a user's posts"))?;
        let mut posts = found.iter().map(post_meta).collect::<Result<Vec<_>>>()?;
        posts.reverse();
        Ok(posts)
    }

    /// Open questions nobody has answered, newest first, at most `limit`:
    /// what expert routing proposes to members.
    pub async fn unanswered_questions(&self, limit: u32) -> Result<Vec<PostMeta>> {
        let mut sql = SqlText::new(self.dialect, "SELECT ");
        sql.push(META_COLUMNS)
            .push(
                " FROM posts WHERE kind = 'question' AND answer_count = 0 AND closed_at IS NULL \
                 ORDER BY created_at DESC, id DESC LIMIT ",
            )
            .parameter();
        let found = sql
            .query()
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(database("reading unanswered questions"))?;
        found.iter().map(post_meta).collect()
    }
}
