//! The change feed: every write logs the records it really changed, in commit
//! order, so that indices and models follow the community by sequence number
//! instead of rescanning it; consumers keep their position in the store.
//!
//! A consumer reads `changes_after(position)`, applies them, and saves the
//! last `seq` it applied. That is only correct if a change that becomes
//! visible never has a smaller `seq` than one already visible: see [`record`].

use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use steward_domain::{PostId, Timestamp, UserId};

use crate::error::{Error, Result, database};
use crate::migrate::advisory_key;
use crate::rows::column;
use crate::sql::SqlText;
use crate::write::{OnConflict, Table, check_text, insert_rows};
use crate::{Dialect, Store, from_millis, now_millis};

/// Most changes one [`Store::changes_after`] call returns, whatever it asks for.
pub const MAX_CHANGES_PER_READ: u32 = 10_000;

/// Which record changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChangeKey {
    Post(PostId),
    User(UserId),
    Tag(String),
    PostLink(i64),
    /// The event's `events.id` (its insertion order), not its idempotency key.
    Event(i64),
}

impl ChangeKey {
    /// `(entity, entity_id, entity_name)` as the `changes` table keeps them.
    fn columns(&self) -> (&'static str, Option<i64>, Option<&str>) {
        match self {
            ChangeKey::Post(id) => ("post", Some(id.0), None),
            ChangeKey::User(id) => ("user", Some(id.0), None),
            ChangeKey::Tag(name) => ("tag", None, Some(name)),
            ChangeKey::PostLink(id) => ("post_link", Some(*id), None),
            ChangeKey::Event(id) => ("event", Some(*id), None),
        }
    }

    fn from_columns(entity: &str, id: Option<i64>, name: Option<String>) -> Result<ChangeKey> {
        let corrupt = || Error::Corrupt {
            table: "changes",
            message: format!("entity `{entity}` with id {id:?} and name {name:?}"),
        };
        Ok(match (entity, id) {
            ("post", Some(id)) => ChangeKey::Post(PostId(id)),
            ("user", Some(id)) => ChangeKey::User(UserId(id)),
            ("post_link", Some(id)) => ChangeKey::PostLink(id),
            ("event", Some(id)) => ChangeKey::Event(id),
            ("tag", None) => ChangeKey::Tag(name.clone().ok_or_else(corrupt)?),
            _ => return Err(corrupt()),
        })
    }
}

/// What happened to the record: it now holds new values, or it is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeOp {
    Upsert,
    Delete,
}

impl ChangeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Upsert => "upsert",
            ChangeOp::Delete => "delete",
        }
    }

    fn parse(value: &str) -> Result<ChangeOp> {
        match value {
            "upsert" => Ok(ChangeOp::Upsert),
            "delete" => Ok(ChangeOp::Delete),
            other => Err(Error::Corrupt {
                table: "changes",
                message: format!("unknown op `{other}`"),
            }),
        }
    }
}

/// One entry of the feed. `seq` increases in commit order; it may skip
/// numbers (a rolled-back write), never go back.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub seq: i64,
    pub key: ChangeKey,
    pub op: ChangeOp,
    pub at: Timestamp,
}

const CHANGES: Table = Table {
    name: "changes",
    columns: &["entity", "entity_id", "entity_name", "op", "at"],
    conflict: &[],
    on_conflict: OnConflict::Nothing,
};

const CONSUMERS: Table = Table {
    name: "consumers",
    columns: &["name", "position", "updated_at"],
    conflict: &["name"],
    on_conflict: OnConflict::UpdateOthers,
};

/// Appends `op` for every key to the feed, inside the caller's write
/// transaction, which must commit right after (nothing else may follow).
///
/// On PostgreSQL, `seq` comes from a sequence when the row is inserted, but
/// rows become visible when their transaction commits: a writer that took
/// seq 10 could commit after one that took 11, and a consumer that had read
/// up to 11 would skip 10 for ever. So appends are serialised with a
/// transaction-scoped advisory lock (one per schema) taken right before the
/// insert and held until commit: whoever draws a seq commits before the next
/// writer can draw one, so seq order is commit order. PostgreSQL makes a
/// commit visible before it releases the transaction's locks. The lock covers
/// only the append and the commit, and a writer holding it takes no other
/// lock, so it cannot deadlock with row locks. SQLite needs nothing: its
/// writers hold the database lock from `BEGIN IMMEDIATE` to commit.
pub(crate) async fn record(
    connection: &mut AnyConnection,
    store: &Store,
    op: ChangeOp,
    keys: &[ChangeKey],
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    for key in keys {
        if let ChangeKey::Tag(name) = key {
            check_text("change", &|| name.clone(), name)?;
        }
    }
    if store.dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(advisory_key(&["steward_changes", &store.lock_namespace]))
            .execute(&mut *connection)
            .await
            .map_err(database("locking the change feed"))?;
    }
    let at = now_millis();
    let op = op.as_str();
    insert_rows(
        connection,
        store.dialect,
        &CHANGES,
        keys,
        |query, key| {
            let (entity, id, name) = key.columns();
            query
                .bind(entity)
                .bind(id)
                .bind(name.map(str::to_string))
                .bind(op)
                .bind(at)
        },
        "recording changes",
    )
    .await?;
    Ok(())
}

