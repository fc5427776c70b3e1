//! Model resolution: turns a model name or path into a local directory, looking
//! in the model dir, then the cache, then (for a few known models) the hub.
//!
//! Downloads use the crate's one reqwest client (rustls + ring, see
//! [`crate::http`]) rather than the `hf-hub` crate: hf-hub would bring a second
//! HTTP/TLS stack into the build for the three files we fetch. The hub's
//! `resolve/{revision}/{file}` URL scheme is all we need.

use std::path::{Path, PathBuf};
use std::time::Duration;

use steward_jobs::{JobHandle, Unit};

use crate::{Error, Result};

/// The default hub; `HF_ENDPOINT` points elsewhere (a mirror).
pub const DEFAULT_HUB_ENDPOINT: &str = "https://huggingface.co";

/// How long to wait for the hub to accept a connection. Short so that an
/// offline machine gets its "put the model here" message in seconds, not minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A model Steward knows how to download: a hub repository and the files to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// The local folder name and the name users type (`--model all-MiniLM-L6-v2`).
    pub name: &'static str,
    /// Hub repository (`owner/name`).
    pub repo: &'static str,
    /// Git revision on the hub: a full commit id, so that a download today and
    /// one next year fetch the same bytes (a branch like `main` moves).
    pub revision: &'static str,
    /// Files to fetch, relative to the repository root; kept at the same relative
    /// paths inside the model folder.
    pub files: &'static [HubFile],
    pub kind: ModelKind,
}

/// One file of a hub repository, with its SHA-256 where it is known: a
/// download whose bytes do not hash to it is deleted and reported, never used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubFile {
    pub path: &'static str,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: Option<&'static str>,
}

const fn file(path: &'static str) -> HubFile {
    HubFile { path, sha256: None }
}

const fn checked(path: &'static str, sha256: &'static str) -> HubFile {
    HubFile {
        path,
        sha256: Some(sha256),
    }
}

/// Written into a model folder after a download: where the files came from and
/// what they hashed to, so `steward models list` and a later audit can tell
/// exactly which weights a community's vectors were computed with.
pub const MANIFEST_FILE: &str = "steward-model.json";

/// What a model folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A sentence-transformer: safetensors + tokenizer.json + config.json.
    SentenceEmbedder,
    /// A GGUF LLM: one `.gguf` file (tokenizer inside).
    Gguf,
}

/// The models `steward models fetch` can download. GGUF repositories are the
/// publishers' own, at q8_0: candle's Q8_0 CPU kernel is fast and exact enough,
/// while Q4_1 has no fast kernel (see docs/models.md).
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        name: "all-MiniLM-L6-v2",
        repo: "sentence-transformers/all-MiniLM-L6-v2",
        revision: "c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
        files: &[
            file("config.json"),
            file("tokenizer.json"),
            // The weights are what a checksum must protect; the small JSON files
            // are parsed and validated on load.
            checked(
                "model.safetensors",
                "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            ),
            file("modules.json"),
            file("sentence_bert_config.json"),
            file("1_Pooling/config.json"),
        ],
        kind: ModelKind::SentenceEmbedder,
    },
    // The GGUF repositories' commit ids could not be verified from this build
    // machine; `main` is resolved to the commit the hub serves (its
    // `x-repo-commit` header) and that commit and every file's SHA-256 are
    // recorded in the folder's manifest at download time.
    KnownModel {
        name: "SmolLM2-135M-Instruct",
        repo: "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
        revision: "main",
        files: &[file("smollm2-135m-instruct-q8_0.gguf")],
        kind: ModelKind::Gguf,
    },
    KnownModel {
        name: "Qwen2.5-0.5B-Instruct",
        repo: "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
        revision: "main",
        files: &[file("qwen2.5-0.5b-instruct-q8_0.gguf")],
        kind: ModelKind::Gguf,
    },
];

/// The known model with this name (case-insensitive), if any.
pub fn known_model(name: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS
        .iter()
        .find(|known| known.name.eq_ignore_ascii_case(name))
}

/// Where a model was found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    ModelDir,
    Cache,
}

/// A model folder found locally (`steward models list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalModel {
    pub name: String,
    pub path: PathBuf,
    pub source: ModelSource,
    /// Total size of the folder's files, bytes.
    pub size_bytes: u64,
}

/// Finds models; see the module docs for the search order. Construct it once
/// from the CLI flags ([`ModelResolver::from_env`]) and pass it by reference.
#[derive(Debug, Clone)]
pub struct ModelResolver {
    model_dir: Option<PathBuf>,
    cache_dir: PathBuf,
    endpoint: String,
    token: Option<String>,
}

