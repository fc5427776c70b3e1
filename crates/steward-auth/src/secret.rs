//! The server secret that keys the hash of every API key: configured, or for
//! an embedded SQLite store made once and kept in a file beside the database.
//!
//! Every server that checks keys of one database needs the same secret. On
//! SQLite that is one machine, so the secret lives beside the file
//! (`<db>.auth-secret`, mode 0600); on PostgreSQL the replicas may be many
//! machines, so it must be configured, the same value on each.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use steward_store::{DatabaseLocation, database_location};

use crate::error::{Error, Result};
use crate::key::{hex, random_bytes};

/// Shortest secret accepted: 32 characters.
pub const MIN_SECRET_CHARS: usize = 32;

/// The server secret. Never printed: `Debug` shows a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerSecret(String);

impl std::fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSecret(<redacted>)")
    }
}

impl ServerSecret {
    /// A configured secret, at least [`MIN_SECRET_CHARS`] characters.
    pub fn new(text: impl Into<String>) -> Result<ServerSecret> {
        let text = text.into();
        let got = text.chars().count();
        if got < MIN_SECRET_CHARS {
            return Err(Error::SecretTooShort {
                min: MIN_SECRET_CHARS,
                got,
            });
        }
        Ok(ServerSecret(text))
    }

    /// A fresh random secret: 256 bits from the OS, as 64 hex digits.
    pub fn generate() -> Result<ServerSecret> {
        Ok(ServerSecret(hex(&random_bytes::<32>()?)))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

/// The secret for the database at `database_url`: `configured` when given
/// (a blank value counts as not given); else, for a SQLite file, the one
/// kept beside it, made on first use; else, for an in-memory database, a
/// fresh one (its keys die with it anyway); else (PostgreSQL) an error that
/// says what to configure.
pub fn auth_secret(configured: Option<&str>, database_url: &str) -> Result<ServerSecret> {
    if let Some(configured) = configured.filter(|text| !text.trim().is_empty()) {
        return ServerSecret::new(configured);
    }
    match database_location(database_url)? {
        DatabaseLocation::SqliteFile(path) => load_or_create(&secret_file_path(&path)),
        DatabaseLocation::SqliteMemory => ServerSecret::generate(),
        DatabaseLocation::Postgres => Err(Error::MissingSecret),
    }
}

/// `<database file>.auth-secret`.
pub fn secret_file_path(database_file: &Path) -> PathBuf {
    let mut name = database_file.as_os_str().to_owned();
    name.push(".auth-secret");
    PathBuf::from(name)
}

/// Reads the secret file, or makes it. Made atomically: the secret is written
/// to a private temporary file (0600) that is then linked into place only if
/// nothing is there yet, so two processes starting together agree on one
/// secret and no reader ever sees half a file.
fn load_or_create(path: &Path) -> Result<ServerSecret> {
    match std::fs::read_to_string(path) {
        Ok(text) => return parse_secret_file(path, &text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::SecretFile {
                path: path.to_path_buf(),
                source,
            });
        }
    }
    let file_error = |source| Error::SecretFile {
        path: path.to_path_buf(),
        source,
    };
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let secret = ServerSecret::generate()?;
    let mut temporary = tempfile::Builder::new()
        .prefix(".auth-secret-")
        .tempfile_in(directory)
        .map_err(file_error)?;
    writeln!(temporary, "{}", secret.expose()).map_err(file_error)?;
    temporary.as_file().sync_all().map_err(file_error)?;
    match temporary.persist_noclobber(path) {
        Ok(_) => {
            tracing::info!(path = %path.display(), "made a new auth secret");
            Ok(secret)
        }
        // Another process made it first: use theirs.
        Err(error) if error.error.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(file_error)?;
            parse_secret_file(path, &text)
        }
        Err(error) => Err(file_error(error.error)),
    }
}

fn parse_secret_file(path: &Path, text: &str) -> Result<ServerSecret> {
    warn_if_readable_by_others(path);
    ServerSecret::new(text.trim()).map_err(|error| Error::CorruptSecretFile {
        path: path.to_path_buf(),
        message: error.to_string(),
    })
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(metadata) = std::fs::metadata(path)
        && metadata.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "the auth secret file is readable by other users; `chmod 600` it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_secrets_must_be_long_enough() {
        assert!(matches!(
            auth_secret(Some("short"), ":memory:"),
            Err(Error::SecretTooShort { min: 32, got: 5 })
        ));
        let long = "x".repeat(32);
        assert_eq!(
            auth_secret(Some(&long), "postgres://h/db").expect("configured"),
            ServerSecret::new(long).expect("long enough")
        );
        assert_eq!(
            format!("{:?}", ServerSecret::generate().expect("random")),
            "ServerSecret(<redacted>)"
        );
    }

    #[test]
    fn postgres_without_a_secret_says_what_to_set() {
        for configured in [None, Some("  ")] {
            let error = auth_secret(configured, "postgres://h/db").expect_err("no secret");
            let message = error.to_string();
            for needed in ["auth.secret", "STEWARD_AUTH__SECRET", "every replica"] {
                assert!(message.contains(needed), "{message}");
            }
        }
    }

    #[test]
    fn a_sqlite_file_gets_a_private_secret_beside_it_once() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let database = directory.path().join("community.db");
        let url = database.display().to_string();
        let first = auth_secret(None, &url).expect("made");
        let file = directory.path().join("community.db.auth-secret");
        assert_eq!(secret_file_path(&database), file);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&file)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(auth_secret(None, &url).expect("reused"), first);
        assert_eq!(
            auth_secret(None, &format!("sqlite://{url}")).expect("same file"),
            first
        );
        let leftovers = std::fs::read_dir(directory.path())
            .expect("listable")
            .count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");

        std::fs::write(&file, "too short\n").expect("overwrite");
        assert!(matches!(
            auth_secret(None, &url),
            Err(Error::CorruptSecretFile { .. })
        ));
    }

    #[test]
    fn processes_starting_together_agree_on_one_secret() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let url = directory.path().join("race.db").display().to_string();
        let secrets: Vec<ServerSecret> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| auth_secret(None, &url).expect("secret")))
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("thread"))
                .collect()
        });
        assert!(secrets.windows(2).all(|pair| pair[0] == pair[1]));
    }

    #[test]
    fn in_memory_stores_get_a_fresh_secret() {
        let first = auth_secret(None, ":memory:").expect("generated");
        let second = auth_secret(None, ":memory:").expect("generated");
        assert_ne!(first, second);
    }
}
