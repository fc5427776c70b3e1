//! From a user's URL or path to a connection pool: which backend, which file,
//! and the per-connection settings (SQLite pragmas, PostgreSQL search path).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, AssertSqlSafe, Connection};

use crate::error::{Error, Result, database};
use crate::migrate::quote_identifier;
use crate::{Dialect, StoreOptions};

/// Page size of new SQLite files. A post with its HTML and text is ~2.5 KB:
/// on 4 KiB pages one post fills a page and bulk inserts ran 2-3x slower than
/// on 16 KiB pages (measured with `examples/write_speed.rs`). Existing files
/// keep theirs until a `VACUUM`.
const SQLITE_PAGE_SIZE: u32 = 16_384;

/// Page cache per connection, in KiB (SQLite's negative `cache_size`): index
/// pages of a bulk import stay in memory. Memory is taken as pages are used.
const SQLITE_CACHE_KIB: u32 = 65_536;

/// WAL pages between automatic checkpoints (64 MiB at 16 KiB pages): fewer,
/// larger checkpoints while importing; the WAL is truncated back after each.
const SQLITE_WAL_AUTOCHECKPOINT_PAGES: u32 = 4_096;

/// The database a URL names, as a URL the `Any` driver accepts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `file` is the database file's absolute path; `None` in memory.
    Sqlite {
        url: String,
        file: Option<std::path::PathBuf>,
    },
    Postgres {
        url: String,
    },
}

/// Reads `url`: a plain path or `sqlite:` URL is a SQLite file (created if
/// missing), `postgres://` or `postgresql://` is PostgreSQL.
pub(crate) fn target(url: &str) -> Result<Target> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres {
            url: url.to_string(),
        });
    }
    let (path, mut parameters) = sqlite_path(url)?;
    let in_memory = path == ":memory:" || parameters.contains(&"mode=memory");
    if in_memory {
        return Ok(Target::Sqlite {
            url: "sqlite::memory:".to_string(),
            file: None,
        });
    }
    if path.is_empty() {
        return Err(Error::UnsupportedUrl(url.to_string()));
    }
    let absolute =
        std::path::absolute(&path).map_err(|_| Error::UnsupportedUrl(url.to_string()))?;
    if let Some(directory) = absolute.parent()
        && !directory.is_dir()
    {
        return Err(Error::MissingDirectory {
            path,
            directory: directory.display().to_string(),
        });
    }
    if !parameters
        .iter()
        .any(|parameter| parameter.starts_with("mode="))
    {
        parameters.push("mode=rwc");
    }
    Ok(Target::Sqlite {
        url: format!(
            "sqlite://{}?{}",
            percent_encode(&absolute),
            parameters.join("&")
        ),
        file: Some(absolute),
    })
}

/// Where a database URL points, for what lives beside the database (the
/// server secret of `steward-auth` sits next to a SQLite file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// A SQLite file, as an absolute path.
    SqliteFile(PathBuf),
    /// A private in-memory SQLite database: nothing outlives the process.
    SqliteMemory,
    Postgres,
}

/// Reads `url` as [`Store::open`](crate::Store::open) would, without opening it.
pub fn database_location(url: &str) -> Result<DatabaseLocation> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(DatabaseLocation::Postgres);
    }
    let (path, parameters) = sqlite_path(url)?;
    if path == ":memory:" || parameters.contains(&"mode=memory") {
        return Ok(DatabaseLocation::SqliteMemory);
    }
    if path.is_empty() {
        return Err(Error::UnsupportedUrl(url.to_string()));
    }
    std::path::absolute(&path)
        .map(DatabaseLocation::SqliteFile)
        .map_err(|_| Error::UnsupportedUrl(url.to_string()))
}

