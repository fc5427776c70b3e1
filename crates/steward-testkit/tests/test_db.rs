//! The temporary databases leave nothing behind: the SQLite directory goes
//! with the last handle, the PostgreSQL schema with `cleanup()` or, when a
//! test never called it, with the last handle.

use sqlx::Connection as _;
use steward_testkit::TestDb;
use steward_testkit::fixtures::community_store;

/// Whether `schema` exists, asked over a connection of its own.
async fn schema_exists(schema: &str) -> bool {
    let url = std::env::var("TEST_DATABASE_URL").expect("a PostgreSQL test has the URL");
    let mut connection = sqlx::PgConnection::connect(&url)
        .await
        .expect("PostgreSQL is reachable");
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = $1",
    )
    .bind(schema)
    .fetch_one(&mut connection)
    .await
    .expect("the schema query runs");
    count == 1
}

#[tokio::test]
async fn the_sqlite_directory_goes_with_the_last_handle() {
    let db = TestDb::sqlite();
    let path = std::path::PathBuf::from(db.options().url);
    let store = db.open().await;
    store
        .write(&steward_testkit::fixtures::community())
        .await
        .expect("write");
    store.close().await;
    assert!(path.is_file(), "{}", path.display());
    let clone = db.clone();
    drop(db);
    assert!(path.is_file(), "a clone still holds the database");
    drop(clone);
    assert!(!path.exists(), "{} outlived its TestDb", path.display());
    assert!(path.parent().is_some_and(|dir| !dir.exists()));
}

#[tokio::test]
async fn a_postgres_schema_is_dropped_by_cleanup() {
    let Some(db) = TestDb::postgres() else { return };
    let schema = db.schema().expect("a PostgreSQL schema").to_string();
    let store = db.open().await;
    store
        .write(&steward_testkit::fixtures::community())
        .await
        .expect("write");
    assert!(schema_exists(&schema).await);
    store.close().await;
    db.cleanup().await;
    assert!(!schema_exists(&schema).await, "{schema} survived cleanup");
    // A second cleanup, and the drop after it, have nothing left to do.
    db.cleanup().await;
}

#[tokio::test]
async fn a_postgres_schema_is_dropped_with_the_last_handle_when_nobody_cleaned_up() {
    let Some(db) = TestDb::postgres() else { return };
    let schema = db.schema().expect("a PostgreSQL schema").to_string();
    let store = db.open().await;
    assert_eq!(store.stats().await.expect("stats").posts, 0);
    store.close().await;
    assert!(schema_exists(&schema).await);
    drop(db);
    assert!(!schema_exists(&schema).await, "{schema} leaked");
}

#[tokio::test]
async fn the_community_store_holds_the_community() {
    let (_db, store) = community_store().await;
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        (stats.users, stats.questions, stats.answers, stats.comments),
        (3, 2, 2, 2)
    );
    assert_eq!(stats.tags, 4);
}
