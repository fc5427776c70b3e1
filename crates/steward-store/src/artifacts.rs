//! The artifact registry: every trained model or index is kept as a numbered
//! version per name (1, 2, 3, ...) with its metrics, the change-feed position
//! it was built from and a SHA-256; one version per name is promoted (the one
//! served), and the promotion history lets a bad promotion be rolled back.
//!
//! Small artifacts live inline in the database; big ones in files of the blob
//! directory named by their checksum, written (atomically) before their row,
//! so a committed row never points at a missing or half-written file.

use std::io::Write;
use std::path::{Path, PathBuf};

use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use steward_domain::Timestamp;

use crate::error::{Error, Result, database};
use crate::migrate::advisory_key;
use crate::rows::column;
use crate::sql::SqlText;
use crate::write::check_text;
use crate::{Dialect, Store, from_millis, now_millis};

/// Artifacts up to this size are stored inline in the database; bigger ones
/// go to the blob directory when the store has one.
pub const INLINE_ARTIFACT_BYTES: usize = 8 * 1024 * 1024;

/// An artifact to store as the next version of its name.
#[derive(Debug, Clone, PartialEq)]
pub struct NewArtifact<'a> {
    pub name: &'a str,
    /// What it is (`lsa`, `ann_index`, `blob`), for listings and loaders.
    pub kind: &'a str,
    pub metadata: serde_json::Value,
    /// Evaluation results, so that a version is promoted only when it beats the current one.
    pub metrics: serde_json::Value,
    /// The change-feed seq the artifact reflects: a consumer that loads it
    /// follows the feed from there.
    pub feed_seq: Option<i64>,
    pub bytes: &'a [u8],
}

/// A stored version, without its bytes ([`Store::artifact_bytes`] reads them).
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactVersion {
    pub name: String,
    pub version: i64,
    pub kind: String,
    pub metadata: serde_json::Value,
    pub metrics: serde_json::Value,
    pub feed_seq: Option<i64>,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    pub size_bytes: i64,
    pub created_at: Timestamp,
    pub promoted: bool,
    pub location: ArtifactLocation,
}

/// Where a version's bytes are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactLocation {
    /// In the database row.
    Inline,
    /// A file of the blob directory (just the file name when the store has no
    /// blob directory to resolve it against).
    File(PathBuf),
}

/// Why a version became the promoted one; rollbacks undo promotions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PromotionAction {
    Promote,
    Rollback,
}

impl PromotionAction {
    fn as_str(self) -> &'static str {
        match self {
            PromotionAction::Promote => "promote",
            PromotionAction::Rollback => "rollback",
        }
    }

    fn parse(value: &str) -> Result<PromotionAction> {
        match value {
            "promote" => Ok(PromotionAction::Promote),
            "rollback" => Ok(PromotionAction::Rollback),
            other => Err(Error::Corrupt {
                table: "artifact_promotions",
                message: format!("unknown action `{other}`"),
            }),
        }
    }
}

const TABLE: &str = "artifact_versions";

/// Every column but `blob`: listings never load the bytes.
const COLUMNS: &str = "name, version, kind, metadata, metrics, feed_seq, sha256, size_bytes, \
                       created_at, promoted, path";

/// The kind of the versions migrated from the single-version `artifacts`
/// table, which kept bare bytes.
const PLAIN_BLOB_KIND: &str = "blob";

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

fn file_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.display().to_string();
    move |source| Error::File {
        action,
        path,
        source,
    }
}

/// Runs checksumming and file IO off the async runtime.
async fn blocking<T: Send + 'static>(
    action: &'static str,
    path: &Path,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| file_error(action, path)(std::io::Error::other(error)))?
}

/// Writes `bytes` to `directory/file_name` through a temporary file renamed
/// into place: a reader sees the whole file or none.
fn write_blob_file(directory: &Path, file_name: &str, bytes: &[u8]) -> Result<()> {
    std::fs::create_dir_all(directory)
        .map_err(file_error("creating the blob directory", directory))?;
    let path = directory.join(file_name);
    let mut temporary = tempfile::NamedTempFile::new_in(directory).map_err(file_error(
        "creating a temporary artifact file in",
        directory,
    ))?;
    temporary
        .write_all(bytes)
        .and_then(|()| temporary.as_file().sync_all())
        .map_err(file_error("writing the artifact file", &path))?;
    temporary
        .persist(&path)
        .map_err(|error| file_error("moving the artifact file into place", &path)(error.error))?;
    Ok(())
}

