//! A store of its own for each test: a SQLite file in a temporary directory,
//! or a fresh PostgreSQL schema that is dropped when the test ends, so that
//! tests run in parallel on one database and leave nothing behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use steward_store::{Store, StoreOptions};

/// Where one test keeps its database. Cheap to clone; the SQLite directory
/// goes, and the PostgreSQL schema is dropped, with the last clone (or
/// earlier, with [`TestDb::cleanup`]).
#[derive(Debug, Clone)]
pub struct TestDb {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: StoreOptions,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Sqlite {
        _directory: tempfile::TempDir,
    },
    Postgres {
        url: String,
        schema: String,
        /// Set once the schema is dropped, so that drop does not drop it twice.
        dropped: AtomicBool,
    },
}

/// PostgreSQL connections per test store: enough for the concurrency tests,
/// few enough for many tests in parallel on one server.
const POSTGRES_CONNECTIONS: u32 = 4;

impl TestDb {
    /// A SQLite file in a new temporary directory, removed on drop.
    pub fn sqlite() -> TestDb {
        let directory = tempfile::tempdir().expect("a temporary directory for the test database");
        let path = directory.path().join("steward.db");
        TestDb {
            inner: Arc::new(Inner {
                options: StoreOptions::new(path.display().to_string()),
                backend: Backend::Sqlite {
                    _directory: directory,
                },
            }),
        }
    }

    /// A fresh schema (random name; the store creates it on first open) in the
    /// database at `TEST_DATABASE_URL`. `None`, with the reason printed, when
    /// the variable is unset; under `CI=true` that fails the test instead, so
    /// CI never passes a PostgreSQL test it did not run.
    pub fn postgres() -> Option<TestDb> {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Some(TestDb::postgres_at(&url)),
            _ => crate::skip_or_fail("TEST_DATABASE_URL is not set (PostgreSQL tests)"),
        }
    }

    fn postgres_at(url: &str) -> TestDb {
        // Letters, digits and `_` only, under PostgreSQL's 63-byte limit.
        let schema = format!("steward_test_{}", uuid::Uuid::new_v4().simple());
        let mut options = StoreOptions::new(url);
        options.schema = Some(schema.clone());
        options.max_connections = POSTGRES_CONNECTIONS;
        TestDb {
            inner: Arc::new(Inner {
                options,
                backend: Backend::Postgres {
                    url: url.to_string(),
                    schema,
                    dropped: AtomicBool::new(false),
                },
            }),
        }
    }

    /// The options to open this database with; open as many stores as needed.
    pub fn options(&self) -> StoreOptions {
        self.inner.options.clone()
    }

    /// A store on this database, migrated.
    pub async fn open(&self) -> Store {
        Store::open_with(self.options())
            .await
            .expect("the test database opens")
    }

    /// The PostgreSQL schema, `None` on SQLite.
    pub fn schema(&self) -> Option<&str> {
        match &self.inner.backend {
            Backend::Sqlite { .. } => None,
            Backend::Postgres { schema, .. } => Some(schema),
        }
    }

    /// Drops the PostgreSQL schema now (`DROP SCHEMA ... CASCADE`); nothing to
    /// do on SQLite. Call it when the test ends, panicked or not; dropping the
    /// last clone does the same from a thread of its own when it was not.
    pub async fn cleanup(&self) {
        if let Backend::Postgres {
            url,
            schema,
            dropped,
        } = &self.inner.backend
            && !dropped.swap(true, Ordering::SeqCst)
        {
            drop_schema(url, schema)
                .await
                .unwrap_or_else(|error| panic!("dropping test schema {schema}: {error}"));
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let Backend::Postgres {
            url,
            schema,
            dropped,
        } = &self.backend
        else {
            return;
        };
        if dropped.swap(true, Ordering::SeqCst) {
            return;
        }
        // Drop cannot await, and may run inside (or outside) a runtime, even a
        // current-thread one that would deadlock on `block_on`: a fresh thread
        // with its own runtime works from anywhere.
        let (url, schema) = (url.clone(), schema.clone());
        let outcome = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime
                .block_on(drop_schema(&url, &schema))
                .map_err(|error| format!("dropping test schema {schema}: {error}"))
        })
        .join();
        // Never panic in drop: it may run while a failed test unwinds.
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(message)) => eprintln!("warning: {message}"),
            Err(_) => eprintln!("warning: the thread dropping a test schema panicked"),
        }
    }
}

async fn drop_schema(url: &str, schema: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect(url).await?;
    let statement = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .execute(&mut connection)
        .await?;
    connection.close().await
}

/// Runs `test` on SQLite, then on PostgreSQL if `TEST_DATABASE_URL` is set
/// (under `CI=true` it must be: the PostgreSQL half fails rather than skips).
/// The PostgreSQL schema is dropped afterwards, whether the test passed or not.
pub async fn on_every_backend<F, Fut>(test: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures::FutureExt;
    test(TestDb::sqlite()).await;
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let outcome = std::panic::AssertUnwindSafe(test(db.clone()))
        .catch_unwind()
        .await;
    db.cleanup().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