impl ModelResolver {
    /// `model_dir` from `--model-dir` (else `STEWARD_MODEL_DIR`); the cache from
    /// `STEWARD_CACHE_DIR` (else `~/.cache/steward/models`); the hub from
    /// `HF_ENDPOINT` and `HF_TOKEN`.
    pub fn from_env(model_dir: Option<PathBuf>) -> ModelResolver {
        let model_dir = model_dir.or_else(|| env_path("STEWARD_MODEL_DIR"));
        let cache_dir = env_path("STEWARD_CACHE_DIR").unwrap_or_else(default_cache_dir);
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|value| !value.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_HUB_ENDPOINT.to_string());
        let token = std::env::var("HF_TOKEN")
            .ok()
            .filter(|value| !value.trim().is_empty());
        ModelResolver {
            model_dir,
            cache_dir,
            endpoint,
            token,
        }
    }

    /// A resolver with everything explicit (tests, embedding in other programs).
    pub fn new(model_dir: Option<PathBuf>, cache_dir: PathBuf, endpoint: &str) -> ModelResolver {
        ModelResolver {
            model_dir,
            cache_dir,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token: None,
        }
    }

    /// Sends `token` with hub downloads (gated or private repositories).
    pub fn with_token(mut self, token: Option<String>) -> ModelResolver {
        self.token = token;
        self
    }

    pub fn model_dir(&self) -> Option<&Path> {
        self.model_dir.as_deref()
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The model's local path without touching the network: an existing path as
    /// is, else `model_dir/NAME`, else `cache/NAME`.
    pub fn locate(&self, name_or_path: &str) -> Option<PathBuf> {
        let as_path = Path::new(name_or_path);
        if as_path.exists() {
            return Some(as_path.to_path_buf());
        }
        if !is_plain_name(name_or_path) {
            return None;
        }
        self.model_dir
            .iter()
            .map(|dir| dir.join(name_or_path))
            .chain(std::iter::once(self.cache_dir.join(name_or_path)))
            .find(|candidate| is_complete(candidate, name_or_path))
    }

    /// [`Self::locate`], else downloads a known model into the cache. Fails in
    /// seconds when the hub cannot be reached, saying where to put the model.
    pub async fn resolve(&self, name_or_path: &str) -> Result<PathBuf> {
        self.resolve_with_progress(name_or_path, &JobHandle::new())
            .await
    }

    /// [`Self::resolve`] reporting a download to `job` (see [`Self::fetch`]).
    pub async fn resolve_with_progress(
        &self,
        name_or_path: &str,
        job: &JobHandle,
    ) -> Result<PathBuf> {
        if let Some(path) = self.locate(name_or_path) {
            return Ok(path);
        }
        match known_model(name_or_path) {
            Some(known) => self.fetch(known, job).await,
            None => Err(Error::ModelNotFound {
                name: name_or_path.to_string(),
                hint: self.not_found_hint(name_or_path),
            }),
        }
    }

    /// Downloads `known` into `cache/NAME`, skipping files already there. Each file
    /// is written to a temporary name and renamed when complete, so an interrupted
    /// download never leaves a truncated file that looks finished.
    ///
    /// `job` hears one phase per file (its name, in bytes of its
    /// `Content-Length` when the hub sends one); a cancel stops the download
    /// between chunks with [`Error::Cancelled`] and removes the partial file.
    pub async fn fetch(&self, known: &KnownModel, job: &JobHandle) -> Result<PathBuf> {
        let target = self.cache_dir.join(known.name);
        let client = crate::http::client_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|error| self.unreachable(known, &error.to_string()))?;
        let mut fetched = Vec::with_capacity(known.files.len());
        let mut commit: Option<String> = None;
        for hub_file in known.files {
            let destination = target.join(hub_file.path);
            let downloaded = if destination.is_file() {
                // Left by an earlier, interrupted fetch: complete files are kept,
                // but they must still hash to what is known.
                let digest = file_sha256(&destination)?;
                verify_checksum(hub_file, &digest, &destination).await?;
                Downloaded {
                    sha256: digest,
                    bytes: std::fs::metadata(&destination).map_or(0, |meta| meta.len()),
                    commit: None,
                }
            } else {
                self.download(&client, known, hub_file, &destination, job)
                    .await?
            };
            commit = commit.or(downloaded.commit);
            fetched.push(serde_json::json!({
                "path": hub_file.path,
                "sha256": downloaded.sha256,
                "bytes": downloaded.bytes,
                "checked": hub_file.sha256.is_some(),
            }));
        }
        let manifest = serde_json::json!({
            "repo": known.repo,
            "revision": known.revision,
            "commit": commit,
            "endpoint": self.endpoint,
            "fetched_at": chrono::Utc::now().to_rfc3339(),
            "files": fetched,
        });
        let manifest_path = target.join(MANIFEST_FILE);
        std::fs::write(
            &manifest_path,
            serde_json::to_vec_pretty(&manifest).expect("a JSON value serializes"),
        )
        .map_err(|source| io_error(format!("writing {}", manifest_path.display()), source))?;
        Ok(target)
    }

    async fn download(
        &self,
        client: &reqwest::Client,
        known: &KnownModel,
        hub_file: &HubFile,
        destination: &Path,
        job: &JobHandle,
    ) -> Result<Downloaded> {
        let url = format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint, known.repo, known.revision, hub_file.path
        );
        let mut request = client.get(&url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let mut response = request
            .send()
            .await
            .map_err(|error| self.unreachable(known, &error_chain(&error)))?;
        if !response.status().is_success() {
            // A proxy or a moved repository answers instead of the hub: the user
            // still needs to hear where to put the model by hand.
            return Err(
                self.unreachable(known, &format!("{url} answered HTTP {}", response.status()))
            );
        }
        let commit = response
            .headers()
            .get("x-repo-commit")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let total = response.content_length();
        let parent = destination.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|source| io_error(format!("creating {}", parent.display()), source))?;
        let partial = parent.join(format!(
            ".{}.{}.part",
            destination
                .file_name()
                .map(|name| name.to_string_lossy())
                .unwrap_or_default(),
            uuid::Uuid::new_v4().simple()
        ));
        job.set_phase(hub_file.path, total, Unit::Bytes);
        let written = write_body(&mut response, &partial, job).await;
        let (sha256, bytes) = match written {
            Ok(written) => written,
            Err(error) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(match error {
                    BodyError::Io(error) => error,
                    BodyError::Http(message) => Error::Remote { url, message },
                    BodyError::Cancelled(cancelled) => Error::Cancelled(cancelled),
                });
            }
        };
        verify_checksum(hub_file, &sha256, &partial).await?;
        tokio::fs::rename(&partial, destination)
            .await
            .map_err(|source| io_error(format!("renaming {}", partial.display()), source))?;
        Ok(Downloaded {
            sha256,
            bytes,
            commit,
        })
    }

    fn unreachable(&self, known: &KnownModel, detail: &str) -> Error {
        let host = self
            .endpoint
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        Error::ModelNotFound {
            name: known.name.to_string(),
            hint: format!(
                "could not download from {host} ({detail}): put the model in --model-dir / \
                 STEWARD_MODEL_DIR or copy it to {}",
                self.cache_dir.join(known.name).display()
            ),
        }
    }

    fn not_found_hint(&self, name: &str) -> String {
        let mut places: Vec<String> = Vec::new();
        if let Some(dir) = &self.model_dir {
            places.push(dir.join(name).display().to_string());
        }
        places.push(self.cache_dir.join(name).display().to_string());
        let known: Vec<&str> = KNOWN_MODELS.iter().map(|known| known.name).collect();
        format!(
            "looked in {}; downloadable models: {}",
            places.join(", "),
            known.join(", ")
        )
    }

    /// Model folders in the model dir and the cache (`steward models list`).
    pub fn list_local(&self) -> Vec<LocalModel> {
        let mut found = Vec::new();
        let roots = self
            .model_dir
            .iter()
            .map(|dir| (dir.as_path(), ModelSource::ModelDir))
            .chain(std::iter::once((
                self.cache_dir.as_path(),
                ModelSource::Cache,
            )));
        for (root, source) in roots {
            let Ok(entries) = std::fs::read_dir(root) else {
                continue;
            };
            let mut here: Vec<LocalModel> = entries
                .filter_map(|entry| entry.ok())
                .filter(|entry| entry.path().is_dir())
                .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
                .map(|entry| LocalModel {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    size_bytes: folder_size(&entry.path()),
                    path: entry.path(),
                    source: source.clone(),
                })
                .collect();
            here.sort_by(|a, b| a.name.cmp(&b.name));
            found.extend(here);
        }
        found
    }
}