fn json(name: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|error| Error::Corrupt {
        table: TABLE,
        message: format!("column {name} is not JSON: {error}"),
    })
}

fn json_text(value: &serde_json::Value) -> String {
    serde_json::to_string(value).expect("a JSON value always serializes")
}

/// One row to insert into `artifact_versions`.
struct VersionRow<'a> {
    name: &'a str,
    version: i64,
    kind: &'a str,
    metadata: String,
    metrics: String,
    feed_seq: Option<i64>,
    sha256: &'a str,
    size_bytes: i64,
    created_at: i64,
    blob: Option<Vec<u8>>,
    path: Option<String>,
}

async fn insert_version(
    connection: &mut AnyConnection,
    dialect: Dialect,
    row: VersionRow<'_>,
) -> Result<()> {
    let mut sql = SqlText::new(
        dialect,
        "INSERT INTO artifact_versions (name, version, kind, metadata, metrics, feed_seq, sha256, \
         size_bytes, created_at, promoted, blob, path) VALUES (",
    );
    sql.parameter_list(12).push(")");
    sql.query()
        .bind(row.name.to_string())
        .bind(row.version)
        .bind(row.kind.to_string())
        .bind(row.metadata)
        .bind(row.metrics)
        .bind(row.feed_seq)
        .bind(row.sha256.to_string())
        .bind(row.size_bytes)
        .bind(row.created_at)
        .bind(0_i64)
        .bind(row.blob)
        .bind(row.path)
        .execute(&mut *connection)
        .await
        .map_err(database("writing an artifact version"))?;
    Ok(())
}

/// Version 2's data step: each row of the old single-version `artifacts`
/// table becomes version 1 of its name, promoted, kept inline as before.
pub(crate) async fn migrate_legacy_artifacts(
    connection: &mut AnyConnection,
    dialect: Dialect,
) -> Result<()> {
    let legacy = sqlx::query("SELECT name, bytes, updated_at FROM artifacts ORDER BY name")
        .fetch_all(&mut *connection)
        .await
        .map_err(database("reading the old artifacts table"))?;
    for row in &legacy {
        let name: String = column(row, "artifacts", "name")?;
        let bytes: Vec<u8> = column(row, "artifacts", "bytes")?;
        let updated_at: i64 = column(row, "artifacts", "updated_at")?;
        // Once per store, while nothing else runs: hashing in place is fine.
        let sha256 = sha256_hex(&bytes);
        let size_bytes = i64::try_from(bytes.len()).expect("an artifact is smaller than 2^63");
        insert_version(
            connection,
            dialect,
            VersionRow {
                name: &name,
                version: 1,
                kind: PLAIN_BLOB_KIND,
                metadata: "{}".to_string(),
                metrics: "{}".to_string(),
                feed_seq: None,
                sha256: &sha256,
                size_bytes,
                created_at: updated_at,
                blob: Some(bytes),
                path: None,
            },
        )
        .await?;
        set_promoted(
            connection,
            dialect,
            &name,
            1,
            PromotionAction::Promote,
            updated_at,
        )
        .await?;
    }
    sqlx::query("DROP TABLE artifacts")
        .execute(&mut *connection)
        .await
        .map_err(database("dropping the old artifacts table"))?;
    Ok(())
}

/// Makes `version` the promoted version of `name` and records it in the
/// history. The old one is demoted first: the unique index on promoted
/// versions is checked statement by statement.
async fn set_promoted(
    connection: &mut AnyConnection,
    dialect: Dialect,
    name: &str,
    version: i64,
    action: PromotionAction,
    at: i64,
) -> Result<()> {
    let mut demote = SqlText::new(
        dialect,
        "UPDATE artifact_versions SET promoted = 0 WHERE promoted = 1 AND name = ",
    );
    demote.parameter();
    demote
        .query()
        .bind(name.to_string())
        .execute(&mut *connection)
        .await
        .map_err(database("demoting an artifact version"))?;
    let mut promote = SqlText::new(
        dialect,
        "UPDATE artifact_versions SET promoted = 1 WHERE name = ",
    );
    promote.parameter().push(" AND version = ").parameter();
    promote
        .query()
        .bind(name.to_string())
        .bind(version)
        .execute(&mut *connection)
        .await
        .map_err(database("promoting an artifact version"))?;
    let mut history = SqlText::new(
        dialect,
        "INSERT INTO artifact_promotions (name, version, action, at) VALUES (",
    );
    history.parameter_list(4).push(")");
    history
        .query()
        .bind(name.to_string())
        .bind(version)
        .bind(action.as_str())
        .bind(at)
        .execute(&mut *connection)
        .await
        .map_err(database("recording an artifact promotion"))?;
    Ok(())
}