/// The path (percent-decoded) and the query parameters of a SQLite URL or path.
fn sqlite_path(url: &str) -> Result<(String, Vec<&str>)> {
    let (path, parameters) = if let Some(rest) = url.strip_prefix("sqlite:") {
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        match rest.split_once('?') {
            Some((path, parameters)) => (percent_decode(path), Some(parameters)),
            None => (percent_decode(rest), None),
        }
    } else if url.contains("://") || url.is_empty() {
        return Err(Error::UnsupportedUrl(url.to_string()));
    } else {
        (url.to_string(), None)
    };
    let parameters = parameters
        .into_iter()
        .flat_map(|parameters| parameters.split('&'))
        .filter(|parameter| !parameter.is_empty())
        .collect();
    Ok((path, parameters))
}

/// Escapes what a URL would otherwise read as syntax; sqlx decodes it again.
fn percent_encode(path: &Path) -> String {
    let mut encoded = String::new();
    for character in path.to_string_lossy().chars() {
        match character {
            '%' => encoded.push_str("%25"),
            '?' => encoded.push_str("%3F"),
            '#' => encoded.push_str("%23"),
            other => encoded.push(other),
        }
    }
    encoded
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// An open pool and what was learnt opening it.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) pool: AnyPool,
    pub(crate) dialect: Dialect,
    /// The SQLite database file, absolute; `None` in memory and on PostgreSQL.
    pub(crate) sqlite_file: Option<std::path::PathBuf>,
}

/// Opens the pool for `options`, with every connection configured alike.
pub(crate) async fn pool(options: &StoreOptions) -> Result<Opened> {
    sqlx::any::install_default_drivers();
    let target = target(&options.url)?;
    let mut sqlite_file = None;
    let (url, dialect, per_connection, in_memory) = match target {
        Target::Sqlite { url, file } => {
            let in_memory = file.is_none();
            sqlite_file = file;
            if !in_memory {
                prepare_sqlite_file(&url, options.busy_timeout).await?;
            }
            let per_connection = vec![
                "PRAGMA synchronous = NORMAL".to_string(),
                format!("PRAGMA busy_timeout = {}", options.busy_timeout.as_millis()),
                format!("PRAGMA cache_size = -{SQLITE_CACHE_KIB}"),
                format!("PRAGMA wal_autocheckpoint = {SQLITE_WAL_AUTOCHECKPOINT_PAGES}"),
                // Keep the WAL file from staying at its high-water mark.
                "PRAGMA journal_size_limit = 67108864".to_string(),
            ];
            (url, Dialect::Sqlite, per_connection, in_memory)
        }
        Target::Postgres { url } => {
            // Waiting on another transaction's lock ends like SQLite's busy
            // timeout: with an error the server answers as "busy, retry".
            let mut per_connection = vec![format!(
                "SET lock_timeout = {}",
                options.busy_timeout.as_millis().max(1)
            )];
            if let Some(schema) = &options.schema {
                if schema.is_empty() || schema.len() > 63 || schema.contains('\0') {
                    return Err(Error::InvalidSchema(schema.clone()));
                }
                per_connection.push(format!("SET search_path TO {}", quote_identifier(schema)));
            }
            (url, Dialect::Postgres, per_connection, false)
        }
    };
    let per_connection = Arc::new(per_connection);
    let mut pool_options = AnyPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout);
    if in_memory {
        // An in-memory database lives and dies with its one connection.
        pool_options = pool_options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
    }
    let pool = pool_options
        .after_connect(move |connection, _metadata| {
            let per_connection = Arc::clone(&per_connection);
            Box::pin(async move {
                for statement in per_connection.iter() {
                    sqlx::query(AssertSqlSafe(statement.clone()))
                        .execute(&mut *connection)
                        .await?;
                }
                Ok(())
            })
        })
        .connect(&url)
        .await
        .map_err(database("connecting to the database"))?;
    Ok(Opened {
        pool,
        dialect,
        sqlite_file,
    })
}