/// The GGUF file of a model: `path` itself when it is a file, else the only (or
/// first, by name) `.gguf` file in the folder.
pub fn gguf_file(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let entries = std::fs::read_dir(path)
        .map_err(|source| io_error(format!("reading {}", path.display()), source))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|file| file.extension().is_some_and(|ext| ext == "gguf"))
        .collect();
    files.sort();
    files.into_iter().next().ok_or_else(|| Error::BadModel {
        path: path.display().to_string(),
        message: "no .gguf file in the folder".to_string(),
    })
}

enum BodyError {
    Io(Error),
    Http(String),
    Cancelled(steward_jobs::Cancelled),
}

async fn write_body(
    response: &mut reqwest::Response,
    partial: &Path,
    job: &JobHandle,
) -> std::result::Result<(String, u64), BodyError> {
    use sha2::Digest;
    use tokio::io::AsyncWriteExt;
    let mut hasher = sha2::Sha256::new();
    let mut downloaded = 0u64;
    let mut out = tokio::fs::File::create(partial).await.map_err(|source| {
        BodyError::Io(io_error(format!("creating {}", partial.display()), source))
    })?;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| BodyError::Http(error_chain(&error)))?
    {
        out.write_all(&chunk).await.map_err(|source| {
            BodyError::Io(io_error(format!("writing {}", partial.display()), source))
        })?;
        hasher.update(&chunk);
        downloaded += chunk.len() as u64;
        job.advance(chunk.len() as u64);
        job.check_cancelled().map_err(BodyError::Cancelled)?;
    }
    out.sync_all().await.map_err(|source| {
        BodyError::Io(io_error(format!("writing {}", partial.display()), source))
    })?;
    Ok((hex(&hasher.finalize()), downloaded))
}