/// The promoted versions of `name` as a stack, oldest at the bottom: a
/// promotion pushes, a rollback pops. The top is the promoted version, the one
/// below it what a rollback returns to, so rolling back twice goes back two
/// promotions rather than toggling between the last two.
async fn promotion_stack(
    connection: &mut AnyConnection,
    store: &Store,
    name: &str,
) -> Result<Vec<i64>> {
    let mut sql = SqlText::new(
        store.dialect,
        "SELECT version, action FROM artifact_promotions WHERE name = ",
    );
    sql.parameter().push(" ORDER BY id");
    let history = sql
        .query()
        .bind(name.to_string())
        .fetch_all(&mut *connection)
        .await
        .map_err(database("reading the promotion history"))?;
    let mut stack = Vec::new();
    for row in &history {
        let version: i64 = column(row, "artifact_promotions", "version")?;
        let action: String = column(row, "artifact_promotions", "action")?;
        match PromotionAction::parse(&action)? {
            PromotionAction::Promote => stack.push(version),
            PromotionAction::Rollback => {
                stack.pop();
            }
        }
    }
    Ok(stack)
}

fn artifact_version(row: &AnyRow, blob_dir: Option<&Path>) -> Result<ArtifactVersion> {
    let metadata: String = column(row, TABLE, "metadata")?;
    let metrics: String = column(row, TABLE, "metrics")?;
    let path: Option<String> = column(row, TABLE, "path")?;
    Ok(ArtifactVersion {
        name: column(row, TABLE, "name")?,
        version: column(row, TABLE, "version")?,
        kind: column(row, TABLE, "kind")?,
        metadata: json("metadata", &metadata)?,
        metrics: json("metrics", &metrics)?,
        feed_seq: column(row, TABLE, "feed_seq")?,
        sha256: column(row, TABLE, "sha256")?,
        size_bytes: column(row, TABLE, "size_bytes")?,
        created_at: from_millis(TABLE, column(row, TABLE, "created_at")?)?,
        promoted: column::<i64>(row, TABLE, "promoted")? != 0,
        location: match path {
            None => ArtifactLocation::Inline,
            Some(file) => ArtifactLocation::File(match blob_dir {
                Some(directory) => directory.join(file),
                None => PathBuf::from(file),
            }),
        },
    })
}

