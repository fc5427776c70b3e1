//! The artifact registry: versions, promotion and rollback, big artifacts in
//! files, checksums, and stores made before the registry existed.

use serde_json::json;
use steward_store::{
    ArtifactLocation, Dialect, Error, INLINE_ARTIFACT_BYTES, NewArtifact, Store, StoreOptions,
};

use super::{TestDb, on_every_backend};

fn new_artifact<'a>(name: &'a str, bytes: &'a [u8]) -> NewArtifact<'a> {
    NewArtifact {
        name,
        kind: "lsa",
        metadata: json!({ "dim": 64 }),
        metrics: json!({ "ndcg@10": 0.5 }),
        feed_seq: Some(12),
        bytes,
    }
}

/// The bytes of the promoted version of `name`, `None` when none is promoted.
pub(super) async fn promoted_bytes(store: &Store, name: &str) -> Option<Vec<u8>> {
    let promoted = store.promoted_artifact(name).await.expect("read")?;
    Some(
        store
            .artifact_bytes(name, promoted.version)
            .await
            .expect("read bytes"),
    )
}

/// Bytes that are not all alike, so that a flipped byte changes the checksum.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|index| (index % 251) as u8).collect()
}

#[tokio::test]
async fn versions_count_up_and_rollback_undoes_promotions() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let first = store
            .put_artifact_version(&new_artifact("lsa", b"one"), true)
            .await
            .expect("put");
        assert_eq!((first.version, first.promoted), (1, true));
        assert_eq!(first.metrics, json!({ "ndcg@10": 0.5 }));
        assert_eq!((first.feed_seq, first.size_bytes), (Some(12), 3));
        assert_eq!(first.location, ArtifactLocation::Inline);
        assert_eq!(
            first.sha256,
            "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"
        );
        let second = store
            .put_artifact_version(&new_artifact("lsa", b"two"), false)
            .await
            .expect("put");
        assert_eq!((second.version, second.promoted), (2, false));
        let other = store
            .put_artifact_version(&new_artifact("ann", b"index"), false)
            .await
            .expect("put");
        assert_eq!(other.version, 1, "versions count per name");

        let promoted = |store: &Store| {
            let store = store.clone();
            async move {
                store
                    .promoted_artifact("lsa")
                    .await
                    .expect("read")
                    .map(|version| version.version)
            }
        };
        assert_eq!(promoted(&store).await, Some(1));
        store.promote_artifact("lsa", 2).await.expect("promote 2");
        store
            .put_artifact_version(&new_artifact("lsa", b"three"), true)
            .await
            .expect("put and promote 3");
        assert_eq!(promoted(&store).await, Some(3));
        let versions: Vec<(i64, bool)> = store
            .artifact_versions("lsa")
            .await
            .expect("list")
            .iter()
            .map(|version| (version.version, version.promoted))
            .collect();
        assert_eq!(versions, vec![(3, true), (2, false), (1, false)]);

        assert_eq!(
            store
                .rollback_artifact("lsa")
                .await
                .expect("roll back")
                .version,
            2
        );
        assert_eq!(
            store
                .rollback_artifact("lsa")
                .await
                .expect("roll back")
                .version,
            1
        );
        assert_eq!(promoted(&store).await, Some(1));
        assert_eq!(promoted_bytes(&store, "lsa").await, Some(b"one".to_vec()));
        let nothing = store.rollback_artifact("lsa").await;
        assert!(
            matches!(&nothing, Err(Error::NothingToRollBack { name }) if name == "lsa"),
            "{nothing:?}"
        );
        assert!(matches!(
            store.rollback_artifact("ann").await,
            Err(Error::NothingToRollBack { .. })
        ));
        assert!(matches!(
            store.promote_artifact("lsa", 9).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            store.artifact_bytes("lsa", 9).await,
            Err(Error::NotFound { .. })
        ));

        // One entry per name: the promoted version, else the newest.
        let names: Vec<(String, i64)> = store
            .artifact_names()
            .await
            .expect("names")
            .into_iter()
            .map(|version| (version.name, version.version))
            .collect();
        assert_eq!(names, vec![("ann".to_string(), 1), ("lsa".to_string(), 1)]);
        assert_eq!(
            store.artifact_bytes("lsa", 3).await.expect("read"),
            b"three".to_vec()
        );
    })
    .await;
}

#[tokio::test]
async fn an_empty_artifact_is_stored_and_an_empty_name_refused() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        assert_eq!(promoted_bytes(&store, "model").await, None);
        store
            .put_artifact_version(&new_artifact("model", b""), true)
            .await
            .expect("put");
        assert_eq!(promoted_bytes(&store, "model").await, Some(Vec::new()));
        let empty = NewArtifact {
            name: "",
            ..new_artifact("", b"")
        };
        assert!(matches!(
            store.put_artifact_version(&empty, true).await,
            Err(Error::InvalidValue { .. })
        ));
    })
    .await;
}

/// A store with a blob directory on every backend: SQLite keeps its default
/// (beside the database file), PostgreSQL gets `directory`.
async fn open_with_blobs(db: &TestDb, directory: &std::path::Path) -> Store {
    let store = db.open().await;
    if store.dialect() == Dialect::Sqlite {
        return store;
    }
    let options = StoreOptions {
        blob_dir: Some(directory.to_path_buf()),
        ..db.options()
    };
    Store::open_with(options)
        .await
        .expect("open with a blob directory")
}

