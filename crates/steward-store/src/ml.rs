//! What the ML side keeps in the store: post embeddings (little-endian f32 bytes,
//! keyed by model and post) and the LLM audit log. Trained models live in the
//! artifact registry (`artifacts.rs`).

use std::collections::HashMap;

use sqlx::any::AnyRow;
use steward_domain::{LlmCall, LlmOutcome, PostId};

use crate::error::{Error, Result, database};
use crate::rows::{column, json_list, parse};
use crate::sql::SqlText;
use crate::write::{check_text, insert_rows};
use crate::{LlmUsage, Store, StoredEmbedding, UsageFilter, from_millis, to_millis};

const EMBEDDINGS: crate::write::Table = crate::write::Table {
    name: "embeddings",
    columns: &["model", "post_id", "content_hash", "dim", "vector"],
    conflict: &["model", "post_id"],
    on_conflict: crate::write::OnConflict::UpdateOthers,
};

/// Little-endian on every platform, so a database file moves between machines.
fn vector_bytes(vector: &[f32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(vector.len() * 4);
    for value in vector {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes
}

fn embedding(row: &AnyRow) -> Result<StoredEmbedding> {
    const TABLE: &str = "embeddings";
    let dim: i64 = column(row, TABLE, "dim")?;
    let bytes: Vec<u8> = column(row, TABLE, "vector")?;
    if usize::try_from(dim).ok().and_then(|dim| dim.checked_mul(4)) != Some(bytes.len()) {
        return Err(Error::Corrupt {
            table: TABLE,
            message: format!("vector of {} bytes for dimension {dim}", bytes.len()),
        });
    }
    Ok(StoredEmbedding {
        post_id: PostId(column(row, TABLE, "post_id")?),
        model: column(row, TABLE, "model")?,
        content_hash: column(row, TABLE, "content_hash")?,
        vector: bytes
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect(),
    })
}

/// Runs `SELECT {columns} FROM embeddings WHERE model = ? AND post_id IN (...)`
/// over `ids` in chunks, handing every row to `each`.
async fn for_each_embedding_row(
    store: &Store,
    columns: &str,
    model: &str,
    ids: &[PostId],
    mut each: impl FnMut(&AnyRow) -> Result<()>,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut connection = store
        .pool
        .acquire()
        .await
        .map_err(database("reading embeddings"))?;
    for chunk in ids.chunks(store.dialect.rows_per_statement(1)) {
        let mut sql = SqlText::new(store.dialect, "SELECT ");
        sql.push(columns)
            .push(" FROM embeddings WHERE model = ")
            .parameter()
            .push(" AND post_id IN (")
            .parameter_list(chunk.len())
            .push(")");
        let mut query = sql.query().bind(model.to_string());
        for id in chunk {
            query = query.bind(id.0);
        }
        let found = query
            .fetch_all(&mut *connection)
            .await
            .map_err(database("reading embeddings"))?;
        for row in &found {
            each(row)?;
        }
    }
    Ok(())
}

pub(crate) async fn embedding_hashes(
    store: &Store,
    model: &str,
    ids: &[PostId],
) -> Result<HashMap<PostId, i64>> {
    let mut hashes = HashMap::with_capacity(ids.len());
    for_each_embedding_row(store, "post_id, content_hash", model, ids, |row| {
        hashes.insert(
            PostId(column(row, "embeddings", "post_id")?),
            column(row, "embeddings", "content_hash")?,
        );
        Ok(())
    })
    .await?;
    Ok(hashes)
}

pub(crate) async fn embeddings(
    store: &Store,
    model: &str,
    ids: &[PostId],
) -> Result<Vec<StoredEmbedding>> {
    let mut by_id = HashMap::with_capacity(ids.len());
    for_each_embedding_row(store, &EMBEDDINGS.select_list(), model, ids, |row| {
        let found = embedding(row)?;
        by_id.insert(found.post_id, found);
        Ok(())
    })
    .await?;
    // In the caller's order, so results line up with the ids asked for.
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

pub(crate) async fn embeddings_after(
    store: &Store,
    model: &str,
    after: Option<PostId>,
    limit: u32,
) -> Result<Vec<StoredEmbedding>> {
    let mut sql = SqlText::new(store.dialect, "SELECT ");
    sql.push(&EMBEDDINGS.select_list())
        .push(" FROM embeddings WHERE model = ")
        .parameter()
        .push(" AND post_id > ")
        .parameter()
        .push(" ORDER BY post_id LIMIT ")
        .parameter();
    let found = sql
        .query()
        .bind(model.to_string())
        .bind(after.map_or(i64::MIN, |id| id.0))
        .bind(i64::from(limit))
        .fetch_all(&store.pool)
        .await
        .map_err(database("reading embeddings by post id"))?;
    found.iter().map(embedding).collect()
}

pub(crate) async fn put_embeddings(store: &Store, embeddings: &[StoredEmbedding]) -> Result<()> {
    if embeddings.is_empty() {
        return Ok(());
    }
    for stored in embeddings {
        check_text("embedding", &|| stored.post_id.to_string(), &stored.model)?;
    }
    // The last vector per (model, post) wins, as if written one after the other.
    let mut last_index = HashMap::with_capacity(embeddings.len());
    for (index, stored) in embeddings.iter().enumerate() {
        last_index.insert((stored.model.as_str(), stored.post_id), index);
    }
    let kept: Vec<&StoredEmbedding> = embeddings
        .iter()
        .enumerate()
        .filter(|(index, stored)| {
            last_index.get(&(stored.model.as_str(), stored.post_id)) == Some(index)
        })
        .map(|(_, stored)| stored)
        .collect();
    let mut transaction = store.begin_write().await?;
    insert_rows(
        &mut transaction,
        store.dialect,
        &EMBEDDINGS,
        &kept,
        |query, stored| {
            let dim =
                i64::try_from(stored.vector.len()).expect("a vector has fewer than 2^63 values");
            query
                .bind(stored.model.as_str())
                .bind(stored.post_id.0)
                .bind(stored.content_hash)
                .bind(dim)
                .bind(vector_bytes(&stored.vector))
        },
        "writing embeddings",
    )
    .await?;
    transaction
        .commit()
        .await
        .map_err(database("committing embeddings"))
}

pub(crate) async fn delete_embeddings(store: &Store, model: &str, ids: &[PostId]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut transaction = store.begin_write().await?;
    let mut deleted = 0u64;
    for chunk in ids.chunks(store.dialect.rows_per_statement(1)) {
        let mut sql = SqlText::new(store.dialect, "DELETE FROM embeddings WHERE model = ");
        sql.parameter()
            .push(" AND post_id IN (")
            .parameter_list(chunk.len())
            .push(")");
        let mut query = sql.query().bind(model.to_string());
        for id in chunk {
            query = query.bind(id.0);
        }
        deleted += query
            .execute(&mut *transaction)
            .await
            .map_err(database("deleting embeddings"))?
            .rows_affected();
    }
    transaction
        .commit()
        .await
        .map_err(database("committing deleted embeddings"))?;
    Ok(deleted)
}

/// Recording the same `request_id` again replaces the entry: a retried write of
/// one call's audit record must not count it twice.
pub(crate) async fn record_llm_call(store: &Store, call: &LlmCall) -> Result<()> {
    let id = || call.request_id.clone();
    for text in [&call.request_id, &call.feature, &call.role, &call.model]
        .into_iter()
        .chain(&call.key_id)
        .chain(&call.object_ids)
    {
        check_text("llm call", &id, text)?;
    }
    const COLUMNS: usize = 11;
    let mut sql = SqlText::new(
        store.dialect,
        "INSERT INTO llm_calls (request_id, feature, role, key_id, model, prompt_tokens, \
         completion_tokens, latency_ms, outcome, object_ids, at) VALUES (",
    );
    sql.parameter_list(COLUMNS).push(
        ") ON CONFLICT (request_id) DO UPDATE SET feature = excluded.feature, \
         role = excluded.role, key_id = excluded.key_id, model = excluded.model, \
         prompt_tokens = excluded.prompt_tokens, \
         completion_tokens = excluded.completion_tokens, latency_ms = excluded.latency_ms, \
         outcome = excluded.outcome, object_ids = excluded.object_ids, at = excluded.at",
    );
    sql.query()
        .bind(call.request_id.clone())
        .bind(call.feature.clone())
        .bind(call.role.clone())
        .bind(call.key_id.clone())
        .bind(call.model.clone())
        .bind(call.prompt_tokens)
        .bind(call.completion_tokens)
        .bind(call.latency_ms)
        .bind(call.outcome.as_str())
        .bind(serde_json::to_string(&call.object_ids).expect("a list of strings serializes"))
        .bind(to_millis(call.at))
        .execute(&store.pool)
        .await
        .map_err(database("recording an LLM call"))?;
    Ok(())
}

/// Tokens spent: refused calls spent none, failed calls may have.
pub(crate) async fn llm_tokens(store: &Store, filter: &UsageFilter) -> Result<i64> {
    let mut sql = SqlText::new(
        store.dialect,
        "SELECT CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS BIGINT) AS n \
         FROM llm_calls WHERE outcome <> 'refused'",
    );
    if filter.feature.is_some() {
        sql.push(" AND feature = ").parameter();
    }
    if filter.role.is_some() {
        sql.push(" AND role = ").parameter();
    }
    if filter.since.is_some() {
        sql.push(" AND at >= ").parameter();
    }
    let mut query = sql.query();
    if let Some(feature) = &filter.feature {
        query = query.bind(feature.clone());
    }
    if let Some(role) = &filter.role {
        query = query.bind(role.clone());
    }
    if let Some(since) = filter.since {
        query = query.bind(to_millis(since));
    }
    let row = query
        .fetch_one(&store.pool)
        .await
        .map_err(database("summing LLM tokens"))?;
    column(&row, "llm_calls", "n")
}

pub(crate) async fn llm_usage(store: &Store) -> Result<Vec<LlmUsage>> {
    let found = sqlx::query(
        "SELECT feature, model, COUNT(*) AS calls, \
         CAST(SUM(CASE WHEN outcome = 'refused' THEN 1 ELSE 0 END) AS BIGINT) AS refused, \
         CAST(SUM(CASE WHEN outcome = 'error' THEN 1 ELSE 0 END) AS BIGINT) AS errors, \
         CAST(SUM(prompt_tokens) AS BIGINT) AS prompt_tokens, \
         CAST(SUM(completion_tokens) AS BIGINT) AS completion_tokens, \
         CAST(SUM(latency_ms) AS BIGINT) AS total_latency_ms \
         FROM llm_calls GROUP BY feature, model ORDER BY feature, model",
    )
    .fetch_all(&store.pool)
    .await
    .map_err(database("summarising LLM usage"))?;
    found
        .iter()
        .map(|row| {
            const TABLE: &str = "llm_calls";
            Ok(LlmUsage {
                feature: column(row, TABLE, "feature")?,
                model: column(row, TABLE, "model")?,
                calls: column(row, TABLE, "calls")?,
                refused: column(row, TABLE, "refused")?,
                errors: column(row, TABLE, "errors")?,
                prompt_tokens: column(row, TABLE, "prompt_tokens")?,
                completion_tokens: column(row, TABLE, "completion_tokens")?,
                total_latency_ms: column(row, TABLE, "total_latency_ms")?,
            })
        })
        .collect()
}

/// The audit log in time order from `since`, for review screens and exports.
pub(crate) async fn llm_calls_since(
    store: &Store,
    since: steward_domain::Timestamp,
    limit: u32,
) -> Result<Vec<LlmCall>> {
    let mut sql = SqlText::new(
        store.dialect,
        "SELECT request_id, feature, role, key_id, model, prompt_tokens, completion_tokens, \
         latency_ms, outcome, object_ids, at FROM llm_calls WHERE at >= ",
    );
    sql.parameter()
        .push(" ORDER BY at, request_id LIMIT ")
        .parameter();
    let found = sql
        .query()
        .bind(to_millis(since))
        .bind(i64::from(limit))
        .fetch_all(&store.pool)
        .await
        .map_err(database("reading the LLM audit log"))?;
    found
        .iter()
        .map(|row| {
            const TABLE: &str = "llm_calls";
            let outcome: String = column(row, TABLE, "outcome")?;
            Ok(LlmCall {
                request_id: column(row, TABLE, "request_id")?,
                feature: column(row, TABLE, "feature")?,
                role: column(row, TABLE, "role")?,
                key_id: column(row, TABLE, "key_id")?,
                model: column(row, TABLE, "model")?,
                prompt_tokens: column(row, TABLE, "prompt_tokens")?,
                completion_tokens: column(row, TABLE, "completion_tokens")?,
                latency_ms: column(row, TABLE, "latency_ms")?,
                outcome: parse::<LlmOutcome>(TABLE, &outcome)?,
                object_ids: json_list(row, TABLE, "object_ids")?,
                at: from_millis(TABLE, column(row, TABLE, "at")?)?,
            })
        })
        .collect()
}