/// What one fetched file turned out to be.
struct Downloaded {
    sha256: String,
    bytes: u64,
    /// The commit the hub resolved the revision to, when it says.
    commit: Option<String>,
}

/// Deletes `path` and fails when `hub_file` has a known checksum that `digest`
/// does not match: a corrupted or substituted download is never kept.
async fn verify_checksum(hub_file: &HubFile, digest: &str, path: &Path) -> Result<()> {
    match hub_file.sha256 {
        Some(expected) if !expected.eq_ignore_ascii_case(digest) => {
            let _ = tokio::fs::remove_file(path).await;
            Err(Error::ChecksumMismatch {
                file: hub_file.path.to_string(),
                expected: expected.to_string(),
                actual: digest.to_string(),
            })
        }
        _ => Ok(()),
    }
}

/// Lower-case hex SHA-256 of a file, read in chunks.
fn file_sha256(path: &Path) -> Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)
        .map_err(|source| io_error(format!("opening {}", path.display()), source))?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(|source| io_error(format!("reading {}", path.display()), source))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// A folder counts as the model when it holds the files a known model needs (so a
/// half-finished download is not mistaken for a model); unknown names only need
/// the folder.
fn is_complete(folder: &Path, name: &str) -> bool {
    if !folder.is_dir() {
        return false;
    }
    match known_model(name) {
        Some(known) if known.kind == ModelKind::SentenceEmbedder => known
            .files
            .iter()
            .filter(|file| {
                ["config.json", "tokenizer.json", "model.safetensors"].contains(&file.path)
            })
            .all(|file| folder.join(file.path).is_file()),
        Some(_) => gguf_file(folder).is_ok(),
        None => true,
    }
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\']) && name != "." && name != ".."
}

fn env_path(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

fn default_cache_dir() -> PathBuf {
    let base = env_path("XDG_CACHE_HOME")
        .or_else(|| env_path("HOME").map(|home| home.join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("steward").join("models")
}

fn folder_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(|entry| entry.ok())
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                folder_size(&path)
            } else {
                entry.metadata().map(|meta| meta.len()).unwrap_or(0)
            }
        })
        .sum()
}