impl Store {
    /// On PostgreSQL, serialises the writers of one artifact name until the
    /// transaction ends: the next version number is read, then used, and the
    /// promoted version is demoted, then replaced. SQLite writers are
    /// serialised already (`BEGIN IMMEDIATE`).
    async fn lock_artifact_name(&self, connection: &mut AnyConnection, name: &str) -> Result<()> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(advisory_key(&[
                    "steward_artifacts",
                    &self.lock_namespace,
                    name,
                ]))
                .execute(&mut *connection)
                .await
                .map_err(database("locking an artifact name"))?;
        }
        Ok(())
    }

    async fn artifact_version_in(
        &self,
        connection: &mut AnyConnection,
        name: &str,
        version: i64,
    ) -> Result<Option<ArtifactVersion>> {
        let mut sql = SqlText::new(self.dialect, "SELECT ");
        sql.push(COLUMNS)
            .push(" FROM artifact_versions WHERE name = ")
            .parameter()
            .push(" AND version = ")
            .parameter();
        let row = sql
            .query()
            .bind(name.to_string())
            .bind(version)
            .fetch_optional(&mut *connection)
            .await
            .map_err(database("reading an artifact version"))?;
        row.map(|row| artifact_version(&row, self.blob_dir.as_deref()))
            .transpose()
    }

    /// Stores `new` as the next version of its name (1 for a new name), and
    /// makes it the promoted one if `promote`.
    pub async fn put_artifact_version(
        &self,
        new: &NewArtifact<'_>,
        promote: bool,
    ) -> Result<ArtifactVersion> {
        let id = || new.name.to_string();
        if new.name.is_empty() {
            return Err(Error::InvalidValue {
                table: "artifact",
                id: id(),
                message: "the name is empty".to_string(),
            });
        }
        check_text("artifact", &id, new.name)?;
        check_text("artifact", &id, new.kind)?;
        let size_bytes = i64::try_from(new.bytes.len()).expect("an artifact is smaller than 2^63");
        let to_file = self
            .blob_dir
            .clone()
            .filter(|_| new.bytes.len() > INLINE_ARTIFACT_BYTES);
        let owned = new.bytes.to_vec();
        let place = to_file.clone().unwrap_or_default();
        let (sha256, blob, file_name) = blocking("storing an artifact in", &place, move || {
            let sha256 = sha256_hex(&owned);
            match to_file {
                Some(directory) => {
                    write_blob_file(&directory, &sha256, &owned)?;
                    let file_name = sha256.clone();
                    Ok((sha256, None, Some(file_name)))
                }
                None => Ok((sha256, Some(owned), None)),
            }
        })
        .await?;

        let now = now_millis();
        let mut transaction = self.begin_write().await?;
        self.lock_artifact_name(&mut transaction, new.name).await?;
        let mut next = SqlText::new(
            self.dialect,
            "SELECT CAST(COALESCE(MAX(version), 0) + 1 AS BIGINT) AS next \
             FROM artifact_versions WHERE name = ",
        );
        next.parameter();
        let version: i64 = next
            .query()
            .bind(new.name.to_string())
            .fetch_one(&mut *transaction)
            .await
            .map_err(database("numbering an artifact version"))
            .and_then(|row| column(&row, TABLE, "next"))?;
        insert_version(
            &mut transaction,
            self.dialect,
            VersionRow {
                name: new.name,
                version,
                kind: new.kind,
                metadata: json_text(&new.metadata),
                metrics: json_text(&new.metrics),
                feed_seq: new.feed_seq,
                sha256: &sha256,
                size_bytes,
                created_at: now,
                blob,
                path: file_name,
            },
        )
        .await?;
        if promote {
            set_promoted(
                &mut transaction,
                self.dialect,
                new.name,
                version,
                PromotionAction::Promote,
                now,
            )
            .await?;
        }
        let stored = self
            .artifact_version_in(&mut transaction, new.name, version)
            .await?
            .expect("the version was inserted in this transaction");
        transaction
            .commit()
            .await
            .map_err(database("committing an artifact version"))?;
        Ok(stored)
    }

    /// Every version of `name`, newest first.
    pub async fn artifact_versions(&self, name: &str) -> Result<Vec<ArtifactVersion>> {
        let mut sql = SqlText::new(self.dialect, "SELECT ");
        sql.push(COLUMNS)
            .push(" FROM artifact_versions WHERE name = ")
            .parameter()
            .push(" ORDER BY version DESC");
        let found = sql
            .query()
            .bind(name.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(database("listing artifact versions"))?;
        found
            .iter()
            .map(|row| artifact_version(row, self.blob_dir.as_deref()))
            .collect()
    }

    /// One version per name, by name: the promoted one, else the newest.
    pub async fn artifact_names(&self) -> Result<Vec<ArtifactVersion>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM artifact_versions a WHERE a.version = COALESCE( \
             (SELECT p.version FROM artifact_versions p WHERE p.name = a.name AND p.promoted = 1), \
             (SELECT MAX(m.version) FROM artifact_versions m WHERE m.name = a.name)) \
             ORDER BY a.name"
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(database("listing artifacts"))?;
        found
            .iter()
            .map(|row| artifact_version(row, self.blob_dir.as_deref()))
            .collect()
    }

    /// The version of `name` being served, `None` when none is promoted.
    pub async fn promoted_artifact(&self, name: &str) -> Result<Option<ArtifactVersion>> {
        let mut sql = SqlText::new(self.dialect, "SELECT ");
        sql.push(COLUMNS)
            .push(" FROM artifact_versions WHERE promoted = 1 AND name = ")
            .parameter();
        let row = sql
            .query()
            .bind(name.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(database("reading the promoted artifact"))?;
        row.map(|row| artifact_version(&row, self.blob_dir.as_deref()))
            .transpose()
    }

    /// The bytes of a version, checked against its size and SHA-256:
    /// [`Error::Corrupt`] when they differ (a damaged or edited file).
    pub async fn artifact_bytes(&self, name: &str, version: i64) -> Result<Vec<u8>> {
        let mut sql = SqlText::new(
            self.dialect,
            "SELECT sha256, size_bytes, blob, path FROM artifact_versions WHERE name = ",
        );
        sql.parameter().push(" AND version = ").parameter();
        let row = sql
            .query()
            .bind(name.to_string())
            .bind(version)
            .fetch_optional(&self.pool)
            .await
            .map_err(database("reading an artifact"))?
            .ok_or_else(|| Error::NotFound {
                what: "artifact version",
                id: format!("{name} v{version}"),
            })?;
        let sha256: String = column(&row, TABLE, "sha256")?;
        let size_bytes: i64 = column(&row, TABLE, "size_bytes")?;
        let blob: Option<Vec<u8>> = column(&row, TABLE, "blob")?;
        let path: Option<String> = column(&row, TABLE, "path")?;
        let (bytes, place) = match (blob, path) {
            (Some(bytes), _) => (bytes, PathBuf::new()),
            (None, Some(file)) => {
                let Some(directory) = &self.blob_dir else {
                    return Err(Error::NoBlobDirectory {
                        name: name.to_string(),
                        version,
                        file,
                    });
                };
                let path = directory.join(&file);
                let bytes = tokio::fs::read(&path)
                    .await
                    .map_err(file_error("reading the artifact file", &path))?;
                (bytes, path)
            }
            (None, None) => {
                return Err(Error::Corrupt {
                    table: TABLE,
                    message: format!("{name} v{version} has neither bytes nor a file"),
                });
            }
        };
        let name = name.to_string();
        blocking("checking the artifact", &place.clone(), move || {
            let actual_size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
            let actual = sha256_hex(&bytes);
            if actual_size != size_bytes || actual != sha256 {
                let file = if place.as_os_str().is_empty() {
                    String::new()
                } else {
                    format!(" in `{}`", place.display())
                };
                return Err(Error::Corrupt {
                    table: TABLE,
                    message: format!(
                        "{name} v{version}{file}: {actual_size} bytes with SHA-256 {actual}, \
                         stored as {size_bytes} bytes with SHA-256 {sha256}"
                    ),
                });
            }
            Ok(bytes)
        })
        .await
    }

    /// Makes `version` the promoted version of `name` (promoting the promoted
    /// version again changes nothing).
    pub async fn promote_artifact(&self, name: &str, version: i64) -> Result<ArtifactVersion> {
        let mut transaction = self.begin_write().await?;
        self.lock_artifact_name(&mut transaction, name).await?;
        let current = self
            .artifact_version_in(&mut transaction, name, version)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "artifact version",
                id: format!("{name} v{version}"),
            })?;
        if current.promoted {
            return Ok(current);
        }
        set_promoted(
            &mut transaction,
            self.dialect,
            name,
            version,
            PromotionAction::Promote,
            now_millis(),
        )
        .await?;
        let promoted = self
            .artifact_version_in(&mut transaction, name, version)
            .await?
            .expect("the version was read in this transaction");
        transaction
            .commit()
            .await
            .map_err(database("committing an artifact promotion"))?;
        Ok(promoted)
    }

    /// Undoes the last promotion of `name`: the version promoted before the
    /// current one is served again. [`Error::NothingToRollBack`] when there is
    /// no earlier promotion to return to.
    pub async fn rollback_artifact(&self, name: &str) -> Result<ArtifactVersion> {
        let mut transaction = self.begin_write().await?;
        self.lock_artifact_name(&mut transaction, name).await?;
        let stack = promotion_stack(&mut transaction, self, name).await?;
        let Some(&previous) = stack
            .len()
            .checked_sub(2)
            .and_then(|index| stack.get(index))
        else {
            return Err(Error::NothingToRollBack {
                name: name.to_string(),
            });
        };
        set_promoted(
            &mut transaction,
            self.dialect,
            name,
            previous,
            PromotionAction::Rollback,
            now_millis(),
        )
        .await?;
        let promoted = self
            .artifact_version_in(&mut transaction, name, previous)
            .await?
            .ok_or_else(|| Error::Corrupt {
                table: "artifact_promotions",
                message: format!("{name} v{previous} is in the history but not stored"),
            })?;
        transaction
            .commit()
            .await
            .map_err(database("committing an artifact rollback"))?;
        Ok(promoted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_lowercase_hex_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_hex(b"").len(), 64);
    }
}