fn change(row: &AnyRow) -> Result<Change> {
    const TABLE: &str = "changes";
    let entity: String = column(row, TABLE, "entity")?;
    let op: String = column(row, TABLE, "op")?;
    Ok(Change {
        seq: column(row, TABLE, "seq")?,
        key: ChangeKey::from_columns(
            &entity,
            column(row, TABLE, "entity_id")?,
            column(row, TABLE, "entity_name")?,
        )?,
        op: ChangeOp::parse(&op)?,
        at: from_millis(TABLE, column(row, TABLE, "at")?)?,
    })
}

impl Store {
    /// The changes with `seq > after_seq` in seq order, at most `limit`
    /// (capped at [`MAX_CHANGES_PER_READ`]). A consumer passes the last seq it
    /// applied; it has caught up when this returns fewer than it asked for.
    pub async fn changes_after(&self, after_seq: i64, limit: u32) -> Result<Vec<Change>> {
        let limit = limit.min(MAX_CHANGES_PER_READ);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut sql = SqlText::new(
            self.dialect,
            "SELECT seq, entity, entity_id, entity_name, op, at FROM changes WHERE seq > ",
        );
        sql.parameter().push(" ORDER BY seq LIMIT ").parameter();
        let found = sql
            .query()
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(database("reading the change feed"))?;
        found.iter().map(change).collect()
    }

    /// The newest seq in the feed, 0 when it is empty: where a consumer that
    /// has just rebuilt everything from scratch starts following.
    pub async fn latest_change_seq(&self) -> Result<i64> {
        let row = sqlx::query("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS seq FROM changes")
            .fetch_one(&self.pool)
            .await
            .map_err(database("reading the newest change"))?;
        column(&row, "changes", "seq")
    }

    /// The last seq `consumer` saved, 0 when it never saved one.
    pub async fn consumer_position(&self, consumer: &str) -> Result<i64> {
        let mut sql = SqlText::new(self.dialect, "SELECT position FROM consumers WHERE name = ");
        sql.parameter();
        let row = sql
            .query()
            .bind(consumer.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(database("reading a consumer position"))?;
        row.map_or(Ok(0), |row| column(&row, "consumers", "position"))
    }

    /// Saves how far `consumer` has applied the feed. Going back is allowed: a
    /// consumer that rebuilds from scratch starts again from 0.
    pub async fn set_consumer_position(&self, consumer: &str, seq: i64) -> Result<()> {
        check_text("consumer", &|| consumer.to_string(), consumer)?;
        let mut connection = self
            .pool
            .acquire()
            .await
            .map_err(database("saving a consumer position"))?;
        insert_rows(
            &mut connection,
            self.dialect,
            &CONSUMERS,
            &[(consumer, seq)],
            |query, (name, position)| {
                query
                    .bind(name.to_string())
                    .bind(*position)
                    .bind(now_millis())
            },
            "saving a consumer position",
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_columns() {
        let check = |key: ChangeKey| {
            let (entity, id, name) = key.columns();
            let back = ChangeKey::from_columns(entity, id, name.map(str::to_string))
                .expect("a key's own columns decode");
            assert_eq!(back, key);
        };
        check(ChangeKey::Post(PostId(7)));
        check(ChangeKey::User(UserId(-1)));
        check(ChangeKey::Tag("c#".to_string()));
        check(ChangeKey::PostLink(3));
        check(ChangeKey::Event(9));
        assert!(ChangeKey::from_columns("tag", None, None).is_err());
        assert!(ChangeKey::from_columns("badge", Some(1), None).is_err());
    }
}