/// reqwest's Display hides the cause ("error sending request"); the chain says
/// "dns error" or "connection refused", which is what a user can act on.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn io_error(context: String, source: std::io::Error) -> Error {
    Error::Io { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_models_are_found_case_insensitively() {
        for (name, expected) in [
            (
                "all-MiniLM-L6-v2",
                Some("sentence-transformers/all-MiniLM-L6-v2"),
            ),
            (
                "all-minilm-l6-v2",
                Some("sentence-transformers/all-MiniLM-L6-v2"),
            ),
            (
                "qwen2.5-0.5b-instruct",
                Some("Qwen/Qwen2.5-0.5B-Instruct-GGUF"),
            ),
            ("no-such-model", None),
        ] {
            assert_eq!(
                known_model(name).map(|known| known.repo),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn an_existing_path_is_used_as_is_and_names_are_looked_up_in_order() {
        let model_dir = tempfile::tempdir().expect("temp dir");
        let cache = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(model_dir.path().join("mine")).expect("mkdir");
        std::fs::create_dir(cache.path().join("cached")).expect("mkdir");
        // An incomplete known model in the model dir is not taken for the model.
        std::fs::create_dir(model_dir.path().join("all-MiniLM-L6-v2")).expect("mkdir");
        let resolver = ModelResolver::new(
            Some(model_dir.path().to_path_buf()),
            cache.path().to_path_buf(),
            "http://127.0.0.1:9",
        );
        let path = model_dir.path().join("mine");
        let path_text = path.display().to_string();
        for (query, expected) in [
            (path_text.as_str(), Some(path.clone())),
            ("mine", Some(model_dir.path().join("mine"))),
            ("cached", Some(cache.path().join("cached"))),
            ("all-MiniLM-L6-v2", None),
            ("../mine", None),
        ] {
            assert_eq!(resolver.locate(query), expected, "{query}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_hub_fails_fast_and_says_where_to_put_the_model() {
        let cache = tempfile::tempdir().expect("temp dir");
        // 10.255.255.1 is unroutable: connections neither succeed nor get refused,
        // the way an offline machine behaves; only the connect timeout ends them.
        let resolver = ModelResolver::new(None, cache.path().to_path_buf(), "http://10.255.255.1");
        let started = std::time::Instant::now();
        let error = resolver
            .resolve("all-MiniLM-L6-v2")
            .await
            .expect_err("nothing to download from");
        let message = error.to_string();
        assert!(message.contains("STEWARD_MODEL_DIR"), "{message}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "an offline download must give up, not hang (took {:?})",
            started.elapsed()
        );
        assert!(
            std::fs::read_dir(cache.path())
                .expect("cache dir")
                .next()
                .is_none(),
            "a failed download leaves nothing half-written in the cache"
        );
    }

    /// Serves `body` with `x-repo-commit: abc123` to every request on a local port.
    async fn serve_bytes(body: &'static [u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = vec![0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-repo-commit: abc123\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body).await;
            }
        });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn downloads_are_checked_against_the_pinned_checksum_and_recorded() {
        const BODY: &[u8] = b"pretend weights";
        // sha256("pretend weights")
        let good = hex(&<sha2::Sha256 as sha2::Digest>::digest(BODY));
        let good: &'static str = Box::leak(good.into_boxed_str());
        let endpoint = serve_bytes(BODY).await;
        let check = async |sha256: &'static str| {
            let cache = tempfile::tempdir().expect("temp dir");
            let files: &'static [HubFile] = Box::leak(Box::new([checked("weights.bin", sha256)]));
            let known = KnownModel {
                name: "pinned-test",
                repo: "owner/pinned-test",
                revision: "0123456789abcdef0123456789abcdef01234567",
                files,
                kind: ModelKind::Gguf,
            };
            let resolver = ModelResolver::new(None, cache.path().to_path_buf(), &endpoint);
            let outcome = resolver.fetch(&known, &JobHandle::new()).await;
            let folder = cache.path().join("pinned-test");
            let left: Vec<String> = std::fs::read_dir(&folder)
                .map(|entries| {
                    entries
                        .filter_map(|entry| entry.ok())
                        .map(|entry| entry.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            let manifest = std::fs::read_to_string(folder.join(MANIFEST_FILE)).ok();
            (outcome.map(|_| ()), left, manifest)
        };

        let (outcome, left, manifest) = check(good).await;
        assert!(outcome.is_ok(), "{outcome:?}");
        let manifest: serde_json::Value =
            serde_json::from_str(&manifest.expect("a manifest is written")).expect("JSON");
        assert_eq!(manifest["commit"], "abc123");
        assert_eq!(manifest["files"][0]["sha256"], good);
        assert!(left.contains(&"weights.bin".to_string()), "{left:?}");

        let wrong = "00".repeat(32);
        let (outcome, left, manifest) = check(Box::leak(wrong.into_boxed_str())).await;
        let error = outcome.expect_err("a checksum mismatch fails the fetch");
        assert!(matches!(error, Error::ChecksumMismatch { .. }), "{error}");
        assert!(error.to_string().contains(good), "{error}");
        assert!(
            left.is_empty(),
            "nothing of a bad download is kept: {left:?}"
        );
        assert!(manifest.is_none());
    }

    #[test]
    fn known_models_are_pinned_to_commits_where_one_is_known() {
        let minilm = known_model("all-MiniLM-L6-v2").expect("known");
        assert_eq!(minilm.revision.len(), 40, "a full commit id");
        assert!(minilm.files.iter().any(|file| file.sha256.is_some()));
    }
}