/// Sets what is a property of a SQLite file rather than of a connection (the
/// page size of a new file, WAL), once per open. Two processes creating the
/// same new file at once race here: switching to WAL takes an exclusive lock
/// that SQLite's busy handler does not always wait for, so a busy answer is
/// retried until `busy_timeout` has passed.
async fn prepare_sqlite_file(url: &str, busy_timeout: Duration) -> Result<()> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        match try_prepare_sqlite_file(url, busy_timeout).await {
            Err(error) if error.is_busy() && started.elapsed() < busy_timeout => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

async fn try_prepare_sqlite_file(url: &str, busy_timeout: Duration) -> Result<()> {
    let mut first = sqlx::AnyConnection::connect(url)
        .await
        .map_err(database("opening the SQLite database"))?;
    sqlx::query(AssertSqlSafe(format!(
        "PRAGMA busy_timeout = {}",
        busy_timeout.as_millis()
    )))
    .execute(&mut first)
    .await
    .map_err(database("setting the SQLite busy timeout"))?;
    // `page_size` only takes effect on a file without tables yet.
    sqlx::query(AssertSqlSafe(format!(
        "PRAGMA page_size = {SQLITE_PAGE_SIZE}"
    )))
    .execute(&mut first)
    .await
    .map_err(database("setting the SQLite page size"))?;
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut first)
        .await
        .map_err(database("switching SQLite to WAL"))?;
    first
        .close()
        .await
        .map_err(database("opening the SQLite database"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_the_backend() {
        let directory = std::env::current_dir().expect("tests run in a directory");
        let here = directory.display();
        let check =
            |url: &str, expected: Target| assert_eq!(target(url).expect(url), expected, "{url}");
        let file = |url: String, path: std::path::PathBuf| Target::Sqlite {
            url,
            file: Some(path),
        };
        check(
            "steward.db",
            file(
                format!("sqlite://{here}/steward.db?mode=rwc"),
                directory.join("steward.db"),
            ),
        );
        check(
            "sqlite:steward.db",
            file(
                format!("sqlite://{here}/steward.db?mode=rwc"),
                directory.join("steward.db"),
            ),
        );
        check(
            "sqlite:///tmp/a%3Fb.db",
            file(
                "sqlite:///tmp/a%3Fb.db?mode=rwc".to_string(),
                "/tmp/a?b.db".into(),
            ),
        );
        check(
            "sqlite:///tmp/x.db?mode=ro",
            file("sqlite:///tmp/x.db?mode=ro".to_string(), "/tmp/x.db".into()),
        );
        check(
            "postgresql://u@h/db",
            Target::Postgres {
                url: "postgresql://u@h/db".to_string(),
            },
        );
        assert!(matches!(
            target(":memory:"),
            Ok(Target::Sqlite { file: None, .. })
        ));
        assert!(matches!(
            target("mysql://h/db"),
            Err(Error::UnsupportedUrl(_))
        ));
        assert!(matches!(target(""), Err(Error::UnsupportedUrl(_))));
        let missing = target("/no/such/directory/steward.db").expect_err("missing directory");
        assert!(
            missing.to_string().contains("/no/such/directory"),
            "{missing}"
        );
    }

    #[test]
    fn locations_name_the_file_beside_which_things_live() {
        let here = std::env::current_dir().expect("tests run in a directory");
        let check = |url: &str, expected: DatabaseLocation| {
            assert_eq!(database_location(url).expect(url), expected, "{url}");
        };
        check(
            "steward.db",
            DatabaseLocation::SqliteFile(here.join("steward.db")),
        );
        check(
            "sqlite:///tmp/a%3Fb.db?mode=rwc",
            DatabaseLocation::SqliteFile(PathBuf::from("/tmp/a?b.db")),
        );
        check(":memory:", DatabaseLocation::SqliteMemory);
        check("sqlite::memory:", DatabaseLocation::SqliteMemory);
        check("sqlite:x.db?mode=memory", DatabaseLocation::SqliteMemory);
        check("postgres://u@h/db", DatabaseLocation::Postgres);
        assert!(database_location("mysql://h/db").is_err());
    }
}