#[tokio::test]
async fn a_large_artifact_goes_to_a_file_and_a_tampered_file_is_corrupt() {
    on_every_backend(|db| async move {
        let directory = tempfile::tempdir().expect("a blob directory");
        let store = open_with_blobs(&db, directory.path()).await;
        let large = pattern(INLINE_ARTIFACT_BYTES + 1);
        let small = pattern(INLINE_ARTIFACT_BYTES);
        let stored = store
            .put_artifact_version(&new_artifact("big", &large), true)
            .await
            .expect("put large");
        let ArtifactLocation::File(path) = &stored.location else {
            panic!("a large artifact goes to a file: {:?}", stored.location);
        };
        if store.dialect() == Dialect::Sqlite {
            let database = db.options().url;
            assert_eq!(
                path.parent().map(|parent| parent.display().to_string()),
                Some(format!("{database}.blobs"))
            );
        }
        assert_eq!(
            path.file_name().and_then(|name| name.to_str()),
            Some(stored.sha256.as_str())
        );
        assert_eq!(std::fs::read(path).expect("the file"), large);
        let inline = store
            .put_artifact_version(&new_artifact("small", &small), true)
            .await
            .expect("put small");
        assert_eq!(inline.location, ArtifactLocation::Inline);
        assert_eq!(store.artifact_bytes("big", 1).await.expect("read"), large);
        assert_eq!(store.artifact_bytes("small", 1).await.expect("read"), small);

        let mut tampered = large.clone();
        tampered[1_000] ^= 0xff;
        std::fs::write(path, &tampered).expect("tamper");
        let read = store.artifact_bytes("big", 1).await;
        assert!(matches!(read, Err(Error::Corrupt { .. })), "{read:?}");
        std::fs::remove_file(path).expect("remove");
        let read = store.artifact_bytes("big", 1).await;
        assert!(matches!(read, Err(Error::File { .. })), "{read:?}");
    })
    .await;
}

#[tokio::test]
async fn without_a_blob_directory_postgres_keeps_large_artifacts_inline() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        if store.dialect() == Dialect::Sqlite {
            return;
        }
        let large = pattern(INLINE_ARTIFACT_BYTES + 10);
        let stored = store
            .put_artifact_version(&new_artifact("big", &large), true)
            .await
            .expect("put");
        assert_eq!(stored.location, ArtifactLocation::Inline);
        assert_eq!(promoted_bytes(&store, "big").await, Some(large));
    })
    .await;
}

/// Runs `statements` on the test database directly, outside the store.
pub(crate) async fn raw_sql(db: &TestDb, statements: &[String]) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let options = db.options();
    let postgres = options.url.starts_with("postgres");
    let url = if postgres {
        options.url.clone()
    } else {
        format!("sqlite://{}", options.url)
    };
    let mut connection = sqlx::AnyConnection::connect(&url)
        .await
        .expect("a direct connection");
    if let (true, Some(schema)) = (postgres, &options.schema) {
        let search_path = format!("SET search_path TO \"{schema}\"");
        sqlx::query(sqlx::AssertSqlSafe(search_path))
            .execute(&mut connection)
            .await
            .expect("search path");
    }
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&mut connection)
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
    connection.close().await.expect("close");
}

#[tokio::test]
async fn a_store_made_before_the_registry_keeps_its_artifacts() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        // b"trained" as each dialect writes a bytes literal.
        let (bytes_type, trained) = match store.dialect() {
            Dialect::Sqlite => ("BLOB", "X'747261696e6564'"),
            Dialect::Postgres => ("BYTEA", "decode('747261696e6564', 'hex')"),
        };
        store.close().await;
        // Back to schema version 1, with one artifact in the old table.
        let statements: Vec<String> = [
            "DROP TABLE changes",
            "DROP TABLE consumers",
            "DROP TABLE jobs",
            "DROP TABLE artifact_versions",
            "DROP TABLE artifact_promotions",
            "DROP INDEX embeddings_by_post",
            // Migration 3's changes go too, so that it can be applied again.
            "DROP TABLE api_keys",
            "ALTER TABLE llm_calls DROP COLUMN key_id",
            // And migration 4's.
            "DROP TABLE anonymous_votes",
            // And migration 5's indexes.
            "DROP INDEX posts_by_time",
            "DROP INDEX posts_by_score",
            "DROP INDEX posts_by_kind_time_id",
            "DROP INDEX posts_by_kind_score",
            "DROP INDEX posts_by_parent_kind",
            "DROP INDEX posts_by_parent_time",
            // And migration 6's answer log.
            "DROP TABLE answer_log",
            // And migration 7's index.
            "DROP INDEX posts_by_owner",
            // And migration 8's knowledge graph.
            "DROP TABLE kg_entities",
            "DROP TABLE kg_mentions",
            "DROP TABLE kg_evidence",
            "DELETE FROM steward_migrations WHERE version > 1",
            &format!(
                "CREATE TABLE artifacts (name TEXT PRIMARY KEY, bytes {bytes_type} NOT NULL, \
                 updated_at BIGINT NOT NULL)"
            ),
            &format!(
                "INSERT INTO artifacts (name, bytes, updated_at) \
                 VALUES ('lsa', {trained}, 1700000000000)"
            ),
        ]
        .iter()
        .map(|statement| statement.to_string())
        .collect();
        raw_sql(&db, &statements).await;

        let store = db.open().await;
        assert_eq!(
            promoted_bytes(&store, "lsa").await,
            Some(b"trained".to_vec())
        );
        let versions = store.artifact_versions("lsa").await.expect("list");
        assert_eq!(versions.len(), 1);
        assert_eq!((versions[0].version, versions[0].promoted), (1, true));
        assert_eq!(versions[0].created_at.timestamp_millis(), 1_700_000_000_000);
        let next = store
            .put_artifact_version(&new_artifact("lsa", b"retrained"), true)
            .await
            .expect("put");
        assert_eq!(next.version, 2);
        assert_eq!(
            store
                .rollback_artifact("lsa")
                .await
                .expect("roll back")
                .version,
            1
        );
    })
    .await;
}
