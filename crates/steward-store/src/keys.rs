//! API keys as stored: who a key belongs to, its role and scopes, the keyed hash
//! of its secret, and its life (created, expires, revoked, last used). What a
//! key may do and how its secret is checked is `steward-auth`'s business.

use sqlx::any::AnyRow;
use steward_domain::Timestamp;

use crate::error::{Result, database};
use crate::rows::{column, json_list};
use crate::sql::SqlText;
use crate::write::check_text;
use crate::{ApiKeyRecord, Store, from_millis, to_millis};

const TABLE: &str = "api_keys";

const COLUMNS: &str =
    "id, name, role, scopes, hash, created_at, expires_at, revoked_at, last_used_at";

fn optional_time(row: &AnyRow, name: &str) -> Result<Option<Timestamp>> {
    column::<Option<i64>>(row, TABLE, name)?
        .map(|millis| from_millis(TABLE, millis))
        .transpose()
}

fn api_key_row(row: &AnyRow) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: column(row, TABLE, "id")?,
        name: column(row, TABLE, "name")?,
        role: column(row, TABLE, "role")?,
        scopes: json_list(row, TABLE, "scopes")?,
        hash: column(row, TABLE, "hash")?,
        created_at: from_millis(TABLE, column(row, TABLE, "created_at")?)?,
        expires_at: optional_time(row, "expires_at")?,
        revoked_at: optional_time(row, "revoked_at")?,
        last_used_at: optional_time(row, "last_used_at")?,
    })
}

pub(crate) async fn insert_api_key(store: &Store, key: &ApiKeyRecord) -> Result<()> {
    let id = || key.id.clone();
    for text in [&key.id, &key.name, &key.role]
        .into_iter()
        .chain(&key.scopes)
    {
        check_text("api key", &id, text)?;
    }
    let mut sql = SqlText::new(store.dialect, "INSERT INTO api_keys (");
    sql.push(COLUMNS)
        .push(") VALUES (")
        .parameter_list(9)
        .push(")");
    sql.query()
        .bind(key.id.clone())
        .bind(key.name.clone())
        .bind(key.role.clone())
        .bind(serde_json::to_string(&key.scopes).expect("a list of strings serializes"))
        .bind(key.hash.clone())
        .bind(to_millis(key.created_at))
        .bind(key.expires_at.map(to_millis))
        .bind(key.revoked_at.map(to_millis))
        .bind(key.last_used_at.map(to_millis))
        .execute(&store.pool)
        .await
        .map_err(database("storing an API key"))?;
    Ok(())
}

pub(crate) async fn api_key(store: &Store, id: &str) -> Result<Option<ApiKeyRecord>> {
    let mut sql = SqlText::new(store.dialect, "SELECT ");
    sql.push(COLUMNS)
        .push(" FROM api_keys WHERE id = ")
        .parameter();
    let row = sql
        .query()
        .bind(id.to_string())
        .fetch_optional(&store.pool)
        .await
        .map_err(database("reading an API key"))?;
    row.as_ref().map(api_key_row).transpose()
}

pub(crate) async fn api_keys(store: &Store) -> Result<Vec<ApiKeyRecord>> {
    let mut sql = SqlText::new(store.dialect, "SELECT ");
    sql.push(COLUMNS)
        .push(" FROM api_keys ORDER BY created_at, id");
    let found = sql
        .query()
        .fetch_all(&store.pool)
        .await
        .map_err(database("listing API keys"))?;
    found.iter().map(api_key_row).collect()
}

/// Only the first revocation counts: its time is kept.
pub(crate) async fn revoke_api_key(store: &Store, id: &str, at: Timestamp) -> Result<bool> {
    let mut sql = SqlText::new(store.dialect, "UPDATE api_keys SET revoked_at = ");
    sql.parameter()
        .push(" WHERE id = ")
        .parameter()
        .push(" AND revoked_at IS NULL");
    let done = sql
        .query()
        .bind(to_millis(at))
        .bind(id.to_string())
        .execute(&store.pool)
        .await
        .map_err(database("revoking an API key"))?;
    Ok(done.rows_affected() > 0)
}

/// Never moves `last_used_at` back: two servers touching one key at nearly the
/// same time may write out of order.
pub(crate) async fn touch_api_key(store: &Store, id: &str, at: Timestamp) -> Result<()> {
    let mut sql = SqlText::new(store.dialect, "UPDATE api_keys SET last_used_at = ");
    sql.parameter()
        .push(" WHERE id = ")
        .parameter()
        .push(" AND (last_used_at IS NULL OR last_used_at < ")
        .parameter()
        .push(")");
    let millis = to_millis(at);
    sql.query()
        .bind(millis)
        .bind(id.to_string())
        .bind(millis)
        .execute(&store.pool)
        .await
        .map_err(database("recording the use of an API key"))?;
    Ok(())
}
